package dev.anymap.firecracker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.anymap.GuestMemory;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The least a handler does to take a Firecracker handshake, for tests that call {@link
 * dev.anymap.Anymap#serve} themselves on memory of another process: accepts one connection, reads its
 * one message, and keeps the connection open as Firecracker expects.
 */
final class Handshake implements AutoCloseable {
    private final int connection;
    private final GuestMemory memory;

    private Handshake(int connection, GuestMemory memory) {
        this.connection = connection;
        this.memory = memory;
    }

    /** Accepts the next VM on {@code listener} and reads its handshake. */
    static Handshake accept(int listener) throws IOException {
        int connection = UnixSockets.accept(listener);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(64 * 1024);
            UnixSockets.Received received = UnixSockets.receive(connection, buffer);
            if (received.fd() < 0) {
                throw new IOException("the handshake came with no descriptor");
            }
            JsonNode regions = new ObjectMapper().readTree(new String(buffer.asSlice(0, received.length()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                    StandardCharsets.UTF_8));
            List<GuestMemory.Range> ranges = new ArrayList<>();
            for (JsonNode region : regions) {
                ranges.add(new GuestMemory.Range(region.get("base_host_virt_addr").asLong(), region.get("size").asLong(),
                        region.get("offset").asLong(), region.get("page_size").asLong()));
            }
            return new Handshake(connection, new GuestMemory(received.fd(), ranges));
        } catch (IOException | RuntimeException e) {
            Libc.close(connection);
            throw e;
        }
    }

    static int listen(Path path) throws NativeException {
        return UnixSockets.listenStream(path, 8);
    }

    GuestMemory memory() {
        return memory;
    }

    @Override
    public void close() {
        Libc.close(memory.userfaultfd());
        Libc.close(connection);
    }
}
