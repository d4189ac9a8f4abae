package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SequentialStreamsTest {
    private static final int MAX_WINDOW = 256;
    private static final int CHUNKS = 10_000;

    @Test
    void aScanThatFaultsOnEveryChunkIsReadAheadInReadsOfAtLeastAnEighthOfItsWindowWithNoGap() {
        SequentialStreams streams = new SequentialStreams(MAX_WINDOW, CHUNKS);
        assertNull(streams.onFault(0), "a first fault is no stream yet");
        int ahead = 0;
        int extensions = 0;
        for (int chunk = 1; chunk < CHUNKS; chunk++) {
            SequentialStreams.Prefetch prefetch = streams.onFault(chunk);
            if (prefetch != null) {
                assertEquals(Math.max(ahead, chunk) + 1, prefetch.from(), "the next prefetch starts where the last ended, at chunk " + chunk);
                int length = prefetch.to() - prefetch.from() + 1;
                assertTrue(length >= prefetch.window() / FetchScheduler.BULK_READS || prefetch.to() == CHUNKS - 1,
                        "a prefetch of " + length + " chunks at chunk " + chunk + " with a window of " + prefetch.window());
                ahead = prefetch.to();
                extensions++;
            }
            if (chunk > MAX_WINDOW && chunk + MAX_WINDOW < CHUNKS) {
                assertTrue(ahead - chunk >= MAX_WINDOW - MAX_WINDOW / FetchScheduler.BULK_READS,
                        "the stream is " + (ahead - chunk) + " chunks ahead at chunk " + chunk);
            }
        }
        assertEquals(CHUNKS - 1, ahead, "the scan was read ahead to the object's end");
        // One extension every eighth of a window once at full size; a sliver every fault would be thousands.
        assertTrue(extensions <= 2 + CHUNKS / (MAX_WINDOW / FetchScheduler.BULK_READS), extensions + " extensions");
    }

    @Test
    void aScanThatFaultsOnlyOnItsTriggersRunsAWindowAheadOfEach() {
        SequentialStreams streams = new SequentialStreams(MAX_WINDOW, CHUNKS);
        streams.onFault(0);
        SequentialStreams.Prefetch prefetch = streams.onFault(1);
        assertEquals(2, prefetch.from());
        assertEquals(64 + 1, prefetch.to(), "a first window of 64 chunks");
        prefetch = streams.onFault(prefetch.trigger());
        assertEquals(MAX_WINDOW, prefetch.window(), "grown sixteen times over, to the cap");
        for (int i = 0; i < 20; i++) {
            SequentialStreams.Prefetch next = streams.onFault(prefetch.trigger());
            assertEquals(prefetch.to() + 1, next.from());
            assertEquals(prefetch.trigger() + MAX_WINDOW, next.to(), "a window ahead of the trigger (" + prefetch + ", " + next + ")");
            assertTrue(next.to() - next.from() + 1 >= MAX_WINDOW / 2, "at least half a window: " + next);
            prefetch = next;
        }
    }
}
