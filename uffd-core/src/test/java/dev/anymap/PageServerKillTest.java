package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The page server killed with SIGKILL at moments no one chose, while applications read, collect
 * garbage, map and unmap: its keeper starts another, which takes every region over, and no thread
 * hangs or reads a wrong byte.
 */
class PageServerKillTest {
    private static final long GIB = 1L << 30;
    private static final int RUNS = 20;
    private static final long LINE_TIMEOUT_SECONDS = 120;

    @ParameterizedTest
    @ValueSource(strings = {"-XX:+UseG1GC", "-XX:+UseZGC"})
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void everyByteIsRightWhenThePageServerIsKilledWhileFourThreadsReadAGibAndGarbageIsCollected(String collector) throws Exception {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        AnymapConfig config = TestServers.privateServer();
        Path gcLog = Files.createTempFile("kill-gc", ".log");
        Process program = new ProcessBuilder(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                collector, "-Xmx256m", "-Xlog:gc:file=" + gcLog, "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"),
                KillProgram.class.getName(), config.socket().toString(), Long.toString(GIB), Integer.toString(RUNS)))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        BlockingQueue<String> lines = lines(program);
        PrintStream commands = new PrintStream(program.getOutputStream(), true, StandardCharsets.UTF_8);
        List<Double> resumes = new ArrayList<>();
        int landed = 0;
        try {
            for (int run = 0; run < RUNS; run++) {
                commands.println("NEXT");
                expect(lines, "READING " + run, program);
                // Kills at a moment within the first second; every fourth run has a second kill, once the first is taken over.
                int kills = run % 4 == 3 ? 2 : 1;
                for (int kill = 0; kill < kills; kill++) {
                    Thread.sleep(random.nextInt(kill == 0 ? 1000 : 300));
                    long killed = killServer(config);
                    commands.println("KILLED " + System.nanoTime());
                    if (kill + 1 < kills) {
                        awaitServerOtherThan(config, killed);
                    }
                }
                commands.println("TOLD");
                String done = expect(lines, "DONE " + run, program);
                String[] times = done.replaceAll(".*resume-ms=", "").split(",");
                for (String time : times) {
                    double millis = Double.parseDouble(time);
                    if (millis > 0) {
                        resumes.add(millis);
                        landed++;
                    }
                }
            }
            program.getOutputStream().close();
            assertTrue(program.waitFor(1, TimeUnit.MINUTES), "the program did not exit");
            assertEquals(0, program.exitValue());
        } finally {
            program.destroyForcibly();
        }
        long collections = Files.readAllLines(gcLog).stream().filter(line -> line.contains("Pause") || line.contains("GC(")).count();
        Files.deleteIfExists(gcLog);
        double[] sorted = resumes.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        System.out.printf("%s, seed %d: %d kills landed while readers read, %d collections; resume p50 %.0f ms, p99 %.0f ms, max %.0f ms%n",
                collector, seed, landed, collections, percentile(sorted, 0.5), percentile(sorted, 0.99),
                sorted.length == 0 ? 0 : sorted[sorted.length - 1]);
        // A quiet machine reads a GiB in about a second, so some kills land after the reads: a quarter must land within them.
        assertTrue(landed >= RUNS / 4, "only " + landed + " kills landed while the readers read (seed " + seed + ")");
        assertTrue(collections > 0, "no garbage was collected while the readers read");
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void mapsAndUnmapsGoOnWhenThePageServerIsKilledInTheMiddleOfThem() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        long size = 4L << 20;
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger mapped = new AtomicInteger();
        try (Anymap anymap = Anymap.open(config)) {
            CompletableFuture<Void> mapper = CompletableFuture.runAsync(() -> {
                for (int i = 0; running.get(); i++) {
                    long seed = 500 + i;
                    try (MappedRegion region = anymap.map(URI.create("mem:handshake-" + i + "?size=" + size + "&seed=" + seed))) {
                        long offset = (i * 65_537L) % (size - 4096);
                        byte[] got = new byte[4096];
                        MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, got, 0, got.length);
                        assertArrayEquals(ReferenceContent.bytes(size, seed, offset, got.length), got, "map " + i);
                        mapped.incrementAndGet();
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException("map " + i, e);
                    }
                }
            }, runnable -> Thread.ofPlatform().start(runnable));
            Random random = new Random();
            for (int kill = 0; kill < 4; kill++) {
                int before = mapped.get();
                while (mapped.get() < before + 20 && !mapper.isDone()) {
                    Thread.onSpinWait();
                }
                long killed = killServer(config);
                awaitServerOtherThan(config, killed);
                Thread.sleep(random.nextInt(50));
            }
            running.set(false);
            mapper.get(1, TimeUnit.MINUTES);
            assertTrue(mapped.get() > 80, "only " + mapped.get() + " maps");
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aKilledKeeperIsReplacedAndTheServerKilledAfterwardsIsStillTakenOver() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        long size = 64L << 20;
        long seed = 77;
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(URI.create("mem:keeper?size=" + size + "&seed=" + seed),
                     MapOptions.defaults().withReadahead(0).withAutoPull(false))) {
            ProcessHandle keeper = TestServers.keeper(config).orElseThrow();
            keeper.destroyForcibly();
            keeper.onExit().get(30, TimeUnit.SECONDS);
            ProcessHandle replaced = awaitKeeperOtherThan(config, keeper.pid());
            awaitLogLine(config, "died; starting another", "a new keeper holds the 1 regions");
            long killed = killServer(config);
            assertScansRight(region, size, seed);
            assertNotEquals(killed, serverPid(config));
            assertTrue(replaced.isAlive());
        }
    }

    /**
     * A region whose object changed while its server was down cannot be taken over: its untouched
     * pages fail. The keeper lets it go too: held on, it would hand it to the next server, and to the
     * one after that, and keep itself and a standby alive for good after the application left.
     */
    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aRegionThatCannotBeTakenOverIsLetGoByTheKeeperToo(@org.junit.jupiter.api.io.TempDir Path directory) throws Exception {
        AnymapConfig config = TestServers.privateServer();
        Path file = directory.resolve("replaced.bin");
        byte[] content = new byte[4 << 20];
        new Random(21).nextBytes(content);
        Files.write(file, content);
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(URI.create("servedfile:" + file),
                     MapOptions.defaults().withChunkSize(1 << 20).withReadahead(0).withAutoPull(false))) {
            assertEquals(content[5], region.segment().get(ValueLayout.JAVA_BYTE, 5));
            Files.write(file, Arrays.copyOf(content, content.length / 2)); // another version: the takeover's open finds it so
            long killed = killServer(config);
            awaitLogLine(config, "handing its 1 regions", "could not be taken over");
            assertNotEquals(killed, serverPid(config));
            Throwable failure = touchInBackground(region, content.length - 1).get(1, TimeUnit.MINUTES);
            assertTrue(failure instanceof InternalError, "an untouched page of a region not taken over: " + failure);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (TestServers.keeper(config).isPresent()) {
            assertTrue(System.nanoTime() < deadline, "the keeper still runs a minute after its last client left");
            Thread.onSpinWait();
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void whenTheKeeperAndTheServerAreBothKilledWaitingThreadsFailInsteadOfHanging() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        long size = 64L << 20;
        URI uri = URI.create("faulty:orphaned?size=" + size + "&seed=5&slowfrom=" + (size / 2) + "&delay=200");
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(1 << 20).withReadahead(0).withAutoPull(false))) {
            region.segment().get(ValueLayout.JAVA_BYTE, 0);
            ProcessHandle keeper = TestServers.keeper(config).orElseThrow();
            ProcessHandle server = ProcessHandle.of(serverPid(config)).orElseThrow();
            CompletableFuture<Throwable> reader = touchInBackground(region, size - 1); // a slow chunk: waits while both are killed
            keeper.destroyForcibly();
            server.destroyForcibly();
            Throwable failure = reader.get(2, TimeUnit.MINUTES);
            assertNotNull(failure, "the read of a page no one serves returned");
            assertTrue(failure instanceof InternalError, failure.toString());
        }
        // Whatever is mapped from now on gets a new server.
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(URI.create("mem:after?size=" + (1 << 20) + "&seed=9"))) {
            assertScansRight(region, 1 << 20, 9);
        }
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void aServerThatDiesAgainAndAgainIsGivenUpOnAndItsWaitingThreadsFail() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        long size = 16L << 20;
        URI uri = URI.create("faulty:crashing?size=" + size + "&seed=6&slowfrom=" + (size / 2) + "&delay=60000");
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(1 << 20).withReadahead(0).withAutoPull(false))) {
            CompletableFuture<Throwable> reader = touchInBackground(region, size - 1); // never served: each server is killed first
            long killed = killServer(config);
            while (!reader.isDone()) {
                Long next = serverPidOtherThan(config, killed, TimeUnit.SECONDS.toNanos(60));
                if (next == null || reader.isDone()) {
                    break; // no server took over (the keeper gave up), or one the application started after that
                }
                ProcessHandle.of(next).ifPresent(ProcessHandle::destroyForcibly);
                killed = next;
            }
            Throwable failure = reader.get(1, TimeUnit.MINUTES);
            assertNotNull(failure, "the read returned although no server served it");
            assertTrue(failure instanceof InternalError, failure.toString());
        }
    }

    /** Touches one byte on a thread of its own; what it threw, or null. */
    private static CompletableFuture<Throwable> touchInBackground(MappedRegion region, long offset) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                region.segment().get(ValueLayout.JAVA_BYTE, offset);
                return null;
            } catch (Throwable e) {
                return e;
            }
        }, runnable -> Thread.ofPlatform().start(runnable));
    }

    private static void assertScansRight(MappedRegion region, long size, long seed) throws IOException {
        int block = 1 << 20;
        byte[] got = new byte[block];
        for (long offset = 0; offset < size; offset += block) {
            MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, got, 0, block);
            if (!Arrays.equals(ReferenceContent.bytes(size, seed, offset, block), got)) {
                throw new AssertionError("wrong bytes at offset " + offset);
            }
        }
    }

    /** SIGKILLs the server that serves at the socket now (not its standby); its pid. */
    private static long killServer(AnymapConfig config) throws Exception {
        long pid = serverPid(config);
        ProcessHandle server = ProcessHandle.of(pid).orElseThrow();
        server.destroyForcibly();
        server.onExit().get(30, TimeUnit.SECONDS);
        return pid;
    }

    private static long serverPid(AnymapConfig config) throws IOException {
        try (Anymap observer = Anymap.open(config.withAutoStart(false))) {
            return observer.serverStatus().serverPid();
        }
    }

    private static void awaitServerOtherThan(AnymapConfig config, long pid) {
        assertNotNull(serverPidOtherThan(config, pid, TimeUnit.SECONDS.toNanos(60)), "no server took over from " + pid);
    }

    /** The pid of the server that answers at the socket once it is not {@code pid}; null if none does in time. */
    private static Long serverPidOtherThan(AnymapConfig config, long pid, long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        while (System.nanoTime() < deadline) {
            try {
                long now = serverPid(config);
                if (now != pid) {
                    return now;
                }
            } catch (IOException e) {
                // None listens yet.
            }
            Thread.onSpinWait();
        }
        return null;
    }

    private static ProcessHandle awaitKeeperOtherThan(AnymapConfig config, long pid) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            var keeper = TestServers.keeper(config);
            if (keeper.isPresent() && keeper.get().pid() != pid) {
                return keeper.get();
            }
        }
        throw new AssertionError("no keeper replaced keeper " + pid);
    }

    /** Waits for the page server to say {@code text} after {@code after}; its log is the only one to say so. */
    private static void awaitLogLine(AnymapConfig config, String after, String text) throws IOException {
        Path log = config.socket().resolveSibling("server.log");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            String said = Files.exists(log) ? Files.readString(log) : "";
            int from = said.indexOf(after);
            if (from >= 0 && said.indexOf(text, from) >= 0) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the page server never logged '" + text + "' after '" + after + "'");
            }
            Thread.onSpinWait();
        }
    }

    private static BlockingQueue<String> lines(Process program) {
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader output = new BufferedReader(new InputStreamReader(program.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = output.readLine()) != null; ) {
                    lines.add(line);
                }
            } catch (IOException e) {
                lines.add("ERROR " + e);
            }
        });
        return lines;
    }

    /** The next line that starts with {@code prefix}, skipping others; fails on a wrong byte or a silence. */
    private static String expect(BlockingQueue<String> lines, String prefix, Process program) throws InterruptedException {
        while (true) {
            String line = lines.poll(LINE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (line == null) {
                throw new AssertionError("no '" + prefix + "' within " + LINE_TIMEOUT_SECONDS + " s; the program is "
                        + (program.isAlive() ? "still running (hung?)" : "gone, status " + program.exitValue()));
            }
            assertTrue(!line.startsWith("WRONG"), line);
            if (line.startsWith(prefix)) {
                return line;
            }
        }
    }

    private static double percentile(double[] sorted, double fraction) {
        return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) Math.ceil(fraction * sorted.length) - 1)];
    }
}
