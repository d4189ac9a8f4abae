package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.linux.Libc;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
    private static final long GUARD = 2L << 20;

    private long reservation;
    private long reserved;
    private int uffd = -1;

    @BeforeEach
    void guestMemory() throws Exception {
        reserved = 2 * RANGE + 3 * GUARD;
        reservation = Libc.check(Libc.mmap(0, reserved, 0, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0), "mmap");
        for (long range : new long[] {first(), second()}) {
            Libc.check(Libc.mmap(range, RANGE, Libc.PROT_READ | Libc.PROT_WRITE,
                    Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_FIXED | Libc.MAP_NORESERVE, -1, 0), "mmap(MAP_FIXED)");
        }
        uffd = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        Userfaultfd.enable(uffd, Userfaultfd.FEATURE_EVENT_REMOVE);
        Userfaultfd.register(uffd, first(), RANGE, Userfaultfd.REGISTER_MODE_MISSING);
        Userfaultfd.register(uffd, second(), RANGE, Userfaultfd.REGISTER_MODE_MISSING);
    }

    @AfterEach
    void freeGuestMemory() {
        Libc.close(uffd);
        Libc.munmap(reservation, reserved);
    }

    private long first() {
        return reservation + GUARD;
    }

    private long second() {
        return reservation + 2 * GUARD + RANGE;
    }

    /** The guest's two ranges: the object's last 8 MiB first, then its first 8 MiB, as a memory file need not be in address order. */
    private GuestMemory memory() {
        return new GuestMemory(uffd, List.of(new GuestMemory.Range(first(), RANGE, SIZE - RANGE, 4096),
                new GuestMemory.Range(second(), RANGE, 0, 4096)));
    }

    @Test
    void everyPageReadsTheObjectsBytesAtItsRangesOffsetFromSeveralThreads() throws Exception {
        long seed = 61;
        try (ServedGuest guest = anymap.serve(URI.create("mem:guest-read?size=" + SIZE + "&seed=" + seed), MapOptions.defaults(), memory())) {
            Thread[] readers = new Thread[4];
            Throwable[] failures = new Throwable[readers.length];
            for (int t = 0; t < readers.length; t++) {
                int index = t;
                readers[t] = Thread.ofPlatform().start(() -> {
                    try {
                        for (int i = 0; i < 200; i++) {
                            long offset = ThreadLocalRandom.current().nextLong(RANGE / 4096) * 4096;
                            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, SIZE - RANGE + offset, 4096), nativeRead(first() + offset, 4096));
                            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, offset, 4096), nativeRead(second() + offset, 4096));
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
            assertTrue(guest.stats().faults() > 0, "the page server served the guest's faults");
        }
    }

    @Test
    void aRangeGivenBackReadsAsZerosWhileTheRestReadsTheObject() throws Exception {
        long seed = 62;
        try (ServedGuest guest = anymap.serve(URI.create("mem:guest-balloon?size=" + SIZE + "&seed=" + seed), MapOptions.defaults(), memory())) {
            // Touched first, so that the balloon takes back pages that were there, then pages that never were.
            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, 0, 1 << 20), nativeRead(second(), 1 << 20));
            assertEquals(0, Libc.madvise(second(), 3L << 20, Libc.MADV_DONTNEED));
            byte[] zeros = new byte[1 << 20];
            for (long offset = 0; offset < 3L << 20; offset += 1 << 20) {
                assertArrayEquals(zeros, nativeRead(second() + offset, 1 << 20), "given back at " + offset);
            }
            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, 3L << 20, 1 << 20), nativeRead(second() + (3L << 20), 1 << 20));
            assertArrayEquals(ReferenceContent.bytes(SIZE, seed, SIZE - RANGE, 1 << 20), nativeRead(first(), 1 << 20));
        }
    }

    @Test
    void aRangePastTheObjectsEndIsRefusedNamingTheObject() {
        GuestMemory tooLarge = new GuestMemory(uffd, List.of(new GuestMemory.Range(first(), RANGE, SIZE - RANGE + 4096, 4096)));
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> anymap.serve(URI.create("mem:guest-short?size=" + SIZE + "&seed=63"), MapOptions.defaults(), tooLarge));
        assertTrue(refused.getMessage().contains("mem:guest-short"), refused.getMessage());
        assertTrue(refused.getMessage().contains("guest memory range 0"), refused.getMessage());
    }

    /** {@code length} bytes at {@code address}, copied in native code: a fault there holds no safepoint. */
    private static byte[] nativeRead(long address, int length) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(length);
            Libc.memcpy(buffer, address, length);
            return buffer.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
    }
}
