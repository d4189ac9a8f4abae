package dev.anymap.server;

import dev.anymap.linux.Errno;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How fetched bytes become mapped: copied into the object's memory in the shared page cache, which
 * every region maps, within the cache's budget; then the regions whose threads wait on the chunk
 * are woken. A chunk that cannot be fetched is poisoned in those regions instead, and a chunk
 * dropped to keep the budget is freed for every region at once.
 */
final class ChunkInstaller {
    private static final System.Logger LOG = System.getLogger(ChunkInstaller.class.getName());

    private final ServedObject object;
    private final ChunkTable table;
    private final ObjectMemory memory;
    private final PageCache cache;
    private final Map<Integer, Held> held = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.LongAdder evictions = new java.util.concurrent.atomic.LongAdder();

    /** A trigger chunk's bytes, kept until the scan faults on it. */
    private record Held(Arena arena, MemorySegment bytes) {}

    ChunkInstaller(ServedObject object, ObjectMemory memory, PageCache cache) {
        this.object = object;
        this.table = object.table();
        this.memory = memory;
        this.cache = cache;
    }

    /** Puts a chunk's bytes at {@code source} into the cache, then wakes every region that waits on it. */
    void install(int chunk, long source, Userfaultfd.FillRequest fill) {
        byte state = table.state(chunk);
        if (state == ChunkTable.PRESENT || state == ChunkTable.FAILED) {
            return; // read twice, for a fault far ahead of a read: the first settled it
        }
        long length = table.fillLength(chunk, 1);
        cache.makeRoom(length);
        int result = memory.fill(table.offset(chunk), source, length, fill);
        if (result != 0) {
            if (!object.isClosed()) {
                LOG.log(System.Logger.Level.ERROR, object.printableUri() + ": installing chunk " + chunk + " failed with "
                        + Errno.name(-result) + "; the threads waiting on it are woken to fault again");
            }
            table.reset(chunk);
            object.arrived(chunk, fill);
            return;
        }
        table.present(chunk);
        cache.admitted(object, chunk, length);
        object.arrived(chunk, fill);
    }

    /**
     * Keeps a trigger chunk's bytes back instead of installing them, unless a thread already waits
     * for it. The bytes are in the map before the state says HELD, so the fault that takes them finds them.
     */
    boolean hold(int chunk, long source) {
        long length = table.fillLength(chunk, 1);
        Arena arena = Arena.ofShared();
        MemorySegment copy = arena.allocate(length, RegionServer.PAGE);
        MemorySegment.copy(MemorySegment.ofAddress(source).reinterpret(length), 0, copy, 0, length);
        held.put(chunk, new Held(arena, copy));
        if (table.hold(chunk)) {
            return true;
        }
        held.remove(chunk);
        arena.close();
        return false;
    }

    /** A thread faulted on a HELD chunk: installs its bytes; false if another fault took them first. */
    boolean installHeld(int chunk, Userfaultfd.FillRequest fill) {
        if (!table.takeHeld(chunk)) {
            return false;
        }
        Held bytes = held.remove(chunk);
        install(chunk, bytes.bytes().address(), fill);
        bytes.arena().close();
        return true;
    }

    /**
     * Poisons the chunk in the regions whose threads wait on it: they, and every later touch there,
     * get SIGBUS (which the JVM turns into an InternalError at the access). The chunk is FAILED: a
     * fault on it in another region fetches it again.
     */
    void fail(int chunk, String description, RegionCounters counters, Userfaultfd.FillRequest fill) {
        counters.failed(description);
        LOG.log(System.Logger.Level.WARNING, description);
        table.failed(chunk);
        object.failed(chunk, fill);
    }

    /**
     * Drops the PRESENT ones of {@code chunks} (in ascending order) from the cache, adjacent ones with
     * one hole punched: each punch unmaps the range in every process that maps it, which costs every
     * CPU that runs one of them a TLB flush. Returns the bytes freed.
     */
    long evict(int[] chunks) {
        long freed = 0;
        int runStart = -1;
        int runEnd = -1;
        for (int chunk : chunks) {
            if (!table.startEviction(chunk)) {
                continue;
            }
            if (chunk != runEnd) {
                freed += runStart < 0 ? 0 : drop(runStart, runEnd - runStart);
                runStart = chunk;
            }
            runEnd = chunk + 1;
        }
        return freed + (runStart < 0 ? 0 : drop(runStart, runEnd - runStart));
    }

    /** Punches the hole of {@code count} EVICTING chunks from {@code first}; returns the bytes freed. */
    private long drop(int first, int count) {
        long length = table.fillLength(first, count);
        try {
            memory.drop(table.offset(first), length);
        } catch (NativeException e) {
            LOG.log(System.Logger.Level.ERROR, "dropping chunks " + first + " to " + (first + count - 1) + " of " + object.printableUri()
                    + " from the cache: " + e.getMessage());
            for (int c = first; c < first + count; c++) {
                table.present(c);
            }
            return 0;
        }
        for (int c = first; c < first + count; c++) {
            table.evicted(c);
            object.notAhead(c);
        }
        cache.uncached(object, first, count);
        evictions.add(count);
        cache.dropped(count, length);
        return length;
    }

    /** The chunks dropped from the cache so far. */
    long evictions() {
        return evictions.sum();
    }

    /** Frees the held bytes; the object is closing. */
    void close() {
        held.values().forEach(bytes -> bytes.arena().close());
        held.clear();
    }
}
