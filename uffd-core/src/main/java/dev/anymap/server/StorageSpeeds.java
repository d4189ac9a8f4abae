package dev.anymap.server;

import java.net.URI;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How fast each storage streams bytes once a read of several chunks is flowing, learnt from every
 * region of one page server. A region whose first faults look dense has read nothing in bulk yet;
 * this is what tells it that a pull of its object takes one round trip and the transfer, not the
 * many round trips its single-chunk reads would suggest.
 */
final class StorageSpeeds {
    private final Map<String, Speed> byStorage = new ConcurrentHashMap<>();

    /**
     * The speed of the storage an object is on: one per scheme and authority (an S3 bucket, an HTTP
     * host and port) reached with the same options (an endpoint, a region).
     *
     * @param options the backend options the object was opened with, secrets masked
     */
    Speed of(URI object, Map<String, String> options) {
        String storage = object.getScheme() + "://" + Objects.toString(object.getRawAuthority(), "") + " " + new TreeMap<>(options);
        return byStorage.computeIfAbsent(storage, key -> new Speed());
    }

    /**
     * One storage's streaming speed: bytes over the time in which at least one read streamed, so
     * that reads streaming at once add up as a pull's parallel reads do. It counts from each read's
     * first chunk to its last, after the round trip, which a pull pays once. The past fades by
     * halves, so that a storage that slows down is seen to.
     */
    static final class Speed {
        /** Below this many bytes streamed, the speed is not known: a few short reads arrive in bursts. */
        static final long ENOUGH_BYTES = 8 << 20;
        private static final long FADE_AFTER_BYTES = 1L << 30;

        private int streaming;
        private long since;
        private long bytes;
        private long nanos;

        synchronized void streamStarted(long now) {
            advance(now);
            streaming++;
        }

        synchronized void streamEnded(long now, long streamed) {
            advance(now);
            streaming--;
            bytes += streamed;
            if (bytes > FADE_AFTER_BYTES) {
                bytes /= 2;
                nanos /= 2;
            }
        }

        /** Counts the time since the last event; a time read on another thread just before a later one is not. */
        private void advance(long now) {
            if (now > since) {
                if (streaming > 0) {
                    nanos += now - since;
                }
                since = now;
            }
        }

        /** @return bytes per nanosecond, or 0 while too little has streamed to tell */
        synchronized double bytesPerNano() {
            return bytes >= ENOUGH_BYTES && nanos > 0 ? (double) bytes / nanos : 0;
        }
    }
}
