package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.linux.Libc;
import dev.anymap.linux.UnixSockets;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A peer that sends bad packets in a loop writes a few warnings a minute to {@code server.log}, not
 * one per packet: without the limit, 100,000 packets would write about 15 MB.
 */
class BadPacketFloodTest {
    private static final int PACKETS = 100_000;
    private static final int SENDERS = 4;
    /** Ten lines a minute for this peer, a line of about 150 bytes: for a flood of a few minutes at most. */
    private static final long BOUND = 64 << 10;

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aPeerSending100000BadPacketsGrowsTheLogByABoundedAmount() throws Exception {
        AnymapConfig config = TestServers.privateServer().withServerIdleExit(Duration.ofMinutes(1));
        try (Anymap anymap = Anymap.open(config)) {
            anymap.serverStatus(); // the server is up, and has logged its start
            Path log = config.socket().resolveSibling("server.log");
            long before = Files.size(log);
            List<Future<?>> senders = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(SENDERS)) {
                for (int s = 0; s < SENDERS; s++) {
                    senders.add(pool.submit(() -> {
                        for (int i = 0; i < PACKETS / SENDERS; i++) {
                            sendBadPacket(config.socket());
                        }
                        return null;
                    }));
                }
                for (Future<?> sender : senders) {
                    sender.get();
                }
            }
            // Every session of the flood has ended (each drops its client at the bad packet), so has logged what it would.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (anymap.serverStatus().clients() > 1 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            long grown = Files.size(log) - before;
            String added = Files.readString(log, StandardCharsets.UTF_8).substring((int) before);
            System.out.println("BadPacketFloodTest: " + PACKETS + " bad packets grew server.log by " + grown + " bytes");
            assertTrue(added.contains("sent an invalid message"), "no warning about the bad packets was logged at all:\n" + added);
            assertTrue(grown <= BOUND, PACKETS + " bad packets grew server.log by " + grown + " bytes, more than " + BOUND);
        }
    }

    /** Connects, sends a packet that is not an anymap message, and goes. */
    private static void sendBadPacket(Path socket) throws Exception {
        int fd = UnixSockets.connect(socket);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(16);
            packet.fill((byte) 0x5A);
            UnixSockets.send(fd, packet);
        } catch (Exception dropped) {
            // The server may close first: its right.
        } finally {
            Libc.close(fd);
        }
    }
}
