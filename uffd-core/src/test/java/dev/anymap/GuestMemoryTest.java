package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.net.URI;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Another process's private memory served by copying, as a Firecracker guest's is: here this JVM's
 * own anonymous memory, registered for missing pages with a userfaultfd that has removals enabled,
 * and read only through native copies, so that no fault holds a safepoint of the test's JVM.
 */
class GuestMemoryTest extends WithPageServer {
    private static final long SIZE = 24L << 20;
    private static final long RANGE = 8L << 20;

    private TestGuest guest;

    @BeforeEach
    void guestMemory() throws Exception {
        guest = new TestGuest(RANGE, RANGE);
    }

    @AfterEach
    void freeGuestMemory() {
        guest.close();
    }

    private long first() {
        return guest.address(0);
    }

    private long second() {
        return guest.address(1);
    }

    /** The guest's two ranges: the object's last 8 MiB first, then its first 8 MiB, as a memory file need not be in address order. */
    private GuestMemory memory() {
        return new GuestMemory(guest.userfaultfd(), List.of(new GuestMemory.Range(first(), RANGE, SIZE - RANGE, 4096),
                new GuestMemory.Range(second(), RANGE, 0, 4096)));
    }

    @Test
    void everyPageReadsTheObjectsBytesAtItsRangesOffsetFromSeveralThreads() throws Exception {
        long seed = 61;
        try (ServedGuest served = anymap.serve(URI.create("mem:guest-read?size=" + SIZE + "&seed=" + seed), MapOptions.defaults(), memory())) {
            Thread[] readers = new Thread[4];
            Throwable[] failures = new Throwable[readers.length];
            for (int t = 0; t < readers.length; t++) {
                int index = t;
                readers[t] = Thread.ofPlatform().start(() -> {
                    try {
                        for (int i = 0; i < 200; i++) {
                            long offset = ThreadLocalRandom.current().nextLong(RANGE / 4096) * 4096;
                            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, SIZE - RANGE + offset, 4096), TestGuest.read(first() + offset, 4096));
                            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, offset, 4096), TestGuest.read(second() + offset, 4096));
                        }
                    } catch (Throwable e) {
                        failures[index] = e;
                    }
                });
            }
            for (Thread reader : readers) {
                reader.join();
            }
            for (Throwable failure : failures) {
                if (failure != null) {
                    throw new AssertionError(failure);
                }
            }
            assertTrue(served.stats().faults() > 0, "the page server served the guest's faults");
        }
    }

    @Test
    void aRangeGivenBackReadsAsZerosWhileTheRestReadsTheObject() throws Exception {
        long seed = 62;
        try (ServedGuest served = anymap.serve(URI.create("mem:guest-balloon?size=" + SIZE + "&seed=" + seed), MapOptions.defaults(), memory())) {
            // Touched first, so that the balloon takes back pages that were there, then pages that never were.
            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, 0, 1 << 20), TestGuest.read(second(), 1 << 20));
            TestGuest.giveBack(second(), 3L << 20);
            byte[] zeros = new byte[1 << 20];
            for (long offset = 0; offset < 3L << 20; offset += 1 << 20) {
                assertArrayEquals(zeros, TestGuest.read(second() + offset, 1 << 20), "given back at " + offset);
            }
            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, 3L << 20, 1 << 20), TestGuest.read(second() + (3L << 20), 1 << 20));
            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, SIZE - RANGE, 1 << 20), TestGuest.read(first(), 1 << 20));
        }
    }

    @Test
    void aLocalMemoryFileIsCopiedFromTheKernelsPageCacheWithNoFetch(@org.junit.jupiter.api.io.TempDir java.nio.file.Path directory)
            throws Exception {
        byte[] content = new byte[(int) SIZE];
        new java.util.Random(64).nextBytes(content);
        java.nio.file.Path file = java.nio.file.Files.write(directory.resolve("memory.snap"), content);
        try (ServedGuest served = anymap.serve(file.toUri(), MapOptions.defaults(), memory())) {
            for (long offset = 0; offset < RANGE; offset += 1 << 20) {
                assertArrayEquals(java.util.Arrays.copyOfRange(content, (int) offset, (int) offset + (1 << 20)),
                        TestGuest.read(second() + offset, 1 << 20), "at " + offset);
                assertArrayEquals(java.util.Arrays.copyOfRange(content, (int) (SIZE - RANGE + offset), (int) (SIZE - RANGE + offset) + (1 << 20)),
                        TestGuest.read(first() + offset, 1 << 20), "at " + (SIZE - RANGE + offset));
            }
            RegionStats stats = served.stats();
            assertTrue(stats.faults() > 0, "the page server served the guest's faults");
            assertEquals(0, stats.bytesFetched(), "read from the file's pages in the kernel's cache, not fetched");
            assertEquals(2 * RANGE / MapOptions.DEFAULT_CHUNK_SIZE, served.trace().chunks().length, "every chunk touched is traced");
        }
    }

    @Test
    void aReplayedTracesChunksAreCopiedInAheadSoThatItsTouchesFaultNoMore() throws Exception {
        long seed = 65;
        URI uri = URI.create("mem:guest-ahead?size=" + SIZE + "&seed=" + seed);
        long[] touched = {0, 5L << 20, (3L << 20) + 4096, 7L << 20};
        AccessTrace trace;
        try (ServedGuest first = anymap.serve(uri, MapOptions.defaults().withReadahead(0).withAutoPull(false), memory())) {
            for (long offset : touched) {
                TestGuest.read(second() + offset, 4096);
            }
            trace = first.trace();
        }
        guest.close();
        guest = new TestGuest(RANGE, RANGE);
        try (ServedGuest replayed = anymap.serve(uri, MapOptions.defaults().withReadahead(0).withAutoPull(false), memory(), trace)) {
            for (long offset : touched) {
                assertArrayEquals(ReferenceContent.bytes(SIZE, seed, offset, 4096), TestGuest.read(second() + offset, 4096));
            }
            assertEquals(0, replayed.stats().faults(), "every chunk the trace names was in the guest before its touch");
            assertTrue(TestGuest.read(second() + (6L << 20), 1)[0] == ReferenceContent.bytes(SIZE, seed, 6L << 20, 1)[0]);
            assertEquals(1, replayed.stats().faults(), "a chunk the trace does not name is faulted on");
        }
    }

    @Test
    void aRangePastTheObjectsEndIsRefusedNamingTheObject() {
        GuestMemory tooLarge = new GuestMemory(guest.userfaultfd(), List.of(new GuestMemory.Range(first(), RANGE, SIZE - RANGE + 4096, 4096)));
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> anymap.serve(URI.create("mem:guest-short?size=" + SIZE + "&seed=63"), MapOptions.defaults(), tooLarge));
        assertTrue(refused.getMessage().contains("mem:guest-short"), refused.getMessage());
        assertTrue(refused.getMessage().contains("guest memory range 0"), refused.getMessage());
    }
}
