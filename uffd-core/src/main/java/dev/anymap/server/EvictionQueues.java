package dev.anymap.server;

import java.util.Iterator;
import java.util.LinkedHashMap;

/**
 * Which cached chunk to drop next: a two-queue policy that one pass over a large object cannot
 * flush a working set out of. A chunk enters a probation queue; dropped from there, it is
 * remembered for a while as a ghost, and if it is fetched again meanwhile, it was wanted twice and
 * enters the protected queue. Chunks are dropped from probation while it holds more than its share
 * of the cache, so a scan cycles through probation and leaves the protected chunks alone.
 *
 * <p>The page server sees only faults, never the reads of a page already mapped, so a chunk's
 * second use shows only as a fault after it was dropped: the ghosts are what tell a working set
 * from a scan. Not thread safe: the {@link PageCache} guards it.
 */
final class EvictionQueues {
    /** The share of the cache that probation may hold while protected chunks are there to drop. */
    private static final double PROBATION_SHARE = 0.25;
    /** How much the ghosts remember, as a multiple of the cache's limit: enough to span a scan of a few times the cache. */
    private static final long GHOST_MULTIPLE = 4;

    /** One chunk of one served object. */
    record Slot(ServedObject object, int chunk) {}

    private final long limit;
    private final LinkedHashMap<Slot, Long> probation = new LinkedHashMap<>();
    private final LinkedHashMap<Slot, Long> protectedChunks = new LinkedHashMap<>();
    private final LinkedHashMap<Slot, Long> ghosts = new LinkedHashMap<>();
    private long probationBytes;
    private long ghostBytes;

    EvictionQueues(long limit) {
        this.limit = limit;
    }

    /** A chunk entered the cache. */
    void admit(Slot slot, long bytes) {
        Long ghost = ghosts.remove(slot);
        if (ghost != null) {
            ghostBytes -= ghost;
            protectedChunks.put(slot, bytes);
        } else {
            probation.put(slot, bytes);
            probationBytes += bytes;
        }
    }

    /** The next chunk to drop, taken off its queue and remembered as a ghost; null if none is cached. */
    Slot victim() {
        boolean fromProbation = fromProbation();
        LinkedHashMap<Slot, Long> queue = fromProbation ? probation : protectedChunks;
        Iterator<java.util.Map.Entry<Slot, Long>> head = queue.entrySet().iterator();
        if (!head.hasNext()) {
            return null;
        }
        java.util.Map.Entry<Slot, Long> entry = head.next();
        head.remove();
        if (fromProbation) {
            probationBytes -= entry.getValue();
        }
        remember(entry.getKey(), entry.getValue());
        return entry.getKey();
    }

    /** The chunk {@link #victim()} would take now, left where it is; null if none. */
    Slot nextVictim() {
        LinkedHashMap<Slot, Long> queue = fromProbation() ? probation : protectedChunks;
        return queue.isEmpty() ? null : queue.firstEntry().getKey();
    }

    private boolean fromProbation() {
        return !probation.isEmpty() && (protectedChunks.isEmpty() || probationBytes > limit * PROBATION_SHARE);
    }

    /** Takes {@code slot} off its queue, to be dropped out of turn, and remembers it as a ghost; false if it was in none. */
    boolean remove(Slot slot) {
        Long bytes = probation.remove(slot);
        if (bytes != null) {
            probationBytes -= bytes;
        } else if ((bytes = protectedChunks.remove(slot)) == null) {
            return false;
        }
        remember(slot, bytes);
        return true;
    }

    /** An object left the cache: its chunks, and their ghosts, are forgotten. */
    void forget(ServedObject object) {
        for (Iterator<java.util.Map.Entry<Slot, Long>> i = probation.entrySet().iterator(); i.hasNext(); ) {
            java.util.Map.Entry<Slot, Long> entry = i.next();
            if (entry.getKey().object() == object) {
                probationBytes -= entry.getValue();
                i.remove();
            }
        }
        protectedChunks.keySet().removeIf(slot -> slot.object() == object);
        for (Iterator<java.util.Map.Entry<Slot, Long>> i = ghosts.entrySet().iterator(); i.hasNext(); ) {
            java.util.Map.Entry<Slot, Long> entry = i.next();
            if (entry.getKey().object() == object) {
                ghostBytes -= entry.getValue();
                i.remove();
            }
        }
    }

    private void remember(Slot slot, long bytes) {
        ghosts.put(slot, bytes);
        ghostBytes += bytes;
        Iterator<java.util.Map.Entry<Slot, Long>> oldest = ghosts.entrySet().iterator();
        while (ghostBytes > limit * GHOST_MULTIPLE && oldest.hasNext()) {
            ghostBytes -= oldest.next().getValue();
            oldest.remove();
        }
    }
}
