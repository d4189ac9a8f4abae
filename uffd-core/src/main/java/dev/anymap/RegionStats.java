package dev.anymap;

import java.time.Duration;

/**
 * What the page server has done for one region.
 *
 * @param faults page faults served (several threads faulting in one chunk count once each)
 * @param chunksFetched chunks read from the backend (readahead reads several at once)
 * @param bytesFetched bytes read from the backend
 * @param fetchTimeTotal time spent reading from the backend, summed over fetches
 * @param fetchTimeMax the longest single fetch
 * @param fetchTimeP50 the median fetch time (within an eighth)
 * @param fetchTimeP90 the 90th percentile of fetch times
 * @param fetchTimeP99 the 99th percentile of fetch times
 * @param failures fetches that failed after retries; their pages raise an error when touched
 * @param lastFailure what the last failure was, or empty
 * @param cacheHits chunks this region read from the page server's shared cache without a fetch of its own: those the
 *     cache held when it was mapped, and those its faults found there or on their way for another region
 * @param cachedBytes how much of the object the shared cache holds now, for every region that maps it
 * @param evictions chunks of the object dropped from the cache to keep its memory budget; a dropped chunk is fetched
 *     again when next touched
 */
public record RegionStats(long faults, long chunksFetched, long bytesFetched, Duration fetchTimeTotal,
                          Duration fetchTimeMax, Duration fetchTimeP50, Duration fetchTimeP90, Duration fetchTimeP99,
                          long failures, String lastFailure, long cacheHits, long cachedBytes, long evictions) {

    static final RegionStats NONE = new RegionStats(0, 0, 0, Duration.ZERO, Duration.ZERO, Duration.ZERO, Duration.ZERO,
            Duration.ZERO, 0, "", 0, 0, 0);

    static RegionStats of(dev.anymap.protocol.Message.Stats stats) {
        return new RegionStats(stats.faults(), stats.chunksFetched(), stats.bytesFetched(), Duration.ofNanos(stats.fetchNanosTotal()),
                Duration.ofNanos(stats.fetchNanosMax()), Duration.ofNanos(stats.fetchNanosP50()), Duration.ofNanos(stats.fetchNanosP90()),
                Duration.ofNanos(stats.fetchNanosP99()), stats.failures(), stats.lastFailure(), stats.cacheHits(), stats.cachedBytes(),
                stats.evictions());
    }

    /** The mean time of one fetch, or zero if there was none. */
    public Duration meanFetchTime() {
        return chunksFetched == 0 ? Duration.ZERO : fetchTimeTotal.dividedBy(chunksFetched);
    }
}
