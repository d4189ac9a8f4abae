package dev.anymap.protocol;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One end of a client-server connection: whole messages, each with up to two file descriptors.
 * Sends are serialised; receiving is for one thread at a time.
 *
 * <p>A connection {@linkplain #Connection(int, ConnectionPoller) watched by a poller} never blocks
 * in a native call: it tries its socket and waits on the poller, so that its threads may be virtual
 * ones, which a blocking downcall would pin to their carrier. It has no receive buffer of its own
 * either: an idle one costs a descriptor and a parked thread.
 */
public final class Connection implements AutoCloseable {
    private final int fd;
    // Freed by the GC with the connection: a receiver thread may still be returning from receive() after close().
    private final Arena arena = Arena.ofAuto();
    private final MemorySegment receiveBuffer;
    private final Object sendLock = new Object();
    private final ConnectionPoller poller;
    private final ConnectionPoller.Readiness readiness;
    private volatile boolean closed;
    private final java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();
    /** Receive buffers of watched connections, lent for one receive each: as many as receive at once. */
    private static final java.util.concurrent.ConcurrentLinkedQueue<MemorySegment> BUFFERS = new java.util.concurrent.ConcurrentLinkedQueue<>();

    public Connection(int fd) {
        this.fd = fd;
        this.receiveBuffer = arena.allocate(MessageCodec.MAX_PACKET);
        this.poller = null;
        this.readiness = null;
    }

    /** A connection that waits on {@code poller}, never in a native call. */
    public Connection(int fd, ConnectionPoller poller) throws NativeException {
        this.fd = fd;
        this.receiveBuffer = null;
        this.poller = poller;
        this.readiness = poller.watch(fd);
    }

    /** A message received, and the descriptors that came with it. */
    public record Incoming(Message message, int[] fds) {
        /** The first descriptor that came with the message, or -1. */
        public int fd() {
            return fds.length > 0 ? fds[0] : -1;
        }

        /** The second descriptor that came with the message, or -1. */
        public int secondFd() {
            return fds.length > 1 ? fds[1] : -1;
        }

        /** Closes every descriptor that came with the message: it was refused. */
        public void closeDescriptors() {
            for (int fd : fds) {
                Libc.close(fd);
            }
        }
    }

    public int fd() {
        return fd;
    }

    public void send(Message message, int... passedFds) throws IOException {
        byte[] packet = MessageCodec.encode(message);
        synchronized (sendLock) {
            if (released.get()) {
                // Its number may be another file's by now: a message sent there, with descriptors, would reach someone else.
                throw new NativeException("sendmsg (connection closed)", dev.anymap.linux.Errno.EPIPE);
            }
            try (Arena call = Arena.ofConfined()) {
                MemorySegment native_ = call.allocate(packet.length);
                MemorySegment.copy(packet, 0, native_, ValueLayout.JAVA_BYTE, 0, packet.length);
                if (poller == null) {
                    try {
                        UnixSockets.send(fd, native_, passedFds);
                    } catch (NativeException e) {
                        throw describeLost(e);
                    }
                    return;
                }
                while (true) {
                    long seen = readiness.writable();
                    if (UnixSockets.send(fd, false, native_, passedFds)) {
                        return;
                    }
                    if (readiness.gone()) {
                        throw new NativeException("sendmsg (connection closed)", dev.anymap.linux.Errno.EPIPE);
                    }
                    readiness.await(true, seen, Long.MAX_VALUE);
                }
            }
        }
    }

    /**
     * The next message; blocks.
     *
     * @return null when the peer has closed the connection
     * @throws ProtocolException for a packet that is not a valid message (any descriptor with it is closed)
     */
    public Incoming receive() throws IOException {
        if (poller == null) {
            return receiveInto(receiveBuffer, true);
        }
        return receive(Long.MAX_VALUE);
    }

    /**
     * The next message of a watched connection, waiting until {@code deadline} (System.nanoTime()).
     *
     * @return null when the peer has closed the connection, or at the deadline
     */
    public Incoming receive(long deadline) throws IOException {
        MemorySegment buffer = BUFFERS.poll();
        if (buffer == null) {
            buffer = Arena.ofAuto().allocate(MessageCodec.MAX_PACKET);
        }
        try {
            while (true) {
                long seen = readiness.readable();
                Incoming incoming = receiveInto(buffer, false);
                if (incoming != WOULD_BLOCK) {
                    return incoming;
                }
                if (closed || readiness.gone()) {
                    return null;
                }
                // Not holding the buffer while parked: an idle connection holds none.
                BUFFERS.offer(buffer);
                buffer = null;
                if (!readiness.await(false, seen, deadline)) {
                    return null;
                }
                buffer = BUFFERS.poll();
                if (buffer == null) {
                    buffer = Arena.ofAuto().allocate(MessageCodec.MAX_PACKET);
                }
            }
        } finally {
            if (buffer != null) {
                BUFFERS.offer(buffer);
            }
        }
    }

    /**
     * A send that finds its descriptor no longer a socket: something in this process closed it, and
     * the number may be another file's by now, which {@link #close()} then leaves alone. Says what it
     * is, to find who.
     */
    private NativeException describeLost(NativeException e) {
        if (e.errno() != dev.anymap.linux.Errno.ENOTSOCK && e.errno() != dev.anymap.linux.Errno.EBADF) {
            return e;
        }
        released.set(true);
        return new NativeException("sendmsg on the connection's descriptor " + fd + ", closed under it (it is now "
                + dev.anymap.linux.Userfaultfd.describe(fd) + ")", e.errno());
    }

    /** What {@link #receiveInto} returns when nothing is there and it may not wait. */
    private static final Incoming WOULD_BLOCK = new Incoming(null, new int[0]);

    private Incoming receiveInto(MemorySegment buffer, boolean wait) throws IOException {
        UnixSockets.Received received;
        try {
            received = UnixSockets.receive(fd, buffer, wait);
        } catch (NativeException e) {
            if (closed) {
                return null;
            }
            throw e;
        }
        if (received == null) {
            return WOULD_BLOCK;
        }
        if (received.length() == 0) {
            new Incoming(null, received.fds()).closeDescriptors();
            return null;
        }
        try {
            return new Incoming(MessageCodec.decode(buffer.asSlice(0, received.length()).asByteBuffer()), received.fds());
        } catch (ProtocolException e) {
            new Incoming(null, received.fds()).closeDescriptors();
            throw e;
        }
    }

    /**
     * Wakes a thread blocked in {@link #receive()}, which then returns null, as does every later
     * receive; the descriptor stays open until {@link #close()}. Idempotent.
     */
    public void shutdown() {
        closed = true;
        UnixSockets.shutdown(fd);
    }

    /**
     * Shuts down and closes the descriptor, once however often it is called: a second close(2) of
     * the number could close whatever was given that number meanwhile. A send after it fails
     * without touching the number, and a send under way ends first (the shutdown wakes it). Call it
     * only when no other thread may still receive: a thread that receives after close could read
     * from a new descriptor with the same number.
     */
    @Override
    public void close() {
        if (released.getAndSet(true)) {
            return;
        }
        shutdown();
        if (poller != null) {
            poller.forget(fd, readiness);
        }
        synchronized (sendLock) {
            Libc.close(fd);
        }
    }
}
