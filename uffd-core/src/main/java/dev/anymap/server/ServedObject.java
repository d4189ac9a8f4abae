package dev.anymap.server;

import dev.anymap.linux.Userfaultfd;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * One version of one stored object, as the page cache holds it: its memory, which every region of
 * it maps, in any process; the state of each chunk; and the fetches that fill it. A chunk fetched
 * for one region is there for all, and a region mapped while the cache holds chunks reads them
 * without asking storage.
 *
 * <p>It reads storage through the backend of a region that maps it. When no region does, the
 * backend is closed and the memory stays cached, within the cache's budget, until the next map of
 * the same version brings a backend again, or its chunks are all dropped.
 */
final class ServedObject {
    private static final System.Logger LOG = System.getLogger(ServedObject.class.getName());
    /** How long close waits for the fetches under way to stop. */
    private static final long CLOSE_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);

    /** Where fetches read: the backend, and its bytes in memory where it has them (0 if not). */
    private record Source(StorageBackend backend, long viewAddress) {
        static Source of(StorageBackend backend) {
            return new Source(backend, backend.view().map(MemorySegment::address).orElse(0L));
        }
    }

    private final PageCache cache;
    private final PageCache.Key key;
    private final URI uri;
    private final String printableUri;
    private final String backendName;
    private final long size;
    /** Moves on when a commit of a writable object's writes makes a new version. */
    private volatile String version;
    /** A writable region's private layer: never shared, and never dropped, since it holds writes not yet in storage. */
    private final boolean writable;
    private final WriteBack writeBack;
    private final ChunkTable table;
    private final ObjectMemory memory;
    private final ChunkInstaller installer;
    private final FetchScheduler fetches;
    private final String failEveryFetch;
    private final List<RegionServer> regions = new CopyOnWriteArrayList<>();
    /** Per chunk, the process whose region's fetch brought it: the cache counts it in that process's share. */
    private final java.util.concurrent.atomic.AtomicReferenceArray<PeerBudget> fetchedFor;
    /** Per chunk claimed or brought by prefetching, the process whose prefetch memory holds it until it leaves the cache. */
    private final java.util.concurrent.atomic.AtomicReferenceArray<PeerBudget> aheadFor;
    private volatile Source source;
    /** Guarded by this. */
    private int users;
    private volatile boolean closed;
    /**
     * Read-held by what uses the memory's descriptor outside the fetch workers (an eviction, a map's
     * answer), write-held while it is closed: its number may be another object's right after.
     */
    private final ReadWriteLock memoryInUse = new ReentrantReadWriteLock();

    /**
     * @param memory the object's memory, new or taken over; the object owns it from now on
     * @param failEveryFetch when not null, every fetch fails with this reason: the object is no longer
     *     the version this memory holds
     */
    ServedObject(PageCache cache, PageCache.Key key, StorageBackend backend, String backendName, ObjectMemory memory, int chunkSize,
                 int fetchWorkers, StorageSpeeds.Speed storageSpeed, Duration fetchDeadline, String failEveryFetch, boolean writable) {
        this.cache = cache;
        this.writable = writable;
        this.key = key;
        this.uri = backend.uri();
        this.printableUri = Redaction.uri(uri);
        this.backendName = backendName;
        this.size = backend.size();
        this.version = backend.version().toString();
        this.table = new ChunkTable(RegionServer.mappedLength(size), chunkSize, printableUri);
        this.memory = memory;
        this.fetchedFor = new java.util.concurrent.atomic.AtomicReferenceArray<>(table.chunks());
        this.aheadFor = new java.util.concurrent.atomic.AtomicReferenceArray<>(table.chunks());
        this.failEveryFetch = failEveryFetch;
        this.source = Source.of(backend);
        this.installer = new ChunkInstaller(this, memory, cache);
        this.fetches = new FetchScheduler(this, installer, storageSpeed, fetchWorkers, fetchDeadline);
        this.writeBack = writable ? new WriteBack(this) : null;
    }

    /** Marks the chunks that a memory taken over already holds whole as present. */
    void adoptResidentChunks() {
        for (int chunk = 0; chunk < table.chunks(); chunk++) {
            long length = table.fillLength(chunk, 1);
            if (memory.holds(table.offset(chunk), length)) {
                table.present(chunk);
                cache.admitted(this, chunk, length);
            }
        }
    }

    ChunkTable table() {
        return table;
    }

    /** Notes that {@code chunk}, about to be installed, was fetched for a region of {@code peer}. */
    void fetchedFor(int chunk, PeerBudget peer) {
        fetchedFor.set(chunk, peer);
    }

    /** The process whose fetch brought {@code chunk}, or null (a chunk taken over from a dead server). */
    PeerBudget fetchedFor(int chunk) {
        return fetchedFor.get(chunk);
    }

    /** {@code chunk} was claimed for prefetching with {@code peer}'s prefetch memory, which it holds until it leaves the cache. */
    void fetchingAhead(int chunk, PeerBudget peer) {
        PeerBudget before = aheadFor.getAndSet(chunk, peer);
        if (before != null) {
            before.releasePrefetch(table.fillLength(chunk, 1)); // an install that failed left it marked
        }
    }

    /** {@code chunk} left the cache, or its prefetch was given up: the prefetch memory it held is free. */
    void notAhead(int chunk) {
        PeerBudget before = aheadFor.getAndSet(chunk, null);
        if (before != null) {
            before.releasePrefetch(table.fillLength(chunk, 1));
        }
    }

    FetchScheduler fetches() {
        return fetches;
    }

    ChunkInstaller installer() {
        return installer;
    }

    ObjectMemory memory() {
        return memory;
    }

    /**
     * A descriptor of the memory for a client to map (the caller closes it once sent): read-only, or
     * of a writable object, writable.
     *
     * @throws IOException if the object closed meanwhile (its only region was unmapped before its map was answered)
     */
    int memoryForClient() throws IOException {
        memoryInUse.readLock().lock();
        try {
            if (closed) {
                throw new IOException(printableUri + " was unmapped before its map was answered");
            }
            return writable ? memory.readWriteFd() : memory.readOnlyFd();
        } finally {
            memoryInUse.readLock().unlock();
        }
    }

    long size() {
        return size;
    }

    /** The version this object's memory holds. */
    boolean writable() {
        return writable;
    }

    /** How a writable object's writes reach storage; null for a read-only one. */
    WriteBack writeBack() {
        return writeBack;
    }

    /** A commit made {@code committed} the version this object's memory holds, and its backend reads. */
    void committed(String committed) {
        version = committed;
    }

    String version() {
        return version;
    }

    URI uri() {
        return uri;
    }

    String printableUri() {
        return printableUri;
    }

    String backendName() {
        return backendName;
    }

    String failEveryFetch() {
        return failEveryFetch;
    }

    /** The backend fetches read through now, or null while no region maps the object. */
    StorageBackend backend() {
        Source current = source;
        return current == null ? null : current.backend();
    }

    long viewAddress() {
        Source current = source;
        return current == null ? 0 : current.viewAddress();
    }

    boolean isClosed() {
        return closed;
    }

    /** Whether a new region may share this object: not closed, and not given up on reads stuck past their deadline. */
    boolean isReusable() {
        return !closed && !fetches.gaveUp();
    }

    /** One more region will map this object; false if it is closed. */
    synchronized boolean acquire() {
        if (closed) {
            return false;
        }
        users++;
        return true;
    }

    /**
     * Reads through {@code backend} from now on if no region's backend is there to read through;
     * otherwise closes it: the object is the same version either way.
     */
    void offerBackend(StorageBackend backend) throws IOException {
        synchronized (this) {
            if (source == null) {
                source = Source.of(backend);
                return;
            }
        }
        backend.close();
    }

    void attach(RegionServer region) {
        regions.add(region);
    }

    /** A region of this object closed. The last one closes the backend; an object then left with nothing cached closes. */
    void release(RegionServer region) {
        regions.remove(region);
        release();
    }

    /** Gives back what {@link #acquire} took, for a region that could not be made or for one that closed. */
    void release() {
        StorageBackend idle = null;
        boolean empty;
        synchronized (this) {
            if (--users > 0) {
                return;
            }
            if (source != null) {
                idle = source.backend();
                source = null;
            }
            empty = table.presentBytes() == 0;
        }
        closeQuietly(idle);
        if (empty || key == null) {
            closeIfIdle(); // unless a map took it up meanwhile
        } else {
            cache.idled(this, table.presentBytes());
        }
    }

    /** Leaves the cache if no region maps the object; false if one came to map it meanwhile. */
    boolean closeIfIdle() {
        synchronized (this) {
            if (users > 0 || closed) {
                return false;
            }
            closed = true;
        }
        shutDown();
        return true;
    }

    /** Wakes the regions whose threads wait on the chunk, which is present now (or to be fetched again). */
    void arrived(int chunk, Userfaultfd.FillRequest fill) {
        for (RegionServer region : regions) {
            region.arrived(chunk, fill);
        }
    }

    /** Poisons the chunk in the regions whose threads wait on it. */
    void failed(int chunk, Userfaultfd.FillRequest fill) {
        for (RegionServer region : regions) {
            region.failed(chunk, fill);
        }
    }

    /** Drops chunks, in ascending order, to keep the cache's budget; returns the bytes freed. An idle object left with nothing closes. */
    long evict(int[] chunks) {
        long freed;
        memoryInUse.readLock().lock();
        try {
            if (closed) {
                return 0;
            }
            freed = installer.evict(chunks);
        } finally {
            memoryInUse.readLock().unlock();
        }
        boolean idleAndEmpty;
        synchronized (this) {
            idleAndEmpty = users == 0 && freed > 0 && table.presentBytes() == 0;
        }
        if (idleAndEmpty) {
            // Not on this thread: it may be a fetch worker of another object, whose close this one could wait for.
            Thread.ofVirtual().name("anymap-drop-object").start(this::closeIfIdle);
        }
        return freed;
    }

    /** Closes the backend while fetches are stuck on it past their deadline: its contract releases them. */
    void closeBackend() {
        closeQuietly(backend());
    }

    private void closeQuietly(StorageBackend backend) {
        if (backend == null) {
            return;
        }
        try {
            backend.close();
        } catch (IOException | RuntimeException | Error e) {
            LOG.log(System.Logger.Level.WARNING, "closing " + printableUri + ": " + e);
        }
    }

    /** Stops the fetches, and frees the memory and the backend: the object leaves the cache. */
    void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        shutDown();
    }

    private void shutDown() {
        cache.remove(key, this);
        fetches.stop();
        if (writeBack != null) {
            writeBack.awaitCommit(); // a client that dies in the middle of a flush leaves it to end, never half done
        }
        Source last = source;
        source = null;
        // Closed before the wait: a worker blocked in a slow read is released by it.
        closeQuietly(last == null ? null : last.backend());
        boolean stopped;
        try {
            stopped = fetches.awaitStopped(CLOSE_TIMEOUT_NANOS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopped = false;
        }
        long cached = table.presentBytes();
        if (!stopped) {
            // A thread that may still copy into the memory must not find its mapping reused.
            LOG.log(System.Logger.Level.WARNING, printableUri + ": a fetch is still running as it leaves the cache; its memory is left mapped");
            return;
        }
        for (int chunk = 0; chunk < table.chunks(); chunk++) {
            notAhead(chunk);
        }
        memoryInUse.writeLock().lock();
        try {
            installer.close();
            fetches.free();
            memory.close();
        } finally {
            memoryInUse.writeLock().unlock();
        }
        cache.freed(this, cached);
    }
}
