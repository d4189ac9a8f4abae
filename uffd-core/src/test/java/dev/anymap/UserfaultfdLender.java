package dev.anymap;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.anymap.linux.Libc;
import dev.anymap.linux.UnixSockets;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.server.JavaCommand;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Another process that lends userfaultfds of its own memory, for a peer to attach as if they were
 * its own. For each one asked of it, the lender maps anonymous memory, registers it with a new
 * userfaultfd set up as an anymap client sets up its own, sends that descriptor and the memory's
 * address, closes its own copy, and reads the memory's first byte on a thread of its own. The
 * read's fault reaches whoever holds the userfaultfd then; it ends when the fault is served, or
 * when the last copy of the userfaultfd is closed and the kernel maps a zero page. It reads
 * through memcpy, in native code, so that a fault left waiting holds no safepoint of the lender.
 *
 * <p>As a program: {@code UserfaultfdLender SOCKET LENGTH}, lending until SOCKET closes.
 */
final class UserfaultfdLender implements AutoCloseable {
    private final Path directory;
    private final int listener;
    private final Process process;
    private final int connection;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment packet = arena.allocate(8);

    /** A userfaultfd of the lender's, now also this process's to close, and the address of the memory it is registered on. */
    record Lent(int userfaultfd, long address) {}

    private UserfaultfdLender(long length) throws IOException {
        directory = Files.createTempDirectory("anymap-lender-");
        Path socket = directory.resolve("lending.sock");
        listener = UnixSockets.listen(socket, 1);
        process = new ProcessBuilder(JavaCommand.of(UserfaultfdLender.class, List.of("-Xmx64m"), List.of(socket.toString(),
                Long.toString(length)))).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        connection = UnixSockets.accept(listener);
    }

    /** Starts a lender of regions of {@code length} bytes. */
    static UserfaultfdLender start(long length) throws IOException {
        return new UserfaultfdLender(length);
    }

    long pid() {
        return process.pid();
    }

    synchronized Lent lend() throws IOException {
        UnixSockets.send(connection, packet);
        UnixSockets.Received received = UnixSockets.receive(connection, packet);
        if (received.fd() < 0) {
            throw new IOException("the lender sent no userfaultfd");
        }
        return new Lent(received.fd(), packet.get(JAVA_LONG, 0));
    }

    @Override
    public void close() throws IOException {
        Libc.close(connection);
        Libc.close(listener);
        try {
            process.destroyForcibly().waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        arena.close();
        Files.deleteIfExists(directory.resolve("lending.sock"));
        Files.deleteIfExists(directory);
    }

    public static void main(String[] args) throws Exception {
        long length = Long.parseLong(args[1]);
        int socket = UnixSockets.connect(Path.of(args[0]));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(8);
            while (UnixSockets.receive(socket, packet).length() > 0) {
                RegisteredMemory lent = RegisteredMemory.create(length, Userfaultfd.FEATURE_THREAD_ID);
                long address = lent.address();
                packet.set(JAVA_LONG, 0, address);
                UnixSockets.send(socket, packet, lent.userfaultfd());
                Libc.close(lent.userfaultfd());
                Thread.ofPlatform().daemon().start(() -> {
                    try (Arena own = Arena.ofConfined()) {
                        Libc.memcpy(own.allocate(1), address, 1);
                    }
                    Libc.munmap(address, length);
                });
            }
        }
    }
}
