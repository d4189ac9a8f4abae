package dev.anymap.server;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Fetch latencies in log-linear buckets (eight per power of two, so a percentile is within an
 * eighth of the truth), cheap enough to record every fetch.
 */
final class LatencyHistogram {
    private static final int SUB_BUCKETS = 8;
    private final AtomicLongArray counts = new AtomicLongArray(64 * SUB_BUCKETS);

    void record(long nanos) {
        counts.incrementAndGet(bucket(Math.max(1, nanos)));
    }

    /** The latency below which {@code fraction} of the recorded ones fall, or 0 if none was recorded. */
    long percentile(double fraction) {
        long total = 0;
        for (int i = 0; i < counts.length(); i++) {
            total += counts.get(i);
        }
        long wanted = (long) Math.ceil(total * fraction);
        long seen = 0;
        for (int i = 0; i < counts.length() && total > 0; i++) {
            seen += counts.get(i);
            if (seen >= wanted) {
                return upperBound(i);
            }
        }
        return 0;
    }

    private static int bucket(long nanos) {
        int power = 63 - Long.numberOfLeadingZeros(nanos);
        int sub = power < 3 ? (int) (nanos & (SUB_BUCKETS - 1)) : (int) ((nanos >>> (power - 3)) & (SUB_BUCKETS - 1));
        return power * SUB_BUCKETS + sub;
    }

    private static long upperBound(int bucket) {
        int power = bucket / SUB_BUCKETS;
        int sub = bucket % SUB_BUCKETS;
        return power < 3 ? sub + 1 : (1L << power) + ((long) (sub + 1) << (power - 3)) - 1;
    }
}
