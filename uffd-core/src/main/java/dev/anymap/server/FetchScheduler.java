package dev.anymap.server;

import dev.anymap.linux.Userfaultfd;
import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.jfr.FlightRecorder;

/**
 * Decides what of a served object is read from storage, when, and by which worker: demand fetches
 * for chunks that threads wait on, with retries, and prefetches (readahead, pulls, replayed traces)
 * behind them. Demand and prefetch have workers of their own; a fault on a chunk whose prefetch has
 * not started moves it to the demand workers, and one on a chunk that a read under way will reach
 * only after more than {@link #MIN_EXTENT_BYTES} gets a read of its own, the chunk then read twice.
 * So prefetching never holds a fault up by more than about a MiB of its reads.
 *
 * <p>Adjacent chunks go in one ranged read, streamed and installed chunk by chunk as it arrives.
 * Every fetch is on behalf of a region, whose counters it adds to and whose limits it keeps.
 */
final class FetchScheduler {
    private static final System.Logger LOG = System.getLogger(FetchScheduler.class.getName());
    private static final int FETCH_ATTEMPTS = 3;
    private static final long FIRST_RETRY_MILLIS = 50;
    /**
     * The most one prefetch reads from the backend at once. Measured on s3proxy, a request costs about
     * as much as 1 MiB of its body, so reads grow to 16 MiB; a thread that faults on a chunk of one
     * waits for the read to reach it, which bounds them there.
     */
    static final long MAX_EXTENT_BYTES = 16 << 20;
    /** The least a prefetch of a range reads at once, where the range holds that much. */
    static final long MIN_EXTENT_BYTES = 1 << 20;
    /**
     * The most prefetch reads in flight. A replayed trace is mostly small runs of chunks scattered
     * over the object, whose reads are bound by round trips, not bandwidth: at 20 ms, 250 of them
     * arrive in two round trips at 128 reads in flight, four at 64. Measured on the sandbox boot of
     * BENCHMARKS.md at 20 ms, 64 against 32 cut its replay from 314 ms to 287 (medians of nine
     * boots), and 128 against 64 from 199 and 222 ms to 147 and 188 (two runs of each).
     */
    private static final int PREFETCH_WORKERS = 128;
    /**
     * The prefetch reads in flight in extents of the largest size: a pull or a readahead at full size
     * streams on this many connections, as a download on parallel ranged GETs, so that each stream
     * runs fast enough that a thread waiting for a chunk of one waits little.
     */
    static final int BULK_READS = 8;

    /** The region a fetch is for: its counters, its limits on prefetching, its automatic pull. */
    interface Requester {
        long id();

        /** The process the region is of, whose limits on fetches and prefetch memory its reads keep. */
        PeerBudget peer();

        RegionCounters counters();

        /** Reserves prefetch memory for a chunk; false if the region's limit leaves no room. */
        boolean reservePrefetch(long bytes);

        /** Gives back prefetch memory reserved for a chunk that was not fetched after all. */
        void releasePrefetch(long bytes);

        /** Waits until the region's prefetch rate allows {@code bytes} more. */
        void pacePrefetch(long bytes) throws InterruptedException;

        /** The most chunks one prefetch read of this region takes: a rate-limited one reads in smaller steps. */
        long maxExtentBytes();

        /** A demand fetch started; returns a token for {@link #demandFinished}. */
        void demandStarted(long now);

        void demandFinished(long now, long bytes, long latencyNanos);

        /** A prefetch read of {@code bytes} took {@code nanos}. */
        void prefetched(long bytes, long nanos);
    }

    /**
     * Adjacent chunks to fetch with one read, for {@code requester}; {@code trigger} is held back, or
     * -1; {@code next} is the chunk the read brings next.
     */
    record Extent(int first, int count, int trigger, Requester requester, AtomicBoolean started, AtomicInteger next) {
        Extent(int first, int count, int trigger, Requester requester, boolean started) {
            this(first, count, trigger, requester, new AtomicBoolean(started), new AtomicInteger(first));
        }

        static Extent single(int chunk, Requester requester) {
            return new Extent(chunk, 1, -1, requester, true);
        }

        boolean start() {
            return started.compareAndSet(false, true);
        }

        int end() {
            return first + count;
        }
    }

    private final ServedObject object;
    private final ChunkTable table;
    private final ChunkInstaller installer;
    private final int chunkSize;
    private final long size;
    private final String printableUri;
    private final StorageSpeeds.Speed storageSpeed;
    private final Queue<Extent> demand = new ConcurrentLinkedQueue<>();
    private final Queue<Extent> prefetch = new ConcurrentLinkedQueue<>();
    /** Chunks that prefetch reads may have in flight at once: a few large reads, or many small ones. */
    private final Semaphore prefetchInFlight;
    /** The extent that brings each chunk claimed for one, queued or being read, until that read ends. */
    private final Map<Integer, Extent> queuedExtents = new ConcurrentHashMap<>();
    private final RegionWorkers demandWorkers;
    private final RegionWorkers prefetchWorkers;
    /** Demand workers' staging chunks, kept between their turns: a turn is often one fetch. */
    private final Queue<MemorySegment> spareStaging = new ConcurrentLinkedQueue<>();
    private final Arena stagingArena = Arena.ofShared();
    private final FetchDeadlines deadlines;
    private volatile boolean stopping;
    /** An Error from the backend was logged with its stack: one is, for each object; the rest fail their chunks alone. */
    private final AtomicBoolean backendErrorLogged = new AtomicBoolean();

    FetchScheduler(ServedObject object, ChunkInstaller installer, StorageSpeeds.Speed storageSpeed, int fetchWorkers,
                   Duration fetchDeadline) {
        this.object = object;
        this.table = object.table();
        this.installer = installer;
        this.chunkSize = table.chunkSize();
        this.size = object.size();
        this.printableUri = object.printableUri();
        this.storageSpeed = storageSpeed;
        this.prefetchInFlight = new Semaphore((int) (BULK_READS * Math.max(1, MAX_EXTENT_BYTES / chunkSize)), true);
        this.demandWorkers = new RegionWorkers(fetchWorkers, this::demandLoop, () -> !demand.isEmpty());
        this.prefetchWorkers = new RegionWorkers(PREFETCH_WORKERS, this::prefetchLoop, () -> !prefetch.isEmpty());
        this.deadlines = new FetchDeadlines(fetchDeadline, printableUri, object::closeBackend);
    }

    /** A thread waits on this EMPTY or FAILED chunk, now WANTED: fill it from the backend's view on the spot, or queue it. */
    void fetchForFault(int chunk, Requester requester, Userfaultfd.FillRequest fill) {
        if (!fillFromView(chunk, requester, fill)) {
            queueDemand(Extent.single(chunk, requester));
        }
    }

    /**
     * A thread now waits on a chunk claimed for a prefetch: takes the prefetch over if it has not
     * started, or reads the chunk on its own if the read under way is far from it.
     *
     * @return whether a fetch of its own was queued
     */
    boolean wantedInFlight(int chunk, Requester requester) {
        Extent queued = queuedExtents.get(chunk);
        if (queued != null && queued.start()) {
            takeOver(queued, chunk, requester);
            return true;
        }
        if (queued != null && (long) (chunk - queued.next().get()) * chunkSize > MIN_EXTENT_BYTES) {
            queueDemand(Extent.single(chunk, requester));
            return true;
        }
        return false;
    }

    /**
     * Moves a queued prefetch whose chunk a thread now waits for to the demand workers: from that
     * chunk to the extent's end in one read, which brings the wanted chunk first. The chunks before it
     * go back to the prefetch queue as an extent of their own.
     */
    private void takeOver(Extent queued, int wanted, Requester requester) {
        if (wanted > queued.first()) {
            int trigger = queued.trigger() < wanted ? queued.trigger() : -1;
            queuePrefetch(track(new Extent(queued.first(), wanted - queued.first(), trigger, queued.requester(), false)));
        }
        queueDemand(track(new Extent(wanted, queued.end() - wanted, -1, requester, true)));
    }

    /** Notes the extent as the one that brings each of its chunks, in place of any before it. */
    private Extent track(Extent extent) {
        for (int c = extent.first(); c < extent.end(); c++) {
            queuedExtents.put(c, extent);
        }
        return extent;
    }

    /**
     * Queues the EMPTY chunks of {@code [from, to]} for the prefetch workers, adjacent ones in one
     * extent; {@code trigger} is held back when fetched, or -1. The extents are sized to spread
     * {@code span} chunks over the bulk reads: the range itself, or the window of a sequential
     * stream that the range extends, whose reads stay as large as its first.
     */
    void prefetch(int from, int to, int trigger, int span, Requester requester) {
        int perExtent = extentChunks(span, requester);
        int first = -1;
        for (int chunk = from; chunk <= to + 1; chunk++) {
            boolean claim = chunk <= to && claimForPrefetch(chunk, requester);
            if (claim && first < 0) {
                first = chunk;
            }
            if (first >= 0 && (!claim || chunk - first + 1 == perExtent)) {
                int count = claim ? chunk - first + 1 : chunk - first;
                int held = trigger >= first && trigger < first + count ? trigger : -1;
                queuePrefetch(track(new Extent(first, count, held, requester, false)));
                first = -1;
            }
        }
    }

    /**
     * How many chunks of a prefetch of {@code chunks} go in one read: the range spread over the bulk
     * reads there may be in flight, as a download spreads an object over parallel ranged GETs, in reads
     * of at least 1 MiB, which cost little more than a request, and at most the requester's largest.
     */
    private int extentChunks(int chunks, Requester requester) {
        int atLeast = (int) Math.max(1, MIN_EXTENT_BYTES / chunkSize);
        int atMost = (int) Math.max(1, requester.maxExtentBytes() / chunkSize);
        return Math.min(atMost, Math.max(atLeast, (chunks + BULK_READS - 1) / BULK_READS));
    }

    /** Claims an EMPTY chunk for prefetching, if the requester's prefetch memory leaves room for it. */
    private boolean claimForPrefetch(int chunk, Requester requester) {
        if (table.state(chunk) != ChunkTable.EMPTY) {
            return false;
        }
        long bytes = table.fillLength(chunk, 1);
        PeerBudget peer = requester.peer();
        if (!requester.reservePrefetch(bytes)) {
            return false;
        }
        if (!peer.reservePrefetch(bytes)) {
            requester.releasePrefetch(bytes);
            return false;
        }
        if (table.claim(chunk)) {
            object.fetchingAhead(chunk, peer);
            return true;
        }
        peer.releasePrefetch(bytes);
        requester.releasePrefetch(bytes);
        return false;
    }

    /** Puts back a read whose process now has a turn for it; one of a scheduler that stopped gives the turn up. */
    private void requeue(Extent extent, java.util.Queue<Extent> queue, RegionWorkers workers) {
        queue.offer(extent);
        if (stopping && queue.remove(extent)) {
            extent.requester().peer().fetchDropped(extent);
            return;
        }
        workers.wake();
    }

    private void queuePrefetch(Extent extent) {
        prefetch.offer(extent);
        prefetchWorkers.wake();
    }

    private void queueDemand(Extent extent) {
        demand.offer(extent);
        demandWorkers.wake();
    }

    /** One demand worker: fetches the queued extents until none is left. */
    private void demandLoop() throws InterruptedException {
        MemorySegment staging = spareStaging.poll();
        if (staging == null) {
            staging = stagingArena.allocate(chunkSize, RegionServer.PAGE);
        }
        try (Arena arena = Arena.ofConfined()) {
            ChunkCutter cutter = new ChunkCutter(staging, chunkSize, size);
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            // A worker whose read passed its deadline gave its place up: it leaves once that read is settled.
            for (Extent extent; !stopping && demandWorkers.isWorking() && (extent = demand.poll()) != null; ) {
                PeerBudget peer = extent.requester().peer();
                Extent queued = extent;
                if (!peer.startFetch(extent, false, () -> requeue(queued, demand, demandWorkers))) {
                    continue; // its process has as many reads out as it may: requeued when one of them ends
                }
                try {
                    fetchWanted(extent, cutter, fill);
                } finally {
                    peer.fetchEnded();
                }
            }
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.ERROR, "fetch worker of " + printableUri + " stopped", e);
        } finally {
            spareStaging.add(staging);
        }
    }

    /**
     * Fetches chunks that a thread waits for, with retries; a chunk that still fails is poisoned.
     * Several adjacent chunks are read at once, each installed as it arrives; if that read fails,
     * the chunks it did not bring are read one by one, so that one bad chunk fails alone and not
     * its neighbours.
     */
    private void fetchWanted(Extent extent, ChunkCutter cutter, Userfaultfd.FillRequest fill) throws InterruptedException {
        String failEvery = object.failEveryFetch();
        if (failEvery != null) {
            failAll(extent.first(), extent.end(), failEvery, extent.requester(), fill);
            return;
        }
        long started = System.nanoTime();
        extent.requester().demandStarted(started);
        Exception failure = fetch(extent, cutter, extent.count() > 1 ? 1 : FETCH_ATTEMPTS, false, fill);
        long finished = System.nanoTime();
        extent.requester().demandFinished(finished, cutter.handedOnSince(extent.first()), finished - started);
        if (failure == null || failure instanceof FetchDeadlines.PassedException) {
            return; // one past its deadline was settled when it passed
        }
        if (extent.count() > 1 && !(failure instanceof ObjectChangedException)) {
            for (int c = cutter.nextChunk(); c < extent.end(); c++) {
                fetchWanted(Extent.single(c, extent.requester()), cutter, fill);
            }
            return;
        }
        long offset = cutter.resumeOffset();
        failAll(cutter.nextChunk(), extent.end(), describe(offset,
                Math.min(table.fillLength(cutter.nextChunk(), extent.end() - cutter.nextChunk()), size - offset), failure),
                extent.requester(), fill);
    }

    /**
     * Streams the extent's chunks from the backend, with up to {@code attempts} attempts, each from
     * the first chunk not yet in; each chunk is counted and then installed (or, for the trigger of a
     * readahead, held) as soon as it is whole. Returns the failure that ended the attempts, or null;
     * the chunks from {@code cutter.nextChunk()} on did not arrive.
     */
    private Exception fetch(Extent extent, ChunkCutter cutter, int attempts, boolean prefetch, Userfaultfd.FillRequest fill)
            throws InterruptedException {
        int end = extent.end();
        long dataEnd = Math.min((long) end * chunkSize, size);
        long started = System.nanoTime();
        RegionCounters counters = extent.requester().counters();
        // Bytes after a read's first chunk, which came a round trip after the request: -1 until that chunk.
        long[] streamed = {-1};
        FetchDeadlines.Watch watch = deadlines.watch(extent.first(), end, prefetch ? prefetchWorkers : demandWorkers,
                (from, to, reason) -> settlePassed(extent, from, to, reason, prefetch));
        cutter.start(extent.first(), (chunk, bytes) -> watch.deliver(chunk, () -> {
            long chunkBytes = Math.min(chunkSize, size - (long) chunk * chunkSize);
            counters.fetched(1, chunkBytes);
            if (streamed[0] >= 0) {
                streamed[0] += chunkBytes;
            } else if (extent.count() > 1) {
                storageSpeed.streamStarted(System.nanoTime());
                streamed[0] = 0;
            }
            if (chunk == end - 1) {
                // Recorded before the install wakes the faulting threads, so that they see it in stats.
                counters.read(System.nanoTime() - started);
            }
            object.fetchedFor(chunk, extent.requester().peer());
            if (chunk != extent.trigger() || !installer.hold(chunk, bytes.address())) {
                installer.install(chunk, bytes.address(), fill);
            }
            extent.next().set(chunk + 1);
            queuedExtents.remove(chunk, extent);
        }));
        // Not even made while no recorder runs: a JFR event's class took 60 ms to set up, on a new server's first fetch.
        FetchEvent event = FlightRecorder.isInitialized() ? new FetchEvent() : null;
        if (event != null) {
            event.begin();
        }
        Exception failure = null;
        boolean passed;
        try {
            for (int attempt = 0; attempt < attempts && !stopping && !watch.passed() && cutter.nextChunk() < end; attempt++) {
                if (attempt > 0) {
                    Thread.sleep(FIRST_RETRY_MILLIS << (2 * (attempt - 1)));
                }
                if (deadlines.gaveUp()) {
                    failure = new IOException(deadlines.gaveUpMessage());
                    break;
                }
                StorageBackend backend = object.backend();
                if (backend == null) {
                    failure = new BackendClosedException(object.uri());
                    break;
                }
                try {
                    backend.stream(cutter.resumeOffset(), dataEnd - cutter.resumeOffset(), cutter);
                    failure = null;
                } catch (OutOfRangeException | ObjectChangedException | BackendClosedException permanent) {
                    failure = permanent;
                    break;
                } catch (IOException | RuntimeException e) {
                    failure = e;
                } catch (Error e) {
                    // Not retried: a class missing from the backend's plugin, or memory refused, is no storage hiccup.
                    if (!backendErrorLogged.getAndSet(true)) {
                        LOG.log(System.Logger.Level.ERROR, "the backend of " + printableUri + " failed; its later failures of this kind"
                                + " fail their chunks without a word here (the region's stats name the last)", e);
                    }
                    failure = new IOException("its backend failed with " + e, e);
                    break;
                }
            }
        } catch (InterruptedException e) {
            if (stopping || !watch.passed()) {
                throw e;
            }
        } finally {
            passed = watch.end();
        }
        if (passed) {
            failure = new FetchDeadlines.PassedException(deadlines.reason());
        }
        if (streamed[0] >= 0) {
            storageSpeed.streamEnded(System.nanoTime(), streamed[0]);
        }
        if (failure == null && cutter.nextChunk() < end) {
            failure = stopping ? new BackendClosedException(object.uri())
                    : new IOException("the backend of " + printableUri + " streamed fewer bytes than asked for");
        }
        for (int c = cutter.nextChunk(); c < end; c++) {
            queuedExtents.remove(c, extent);
        }
        commit(event, extent, cutter.handedOnSince(extent.first()), prefetch, failure);
        return failure;
    }

    private void failAll(int from, int to, String description, Requester requester, Userfaultfd.FillRequest fill) {
        for (int c = from; c < to; c++) {
            installer.fail(c, description, requester.counters(), fill);
        }
    }

    /** One prefetch worker: reads the queued extents until none is left. */
    private void prefetchLoop() throws InterruptedException {
        try (Arena arena = Arena.ofConfined()) {
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            for (Extent extent; !stopping && (extent = prefetch.poll()) != null; ) {
                if (extent.started().get()) {
                    // Taken over by the demand workers. It may have waited its turn with its process and been handed one
                    // since: that turn goes to the process's next read, or it would be held for good.
                    extent.requester().peer().fetchDropped(extent);
                    continue;
                }
                PeerBudget peer = extent.requester().peer();
                Extent queued = extent;
                if (!peer.startFetch(extent, true, () -> requeue(queued, prefetch, prefetchWorkers))) {
                    continue; // queued with its process, which a fault may still take it over from
                }
                if (!extent.start()) {
                    peer.fetchEnded();
                    continue;
                }
                prefetchInFlight.acquire(extent.count());
                boolean passed = false;
                // Staged within the budget, not per worker: the workers are many, and a chunk may be 32 MiB.
                try (Arena staging = Arena.ofConfined()) {
                    passed = prefetchExtent(extent, staging, fill);
                } finally {
                    peer.fetchEnded();
                    if (!passed) {
                        prefetchInFlight.release(extent.count()); // else given back when it passed
                    }
                }
                if (passed) {
                    return; // its place among the workers went to another
                }
            }
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.ERROR, "prefetch worker of " + printableUri + " stopped", e);
        }
    }

    /** @return whether the read passed its deadline, which settled its chunks */
    private boolean prefetchExtent(Extent extent, Arena staging, Userfaultfd.FillRequest fill) throws InterruptedException {
        long offset = table.offset(extent.first());
        long fillLength = table.fillLength(extent.first(), extent.count());
        long dataLength = Math.min(fillLength, size - offset);
        long view = object.viewAddress();
        if (view != 0 && dataLength == fillLength) {
            extent.requester().counters().fetched(extent.count(), dataLength);
            extent.requester().counters().read(0);
            for (int c = extent.first(); c < extent.end(); c++) {
                object.fetchedFor(c, extent.requester().peer());
                installer.install(c, view + table.offset(c), fill);
                queuedExtents.remove(c, extent);
            }
            return false;
        }
        extent.requester().pacePrefetch(dataLength);
        long started = System.nanoTime();
        ChunkCutter cutter = new ChunkCutter(staging.allocate(chunkSize, RegionServer.PAGE), chunkSize, size);
        // One attempt: a chunk that a thread comes to want is fetched again, with retries, on demand.
        Exception failure = fetch(extent, cutter, 1, true, fill);
        if (failure instanceof FetchDeadlines.PassedException) {
            return true;
        }
        if (failure != null) {
            for (int c = cutter.nextChunk(); c < extent.end(); c++) {
                if (table.unclaim(c)) {
                    object.notAhead(c);
                    extent.requester().releasePrefetch(table.fillLength(c, 1));
                } else {
                    queueDemand(Extent.single(c, extent.requester()));
                }
            }
        } else {
            extent.requester().prefetched(dataLength, System.nanoTime() - started);
        }
        return false;
    }

    /**
     * Settles the chunks {@code [from, to)} of an extent whose read passed its deadline, on the
     * deadlines' timer: a chunk that no thread waits for goes back to EMPTY, to be fetched again
     * when wanted; one that a thread waits for fails if the read was its own (a fault's), and is
     * fetched on demand if the read was a prefetch's, which never poisons a chunk.
     */
    private void settlePassed(Extent extent, int from, int to, String reason, boolean prefetch) {
        if (prefetch) {
            prefetchInFlight.release(extent.count());
        }
        try (Arena arena = Arena.ofConfined()) {
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            for (int c = from; c < to; c++) {
                queuedExtents.remove(c, extent);
                if (table.unclaim(c)) {
                    object.notAhead(c);
                    extent.requester().releasePrefetch(table.fillLength(c, 1));
                } else if (table.state(c) == ChunkTable.WANTED) {
                    if (prefetch) {
                        queueDemand(Extent.single(c, extent.requester()));
                    } else {
                        long offset = table.offset(c);
                        installer.fail(c, "reading " + Math.min(chunkSize, size - offset) + " bytes at offset " + offset
                                + " of " + printableUri + " failed: " + reason, extent.requester().counters(), fill);
                    }
                }
            }
        }
    }

    private void commit(FetchEvent event, Extent extent, long bytes, boolean prefetch, Exception failure) {
        if (event == null) {
            return;
        }
        event.end();
        if (event.shouldCommit()) {
            event.region = extent.requester().id();
            event.uri = printableUri;
            event.backend = object.backendName();
            event.chunk = extent.first();
            event.chunks = extent.count();
            event.bytes = bytes;
            event.prefetch = prefetch;
            event.failure = failure == null ? "" : failure.getClass().getSimpleName() + ": " + failure.getMessage();
            event.commit();
        }
    }

    /**
     * Fills a wanted chunk straight from the backend's {@linkplain StorageBackend#view() view}, on
     * the fault loop: a copy from memory that never waits on storage, cheaper than the handoff to a
     * worker for a small chunk.
     *
     * @return false if the chunk needs a worker: there is no view, the chunk holds the object's end
     *     (whose page is partly past it), or every fetch of the object fails
     */
    private boolean fillFromView(int chunk, Requester requester, Userfaultfd.FillRequest fill) {
        long offset = table.offset(chunk);
        long length = Math.min(chunkSize, size - offset);
        long view = object.viewAddress();
        if (view == 0 || object.failEveryFetch() != null || length != table.fillLength(chunk, 1)) {
            return false;
        }
        requester.counters().fetched(1, length);
        requester.counters().read(0);
        object.fetchedFor(chunk, requester.peer());
        installer.install(chunk, view + offset, fill);
        return true;
    }

    private String describe(long offset, long length, Exception failure) {
        String described = "reading " + length + " bytes at offset " + offset + " of " + printableUri + " failed: "
                + failure.getClass().getSimpleName() + ": " + failure.getMessage();
        return failure instanceof ObjectChangedException
                ? described + " (the object changed in storage after it was mapped, and a chunk not fetched yet, or dropped from the"
                        + " page cache to keep its memory budget, cannot be read at the mapped version any more; map it again)"
                : described;
    }

    /** Whether too many reads were stuck past their deadline, and every later fetch fails. */
    boolean gaveUp() {
        return deadlines.gaveUp();
    }

    /** Stops the workers; {@link #awaitStopped} waits for them. */
    void stop() {
        stopping = true;
        // Before the memory is freed: a settle under way ends first, and none starts after.
        deadlines.close();
        demandWorkers.stop();
        prefetchWorkers.stop();
        // Reads queued with their process, or handed a turn, are given up: the turn goes to its other reads.
        for (Extent extent; (extent = demand.poll()) != null || (extent = prefetch.poll()) != null; ) {
            extent.requester().peer().fetchDropped(extent);
        }
    }

    boolean awaitStopped(long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        return demandWorkers.awaitStopped(deadline - System.nanoTime()) & prefetchWorkers.awaitStopped(deadline - System.nanoTime());
    }

    /** Frees the staging memory, once no read past its deadline may still write into it. */
    void free() {
        deadlines.whenNoneOut(stagingArena::close);
    }
}
