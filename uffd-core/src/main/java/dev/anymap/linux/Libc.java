package dev.anymap.linux;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * The libc calls anymap makes, each bound on its first use as the static final method handle of a
 * holder class, and called with {@code invokeExact}. Every call captures errno; the raw methods return the call's result, or
 * {@code -errno} on failure, so that the fault path can act on expected errors (EEXIST, EAGAIN)
 * without building exceptions; {@link #check} turns a result into a {@link NativeException}.
 */
public final class Libc {
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_APPEND = 0x400;
    public static final int O_NONBLOCK = 0x800;
    public static final int O_CLOEXEC = 0x80000;

    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final int MS_SYNC = 4;
    private static final int F_DUPFD_CLOEXEC = 1030;
    public static final int MAP_PRIVATE = 2;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_FIXED = 0x10;
    public static final int MAP_NORESERVE = 0x4000;
    public static final int MADV_DONTNEED = 4;
    public static final int MADV_WILLNEED = 3;
    /** Linux 5.14: fault a range in as reads would, from the calling thread, in the kernel. */
    public static final int MADV_POPULATE_READ = 22;
    public static final int MFD_CLOEXEC = 1;
    public static final int FALLOC_FL_KEEP_SIZE = 1;
    public static final int FALLOC_FL_PUNCH_HOLE = 2;
    public static final int SEEK_END = 2;

    public static final short POLLIN = 0x1;
    public static final short POLLERR = 0x8;
    public static final short POLLHUP = 0x10;
    public static final short POLLNVAL = 0x20;

    public static final int EFD_NONBLOCK = 0x800;
    public static final int EFD_CLOEXEC = 0x80000;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE_LAYOUT.varHandle(
            java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    private static final ThreadLocal<MemorySegment> CALL_STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CALL_STATE_LAYOUT));

    // Each call is linked on its first use, in a holder class of its own: linking costs a JVM a few
    // milliseconds a signature, and a process that reads one file needs five of these calls, not all.
    private static final class SyscallInt {
        static final MethodHandle HANDLE = variadic("syscall", FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_INT), 1);
    }

    private static final class IoctlPointer {
        static final MethodHandle HANDLE = variadic("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), 2);
    }

    private static final class IoctlInt {
        static final MethodHandle HANDLE = variadic("ioctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT), 2);
    }

    private static final class Open {
        static final MethodHandle HANDLE = variadic("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), 2);
    }

    private static final class Close {
        static final MethodHandle HANDLE = downcall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    private static final class Read {
        static final MethodHandle HANDLE = downcall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    private static final class Write {
        static final MethodHandle HANDLE = downcall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    }

    private static final class Poll {
        static final MethodHandle HANDLE = downcall("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }

    private static final class Eventfd {
        static final MethodHandle HANDLE = downcall("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }

    private static final class Mmap {
        static final MethodHandle HANDLE = downcall("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    }

    private static final class Munmap {
        static final MethodHandle HANDLE = downcall("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    }

    private static final class Madvise {
        static final MethodHandle HANDLE = downcall("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }

    private static final class Memcpy {
        static final MethodHandle HANDLE = downcall("memcpy", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    }

    private static final class MemfdCreate {
        static final MethodHandle HANDLE = downcall("memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    }

    private static final class Lseek {
        static final MethodHandle HANDLE = downcall("lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    }

    private static final class Statx {
        static final MethodHandle HANDLE = downcall("statx", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
    }

    private static final class Ftruncate {
        static final MethodHandle HANDLE = downcall("ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    }

    private static final class Fallocate {
        static final MethodHandle HANDLE = downcall("fallocate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    }

    private static final class Mincore {
        static final MethodHandle HANDLE = downcall("mincore", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS));
    }

    private static final class Fchmod {
        static final MethodHandle HANDLE = downcall("fchmod", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }

    private static final class Getuid {
        static final MethodHandle HANDLE = downcall("getuid", FunctionDescriptor.of(JAVA_INT));
    }

    private static final class Umask {
        static final MethodHandle HANDLE = downcall("umask", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }

    private static final class Setsid {
        static final MethodHandle HANDLE = downcall("setsid", FunctionDescriptor.of(JAVA_INT));
    }

    private static final class Msync {
        static final MethodHandle HANDLE = downcall("msync", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    }

    private static final class Dup2 {
        static final MethodHandle HANDLE = downcall("dup2", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    }

    private static final class FcntlInt {
        static final MethodHandle HANDLE = variadic("fcntl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), 2);
    }

    private Libc() {}

    static MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        Linker.Option[] all = java.util.Arrays.copyOf(options, options.length + 1);
        all[options.length] = CAPTURE_ERRNO;
        return LINKER.downcallHandle(symbol, descriptor, all);
    }

    private static MethodHandle variadic(String name, FunctionDescriptor descriptor, int firstVariadic) {
        return downcall(name, descriptor, Linker.Option.firstVariadicArg(firstVariadic));
    }

    /** The calling thread's errno-capture buffer: one per thread, so no call allocates. */
    static MemorySegment callState() {
        return CALL_STATE.get();
    }

    static int errno(MemorySegment callState) {
        return (int) ERRNO.get(callState, 0L);
    }

    /** {@code result} if it is not negative; else a {@link NativeException} for {@code -result} as errno. */
    public static long check(long result, String call) throws NativeException {
        if (result < 0) {
            throw new NativeException(call, (int) -result);
        }
        return result;
    }

    static long orErrno(long result, MemorySegment callState) {
        return result < 0 ? -errno(callState) : result;
    }

    /** What a downcall threw, which only a broken binding can: rethrown unchecked. */
    static RuntimeException unexpected(Throwable t) {
        if (t instanceof Error e) {
            throw e;
        }
        return t instanceof RuntimeException r ? r : new IllegalStateException(t);
    }

    public static long syscall(long number, int argument) {
        MemorySegment state = callState();
        try {
            return orErrno((long) SyscallInt.HANDLE.invokeExact(state, number, argument), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int ioctl(int fd, long request, MemorySegment argument) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) IoctlPointer.HANDLE.invokeExact(state, fd, request, argument), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int ioctl(int fd, long request, int argument) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) IoctlInt.HANDLE.invokeExact(state, fd, request, argument), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int open(String path, int flags) {
        MemorySegment state = callState();
        try (Arena arena = Arena.ofConfined()) {
            return (int) orErrno((int) Open.HANDLE.invokeExact(state, arena.allocateFrom(path), flags, 0), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int close(int fd) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Close.HANDLE.invokeExact(state, fd), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static long read(int fd, MemorySegment buffer, long length) {
        MemorySegment state = callState();
        try {
            return orErrno((long) Read.HANDLE.invokeExact(state, fd, buffer, length), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static long write(int fd, MemorySegment buffer, long length) {
        MemorySegment state = callState();
        try {
            return orErrno((long) Write.HANDLE.invokeExact(state, fd, buffer, length), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** poll(2) over {@code count} {@code struct pollfd} entries (see {@link #POLLFD_SIZE}). */
    public static int poll(MemorySegment pollfds, long count, int timeoutMillis) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Poll.HANDLE.invokeExact(state, pollfds, count, timeoutMillis), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** The size of {@code struct pollfd}: int fd, short events, short revents. */
    public static final long POLLFD_SIZE = 8;

    public static void setPollFd(MemorySegment pollfds, int index, int fd, short events) {
        pollfds.set(JAVA_INT, index * POLLFD_SIZE, fd);
        pollfds.set(JAVA_SHORT, index * POLLFD_SIZE + 4, events);
        pollfds.set(JAVA_SHORT, index * POLLFD_SIZE + 6, (short) 0);
    }

    public static short pollRevents(MemorySegment pollfds, int index) {
        return pollfds.get(JAVA_SHORT, index * POLLFD_SIZE + 6);
    }

    public static int eventfd(int initial, int flags) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Eventfd.HANDLE.invokeExact(state, initial, flags), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** mmap(2); the address, or {@code -errno}. */
    public static long mmap(long address, long length, int protection, int flags, int fd, long offset) {
        MemorySegment state = callState();
        try {
            MemorySegment mapped = (MemorySegment) Mmap.HANDLE.invokeExact(state, MemorySegment.ofAddress(address), length,
                    protection, flags, fd, offset);
            return mapped.address() == -1L ? -errno(state) : mapped.address();
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int munmap(long address, long length) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Munmap.HANDLE.invokeExact(state, MemorySegment.ofAddress(address), length), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int madvise(long address, long length, int advice) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Madvise.HANDLE.invokeExact(state, MemorySegment.ofAddress(address), length, advice), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * memcpy(3) from raw memory into {@code destination} (a native segment, kept alive for the call):
     * a page fault taken by the copy is taken in native code, where it holds no safepoint; a SIGBUS
     * there would end the JVM, so {@code source} must be memory that cannot raise one.
     */
    public static void memcpy(MemorySegment destination, long source, long length) {
        MemorySegment state = callState();
        try {
            MemorySegment ignored = (MemorySegment) Memcpy.HANDLE.invokeExact(state, destination, MemorySegment.ofAddress(source), length);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int memfdCreate(String name, int flags) {
        MemorySegment state = callState();
        try (Arena arena = Arena.ofConfined()) {
            return (int) orErrno((int) MemfdCreate.HANDLE.invokeExact(state, arena.allocateFrom(name), flags), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** The new offset, or -errno; with {@link #SEEK_END} and 0, the file's size now. */
    public static long lseek(int fd, long offset, int whence) {
        MemorySegment state = callState();
        try {
            return orErrno((long) Lseek.HANDLE.invokeExact(state, fd, offset, whence), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** What fstat tells of an open file: its type and permission bits, its size, and its last modification. */
    public record FileStatus(int mode, long size, long modifiedSeconds, int modifiedNanos) {
        private static final int S_IFMT = 0170000;
        private static final int S_IFREG = 0100000;

        public boolean isRegularFile() {
            return (mode & S_IFMT) == S_IFREG;
        }

        public java.time.Instant modified() {
            return java.time.Instant.ofEpochSecond(modifiedSeconds, modifiedNanos);
        }
    }

    // struct statx is the same on every architecture, unlike struct stat.
    private static final int AT_EMPTY_PATH = 0x1000;
    private static final int STATX_BASIC_STATS = 0x7ff;
    private static final long STATX_SIZE = 256;
    private static final long STX_MODE = 28;
    private static final long STX_SIZE = 40;
    private static final long STX_MTIME = 112;

    /** statx(2) of the open file {@code fd}. */
    public static FileStatus fstat(int fd) throws NativeException {
        MemorySegment state = callState();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment status = arena.allocate(STATX_SIZE, 8);
            int result;
            try {
                result = (int) orErrno((int) Statx.HANDLE.invokeExact(state, fd, arena.allocateFrom(""), AT_EMPTY_PATH,
                        STATX_BASIC_STATS, status), state);
            } catch (Throwable t) {
                throw unexpected(t);
            }
            check(result, "statx");
            return new FileStatus(Short.toUnsignedInt(status.get(JAVA_SHORT, STX_MODE)), status.get(JAVA_LONG, STX_SIZE),
                    status.get(JAVA_LONG, STX_MTIME), status.get(JAVA_INT, STX_MTIME + 8));
        }
    }

    public static int ftruncate(int fd, long length) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Ftruncate.HANDLE.invokeExact(state, fd, length), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** fallocate(2); 0 or {@code -errno}. With FALLOC_FL_PUNCH_HOLE on a memfd, frees the range's pages and zaps every mapping of them. */
    public static int fallocate(int fd, int mode, long offset, long length) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Fallocate.HANDLE.invokeExact(state, fd, mode, offset, length), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** mincore(2): one byte per page of the range into {@code residency}, bit 0 set where the page is resident; 0 or {@code -errno}. */
    public static int mincore(long address, long length, MemorySegment residency) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Mincore.HANDLE.invokeExact(state, MemorySegment.ofAddress(address), length, residency), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int fchmod(int fd, int mode) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Fchmod.HANDLE.invokeExact(state, fd, mode), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    public static int getuid() {
        MemorySegment state = callState();
        try {
            return (int) Getuid.HANDLE.invokeExact(state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** umask(2): sets this process's file mode creation mask, inherited by the processes it starts; returns the one before. */
    public static int umask(int mask) {
        MemorySegment state = callState();
        try {
            return (int) Umask.HANDLE.invokeExact(state, mask);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** setsid(2): a session and process group of its own, so that signals sent to the caller's group (a Ctrl-C) miss it. */
    public static int setsid() {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Setsid.HANDLE.invokeExact(state), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** msync(2); 0 or {@code -errno}. */
    public static int msync(long address, long length, int flags) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Msync.HANDLE.invokeExact(state, MemorySegment.ofAddress(address), length, flags), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** A duplicate of {@code fd}, closed on exec; the descriptor or {@code -errno}. */
    public static int dup(int fd) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) FcntlInt.HANDLE.invokeExact(state, fd, F_DUPFD_CLOEXEC, 0), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** dup2(2): {@code fd} now also at {@code target}, which is closed first if open; {@code target} or {@code -errno}. */
    public static int dup2(int fd, int target) {
        MemorySegment state = callState();
        try {
            return (int) orErrno((int) Dup2.HANDLE.invokeExact(state, fd, target), state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }
}
