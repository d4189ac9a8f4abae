package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Writable regions written back to storage, through a real page server and real faults: a file the
 * page server serves as it serves remote storage ({@code servedfile:}), and a local file the kernel
 * maps. Every check reads the file back with plain file I/O and compares it with a model of the
 * bytes written.
 */
class WriteBackTest extends WithPageServer {
    private static final int CHUNK = 64 << 10;
    private static final int PAGE = 4096;

    @TempDir
    Path directory;

    private Path file(String name, int size, long seed) throws Exception {
        byte[] content = new byte[size];
        new SplittableRandom(seed).nextBytes(content);
        Path file = directory.resolve(name);
        Files.write(file, content);
        return file;
    }

    private static URI served(Path file) {
        return URI.create("servedfile:" + file);
    }

    private static MapOptions writable() {
        return MapOptions.defaults().withChunkSize(CHUNK).withWritable(true);
    }

    /** Writes random bytes at every alignment around page and chunk boundaries, into the region and the model alike. */
    private static void writeAroundBoundaries(MemorySegment memory, byte[] model, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] sizes = {1, 7, PAGE - 1, PAGE, PAGE + 1, CHUNK + 3};
        for (long boundary = PAGE; boundary < model.length; boundary += random.nextInt(1, 6) * (long) PAGE) {
            int size = sizes[random.nextInt(sizes.length)];
            long start = Math.max(0, boundary - random.nextInt(0, 3) * (size / 2 + 1));
            int length = (int) Math.min(size, model.length - start);
            byte[] bytes = new byte[length];
            random.nextBytes(bytes);
            MemorySegment.copy(bytes, 0, memory, ValueLayout.JAVA_BYTE, start, length);
            System.arraycopy(bytes, 0, model, (int) start, length);
        }
        long last = model.length - 1; // the unaligned tail
        memory.set(ValueLayout.JAVA_BYTE, last, (byte) 0x5A);
        model[(int) last] = 0x5A;
    }

    @Test
    void writesAtEveryAlignmentReachTheFileAtFlushAndTheVersionMovesOn() throws Exception {
        Path file = file("boundaries.bin", 3 * CHUNK * 4 + 1234, 1);
        byte[] model = Files.readAllBytes(file);
        try (MappedRegion region = anymap.map(served(file), writable())) {
            assertTrue(anymap.serverStatus().regions().stream().anyMatch(r -> r.regionId() == region.serverRegionId() && r.writable()),
                    "the page server's status says the region is writable");
            ObjectVersion mapped = region.version();
            writeAroundBoundaries(region.segment(), model, 2);
            ObjectVersion first = region.flush();
            assertArrayEquals(model, Files.readAllBytes(file), "the file after the first flush");
            assertNotEquals(mapped, first);
            assertEquals(first, region.version());

            writeAroundBoundaries(region.segment(), model, 3);
            ObjectVersion second = region.flush();
            assertArrayEquals(model, Files.readAllBytes(file), "the file after a second flush on top of the first");
            assertNotEquals(first, second);
            assertEquals(second, region.flush(), "a flush with nothing written makes no new version");
            assertArrayEquals(model, actual(region.segment(), 0, model.length), "the region reads what was written");
        }
    }

    @Test
    void closeFlushesAndANewMappingReadsTheWrites() throws Exception {
        Path file = file("close.bin", 5 * CHUNK, 4);
        byte[] model = Files.readAllBytes(file);
        try (MappedRegion region = anymap.map(served(file), writable())) {
            writeAroundBoundaries(region.segment(), model, 5);
        }
        assertArrayEquals(model, Files.readAllBytes(file));
        try (MappedRegion again = anymap.map(served(file), MapOptions.defaults().withChunkSize(CHUNK))) {
            assertArrayEquals(model, actual(again.segment(), 0, model.length));
        }
    }

    @Test
    void unflushedWritesAreNeverSeenByAReadOnlyMappingAndAFlushMakesANewVersionForNewOnes() throws Exception {
        Path file = file("layers.bin", 4 * CHUNK, 6);
        byte[] original = Files.readAllBytes(file);
        try (MappedRegion reader = anymap.map(served(file), MapOptions.defaults().withChunkSize(CHUNK));
             MappedRegion writer = anymap.map(served(file), writable())) {
            assertArrayEquals(original, actual(reader.segment(), 0, original.length)); // the shared cache holds it all now
            byte[] model = original.clone();
            writeAroundBoundaries(writer.segment(), model, 7);
            assertArrayEquals(original, actual(reader.segment(), 0, original.length), "a reader before the flush");
            writer.flush();
            assertArrayEquals(original, actual(reader.segment(), 0, original.length), "a reader of the old version after the flush");
            try (MappedRegion later = anymap.map(served(file), MapOptions.defaults().withChunkSize(CHUNK))) {
                assertEquals(writer.version(), later.version());
                assertArrayEquals(model, actual(later.segment(), 0, model.length), "a reader mapped after the flush");
            }
        }
    }

    @Test
    void aRefusedFlushLosesNothingAndARetryWritesItAll() throws Exception {
        Path file = file("refused.bin", 4 * CHUNK + 99, 8);
        Path marker = Files.createFile(directory.resolve("refuse"));
        byte[] original = Files.readAllBytes(file);
        byte[] model = original.clone();
        URI uri = URI.create(served(file) + "?refuse=" + marker);
        MappedRegion region = anymap.map(uri, writable());
        try {
            writeAroundBoundaries(region.segment(), model, 9);
            AccessDeniedException refused = assertThrows(AccessDeniedException.class, region::flush);
            assertTrue(refused.getMessage().contains(file.toString()), refused.getMessage());
            assertArrayEquals(original, Files.readAllBytes(file), "nothing written by a refused flush");
            assertThrows(AccessDeniedException.class, region::close);
            assertFalse(region.isClosed(), "a close whose flush failed leaves the region open");

            region.segment().set(ValueLayout.JAVA_BYTE, 10, (byte) 1); // written after the failure: goes with the retry
            model[10] = 1;
            Files.delete(marker);
            region.flush();
            assertArrayEquals(model, Files.readAllBytes(file), "the retry writes what the refused flush took, and what came after");
        } finally {
            region.closeWithoutFlush();
        }
        assertThrows(IllegalStateException.class, region::flush, "a flush after close");
    }

    @Test
    void aFlushOverAnotherWritersChangeFailsAndOverwritesNothing() throws Exception {
        Path file = file("two-writers.bin", 2 * CHUNK, 10);
        try (MappedRegion first = anymap.map(served(file), writable());
             MappedRegion second = anymap.map(served(file), writable())) {
            first.segment().set(ValueLayout.JAVA_BYTE, 100, (byte) 1);
            second.segment().set(ValueLayout.JAVA_BYTE, 200, (byte) 2);
            first.flush();
            byte[] winner = Files.readAllBytes(file);
            assertEquals(1, winner[100]);
            ObjectChangedException lost = assertThrows(ObjectChangedException.class, second::flush);
            assertTrue(lost.getMessage().contains(file.toString()), lost.getMessage());
            assertArrayEquals(winner, Files.readAllBytes(file), "the loser wrote nothing");
            second.closeWithoutFlush();
        }
    }

    @Test
    void createMakesAZeroObjectThatAMappingWritesAndAnExistingOneIsRefused() throws Exception {
        Path file = directory.resolve("created.bin");
        byte[] model = new byte[3 * CHUNK + 10];
        // Every read of storage fails: a new object's zeros must come from memory, and its writes still reach storage.
        URI neverRead = URI.create(served(file) + "?noreads=1");
        try (MappedRegion region = anymap.create(neverRead, model.length, MapOptions.defaults().withChunkSize(CHUNK))) {
            assertEquals(model.length, region.size());
            writeAroundBoundaries(region.segment(), model, 11);
            assertArrayEquals(model, actual(region.segment(), 0, model.length));
            assertEquals(0, region.stats().failures(), region.stats().lastFailure());
            region.flush();
            writeAroundBoundaries(region.segment(), model, 17); // on the version the flush made: still no read
            assertArrayEquals(model, actual(region.segment(), 0, model.length));
        }
        assertArrayEquals(model, Files.readAllBytes(file));
        assertThrows(FileAlreadyExistsException.class, () -> anymap.create(served(file), 10, MapOptions.defaults()));
    }

    @Test
    void aLocalFileMappedWritableIsTheFileAndAFlushForcesIt() throws Exception {
        Path file = file("kernel.bin", 3 * CHUNK + 5, 12);
        byte[] model = Files.readAllBytes(file);
        try (MappedRegion region = anymap.map(file.toUri(), writable())) {
            assertTrue(region.kernelMapped());
            ObjectVersion mapped = region.version();
            writeAroundBoundaries(region.segment(), model, 13);
            ObjectVersion flushed = region.flush();
            assertArrayEquals(model, Files.readAllBytes(file));
            assertNotEquals(mapped, flushed);
        }
    }

    @Test
    void aWritableMappingOfStorageThatCannotBeWrittenFailsAtMap() {
        IllegalArgumentException http = assertThrows(IllegalArgumentException.class,
                () -> anymap.map(URI.create("http://127.0.0.1:9/object.bin"), writable()));
        assertTrue(http.getMessage().contains("http://127.0.0.1:9/object.bin") && http.getMessage().contains("reads only"), http.getMessage());
        IllegalArgumentException generated = assertThrows(IllegalArgumentException.class,
                () -> anymap.map(URI.create("mem:generated?size=65536&seed=1"), writable()));
        assertTrue(generated.getMessage().contains("mem:generated"), generated.getMessage());
    }

    @Test
    void aFlushIntoAFullFileSystemFailsSayingSoAndARetryWithRoomWritesItAll() throws Exception {
        Path mount = Files.createDirectory(directory.resolve("small"));
        Process mounted = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount.toString()).inheritIO().start();
        org.junit.jupiter.api.Assumptions.assumeTrue(mounted.waitFor() == 0, "mounting a small tmpfs needs root; skipped");
        try {
            Path file = mount.resolve("full.bin");
            byte[] model = new byte[32 * CHUNK];
            MappedRegion region = anymap.create(served(file), model.length, MapOptions.defaults().withChunkSize(CHUNK));
            try {
                new SplittableRandom(15).nextBytes(model);
                MemorySegment.copy(model, 0, region.segment(), ValueLayout.JAVA_BYTE, 0, model.length); // 2 MiB into 1 MiB of room
                java.io.IOException full = assertThrows(java.io.IOException.class, region::flush);
                assertTrue(full.getMessage().contains(file.toString()), full.getMessage());
                assertTrue(full.getMessage().toLowerCase(java.util.Locale.ROOT).contains("space"), full.getMessage());
                Process grown = new ProcessBuilder("mount", "-o", "remount,size=8m", mount.toString()).inheritIO().start();
                assertEquals(0, grown.waitFor());
                region.flush();
                assertArrayEquals(model, Files.readAllBytes(file), "the retry, with room, writes every byte the full flush could not");
            } finally {
                region.closeWithoutFlush();
            }
        } finally {
            new ProcessBuilder("umount", "-l", mount.toString()).inheritIO().start().waitFor();
        }
    }

    @Test
    void aWritePastTheEndIsRefusedByTheSegmentsBounds() throws Exception {
        Path file = file("bounds.bin", CHUNK + 5, 16);
        try (MappedRegion region = anymap.map(served(file), writable())) {
            assertThrows(IndexOutOfBoundsException.class, () -> region.segment().set(ValueLayout.JAVA_BYTE, CHUNK + 5, (byte) 1));
        }
    }

    @Test
    void aReadOnlyRegionHasNothingToFlush() throws Exception {
        Path file = file("read-only.bin", CHUNK, 14);
        try (MappedRegion region = anymap.map(served(file), MapOptions.defaults().withChunkSize(CHUNK))) {
            assertThrows(IllegalStateException.class, region::flush);
        }
    }
}
