package dev.anymap.firecracker;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One Firecracker process's connection to the handler: its handshake as it arrives, then the VM it
 * is served as. Touched only by the handler's loop, but for the VM it becomes.
 */
final class VmConnection {
    enum State {
        /** Its handshake is arriving. */
        HANDSHAKE,
        /** Its handshake is read, and its memory is being handed to the page server. */
        STARTING,
        /** Its memory is served; the connection is watched for its end. */
        SERVED
    }

    /** The longest handshake taken: Firecracker's JSON is about 100 bytes per region. */
    static final int MAX_HANDSHAKE = 64 * 1024;

    final int fd;
    final long pid;
    final long deadlineNanos;
    State state = State.HANDSHAKE;
    /** Descriptors that came with the handshake: Firecracker sends exactly one, its userfaultfd. */
    final List<Integer> fds = new ArrayList<>(1);
    private byte[] handshake = new byte[512];
    private int length;
    volatile FirecrackerHandler.Vm vm;
    int laterMessages;

    VmConnection(int fd, long pid, long deadlineNanos) {
        this.fd = fd;
        this.pid = pid;
        this.deadlineNanos = deadlineNanos;
    }

    /** Appends received bytes; false if the handshake would grow past {@link #MAX_HANDSHAKE}. */
    boolean append(java.lang.foreign.MemorySegment bytes) {
        if (length + bytes.byteSize() > MAX_HANDSHAKE) {
            return false;
        }
        if (length + bytes.byteSize() > handshake.length) {
            handshake = Arrays.copyOf(handshake, (int) Math.min(MAX_HANDSHAKE, Math.max(handshake.length * 2L, length + bytes.byteSize())));
        }
        java.lang.foreign.MemorySegment.copy(bytes, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, handshake, length, (int) bytes.byteSize());
        length += (int) bytes.byteSize();
        return true;
    }

    byte[] handshake() {
        return handshake;
    }

    int length() {
        return length;
    }
}
