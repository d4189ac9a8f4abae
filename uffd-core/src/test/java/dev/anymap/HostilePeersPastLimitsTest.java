package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.server.JavaCommand;
import dev.anymap.testbackend.ReferenceContent;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A page server started with low limits per process, worked on for a bounded time (15 s;
 * {@code -Danymap.fuzz.seconds}) by a {@link HostilePeer} process that goes past every limit, and
 * by client processes ({@link DyingPeerProgram}) that fault, pull and scan past theirs and are
 * killed (SIGKILL) at a point drawn from the seed: mid-map, mid-attach, with faults in flight, with
 * prefetches queued. Meanwhile a normal client reads every byte right. The server's status never
 * shows a process past a limit; a killed process's usage leaves the status; a new process gets its
 * full turns; and the server is left the same process, with its descriptors and threads back where
 * they were, and no secret in its log. A failure names the seed; {@code -Danymap.fuzz.seed=N} runs
 * that fuzz again.
 */
class HostilePeersPastLimitsTest {
    private static final long MIB = 1 << 20;
    private static final int CONNECTIONS_PER_PROCESS = 8;
    private static final int REGIONS_PER_PROCESS = 4;
    private static final int FETCHES_PER_PROCESS = 4;
    private static final long PREFETCH_MEMORY = 8 * MIB;
    private static final long CACHE_LIMIT = 128 * MIB;
    private static final long NORMAL_SIZE = 8 * MIB;
    /** Descriptors and threads, as in {@link HostilePeerTest}: every connection, region and fetch of a dead peer is gone. */
    private static final int SLACK = 2;
    /** How long a killed process's usage may stay in the status: its session ends once its regions' fetches stop. */
    private static final Duration GONE_WITHIN = Duration.ofSeconds(20);
    private static final List<String> MODES = List.of("fault", "pull", "scan", "map");
    private static final List<String> STAGES = List.of("CONNECTED", "MAPPED", "READ");

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void peersPastEveryLimitAndKilledMidRequestLeaveTheServerServingRightWithinItsLimits() throws Exception {
        long seed = Long.getLong("anymap.fuzz.seed", System.nanoTime());
        Duration duration = Duration.ofSeconds(Long.getLong("anymap.fuzz.seconds", 15));
        String secret = "s3cr3t-" + Long.toHexString(seed) + "-never-logged";
        String about = "fuzz seed " + seed + " (rerun with -Danymap.fuzz.seed=" + seed + ")";
        Path socket = TestServers.privateServer().socket();
        Process server = TestServers.startServerProcess(socket, "--max-connections", "256",
                "--max-connections-per-process", Integer.toString(CONNECTIONS_PER_PROCESS),
                "--max-regions-per-process", Integer.toString(REGIONS_PER_PROCESS),
                "--max-fetches-per-process", Integer.toString(FETCHES_PER_PROCESS),
                "--max-prefetch-memory-per-process", Long.toString(PREFETCH_MEMORY),
                "--cache-limit", Long.toString(CACHE_LIMIT), "--max-cache-share", "25");
        Watch watch = new Watch(socket);
        try (Anymap normal = Anymap.open(AnymapConfig.defaults().withSocket(socket).withAutoStart(false))) {
            // Warm up: the classes, JIT code and threads of every path the fuzz takes, before the baseline.
            readRight(normal, 1);
            Random warming = new Random(~seed);
            Process warmPeer = hostilePeer(socket, 4, ~seed, secret);
            for (String mode : MODES) {
                killed(socket, mode, STAGES.get(warming.nextInt(STAGES.size())), warming, watch, about);
            }
            assertPeerEnded(warmPeer, about);
            watch.assertGone(warmPeer.pid(), about);
            ProcessUsage before = ProcessUsage.of(server.pid());
            List<String> threadsBefore = ProcessUsage.threadNames(server.pid());
            List<String> descriptorsBefore = ProcessUsage.descriptorNames(server.pid());

            Process peer = hostilePeer(socket, duration.toSeconds(), seed, secret);
            AtomicBoolean fuzzing = new AtomicBoolean(true);
            AtomicInteger normalReads = new AtomicInteger();
            CompletableFuture<Void> reading = CompletableFuture.runAsync(() -> {
                for (long s = 2; fuzzing.get(); s++) {
                    readRight(normal, s);
                    normalReads.incrementAndGet();
                }
            });
            CompletableFuture<Void> watching = CompletableFuture.runAsync(() -> {
                while (fuzzing.get()) {
                    watch.sample();
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20)); // a sampling pace, not a wait for anything
                }
            });
            Random random = new Random(seed);
            List<String> kills = new ArrayList<>();
            long end = System.nanoTime() + duration.toNanos();
            while (System.nanoTime() < end) {
                String mode = MODES.get(random.nextInt(MODES.size()));
                String stage = STAGES.get(random.nextInt(STAGES.size()));
                kills.add(mode + " at " + stage + ": " + killed(socket, mode, stage, random, watch, about));
            }
            String peerOut = assertPeerEnded(peer, about);
            fuzzing.set(false);
            reading.get(2, TimeUnit.MINUTES); // every read of the normal client ends, each checked
            watching.get(1, TimeUnit.MINUTES);
            watch.assertGone(peer.pid(), about);
            System.out.println("HostilePeersPastLimitsTest: " + peerOut + "; " + kills.size() + " processes killed " + kills + "; "
                    + normalReads.get() + " reads of the normal client; " + watch + "; " + about);

            assertEquals(server.pid(), watch.status().serverPid(), "the page server died under the fuzz; " + about);
            assertTrue(server.isAlive(), "the page server died under the fuzz; " + about);
            assertTrue(normalReads.get() > 0, "the normal client read nothing while the fuzz ran; " + about);
            assertTrue(peerOut.matches(".* CONNECTIONS [1-9].*"), "no connection past the limit was refused: " + peerOut + "; " + about);
            assertTrue(peerOut.matches(".* REGIONS [1-9].*"), "no region past the limit was refused: " + peerOut + "; " + about);
            watch.assertWithinLimits(about);
            assertTrue(watch.mostFetches >= 2, "no process had more than " + watch.mostFetches + " fetches in flight: the fuzz tested no "
                    + "limit on them; " + about);
            assertTrue(watch.mostPrefetch > 0, "nothing was fetched ahead for any process: the fuzz tested no prefetch memory; " + about);

            assertFullTurns(socket, seed, watch, about);
            readRight(normal, 1);
            // The server's fetch workers are a pool that keeps an idle thread for 15 s, and the fuzz's slow reads grew it.
            // Objects cached now (see withoutCachedObjects) are waited for no more than the descriptors of their own.
            long cachedPairs = 2L * (cachedObjects(ProcessUsage.descriptorNames(server.pid())) - cachedObjects(descriptorsBefore));
            ProcessUsage expected = new ProcessUsage(before.descriptors() + (int) Math.max(0, cachedPairs), before.threads(), before.rss());
            ProcessUsage after = ProcessUsage.settled(server.pid(), expected, SLACK, Duration.ofSeconds(90));
            String usage = "before " + before + ", after " + after + "; " + about;
            System.out.println("HostilePeersPastLimitsTest: " + usage);
            // An object no region maps any more stays in the cache for the next map of it (up to a quarter of the budget),
            // with its memory file and the userfaultfd it is filled through: those pairs are the cache's, not left behind.
            List<String> descriptorsAfter = ProcessUsage.descriptorNames(server.pid());
            assertTrue(withoutCachedObjects(descriptorsAfter).size() <= withoutCachedObjects(descriptorsBefore).size() + SLACK,
                    "descriptors left behind: " + usage + "; before " + descriptorsBefore + ", after " + descriptorsAfter);
            assertTrue(after.threads() <= before.threads() + SLACK, "threads left behind: " + usage + "; before " + threadsBefore
                    + ", after " + ProcessUsage.threadNames(server.pid()));
            List<Message.PeerUsage> peers = watch.status().peers();
            List<Long> left = peers.stream().map(Message.PeerUsage::pid).filter(pid -> pid != ProcessHandle.current().pid()).toList();
            assertEquals(List.of(), left, "processes other than this one, all ended, are still in the status; " + about);
            // This process, idle now, holds no turn: one a read kept after it ended would be its process's for good.
            assertEquals(List.of(), peers.stream().filter(held -> held.fetchesInFlight() != 0).toList(),
                    "an idle process has fetches in flight; " + about);
        } finally {
            server.destroy();
            server.waitFor(30, TimeUnit.SECONDS);
        }
        String log = Files.readString(socket.resolveSibling("server.log"), StandardCharsets.UTF_8);
        assertTrue(log.contains("--max-connections-per-process"), "the server logged no refusal past a limit: the search for the secret "
                + "would prove little");
        assertFalse(log.contains(secret), "the secret option's value is in server.log; " + about);
    }

    /**
     * Starts a {@link DyingPeerProgram} in {@code mode}, kills it (SIGKILL) once it says {@code stage}
     * and a moment drawn from {@code random} has passed, and checks that its usage leaves the status.
     *
     * @return what it had printed
     */
    private static List<String> killed(Path socket, String mode, String stage, Random random, Watch watch, String about) throws Exception {
        Process dying = dyingPeer(socket, mode, random.nextInt(1 << 20));
        List<String> said = new ArrayList<>();
        BufferedReader out = new BufferedReader(new InputStreamReader(dying.getInputStream(), StandardCharsets.UTF_8));
        for (String line; !said.contains(stage); said.add(line)) {
            if ((line = out.readLine()) == null) {
                fail("a " + mode + " client ended on its own before " + stage + ", exit status " + dying.waitFor() + ": " + said + "; " + about);
            }
        }
        Thread.sleep(random.nextInt(400)); // the moment of the kill, drawn from the seed, not a wait for anything
        watch.sample(); // its usage while it works: the limits are checked for it too
        dying.destroyForcibly();
        assertTrue(dying.waitFor(30, TimeUnit.SECONDS), "a process killed with SIGKILL did not end");
        watch.assertGone(dying.pid(), about);
        return said;
    }

    /** A new process, faulting as the killed ones did, gets as many fetches in flight as its limit: nothing of theirs is held. */
    private static void assertFullTurns(Path socket, long seed, Watch watch, String about) throws Exception {
        Process fresh = dyingPeer(socket, "fault", seed + 7);
        BufferedReader out = new BufferedReader(new InputStreamReader(fresh.getInputStream(), StandardCharsets.UTF_8));
        List<String> said = new ArrayList<>();
        for (String line; (line = out.readLine()) != null && !line.equals("READ"); ) {
            said.add(line);
        }
        int most = 0;
        for (Message.PeerUsage usage : watch.status().peers()) {
            if (usage.pid() == fresh.pid()) {
                most = usage.mostFetchesInFlight();
            }
        }
        fresh.getOutputStream().close();
        assertTrue(fresh.waitFor(60, TimeUnit.SECONDS), "a client after the fuzz did not end");
        assertEquals(0, fresh.exitValue(), "a client after the fuzz did not read its objects right: " + said + "; " + about);
        assertEquals(FETCHES_PER_PROCESS, most, "a client after the fuzz had at most " + most + " fetches in flight, not its full "
                + FETCHES_PER_PROCESS + "; " + about);
        watch.assertGone(fresh.pid(), about);
    }

    /** Maps an object of the normal client's, reads every byte through the mapping, and compares it with the reference. */
    private static void readRight(Anymap anymap, long seed) {
        URI uri = URI.create("faulty:normal?size=" + NORMAL_SIZE + "&seed=" + seed);
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults())) {
            byte[] read = new byte[1 << 20];
            for (long offset = 0; offset < NORMAL_SIZE; offset += read.length) {
                MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, read, 0, read.length);
                if (!Arrays.equals(ReferenceContent.bytes(NORMAL_SIZE, seed, offset, read.length), read)) {
                    throw new AssertionError("the normal client read wrong bytes at " + offset + " of the object of seed " + seed);
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * The server's status, asked again and again: the most of each count it shows for any process,
     * and for each process the most regions it held; the processes it lists.
     */
    private static final class Watch {
        private final Path socket;
        private final Map<Long, Integer> mostRegions = new ConcurrentHashMap<>();
        private final java.util.Set<String> past = java.util.Collections.synchronizedSet(new java.util.LinkedHashSet<>());
        private volatile int mostFetches;
        private volatile long mostPrefetch;
        private volatile long mostCached;
        private volatile int samples;

        Watch(Path socket) {
            this.socket = socket;
        }

        synchronized void sample() {
            Message.Status status;
            try {
                status = status();
            } catch (IOException | AssertionError e) {
                return; // refused while the hostile peer holds the most connections: the next sample sees
            }
            samples++;
            for (Message.PeerUsage peer : status.peers()) {
                mostFetches = Math.max(mostFetches, peer.mostFetchesInFlight());
                mostPrefetch = Math.max(mostPrefetch, peer.mostPrefetchBytes());
                mostCached = Math.max(mostCached, peer.mostCachedBytes());
                if (peer.mostFetchesInFlight() > FETCHES_PER_PROCESS || peer.fetchesInFlight() > FETCHES_PER_PROCESS) {
                    past.add("process " + peer.pid() + " had " + peer.mostFetchesInFlight() + " fetches in flight");
                }
                if (peer.mostPrefetchBytes() > PREFETCH_MEMORY || peer.prefetchBytes() > PREFETCH_MEMORY) {
                    past.add("process " + peer.pid() + " held " + peer.mostPrefetchBytes() + " bytes fetched ahead");
                }
            }
            Map<Long, Integer> regions = new HashMap<>();
            status.regions().forEach(region -> regions.merge(region.clientPid(), 1, Integer::sum));
            regions.forEach((pid, count) -> mostRegions.merge(pid, count, Math::max));
        }

        void assertWithinLimits(String about) {
            assertEquals(List.of(), List.copyOf(past), "past a limit per process (" + FETCHES_PER_PROCESS + " fetches, " + PREFETCH_MEMORY
                    + " bytes fetched ahead); " + about);
            mostRegions.forEach((pid, count) -> assertTrue(count <= REGIONS_PER_PROCESS, "process " + pid + " held " + count
                    + " regions, past the limit of " + REGIONS_PER_PROCESS + "; " + about));
        }

        /** Waits until process {@code pid}, ended, is gone from the status: its reads, queued reads and prefetch memory given back. */
        void assertGone(long pid, String about) throws Exception {
            long deadline = System.nanoTime() + GONE_WITHIN.toNanos();
            Message.PeerUsage left;
            while ((left = usageOf(pid)) != null && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(null, left, "process " + pid + " ended " + GONE_WITHIN.toSeconds() + " s ago and is still in the status; "
                    + about);
        }

        private Message.PeerUsage usageOf(long pid) throws IOException {
            return status().peers().stream().filter(peer -> peer.pid() == pid).findFirst().orElse(null);
        }

        Message.Status status() throws IOException {
            try (Connection connection = new Connection(UnixSockets.connect(socket))) {
                connection.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
                assertInstanceOf(Message.Welcome.class, connection.receive().message());
                connection.send(new Message.StatusRequest(1));
                return assertInstanceOf(Message.Status.class, connection.receive().message());
            }
        }

        @Override
        public String toString() {
            return samples + " statuses, the most fetches in flight " + mostFetches + ", bytes fetched ahead " + mostPrefetch
                    + ", cached " + (mostCached >> 20) + " MiB of one process, regions " + mostRegions.values().stream()
                    .mapToInt(Integer::intValue).max().orElse(0);
        }
    }

    private static Process hostilePeer(Path socket, long seconds, long seed, String secret) throws IOException {
        return new ProcessBuilder(JavaCommand.of(HostilePeer.class, List.of("-Xmx128m"), List.of(socket.toString(), Long.toString(seconds),
                Long.toString(seed), secret, Integer.toString(CONNECTIONS_PER_PROCESS), Integer.toString(REGIONS_PER_PROCESS))))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** Waits for the hostile peer to end and return its summary line; it found nothing wrong from the outside. */
    private static String assertPeerEnded(Process peer, String about) throws Exception {
        String out = new String(peer.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(peer.waitFor(60, TimeUnit.SECONDS), "the hostile peer did not end");
        assertEquals(0, peer.exitValue(), "the hostile peer found something wrong: " + out + "; " + about);
        return out;
    }

    private static Process dyingPeer(Path socket, String mode, long seed) throws IOException {
        return new ProcessBuilder(JavaCommand.of(DyingPeerProgram.class, List.of("-Xmx128m"), List.of(socket.toString(), mode,
                Long.toString(seed)))).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /**
     * The descriptors less each cached object's memory file and the userfaultfd it is filled through. A
     * userfaultfd more than memory files is a region's, which would be left behind, and stays counted.
     */
    private static long cachedObjects(List<String> descriptors) {
        return descriptors.stream().filter(name -> name.startsWith("/memfd:anymap-")).count();
    }

    private static List<String> withoutCachedObjects(List<String> descriptors) {
        long objects = cachedObjects(descriptors);
        List<String> rest = new java.util.ArrayList<>();
        long userfaultfdsOfObjects = objects;
        for (String name : descriptors) {
            if (name.startsWith("/memfd:anymap-")) {
                continue;
            }
            if (name.equals("anon_inode:[userfaultfd]") && userfaultfdsOfObjects > 0) {
                userfaultfdsOfObjects--;
                continue;
            }
            rest.add(name);
        }
        return rest;
    }
}
