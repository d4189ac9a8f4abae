package dev.anymap.server;

import dev.anymap.linux.Libc;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.MessageCodec;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import jdk.jfr.FlightRecorder;

/**
 * One client's mapping of a served object: the faults of its threads, the chunks they wait on,
 * what they accessed in which order, and the prefetching their access asks for. Its memory maps
 * the object's memory in the shared page cache; a chunk present there is mapped by the kernel
 * with no fault at all, so the faults this region serves are for chunks not in the cache.
 */
final class RegionServer implements FetchScheduler.Requester, AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RegionServer.class.getName());
    static final int PAGE = Userfaultfd.PAGE;
    static final int MIN_CHUNK = PAGE;
    static final int MAX_CHUNK = 32 << 20;
    /** A prefetch limit that does not limit: the value {@code MapOptions.UNLIMITED} sends. */
    private static final long UNLIMITED = Long.MAX_VALUE;
    private static final VarHandle WAITING = MethodHandles.arrayElementVarHandle(byte[].class);
    /** In {@link #waiting}: a thread of the region waits on the chunk. */
    private static final byte WAITS = 1;
    /** In {@link #waiting}: the chunk is a replayed trace's, to be copied into a guest as soon as it arrives. */
    private static final byte AHEAD = 2;
    /**
     * The most a sequential stream runs ahead, whatever the chunk size: what a stream that stops has
     * fetched beyond what it read. Measured on a 256 MiB S3 scan, 256 MiB against 64 took it from
     * 0.55 to 0.81 of a download's speed at 0 ms round trip, and from 0.51 to 0.85 at 20 ms.
     */
    private static final long MAX_WINDOW_BYTES = 256 << 20;
    /** The most of the cache's budget that one stream's window may take, so that readahead never drops what it fetched before it is read. */
    private static final int WINDOWS_PER_CACHE = 4;

    private final long id;
    private final ServedObject object;
    private final ChunkTable table;
    private final FetchScheduler fetches;
    private final ChunkInstaller installer;
    private final int chunkSize;
    private final long mappedLength;
    /**
     * Per chunk, whether a thread of this region waits on it ({@link #WAITS}) or a guest is to have it
     * ahead of its touch ({@link #AHEAD}): the installer brings chunks, or poisons them, only to regions that wait.
     */
    private final byte[] waiting;
    /** Another process's memory, filled by copying: chunks of a replayed trace are copied in as they arrive. */
    private final boolean guest;
    private final SequentialStreams streams;
    private final boolean backgroundPull;
    private final DensePullTrigger densePull;
    private final AtomicBoolean densePullCheckPending = new AtomicBoolean();
    private final long prefetchMemoryLimit;
    private final AtomicLong prefetchReserved = new AtomicLong();
    private final PrefetchRate prefetchRate;
    private final long maxExtentBytes;
    private final RegionCounters counters = new RegionCounters();
    private final AccessOrder accessOrder;
    private final PeerBudget peer;

    private volatile boolean stopping;
    /** Where the chunks reach the region's threads; null until attached. */
    private volatile RegionMemory memory;
    /** For a guest: the object's local file, copied from directly; null to read through the cache. */
    private LocalFileView localFile;

    /**
     * @param object the object this region maps, acquired for it: the region releases it on close
     * @param prefetching readahead, background and automatic pulls, and the limits on prefetching
     * @param cacheLimit the page cache's budget, which bounds readahead and pulls
     */
    RegionServer(long id, ServedObject object, StorageSpeeds.Speed storageSpeed, Message.Prefetching prefetching, long cacheLimit,
                 boolean guest, PeerBudget peer) {
        this.id = id;
        this.peer = peer;
        this.guest = guest;
        this.object = object;
        this.table = object.table();
        this.fetches = object.fetches();
        this.installer = object.installer();
        this.chunkSize = table.chunkSize();
        this.mappedLength = mappedLength(object.size());
        this.waiting = new byte[table.chunks()];
        long size = object.size();
        boolean failing = object.failEveryFetch() != null;
        boolean inMemory = object.viewAddress() != 0;
        // Under a rate limit a read is paced as a whole: reads of an eighth of a second's budget keep it smooth.
        this.maxExtentBytes = prefetching.rateLimit() == UNLIMITED ? FetchScheduler.MAX_EXTENT_BYTES
                : Math.min(FetchScheduler.MAX_EXTENT_BYTES, prefetching.rateLimit() / 8);
        int readaheadChunks = prefetching.readaheadChunks();
        long windowBytes = Math.min(MAX_WINDOW_BYTES, cacheLimit / WINDOWS_PER_CACHE);
        int window = (int) Math.min(readaheadChunks, Math.max(1, windowBytes / chunkSize));
        // A backend that holds the bytes in memory is filled on the fault loop as fast as a prefetch
        // could; measured, readahead there only took CPU from the scan (BENCHMARKS.md).
        this.streams = readaheadChunks > 0 && !failing && !inMemory ? new SequentialStreams(window, table.chunks()) : null;
        this.backgroundPull = prefetching.backgroundPull() && !failing;
        this.prefetchMemoryLimit = prefetching.memoryLimit();
        this.prefetchRate = prefetching.rateLimit() == UNLIMITED ? null : new PrefetchRate(prefetching.rateLimit());
        // A backend in memory needs no pull: a fault there costs what a prefetch would.
        boolean pullable = size > 0 && size <= prefetchMemoryLimit && size <= PhysicalMemory.total() / 4 && size <= cacheLimit / 2;
        this.densePull = prefetching.autoPull() && !backgroundPull && !failing && !inMemory && pullable
                ? new DensePullTrigger(size, FetchScheduler.BULK_READS, storageSpeed) : null;
        this.accessOrder = new AccessOrder(table.chunks());
    }

    /** The length a client maps for an object of {@code size} bytes: whole pages. */
    static long mappedLength(long size) {
        return (size + PAGE - 1) & -PAGE;
    }

    @Override
    public long id() {
        return id;
    }

    ServedObject object() {
        return object;
    }

    @Override
    public PeerBudget peer() {
        return peer;
    }

    @Override
    public RegionCounters counters() {
        return counters;
    }

    Message.Stats stats(long requestId) {
        return counters.snapshot(requestId, table.presentBytes(), installer.evictions());
    }

    /** This region in a server status, with its URI and last failure cut to fit. */
    Message.RegionStatus status(long clientPid) {
        Message.Stats stats = stats(0);
        Message.Stats cut = stats.withLastFailure(MessageCodec.truncate(stats.lastFailure(), MessageCodec.MAX_STATUS_URI));
        return new Message.RegionStatus(clientPid, id, MessageCodec.truncate(object.printableUri(), MessageCodec.MAX_STATUS_URI),
                MessageCodec.truncate(object.version(), MessageCodec.MAX_STATUS_URI), object.size(), chunkSize, stats.cachedBytes(), cut,
                false, object.writable(), memory instanceof GuestCopy);
    }

    /**
     * Starts serving the faults of {@code [address, address + length)}, the client's mapping of the
     * object's memory, through {@code userfaultfd}, which this region then owns, to the threads of
     * process {@code clientPid}. Wakes every thread already waiting there: after a page server
     * restart they wait on faults that the dead server had read and will never answer.
     */
    synchronized void attach(int userfaultfd, long address, long length, long clientPid) throws IOException {
        if (memory != null) {
            Libc.close(userfaultfd);
            throw new IllegalStateException("region " + id + " is already attached");
        }
        if (length != mappedLength || (address & (PAGE - 1)) != 0 || address == 0) {
            Libc.close(userfaultfd);
            throw new IllegalArgumentException("attach of " + length + " bytes at 0x" + Long.toHexString(address)
                    + " does not match region " + id + " (" + mappedLength + " bytes, page aligned)");
        }
        SharedMapping mapping;
        try {
            mapping = new SharedMapping(this, userfaultfd, address, clientPid);
        } catch (IOException | RuntimeException e) {
            Libc.close(userfaultfd);
            throw e;
        }
        started(mapping);
        Userfaultfd.wake(userfaultfd, address, mappedLength);
    }

    /**
     * Starts serving the faults of another process's memory, {@code ranges} of it, by copying into
     * it through {@code userfaultfd}, which this region then owns. Wakes every thread already
     * waiting there, as {@link #attach} does.
     *
     * @param removedBefore what the guest gave back before a takeover, which reads as zeros
     * @param removals told what the guest gives back from now on
     */
    synchronized void attachGuest(int userfaultfd, List<Message.GuestRange> ranges, Message.GuestRemovals removedBefore,
                                  GuestCopy.Removals removals) throws IOException {
        if (memory != null) {
            Libc.close(userfaultfd);
            throw new IllegalStateException("region " + id + " is already attached");
        }
        GuestCopy copy;
        try {
            copy = new GuestCopy(this, userfaultfd, ranges, localFile, removedBefore, removals);
        } catch (IOException | RuntimeException e) {
            Libc.close(userfaultfd);
            throw e;
        }
        started(copy);
        for (Message.GuestRange range : ranges) {
            Userfaultfd.wake(userfaultfd, range.address(), range.size());
        }
    }

    /** What the guest of this region gave back so far; none for a region that is not a guest's. */
    Message.GuestRemovals removals() {
        return memory instanceof GuestCopy guest ? guest.removals() : Message.GuestRemovals.NONE;
    }

    /** Has a guest's faults served from the object's local file, with no fetch: before the attach, which then owns it. */
    synchronized void readFrom(LocalFileView file) {
        localFile = file;
    }

    /** A fault at {@code offset} that the region serves itself, with no fetch: counted, and traced; returns its chunk. */
    int touched(long offset) {
        counters.fault();
        int chunk = (int) (offset / chunkSize);
        accessOrder.touched(chunk);
        return chunk;
    }

    /** From here on {@code attached} owns the userfaultfd, which the region's close closes, even if this fails. */
    private void started(RegionMemory attached) {
        memory = attached;
        object.attach(this);
        bringPresentAhead();
        counters.cachedAtAttach(Arrays.stream(table.presentChunks()).count());
        if (backgroundPull) {
            // Every chunk, in order; faults still go first, to the demand workers. Not an access: not traced.
            prefetch(0, table.chunks() - 1, -1, table.chunks());
        }
    }

    /**
     * The chunks in the order they were first faulted on; with {@code resident}, the chunks in the
     * cache now, in order of number. Chunks brought ahead (readahead, pull, replay) are in the trace
     * only once a fault reaches them: a guess that a stream would read them would make a replay
     * fetch what no one read, and a picture of the region call them touched.
     */
    Message.Trace trace(long requestId, int from, boolean resident) {
        if (!resident) {
            return accessOrder.slice(requestId, from, MessageCodec.MAX_TRACE_CHUNKS);
        }
        int[] present = table.presentChunks();
        if (from < 0 || from > present.length) {
            throw new IllegalArgumentException("a list of " + present.length + " resident chunks has no position " + from);
        }
        return new Message.Trace(requestId, present.length,
                Arrays.copyOfRange(present, from, Math.min(present.length, from + MessageCodec.MAX_TRACE_CHUNKS)));
    }

    /**
     * Prefetches {@code chunks} in this order (a replayed trace), adjacent ones in one read, behind
     * faults. A guest's are copied into it as they arrive, so that its boot finds them there with no
     * fault at all; those in the cache already, from the attach on.
     */
    void prefetchInOrder(int[] chunks) {
        for (int chunk : chunks) {
            if (chunk < 0 || chunk >= table.chunks()) {
                throw new IllegalArgumentException("chunk " + chunk + " is outside region " + id + " (" + table.chunks() + " chunks)");
            }
        }
        if (localFile != null) {
            return; // copied from the file's pages in the kernel's cache, which its own readahead brings
        }
        if (guest) {
            for (int chunk : chunks) {
                WAITING.compareAndSet(waiting, chunk, (byte) 0, AHEAD);
            }
            if (memory != null) {
                bringPresentAhead();
            }
        }
        int runStart = 0;
        for (int i = 1; i <= chunks.length; i++) {
            if (i == chunks.length || chunks[i] != chunks[i - 1] + 1) {
                prefetch(chunks[runStart], chunks[i - 1], -1, chunks[i - 1] - chunks[runStart] + 1);
                runStart = i;
            }
        }
    }

    /** On the fault loop: a thread waits on the page at {@code offset} of the object. */
    void onFault(long offset, Userfaultfd.FillRequest fill) {
        counters.fault();
        int chunk = (int) (offset / chunkSize);
        accessOrder.touched(chunk);
        String outcome = takeFault(chunk, fill);
        // Not even made while no recorder runs: a JFR event's class took 60 ms to set up on a new server's first faults.
        if (FlightRecorder.isInitialized()) {
            FaultEvent event = new FaultEvent();
            if (event.isEnabled()) {
                event.region = id;
                event.chunk = chunk;
                event.outcome = outcome;
                event.commit();
            }
        }
        SequentialStreams.Prefetch ahead = streams == null ? null : streams.onFault(chunk);
        if (ahead != null) {
            prefetch(ahead.from(), ahead.to(), ahead.trigger(), ahead.window());
        }
    }

    /**
     * Sees that the chunk a thread waits on gets installed and the thread woken: now, by a demand
     * worker, or by the fetch already bringing it, for this region or another. The region is marked
     * as waiting before the state is read, and the installer marks the chunk present before it
     * looks for waiting regions, so that one of the two always wakes the thread.
     */
    private String takeFault(int chunk, Userfaultfd.FillRequest fill) {
        WAITING.setVolatile(waiting, chunk, WAITS);
        while (true) {
            byte state = table.state(chunk);
            switch (state) {
                case ChunkTable.PRESENT -> {
                    arrived(chunk, fill);
                    counters.cacheHit();
                    return "present";
                }
                case ChunkTable.EMPTY, ChunkTable.FAILED -> {
                    if (table.want(chunk, state)) {
                        fetches.fetchForFault(chunk, this, fill);
                        return "fetch";
                    }
                }
                case ChunkTable.IN_FLIGHT -> {
                    if (table.wantInFlight(chunk)) {
                        return fetches.wantedInFlight(chunk, this) ? "fetch" : "merged";
                    }
                }
                case ChunkTable.HELD -> {
                    if (installer.installHeld(chunk, fill)) {
                        return "held";
                    }
                }
                case ChunkTable.WANTED -> {
                    counters.cacheHit();
                    return "merged";
                }
                default -> Thread.onSpinWait(); // EVICTING: a hole punch, some microseconds
            }
        }
    }

    /** Brings {@code chunk} to this region's threads that wait on it, if any do, or to a guest that is to have it ahead. */
    void arrived(int chunk, Userfaultfd.FillRequest fill) {
        RegionMemory attached = memory;
        // Read first: every arrival comes to every region of the object, and few of them wait on it.
        if (attached != null && !stopping && (byte) WAITING.getVolatile(waiting, chunk) != 0
                && (byte) WAITING.getAndSet(waiting, chunk, (byte) 0) != 0) {
            attached.arrived(chunk, fill);
        }
    }

    /** Poisons {@code chunk} in this region if a thread of it waits there; a chunk only to be had ahead is left for a touch to fetch again. */
    void failed(int chunk, Userfaultfd.FillRequest fill) {
        RegionMemory attached = memory;
        if (attached != null && !stopping && (byte) WAITING.getVolatile(waiting, chunk) != 0
                && (byte) WAITING.getAndSet(waiting, chunk, (byte) 0) == WAITS) {
            attached.failed(chunk, fill);
        }
    }

    /** Copies into the guest the chunks to be had ahead that the cache holds already, as arrivals would. */
    private void bringPresentAhead() {
        if (!guest) {
            return;
        }
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            for (int chunk = 0; chunk < waiting.length; chunk++) {
                if ((byte) WAITING.getVolatile(waiting, chunk) == AHEAD && table.state(chunk) == ChunkTable.PRESENT) {
                    arrived(chunk, fill);
                }
            }
        }
    }

    private void prefetch(int from, int to, int trigger, int span) {
        fetches.prefetch(from, to, trigger, span, this);
    }

    @Override
    public boolean reservePrefetch(long bytes) {
        if (prefetchMemoryLimit == UNLIMITED) {
            return true;
        }
        if (prefetchReserved.addAndGet(bytes) > prefetchMemoryLimit) {
            prefetchReserved.addAndGet(-bytes);
            return false;
        }
        return true;
    }

    @Override
    public void releasePrefetch(long bytes) {
        if (prefetchMemoryLimit != UNLIMITED) {
            prefetchReserved.addAndGet(-bytes);
        }
    }

    @Override
    public void pacePrefetch(long bytes) throws InterruptedException {
        if (prefetchRate != null) {
            prefetchRate.acquire(bytes);
        }
    }

    @Override
    public long maxExtentBytes() {
        return maxExtentBytes;
    }

    @Override
    public void demandStarted(long now) {
        if (densePull != null) {
            densePull.demandStarted(now);
            checkDensePullWhenDue(now);
        }
    }

    @Override
    public void demandFinished(long now, long bytes, long latencyNanos) {
        if (densePull != null && densePull.demandFinished(now, bytes, latencyNanos)) {
            startDensePull();
        }
    }

    @Override
    public void prefetched(long bytes, long nanos) {
        if (densePull != null) {
            densePull.sample(bytes, nanos);
        }
    }

    /**
     * Checks the dense-pull trigger again when the faults waiting now will have waited enough, if
     * they still wait then: one check pending at a time, which sets the next.
     */
    private void checkDensePullWhenDue(long now) {
        if (densePullCheckPending.get()) {
            return;
        }
        long due = densePull.nanosUntilDue(now);
        if (due >= 0 && densePullCheckPending.compareAndSet(false, true)) {
            CompletableFuture.delayedExecutor(due, TimeUnit.NANOSECONDS).execute(() -> {
                densePullCheckPending.set(false);
                long at = System.nanoTime();
                if (!stopping && densePull.due(at)) {
                    startDensePull();
                } else if (!stopping) {
                    checkDensePullWhenDue(at);
                }
            });
        }
    }

    /** Pulls the whole object, behind the faults, once they have shown themselves dense. */
    private void startDensePull() {
        LOG.log(System.Logger.Level.DEBUG, () -> "region " + id + " (" + object.printableUri() + "): faults waited "
                + densePull.stalledNanos() / 1_000_000 + " ms of a pull estimated at " + densePull.estimatedPullNanos() / 1_000_000
                + " ms; pulling the whole object");
        prefetch(0, table.chunks() - 1, -1, table.chunks());
    }

    /** Stops serving, waits for the fault loop, frees the userfaultfd, and lets go of the object. */
    @Override
    public synchronized void close() {
        if (stopping) {
            return;
        }
        stopping = true;
        if (memory != null) {
            memory.close();
        } else if (localFile != null) {
            localFile.close();
        }
        object.release(this);
    }
}
