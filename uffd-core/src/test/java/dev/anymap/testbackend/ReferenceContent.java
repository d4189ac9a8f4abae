package dev.anymap.testbackend;

import dev.anymap.backend.memory.MemoryObjects;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Map;

/**
 * The bytes of generated objects, read through the memory backend in this process: the independent
 * source that mapped memory is compared against.
 */
public final class ReferenceContent {
    private static final Map<String, StorageBackend> OPEN = new ConcurrentHashMap<>();

    private ReferenceContent() {}

    /** The backend for {@code mem:reference?size=SIZE&seed=SEED}, kept open for the JVM's life. */
    public static StorageBackend of(long size, long seed) {
        return OPEN.computeIfAbsent(size + "/" + seed, key -> {
            try {
                return BackendRegistry.load().open(URI.create("mem:reference?size=" + size + "&seed=" + seed));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** {@code length} bytes at {@code offset} of {@code mem:...?size=SIZE&seed=SEED}. */
    public static byte[] bytes(long size, long seed, long offset, int length) throws IOException {
        byte[] bytes = new byte[length];
        of(size, seed).read(offset, MemorySegment.ofArray(bytes));
        return bytes;
    }

    /**
     * Fills {@code target} with the bytes at {@code offset} of {@code mem:...?size=SIZE&seed=SEED},
     * computed for that range alone: a process that serves a GiB this way does not build it first.
     */
    public static void fill(long size, long seed, long offset, MemorySegment target) {
        if (offset < 0 || offset + target.byteSize() > size) {
            throw new IndexOutOfBoundsException("bytes " + offset + " to " + (offset + target.byteSize()) + " of " + size);
        }
        MemoryObjects.generatedContent(seed).fill(offset, target);
    }
}
