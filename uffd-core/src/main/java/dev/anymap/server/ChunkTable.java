package dev.anymap.server;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.stream.IntStream;

/**
 * The state of every chunk of a served object, and the only place it changes. Every transition is
 * a compare-and-set, so that concurrent faults on one chunk merge into one fetch.
 *
 * <p>A chunk is EMPTY; IN_FLIGHT (claimed for a prefetch that no thread waits for yet); WANTED (a
 * thread waits); PRESENT; FAILED (a fetch gave up and the chunk is poisoned where it was wanted);
 * HELD (fetched as a readahead trigger and kept back, see {@link SequentialStreams}); or EVICTING
 * (its pages are being dropped from the cache). Only a fault moves a chunk out of EMPTY, FAILED or
 * HELD.
 */
final class ChunkTable {
    static final byte EMPTY = 0;
    static final byte IN_FLIGHT = 1;
    static final byte WANTED = 2;
    static final byte PRESENT = 3;
    static final byte FAILED = 4;
    static final byte HELD = 5;
    static final byte EVICTING = 6;
    private static final VarHandle STATE = MethodHandles.arrayElementVarHandle(byte[].class);

    private final byte[] states;
    private final int chunkSize;
    private final long mappedLength;
    /** The bytes of the PRESENT chunks, kept as they come and go: status and stats ask often, and a table may have millions. */
    private final java.util.concurrent.atomic.AtomicLong presentBytes = new java.util.concurrent.atomic.AtomicLong();

    /**
     * The most chunks of one object. The server keeps about ten bytes of heap a chunk (this table, who
     * fetched each and who waits), and more for each region: a bound of 64 Mi chunks (256 GiB in 4 KiB
     * chunks, 16 TiB in the default 256 KiB) keeps one map from taking the server's whole heap.
     */
    static final long MAX_CHUNKS = 1L << 26;

    ChunkTable(long mappedLength, int chunkSize, String printableUri) {
        long chunks = (mappedLength + chunkSize - 1) / chunkSize;
        if (chunks > MAX_CHUNKS) {
            long enough = Long.highestOneBit((mappedLength - 1) / MAX_CHUNKS) << 1;
            throw new IllegalArgumentException("a chunk size of " + chunkSize + " makes " + chunks + " chunks of " + printableUri
                    + ", more than the " + MAX_CHUNKS + " a page server serves of one object; map it with chunks of at least "
                    + enough + " bytes");
        }
        this.states = new byte[(int) chunks];
        this.chunkSize = chunkSize;
        this.mappedLength = mappedLength;
    }

    int chunks() {
        return states.length;
    }

    int chunkSize() {
        return chunkSize;
    }

    byte state(int chunk) {
        return (byte) STATE.getVolatile(states, chunk);
    }

    /** A thread faulted on an EMPTY or FAILED chunk: it is fetched for it. */
    boolean want(int chunk, byte seen) {
        return (seen == EMPTY || seen == FAILED) && STATE.compareAndSet(states, chunk, seen, WANTED);
    }

    /** A thread faulted on a chunk claimed for a prefetch: the prefetch now brings a wanted chunk. */
    boolean wantInFlight(int chunk) {
        return STATE.compareAndSet(states, chunk, IN_FLIGHT, WANTED);
    }

    /** Claims an EMPTY chunk for a prefetch. */
    boolean claim(int chunk) {
        return STATE.compareAndSet(states, chunk, EMPTY, IN_FLIGHT);
    }

    /** Gives back a claimed chunk that no thread came to want; false if one did. */
    boolean unclaim(int chunk) {
        return STATE.compareAndSet(states, chunk, IN_FLIGHT, EMPTY);
    }

    /** Keeps a fetched trigger chunk back until a thread faults on it; false if one already waits. */
    boolean hold(int chunk) {
        return STATE.compareAndSet(states, chunk, IN_FLIGHT, HELD);
    }

    /** Takes a HELD chunk for its install. */
    boolean takeHeld(int chunk) {
        return STATE.compareAndSet(states, chunk, HELD, WANTED);
    }

    void present(int chunk) {
        set(chunk, PRESENT);
    }

    void failed(int chunk) {
        set(chunk, FAILED);
    }

    /** An install failed: the chunk is fetched again when a thread faults on it. */
    void reset(int chunk) {
        set(chunk, EMPTY);
    }

    private void set(int chunk, byte state) {
        byte was = (byte) STATE.getAndSet(states, chunk, state);
        if ((was == PRESENT) != (state == PRESENT)) {
            presentBytes.addAndGet(state == PRESENT ? fillLength(chunk, 1) : -fillLength(chunk, 1));
        }
    }

    /** Starts dropping a PRESENT chunk; false if it is not present. */
    boolean startEviction(int chunk) {
        if (!STATE.compareAndSet(states, chunk, PRESENT, EVICTING)) {
            return false;
        }
        presentBytes.addAndGet(-fillLength(chunk, 1));
        return true;
    }

    void evicted(int chunk) {
        STATE.setVolatile(states, chunk, EMPTY);
    }

    boolean isPresent(int chunk) {
        return state(chunk) == PRESENT;
    }

    /** The length of the object's memory: its size in whole pages. */
    long mappedLength() {
        return mappedLength;
    }

    long offset(int chunk) {
        return (long) chunk * chunkSize;
    }

    /** The bytes that {@code count} chunks from {@code firstChunk} fill: whole pages, up to the mapping's end. */
    long fillLength(int firstChunk, int count) {
        return Math.min((long) count * chunkSize, mappedLength - offset(firstChunk));
    }

    long presentBytes() {
        return presentBytes.get();
    }

    int[] presentChunks() {
        return IntStream.range(0, states.length).filter(this::isPresent).toArray();
    }
}
