package dev.anymap.protocol;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One end of a client-server connection: whole messages, each optionally with one file descriptor.
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

    /** A message received, and the descriptor that came with it, or -1. */
    public record Incoming(Message message, int fd) {}

    public int fd() {
        return fd;
    }

    public void send(Message message) throws IOException {
        send(message, -1);
    }

    public void send(Message message, int passedFd) throws IOException {
        byte[] packet = MessageCodec.encode(message);
        synchronized (sendLock) {
            try (Arena call = Arena.ofConfined()) {
                MemorySegment native_ = call.allocate(packet.length);
                MemorySegment.copy(packet, 0, native_, ValueLayout.JAVA_BYTE, 0, packet.length);
                UnixSockets.send(fd, native_, passedFd);
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
            if (received.fd() >= 0) {
                Libc.close(received.fd());
            }
            return null;
        }
        try {
            return new Incoming(MessageCodec.decode(receiveBuffer.asSlice(0, received.length()).asByteBuffer()), received.fd());
        } catch (ProtocolException e) {
            if (received.fd() >= 0) {
                Libc.close(received.fd());
            }
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
