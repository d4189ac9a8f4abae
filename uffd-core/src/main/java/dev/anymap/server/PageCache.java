package dev.anymap.server;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * The page server's shared page cache: one {@link ServedObject} per object version, whose memory
 * every process that maps the object shares, all held within one memory budget. Past the budget,
 * clean chunks are dropped ({@link EvictionQueues} chooses which) and fetched again when next
 * touched; objects no region maps any more stay cached until their chunks are dropped.
 *
 * <p>Chunks are dropped ahead, by a thread of the cache's own, once the cache is within a
 * sixteenth of its budget, down to an eighth below it: a fetch that installs a chunk finds room,
 * and a fault does not wait for a hole to be punched. A fetch that finds the cache full all the
 * same (the dropping fell behind) drops what it needs itself.
 */
final class PageCache {
    private static final System.Logger LOG = System.getLogger(PageCache.class.getName());
    /** The least budget a page server takes: a few chunks of the largest size in flight at once. */
    static final long MIN_LIMIT = 4L * RegionServer.MAX_CHUNK;
    /** The most of its budget one chunk may be, so that the chunks being read never have to evict one another. */
    static final int CHUNKS_PER_LIMIT = 8;
    /** The share of the budget that objects no region maps may hold. */
    private static final double IDLE_SHARE = 0.25;
    /** The most one batch of dropping takes at once. */
    private static final long EVICTION_BATCH = 16 << 20;

    /** What makes two maps the same object: the same URI, options, version and chunk size. */
    record Key(String uri, Map<String, String> options, String version, int chunkSize) {}

    private final long limit;
    private final AtomicLong resident = new AtomicLong();
    private final LongAdder evictions = new LongAdder();
    /** Guarded by this, as is {@link #queues}. */
    private final Map<Key, ServedObject> objects = new HashMap<>();
    private final EvictionQueues queues;
    /** The objects no region maps, least recently left first, and their bytes when they were left; guarded by this. */
    private final LinkedHashMap<ServedObject, Long> idle = new LinkedHashMap<>();
    private long idleBytes;
    /** The processes that chunks in the cache were fetched for; guarded by this. */
    private final java.util.Set<PeerBudget> owners = new java.util.HashSet<>();
    /** Above this, the evicting thread drops chunks down to {@link #lowWatermark}. */
    private final long highWatermark;
    private final long lowWatermark;
    private final Object evictionDue = new Object();
    private final Thread evictor;
    private boolean evicting;

    PageCache(long limit) {
        if (limit < MIN_LIMIT) {
            throw new IllegalArgumentException("a page cache limit of " + limit + " bytes is below the least a page server needs, "
                    + MIN_LIMIT + " bytes (" + CHUNKS_PER_LIMIT / 2 + " chunks of the largest size, " + RegionServer.MAX_CHUNK
                    + " bytes); set --cache-limit to at least " + (MIN_LIMIT >> 20) + " MiB");
        }
        this.limit = limit;
        this.queues = new EvictionQueues(limit);
        this.highWatermark = limit - limit / 16;
        this.lowWatermark = limit - limit / 8;
        this.evictor = Thread.ofPlatform().name("anymap-cache-evictor").daemon().start(this::evictAhead);
    }

    /** Stops dropping chunks ahead: the page server is closing. */
    void close() {
        evictor.interrupt();
    }

    /** The least memory a page server runs in: its own JVM, about 100 MiB, and the least cache. */
    static final long MIN_MEMORY = 256L << 20;

    /**
     * The default budget: half of the machine's memory or of the memory cgroup's limit, whichever is
     * lower; the other half is for the page server's JVM, its keeper and standby, and the applications.
     *
     * @throws IllegalArgumentException if that memory is too small for a page server at all
     */
    static long defaultLimit() {
        long memory = PhysicalMemory.total();
        if (memory < MIN_MEMORY) {
            throw new IllegalArgumentException("the memory cgroup (or the machine) allows " + (memory >> 20) + " MiB, and a page server"
                    + " needs at least " + (MIN_MEMORY >> 20) + " MiB: about 100 MiB for its JVM and " + (MIN_LIMIT >> 20)
                    + " MiB for its cache; raise the cgroup's memory limit");
        }
        return Math.max(MIN_LIMIT, memory / 2);
    }

    long limit() {
        return limit;
    }

    long residentBytes() {
        return resident.get();
    }

    long evictions() {
        return evictions.sum();
    }

    /** Throws unless chunks of {@code chunkSize} fit this cache's budget many times over. */
    void checkChunkSize(int chunkSize, String printableUri) {
        if ((long) chunkSize * CHUNKS_PER_LIMIT > limit) {
            throw new IllegalArgumentException("chunks of " + chunkSize + " bytes for " + printableUri + " do not fit the page cache's limit of "
                    + limit + " bytes " + CHUNKS_PER_LIMIT + " times; use smaller chunks, or give the page server a larger --cache-limit");
        }
    }

    /**
     * The served object for {@code key} with a region more on it: the cached one, or a new one from
     * {@code create}. A key of null is never shared.
     *
     * @param takenOver the memory of a region taken over from a dead server, or null: the cached
     *     object serves the region only if it is the same memory, which is then closed here
     */
    synchronized ServedObject acquire(Key key, ObjectMemory takenOver, Supplier<ServedObject> create) {
        // Created under the lock, which costs a memfd and a mapping: two maps of one object at once must find the same.
        ServedObject cached = key == null ? null : objects.get(key);
        if (cached != null && cached.isReusable() && (takenOver == null || cached.memory().sameFile(takenOver)) && cached.acquire()) {
            Long wasIdle = idle.remove(cached);
            idleBytes -= wasIdle == null ? 0 : wasIdle;
            if (takenOver != null) {
                takenOver.close();
            }
            return cached;
        }
        ServedObject created = create.get();
        created.acquire();
        if (key != null && (cached == null || !cached.isReusable())) {
            objects.put(key, created);
        }
        return created;
    }

    /** The object is closing: it is no longer cached. */
    synchronized void remove(Key key, ServedObject object) {
        if (key != null) {
            objects.remove(key, object);
        }
        Long wasIdle = idle.remove(object);
        idleBytes -= wasIdle == null ? 0 : wasIdle;
    }

    /**
     * The object lost its last region, holding {@code bytes}: it stays cached for the next map of it,
     * but objects no region maps hold at most {@link #IDLE_SHARE} of the budget, the least recently
     * left leaving first. Without that bound, a server that maps object after object keeps them all
     * up to its budget, half the machine by default, and the kernel's own page cache (a local store's
     * files among them) is what gives way.
     */
    void idled(ServedObject object, long bytes) {
        List<ServedObject> leaving = new ArrayList<>();
        synchronized (this) {
            idle.put(object, bytes);
            idleBytes += bytes;
            for (var eldest = idle.entrySet().iterator(); idleBytes > limit * IDLE_SHARE && eldest.hasNext(); ) {
                var entry = eldest.next();
                eldest.remove();
                idleBytes -= entry.getValue();
                leaving.add(entry.getKey());
            }
        }
        if (!leaving.isEmpty()) {
            // Not on this thread, a client's session: a closing object waits for its fetches to stop.
            Thread.ofVirtual().name("anymap-drop-idle").start(() -> leaving.forEach(ServedObject::closeIfIdle));
        }
    }

    /** A chunk of {@code bytes} entered the cache. */
    void admitted(ServedObject object, int chunk, long bytes) {
        long now = resident.addAndGet(bytes);
        if (!object.writable()) { // a writable region's chunks may hold writes that only it has: they count, but never go
            PeerBudget owner = object.fetchedFor(chunk);
            synchronized (this) {
                EvictionQueues.Slot slot = new EvictionQueues.Slot(object, chunk);
                queues.admit(slot, bytes);
                if (owner != null) {
                    owner.cachedChunk(slot, bytes);
                    owners.add(owner);
                }
            }
        }
        if (now > highWatermark) {
            synchronized (evictionDue) {
                if (!evicting) {
                    evicting = true;
                    evictionDue.notifyAll();
                }
            }
        }
    }

    /** The evicting thread: waits until the cache passes its high watermark, then drops chunks down to the low one. */
    private void evictAhead() {
        while (true) {
            synchronized (evictionDue) {
                while (!evicting) {
                    try {
                        evictionDue.wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
            try {
                dropDownTo(lowWatermark);
            } catch (RuntimeException | Error e) {
                LOG.log(System.Logger.Level.ERROR, "dropping chunks from the page cache failed", e);
            } finally {
                synchronized (evictionDue) {
                    evicting = false;
                }
            }
        }
    }

    /** {@code chunks} chunks, {@code bytes} in all, were dropped to keep the budget. */
    void dropped(int chunks, long bytes) {
        resident.addAndGet(-bytes);
        evictions.add(chunks);
    }

    /** Chunks {@code [first, first + count)} of {@code object} left the cache: their processes' shares are less by them. */
    void uncached(ServedObject object, int first, int count) {
        synchronized (this) {
            for (int c = first; c < first + count; c++) {
                PeerBudget owner = object.fetchedFor(c);
                if (owner != null) {
                    owner.uncachedChunk(new EvictionQueues.Slot(object, c));
                    if (owner.cached.isEmpty()) {
                        owners.remove(owner);
                    }
                }
            }
        }
    }

    /** An object left the cache, and its chunks, {@code bytes} in all, with it. */
    void freed(ServedObject object, long bytes) {
        resident.addAndGet(-bytes);
        synchronized (this) {
            queues.forget(object);
            for (var owner = owners.iterator(); owner.hasNext(); ) {
                PeerBudget peer = owner.next();
                peer.cached.keySet().stream().filter(slot -> slot.object() == object).toList().forEach(peer::uncachedChunk);
                if (peer.cached.isEmpty()) {
                    owner.remove();
                }
            }
        }
    }

    /**
     * Under this lock: the oldest chunk of a process past its share of the cache, taken off the
     * queues; null if no process is past its share. One process's scan of a huge object thus drops
     * its own chunks, and leaves the chunks of the others in the cache.
     */
    private EvictionQueues.Slot shareVictim() {
        for (PeerBudget owner : owners) {
            while (owner.pastShare() && !owner.cached.isEmpty()) {
                EvictionQueues.Slot slot = owner.cached.keySet().iterator().next();
                owner.uncachedChunk(slot);
                if (queues.remove(slot)) {
                    return slot;
                }
            }
        }
        return null;
    }

    /**
     * Drops chunks until {@code bytes} more fit the budget. Chunks being read do not count until
     * they are installed, so the cache may briefly hold what is in flight beyond its budget.
     */
    void makeRoom(long bytes) {
        dropDownTo(limit - bytes);
    }

    /**
     * Drops chunks, the policy's victims first, until the cache holds at most {@code target} bytes or
     * nothing is left to drop: in batches of up to {@link #EVICTION_BATCH} bytes, each object's in
     * one call, so that adjacent victims (a scan's) go in one hole.
     */
    private void dropDownTo(long target) {
        long over;
        while ((over = resident.get() - target) > 0) {
            Map<ServedObject, List<Integer>> victims = new HashMap<>();
            synchronized (this) {
                for (long taken = 0; taken < Math.min(over, EVICTION_BATCH); ) {
                    EvictionQueues.Slot next = queues.nextVictim();
                    if (next == null) {
                        break;
                    }
                    PeerBudget nextOwner = next.object().fetchedFor(next.chunk());
                    // The policy's victim stands unless it is of a process within its share while another is past
                    // its own: that one gives up its chunk instead. A process alone keeps the policy's order.
                    EvictionQueues.Slot victim = nextOwner != null && nextOwner.pastShare() ? null : shareVictim();
                    if (victim == null) {
                        victim = queues.victim();
                    }
                    victims.computeIfAbsent(victim.object(), object -> new ArrayList<>()).add(victim.chunk());
                    taken += victim.object().table().fillLength(victim.chunk(), 1);
                }
            }
            if (victims.isEmpty()) {
                LOG.log(System.Logger.Level.DEBUG, "the page cache is over its limit with nothing to drop");
                return;
            }
            victims.forEach((object, chunks) -> object.evict(chunks.stream().mapToInt(Integer::intValue).sorted().toArray()));
        }
    }
}
