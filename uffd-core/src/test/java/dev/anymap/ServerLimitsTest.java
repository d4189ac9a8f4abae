package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A page server held busy by one peer's idle connections costs no platform thread for each, and a
 * peer past a limit gets an error that names it, while another client is served as before.
 */
class ServerLimitsTest {
    private static final int IDLE_CONNECTIONS = 5_000;
    private static final long SIZE = 8L << 20;
    private static final long SEED = 5;
    /** A server's own threads (JIT, GC, fault loops of a region, the carriers of its virtual threads): far below one per connection. */
    private static final int THREAD_SLACK = 64;

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void fiveThousandIdleConnectionsOfOnePeerCostNoThreadEachAndAnotherClientIsServed() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        // This test's process holds them all, and a client of its own: the limits a server of many users would have.
        Process server = TestServers.startServerProcess(config.socket(), "--max-connections", "6000", "--max-connections-per-process", "5010");
        List<Connection> idle = new ArrayList<>();
        try (Anymap anymap = Anymap.open(config)) {
            assertReadsRight(anymap);
            int before = threads(server.pid());
            for (int i = 0; i < IDLE_CONNECTIONS; i++) {
                idle.add(greeted(config.socket()));
            }
            int held = threads(server.pid());
            System.out.println("ServerLimitsTest: page server threads " + before + " before, " + held + " with " + IDLE_CONNECTIONS
                    + " idle connections");
            assertTrue(held <= before + THREAD_SLACK, IDLE_CONNECTIONS + " idle connections took the server from " + before + " to "
                    + held + " threads");
            assertReadsRight(anymap);
            // Kept open to the end: a connection closed now would count until the server has seen it go.
            try (Anymap another = Anymap.open(config)) {
                assertReadsRight(another);
                // Up to the limit of one process (these, and the two clients), and one more.
                while (idle.size() < 5010 - 2) {
                    idle.add(greeted(config.socket()));
                }
                IOException refused = assertThrows(IOException.class, () -> greeted(config.socket()));
                assertTrue(refused.getMessage().contains("--max-connections-per-process 5010"), refused.getMessage());
                assertReadsRight(anymap);
            }
        } finally {
            idle.forEach(Connection::close);
            server.destroy();
            server.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aProcessPastItsRegionsIsRefusedWithTheLimitNamed() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        Process server = TestServers.startServerProcess(config.socket(), "--max-regions-per-process", "2");
        try (Anymap anymap = Anymap.open(config);
             MappedRegion one = anymap.map(uri());
             MappedRegion two = anymap.map(uri())) {
            IOException refused = assertThrows(IOException.class, () -> anymap.map(uri()).close());
            assertTrue(refused.getMessage().contains("--max-regions-per-process 2"), refused.getMessage());
            two.close();
            assertReadsRight(anymap); // one region again within the limit
            assertNotNull(one.segment());
        } finally {
            server.destroy();
            server.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void mapsMadeAtOnceCountAgainstTheRegionLimitWhileTheyAreUnderWay() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        Process server = TestServers.startServerProcess(config.socket(), "--max-regions-per-process", "3");
        // Three opens wait for one another: the maps past the limit must be refused while the three are under way.
        URI slow = URI.create("faulty:three-at-once?size=" + SIZE + "&seed=" + SEED + "&opentogether=3");
        java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newFixedThreadPool(10);
        List<MappedRegion> held = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (Anymap anymap = Anymap.open(config)) {
            List<java.util.concurrent.Future<String>> maps = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                maps.add(threads.submit(() -> {
                    try {
                        held.add(anymap.map(slow));
                        return "mapped";
                    } catch (IOException refused) {
                        return refused.getMessage();
                    }
                }));
            }
            List<String> outcomes = new ArrayList<>();
            for (java.util.concurrent.Future<String> map : maps) {
                outcomes.add(map.get(1, TimeUnit.MINUTES));
            }
            assertEquals(3, held.size(), outcomes.toString());
            assertTrue(outcomes.stream().filter(outcome -> !outcome.equals("mapped"))
                    .allMatch(outcome -> outcome.contains("--max-regions-per-process 3")), outcomes.toString());
            assertEquals(3, anymap.serverStatus().regions().size());
        } finally {
            for (MappedRegion region : held) {
                region.close();
            }
            threads.shutdownNow();
            server.destroy();
            server.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** A connection through the handshake, then left idle. */
    private static Connection greeted(Path socket) throws IOException {
        Connection connection = new Connection(UnixSockets.connect(socket));
        connection.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
        Connection.Incoming welcome = connection.receive();
        if (welcome == null || welcome.message() instanceof Message.Failure) {
            connection.close();
            throw new IOException(welcome == null ? "closed in the handshake" : ((Message.Failure) welcome.message()).message());
        }
        assertInstanceOf(Message.Welcome.class, welcome.message());
        return connection;
    }

    private static URI uri() {
        return URI.create("faulty:normal?size=" + SIZE + "&seed=" + SEED);
    }

    private static void assertReadsRight(Anymap anymap) throws IOException {
        try (MappedRegion region = anymap.map(uri())) {
            byte[] read = new byte[1 << 20];
            for (long offset = 0; offset < SIZE; offset += read.length) {
                MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, read, 0, read.length);
                assertArrayEquals(ReferenceContent.bytes(SIZE, SEED, offset, read.length), read, "bytes at " + offset);
            }
        }
    }

    private static int threads(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("Threads:")) {
                return Integer.parseInt(line.substring("Threads:".length()).trim());
            }
        }
        throw new IOException("no thread count in /proc/" + pid + "/status");
    }
}
