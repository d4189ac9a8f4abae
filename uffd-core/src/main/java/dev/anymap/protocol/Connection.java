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
 */
public final class Connection implements AutoCloseable {
    private final int fd;
    // Freed by the GC with the connection: a receiver thread may still be returning from receive() after close().
    private final Arena arena = Arena.ofAuto();
    private final MemorySegment receiveBuffer = arena.allocate(MessageCodec.MAX_PACKET);
    private final Object sendLock = new Object();
    private volatile boolean closed;

    public Connection(int fd) {
        this.fd = fd;
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
            try (Arena call = Arena.ofConfined()) {
                MemorySegment native_ = call.allocate(packet.length);
                MemorySegment.copy(packet, 0, native_, ValueLayout.JAVA_BYTE, 0, packet.length);
                UnixSockets.send(fd, native_, passedFds);
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
        UnixSockets.Received received;
        try {
            received = UnixSockets.receive(fd, receiveBuffer);
        } catch (NativeException e) {
            if (closed) {
                return null;
            }
            throw e;
        }
        if (received.length() == 0) {
            new Incoming(null, received.fds()).closeDescriptors();
            return null;
        }
        try {
            return new Incoming(MessageCodec.decode(receiveBuffer.asSlice(0, received.length()).asByteBuffer()), received.fds());
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
     * Shuts down and closes the descriptor. Call it only when no other thread may still receive:
     * a thread that receives after close could read from a new descriptor with the same number.
     */
    @Override
    public void close() {
        shutdown();
        Libc.close(fd);
    }
}
