package dev.anymap.linux;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * userfaultfd(2): creating one, negotiating its API, and the range ioctls. The constants follow
 * {@code linux/userfaultfd.h}; POISON (Linux 6.6) is newer than some installed headers, so it is
 * defined here from the kernel's ABI.
 *
 * <p>The range ioctls work on the memory of the process that created the userfaultfd, whichever
 * process calls them: this is what lets a page server fill an application's pages.
 */
public final class Userfaultfd {
    private static final long UFFD_API = 0xAA;
    private static final long SYS_USERFAULTFD = switch (System.getProperty("os.arch")) {
        case "amd64", "x86_64" -> 323;
        case "aarch64" -> 282;
        case "riscv64" -> 282;
        default -> -1;
    };
    private static final long USERFAULTFD_IOC_NEW = io(0xAA, 0x00);

    public static final long UFFDIO_API = iowr(0x3F, 24);
    public static final long UFFDIO_REGISTER = iowr(0x00, 32);
    public static final long UFFDIO_UNREGISTER = ior(0x01, 16);
    public static final long UFFDIO_WAKE = ior(0x02, 16);
    public static final long UFFDIO_COPY = iowr(0x03, 40);
    public static final long UFFDIO_ZEROPAGE = iowr(0x04, 32);
    public static final long UFFDIO_WRITEPROTECT = iowr(0x06, 24);
    public static final long UFFDIO_CONTINUE = iowr(0x07, 32);
    public static final long UFFDIO_POISON = iowr(0x08, 32);

    /** UFFD_EVENT_REMOVE: madvise(MADV_DONTNEED or MADV_REMOVE) of registered memory is reported, and waits until read. */
    public static final long FEATURE_EVENT_REMOVE = 1L << 3;
    public static final long FEATURE_MISSING_SHMEM = 1L << 5;
    /** A fault on a missing page raises SIGBUS instead of waiting; a kernel copy from such a page fails with EFAULT. */
    public static final long FEATURE_SIGBUS = 1L << 7;
    public static final long FEATURE_THREAD_ID = 1L << 8;
    public static final long FEATURE_MINOR_SHMEM = 1L << 10;
    public static final long FEATURE_WP_HUGETLBFS_SHMEM = 1L << 12;
    public static final long FEATURE_POISON = 1L << 14;
    /** Write faults on write-protected pages resolved by the kernel itself, which marks them written for PAGEMAP_SCAN (6.7). */
    public static final long FEATURE_WP_ASYNC = 1L << 15;

    public static final long REGISTER_MODE_MISSING = 1L;
    public static final long REGISTER_MODE_WP = 1L << 1;
    public static final long REGISTER_MODE_MINOR = 1L << 2;
    public static final long COPY_MODE_DONTWAKE = 1L;
    private static final long WRITEPROTECT_MODE_WP = 1L;

    /** The page size of the userfaultfd ioctls on the architectures anymap runs on. */
    public static final int PAGE = 4096;

    /** The size of {@code struct uffd_msg}, the unit a read(2) of a userfaultfd returns. */
    public static final int MESSAGE_SIZE = 32;
    public static final byte EVENT_PAGEFAULT = 0x12;
    /** A range was given back (madvise): it reads as zeros from now on. */
    public static final byte EVENT_REMOVE = 0x15;
    public static final long PAGEFAULT_FLAG_WRITE = 1L;

    private Userfaultfd() {}

    private static long io(int type, int number) {
        return ((long) type << 8) | number;
    }

    private static long iowr(int number, int size) {
        return (3L << 30) | ((long) size << 16) | (0xAAL << 8) | number;
    }

    private static long ior(int number, int size) {
        return (2L << 30) | ((long) size << 16) | (0xAAL << 8) | number;
    }

    /**
     * A new userfaultfd for this process, with {@code flags} (O_CLOEXEC, O_NONBLOCK): through the
     * syscall, or through {@code /dev/userfaultfd} where the syscall is refused (EPERM when
     * {@code vm.unprivileged_userfaultfd} is 0 and the process lacks CAP_SYS_PTRACE).
     *
     * @throws UserfaultfdUnavailableException naming what to change when neither works
     */
    public static int create(int flags) throws UserfaultfdUnavailableException {
        long fromSyscall = SYS_USERFAULTFD < 0 ? -Errno.ENOSYS : Libc.syscall(SYS_USERFAULTFD, flags);
        if (fromSyscall >= 0) {
            return (int) fromSyscall;
        }
        int fromDevice = createThroughDevice(flags);
        if (fromDevice < 0) {
            throw new UserfaultfdUnavailableException((int) -fromSyscall, -fromDevice);
        }
        return fromDevice;
    }

    /** A userfaultfd from {@code /dev/userfaultfd} (Linux 6.1): the descriptor, or {@code -errno}. */
    static int createThroughDevice(int flags) {
        int device = Libc.open("/dev/userfaultfd", Libc.O_RDWR | Libc.O_CLOEXEC);
        if (device < 0) {
            return device;
        }
        try {
            return Libc.ioctl(device, USERFAULTFD_IOC_NEW, flags);
        } finally {
            Libc.close(device);
        }
    }

    /**
     * What descriptor {@code fd} of this process is, as {@code /proc/self/fd} names it: {@code
     * anon_inode:[userfaultfd]} for a userfaultfd, a path, {@code pipe:[...]}, {@code
     * anon_inode:[eventfd]}; "unknown" if it cannot be read.
     */
    public static String describe(int fd) {
        try {
            return java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd", Integer.toString(fd))).toString();
        } catch (java.io.IOException | UnsupportedOperationException e) {
            return "unknown";
        }
    }

    /**
     * Whether descriptor {@code fd} of this process is a userfaultfd. A descriptor from another
     * process must be checked before its fault loop starts: a read(2) of {@code /dev/zero} or a
     * memfd never blocks, and a loop on one burns a core.
     */
    public static boolean isUserfaultfd(int fd) {
        return describe(fd).equals("anon_inode:[userfaultfd]");
    }

    /**
     * The features negotiated on descriptor {@code fd} of this process, a userfaultfd, as its line
     * in {@code /proc/self/fdinfo} gives them; -1 if that cannot be read. A second UFFDIO_API on a
     * userfaultfd is refused, so this is how a process that was sent one learns how it was set up.
     */
    public static long features(int fd) {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/fdinfo", Integer.toString(fd)))) {
                // "API:\t<api>:<features>:<ioctls>", in hexadecimal
                if (line.startsWith("API:")) {
                    String[] fields = line.substring(4).strip().split(":");
                    return fields.length == 3 ? Long.parseUnsignedLong(fields[1], 16) : -1;
                }
            }
            return -1;
        } catch (java.io.IOException | NumberFormatException e) {
            return -1;
        }
    }

    /** The features this kernel offers, from a throwaway userfaultfd. */
    public static long availableFeatures() throws NativeException, UserfaultfdUnavailableException {
        int fd = create(Libc.O_CLOEXEC);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment api = arena.allocate(24);
            api.set(JAVA_LONG, 0, UFFD_API);
            Libc.check(Libc.ioctl(fd, UFFDIO_API, api), "ioctl(UFFDIO_API)");
            return api.get(JAVA_LONG, 8);
        } finally {
            Libc.close(fd);
        }
    }

    /** UFFDIO_API with exactly {@code features}; returns the ioctls the fd then supports. */
    public static long enable(int fd, long features) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment api = arena.allocate(24);
            api.set(JAVA_LONG, 0, UFFD_API);
            api.set(JAVA_LONG, 8, features);
            Libc.check(Libc.ioctl(fd, UFFDIO_API, api), "ioctl(UFFDIO_API)");
            return api.get(JAVA_LONG, 16);
        }
    }

    /** UFFDIO_REGISTER over a range; returns the range ioctls it supports. */
    public static long register(int fd, long start, long length, long mode) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment register = arena.allocate(32);
            register.set(JAVA_LONG, 0, start);
            register.set(JAVA_LONG, 8, length);
            register.set(JAVA_LONG, 16, mode);
            Libc.check(Libc.ioctl(fd, UFFDIO_REGISTER, register), "ioctl(UFFDIO_REGISTER)");
            return register.get(JAVA_LONG, 24);
        }
    }

    public static void unregister(int fd, long start, long length) throws NativeException {
        rangeIoctl(fd, UFFDIO_UNREGISTER, start, length, "ioctl(UFFDIO_UNREGISTER)");
    }

    /** Wakes the threads waiting on faults in a range, which then fault again if the page is still missing. */
    public static void wake(int fd, long start, long length) throws NativeException {
        rangeIoctl(fd, UFFDIO_WAKE, start, length, "ioctl(UFFDIO_WAKE)");
    }

    /** UFFDIO_WRITEPROTECT: write-protects a range, pages not yet there included (shmem keeps a marker in their place). */
    public static void writeProtect(int fd, long start, long length) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment protect = arena.allocate(24);
            protect.set(JAVA_LONG, 0, start);
            protect.set(JAVA_LONG, 8, length);
            protect.set(JAVA_LONG, 16, WRITEPROTECT_MODE_WP);
            Libc.check(Libc.ioctl(fd, UFFDIO_WRITEPROTECT, protect), "ioctl(UFFDIO_WRITEPROTECT)");
        }
    }

    private static void rangeIoctl(int fd, long request, long start, long length, String call) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment range = arena.allocate(16);
            range.set(JAVA_LONG, 0, start);
            range.set(JAVA_LONG, 8, length);
            Libc.check(Libc.ioctl(fd, request, range), call);
        }
    }

    /**
     * The argument of the filling ioctls, reused across calls by one thread so that the fault path
     * allocates nothing: {@code struct uffdio_copy}, and the {@code uffdio_zeropage} and
     * {@code uffdio_poison} that share its first 32 bytes' shape.
     */
    public static final class FillRequest {
        private final MemorySegment argument;

        public FillRequest(Arena arena) {
            this.argument = arena.allocate(40, 8);
        }

        /**
         * UFFDIO_COPY of {@code length} bytes from {@code source} (this process) to {@code destination}
         * (the userfaultfd's process); wakes the waiters unless {@code mode} says not to.
         *
         * @return 0, or {@code -errno}: EEXIST where a page was already there, EAGAIN where the
         *     mapping changed under the copy, ENOENT or ESRCH where the mapping or process is gone;
         *     {@link #done()} tells how many bytes were copied before it stopped
         */
        public int copy(int fd, long destination, long source, long length, long mode) {
            argument.set(JAVA_LONG, 0, destination);
            argument.set(JAVA_LONG, 8, source);
            argument.set(JAVA_LONG, 16, length);
            argument.set(JAVA_LONG, 24, mode);
            argument.set(JAVA_LONG, 32, 0L);
            return Libc.ioctl(fd, UFFDIO_COPY, argument);
        }

        /** UFFDIO_ZEROPAGE over a range; same returns as {@link #copy}. */
        public int zeroPage(int fd, long start, long length, long mode) {
            return rangeWithMode(fd, UFFDIO_ZEROPAGE, start, length, mode);
        }

        /**
         * UFFDIO_POISON over a range: a thread that touches it gets SIGBUS, now and on every later
         * touch, until the range is zapped (MADV_DONTNEED). Same returns as {@link #copy}.
         */
        public int poison(int fd, long start, long length, long mode) {
            return rangeWithMode(fd, UFFDIO_POISON, start, length, mode);
        }

        private int rangeWithMode(int fd, long request, long start, long length, long mode) {
            argument.set(JAVA_LONG, 0, start);
            argument.set(JAVA_LONG, 8, length);
            argument.set(JAVA_LONG, 16, mode);
            argument.set(JAVA_LONG, 24, 0L);
            int result = Libc.ioctl(fd, request, argument);
            // The bytes done stand at offset 24 for these two, at 32 for COPY: keep done() uniform.
            argument.set(JAVA_LONG, 32, argument.get(JAVA_LONG, 24));
            return result;
        }

        /** UFFDIO_WAKE over a range, through this request's memory: the fault path allocates nothing for it. */
        public int wake(int fd, long start, long length) {
            argument.set(JAVA_LONG, 0, start);
            argument.set(JAVA_LONG, 8, length);
            return Libc.ioctl(fd, UFFDIO_WAKE, argument);
        }

        /**
         * Poisons every page not yet filled in {@code [start, start + length)}, pages of {@code
         * pageSize} bytes, of memory that nothing serves any more: its threads then fail instead of
         * waiting for ever. An event waiting to be read (EAGAIN: another process's madvise) is read
         * and dropped, since nothing is left to act on it.
         *
         * @return 0, or {@code -errno} of the error that stopped it (ESRCH: the process is gone)
         */
        public int poisonAbandoned(int fd, long start, long length, long pageSize) {
            long done = 0;
            while (done < length) {
                int result = poison(fd, start + done, length - done, COPY_MODE_DONTWAKE);
                if (result == 0) {
                    break;
                }
                done += Math.max(0, done());
                if (result == -Errno.EEXIST) {
                    done += pageSize;
                } else if (result == -Errno.EAGAIN) {
                    try (Arena arena = Arena.ofConfined()) {
                        MemorySegment events = arena.allocate(MESSAGE_SIZE * 16L, 8);
                        Libc.read(fd, events, events.byteSize());
                    }
                } else {
                    return result;
                }
            }
            wake(fd, start, length);
            return 0;
        }

        /** Bytes filled by the last call, or {@code -errno} if it failed before any. */
        public long done() {
            return argument.get(JAVA_LONG, 32);
        }

        /**
         * Fills all of {@code [destination, destination + length)}: copies from {@code source}, or
         * poisons when {@code source} is 0. Steps over pages that are already there (EEXIST: filled
         * before, for instance by an earlier page server) and tries again where the mapping changed
         * under the call (EAGAIN). Wakes the waiters of the whole range.
         *
         * @return 0, or {@code -errno} of the error that stopped it: ENOENT or ESRCH when the
         *     mapping or its process is gone, anything else unexpected
         */
        public int fillRange(int fd, long destination, long source, long length) {
            return fillRange(fd, destination, source, length, 0);
        }

        /** {@link #fillRange(int, long, long, long)}, waking nobody when {@code mode} is {@link #COPY_MODE_DONTWAKE}. */
        public int fillRange(int fd, long destination, long source, long length, long mode) {
            long done = 0;
            boolean steppedOver = false;
            while (done < length) {
                int result = source == 0
                        ? poison(fd, destination + done, length - done, mode)
                        : copy(fd, destination + done, source + done, length - done, mode);
                if (result == 0) {
                    break;
                }
                done += Math.max(0, done());
                if (result == -Errno.EEXIST) {
                    done += PAGE;
                    steppedOver = true;
                } else if (result == -Errno.EAGAIN) {
                    Thread.onSpinWait();
                } else {
                    return result;
                }
            }
            if (steppedOver && mode == 0) {
                // A thread may wait on a page beside one that was there; a wake costs little.
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment range = arena.allocate(16);
                    range.set(JAVA_LONG, 0, destination);
                    range.set(JAVA_LONG, 8, length);
                    Libc.ioctl(fd, UFFDIO_WAKE, range);
                }
            }
            return 0;
        }
    }

    /** The event of the message at {@code index} in a buffer read from a userfaultfd. */
    public static byte event(MemorySegment messages, int index) {
        return messages.get(JAVA_BYTE, (long) index * MESSAGE_SIZE);
    }

    /** The flags of a page-fault message. */
    public static long pagefaultFlags(MemorySegment messages, int index) {
        return messages.get(JAVA_LONG, (long) index * MESSAGE_SIZE + 8);
    }

    /** The faulting address of a page-fault message. */
    public static long pagefaultAddress(MemorySegment messages, int index) {
        return messages.get(JAVA_LONG, (long) index * MESSAGE_SIZE + 16);
    }

    /**
     * The thread that took a page fault, as its own pid namespace numbers it; 0 unless the
     * userfaultfd has {@link #FEATURE_THREAD_ID}.
     */
    public static int pagefaultThread(MemorySegment messages, int index) {
        return messages.get(JAVA_INT, (long) index * MESSAGE_SIZE + 24);
    }

    /** The first address of the range a remove message reports. */
    public static long removeStart(MemorySegment messages, int index) {
        return messages.get(JAVA_LONG, (long) index * MESSAGE_SIZE + 8);
    }

    /** The end (exclusive) of the range a remove message reports. */
    public static long removeEnd(MemorySegment messages, int index) {
        return messages.get(JAVA_LONG, (long) index * MESSAGE_SIZE + 16);
    }
}
