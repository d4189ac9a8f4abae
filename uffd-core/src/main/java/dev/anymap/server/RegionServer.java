package dev.anymap.server;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.MessageCodec;
import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * Serves the page faults of one mapped region: a fault loop that reads fault messages in batches,
 * demand workers that fetch the chunks threads wait for, and prefetch workers that fetch ahead of
 * sequential streams. Each fetched chunk is installed with UFFDIO_COPY.
 *
 * <p>A chunk is EMPTY; IN_FLIGHT (claimed for a prefetch that no thread waits for yet); WANTED (a
 * thread waits); PRESENT; FAILED (a fetch gave up and the chunk is poisoned); or HELD (fetched as a
 * readahead trigger and kept back, see {@link SequentialStreams}). Only the fault loop moves a chunk
 * out of EMPTY, FAILED or HELD, so concurrent faults on one chunk merge into one fetch: UFFDIO_COPY
 * wakes every thread waiting anywhere in the chunk. Demand and prefetch have workers of their own,
 * and a fault on a chunk whose prefetch has not started moves it to the demand workers; one on a
 * chunk that a read under way will reach only after more than {@link #MIN_EXTENT_BYTES} gets a read
 * of its own, the chunk then read twice. So prefetching never holds a fault up by more than about
 * a MiB of its reads.
 */
final class RegionServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RegionServer.class.getName());
    static final int PAGE = Userfaultfd.PAGE;
    static final int MIN_CHUNK = PAGE;
    static final int MAX_CHUNK = 32 << 20;

    private static final byte EMPTY = 0;
    private static final byte IN_FLIGHT = 1;
    private static final byte WANTED = 2;
    private static final byte PRESENT = 3;
    private static final byte FAILED = 4;
    private static final byte HELD = 5;
    private static final VarHandle STATE = MethodHandles.arrayElementVarHandle(byte[].class);

    /** A prefetch limit that does not limit: the value {@code MapOptions.UNLIMITED} sends. */
    private static final long UNLIMITED = Long.MAX_VALUE;
    private static final int MESSAGES_PER_READ = 64;
    /** How long the fault loop keeps polling the userfaultfd after a fault before it sleeps in poll(2). */
    private static final long SPIN_NANOS = 50_000;
    private static final int FETCH_ATTEMPTS = 3;
    /** How long close waits for the fault loop and the workers to stop. */
    private static final long CLOSE_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);
    private static final long FIRST_RETRY_MILLIS = 50;
    /**
     * The most one prefetch reads from the backend at once: adjacent chunks go in one ranged read,
     * streamed and installed chunk by chunk as it arrives. Measured on s3proxy, a request costs about
     * as much as 1 MiB of its body, so reads grow to 16 MiB; a thread that faults on a chunk of one
     * waits for the read to reach it, which bounds them there.
     */
    private static final long MAX_EXTENT_BYTES = 16 << 20;
    /** The least a prefetch of a range reads at once, where the range holds that much. */
    private static final long MIN_EXTENT_BYTES = 1 << 20;
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
    private static final int BULK_READS = 8;
    /**
     * The most a sequential stream runs ahead, whatever the chunk size: what a stream that stops has
     * fetched beyond what it read. Measured on a 256 MiB S3 scan, 256 MiB against 64 took it from
     * 0.55 to 0.81 of a download's speed at 0 ms round trip, and from 0.51 to 0.85 at 20 ms.
     */
    private static final long MAX_WINDOW_BYTES = 256 << 20;

    private final long id;
    private final StorageBackend backend;
    private final long size;
    private final long mappedLength;
    private final int chunkSize;
    private final int maxExtentChunks;
    private final String failEveryFault;
    private final long viewAddress;
    private final String printableUri;
    private final String backendName;
    private final byte[] states;
    private final SequentialStreams streams;
    private final boolean backgroundPull;
    private final DensePullTrigger densePull;
    private final AtomicBoolean densePullCheckPending = new AtomicBoolean();
    private final StorageSpeeds.Speed storageSpeed;
    private final long prefetchMemoryLimit;
    private final AtomicLong prefetchReserved = new AtomicLong();
    private final PrefetchRate prefetchRate;
    private final Queue<Extent> demand = new ConcurrentLinkedQueue<>();
    private final Queue<Extent> prefetch = new ConcurrentLinkedQueue<>();
    /** Chunks that prefetch reads may have in flight at once: a few large reads, or many small ones. */
    private final Semaphore prefetchInFlight;
    /** The extent that brings each chunk claimed for one, queued or being read, until that read ends. */
    private final Map<Integer, Extent> queuedExtents = new ConcurrentHashMap<>();
    private final Map<Integer, Held> held = new ConcurrentHashMap<>();
    private final RegionCounters counters = new RegionCounters();
    private final RegionWorkers demandWorkers;
    private final RegionWorkers prefetchWorkers;
    /** Demand workers' staging chunks, kept between their turns: a turn is often one fetch. */
    private final Queue<MemorySegment> spareStaging = new ConcurrentLinkedQueue<>();
    private final Arena stagingArena = Arena.ofShared();
    private final AccessOrder accessOrder;
    private final FetchDeadlines deadlines;

    private volatile boolean stopping;
    /** Whether the client's memory is there to fill; set under {@link #early}. */
    private volatile boolean attached;
    /** Chunks read before the attach, kept for it; guarded by itself, as is {@link #earlyArena}. */
    private final Map<Integer, MemorySegment> early = new HashMap<>();
    private Arena earlyArena;
    private Thread faultLoop;
    private int uffd = -1;
    private int stopEvent = -1;
    private long base;

    /**
     * Adjacent chunks to fetch with one read; {@code trigger} is held back, or -1; {@code next} is the
     * chunk the read brings next.
     */
    private record Extent(int first, int count, int trigger, AtomicBoolean started, AtomicInteger next) {
        Extent(int first, int count, int trigger, boolean started) {
            this(first, count, trigger, new AtomicBoolean(started), new AtomicInteger(first));
        }

        static Extent single(int chunk) {
            return new Extent(chunk, 1, -1, true);
        }

        boolean start() {
            return started.compareAndSet(false, true);
        }
    }

    /** A trigger chunk's bytes, kept until the scan faults on it. */
    private record Held(Arena arena, MemorySegment bytes) {}

    /**
     * @param storageSpeed the speed of the storage the object is on, which this region's reads add to
     * @param prefetching readahead, background and automatic pulls, and the limits on prefetching
     * @param fetchDeadline the longest a fetch may take, retries included, before its chunks fail or are fetched again
     * @param failEveryFault when not null, every fault fails with this reason: the object is no
     *     longer the version the client mapped
     */
    RegionServer(long id, StorageBackend backend, String backendName, StorageSpeeds.Speed storageSpeed, int chunkSize, int fetchWorkers,
                 Message.Prefetching prefetching, Duration fetchDeadline, String failEveryFault) {
        this.id = id;
        this.storageSpeed = storageSpeed;
        this.printableUri = Redaction.uri(backend.uri());
        this.backendName = backendName;
        this.backend = backend;
        this.size = backend.size();
        this.mappedLength = mappedLength(size);
        this.chunkSize = chunkSize;
        // Under a rate limit a read is paced as a whole: reads of an eighth of a second's budget keep it smooth.
        long extentBytes = prefetching.rateLimit() == UNLIMITED ? MAX_EXTENT_BYTES : Math.min(MAX_EXTENT_BYTES, prefetching.rateLimit() / 8);
        this.maxExtentChunks = (int) Math.max(1, extentBytes / chunkSize);
        this.prefetchInFlight = new Semaphore(BULK_READS * maxExtentChunks, true);
        this.failEveryFault = failEveryFault;
        this.viewAddress = backend.view().map(MemorySegment::address).orElse(0L);
        long chunks = (mappedLength + chunkSize - 1) / chunkSize;
        if (chunks > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a chunk size of " + chunkSize + " makes " + chunks + " chunks for "
                    + printableUri + "; use larger chunks");
        }
        this.states = new byte[(int) chunks];
        int readaheadChunks = prefetching.readaheadChunks();
        int window = (int) Math.min(readaheadChunks, Math.max(1, MAX_WINDOW_BYTES / chunkSize));
        // A backend that holds the bytes in memory is filled on the fault loop as fast as a prefetch
        // could; measured, readahead there only took CPU from the scan (BENCHMARKS.md).
        this.streams = readaheadChunks > 0 && failEveryFault == null && viewAddress == 0
                ? new SequentialStreams(window, states.length) : null;
        this.backgroundPull = prefetching.backgroundPull() && failEveryFault == null;
        this.prefetchMemoryLimit = prefetching.memoryLimit();
        this.prefetchRate = prefetching.rateLimit() == UNLIMITED ? null : new PrefetchRate(prefetching.rateLimit());
        // A backend in memory needs no pull: a fault there costs what a prefetch would.
        boolean pullable = size > 0 && size <= prefetchMemoryLimit && size <= PhysicalMemory.total() / 4;
        this.densePull = prefetching.autoPull() && !backgroundPull && failEveryFault == null && viewAddress == 0 && pullable
                ? new DensePullTrigger(size, BULK_READS, storageSpeed) : null;
        this.accessOrder = new AccessOrder(states.length);
        this.demandWorkers = new RegionWorkers(fetchWorkers, this::demandLoop, () -> !demand.isEmpty());
        this.prefetchWorkers = new RegionWorkers(PREFETCH_WORKERS, this::prefetchLoop, () -> !prefetch.isEmpty());
        this.deadlines = new FetchDeadlines(fetchDeadline, printableUri, this::closeBackend);
    }

    /** The length a client maps for an object of {@code size} bytes: whole pages. */
    static long mappedLength(long size) {
        return (size + PAGE - 1) & -PAGE;
    }

    long id() {
        return id;
    }

    StorageBackend backend() {
        return backend;
    }

    Message.Stats stats(long requestId) {
        return counters.snapshot(requestId);
    }

    /** This region in a server status, with its URI and last failure cut to fit. */
    Message.RegionStatus status(long clientPid) {
        long present = 0;
        for (int chunk = 0; chunk < states.length; chunk++) {
            if ((byte) STATE.getVolatile(states, chunk) == PRESENT) {
                present += fillLength(chunk, 1);
            }
        }
        Message.Stats stats = counters.snapshot(0);
        Message.Stats cut = new Message.Stats(0, stats.faults(), stats.chunksFetched(), stats.bytesFetched(), stats.fetchNanosTotal(),
                stats.fetchNanosMax(), stats.fetchNanosP50(), stats.fetchNanosP90(), stats.fetchNanosP99(), stats.failures(),
                MessageCodec.truncate(stats.lastFailure(), MessageCodec.MAX_STATUS_URI));
        return new Message.RegionStatus(clientPid, id, MessageCodec.truncate(printableUri, MessageCodec.MAX_STATUS_URI),
                MessageCodec.truncate(backend.version().toString(), MessageCodec.MAX_STATUS_URI), size, chunkSize, present, cut);
    }

    /**
     * Starts serving the faults of {@code [address, address + length)} through {@code userfaultfd},
     * which this region then owns. Wakes every thread already waiting there: after a page server
     * restart they wait on faults that the dead server had read and will never answer.
     */
    synchronized void attach(int userfaultfd, long address, long length) throws IOException {
        if (uffd >= 0) {
            Libc.close(userfaultfd);
            throw new IllegalStateException("region " + id + " is already attached");
        }
        if (length != mappedLength || (address & (PAGE - 1)) != 0 || address == 0) {
            Libc.close(userfaultfd);
            throw new IllegalArgumentException("attach of " + length + " bytes at 0x" + Long.toHexString(address)
                    + " does not match region " + id + " (" + mappedLength + " bytes, page aligned)");
        }
        uffd = userfaultfd;
        base = address;
        stopEvent = (int) Libc.check(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK), "eventfd");
        installEarlyChunks();
        faultLoop = Thread.ofPlatform().name("anymap-faults-" + id).daemon().start(this::faultLoop);
        Userfaultfd.wake(uffd, base, mappedLength);
        if (backgroundPull) {
            // Every chunk, in order; faults still go first, to the demand workers. Not an access: not traced.
            prefetch(SequentialStreams.Prefetch.range(0, states.length - 1), false);
        }
    }

    /**
     * Keeps the bytes of a chunk read before the attach, when there is no memory to fill yet (a trace
     * replayed from the map on), in one arena for them all: an arena each would cost a handshake
     * with every thread to free.
     *
     * @return false if the region is attached by now: install it
     */
    private boolean keepForAttach(int chunk, long source) {
        synchronized (early) {
            if (attached) {
                return false;
            }
            if (earlyArena == null) {
                earlyArena = Arena.ofShared();
            }
            early.put(chunk, copyChunk(chunk, source, earlyArena));
            return true;
        }
    }

    /** Marks the region attached and installs the chunks kept for it, before the first fault is read. */
    private void installEarlyChunks() {
        Map<Integer, MemorySegment> chunks;
        Arena arena;
        synchronized (early) {
            attached = true;
            chunks = Map.copyOf(early);
            arena = earlyArena;
            early.clear();
            earlyArena = null;
        }
        if (arena == null) {
            return;
        }
        try (Arena call = Arena.ofConfined()) {
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(call);
            chunks.forEach((chunk, bytes) -> install(chunk, bytes.address(), fill));
        }
        arena.close();
    }

    /**
     * The chunks in the order they were first faulted on, or fetched ahead of a sequential stream;
     * with {@code resident}, the chunks installed now, in order of number.
     */
    Message.Trace trace(long requestId, int from, boolean resident) {
        if (!resident) {
            return accessOrder.slice(requestId, from, MessageCodec.MAX_TRACE_CHUNKS);
        }
        int[] present = IntStream.range(0, states.length)
                .filter(chunk -> (byte) STATE.getVolatile(states, chunk) == PRESENT).toArray();
        if (from < 0 || from > present.length) {
            throw new IllegalArgumentException("a list of " + present.length + " resident chunks has no position " + from);
        }
        return new Message.Trace(requestId, present.length,
                Arrays.copyOfRange(present, from, Math.min(present.length, from + MessageCodec.MAX_TRACE_CHUNKS)));
    }

    /** Prefetches {@code chunks} in this order (a replayed trace), adjacent ones in one read, behind faults. */
    void prefetchInOrder(int[] chunks) {
        for (int chunk : chunks) {
            if (chunk >= states.length) {
                throw new IllegalArgumentException("chunk " + chunk + " is past the end of region " + id + " (" + states.length + " chunks)");
            }
        }
        int runStart = 0;
        for (int i = 1; i <= chunks.length; i++) {
            if (i == chunks.length || chunks[i] != chunks[i - 1] + 1) {
                prefetch(SequentialStreams.Prefetch.range(chunks[runStart], chunks[i - 1]), false);
                runStart = i;
            }
        }
    }

    private void faultLoop() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment messages = arena.allocate((long) Userfaultfd.MESSAGE_SIZE * MESSAGES_PER_READ, 8);
            MemorySegment pollfds = arena.allocate(2 * Libc.POLLFD_SIZE, 4);
            Libc.setPollFd(pollfds, 0, uffd, Libc.POLLIN);
            Libc.setPollFd(pollfds, 1, stopEvent, Libc.POLLIN);
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            long lastFault = System.nanoTime();
            while (!stopping) {
                long read = Libc.read(uffd, messages, messages.byteSize());
                if (read > 0) {
                    onMessages(messages, (int) (read / Userfaultfd.MESSAGE_SIZE), fill);
                    lastFault = System.nanoTime();
                } else if (read == -Errno.EAGAIN) {
                    // Busy-poll briefly after a fault, when the next one is likely close behind; then sleep.
                    if (System.nanoTime() - lastFault < SPIN_NANOS) {
                        Thread.onSpinWait();
                        continue;
                    }
                    int ready = Libc.poll(pollfds, 2, -1);
                    if (ready < 0 && ready != -Errno.EINTR) {
                        throw new NativeException("poll", -ready);
                    }
                    short uffdEvents = Libc.pollRevents(pollfds, 0);
                    if (Libc.pollRevents(pollfds, 1) != 0 || (uffdEvents & (Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0) {
                        return;
                    }
                } else if (read != -Errno.EINTR) {
                    throw new NativeException("read(userfaultfd)", (int) -read);
                }
            }
        } catch (Exception | Error e) {
            if (!stopping) {
                LOG.log(System.Logger.Level.ERROR, "fault loop of region " + id + " (" + printableUri + ") stopped", e);
            }
        }
    }

    private void onMessages(MemorySegment messages, int count, Userfaultfd.FillRequest fill) {
        for (int i = 0; i < count; i++) {
            if (Userfaultfd.event(messages, i) != Userfaultfd.EVENT_PAGEFAULT) {
                continue; // no other event is enabled
            }
            long offset = (Userfaultfd.pagefaultAddress(messages, i) & -PAGE) - base;
            if (offset < 0 || offset >= mappedLength) {
                continue;
            }
            counters.fault();
            int chunk = (int) (offset / chunkSize);
            accessOrder.touched(chunk);
            serveFault(chunk, fill);
            SequentialStreams.Prefetch ahead = streams == null ? null : streams.onFault(chunk);
            if (ahead != null) {
                prefetch(ahead, true);
            }
        }
    }

    /** Sees that the chunk a thread waits on gets installed: now, by a demand worker, or by its prefetch. */
    private void serveFault(int chunk, Userfaultfd.FillRequest fill) {
        String outcome = takeFault(chunk, fill);
        FaultEvent event = new FaultEvent();
        if (event.isEnabled()) {
            event.region = id;
            event.chunk = chunk;
            event.outcome = outcome;
            event.commit();
        }
    }

    private String takeFault(int chunk, Userfaultfd.FillRequest fill) {
        while (true) {
            byte state = (byte) STATE.getVolatile(states, chunk);
            switch (state) {
                case EMPTY, FAILED -> {
                    if (STATE.compareAndSet(states, chunk, state, WANTED)) {
                        if (!fillFromView(chunk, fill)) {
                            queueDemand(Extent.single(chunk));
                        }
                        return "fetch";
                    }
                }
                case IN_FLIGHT -> {
                    if (STATE.compareAndSet(states, chunk, IN_FLIGHT, WANTED)) {
                        Extent queued = queuedExtents.get(chunk);
                        if (queued != null && queued.start()) {
                            takeOver(queued, chunk);
                            return "fetch";
                        }
                        if (queued != null && (long) (chunk - queued.next().get()) * chunkSize > MIN_EXTENT_BYTES) {
                            // A read under way (a pull's, say) is far from it: a read of its own comes sooner.
                            queueDemand(Extent.single(chunk));
                            return "fetch";
                        }
                        return "merged";
                    }
                }
                case HELD -> {
                    Held bytes = held.remove(chunk);
                    install(chunk, bytes.bytes().address(), fill);
                    bytes.arena().close();
                    return "held";
                }
                case WANTED -> {
                    return "merged";
                }
                default -> {
                    return "present"; // the copy has woken it already
                }
            }
        }
    }

    /**
     * Moves a queued prefetch whose chunk a thread now waits for to the demand workers: from that
     * chunk to the extent's end in one read, which brings the wanted chunk first. The chunks before it
     * go back to the prefetch queue as an extent of their own.
     */
    private void takeOver(Extent queued, int wanted) {
        if (wanted > queued.first()) {
            int trigger = queued.trigger() < wanted ? queued.trigger() : -1;
            queuePrefetch(track(new Extent(queued.first(), wanted - queued.first(), trigger, false)));
        }
        queueDemand(track(new Extent(wanted, queued.first() + queued.count() - wanted, -1, true)));
    }

    /** Notes the extent as the one that brings each of its chunks, in place of any before it. */
    private Extent track(Extent extent) {
        for (int c = extent.first(); c < extent.first() + extent.count(); c++) {
            queuedExtents.put(c, extent);
        }
        return extent;
    }

    /**
     * Queues the EMPTY chunks of a range for the prefetch workers, adjacent ones in one extent.
     *
     * @param traced whether they count as accessed, in this order: chunks fetched ahead of a
     *     sequential stream are read by it without ever faulting
     */
    private void prefetch(SequentialStreams.Prefetch ahead, boolean traced) {
        int perExtent = extentChunks(ahead.to() - ahead.from() + 1);
        int first = -1;
        for (int chunk = ahead.from(); chunk <= ahead.to() + 1; chunk++) {
            boolean claimed = chunk <= ahead.to() && claimForPrefetch(chunk);
            if (claimed && traced) {
                accessOrder.touched(chunk);
            }
            if (claimed && first < 0) {
                first = chunk;
            }
            if (first >= 0 && (!claimed || chunk - first + 1 == perExtent)) {
                int count = claimed ? chunk - first + 1 : chunk - first;
                int trigger = ahead.trigger() >= first && ahead.trigger() < first + count ? ahead.trigger() : -1;
                queuePrefetch(track(new Extent(first, count, trigger, false)));
                first = -1;
            }
        }
    }

    /**
     * Queues an extent for the prefetch workers, which spend their time waiting on storage: what a
     * prefetch gets over a network is what they keep in flight, within {@link #prefetchInFlight}.
     */
    private void queuePrefetch(Extent extent) {
        prefetch.offer(extent);
        prefetchWorkers.wake();
    }

    /**
     * How many chunks of a prefetch of {@code chunks} go in one read: the range spread over the bulk
     * reads there may be in flight, as a download spreads an object over parallel ranged GETs, in reads
     * of at least 1 MiB, which cost little more than a request, and at most {@link #maxExtentChunks}.
     */
    private int extentChunks(int chunks) {
        int atLeast = (int) Math.max(1, MIN_EXTENT_BYTES / chunkSize);
        return Math.min(maxExtentChunks, Math.max(atLeast, (chunks + BULK_READS - 1) / BULK_READS));
    }

    /**
     * Claims an EMPTY chunk for prefetching, if the memory limit on prefetching leaves room for it. The
     * fault loop claims readahead windows here: without a limit, a claim is the one compare-and-set.
     */
    private boolean claimForPrefetch(int chunk) {
        if (prefetchMemoryLimit == UNLIMITED) {
            return STATE.compareAndSet(states, chunk, EMPTY, IN_FLIGHT);
        }
        if ((byte) STATE.getVolatile(states, chunk) != EMPTY) {
            return false;
        }
        long bytes = fillLength(chunk, 1);
        if (prefetchReserved.addAndGet(bytes) > prefetchMemoryLimit) {
            prefetchReserved.addAndGet(-bytes);
            return false;
        }
        if (STATE.compareAndSet(states, chunk, EMPTY, IN_FLIGHT)) {
            return true;
        }
        release(chunk);
        return false;
    }

    /** Gives back the prefetch memory of a claimed chunk that was not fetched after all. */
    private void release(int chunk) {
        if (prefetchMemoryLimit != UNLIMITED) {
            prefetchReserved.addAndGet(-fillLength(chunk, 1));
        }
    }

    private void queueDemand(Extent extent) {
        demand.offer(extent);
        demandWorkers.wake();
    }

    /** One demand worker: fetches the queued extents until none is left. */
    private void demandLoop() throws InterruptedException {
        MemorySegment staging = spareStaging.poll();
        if (staging == null) {
            staging = stagingArena.allocate(chunkSize, PAGE);
        }
        try (Arena arena = Arena.ofConfined()) {
            ChunkCutter cutter = new ChunkCutter(staging, chunkSize, size);
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            // A worker whose read passed its deadline gave its place up: it leaves once that read is settled.
            for (Extent extent; !stopping && demandWorkers.isWorking() && (extent = demand.poll()) != null; ) {
                fetchWanted(extent, cutter, fill);
            }
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.ERROR, "fetch worker of region " + id + " stopped", e);
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
        if (failEveryFault != null) {
            failAll(extent.first(), extent.first() + extent.count(), failEveryFault, fill);
            return;
        }
        long started = System.nanoTime();
        if (densePull != null) {
            densePull.demandStarted(started);
            checkDensePullWhenDue(started);
        }
        Exception failure = fetch(extent, cutter, extent.count() > 1 ? 1 : FETCH_ATTEMPTS, false, fill);
        long finished = System.nanoTime();
        int end = extent.first() + extent.count();
        if (densePull != null && densePull.demandFinished(finished, cutter.handedOnSince(extent.first()), finished - started)) {
            startDensePull();
        }
        if (failure == null || failure instanceof FetchDeadlines.PassedException) {
            return; // one past its deadline was settled when it passed
        }
        if (extent.count() > 1 && !(failure instanceof ObjectChangedException)) {
            for (int c = cutter.nextChunk(); c < end; c++) {
                fetchWanted(Extent.single(c), cutter, fill);
            }
            return;
        }
        long offset = cutter.resumeOffset();
        failAll(cutter.nextChunk(), end, describe(offset, Math.min(fillLength(cutter.nextChunk(), end - cutter.nextChunk()), size - offset),
                failure), fill);
    }

    /**
     * Streams the extent's chunks from the backend, with up to {@code attempts} attempts, each from
     * the first chunk not yet in; each chunk is counted and then installed (or, for the trigger of a
     * readahead, held) as soon as it is whole. Returns the failure that ended the attempts, or null;
     * the chunks from {@code cutter.nextChunk()} on did not arrive.
     */
    private Exception fetch(Extent extent, ChunkCutter cutter, int attempts, boolean prefetch, Userfaultfd.FillRequest fill)
            throws InterruptedException {
        int end = extent.first() + extent.count();
        long dataEnd = Math.min((long) end * chunkSize, size);
        long started = System.nanoTime();
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
            if (chunk != extent.trigger() || !hold(chunk, bytes.address())) {
                install(chunk, bytes.address(), fill);
            }
            extent.next().set(chunk + 1);
            queuedExtents.remove(chunk, extent);
        }));
        FetchEvent event = new FetchEvent();
        event.begin();
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
                try {
                    backend.stream(cutter.resumeOffset(), dataEnd - cutter.resumeOffset(), cutter);
                    failure = null;
                } catch (OutOfRangeException | ObjectChangedException | BackendClosedException permanent) {
                    failure = permanent;
                    break;
                } catch (IOException | RuntimeException e) {
                    failure = e;
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
            failure = stopping ? new BackendClosedException(backend.uri())
                    : new IOException("the backend of " + printableUri + " streamed fewer bytes than asked for");
        }
        for (int c = cutter.nextChunk(); c < end; c++) {
            queuedExtents.remove(c, extent);
        }
        commit(event, extent.first(), extent.count(), cutter.handedOnSince(extent.first()), prefetch, failure);
        return failure;
    }

    /**
     * Checks the dense-pull trigger again when the faults waiting now will have waited enough, if
     * they still wait then: one check pending at a time, which sets the next.
     */
    private void checkDensePullWhenDue(long now) {
        if (densePullCheckPending.get()) {
            return; // one check pending at a time, and it sets the next
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
        LOG.log(System.Logger.Level.DEBUG, () -> "region " + id + " (" + printableUri + "): faults waited "
                + densePull.stalledNanos() / 1_000_000 + " ms of a pull estimated at " + densePull.estimatedPullNanos() / 1_000_000
                + " ms; pulling the whole object");
        prefetch(SequentialStreams.Prefetch.range(0, states.length - 1), false);
    }

    private void failAll(int from, int to, String description, Userfaultfd.FillRequest fill) {
        for (int c = from; c < to; c++) {
            fail(c, (long) c * chunkSize, fillLength(c, 1), description, fill);
        }
    }

    /** One prefetch worker: reads the queued extents until none is left. */
    private void prefetchLoop() throws InterruptedException {
        try (Arena arena = Arena.ofConfined()) {
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            for (Extent extent; !stopping && (extent = prefetch.poll()) != null; ) {
                if (!extent.start()) {
                    continue; // taken over by the demand workers
                }
                prefetchInFlight.acquire(extent.count());
                boolean passed = false;
                // Staged within the budget, not per worker: the workers are many, and a chunk may be 32 MiB.
                try (Arena staging = Arena.ofConfined()) {
                    passed = prefetchExtent(extent, staging, fill);
                } finally {
                    if (!passed) {
                        prefetchInFlight.release(extent.count()); // else given back when it passed
                    }
                }
                if (passed) {
                    return; // its place among the workers went to another
                }
            }
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.ERROR, "prefetch worker of region " + id + " stopped", e);
        }
    }

    /** @return whether the read passed its deadline, which settled its chunks */
    private boolean prefetchExtent(Extent extent, Arena staging, Userfaultfd.FillRequest fill) throws InterruptedException {
        long offset = (long) extent.first() * chunkSize;
        long fillLength = fillLength(extent.first(), extent.count());
        long dataLength = Math.min(fillLength, size - offset);
        if (viewAddress != 0 && dataLength == fillLength) {
            counters.fetched(extent.count(), dataLength);
            counters.read(0);
            for (int c = extent.first(); c < extent.first() + extent.count(); c++) {
                install(c, viewAddress + (long) c * chunkSize, fill);
            }
            return false;
        }
        if (prefetchRate != null) {
            prefetchRate.acquire(dataLength);
        }
        long started = System.nanoTime();
        ChunkCutter cutter = new ChunkCutter(staging.allocate(chunkSize, PAGE), chunkSize, size);
        // One attempt: a chunk that a thread comes to want is fetched again, with retries, on demand.
        Exception failure = fetch(extent, cutter, 1, true, fill);
        if (failure instanceof FetchDeadlines.PassedException) {
            return true;
        }
        if (failure != null) {
            for (int c = cutter.nextChunk(); c < extent.first() + extent.count(); c++) {
                if (STATE.compareAndSet(states, c, IN_FLIGHT, EMPTY)) {
                    release(c);
                } else {
                    queueDemand(Extent.single(c));
                }
            }
        } else if (densePull != null) {
            densePull.sample(dataLength, System.nanoTime() - started);
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
                if (STATE.compareAndSet(states, c, IN_FLIGHT, EMPTY)) {
                    release(c);
                } else if ((byte) STATE.getVolatile(states, c) == WANTED) {
                    if (prefetch) {
                        queueDemand(Extent.single(c));
                    } else {
                        long offset = (long) c * chunkSize;
                        fail(c, offset, fillLength(c, 1), "reading " + Math.min(chunkSize, size - offset) + " bytes at offset " + offset
                                + " of " + printableUri + " failed: " + reason, fill);
                    }
                }
            }
        }
    }

    /** Closes the backend when too many of its reads are stuck past their deadline: its contract releases them. */
    private void closeBackend() {
        try {
            backend.close();
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "closing " + printableUri + ": " + e.getMessage());
        }
    }

    private void commit(FetchEvent event, int chunk, int chunks, long bytes, boolean prefetch, Exception failure) {
        event.end();
        if (event.shouldCommit()) {
            event.region = id;
            event.uri = printableUri;
            event.backend = backendName;
            event.chunk = chunk;
            event.chunks = chunks;
            event.bytes = bytes;
            event.prefetch = prefetch;
            event.failure = failure == null ? "" : failure.getClass().getSimpleName() + ": " + failure.getMessage();
            event.commit();
        }
    }

    /**
     * Keeps a trigger chunk's bytes back instead of installing them, unless a thread already waits
     * for it. The bytes are in the map before the state says HELD, so the fault loop finds them.
     */
    private boolean hold(int chunk, long source) {
        Arena arena = Arena.ofShared();
        MemorySegment copy = copyChunk(chunk, source, arena);
        held.put(chunk, new Held(arena, copy));
        if (STATE.compareAndSet(states, chunk, IN_FLIGHT, HELD)) {
            return true;
        }
        held.remove(chunk);
        arena.close();
        return false;
    }

    /** A copy of a chunk's bytes at {@code source}, as many as fill it, page-aligned in {@code arena}. */
    private MemorySegment copyChunk(int chunk, long source, Arena arena) {
        long length = fillLength(chunk, 1);
        MemorySegment copy = arena.allocate(length, PAGE);
        MemorySegment.copy(MemorySegment.ofAddress(source).reinterpret(length), 0, copy, 0, length);
        return copy;
    }

    /**
     * Fills a wanted chunk straight from the backend's {@linkplain StorageBackend#view() view}, on
     * the fault loop: a copy from memory that never waits on storage, cheaper than the handoff to a
     * worker for a small chunk.
     *
     * @return false if the chunk needs a worker: there is no view, the chunk holds the object's end
     *     (whose page is partly past it), or the region has to fail every fault
     */
    private boolean fillFromView(int chunk, Userfaultfd.FillRequest fill) {
        long offset = (long) chunk * chunkSize;
        long length = Math.min(chunkSize, size - offset);
        if (viewAddress == 0 || failEveryFault != null || length != fillLength(chunk, 1)) {
            return false;
        }
        counters.fetched(1, length);
        counters.read(0);
        install(chunk, viewAddress + offset, fill);
        return true;
    }

    private long fillLength(int firstChunk, int count) {
        long offset = (long) firstChunk * chunkSize;
        return Math.min((long) count * chunkSize, mappedLength - offset);
    }

    private String describe(long offset, long length, Exception failure) {
        return "reading " + length + " bytes at offset " + offset + " of " + printableUri + " failed: "
                + failure.getClass().getSimpleName() + ": " + failure.getMessage();
    }

    /**
     * Poisons the chunk, so that the threads waiting in it, and every later touch, get SIGBUS (which
     * the JVM turns into an InternalError at the access). The chunk is FAILED: if the client zaps
     * the poisoned pages, the next touch fetches it again.
     */
    private void fail(int chunk, long offset, long fillLength, String description, Userfaultfd.FillRequest fill) {
        counters.failed(description);
        LOG.log(System.Logger.Level.WARNING, "region " + id + ": " + description);
        if (fillRange(chunk, offset, fillLength, 0, fill)) {
            STATE.setVolatile(states, chunk, FAILED);
        }
    }

    private void install(int chunk, long source, Userfaultfd.FillRequest fill) {
        if (!attached && keepForAttach(chunk, source)) {
            return;
        }
        byte state = (byte) STATE.getVolatile(states, chunk);
        if (state == PRESENT || state == FAILED) {
            return; // read twice, for a fault far ahead of a read: the first settled it
        }
        long offset = (long) chunk * chunkSize;
        if (fillRange(chunk, offset, fillLength(chunk, 1), source, fill)) {
            STATE.setVolatile(states, chunk, PRESENT);
        }
    }

    /** @return false if the region is gone (the client unmapped it or exited), or the fill failed */
    private boolean fillRange(int chunk, long offset, long length, long source, Userfaultfd.FillRequest fill) {
        int result = fill.fillRange(uffd, base + offset, source, length);
        if (result == 0) {
            return true;
        }
        if (result != -Errno.ENOENT && result != -Errno.ESRCH && !stopping) {
            LOG.log(System.Logger.Level.ERROR, "region " + id + ": installing chunk " + chunk + " failed with "
                    + Errno.name(-result) + "; the threads waiting on it are woken to fault again");
            STATE.setVolatile(states, chunk, EMPTY);
            try {
                Userfaultfd.wake(uffd, base + offset, length);
            } catch (NativeException e) {
                LOG.log(System.Logger.Level.DEBUG, "wake after a failed install: " + e.getMessage());
            }
        }
        return false;
    }

    /** Stops serving, waits for the fault loop and workers, and frees the userfaultfd and backend. */
    @Override
    public synchronized void close() {
        if (stopping) {
            return;
        }
        stopping = true;
        // Before the userfaultfd closes: a settle under way ends first, and none starts after.
        deadlines.close();
        if (stopEvent >= 0) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment one = arena.allocate(8);
                one.set(ValueLayout.JAVA_LONG, 0, 1L);
                Libc.write(stopEvent, one, 8);
            }
        }
        if (faultLoop != null) {
            faultLoop.interrupt();
        }
        demandWorkers.stop();
        prefetchWorkers.stop();
        // Closed before the wait: a worker blocked in a slow read is released by it.
        try {
            backend.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "closing " + printableUri + ": " + e.getMessage());
        }
        boolean joined;
        try {
            long deadline = System.nanoTime() + CLOSE_TIMEOUT_NANOS;
            joined = demandWorkers.awaitStopped(deadline - System.nanoTime());
            joined &= prefetchWorkers.awaitStopped(deadline - System.nanoTime());
            if (faultLoop != null) {
                joined &= faultLoop.join(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            joined = false;
        }
        if (!joined) {
            // A thread that may still call ioctl on the userfaultfd must not find its number reused.
            LOG.log(System.Logger.Level.WARNING, "region " + id + ": a fetch is still running after close; its descriptors are left open");
            return;
        }
        held.values().forEach(bytes -> bytes.arena().close());
        held.clear();
        deadlines.whenNoneOut(stagingArena::close);
        synchronized (early) {
            if (earlyArena != null) {
                earlyArena.close();
            }
        }
        if (uffd >= 0) {
            Libc.close(uffd);
        }
        if (stopEvent >= 0) {
            Libc.close(stopEvent);
        }
    }
}
