package dev.anymap.linux;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/** epoll(7): one thread that waits on many descriptors. */
public final class Epoll {
    public static final int EPOLLIN = 0x1;
    public static final int EPOLLOUT = 0x4;
    public static final int EPOLLERR = 0x8;
    public static final int EPOLLHUP = 0x10;
    public static final int EPOLLRDHUP = 0x2000;
    /** Edge-triggered: an event when the state changes, never re-armed. */
    public static final int EPOLLET = 1 << 31;
    private static final int EPOLL_CLOEXEC = 0x80000;
    private static final int EPOLL_CTL_ADD = 1;
    private static final int EPOLL_CTL_DEL = 2;
    // struct epoll_event is packed on x86-64 (events, then the 64-bit data at 4), and naturally aligned elsewhere.
    private static final boolean PACKED = "amd64".equals(System.getProperty("os.arch")) || "x86_64".equals(System.getProperty("os.arch"));
    /** The size of one {@code struct epoll_event}. */
    public static final long EVENT_SIZE = PACKED ? 12 : 16;
    private static final long DATA_OFFSET = PACKED ? 4 : 8;

    private static final MethodHandle CREATE = Libc.downcall("epoll_create1", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle CTL = Libc.downcall("epoll_ctl", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle WAIT = Libc.downcall("epoll_wait", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));

    private Epoll() {}

    /** A new epoll instance, closed on exec. */
    public static int create() throws NativeException {
        MemorySegment state = Libc.callState();
        try {
            return (int) Libc.check(Libc.orErrno((int) CREATE.invokeExact(state, EPOLL_CLOEXEC), state), "epoll_create1");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Libc.unexpected(t);
        }
    }

    /** Adds {@code fd} for {@code events}, its events to carry {@code data}. */
    public static void add(int epoll, int fd, int events, long data) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment event = arena.allocate(EVENT_SIZE, 8);
            event.set(JAVA_INT, 0, events);
            event.set(JAVA_LONG.withByteAlignment(4), DATA_OFFSET, data);
            MemorySegment state = Libc.callState();
            Libc.check(Libc.orErrno((int) CTL.invokeExact(state, epoll, EPOLL_CTL_ADD, fd, event), state), "epoll_ctl(ADD)");
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw Libc.unexpected(t);
        }
    }

    /** Removes {@code fd}; 0 or {@code -errno}. */
    public static int remove(int epoll, int fd) {
        MemorySegment state = Libc.callState();
        try {
            return (int) Libc.orErrno((int) CTL.invokeExact(state, epoll, EPOLL_CTL_DEL, fd, MemorySegment.NULL), state);
        } catch (Throwable t) {
            throw Libc.unexpected(t);
        }
    }

    /** Waits for events into {@code events} (room for {@code max}); their count, or {@code -errno}. */
    public static int await(int epoll, MemorySegment events, int max, int timeoutMillis) {
        MemorySegment state = Libc.callState();
        try {
            return (int) Libc.orErrno((int) WAIT.invokeExact(state, epoll, events, max, timeoutMillis), state);
        } catch (Throwable t) {
            throw Libc.unexpected(t);
        }
    }

    /** The events of the {@code index}th event. */
    public static int events(MemorySegment events, int index) {
        return events.get(JAVA_INT.withByteAlignment(4), index * EVENT_SIZE);
    }

    /** The data of the {@code index}th event. */
    public static long data(MemorySegment events, int index) {
        return events.get(JAVA_LONG.withByteAlignment(4), index * EVENT_SIZE + DATA_OFFSET);
    }
}
