package dev.anymap.server;

import java.util.ArrayDeque;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What one client process may hold of the page server's work and memory, across all its regions and
 * connections: storage reads outstanding at once, bytes fetched ahead of its faults, and its share
 * of the page cache. Past the first, its reads wait their turn in order, demand before prefetch;
 * past the second, its prefetching stops; past the third, its own chunks are the first the cache
 * drops. Nothing here fails a fault: a limit only ever queues or trims.
 */
final class PeerBudget {
    private static final System.Logger LOG = System.getLogger(PeerBudget.class.getName());
    private static final PeerWarnings WARNINGS = new PeerWarnings(LOG, "process");
    /** A budget that limits nothing: the server's own regions, taken over before any client comes. */
    static final PeerBudget UNLIMITED = new PeerBudget(0, Integer.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE);

    private final long pid;
    private final int fetchLimit;
    /** Prefetch reads may take this many of {@link #fetchLimit}: a fault of the process never waits behind all its prefetching. */
    private final int prefetchFetchLimit;
    private final long prefetchLimit;
    private final long cacheShare;

    private int inFlight;
    private int mostInFlight;
    private final ArrayDeque<Waiting> waitingDemand = new ArrayDeque<>();
    private final ArrayDeque<Waiting> waitingPrefetch = new ArrayDeque<>();
    /** Reads handed a turn while queued, which take it when a worker picks them up again. */
    private final Set<Object> granted = Collections.newSetFromMap(new IdentityHashMap<>());

    private final AtomicLong prefetchHeld = new AtomicLong();
    private final AtomicLong mostPrefetchHeld = new AtomicLong();

    /** The chunks fetched for this process that the cache holds, oldest first, and their bytes; guarded by the {@link PageCache}. */
    final LinkedHashMap<EvictionQueues.Slot, Long> cached = new LinkedHashMap<>();
    /** Guarded by the {@link PageCache}, read without it for status. */
    volatile long cachedBytes;
    volatile long mostCachedBytes;

    private record Waiting(Object read, Runnable requeue) {}

    PeerBudget(long pid, int fetchLimit, long prefetchLimit, long cacheShare) {
        this.pid = pid;
        this.fetchLimit = fetchLimit;
        this.prefetchFetchLimit = Math.max(1, fetchLimit / 2);
        this.prefetchLimit = prefetchLimit;
        this.cacheShare = cacheShare;
    }

    long pid() {
        return pid;
    }

    /**
     * Starts {@code read} if the process has a turn for it, else queues it: {@code requeue} puts it
     * back in its scheduler's queue once a turn is free, kept for it.
     *
     * @return whether the read may start now; if not, the caller leaves it
     */
    boolean startFetch(Object read, boolean prefetch, Runnable requeue) {
        synchronized (this) {
            if (granted.remove(read)) {
                return true;
            }
            if (inFlight < (prefetch ? prefetchFetchLimit : fetchLimit) && (prefetch || waitingDemand.isEmpty())) {
                inFlight++;
                mostInFlight = Math.max(mostInFlight, inFlight);
                return true;
            }
            (prefetch ? waitingPrefetch : waitingDemand).add(new Waiting(read, requeue));
            return false;
        }
    }

    /** A read started by {@link #startFetch} ended: its turn goes to the next queued read, a fault's first. */
    void fetchEnded() {
        Waiting next;
        synchronized (this) {
            inFlight--;
            next = waitingDemand.poll();
            if (next == null && inFlight < prefetchFetchLimit) {
                next = waitingPrefetch.poll();
            }
            if (next == null) {
                return;
            }
            inFlight++;
            mostInFlight = Math.max(mostInFlight, inFlight);
            granted.add(next.read());
        }
        next.requeue().run();
    }

    /** A read that will not run after all (its object stopped): its queued place or its kept turn is given up. */
    void fetchDropped(Object read) {
        boolean hadTurn;
        synchronized (this) {
            waitingDemand.removeIf(waiting -> waiting.read() == read);
            waitingPrefetch.removeIf(waiting -> waiting.read() == read);
            hadTurn = granted.remove(read);
        }
        if (hadTurn) {
            fetchEnded();
        }
    }

    synchronized int fetchesInFlight() {
        return inFlight;
    }

    synchronized int mostFetchesInFlight() {
        return mostInFlight;
    }

    /**
     * Reserves {@code bytes} of prefetch memory; false if the process's limit leaves no room, which is
     * logged (a few lines a minute for one process): its readahead, pull or trace stops there.
     */
    boolean reservePrefetch(long bytes) {
        // Never over the limit, not even for a moment: a status taken meanwhile reports what is held.
        long held;
        do {
            held = prefetchHeld.get();
            if (held + bytes > prefetchLimit) {
                WARNINGS.warn(pid, "process " + pid + " holds " + held + " bytes fetched ahead of its faults, the most this page"
                        + " server fetches ahead for one process (--max-prefetch-memory-per-process " + prefetchLimit + " of anymap"
                        + " serve raises it); its prefetching stops until they leave the cache, and its faults are served as before");
                return false;
            }
        } while (!prefetchHeld.compareAndSet(held, held + bytes));
        mostPrefetchHeld.accumulateAndGet(held + bytes, Math::max);
        return true;
    }

    /** Gives back prefetch memory: a chunk fetched ahead left the cache, or was never fetched. */
    void releasePrefetch(long bytes) {
        prefetchHeld.addAndGet(-bytes);
    }

    long prefetchHeld() {
        return prefetchHeld.get();
    }

    long mostPrefetchHeld() {
        return mostPrefetchHeld.get();
    }

    long prefetchLimit() {
        return prefetchLimit;
    }

    long cacheShare() {
        return cacheShare;
    }

    /** Under the cache's lock: a chunk fetched for this process entered the cache. */
    void cachedChunk(EvictionQueues.Slot slot, long bytes) {
        if (cached.putIfAbsent(slot, bytes) == null) {
            cachedBytes += bytes;
            mostCachedBytes = Math.max(mostCachedBytes, cachedBytes);
        }
    }

    /** Under the cache's lock: a chunk of this process left the cache; returns its bytes, or -1 if it was not counted. */
    long uncachedChunk(EvictionQueues.Slot slot) {
        Long bytes = cached.remove(slot);
        if (bytes == null) {
            return -1;
        }
        cachedBytes -= bytes;
        return bytes;
    }

    /** Under the cache's lock: whether this process holds more than its share. */
    boolean pastShare() {
        return cachedBytes > cacheShare;
    }
}
