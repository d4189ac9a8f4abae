package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Background and automatic pulls, and the limits on what prefetching may hold and read. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class PullTest {
    private static final int CHUNK = 64 * 1024;
    /** Every read of the test backend takes this long, like a round trip to remote storage. */
    private static final String ROUND_TRIP = "&slowabove=0&delay=5";
    private static Anymap anymap;

    @BeforeAll
    static void openPageServer() throws IOException {
        anymap = Anymap.open(TestServers.privateServer());
    }

    @AfterAll
    static void closePageServer() throws IOException {
        anymap.close();
    }

    @Test
    void denseRandomFaultsStartAPullOfTheWholeObject() throws Exception {
        long size = 16L << 20;
        URI uri = URI.create("faulty:dense?size=" + size + "&seed=51" + ROUND_TRIP);
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0))) {
            touchRandomChunks(region, size, 51, 12);
            // A pull of 16 MiB is estimated at a few hundred milliseconds; a dozen 5 ms faults pass a sixteenth of it.
            RegionStats stats = awaitStats(region, bytes -> bytes == size);
            assertEquals(size / CHUNK, stats.chunksFetched(), "every chunk fetched once");
            assertTrue(stats.faults() <= 12, stats.faults() + " faults");
            assertBytes(region, size, 51);
        }
    }

    @Test
    void withoutAutomaticPullDenseFaultsFetchOnlyWhatTheyTouch() throws Exception {
        long size = 16L << 20;
        URI uri = URI.create("faulty:dense-lazy?size=" + size + "&seed=52" + ROUND_TRIP);
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false);
        try (MappedRegion region = anymap.map(uri, options)) {
            int touched = touchRandomChunks(region, size, 52, 12);
            assertEquals((long) touched * CHUNK, region.stats().bytesFetched());
        }
    }

    @Test
    void sparseFaultsOnALargeObjectStayLazy() throws Exception {
        long size = 1L << 30;
        URI uri = URI.create("faulty:sparse?size=" + size + "&seed=53" + ROUND_TRIP);
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0);
        try (MappedRegion warmUp = anymap.map(uri, options)) {
            // The test backend generates the object in the page server at its first read, which takes seconds.
            warmUp.segment().get(ValueLayout.JAVA_BYTE, 0);
        }
        try (MappedRegion region = anymap.map(uri, options)) {
            // 20 faults wait about 100 ms, against a pull of 1 GiB estimated at about 10 s.
            int touched = touchRandomChunks(region, size, 53, 20);
            assertEquals((long) touched * CHUNK, region.stats().bytesFetched());
        }
    }

    @Test
    void aBackgroundPullStopsAtThePrefetchMemoryLimitAndFaultsGoOn() throws Exception {
        long size = 16L << 20;
        long limit = 4L << 20;
        URI uri = URI.create("faulty:limited?size=" + size + "&seed=54");
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withBackgroundPull(true).withPrefetchLimits(limit, MapOptions.UNLIMITED);
        try (MappedRegion region = anymap.map(uri, options)) {
            // The pull claims its chunks when the region is attached: the first 4 MiB, and no more.
            awaitStats(region, bytes -> bytes == limit);
            // Fetched bytes are counted before they are installed: wait for the installs too.
            int[] resident = anymap.residentChunks(region.serverRegionId());
            while (resident.length < limit / CHUNK) {
                Thread.sleep(5);
                resident = anymap.residentChunks(region.serverRegionId());
            }
            assertEquals(limit / CHUNK, resident.length);
            assertEquals(limit / CHUNK - 1, resident[resident.length - 1], "the pull fetched in order");
            long beyond = size - 100;
            assertEquals(ReferenceContent.bytes(size, 54, beyond, 1)[0], region.segment().get(ValueLayout.JAVA_BYTE, beyond));
            RegionStats stats = region.stats();
            assertEquals(1, stats.faults());
            assertEquals(limit + CHUNK, stats.bytesFetched());
        }
    }

    @Test
    void aBackgroundPullKeepsToThePrefetchRateLimit() throws Exception {
        long size = 8L << 20;
        long bytesPerSecond = 16L << 20;
        URI uri = URI.create("faulty:rate?size=" + size + "&seed=55");
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withBackgroundPull(true)
                .withPrefetchLimits(MapOptions.UNLIMITED, bytesPerSecond);
        long started = System.nanoTime();
        try (MappedRegion region = anymap.map(uri, options)) {
            awaitStats(region, bytes -> bytes == size);
            long elapsedMillis = (System.nanoTime() - started) / 1_000_000;
            // Each read waits for its share of the budget: all but the first 4 MiB read wait at least 0.25 s.
            assertTrue(elapsedMillis >= 1000 * (size - (4 << 20)) / bytesPerSecond, "pulled in " + elapsedMillis + " ms");
            assertBytes(region, size, 55);
        }
    }

    /** Touches {@code count} distinct random chunks, one at a time, checking the bytes; returns {@code count}. */
    private static int touchRandomChunks(MappedRegion region, long size, long seed, int count) throws IOException {
        Random random = new Random(seed);
        long chunks = size / CHUNK;
        java.util.Set<Long> seen = new java.util.HashSet<>();
        while (seen.size() < count) {
            long chunk = random.nextLong(chunks);
            if (seen.add(chunk)) {
                long offset = chunk * CHUNK + random.nextInt(CHUNK);
                assertEquals(ReferenceContent.bytes(size, seed, offset, 1)[0], region.segment().get(ValueLayout.JAVA_BYTE, offset),
                        "byte at " + offset);
            }
        }
        return count;
    }

    private static void assertBytes(MappedRegion region, long size, long seed) throws IOException {
        byte[] got = new byte[CHUNK];
        for (long offset = 0; offset < size; offset += CHUNK) {
            MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, got, 0, CHUNK);
            assertArrayEquals(ReferenceContent.bytes(size, seed, offset, CHUNK), got, "chunk at " + offset);
        }
    }

    /** Polls the region's statistics until its fetched bytes satisfy {@code done}; the class timeout bounds it. */
    private static RegionStats awaitStats(MappedRegion region, LongPredicate done) throws IOException, InterruptedException {
        while (true) {
            RegionStats stats = region.stats();
            if (done.test(stats.bytesFetched())) {
                return stats;
            }
            Thread.sleep(5);
        }
    }
}
