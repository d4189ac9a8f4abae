package dev.anymap;

import java.time.Duration;

/**
 * What the page server has done for one region.
 *
 * @param faults page faults served (several threads faulting in one chunk count once each)
 * @param chunksFetched chunks read from the backend
 * @param bytesFetched bytes read from the backend
 * @param fetchTimeTotal time spent reading from the backend, summed over fetches
 * @param fetchTimeMax the longest single fetch
 * @param failures fetches that failed after retries; their pages raise an error when touched
 * @param lastFailure what the last failure was, or empty
 */
public record RegionStats(long faults, long chunksFetched, long bytesFetched, Duration fetchTimeTotal,
                          Duration fetchTimeMax, long failures, String lastFailure) {

    /** The mean time of one fetch, or zero if there was none. */
    public Duration meanFetchTime() {
        return chunksFetched == 0 ? Duration.ZERO : fetchTimeTotal.dividedBy(chunksFetched);
    }
}
