package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A page server that a broken or hostile peer of its own user ({@link HostilePeer}) has worked on
 * for a bounded time (25 s; {@code -Danymap.fuzz.seconds}) still serves a normal client every byte
 * right, and is left as it was: the same process, its descriptors, threads and memory back where
 * they were, nothing of a secret in its log, no core burnt on a descriptor that is not a
 * userfaultfd. A failure names the seed; {@code -Danymap.fuzz.seed=N} runs that fuzz again.
 */
class HostilePeerTest {
    private static final long SIZE = 24L << 20;
    private static final long SEED = 11;
    /**
     * Descriptors and threads: every connection, region and fault loop the peer made is gone, to
     * the last; a leak of one per thousand rounds would still show. A JVM may open a jar or a
     * thread of its own once in a while (a compiler thread added, say): 2 of slack.
     */
    private static final int SLACK = 2;
    /**
     * Resident memory: the fuzz runs about 8,000 rounds in 25 s, sends packets of up to 64 KiB and
     * maps hundreds of 8 MiB regions; a leak of 8 KiB a round (a receive buffer, a region's
     * staging) passes this. Less moves with the heap's and malloc's own ups and downs, which a full
     * collection before each sample (jcmd GC.run) does not all take out: 18 MiB was seen.
     */
    private static final long RSS_SLACK = 64L << 20;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aServerWorkedOnByAHostilePeerServesRightAndIsLeftAsItWas() throws Exception {
        long seed = Long.getLong("anymap.fuzz.seed", System.nanoTime());
        Duration duration = Duration.ofSeconds(Long.getLong("anymap.fuzz.seconds", 25));
        String secret = "s3cr3t-" + Long.toHexString(seed) + "-never-logged";
        String about = "fuzz seed " + seed + " (rerun with -Danymap.fuzz.seed=" + seed + ")";
        AnymapConfig config = TestServers.privateServer();
        Files.createDirectories(config.socket().getParent(), java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        Path logging = config.socket().resolveSibling("logging.properties");
        // Every line the server and its keeper may write, debug ones too: a secret must be in none.
        Files.writeString(logging, """
                handlers=java.util.logging.ConsoleHandler
                java.util.logging.ConsoleHandler.level=ALL
                .level=INFO
                dev.anymap.level=ALL
                """);
        config = config.withServerIdleExit(Duration.ofMinutes(1))
                .withServerJvmOptions(List.of("-Djava.util.logging.config.file=" + logging));
        Map<String, String> withSecret = Map.of("token", secret);
        try (Anymap anymap = Anymap.open(config)) {
            long server = anymap.serverStatus().serverPid();
            // Warm up: the classes, JIT code and lazily opened files of every path the fuzz takes.
            assertReadsRight(anymap, withSecret);
            HostilePeer.Summary warmUp = new HostilePeer(config.socket(), ~seed, secret).run(Duration.ofSeconds(4));
            assertEquals(List.of(), warmUp.problems(), about);
            assertReadsRight(anymap, withSecret);
            ProcessUsage before = ProcessUsage.of(server);

            HostilePeer.Summary fuzz = new HostilePeer(config.socket(), seed, secret).run(duration);

            assertEquals(List.of(), fuzz.problems(), about);
            assertTrue(fuzz.refusedDescriptors() > 0, "no Attach with a descriptor that is not a userfaultfd was tried; " + about);
            assertEquals(server, anymap.serverStatus().serverPid(), "the page server died under the fuzz; " + about);
            assertReadsRight(anymap, withSecret);
            ProcessUsage after = ProcessUsage.settled(server, before, SLACK);
            String usage = "before " + before + ", after " + after + " " + fuzz.rounds() + " rounds; " + about;
            System.out.println("HostilePeerTest: " + fuzz.refusedDescriptors() + " descriptors refused; " + usage);
            assertTrue(after.descriptors() <= before.descriptors() + SLACK, "descriptors left behind: " + usage);
            assertTrue(after.threads() <= before.threads() + SLACK, "threads left behind: " + usage);
            assertTrue(after.rss() <= before.rss() + RSS_SLACK, "memory left behind: " + usage);
            double busy = ProcessUsage.cpuSeconds(server, Duration.ofSeconds(2)) / 2;
            assertTrue(busy < 0.2, "the idle page server keeps " + Math.round(busy * 100) + "% of a core busy; " + about);
        }
        String log = Files.readString(config.socket().resolveSibling("server.log"), StandardCharsets.UTF_8);
        assertFalse(log.isEmpty(), "the server logged nothing: the search for the secret would prove nothing");
        assertFalse(log.contains(secret), "the secret option's value is in server.log; " + about);
    }

    /** Maps the object, reads every byte through the mapping, and compares it with the reference. */
    private static void assertReadsRight(Anymap anymap, Map<String, String> options) throws IOException {
        URI uri = URI.create("faulty:normal?size=" + SIZE + "&seed=" + SEED);
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withBackendOptions(options))) {
            byte[] read = new byte[1 << 20];
            for (long offset = 0; offset < SIZE; offset += read.length) {
                MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, read, 0, read.length);
                assertArrayEquals(ReferenceContent.bytes(SIZE, SEED, offset, read.length), read, "bytes at " + offset);
            }
        }
    }
}
