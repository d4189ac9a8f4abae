package dev.anymap.firecracker;

import dev.anymap.backend.memory.MemoryObjects;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** The memory file's bytes from a source independent of anymap: to check what the guest reads against. */
@FunctionalInterface
interface SnapshotBytes {
    /** Fills {@code target} with the memory file's bytes from {@code offset}. */
    void fill(long offset, MemorySegment target);

    /** The bytes of generated objects of {@code seed} ({@code mem:NAME?size=...&seed=SEED}), computed here. */
    static SnapshotBytes generated(long seed) {
        MemoryObjects.Generator generator = MemoryObjects.generatedContent(seed);
        return generator::fill;
    }

    /** The bytes of a local file, read with positional reads. */
    static SnapshotBytes file(Path path) {
        return (offset, target) -> {
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
                java.nio.ByteBuffer buffer = target.asByteBuffer();
                while (buffer.hasRemaining()) {
                    if (channel.read(buffer, offset + buffer.position()) < 0) {
                        throw new IOException("the file " + path + " ends before " + (offset + buffer.position()));
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        };
    }
}
