package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.linux.Errno;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.spi.BackendRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 2, unit = TimeUnit.MINUTES)
class PageServerIdleExitTest {
    private static final int CALLS = 1000;
    private static final long IDLE_EXIT_NANOS = 1_000_000;

    @TempDir
    Path directory;

    /**
     * A thousand back-to-back clients of servers that exit after 1 ms without clients, each client
     * coming 0.5 to 1.5 ms after the one before, so that many meet a server deciding to exit (the
     * pause provokes the race; nothing waits on it). Each server runs as in its own process:
     * the moment it reports itself stopped, it is closed, which ends any connection it still holds,
     * as the process's exit would; a supervisor starts the next one at the same socket, as the next
     * client's auto-start would. Every client either finds no server, or is cut before its handshake
     * by one that decided to retire (and goes to the next server, as a real client connects again),
     * or is served in full.
     */
    @Test
    void aServerThatExitsWhenIdleServesInFullEveryClientItWelcomes() throws Exception {
        Path socket = directory.resolve("anymap").resolve("server.sock");
        BackendRegistry registry = BackendRegistry.load();
        Object generations = new Object();
        long[] generation = {0};
        AtomicReference<Throwable> supervisorFailure = new AtomicReference<>();
        Thread supervisor = Thread.ofPlatform().name("supervisor").start(() -> {
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    PageServer server = new PageServer(socket, Duration.ofNanos(IDLE_EXIT_NANOS), Set.of(), registry, 0);
                    server.start(null, false);
                    synchronized (generations) {
                        generation[0]++;
                        generations.notifyAll();
                    }
                    try {
                        server.awaitStop();
                    } finally {
                        server.close();
                    }
                }
            } catch (InterruptedException e) {
                // the test is over
            } catch (Throwable e) {
                supervisorFailure.set(e);
                synchronized (generations) {
                    generations.notifyAll();
                }
            }
        });
        SplittableRandom random = new SplittableRandom(19);
        int served = 0;
        int refused = 0;
        int cut = 0;
        try {
            while (served < CALLS) {
                LockSupport.parkNanos(IDLE_EXIT_NANOS / 2 + random.nextLong(IDLE_EXIT_NANOS));
                long seen;
                synchronized (generations) {
                    seen = generation[0];
                }
                int fd;
                try {
                    fd = UnixSockets.connect(socket);
                } catch (NativeException e) {
                    assertTrue(e.errno() == Errno.ENOENT || e.errno() == Errno.ECONNREFUSED, e.getMessage());
                    refused++;
                    awaitNextServer(generations, generation, seen, supervisorFailure);
                    continue;
                }
                try (Connection client = new Connection(fd)) {
                    Connection.Incoming welcome;
                    try {
                        client.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
                        welcome = client.receive();
                    } catch (NativeException e) {
                        assertTrue(e.errno() == Errno.EPIPE || e.errno() == Errno.ECONNRESET, e.getMessage());
                        welcome = null;
                    }
                    if (welcome == null) {
                        cut++; // queued as the server decided to retire
                        awaitNextServer(generations, generation, seen, supervisorFailure);
                        continue;
                    }
                    assertTrue(welcome.message() instanceof Message.Welcome, welcome.message().toString());
                    client.send(new Message.Map(1, "mem:idle?size=100000&seed=3", Map.of(), 65536, 1,
                            new Message.Prefetching(0, false, false, Long.MAX_VALUE, Long.MAX_VALUE), "", Message.Assumed.NONE, 60_000));
                    Connection.Incoming mapped = client.receive();
                    assertNotNull(mapped, "call " + served + ": the server closed the connection after the handshake");
                    assertTrue(mapped.message() instanceof Message.Mapped m && m.size() == 100_000, mapped.message().toString());
                    client.send(new Message.Unmap(2, ((Message.Mapped) mapped.message()).regionId()));
                    Connection.Incoming unmapped = client.receive();
                    assertNotNull(unmapped, "call " + served + ": the server closed the connection before the unmap");
                    assertTrue(unmapped.message() instanceof Message.Unmapped, unmapped.message().toString());
                }
                served++;
            }
        } finally {
            supervisor.interrupt();
            supervisor.join(TimeUnit.SECONDS.toMillis(30));
        }
        long servers;
        synchronized (generations) {
            servers = generation[0];
        }
        System.out.println("PageServerIdleExitTest: " + servers + " servers, " + refused + " clients refused, " + cut
                + " cut before their handshake, " + served + " served");
        // The test means something only if servers came and went under the clients.
        assertTrue(servers > CALLS / 10 && refused + cut > 0, servers + " servers, " + refused + " refused connects, " + cut
                + " cut before their handshake");
    }

    /** Waits for the supervisor to start the server after the one seen as {@code seen}. */
    private static void awaitNextServer(Object generations, long[] generation, long seen, AtomicReference<Throwable> supervisorFailure)
            throws InterruptedException {
        synchronized (generations) {
            while (generation[0] == seen && supervisorFailure.get() == null) {
                generations.wait();
            }
        }
        assertEquals(null, supervisorFailure.get(), "the supervisor failed");
    }

    @Test
    void twoServersServeTwoSocketsOfOneDirectory() throws Exception {
        BackendRegistry registry = BackendRegistry.load();
        Path first = directory.resolve("anymap").resolve("first.sock");
        Path second = directory.resolve("anymap").resolve("second.sock");
        try (PageServer one = new PageServer(first, null, Set.of(), registry, 0);
             PageServer two = new PageServer(second, null, Set.of(), registry, 0)) {
            one.start(null, false);
            two.start(null, false);
            for (Path socket : new Path[] {first, second}) {
                try (Connection client = new Connection(UnixSockets.connect(socket))) {
                    client.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
                    assertTrue(client.receive().message() instanceof Message.Welcome, "served at " + socket);
                }
            }
        }
    }

    @Test
    void aSecondServerAtOneSocketSaysOneIsRunningThere() throws Exception {
        BackendRegistry registry = BackendRegistry.load();
        Path socket = directory.resolve("anymap").resolve("server.sock");
        try (PageServer one = new PageServer(socket, null, Set.of(), registry, 0);
             PageServer two = new PageServer(socket, null, Set.of(), registry, 0)) {
            one.start(null, false);
            PageServer.AlreadyRunningException error = assertThrows(PageServer.AlreadyRunningException.class, () -> two.start(null, false));
            assertTrue(error.getMessage().contains("already running at " + socket) && error.getMessage().contains("--socket"),
                    error.getMessage());
            assertTrue(Files.exists(socket), "the first server's socket stays");
            try (Connection client = new Connection(UnixSockets.connect(socket))) {
                client.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
                assertTrue(client.receive().message() instanceof Message.Welcome, "the first server still serves");
            }
        }
    }
}
