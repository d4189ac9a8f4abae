package dev.anymap.server;

import java.util.Arrays;

/**
 * Decides when a region's faults come so thick that pulling the whole object beats serving them
 * one at a time. It is the ski-rental choice between paying a round trip per fault and paying once
 * for a bulk pull: keep faulting until the time threads have spent waiting on faults reaches a
 * fraction of what the pull is estimated to cost, then pull. Sparse access never gets there and
 * stays lazy; dense access pays that fraction, or its first fault, on top of the pull, and the pull
 * never delays a fault, since faults have workers of their own.
 *
 * <p>Waiting time is wall time with at least one demand fetch outstanding, so that threads faulting
 * at once are not counted many times over. The pull is estimated as one round trip, the median
 * time of the region's latest reads, plus the object at the speed its storage streamed bulk reads
 * of any region. Until the storage has streamed enough to tell, it is estimated from the median
 * speed of the latest reads, as if each were all transfer, times the reads that will share the
 * pull: a pull of 64 MiB at 20 ms round trip then looks eight times dearer than it is, which makes
 * the trigger later, never earlier. Medians, not the fastest read: a read that a backend answers
 * from memory (S3 keeps the first chunk from its open) says nothing of the storage.
 */
final class DensePullTrigger {
    /**
     * The pull starts once faults have waited this fraction of its estimated cost. A fault waits a
     * whole round trip, so the first one is enough where a pull takes up to sixteen (64 MiB at 20 ms
     * takes about four); a GiB at 20 ms takes some forty, and its first two faults stay lazy.
     */
    static final int FRACTION = 16;
    /** How many of the latest reads the round trip and the speed are medians of. */
    private static final int SAMPLES = 15;

    private final long objectBytes;
    private final int parallelReads;
    private final StorageSpeeds.Speed storage;
    private boolean fired;
    private int outstanding;
    private long stallStarted;
    private long stalledNanos;
    /** Nanoseconds and bytes per nanosecond of the latest reads, rings. */
    private final long[] latencies = new long[SAMPLES];
    private final double[] speeds = new double[SAMPLES];
    private int reads;

    DensePullTrigger(long objectBytes, int parallelReads, StorageSpeeds.Speed storage) {
        this.objectBytes = objectBytes;
        this.parallelReads = parallelReads;
        this.storage = storage;
    }

    synchronized void demandStarted(long now) {
        if (outstanding++ == 0) {
            stallStarted = now;
        }
    }

    /** @return true exactly once: when the pull should start */
    synchronized boolean demandFinished(long now, long bytes, long latencyNanos) {
        if (--outstanding == 0) {
            stalledNanos += now - stallStarted;
        }
        sample(bytes, latencyNanos);
        return due(now);
    }

    /**
     * How long from {@code now} until the faults outstanding will have waited enough to start the
     * pull, if they are outstanding still: a fault that waits a round trip starts it when the
     * threshold passes, not when the round trip ends.
     *
     * @return nanoseconds, or -1 if no fault is outstanding, the pull cannot be estimated yet, or it has started
     */
    synchronized long nanosUntilDue(long now) {
        long estimate = fired || outstanding == 0 ? -1 : estimatedPullNanos();
        return estimate < 0 ? -1 : Math.max(0, (estimate + FRACTION - 1) / FRACTION - stalled(now));
    }

    /** @return true exactly once: when the pull should start, checked at {@code now} */
    synchronized boolean due(long now) {
        if (fired) {
            return false;
        }
        long estimate = estimatedPullNanos();
        fired = estimate >= 0 && stalled(now) * FRACTION >= estimate;
        return fired;
    }

    private long stalled(long now) {
        return stalledNanos + (outstanding > 0 ? now - stallStarted : 0);
    }

    /** A read that tells something about the storage's round trip and speed, from any worker. */
    synchronized void sample(long bytes, long latencyNanos) {
        if (bytes > 0) {
            latencies[reads % SAMPLES] = Math.max(1, latencyNanos);
            speeds[reads % SAMPLES] = (double) bytes / Math.max(1, latencyNanos);
            reads++;
        }
    }

    synchronized long stalledNanos() {
        return stalledNanos;
    }

    /** @return nanoseconds, or -1 while there is nothing to estimate from */
    synchronized long estimatedPullNanos() {
        int n = Math.min(reads, SAMPLES);
        // Of an even count, the slower middle one: of the open's cached chunk and one real read, the real one.
        double streaming = storage.bytesPerNano();
        if (streaming > 0) {
            long[] latest = Arrays.copyOf(latencies, n);
            Arrays.sort(latest);
            return (n == 0 ? 0 : latest[n / 2]) + (long) (objectBytes / streaming);
        }
        if (n == 0) {
            return -1;
        }
        double[] latest = Arrays.copyOf(speeds, n);
        Arrays.sort(latest);
        return (long) (objectBytes / (latest[(n - 1) / 2] * parallelReads));
    }
}
