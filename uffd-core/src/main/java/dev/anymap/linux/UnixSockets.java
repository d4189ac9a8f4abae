package dev.anymap.linux;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Unix-domain SOCK_SEQPACKET sockets with file-descriptor passing (SCM_RIGHTS) and peer
 * credentials (SO_PEERCRED): what the JDK's own Unix-domain channels do not offer. Sequenced
 * packets keep message boundaries, so one request is one packet. Firecracker speaks over a stream
 * socket ({@link #listenStream}, {@link #connectStream}), where {@link #receive} returns what has
 * arrived so far, up to the next descriptors.
 */
public final class UnixSockets {
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_SEQPACKET = 5;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int SO_PEERCRED = 17;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int MSG_CTRUNC = 0x8;
    private static final int MSG_TRUNC = 0x20;
    public static final int SHUT_RDWR = 2;

    private static final int SOCKADDR_UN_SIZE = 110;
    private static final int SUN_PATH_MAX = 107;
    // struct msghdr on LP64: name, namelen(+pad), iov, iovlen, control, controllen, flags(+pad)
    private static final int MSGHDR_SIZE = 56;
    private static final int IOVEC_SIZE = 16;
    // CMSG_SPACE(sizeof(int)) and CMSG_LEN(sizeof(int)) on LP64
    /** The most descriptors one packet carries. */
    public static final int MAX_FDS = 2;
    private static final int CMSG_HEADER = 16;
    private static final int CMSG_SPACE_FDS = 24;

    private static final MethodHandle SOCKET = Libc.downcall("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = Libc.downcall("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN = Libc.downcall("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 = Libc.downcall("accept4",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT = Libc.downcall("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SENDMSG = Libc.downcall("sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECVMSG = Libc.downcall("recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETSOCKOPT = Libc.downcall("getsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SHUTDOWN = Libc.downcall("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));

    private UnixSockets() {}

    /** The process on the other end of a connected socket. */
    public record PeerCredentials(int pid, int uid, int gid) {}

    /** A packet received: its length in the buffer, and the descriptor it carried, or -1. */
    public record Received(int length, int[] fds) {
        /** The first descriptor received, or -1. */
        public int fd() {
            return fds.length > 0 ? fds[0] : -1;
        }
    }

    /** A listening socket bound at {@code path}. */
    public static int listen(Path path, int backlog) throws NativeException {
        return listen(path, backlog, SOCK_SEQPACKET);
    }

    /** A listening SOCK_STREAM socket bound at {@code path}: Firecracker's page-fault handler socket. */
    public static int listenStream(Path path, int backlog) throws NativeException {
        return listen(path, backlog, SOCK_STREAM);
    }

    private static int listen(Path path, int backlog, int type) throws NativeException {
        int fd = socket(type);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = socketAddress(arena, path);
            Libc.check(call(state -> (int) BIND.invokeExact(state, fd, address, SOCKADDR_UN_SIZE)), "bind(" + path + ")");
            Libc.check(call(state -> (int) LISTEN.invokeExact(state, fd, backlog)), "listen(" + path + ")");
            return fd;
        } catch (NativeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    /** A socket connected to the listener at {@code path}. */
    public static int connect(Path path) throws NativeException {
        return connect(path, SOCK_SEQPACKET);
    }

    /** A SOCK_STREAM socket connected to the listener at {@code path}, as Firecracker connects to its handler. */
    public static int connectStream(Path path) throws NativeException {
        return connect(path, SOCK_STREAM);
    }

    private static int connect(Path path, int type) throws NativeException {
        int fd = socket(type);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = socketAddress(arena, path);
            Libc.check(call(state -> (int) CONNECT.invokeExact(state, fd, address, SOCKADDR_UN_SIZE)), "connect(" + path + ")");
            return fd;
        } catch (NativeException e) {
            Libc.close(fd);
            throw e;
        }
    }

    /** The next connection on a listening socket; blocks. */
    public static int accept(int listener) throws NativeException {
        return (int) Libc.check(call(state -> (int) ACCEPT4.invokeExact(state, listener, MemorySegment.NULL, MemorySegment.NULL,
                SOCK_CLOEXEC)), "accept4");
    }

    public static PeerCredentials peerCredentials(int fd) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment credentials = arena.allocate(12, 4);
            MemorySegment length = arena.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, 12);
            Libc.check(call(state -> (int) GETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_PEERCRED, credentials, length)),
                    "getsockopt(SO_PEERCRED)");
            return new PeerCredentials(credentials.get(JAVA_INT, 0), credentials.get(JAVA_INT, 4), credentials.get(JAVA_INT, 8));
        }
    }

    /** Sends one packet, with the descriptors of {@code passedFds} that are not negative attached (at most {@link #MAX_FDS}). */
    public static void send(int fd, MemorySegment packet, int... passedFds) throws NativeException {
        send(fd, true, packet, passedFds);
    }

    /**
     * Sends one packet as {@link #send(int, MemorySegment, int...)} does, or with {@code wait} false
     * returns false rather than wait for room in the socket's buffer.
     */
    public static boolean send(int fd, boolean wait, MemorySegment packet, int... passedFds) throws NativeException {
        int[] passed = java.util.Arrays.stream(passedFds).filter(passedFd -> passedFd >= 0).toArray();
        if (passed.length > MAX_FDS) {
            throw new IllegalArgumentException(passed.length + " descriptors in one packet; at most " + MAX_FDS);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment message = messageHeader(arena, packet);
            if (passed.length > 0) {
                MemorySegment control = arena.allocate(CMSG_SPACE_FDS, 8);
                control.set(JAVA_LONG, 0, CMSG_HEADER + 4L * passed.length);
                control.set(JAVA_INT, 8, SOL_SOCKET);
                control.set(JAVA_INT, 12, SCM_RIGHTS);
                for (int i = 0; i < passed.length; i++) {
                    control.set(JAVA_INT, CMSG_HEADER + 4L * i, passed[i]);
                }
                message.set(ADDRESS, 32, control);
                message.set(JAVA_LONG, 40, CMSG_SPACE_FDS);
            }
            long sent;
            do {
                sent = call(state -> (long) SENDMSG.invokeExact(state, fd, message, MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT)));
            } while (sent == -Errno.EINTR);
            if (sent == -Errno.EAGAIN && !wait) {
                return false;
            }
            if (Libc.check(sent, "sendmsg") != packet.byteSize()) {
                throw new NativeException("sendmsg (short packet)", Errno.EINVAL);
            }
            return true;
        }
    }

    /**
     * Receives one packet into {@code buffer}; blocks. A length of 0 means the peer closed the
     * connection. A packet longer than the buffer, or with a truncated descriptor, is refused.
     */
    public static Received receive(int fd, MemorySegment buffer) throws NativeException {
        return receive(fd, buffer, true);
    }

    /** Receives one packet as {@link #receive(int, MemorySegment)} does, or with {@code wait} false returns null if none is there. */
    public static Received receive(int fd, MemorySegment buffer, boolean wait) throws NativeException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment message = messageHeader(arena, buffer);
            MemorySegment control = arena.allocate(CMSG_SPACE_FDS, 8);
            message.set(ADDRESS, 32, control);
            message.set(JAVA_LONG, 40, CMSG_SPACE_FDS);
            long received;
            do {
                received = call(state -> (long) RECVMSG.invokeExact(state, fd, message, MSG_CMSG_CLOEXEC | (wait ? 0 : MSG_DONTWAIT)));
            } while (received == -Errno.EINTR);
            if (received == -Errno.EAGAIN && !wait) {
                return null;
            }
            Libc.check(received, "recvmsg");
            int[] passed = new int[0];
            long controlLength = message.get(JAVA_LONG, 40);
            if (controlLength > CMSG_HEADER && control.get(JAVA_INT, 8) == SOL_SOCKET && control.get(JAVA_INT, 12) == SCM_RIGHTS) {
                long count = (control.get(JAVA_LONG, 0) - CMSG_HEADER) / 4;
                passed = new int[(int) Math.min(count, MAX_FDS)];
                for (int i = 0; i < passed.length; i++) {
                    passed[i] = control.get(JAVA_INT, CMSG_HEADER + 4L * i);
                }
            }
            if ((message.get(JAVA_INT, 48) & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
                for (int passedFd : passed) {
                    Libc.close(passedFd);
                }
                throw new NativeException("recvmsg (packet or descriptors truncated)", Errno.EINVAL);
            }
            return new Received((int) received, passed);
        }
    }

    /** shutdown(2): wakes a thread blocked in accept or receive on {@code fd}. */
    public static void shutdown(int fd) {
        call(state -> (int) SHUTDOWN.invokeExact(state, fd, SHUT_RDWR));
    }

    private static int socket(int type) throws NativeException {
        return (int) Libc.check(call(state -> (int) SOCKET.invokeExact(state, AF_UNIX, type | SOCK_CLOEXEC, 0)),
                type == SOCK_STREAM ? "socket(AF_UNIX, SOCK_STREAM)" : "socket(AF_UNIX, SOCK_SEQPACKET)");
    }

    /** A {@code struct msghdr} with one {@code iovec} over {@code data}. */
    private static MemorySegment messageHeader(Arena arena, MemorySegment data) {
        MemorySegment message = arena.allocate(MSGHDR_SIZE, 8);
        MemorySegment iov = arena.allocate(IOVEC_SIZE, 8);
        iov.set(ADDRESS, 0, data);
        iov.set(JAVA_LONG, 8, data.byteSize());
        message.set(ADDRESS, 16, iov);
        message.set(JAVA_LONG, 24, 1L);
        return message;
    }

    @FunctionalInterface
    private interface Downcall {
        long invoke(MemorySegment callState) throws Throwable;
    }

    /** Runs a downcall that captures errno: its result, or {@code -errno}. */
    private static long call(Downcall downcall) {
        MemorySegment state = Libc.callState();
        try {
            return Libc.orErrno(downcall.invoke(state), state);
        } catch (Throwable t) {
            throw Libc.unexpected(t);
        }
    }

    private static MemorySegment socketAddress(Arena arena, Path path) throws NativeException {
        byte[] name = path.toString().getBytes(StandardCharsets.UTF_8);
        if (name.length > SUN_PATH_MAX) {
            throw new NativeException("socket path longer than " + SUN_PATH_MAX + " bytes: " + path, Errno.EINVAL);
        }
        MemorySegment address = arena.allocate(SOCKADDR_UN_SIZE, 2);
        address.set(JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(name, 0, address, JAVA_BYTE, 2, name.length);
        return address;
    }
}
