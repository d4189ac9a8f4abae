package dev.anymap.server;

import dev.anymap.protocol.Message;
import java.time.Duration;

/**
 * What a page server takes of a map request: any client may send anything, so every number that
 * sizes what the server does for it is checked before anything is opened.
 */
final class MapRequestLimits {
    static final int MAX_FETCH_WORKERS = 64;
    static final int MAX_READAHEAD = 1024;
    static final long MAX_FETCH_DEADLINE_MILLIS = Duration.ofDays(1).toMillis();

    private MapRequestLimits() {}

    /** @throws IllegalArgumentException naming the first number of {@code map} beyond its limits */
    static void check(Message.Map map) {
        int chunk = map.chunkSize();
        if (chunk < RegionServer.MIN_CHUNK || chunk > RegionServer.MAX_CHUNK || Integer.bitCount(chunk) != 1) {
            throw new IllegalArgumentException("chunk size " + chunk + " is not a power of two from "
                    + RegionServer.MIN_CHUNK + " to " + RegionServer.MAX_CHUNK);
        }
        if (map.fetchWorkers() < 1 || map.fetchWorkers() > MAX_FETCH_WORKERS) {
            throw new IllegalArgumentException("fetch workers " + map.fetchWorkers() + " outside 1.." + MAX_FETCH_WORKERS);
        }
        Message.Prefetching prefetching = map.prefetching();
        if (prefetching.readaheadChunks() < 0 || prefetching.readaheadChunks() > MAX_READAHEAD) {
            throw new IllegalArgumentException("readahead " + prefetching.readaheadChunks() + " outside 0.." + MAX_READAHEAD);
        }
        if (prefetching.memoryLimit() < 0 || prefetching.rateLimit() <= 0) {
            throw new IllegalArgumentException("prefetch limits of " + prefetching.memoryLimit() + " bytes and "
                    + prefetching.rateLimit() + " bytes per second are not a size and a positive rate");
        }
        if (map.fetchDeadlineMillis() < 1 || map.fetchDeadlineMillis() > MAX_FETCH_DEADLINE_MILLIS) {
            throw new IllegalArgumentException("fetch deadline of " + map.fetchDeadlineMillis() + " ms outside 1.." + MAX_FETCH_DEADLINE_MILLIS);
        }
    }
}
