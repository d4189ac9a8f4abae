package dev.anymap.backend.memory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Off-heap bytes shared by the backends open on one object, freed when the last one lets go: a
 * shared arena closed by reference count, so that a removed multi-GiB object is returned to the
 * system at once rather than whenever a GC happens to notice it.
 *
 * <p>One object is one version: its bytes never change once it is stored. A commit makes a new
 * object, so that backends open on the old version, and the views they handed out, keep reading it.
 */
final class MemoryObject {
    /** Generations for the whole JVM, so that no two objects stored under one name share a version. */
    private static final AtomicLong GENERATIONS = new AtomicLong();

    private final Arena arena;
    private final MemorySegment bytes;
    private final long generation;
    private int references = 1;

    private MemoryObject(Arena arena, MemorySegment bytes, long generation) {
        this.arena = arena;
        this.bytes = bytes;
        this.generation = generation;
    }

    /** A new named object, at a generation no other object of this JVM has. */
    static MemoryObject allocate(long size) {
        return allocate(size, GENERATIONS.incrementAndGet());
    }

    /**
     * A generated object, at generation 0 in every process: its bytes are a function of its URI, and
     * a page server and its clients must agree on its version.
     */
    static MemoryObject allocateGenerated(long size) {
        return allocate(size, 0);
    }

    private static MemoryObject allocate(long size, long generation) {
        if (size < 0) {
            throw new IllegalArgumentException("negative size " + size);
        }
        Arena arena = Arena.ofShared();
        // Page alignment lets a reader copy whole pages without straddling two.
        return new MemoryObject(arena, arena.allocate(size, 4096), generation);
    }

    /** The bytes; written only by whoever allocated the object, before anyone else can see it. */
    MemorySegment bytes() {
        return bytes;
    }

    long generation() {
        return generation;
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
