package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 2, unit = TimeUnit.MINUTES)
class PageServerLifecycleTest {

    @Test
    void oneServerServesManyClientsAndFreesWhatADeadClientHeld() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        try (Anymap first = Anymap.open(config); Anymap second = Anymap.open(config);
             MappedRegion a = first.map(URI.create("mem:a?size=1000000&seed=1"));
             MappedRegion b = second.map(URI.create("mem:a?size=1000000&seed=1"))) {
            assertEquals(a.segment().get(ValueLayout.JAVA_LONG_UNALIGNED, 777_777),
                    b.segment().get(ValueLayout.JAVA_LONG_UNALIGNED, 777_777));
            ProcessHandle server = TestServers.startedServer(config).orElseThrow();
            long descriptorsBefore = descriptors(server.pid());

            Process client = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    // The object that a and b map, which the cache holds before the client and after it: what the
                    // server holds then is what it held before.
                    ClientProgram.class.getName(), config.socket().toString(), "mem:a?size=1000000&seed=1"))
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            try (BufferedReader output = new BufferedReader(new InputStreamReader(client.getInputStream()))) {
                assertEquals("MAPPED", output.readLine());
                assertTrue(descriptors(server.pid()) >= descriptorsBefore + 8, "the server holds the client's userfaultfds");
                client.destroyForcibly();
                client.onExit().get(30, TimeUnit.SECONDS);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (descriptors(server.pid()) > descriptorsBefore && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(descriptorsBefore, descriptors(server.pid()), "descriptors of the page server once the client died");
            assertEquals(b.segment().get(ValueLayout.JAVA_BYTE, 5), a.segment().get(ValueLayout.JAVA_BYTE, 5), "the others still served");
        }
    }

    @Test
    void theServerStatusShowsEveryClientAndWhatItsRegionsHold() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        try (Anymap first = Anymap.open(config); Anymap second = Anymap.open(config);
             MappedRegion a = first.map(URI.create("mem:status-a?size=1000000&seed=1"), MapOptions.defaults().withChunkSize(65536));
             MappedRegion b = second.map(URI.create("faulty:status-b?size=300000&seed=2&fail=200000"),
                     MapOptions.defaults().withChunkSize(65536))) {
            a.segment().get(ValueLayout.JAVA_BYTE, 0);
            a.segment().get(ValueLayout.JAVA_BYTE, 500_000);
            b.segment().get(ValueLayout.JAVA_BYTE, 10);
            org.junit.jupiter.api.Assertions.assertThrows(InternalError.class, () -> b.segment().get(ValueLayout.JAVA_BYTE, 200_000));
            ServerStatus status = first.serverStatus();
            assertEquals(TestServers.startedServer(config).orElseThrow().pid(), status.serverPid());
            assertEquals(2, status.clients());
            assertEquals(2, status.regionCount());
            ServerStatus.Region ofA = status.regions().stream().filter(r -> r.uri().startsWith("mem:status-a")).findFirst().orElseThrow();
            assertEquals(2 * 65536, ofA.residentBytes(), "two chunks touched");
            assertEquals(1_000_000, ofA.size());
            assertEquals(ProcessHandle.current().pid(), ofA.clientPid());
            ServerStatus.Region ofB = status.regions().stream().filter(r -> r.uri().startsWith("faulty:status-b")).findFirst().orElseThrow();
            assertEquals(1, ofB.stats().failures());
            assertTrue(ofB.stats().fetchTimeP99().compareTo(ofB.stats().fetchTimeP50()) >= 0);
        }
    }

    @Test
    void anAutoStartedServerExitsWhenItsLastClientHasGone() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        ProcessHandle server;
        try (Anymap anymap = Anymap.open(config)) {
            anymap.serverStatus(); // the first request that needs a server starts it
            server = TestServers.startedServer(config).orElseThrow();
        }
        server.onExit().get(30, TimeUnit.SECONDS);
        assertTrue(Files.notExists(config.socket()), "the socket is removed");
    }

    @Test
    void theSocketIsPrivateToItsUser() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        try (Anymap anymap = Anymap.open(config)) {
            anymap.serverStatus();
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(config.socket().getParent())));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(config.socket())));
        }
    }

    @Test
    void anInvalidPacketCostsOnlyTheConnectionThatSentIt() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        try (Anymap anymap = Anymap.open(config)) {
            anymap.serverStatus();
            try (Connection hostile = new Connection(UnixSockets.connect(config.socket())); Arena arena = Arena.ofConfined()) {
                UnixSockets.send(hostile.fd(), arena.allocateFrom("not a message at all"), -1);
                assertEquals(null, hostile.receive(), "the server drops a connection that sends garbage");
            }
            try (Connection wrongVersion = new Connection(UnixSockets.connect(config.socket()))) {
                wrongVersion.send(new Message.Hello(999, 1));
                Message answer = wrongVersion.receive().message();
                assertTrue(answer instanceof Message.Failure f && f.kind() == Message.ErrorKind.PROTOCOL, answer.toString());
            }
            try (Connection client = new Connection(UnixSockets.connect(config.socket()))) {
                client.send(new Message.Hello(Message.PROTOCOL_VERSION, 1));
                client.receive();
                client.send(new Message.Map(1, "mem:x?size=100", java.util.Map.of(), 3000, 1,
                        new Message.Prefetching(0, false, false, Long.MAX_VALUE, Long.MAX_VALUE), "", Message.Assumed.NONE, 1000));
                Message badChunk = client.receive().message();
                assertTrue(badChunk instanceof Message.Failure f && f.kind() == Message.ErrorKind.INVALID_ARGUMENT
                        && f.message().contains("power of two"), badChunk.toString());
                client.send(new Message.Map(4, "mem:x?size=100", java.util.Map.of(), 4096, 1,
                        new Message.Prefetching(0, false, false, Long.MAX_VALUE, Long.MAX_VALUE), "", Message.Assumed.NONE, 0));
                Message noDeadline = client.receive().message();
                assertTrue(noDeadline instanceof Message.Failure f && f.kind() == Message.ErrorKind.INVALID_ARGUMENT
                        && f.message().contains("fetch deadline"), noDeadline.toString());
                client.send(new Message.Attach(2, 12345, 4096, 4096));
                Message noDescriptor = client.receive().message();
                assertTrue(noDescriptor instanceof Message.Failure f && f.message().contains("userfaultfd"), noDescriptor.toString());
                client.send(new Message.Unmap(3, 999_999));
                assertTrue(client.receive().message() instanceof Message.Failure, "unmapping a region it does not hold");
            }
            try (MappedRegion region = anymap.map(URI.create("mem:still?size=10000&seed=2"))) {
                region.segment().get(ValueLayout.JAVA_BYTE, 9999);
            }
        }
    }

    @Test
    void aHandshakeCutByAServerOnItsWayOutIsTriedAgainOnANewServer() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        dev.anymap.protocol.ServerAddress.prepareDirectory(config.socket());
        // A server that takes one client and goes without a word, as one killed at that moment would.
        int listener = UnixSockets.listen(config.socket(), 4);
        Thread leaving = Thread.ofPlatform().start(() -> {
            try {
                dev.anymap.linux.Libc.close(UnixSockets.accept(listener));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            } finally {
                dev.anymap.linux.Libc.close(listener);
                config.socket().toFile().delete();
            }
        });
        try (Anymap anymap = Anymap.open(config); MappedRegion region = anymap.map(URI.create("mem:after-cut?size=100000&seed=4"))) {
            leaving.join();
            assertTrue(TestServers.startedServer(config).isPresent(), "a new server was started");
            byte[] expected = new byte[100_000];
            try (dev.anymap.spi.StorageBackend direct = dev.anymap.spi.BackendRegistry.load().open(URI.create("mem:after-cut?size=100000&seed=4"))) {
                direct.read(0, java.nio.ByteBuffer.wrap(expected));
            }
            assertEquals(expected[99_999], region.segment().get(ValueLayout.JAVA_BYTE, 99_999));
        }
    }

    @Test
    void withoutAutoStartAMissingServerIsAClearErrorAtTheFirstRequestThatNeedsOne() throws IOException {
        AnymapConfig config = TestServers.privateServer().withAutoStart(false);
        try (Anymap anymap = Anymap.open(config)) {
            IOException error = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                    () -> anymap.map(URI.create("mem:no-server?size=4096")));
            assertTrue(error.getMessage().contains("no page server listens at " + config.socket()), error.getMessage());
            IOException status = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, anymap::serverStatus);
            assertTrue(status.getMessage().contains("no page server listens at " + config.socket()), status.getMessage());
        }
    }

    private static long descriptors(long pid) throws IOException {
        try (var entries = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return entries.count();
        }
    }

}
