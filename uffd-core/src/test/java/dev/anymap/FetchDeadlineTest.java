package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A backend that never answers: the fetch deadline fails the touch, and nothing else waits on it. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class FetchDeadlineTest extends WithPageServer {
    private static final int CHUNK = 64 * 1024;
    private static final long SIZE = 4 << 20;
    private static final long HUNG = 1 << 20;
    /** Less than the page server's wait for its workers at close (10 s): a close that had to wait for a stuck read takes longer. */
    private static final Duration CLOSE_BOUND = Duration.ofSeconds(8);

    /** Faults served one chunk at a time, on demand: no readahead, no pull. */
    private static MapOptions onDemand() {
        return MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false).withFetchDeadline(Duration.ofSeconds(1));
    }

    @Test
    void aReadThatNeverAnswersFailsTheTouchAfterTheDeadlineNamingTheUriAndTheDeadline() throws Exception {
        URI uri = URI.create("faulty:never?size=" + SIZE + "&seed=5&hang=" + HUNG);
        MappedRegion region = anymap.map(uri, onDemand());
        try {
            MemorySegment memory = region.segment();
            long started = System.nanoTime();
            InternalError error = assertThrows(InternalError.class, () -> memory.get(ValueLayout.JAVA_BYTE, HUNG + 10));
            long waited = System.nanoTime() - started;
            assertTrue(error.getMessage().contains("unsafe memory access"), error.getMessage());
            assertTrue(waited >= TimeUnit.MILLISECONDS.toNanos(900), "failed after " + waited / 1_000_000 + " ms, before the deadline");
            // Poisoned, like any failed fetch: the next touch fails at once, and never reads zeros.
            assertThrows(InternalError.class, () -> memory.get(ValueLayout.JAVA_LONG_UNALIGNED, HUNG));
            RegionStats stats = region.stats();
            assertEquals(1, stats.failures());
            assertTrue(stats.lastFailure().contains("faulty:never") && stats.lastFailure().contains("no answer within 1 s"),
                    stats.lastFailure());
            // Every other chunk reads right, the neighbours of the hung one too.
            assertArrayEquals(ReferenceContent.bytes(SIZE, 5, 0, (int) HUNG), actual(memory, 0, (int) HUNG));
            long after = HUNG + CHUNK;
            assertArrayEquals(ReferenceContent.bytes(SIZE, 5, after, (int) (SIZE - after)), actual(memory, after, (int) (SIZE - after)));
        } finally {
            assertTimeoutPreemptively(CLOSE_BOUND, region::close);
        }
    }

    @Test
    void aReadThatIgnoresItsInterruptIsAbandonedAndItsWorkerReplaced() throws Exception {
        URI uri = URI.create("faulty:deaf?size=" + SIZE + "&seed=6&hang=" + HUNG + "&deaf=1");
        // One worker, which the deaf read keeps: the other chunks are read only if its place goes to another.
        MappedRegion region = anymap.map(uri, onDemand().withFetchWorkers(1));
        try {
            MemorySegment memory = region.segment();
            assertThrows(InternalError.class, () -> memory.get(ValueLayout.JAVA_BYTE, HUNG));
            assertTrue(region.stats().lastFailure().contains("no answer within 1 s"), region.stats().lastFailure());
            assertArrayEquals(ReferenceContent.bytes(SIZE, 6, 0, (int) HUNG), actual(memory, 0, (int) HUNG));
            long after = HUNG + CHUNK;
            assertArrayEquals(ReferenceContent.bytes(SIZE, 6, after, (int) (SIZE - after)), actual(memory, after, (int) (SIZE - after)));
            assertEquals(1, region.stats().failures());
        } finally {
            assertTimeoutPreemptively(CLOSE_BOUND, region::close);
        }
    }

    @Test
    void aPrefetchPastTheDeadlinePoisonsNothingAndItsChunksAreFetchedOnDemand() throws Exception {
        long size = 8 << 20;
        // Reads of more than a chunk (the pull's) sleep ten minutes, interruptibly; a fault's read of one chunk answers.
        URI uri = URI.create("faulty:pulled?size=" + size + "&seed=7&slowabove=" + CHUNK + "&delay=600000");
        try (MappedRegion region = anymap.map(uri, onDemand().withBackgroundPull(true))) {
            MemorySegment memory = region.segment();
            // Likely while the pull's reads hang: the touch waits on them, then gets a read of its own.
            assertArrayEquals(ReferenceContent.bytes(size, 7, 3 * CHUNK, 100), actual(memory, 3 * CHUNK, 100));
            assertArrayEquals(ReferenceContent.bytes(size, 7, 0, (int) size), actual(memory, 0, (int) size));
            assertEquals(0, region.stats().failures(), region.stats().lastFailure());
        }
    }
}
