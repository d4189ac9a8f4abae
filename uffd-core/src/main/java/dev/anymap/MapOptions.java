package dev.anymap;

import java.time.Duration;
import java.util.Map;

/**
 * How one object is mapped.
 *
 * @param chunkSize the unit of fetching: a power of two from 4 KiB to 32 MiB. A fault fetches the
 *     whole chunk around it, so larger chunks mean fewer round trips on scans and more bytes
 *     fetched on sparse random access.
 * @param fetchWorkers how many reads for faulting threads the page server makes at once for this region
 *     (default 16): as many threads as fault at once on different chunks wait one round trip each,
 *     not several. Prefetching has reads of its own: up to 128 small ones, or 8 of the largest, in
 *     flight
 * @param readaheadChunks the most chunks to fetch ahead of a sequential stream of faults (0: none). The
 *     page server finds such streams (several at once) and fetches ahead with a window that starts
 *     at 64 chunks and grows sixteen times over with each fault of the stream, up to this many
 *     chunks and at most 256 MiB, reading up to 16 MiB of adjacent chunks at once, on workers of its
 *     own so that demand faults never wait behind it. Objects whose backend already holds them in
 *     memory are served on demand only: a fault there costs about what a prefetch would
 * @param backgroundPull fetch the whole object in the background, in order, with the prefetch reads,
 *     while faults are served first: a mapped object becomes fully resident without waiting for every
 *     page to be touched
 * @param autoPull let the page server start that background pull by itself when the time threads have
 *     spent waiting on faults passes a sixteenth of what it estimates a pull of the whole object costs:
 *     dense random access then costs little more than a download would, while sparse access stays
 *     lazy. Only for objects that fit within {@code prefetchMemoryLimit} and a quarter of the page
 *     server's physical memory; on by default
 * @param prefetchMemoryLimit the most bytes of this object that prefetching of any kind (readahead,
 *     background pull, trace replay) may make resident; faults are served beyond it
 * @param prefetchRateLimit the most bytes per second that prefetching reads from storage; faults are
 *     not limited
 * @param writable whether the segment may be written: writes stay in this process's memory and are
 *     never written back to storage
 * @param backendOptions options for the storage backend, as its documentation names them
 * @param fetchDeadline the longest one fetch of a chunk may take, over every attempt the page server and the
 *     backend make, from 1 ms to a day (default {@link #DEFAULT_FETCH_DEADLINE}). When it passes, the threads
 *     waiting on the chunk fail as for any failed fetch ({@code InternalError} at the access, and
 *     {@link RegionStats#lastFailure()} names the URI and says "no answer within N s"), and the read is
 *     interrupted, or abandoned if it ignores that. A prefetch's read past it fails nothing: its chunks are
 *     fetched again when a thread wants them
 */
public record MapOptions(int chunkSize, int fetchWorkers, int readaheadChunks, boolean backgroundPull, boolean autoPull,
                         long prefetchMemoryLimit, long prefetchRateLimit, boolean writable, Map<String, String> backendOptions,
                         Duration fetchDeadline) {
    /**
     * The default chunk size. Measured with benchmarks/run (BENCHMARKS.md): a page-by-page scan of
     * {@code mem:} runs at 0.2 GB/s with 4 KiB chunks, 1.2 GB/s with 64 KiB, 2.4 GB/s with 256 KiB
     * and 3.3 GB/s with 1 MiB. 256 KiB is where the fixed cost of a fault (about 20 us) falls below a
     * fifth of its time, while a random touch still fetches only 64 pages; four times larger chunks
     * buy scans about 40% more and random touches four times the bytes. Scans get their speed from
     * readahead instead.
     */
    public static final int DEFAULT_CHUNK_SIZE = 256 * 1024;

    /** Checks every component against the limits the class comment gives, and copies {@code backendOptions}. */
    public MapOptions {
        if (chunkSize < 4096 || chunkSize > (32 << 20) || Integer.bitCount(chunkSize) != 1) {
            throw new IllegalArgumentException("chunk size " + chunkSize + " is not a power of two from 4096 to " + (32 << 20));
        }
        if (fetchWorkers < 1 || fetchWorkers > 64) {
            throw new IllegalArgumentException("fetch workers " + fetchWorkers + " outside 1..64");
        }
        if (readaheadChunks < 0 || readaheadChunks > 1024) {
            throw new IllegalArgumentException("readahead " + readaheadChunks + " chunks outside 0..1024");
        }
        if (prefetchMemoryLimit < 0) {
            throw new IllegalArgumentException("prefetch memory limit " + prefetchMemoryLimit + " is negative");
        }
        if (prefetchRateLimit <= 0) {
            throw new IllegalArgumentException("prefetch rate limit " + prefetchRateLimit + " is not positive");
        }
        backendOptions = Map.copyOf(backendOptions);
        if (fetchDeadline.toMillis() < 1 || fetchDeadline.compareTo(MAX_FETCH_DEADLINE) > 0) {
            throw new IllegalArgumentException("fetch deadline " + fetchDeadline + " outside 1 ms.." + MAX_FETCH_DEADLINE);
        }
    }

    /**
     * The default deadline on a fetch: 2 minutes. Longer than any one attempt of the bundled network
     * backends takes under their default timeouts (S3: 30 s to the response's headers, then at most 10 s
     * of silence; HTTP: at most 30 s of silence) and than a 16 MiB read at 200 KB/s, so that it ends only
     * reads that are stuck, or retried on and on; short enough that a thread stopped on a dead storage
     * fails in about the time a user waits before looking for why.
     */
    public static final Duration DEFAULT_FETCH_DEADLINE = Duration.ofMinutes(2);

    /** The longest fetch deadline, a day: for a storage that may take that long, and none longer. */
    public static final Duration MAX_FETCH_DEADLINE = Duration.ofDays(1);

    /**
     * The default readahead: 1024 chunks, 256 MiB at the default chunk size. At 20 ms to first byte
     * a scan needs tens of MiB in flight to keep up with a streaming download, and a window that
     * grows on to 256 MiB lets a long scan read in the largest reads on every connection, as a pull
     * does (BENCHMARKS.md).
     */
    public static final int DEFAULT_READAHEAD_CHUNKS = 1024;

    /**
     * The default fetch workers: 16, the threads of the record-reading benchmark of BENCHMARKS.md,
     * which with 4 waited four round trips for each round of faults. A worker is a thread of the page
     * server's shared pool while it reads, and nothing while it does not.
     */
    public static final int DEFAULT_FETCH_WORKERS = 16;

    /** No limit on prefetching's memory or rate. */
    public static final long UNLIMITED = Long.MAX_VALUE;

    /**
     * Default chunk size, 16 fetch workers, default readahead, automatic pull, no prefetch limits,
     * read-only, no backend options, a fetch deadline of 2 minutes.
     */
    public static MapOptions defaults() {
        return new MapOptions(DEFAULT_CHUNK_SIZE, DEFAULT_FETCH_WORKERS, DEFAULT_READAHEAD_CHUNKS, false, true, UNLIMITED, UNLIMITED, false, Map.of(),
                DEFAULT_FETCH_DEADLINE);
    }

    /** These options with chunks of {@code chunkSize} bytes (a power of two from 4 KiB to 32 MiB). */
    public MapOptions withChunkSize(int chunkSize) {
        return new MapOptions(chunkSize, fetchWorkers, readaheadChunks, backgroundPull, autoPull, prefetchMemoryLimit, prefetchRateLimit, writable, backendOptions, fetchDeadline);
    }

    /** These options with {@code fetchWorkers} reads for faulting threads at once. */
    public MapOptions withFetchWorkers(int fetchWorkers) {
        return new MapOptions(chunkSize, fetchWorkers, readaheadChunks, backgroundPull, autoPull, prefetchMemoryLimit, prefetchRateLimit, writable, backendOptions, fetchDeadline);
    }

    /** These options with {@code readaheadChunks} chunks of readahead (0: none). */
    public MapOptions withReadahead(int readaheadChunks) {
        return new MapOptions(chunkSize, fetchWorkers, readaheadChunks, backgroundPull, autoPull, prefetchMemoryLimit, prefetchRateLimit, writable, backendOptions, fetchDeadline);
    }

    /** These options with the whole object pulled in the background from the start, or not. */
    public MapOptions withBackgroundPull(boolean backgroundPull) {
        return new MapOptions(chunkSize, fetchWorkers, readaheadChunks, backgroundPull, autoPull, prefetchMemoryLimit, prefetchRateLimit, writable, backendOptions, fetchDeadline);
    }

    /** These options with automatic pull (the page server starting a background pull by itself) on or off. */
    public MapOptions withAutoPull(boolean autoPull) {
        return new MapOptions(chunkSize, fetchWorkers, readaheadChunks, backgroundPull, autoPull, prefetchMemoryLimit, prefetchRateLimit, writable, backendOptions, fetchDeadline);
    }

    /**
     * Limits prefetching to {@code memoryBytes} of resident memory and {@code bytesPerSecond} of reads,
     * either {@link #UNLIMITED}.
     */
    public MapOptions withPrefetchLimits(long memoryBytes, long bytesPerSecond) {
        return new MapOptions(chunkSize, fetchWorkers, readaheadChunks, backgroundPull, autoPull, memoryBytes, bytesPerSecond, writable,
                backendOptions, fetchDeadline);
    }

    /** These options with the segment writable or read-only. */
    public MapOptions withWritable(boolean writable) {
        return new MapOptions(chunkSize, fetchWorkers, readaheadChunks, backgroundPull, autoPull, prefetchMemoryLimit, prefetchRateLimit, writable, backendOptions, fetchDeadline);
    }

    /** These options with {@code backendOptions} for the storage backend, as its documentation names them. */
    public MapOptions withBackendOptions(Map<String, String> backendOptions) {
        return new MapOptions(chunkSize, fetchWorkers, readaheadChunks, backgroundPull, autoPull, prefetchMemoryLimit, prefetchRateLimit, writable, backendOptions, fetchDeadline);
    }

    /** Sets the longest one fetch of a chunk may take, retries included: see {@link #fetchDeadline()}. */
    public MapOptions withFetchDeadline(Duration fetchDeadline) {
        return new MapOptions(chunkSize, fetchWorkers, readaheadChunks, backgroundPull, autoPull, prefetchMemoryLimit, prefetchRateLimit, writable,
                backendOptions, fetchDeadline);
    }

    /**
     * The backend options fit to print: every value masked, since only the backend knows which are
     * secret and it lives in the page server.
     */
    @Override
    public String toString() {
        return "MapOptions[chunkSize=" + chunkSize + ", fetchWorkers=" + fetchWorkers + ", readaheadChunks=" + readaheadChunks
                + ", backgroundPull=" + backgroundPull + ", autoPull=" + autoPull + ", prefetchMemoryLimit=" + prefetchMemoryLimit
                + ", prefetchRateLimit=" + prefetchRateLimit + ", writable=" + writable + ", backendOptions=" + backendOptions.keySet() + ", fetchDeadline=" + fetchDeadline + "]";
    }

    /**
     * The request that maps {@code uri} with these options, as this process's backends resolved them,
     * and with this process's code path; {@code expectedVersion} is empty for a first mapping, and
     * {@code assumed} NONE unless a trace is replayed from the start; {@code created} for an object
     * this process just created as zeros at {@code expectedVersion}.
     */
    dev.anymap.protocol.Message.Map request(long requestId, java.net.URI uri, String expectedVersion,
                                            dev.anymap.protocol.Message.Assumed assumed, boolean created) {
        return new dev.anymap.protocol.Message.Map(requestId, uri.toString(), backendOptions, chunkSize, fetchWorkers,
                new dev.anymap.protocol.Message.Prefetching(readaheadChunks, backgroundPull, autoPull, prefetchMemoryLimit, prefetchRateLimit),
                expectedVersion, assumed, fetchDeadline.toMillis(), LocalBackends.get().codePath(),
                new dev.anymap.protocol.Message.Writing(writable, created, ""));
    }
}
