package dev.anymap.server;

import dev.anymap.protocol.Message;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

/** The counters of one region, written by its fault loop and fetch workers, read for stats. */
final class RegionCounters {
    private final LongAdder faults = new LongAdder();
    private final LongAdder chunksFetched = new LongAdder();
    private final LongAdder bytesFetched = new LongAdder();
    private final LongAdder fetchNanosTotal = new LongAdder();
    private final LongAccumulator fetchNanosMax = new LongAccumulator(Math::max, 0);
    private final AtomicLong failures = new AtomicLong();
    private final LongAdder cacheHits = new LongAdder();
    private final LatencyHistogram latencies = new LatencyHistogram();
    private volatile String lastFailure = "";

    void fault() {
        faults.increment();
    }

    /** Chunks fetched, from the backend or its view. */
    void fetched(int chunks, long bytes) {
        chunksFetched.add(chunks);
        bytesFetched.add(bytes);
    }

    /** One read from the backend, from its request to its last byte. */
    void read(long nanos) {
        fetchNanosTotal.add(nanos);
        fetchNanosMax.accumulate(nanos);
        latencies.record(nanos);
    }

    /** A fault found its chunk in the cache, or on its way there for another region: no fetch of its own. */
    void cacheHit() {
        cacheHits.increment();
    }

    /** The region was attached with {@code chunks} of its object in the cache already, which it reads with no fetch. */
    void cachedAtAttach(long chunks) {
        cacheHits.add(chunks);
    }

    void failed(String description) {
        // Named first: a snapshot taken between the two, which reads the count first, names every failure it counts.
        lastFailure = description;
        failures.incrementAndGet();
    }

    /**
     * @param cachedBytes the bytes of the region's object in the cache now
     * @param evictions the chunks of its object dropped from the cache so far
     */
    Message.Stats snapshot(long requestId, long cachedBytes, long evictions) {
        return new Message.Stats(requestId, faults.sum(), chunksFetched.sum(), bytesFetched.sum(), fetchNanosTotal.sum(),
                fetchNanosMax.get(), latencies.percentile(0.5), latencies.percentile(0.9), latencies.percentile(0.99),
                failures.get(), lastFailure, cacheHits.sum(), cachedBytes, evictions);
    }
}
