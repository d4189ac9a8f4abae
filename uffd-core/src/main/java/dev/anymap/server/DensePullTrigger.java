package dev.anymap.server;

/**
 * Decides when a region's faults come so thick that pulling the whole object beats serving them
 * one at a time. It is the ski-rental choice between paying a round trip per fault and paying once
 * for a bulk pull: keep faulting until the time threads have spent waiting on faults reaches a
 * fraction of what the pull is estimated to cost, then pull. Sparse access never gets there and
 * stays lazy; dense access pays at most that fraction on top of the pull, and the pull never delays
 * a fault, since faults have workers of their own.
 *
 * <p>Waiting time is wall time with at least one demand fetch outstanding, so that threads faulting
 * at once are not counted many times over. The pull is estimated from the fastest read seen so
 * far, per connection, times the prefetch workers that will share the pull: an overestimate where
 * round trips dominate, which makes the trigger later, never earlier, than the ideal.
 */
final class DensePullTrigger {
    /** The pull starts once faults have waited this fraction of its estimated cost. */
    static final int FRACTION = 16;

    private final long objectBytes;
    private final int parallelReads;
    private boolean fired;
    private int outstanding;
    private long stallStarted;
    private long stalledNanos;
    private double bytesPerNano;

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
        if (fired || bytesPerNano == 0) {
            return false;
        }
        long stalled = stalledNanos + (outstanding > 0 ? now - stallStarted : 0);
        fired = stalled * FRACTION >= estimatedPullNanos();
        return fired;
    }

    /** A read that tells something about the storage's speed, from any worker. */
    synchronized void sample(long bytes, long latencyNanos) {
        if (bytes > 0) {
            bytesPerNano = Math.max(bytesPerNano, (double) bytes / Math.max(1, latencyNanos));
        }
    }

    synchronized long stalledNanos() {
        return stalledNanos;
    }

    synchronized long estimatedPullNanos() {
        return (long) (objectBytes / (bytesPerNano * parallelReads));
    }
}
