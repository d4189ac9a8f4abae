package dev.anymap.server;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The memory that holds one served object in the shared page cache: a memfd that every region of
 * the object maps, in any process, and the page server's own mapping of it, through whose
 * userfaultfd the server fills it.
 *
 * <p>Pages are filled with UFFDIO_COPY, never written in place: a page enters the memfd whole, so a
 * process that maps it can never read one half-written. Measured with {@code uffd-reference}, a copy
 * into shared memory fills 256 KiB to 2 MiB chunks at 0.7 to 1.0 of private memory's speed, and
 * writing into the memfd then mapping with UFFDIO_CONTINUE at less, and it would need every region
 * registered for minor faults too, which cost a process one round trip per chunk even where the
 * cache holds it. So regions register for missing pages only: pages in the cache are mapped by the
 * kernel with no fault served at all.
 */
final class ObjectMemory implements AutoCloseable {
    private static final AtomicLong NEXT = new AtomicLong(1);

    private final int memfd;
    private final long length;
    private final long address;
    private final int userfaultfd;
    private final String name;
    private final java.util.concurrent.atomic.AtomicBoolean open = new java.util.concurrent.atomic.AtomicBoolean(true);

    private ObjectMemory(int memfd, long length, long address, int userfaultfd, String name) {
        this.memfd = memfd;
        this.length = length;
        this.address = address;
        this.userfaultfd = userfaultfd;
        this.name = name;
    }

    /** New, empty memory of {@code length} bytes (whole pages). */
    static ObjectMemory create(long length) throws NativeException {
        String name = "anymap-" + ProcessHandle.current().pid() + "-" + NEXT.getAndIncrement();
        int memfd = (int) Libc.check(Libc.memfdCreate(name, Libc.MFD_CLOEXEC), "memfd_create");
        try {
            Libc.check(Libc.ftruncate(memfd, length), "ftruncate(memfd, " + length + ")");
            // Readable by its owner only: a client holds a read-only descriptor, which it then cannot reopen for writing.
            Libc.check(Libc.fchmod(memfd, 0400), "fchmod(memfd)");
            return map(memfd, length, Userfaultfd.describe(memfd));
        } catch (NativeException | RuntimeException e) {
            Libc.close(memfd);
            throw e;
        }
    }

    /**
     * The memory of a region taken over from a dead page server: its memfd, which the region's
     * client maps, with whatever pages it holds; this memory owns {@code memfd} from now on.
     */
    static ObjectMemory adopt(int memfd, long length) throws NativeException {
        String name = Userfaultfd.describe(memfd);
        if (!name.startsWith("/memfd:anymap-")) {
            Libc.close(memfd);
            throw new IllegalArgumentException("the cache memory of a region taken over is not an anymap memfd but " + name);
        }
        try {
            return map(memfd, length, name);
        } catch (NativeException | RuntimeException e) {
            Libc.close(memfd);
            throw e;
        }
    }

    private static ObjectMemory map(int memfd, long length, String name) throws NativeException {
        if (length == 0) {
            return new ObjectMemory(memfd, 0, 0, -1, name);
        }
        // Never touched by the server: a touch would wait on this userfaultfd, which no fault loop reads.
        long address = Libc.check(Libc.mmap(0, length, Libc.PROT_READ, Libc.MAP_SHARED | Libc.MAP_NORESERVE, memfd, 0),
                "mmap(memfd, " + length + ")");
        int userfaultfd = -1;
        try {
            userfaultfd = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
            // SIGBUS: a kernel copy out of a page dropped meanwhile (into a guest's memory) then fails with EFAULT, where it would wait for ever.
            Userfaultfd.enable(userfaultfd, Userfaultfd.FEATURE_SIGBUS);
            Userfaultfd.register(userfaultfd, address, length, Userfaultfd.REGISTER_MODE_MISSING);
            return new ObjectMemory(memfd, length, address, userfaultfd, name);
        } catch (NativeException | RuntimeException e) {
            if (userfaultfd >= 0) {
                Libc.close(userfaultfd);
            }
            Libc.munmap(address, length);
            throw e;
        } catch (dev.anymap.linux.UserfaultfdUnavailableException e) {
            Libc.munmap(address, length);
            throw new NativeException("userfaultfd for the page cache: " + e.getMessage(), Errno.EPERM);
        }
    }

    /** Whether {@code other} is a mapping of the same memfd, as two regions taken over from one object are. */
    boolean sameFile(ObjectMemory other) {
        return other.name.equals(name);
    }

    /**
     * The address of the object's byte at {@code offset} in this server's mapping, for copying out of
     * a present page. A page dropped meanwhile makes the kernel's copy fail with EFAULT.
     */
    long addressOf(long offset) {
        return address + offset;
    }

    /** The memfd, as the keeper keeps it. */
    int fd() {
        return memfd;
    }

    /**
     * A descriptor of the memfd opened for reading only, for a client: a region mapped from it can
     * never write into the cache, even by mprotect. The caller closes it once sent.
     */
    int readOnlyFd() throws NativeException {
        return (int) Libc.check(Libc.open("/proc/self/fd/" + memfd, Libc.O_RDONLY | Libc.O_CLOEXEC), "open(memfd, O_RDONLY)");
    }

    /**
     * A duplicate of the memfd, writable, for the client of a writable region: its own layer, which
     * no other region maps. The caller closes it once sent.
     */
    int readWriteFd() throws NativeException {
        return (int) Libc.check(Libc.dup(memfd), "dup(memfd)");
    }

    /**
     * Copies the bytes at {@code offset} into {@code target}. Only for pages the memory holds: a
     * missing one would wait on this memory's userfaultfd, which nothing reads.
     */
    void read(long offset, MemorySegment target) {
        MemorySegment.copy(MemorySegment.ofAddress(address + offset).reinterpret(target.byteSize()), 0, target, 0, target.byteSize());
    }

    /**
     * Copies {@code length} bytes from {@code source} into the memory at {@code offset}, stepping over
     * pages already there, and wakes nobody: the regions that wait are woken by their own
     * userfaultfds.
     *
     * @return 0, or {@code -errno}
     */
    int fill(long offset, long source, long length, Userfaultfd.FillRequest fill) {
        return fill.fillRange(userfaultfd, address + offset, source, length, Userfaultfd.COPY_MODE_DONTWAKE);
    }

    /** Frees the pages of a range: every mapping of them, in every process, faults on its next touch. */
    void drop(long offset, long length) throws NativeException {
        Libc.check(Libc.fallocate(memfd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length),
                "fallocate(PUNCH_HOLE) of the cache memory " + name);
    }

    /** Whether every page of the range is in the memory: for a region taken over, which chunks its memfd already holds. */
    boolean holds(long offset, long length) {
        long pages = (length + Userfaultfd.PAGE - 1) / Userfaultfd.PAGE;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment residency = arena.allocate(pages);
            if (Libc.mincore(address + offset, length, residency) != 0) {
                return false;
            }
            for (long page = 0; page < pages; page++) {
                if ((residency.get(ValueLayout.JAVA_BYTE, page) & 1) == 0) {
                    return false;
                }
            }
            return true;
        }
    }

    @Override
    public void close() {
        if (!open.compareAndSet(true, false)) {
            return;
        }
        if (length > 0) {
            Libc.munmap(address, length);
            Libc.close(userfaultfd);
        }
        Libc.close(memfd);
    }
}
