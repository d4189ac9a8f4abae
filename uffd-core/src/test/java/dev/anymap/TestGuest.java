package dev.anymap;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A guest's memory as Firecracker makes it, in this JVM: private anonymous ranges with guard pages
 * between them, registered for missing pages with a userfaultfd that reports removals. Read only
 * through native copies, so that a fault holds no safepoint of the test's JVM.
 */
final class TestGuest implements AutoCloseable {
    static final long GUARD = 2L << 20;

    private final long reservation;
    private final long reserved;
    private final int uffd;
    private final List<Long> addresses = new ArrayList<>();

    /** Ranges of {@code sizes} bytes, in this order, each after a guard. */
    TestGuest(long... sizes) throws Exception {
        long total = GUARD;
        for (long size : sizes) {
            total += size + GUARD;
        }
        reserved = total;
        reservation = Libc.check(Libc.mmap(0, reserved, 0, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0), "mmap");
        int created = -1;
        try {
            long at = reservation + GUARD;
            for (long size : sizes) {
                Libc.check(Libc.mmap(at, size, Libc.PROT_READ | Libc.PROT_WRITE,
                        Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_FIXED | Libc.MAP_NORESERVE, -1, 0), "mmap(MAP_FIXED)");
                addresses.add(at);
                at += size + GUARD;
            }
            created = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
            Userfaultfd.enable(created, Userfaultfd.FEATURE_EVENT_REMOVE);
            for (int i = 0; i < sizes.length; i++) {
                Userfaultfd.register(created, addresses.get(i), sizes[i], Userfaultfd.REGISTER_MODE_MISSING);
            }
        } catch (Exception e) {
            if (created >= 0) {
                Libc.close(created);
            }
            Libc.munmap(reservation, reserved);
            throw e;
        }
        uffd = created;
    }

    /** The address of range {@code index}. */
    long address(int index) {
        return addresses.get(index);
    }

    int userfaultfd() {
        return uffd;
    }

    /** {@code length} bytes at {@code address}, copied in native code. */
    static byte[] read(long address, int length) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(length);
            Libc.memcpy(buffer, address, length);
            return buffer.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Gives {@code length} bytes at {@code address} back, as a balloon does. */
    static void giveBack(long address, long length) throws NativeException {
        Libc.check(Libc.madvise(address, length, Libc.MADV_DONTNEED), "madvise(MADV_DONTNEED)");
    }

    @Override
    public void close() {
        Libc.close(uffd);
        Libc.munmap(reservation, reserved);
    }
}
