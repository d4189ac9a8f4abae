package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Background and automatic pulls, and the limits on what prefetching may hold and read. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class PullTest extends WithPageServer {
    private static final java.util.concurrent.atomic.AtomicInteger TEACHERS = new java.util.concurrent.atomic.AtomicInteger();
    private static final int CHUNK = 64 * 1024;
    /** Every read of the test backend takes this long, like a round trip to remote storage. */
    private static final String ROUND_TRIP = "&slowabove=0&delay=5";

    @Test
    void denseRandomFaultsStartAPullOfTheWholeObject() throws Exception {
        long size = 16L << 20;
        URI uri = URI.create("faulty:dense?size=" + size + "&seed=51" + ROUND_TRIP);
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0))) {
            // Estimated from 5 ms reads of a chunk, 8 at once, a pull of 16 MiB takes 160 ms; a dozen faults pass a sixteenth of it.
            touchRandomChunks(region, size, 51, 12);
            RegionStats stats = assertPulledWhole(region, size, 51);
            assertTrue(stats.faults() <= 12, stats.faults() + " faults");
        }
    }

    @Test
    void onAStorageSeenToStreamFastTheFirstFaultsStartAPull() throws Exception {
        long size = 64L << 20;
        URI uri = URI.create("faulty:fast?size=" + size + "&seed=56" + ROUND_TRIP);
        try (MappedRegion region = mapOnAStorageSeenToStream(uri, MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0))) {
            // From 5 ms reads of a chunk alone, a pull of 64 MiB would be 640 ms, and 4 faults would not start it. From the
            // bulk reads of the other object, it is a round trip and some tens of ms, a sixteenth of which a fault or two wait.
            touchRandomChunks(region, size, 56, 4);
            assertPulledWhole(region, size, 56);
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
        try (MappedRegion region = mapOnAStorageSeenToStream(uri, MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0))) {
            // 2 faults wait about 10 ms, against a pull of 1 GiB that takes the backend hundreds of ms.
            int touched = touchRandomChunks(region, size, 53, 2);
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

    /**
     * Maps the object after the page server has seen how fast the test backend streams, and after the
     * backend has made the object, so that the first faults are round trips and nothing else.
     */
    private static MappedRegion mapOnAStorageSeenToStream(URI uri, MapOptions options) throws IOException, InterruptedException {
        warmUp(uri, options);
        streamInBulk();
        return anymap.map(uri, options);
    }

    @Test
    @Timeout(value = 20, unit = TimeUnit.SECONDS)
    void aFaultFarAheadOfAPullsReadGetsAReadOfItsOwn() throws Exception {
        long size = 64L << 20;
        long seed = 63;
        // The pull's first read, of the first 8 MiB, takes 60 s to bring its first byte; the others are quick.
        URI uri = URI.create("faulty:held-up-pull?size=" + size + "&seed=" + seed + "&slow=0&delay=60000");
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withBackgroundPull(true);
        try (MappedRegion region = anymap.map(uri, options)) {
            // The other seven reads, started with the first, have ended: the first is under way.
            awaitStats(region, bytes -> bytes == size - (8L << 20));
            long offset = (4L << 20) + 77; // 4 MiB into the first read, which brings nothing for a minute
            assertEquals(ReferenceContent.bytes(size, seed, offset, 1)[0], region.segment().get(ValueLayout.JAVA_BYTE, offset));
            assertEquals(1, region.stats().faults());
        }
    }

    /** Has the test backend make the object, which it does in the page server at its first read, in seconds for a GiB. */
    private static void warmUp(URI uri, MapOptions options) throws IOException {
        try (MappedRegion warmUp = anymap.map(uri, options.withAutoPull(false))) {
            warmUp.segment().get(ValueLayout.JAVA_BYTE, 0);
        }
    }

    /**
     * Pulls an object in bulk, so that the page server learns how fast the test backend streams: a new
     * one each time, since one already in the page server's cache would be pulled from nowhere.
     */
    private static void streamInBulk() throws IOException, InterruptedException {
        long size = 16L << 20;
        URI uri = URI.create("faulty:teacher-" + TEACHERS.incrementAndGet() + "?size=" + size + "&seed=57");
        warmUp(uri, MapOptions.defaults());
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(CHUNK).withBackgroundPull(true))) {
            awaitStats(region, bytes -> bytes == size);
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

    /**
     * Waits for a pull of the whole object: every chunk fetched once, but those that a fault far ahead
     * of the pull's reads read on its own, and all there, so that reading every byte faults no more.
     */
    private static RegionStats assertPulledWhole(MappedRegion region, long size, long seed) throws Exception {
        // Resident, not fetched: a chunk of a warm-up's mapping that the shared cache still held at the map is not fetched again.
        RegionStats stats = awaitStats(region, RegionStats::cachedBytes, bytes -> bytes >= size);
        assertTrue(stats.chunksFetched() <= size / CHUNK + stats.faults(), "every chunk fetched once, but a fault's own: " + stats);
        assertBytes(region, size, seed);
        assertEquals(stats.faults(), region.stats().faults(), "every chunk was there");
        return stats;
    }

    private static void assertBytes(MappedRegion region, long size, long seed) throws IOException {
        byte[] got = new byte[CHUNK];
        for (long offset = 0; offset < size; offset += CHUNK) {
            MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, got, 0, CHUNK);
            assertArrayEquals(ReferenceContent.bytes(size, seed, offset, CHUNK), got, "chunk at " + offset);
        }
    }

    /** Polls the region's statistics until its fetched bytes satisfy {@code done}, for at most 30 seconds. */
    private static RegionStats awaitStats(MappedRegion region, LongPredicate done) throws IOException, InterruptedException {
        return awaitStats(region, RegionStats::bytesFetched, done);
    }

    /** Polls the region's statistics until {@code measure} of them satisfies {@code done}, for at most 30 seconds. */
    private static RegionStats awaitStats(MappedRegion region, java.util.function.ToLongFunction<RegionStats> measure, LongPredicate done)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            RegionStats stats = region.stats();
            if (done.test(measure.applyAsLong(stats))) {
                return stats;
            }
            if (System.nanoTime() > deadline) {
                return fail("not there after 30 s: " + stats);
            }
            Thread.sleep(5);
        }
    }
}
