package dev.anymap.server;

import java.util.Arrays;

/**
 * Finds sequential streams among a region's faults (several at once, as from several scanning
 * threads) and says how far ahead of each to fetch: nothing for a first fault, then a window of
 * 64 chunks that grows sixteen times over with every fault the stream makes, up to a cap. The ramp
 * is steep because each step costs the scan one wait on storage: at 20 ms to first byte, doubling
 * from two chunks to 64 MiB cost a 128 MiB scan a third of its time; on a 256 MiB S3 scan,
 * sixteen-fold steps from 16 chunks against four-fold ones from 4 cut the time by 18% at 20 ms and
 * 11% at 50 ms, and a first window of 64 chunks (16 MiB) against 16 by a further 8% to 11% at 0,
 * 20 and 50 ms (medians of seven or eight scans). The first window is what two adjacent faults
 * that were not a scan cost. A stream that stops is forgotten once eight newer ones have been
 * seen, and its window with it.
 *
 * <p>Each window has a trigger chunk in its second half, which the page server fetches but holds
 * back: the scan faults on it cheaply, and that fault extends the window while the rest of the
 * current one is still ahead of the scan. Used by the fault loop alone.
 */
final class SequentialStreams {
    private static final int STREAMS = 8;
    private static final int FIRST_WINDOW = 64;
    private static final int GROWTH = 16;

    /**
     * Chunks to fetch ahead, {@code [from, to]}, and the one among them to hold back (or -1);
     * {@code window} is the stream's window, which its reads in flight share.
     */
    record Prefetch(int from, int to, int trigger, int window) {}

    private final int maxWindow;
    private final int chunks;
    private final int[] last = new int[STREAMS];
    private final int[] ahead = new int[STREAMS];
    private final int[] window = new int[STREAMS];
    private final long[] used = new long[STREAMS];
    private long clock;

    SequentialStreams(int maxWindow, int chunks) {
        this.maxWindow = maxWindow;
        this.chunks = chunks;
        Arrays.fill(last, Integer.MIN_VALUE);
        Arrays.fill(ahead, Integer.MIN_VALUE);
    }

    /** The prefetch a fault on {@code chunk} calls for, or null. */
    Prefetch onFault(int chunk) {
        clock++;
        int oldest = 0;
        for (int s = 0; s < STREAMS; s++) {
            if (last[s] != Integer.MIN_VALUE && last[s] < chunk && chunk <= Math.max(last[s], ahead[s]) + 1) {
                return extend(s, chunk);
            }
            if (used[s] < used[oldest]) {
                oldest = s;
            }
        }
        last[oldest] = chunk;
        ahead[oldest] = chunk;
        window[oldest] = 0;
        used[oldest] = clock;
        return null;
    }

    private Prefetch extend(int s, int chunk) {
        used[s] = clock;
        last[s] = chunk;
        window[s] = window[s] == 0 ? Math.min(FIRST_WINDOW, maxWindow) : (int) Math.min((long) GROWTH * window[s], maxWindow);
        int from = Math.max(ahead[s], chunk) + 1;
        int to = (int) Math.min((long) chunk + window[s], chunks - 1L);
        // A scan that catches up with its reads faults on nearly every chunk, and each fault would
        // add a sliver of a read: the window waits until a read's worth is to be added, so that a
        // stream has its window in few large reads, not in scores of small ones on as many threads.
        if (from > to || (to - from + 1 < window[s] / FetchScheduler.BULK_READS && to < chunks - 1)) {
            return null;
        }
        ahead[s] = to;
        return new Prefetch(from, to, Math.max(from, to - window[s] / 2), window[s]);
    }
}
