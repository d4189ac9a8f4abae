package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The page server's shared page cache, seen from several processes, and its memory budget. */
class SharedPageCacheTest {
    private static final long SIZE = 64L << 20;
    private static final int CHUNK = 256 << 10;

    /** A reader in a JVM of its own, whose lines this test reads. */
    private record Reader(Process process, BufferedReader out) implements AutoCloseable {
        static Reader start(Path socket, String uri, long size, long seed, String... flags) throws IOException {
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    CacheReaderProgram.class.getName(), socket.toString(), uri, Long.toString(size), Long.toString(seed)));
            command.addAll(List.of(flags));
            Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            return new Reader(process, new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)));
        }

        /** The next line it prints that starts with {@code prefix}; fails on a wrong byte or an early end. */
        String await(String prefix) throws IOException {
            for (String line; (line = out.readLine()) != null; ) {
                assertTrue(!line.startsWith("WRONG"), line);
                if (line.startsWith(prefix)) {
                    return line;
                }
            }
            throw new AssertionError("the reader ended (exit " + exitValue() + ") before it printed " + prefix);
        }

        private String exitValue() {
            try {
                return process.waitFor(10, TimeUnit.SECONDS) ? Integer.toString(process.exitValue()) : "none yet";
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "unknown";
            }
        }

        /** The chunks and bytes it fetched, from its STATS line. */
        long[] stats() throws IOException {
            String[] fields = await("STATS").split(" ");
            return new long[] {Long.parseLong(fields[1]), Long.parseLong(fields[2]), Long.parseLong(fields[3])};
        }

        void go() throws IOException {
            Writer in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            in.write("go\n");
            in.flush();
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }

    @Test
    void aProcessThatMapsAnObjectTheCacheHoldsReadsItWithoutFetching() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        String uri = "mem:shared-after?size=" + SIZE + "&seed=31";
        try (Anymap first = Anymap.open(config)) {
            try (MappedRegion region = first.map(URI.create(uri))) {
                region.load(0, SIZE);
                assertEquals(SIZE, region.stats().bytesFetched(), "the first process fetched the object");
            } // closed: the object stays cached for the next map of it
            try (Reader second = Reader.start(config.socket(), uri, SIZE, 31)) {
                long[] stats = second.stats();
                assertTrue(stats[1] < SIZE / 100, "the second process fetched " + stats[1] + " bytes of " + SIZE);
                assertEquals(SIZE / CHUNK, stats[2], "every chunk was a cache hit for the second process");
            }
        }
    }

    @Test
    void aProcessReadsOnWithRightBytesWhenAnotherThatMapsTheObjectIsKilled() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        long size = 256L << 20;
        String uri = "faulty:killed-peer?size=" + size + "&seed=32&slowfrom=0&delay=2";
        try (Anymap anymap = Anymap.open(config); MappedRegion region = anymap.map(URI.create(uri));
             Reader peer = Reader.start(config.socket(), uri, size, 32, "--wait", "--no-prefetch")) {
            peer.await("MAPPED");
            peer.go();
            readCheckingEveryByte(region, size, 32, () -> {
                peer.process().destroyForcibly(); // SIGKILL, while both read
                assertTrue(peer.process().waitFor(30, TimeUnit.SECONDS), "the peer did not die");
            });
        }
    }

    @Test
    void twoProcessesSharingAnObjectReadOnWithRightBytesWhenThePageServerIsKilled() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        long size = 128L << 20;
        String uri = "faulty:server-killed?size=" + size + "&seed=37&slowfrom=0&delay=2";
        try (Anymap anymap = Anymap.open(config); MappedRegion region = anymap.map(URI.create(uri), MapOptions.defaults().withReadahead(0));
             Reader peer = Reader.start(config.socket(), uri, size, 37, "--wait", "--no-prefetch")) {
            peer.await("MAPPED");
            peer.go();
            readCheckingEveryByte(region, size, 37, () -> {
                ProcessHandle server = TestServers.startedServer(config).orElseThrow();
                server.destroyForcibly(); // SIGKILL, while both read; the keeper's standby takes over
                server.onExit().get(30, TimeUnit.SECONDS);
            });
            peer.await("STATS"); // the peer checked every byte too
            assertTrue(anymap.serverStatus().takeOvers() >= 1, "no page server took over");
        }
    }

    @Test
    void twoProcessesFaultingOnTheSameChunksAtOnceFetchEachChunkOnce() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        long size = 16L << 20;
        String uri = "faulty:together?size=" + size + "&seed=33&slowfrom=0&delay=20";
        try (Anymap server = Anymap.open(config);
             Reader one = Reader.start(config.socket(), uri, size, 33, "--wait", "--no-prefetch");
             Reader two = Reader.start(config.socket(), uri, size, 33, "--wait", "--no-prefetch")) {
            one.await("MAPPED");
            two.await("MAPPED");
            one.go();
            two.go();
            long[] first = one.stats();
            long[] second = two.stats();
            assertEquals(size / CHUNK, first[0] + second[0], "chunks fetched by the two together, of " + size / CHUNK);
            assertEquals(size, first[1] + second[1], "bytes fetched by the two together");
        }
    }

    @Test
    void eightThreadsReadRightBytesWhileTheBudgetForcesConstantEviction() throws Exception {
        AnymapConfig config = TestServers.privateServer().withCacheLimit(128L << 20);
        long size = 512L << 20;
        long seed = 34;
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(URI.create("mem:evicted?size=" + size + "&seed=" + seed),
                     MapOptions.defaults().withChunkSize(64 << 10));
             ExecutorService readers = Executors.newFixedThreadPool(8)) {
            List<Future<Long>> reads = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                reads.add(readers.submit(() -> {
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    long checked = 0;
                    for (int i = 0; i < 3000; i++) {
                        int length = random.nextInt(1, 64 << 10);
                        long offset = random.nextLong(size - length);
                        byte[] expected = ReferenceContent.bytes(size, seed, offset, length);
                        assertArrayEquals(expected, WithPageServer.actual(region.segment(), offset, length), "bytes at " + offset);
                        checked += length;
                    }
                    return checked;
                }));
            }
            for (Future<Long> read : reads) {
                assertTrue(read.get(5, TimeUnit.MINUTES) > 0);
            }
            RegionStats stats = region.stats();
            assertTrue(stats.evictions() > 0, "nothing was evicted: " + stats);
            ServerStatus status = anymap.serverStatus();
            assertTrue(status.cachedBytes() <= status.cacheLimit(), "the cache holds " + status.cachedBytes() + " of " + status.cacheLimit());
        }
    }

    @Test
    void aWritableRegionsWritesStayInItThroughEvictionAndNeverReachTheCache(@org.junit.jupiter.api.io.TempDir java.nio.file.Path directory)
            throws Exception {
        AnymapConfig config = TestServers.privateServer().withCacheLimit(128L << 20);
        long seed = 35;
        java.nio.file.Path file = directory.resolve("written.bin");
        java.nio.file.Files.write(file, ReferenceContent.bytes(SIZE, seed, 0, (int) SIZE));
        URI uri = URI.create("servedfile:" + file); // served through faults, as remote storage is
        MapOptions options = MapOptions.defaults().withChunkSize(64 << 10);
        byte[] written = "written by the writable region".getBytes(StandardCharsets.UTF_8);
        try (Anymap anymap = Anymap.open(config);
             MappedRegion writable = anymap.map(uri, options.withWritable(true));
             MappedRegion readOnly = anymap.map(uri, options)) {
            for (long offset = 0; offset < SIZE; offset += 1 << 20) {
                MemorySegment.copy(MemorySegment.ofArray(written), 0, writable.segment(), offset, written.length);
            }
            for (long offset = 0; offset < SIZE; offset += 1 << 20) {
                assertArrayEquals(ReferenceContent.bytes(SIZE, seed, offset, written.length),
                        WithPageServer.actual(readOnly.segment(), offset, written.length), "the cache's bytes at " + offset);
            }
            try (MappedRegion other = anymap.map(URI.create("mem:pushes-out?size=" + (512L << 20) + "&seed=36"), options)) {
                other.load(0, other.size()); // four times the budget: every chunk of the first object is dropped
            }
            assertTrue(readOnly.stats().evictions() > 0, "nothing of the first object was dropped");
            for (long offset = 0; offset < SIZE; offset += 1 << 20) {
                assertArrayEquals(written, WithPageServer.actual(writable.segment(), offset, written.length), "written bytes at " + offset);
                long after = offset + written.length;
                assertArrayEquals(ReferenceContent.bytes(SIZE, seed, after, 4096), WithPageServer.actual(writable.segment(), after, 4096),
                        "unwritten bytes of the writable region at " + after);
                assertArrayEquals(ReferenceContent.bytes(SIZE, seed, offset, written.length),
                        WithPageServer.actual(readOnly.segment(), offset, written.length), "the cache's bytes at " + offset);
            }
        }
    }

    /** What happens a quarter of the way through a read. */
    private interface Interruption {
        void happen() throws Exception;
    }

    /** Reads the whole region in order from Java, checking every byte against the generator; {@code atAQuarter} happens on the way. */
    private static void readCheckingEveryByte(MappedRegion region, long size, long seed, Interruption atAQuarter) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment expected = arena.allocate(1 << 20);
            for (long offset = 0; offset < size; offset += expected.byteSize()) {
                if (offset == size / 4) {
                    atAQuarter.happen();
                }
                ReferenceContent.fill(size, seed, offset, expected);
                assertEquals(-1, region.segment().asSlice(offset, expected.byteSize()).mismatch(expected), "bytes at " + offset);
            }
        }
    }

    @Test
    void objectsNoRegionMapsHoldAtMostAQuarterOfTheBudgetTheLatestKept() throws Exception {
        long budget = 128L << 20;
        long size = 24L << 20;
        AnymapConfig config = TestServers.privateServer().withCacheLimit(budget);
        try (Anymap anymap = Anymap.open(config)) {
            for (int seed = 40; seed < 44; seed++) {
                try (MappedRegion region = anymap.map(URI.create("mem:left-" + seed + "?size=" + size + "&seed=" + seed))) {
                    region.load(0, size);
                }
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (anymap.serverStatus().cachedBytes() > budget / 4 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(size, anymap.serverStatus().cachedBytes(), "what the cache holds once four objects of 24 MiB were left");
            try (MappedRegion latest = anymap.map(URI.create("mem:left-43?size=" + size + "&seed=43"))) {
                latest.load(0, size);
                assertEquals(0, latest.stats().bytesFetched(), "the object left last is still cached");
            }
        }
    }

    @Test
    void aBudgetBelowThePageServersLeastIsRefusedAtStart() throws Exception {
        AnymapConfig config = TestServers.privateServer().withCacheLimit(1 << 20);
        IOException refused = assertThrows(IOException.class, () -> {
            try (Anymap anymap = Anymap.open(config)) {
                anymap.map(URI.create("mem:never?size=4096&seed=1")); // the first request starts the page server
            }
        });
        assertTrue(refused.getMessage().contains("cache limit of 1048576 bytes") && refused.getMessage().contains("--cache-limit"),
                refused.getMessage());
    }

    @Test
    void aChunkTooLargeForTheBudgetIsRefusedAtMap() throws Exception {
        AnymapConfig config = TestServers.privateServer().withCacheLimit(128L << 20);
        try (Anymap anymap = Anymap.open(config)) {
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                    () -> anymap.map(URI.create("mem:big-chunks?size=" + SIZE + "&seed=1"), MapOptions.defaults().withChunkSize(32 << 20)));
            assertTrue(refused.getMessage().contains("mem:big-chunks") && refused.getMessage().contains("--cache-limit"),
                    refused.getMessage());
        }
    }
}
