package dev.anymap.server;

import java.util.Arrays;

/**
 * Decides when a region's faults come so thick that pulling the whole object beats serving them
 * one at a time. It is the ski-rental choice between paying a round trip per fault and paying once
 * for a bulk pull: keep faulting until the time threads have spent waiting on faults reaches a
 * fraction of what the pull is estimated to cost, then pull. Sparse access never gets there and
 * stays lazy; dense access pays at most that fraction on top of the pull, and the pull never delays
 * a fault, since faults have workers of their own.
 *
 * <p>Waiting time is wall time with at least one demand fetch outstanding, so that threads faulting
 * at once are not counted many times over. The pull is estimated from the median speed of the
 * latest reads, per connection, times the reads that will share the pull: an overestimate where
 * round trips dominate, which makes the trigger later, never earlier, than the ideal. Not from the
 * fastest read: a read that a backend answers from memory (S3 keeps the first chunk from its open)
 * says nothing of the storage, and made the header of a 256 MiB object pull all of it.
 */
final class DensePullTrigger {
    /** The pull starts once faults have waited this fraction of its estimated cost. */
    static final int FRACTION = 16;
    /** How many of the latest reads the speed is the median of. */
    private static final int SPEEDS = 15;

    private final long objectBytes;
    private final int parallelReads;
    private boolean fired;
    private int outstanding;
    private long stallStarted;
    private long stalledNanos;
    /** Bytes per nanosecond of the latest reads, a ring. */
    private final double[] speeds = new double[SPEEDS];
    private int reads;

    DensePullTrigger(long objectBytes, int parallelReads) {
        this.objectBytes = objectBytes;
        this.parallelReads = parallelReads;
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
        if (fired || reads == 0) {
            return false;
        }
        long stalled = stalledNanos + (outstanding > 0 ? now - stallStarted : 0);
        fired = stalled * FRACTION >= estimatedPullNanos();
        return fired;
    }

    /** A read that tells something about the storage's speed, from any worker. */
    synchronized void sample(long bytes, long latencyNanos) {
        if (bytes > 0) {
            speeds[reads++ % SPEEDS] = (double) bytes / Math.max(1, latencyNanos);
        }
    }

    synchronized long stalledNanos() {
        return stalledNanos;
    }

    synchronized long estimatedPullNanos() {
        double[] latest = Arrays.copyOf(speeds, Math.min(reads, SPEEDS));
        Arrays.sort(latest);
        // Of an even count, the slower middle one: of the open's cached chunk and one real read, the real one.
        return (long) (objectBytes / (latest[(latest.length - 1) / 2] * parallelReads));
    }
}
