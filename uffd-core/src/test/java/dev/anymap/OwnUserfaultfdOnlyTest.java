package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.linux.Libc;
import dev.anymap.linux.UnixSockets;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.server.JavaCommand;
import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A region is served only to the process that attached it: a peer that attaches the userfaultfd
 * of another process's memory (lent by a {@link UserfaultfdLender}) has that region
 * refused at its first fault, with nothing fetched for it and nothing spinning; one whose memory is
 * not the object's is refused once a page faults again and again with its chunk in the cache; and
 * a userfaultfd whose faults name no thread is refused at the attach. A normal client is served
 * right after each.
 */
class OwnUserfaultfdOnlyTest {
    private static final long SIZE = 8L << 20;
    private static final long SEED = 5;

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // accept(2) blocks
    void aUserfaultfdOfAnotherProcessIsRefusedAtItsFirstFaultAndNothingSpins() throws Exception {
        AnymapConfig config = TestServers.privateServer().withServerIdleExit(Duration.ofMinutes(1));
        try (Anymap anymap = Anymap.open(config); UserfaultfdLender lender = UserfaultfdLender.start(SIZE)) {
            long server = anymap.serverStatus().serverPid();
            UserfaultfdLender.Lent lent = lender.lend();
            try (Connection connection = greeted(config)) {
                long region = map(connection);
                // The lender's memory, as if it were this process's mapping of the region.
                connection.send(new Message.Attach(2, region, lent.address(), SIZE), lent.userfaultfd());
                assertInstanceOf(Message.Attached.class, connection.receive().message(),
                        "a userfaultfd set up as a client's own passes every check an attach can make");

                Message.Stats stats = assertRefused(connection, region, server, "not a thread of process " + ProcessHandle.current().pid());
                assertEquals(0, stats.chunksFetched(), "a chunk was fetched for another process's fault");
            } finally {
                Libc.close(lent.userfaultfd());
            }
            assertReadsRight(anymap);
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aRegionOfOtherMemoryThanTheObjectsIsRefusedOnceItsPageFaultsInVain() throws Exception {
        AnymapConfig config = TestServers.privateServer().withServerIdleExit(Duration.ofMinutes(1));
        try (Anymap anymap = Anymap.open(config)) {
            long server = anymap.serverStatus().serverPid();
            // This process's own private memory, not the object's memory that the map sends: waking it fills nothing.
            RegisteredMemory memory = RegisteredMemory.create(SIZE, Userfaultfd.FEATURE_THREAD_ID);
            long address = memory.address();
            Thread reader = null;
            try (Connection connection = greeted(config)) {
                long region = map(connection);
                connection.send(new Message.Attach(2, region, address, SIZE), memory.userfaultfd());
                assertInstanceOf(Message.Attached.class, connection.receive().message());
                // Through memcpy: a fault left waiting in native code holds none of this JVM's safepoints.
                reader = Thread.ofPlatform().daemon().start(() -> {
                    try (Arena arena = Arena.ofConfined()) {
                        Libc.memcpy(arena.allocate(1), address, 1);
                    }
                });

                assertRefused(connection, region, server, "faulted 1000 times in a row with its chunk in the cache");
            } finally {
                // With the server's copy gone with the connection, this last one's close ends the read with a zero page.
                Libc.close(memory.userfaultfd());
                if (reader != null) {
                    reader.join();
                }
                Libc.munmap(address, SIZE);
            }
            assertReadsRight(anymap);
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aUserfaultfdWithoutThreadIdsIsRefusedAtTheAttach() throws Exception {
        AnymapConfig config = TestServers.privateServer().withServerIdleExit(Duration.ofMinutes(1));
        try (Anymap anymap = Anymap.open(config)) {
            anymap.serverStatus(); // starts the page server
            RegisteredMemory memory = RegisteredMemory.create(SIZE, 0);
            try (Connection connection = greeted(config)) {
                long region = map(connection);
                connection.send(new Message.Attach(2, region, memory.address(), SIZE), memory.userfaultfd());
                Message.Failure failure = assertInstanceOf(Message.Failure.class, connection.receive().message());
                assertEquals(Message.ErrorKind.PROTOCOL, failure.kind(), failure.message());
                assertTrue(failure.message().contains("UFFD_FEATURE_THREAD_ID"), failure.message());
            } finally {
                Libc.close(memory.userfaultfd());
                Libc.munmap(memory.address(), SIZE);
            }
            assertReadsRight(anymap);
        }
    }

    /**
     * A container's process: a client in a pid namespace of its own, whose faults name its threads
     * by their numbers there, which are not their numbers in the server's namespace.
     */
    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aClientInAPidNamespaceOfItsOwnIsServed() throws Exception {
        Assumptions.assumeTrue(Libc.getuid() == 0 && Files.isExecutable(Path.of("/usr/bin/unshare")),
                "a new pid namespace needs root and unshare(1)");
        AnymapConfig config = TestServers.privateServer().withServerIdleExit(Duration.ofMinutes(1));
        try (Anymap anymap = Anymap.open(config)) {
            anymap.serverStatus(); // starts the page server, outside the client's namespace
            List<String> command = new ArrayList<>(List.of("/usr/bin/unshare", "--pid", "--fork", "--kill-child"));
            command.addAll(JavaCommand.of(CacheReaderProgram.class, List.of("-Xmx64m"), List.of(config.socket().toString(),
                    "faulty:namespaced?size=" + SIZE + "&seed=" + SEED, Long.toString(SIZE), Long.toString(SEED), "--no-prefetch")));
            Path printed = config.socket().resolveSibling("reader.out");
            Process reader = new ProcessBuilder(command).redirectOutput(printed.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            boolean ended = reader.waitFor(60, TimeUnit.SECONDS);
            if (!ended) {
                reader.destroyForcibly().waitFor(); // and with unshare, the reader it forked
            }
            String out = Files.readString(printed);
            assertTrue(ended, "the reader in its own pid namespace did not end in 60 s, its faults unserved: " + out);
            assertEquals(0, reader.exitValue(), "the reader in its own pid namespace failed: " + out);
            assertTrue(out.contains("STATS " + SIZE / MapOptions.DEFAULT_CHUNK_SIZE + " "), "every chunk fetched for its faults: " + out);
        }
    }

    private static Connection greeted(AnymapConfig config) throws IOException {
        Connection connection = new Connection(UnixSockets.connect(config.socket()));
        connection.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
        assertInstanceOf(Message.Welcome.class, connection.receive().message());
        return connection;
    }

    private static long map(Connection connection) throws IOException {
        connection.send(new Message.Map(1, "faulty:lent?size=" + SIZE + "&seed=" + SEED, Map.of(), 1 << 16, 4,
                new Message.Prefetching(0, false, false, 0, 1L << 30), "", Message.Assumed.NONE, 60_000, Message.CodePath.SERVER));
        Connection.Incoming answer = connection.receive();
        answer.closeDescriptors(); // the object's memory, which this peer never maps
        return assertInstanceOf(Message.Mapped.class, answer.message()).regionId();
    }

    /** The region's stats once they show its refusal, for {@code because}; the page server is then idle. */
    private static Message.Stats assertRefused(Connection connection, long region, long server, String because) throws Exception {
        Message.Stats stats = RegisteredMemory.statsOnceFailed(connection, region, Duration.ofSeconds(30));
        assertNotNull(stats, "the server answered a stats request with no stats");
        assertTrue(stats.failures() > 0, "the region was not refused within 30 s: " + stats);
        assertTrue(stats.lastFailure().contains(because), stats.lastFailure());
        double busy = ProcessUsage.cpuSeconds(server, Duration.ofSeconds(2)) / 2;
        assertTrue(busy < 0.2, "the page server keeps " + Math.round(busy * 100) + "% of a core busy after the refusal");
        return stats;
    }

    private static void assertReadsRight(Anymap anymap) throws IOException {
        URI uri = URI.create("faulty:normal?size=" + SIZE + "&seed=" + SEED);
        try (MappedRegion region = anymap.map(uri)) {
            byte[] read = new byte[1 << 20];
            for (long offset = 0; offset < SIZE; offset += read.length) {
                MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, read, 0, read.length);
                assertArrayEquals(ReferenceContent.bytes(SIZE, SEED, offset, read.length), read, "bytes at " + offset);
            }
        }
    }
}
