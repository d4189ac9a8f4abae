package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ReadaheadTest extends WithPageServer {
    private static final int CHUNK = 64 * 1024;

    @Test
    void aSequentialScanFaultsOnAFewChunksAndReadsEveryByteRight() throws Exception {
        long size = 64L << 20;
        long seed = 41;
        // Not an in-memory object: prefetch then goes through ranged reads of the backend.
        try (MappedRegion region = anymap.map(URI.create("faulty:scan?size=" + size + "&seed=" + seed),
                MapOptions.defaults().withChunkSize(CHUNK))) {
            byte[] got = new byte[CHUNK];
            for (long offset = 0; offset < size; offset += CHUNK) {
                MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, got, 0, CHUNK);
                assertArrayEquals(ReferenceContent.bytes(size, seed, offset, CHUNK), got, "chunk at offset " + offset);
            }
            RegionStats stats = region.stats();
            long chunks = size / CHUNK;
            assertEquals(size, stats.bytesFetched(), "every chunk fetched once");
            assertTrue(stats.faults() < chunks / 4, stats.faults() + " faults for " + chunks + " chunks");
        }
    }

    @Test
    void aBadChunkInAPrefetchTakenOverByAFaultFailsAloneAndNotItsNeighbours() throws Exception {
        long size = 512L << 20;
        long bad = 6005L * CHUNK + 100;
        // Reads of several chunks are slow, single chunks fast; no automatic pull, whose reads would claim the chunks first.
        URI uri = URI.create("faulty:bad-neighbour?size=" + size + "&seed=46&fail=" + bad + "&slowabove=" + CHUNK + "&delay=3000");
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(CHUNK).withFetchWorkers(1).withAutoPull(false))) {
            MemorySegment memory = region.segment();
            // 64 streams of two faults each, far enough apart that their windows do not meet, fill every
            // prefetch read there may be in flight with slow ones...
            for (int stream = 0; stream < 64; stream++) {
                memory.get(ValueLayout.JAVA_BYTE, stream * 80L * CHUNK);
                memory.get(ValueLayout.JAVA_BYTE, (stream * 80L + 1) * CHUNK);
            }
            memory.get(ValueLayout.JAVA_BYTE, 6000L * CHUNK);
            memory.get(ValueLayout.JAVA_BYTE, 6001L * CHUNK);
            // ...so the next stream's prefetch from chunk 6002 on waits in the queue, and this fault
            // hands its first read to a demand worker, which reads those chunks at once: the bad one among them.
            assertArrayEquals(ReferenceContent.bytes(size, 46, 6002L * CHUNK, CHUNK), actual(memory, 6002L * CHUNK, CHUNK));
            assertArrayEquals(ReferenceContent.bytes(size, 46, 6004L * CHUNK, CHUNK), actual(memory, 6004L * CHUNK, CHUNK));
            assertThrows(InternalError.class, () -> memory.get(ValueLayout.JAVA_BYTE, bad));
            assertEquals(1, region.stats().failures(), "only the bad chunk failed");
        }
    }

    @Test
    void randomTouchesFetchNothingAhead() throws Exception {
        long size = 64L << 20;
        List<Integer> chunks = new ArrayList<>();
        for (int chunk = 0; chunk < size / CHUNK; chunk += 10) {
            chunks.add(chunk);
        }
        Collections.shuffle(chunks, new Random(3));
        // Without the automatic pull, which fast storage like this sets off after a few faults (PullTest).
        try (MappedRegion region = anymap.map(URI.create("faulty:random?size=" + size + "&seed=42"),
                MapOptions.defaults().withChunkSize(CHUNK).withAutoPull(false))) {
            for (int chunk : chunks) {
                long offset = (long) chunk * CHUNK + 100;
                assertEquals(ReferenceContent.bytes(size, 42, offset, 1)[0], region.segment().get(ValueLayout.JAVA_BYTE, offset));
            }
            assertEquals(chunks.size(), region.stats().chunksFetched(), "only the chunks touched");
        }
    }

    @Test
    void aBackgroundPullMakesTheWholeObjectResidentWithoutATouch() throws Exception {
        long size = (32L << 20) + 123;
        long seed = 44;
        try (MappedRegion region = anymap.map(URI.create("faulty:pulled?size=" + size + "&seed=" + seed),
                MapOptions.defaults().withChunkSize(CHUNK).withBackgroundPull(true))) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (region.stats().bytesFetched() < size && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(size, region.stats().bytesFetched(), "the whole object pulled, each chunk once");
            assertEquals(0, region.stats().faults(), "nothing touched yet");
            byte[] got = new byte[(int) size];
            MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, 0, got, 0, got.length);
            assertArrayEquals(ReferenceContent.bytes(size, seed, 0, (int) size), got);
            assertEquals(0, region.stats().faults(), "every page was resident before it was read");
        }
    }

    @Test
    void aFaultDuringABackgroundPullIsServedFirst() throws Exception {
        long size = 64L << 20;
        // Every read before the last quarter is slow: a pull in order is still busy there when the fault comes.
        URI uri = URI.create("faulty:pull-busy?size=" + size + "&seed=45&slowfrom=0&slowto=" + (48L << 20) + "&delay=2000");
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(CHUNK).withBackgroundPull(true))) {
            long far = (60L << 20) + 9;
            assertEquals(ReferenceContent.bytes(size, 45, far, 1)[0], region.segment().get(ValueLayout.JAVA_BYTE, far));
            assertTrue(region.stats().bytesFetched() < size / 2, "the fault was served long before the pull got there");
        }
    }

    @Test
    void aDemandFaultIsServedWhilePrefetchesAreStillRunning() throws Exception {
        long size = 64L << 20;
        // Chunks 0 and 1 are fast; touching them in order sets a prefetch of the slow ones after them going.
        long slowFrom = 2L * CHUNK;
        long slowTo = 32L << 20;
        URI uri = URI.create("faulty:busy?size=" + size + "&seed=43&slowfrom=" + slowFrom + "&slowto=" + slowTo + "&delay=3000");
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(CHUNK).withAutoPull(false))) {
            for (long offset = 0; offset < slowFrom; offset += CHUNK) {
                region.segment().get(ValueLayout.JAVA_BYTE, offset);
            }
            // The scan has set prefetches of slow chunks going; a touch far away must not wait for them.
            long far = (48L << 20) + 7;
            assertEquals(ReferenceContent.bytes(size, 43, far, 1)[0], region.segment().get(ValueLayout.JAVA_BYTE, far));
            assertEquals(3, region.stats().chunksFetched(), "the two scanned chunks and the far one; no slow prefetch done yet");
        }
    }
}
