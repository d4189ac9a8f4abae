package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.server.JavaCommand;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * One client process past a limit of the page server per process (reads in flight, memory fetched
 * ahead, share of the cache) is held to it, by the server's own count in its status, and served
 * right all the same, while another client process is served right beside it.
 */
class PeerLimitsTest {
    private static final long MIB = 1 << 20;

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aProcessWithManyRegionsFaultingOnSlowStorageHasAtMostItsFetchesInFlightAndAnotherIsServed() throws Exception {
        Path socket = TestServers.privateServer().socket();
        Process server = TestServers.startServerProcess(socket, "--max-fetches-per-process", "4", "--cache-limit", Long.toString(256 * MIB));
        try {
            Process abuser = client(socket, "read", 8, 4 * MIB, 100, "slowfrom=0&delay=40");
            Usage seen = watch(socket, abuser);
            Process normal = client(socket, "read", 1, 8 * MIB, 200, null);
            assertExitsRead(normal, "the normal client");
            seen = seen.and(watchUntilExit(socket, abuser));
            assertExitsRead(abuser, "the client past its limit (its faults wait, and never fail)");
            System.out.println("PeerLimitsTest: most fetches in flight of the abuser " + seen.mostFetches);
            assertTrue(seen.mostFetches <= 4, "the abuser had " + seen.mostFetches + " fetches in flight, past its limit of 4");
            assertTrue(seen.mostFetches >= 2, "the abuser never had more than " + seen.mostFetches + " fetches in flight: it tested no limit");
        } finally {
            stop(server);
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aProcessPullingHugeObjectsHoldsAtMostItsPrefetchMemoryAndAnotherIsServed() throws Exception {
        Path socket = TestServers.privateServer().socket();
        long limit = 8 * MIB;
        Process server = TestServers.startServerProcess(socket, "--max-prefetch-memory-per-process", Long.toString(limit), "--cache-limit",
                Long.toString(256 * MIB));
        try {
            Process abuser = client(socket, "pull", 2, 48 * MIB, 300, "slowfrom=0&delay=2");
            Process normal = client(socket, "read", 1, 8 * MIB, 400, null);
            Usage seen = watchUntilExit(socket, abuser);
            assertExitsRead(abuser, "the client past its prefetch memory");
            assertExitsRead(normal, "the normal client");
            System.out.println("PeerLimitsTest: most bytes fetched ahead for the abuser " + seen.mostPrefetch);
            assertTrue(seen.mostPrefetch <= limit, "the abuser held " + seen.mostPrefetch + " bytes fetched ahead, past its limit " + limit);
            assertTrue(seen.mostPrefetch > 0, "nothing was fetched ahead for the abuser: it tested no limit");
            String log = Files.readString(socket.resolveSibling("server.log"), StandardCharsets.UTF_8);
            assertTrue(log.contains("--max-prefetch-memory-per-process " + limit), "no line in server.log names the limit");
        } finally {
            stop(server);
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aProcessScanningAnObjectLargerThanItsShareDropsItsOwnChunksAndLeavesAnothersCached() throws Exception {
        Path socket = TestServers.privateServer().socket();
        long cacheLimit = 128 * MIB;
        long hot = 32 * MIB;
        Process server = TestServers.startServerProcess(socket, "--cache-limit", Long.toString(cacheLimit), "--max-cache-share", "50");
        try {
            Process normal = client(socket, "hold", 1, hot, 500, null);
            BufferedReader normalOut = new BufferedReader(new InputStreamReader(normal.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("READ", normalOut.readLine(), "the normal client did not read its object right");
            Process abuser = client(socket, "read", 1, 3 * cacheLimit, 600, null);
            Usage seen = watchUntilExit(socket, abuser);
            assertExitsRead(abuser, "the scanning client");
            Message.Status status = status(socket);
            assertTrue(status.cache().evictions() > 0, "the scan dropped nothing: it tested no share");
            normal.getOutputStream().write('\n');
            normal.getOutputStream().flush();
            String cached = normalOut.readLine();
            assertTrue(normal.waitFor(60, TimeUnit.SECONDS) && normal.exitValue() == 0, "the normal client failed");
            System.out.println("PeerLimitsTest: the scan's most cached " + (seen.mostCached >> 20) + " MiB; the normal client's region: "
                    + cached + "; evictions " + status.cache().evictions());
            assertEquals("CACHED " + hot, cached, "the scan of another process dropped chunks of the normal client's object");
        } finally {
            stop(server);
        }
    }

    /** The most of each count seen for one process. */
    private record Usage(int mostFetches, long mostPrefetch, long mostCached) {
        Usage and(Usage other) {
            return new Usage(Math.max(mostFetches, other.mostFetches), Math.max(mostPrefetch, other.mostPrefetch),
                    Math.max(mostCached, other.mostCached));
        }
    }

    /** The server's counts for {@code client} until it has mapped and read a while: one status. */
    private static Usage watch(Path socket, Process client) throws IOException {
        Usage seen = new Usage(0, 0, 0);
        for (Message.PeerUsage peer : status(socket).peers()) {
            if (peer.pid() == client.pid()) {
                seen = seen.and(new Usage(peer.mostFetchesInFlight(), peer.mostPrefetchBytes(), peer.mostCachedBytes()));
            }
        }
        return seen;
    }

    /** The server's counts for {@code client}, asked again and again until it exits (its count goes with its connection). */
    private static Usage watchUntilExit(Path socket, Process client) throws Exception {
        Usage seen = new Usage(0, 0, 0);
        while (client.isAlive()) {
            seen = seen.and(watch(socket, client));
            client.waitFor(20, TimeUnit.MILLISECONDS);
        }
        return seen;
    }

    private static Message.Status status(Path socket) throws IOException {
        try (Connection connection = new Connection(UnixSockets.connect(socket))) {
            connection.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
            assertInstanceOf(Message.Welcome.class, connection.receive().message());
            connection.send(new Message.StatusRequest(1));
            return assertInstanceOf(Message.Status.class, connection.receive().message());
        }
    }

    private static Process client(Path socket, String mode, int regions, long size, long seed, String parameters) throws IOException {
        List<String> arguments = new ArrayList<>(List.of(socket.toString(), mode, Integer.toString(regions), Long.toString(size),
                Long.toString(seed)));
        if (parameters != null) {
            arguments.add(parameters);
        }
        return new ProcessBuilder(JavaCommand.of(PeerLimitsProgram.class, List.of("-Xmx256m"), arguments))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    private static void assertExitsRead(Process client, String what) throws Exception {
        String out = new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(client.waitFor(90, TimeUnit.SECONDS), what + " did not end");
        assertEquals(0, client.exitValue(), what + " failed: " + out);
        assertTrue(out.contains("READ"), what + " did not read its objects: " + out);
    }

    private static void stop(Process server) throws InterruptedException {
        server.destroy();
        server.waitFor(30, TimeUnit.SECONDS);
    }
}
