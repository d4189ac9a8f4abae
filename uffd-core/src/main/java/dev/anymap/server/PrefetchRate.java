package dev.anymap.server;

import java.util.concurrent.TimeUnit;

/**
 * Holds a region's prefetch reads to a rate in bytes per second, shared by its prefetch workers.
 * Each read books the next free interval of the budget and waits for its start, so reads are spread
 * evenly, with no burst beyond one read.
 */
final class PrefetchRate {
    private final double nanosPerByte;
    private long nextFree;

    PrefetchRate(long bytesPerSecond) {
        this.nanosPerByte = 1e9 / bytesPerSecond;
    }

    void acquire(long bytes) throws InterruptedException {
        long wait;
        synchronized (this) {
            long now = System.nanoTime();
            long start = Math.max(now, nextFree);
            nextFree = start + (long) (bytes * nanosPerByte);
            wait = start - now;
        }
        if (wait > 0) {
            TimeUnit.NANOSECONDS.sleep(wait);
        }
    }
}
