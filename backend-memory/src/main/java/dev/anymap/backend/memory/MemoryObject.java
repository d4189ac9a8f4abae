package dev.anymap.backend.memory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Off-heap bytes shared by the backends open on one object, freed when the last one lets go: a
 * shared arena closed by reference count, so that a removed multi-GiB object is returned to the
 * system at once rather than whenever a GC happens to notice it.
 */
final class MemoryObject {
    private final Arena arena;
    private final MemorySegment bytes;
    private final boolean writable;
    private final AtomicLong generation = new AtomicLong();
    private int references = 1;

    private MemoryObject(Arena arena, MemorySegment bytes, boolean writable) {
        this.arena = arena;
        this.bytes = bytes;
        this.writable = writable;
    }

    static MemoryObject allocate(long size, boolean writable) {
        if (size < 0) {
            throw new IllegalArgumentException("negative size " + size);
        }
        Arena arena = Arena.ofShared();
        // Page alignment lets a reader copy whole pages without straddling two.
        return new MemoryObject(arena, arena.allocate(size, 4096), writable);
    }

    MemorySegment bytes() {
        return bytes;
    }

    boolean writable() {
        return writable;
    }

    long generation() {
        return generation.get();
    }

    void wrote() {
        generation.incrementAndGet();
    }

    synchronized boolean retain() {
        if (references == 0) {
            return false;
        }
        references++;
        return true;
    }

    synchronized void release() {
        if (--references == 0) {
            // Reads still copying from this arena on other threads fail with IllegalStateException
            // (the JVM makes closing a shared arena safe); MemoryBackend reports that as closed.
            arena.close();
        }
    }
}
