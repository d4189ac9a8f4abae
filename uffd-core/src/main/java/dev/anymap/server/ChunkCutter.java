package dev.anymap.server;

import dev.anymap.spi.ByteSink;
import java.lang.foreign.MemorySegment;

/**
 * Cuts the streamed bytes of adjacent chunks into whole chunks, in a staging buffer of one chunk,
 * and hands each on as soon as it is whole: a prefetch of many MiB installs its first chunk when
 * that chunk has arrived, not when the last one has, and holds one chunk of memory, not the
 * extent. One per fetch worker.
 */
final class ChunkCutter implements ByteSink {

    /** Takes a whole chunk: its bytes padded with zeros to whole pages, valid during the call. */
    @FunctionalInterface
    interface Delivery {
        void chunk(int chunk, MemorySegment bytes);
    }

    private final MemorySegment staging;
    private final int chunkSize;
    private final long objectSize;
    private Delivery delivery;
    private int next;
    private long filled;

    /** @param staging at least one chunk, page aligned */
    ChunkCutter(MemorySegment staging, int chunkSize, long objectSize) {
        this.staging = staging;
        this.chunkSize = chunkSize;
        this.objectSize = objectSize;
    }

    /** Starts cutting a stream that begins at the start of {@code firstChunk}. */
    void start(int firstChunk, Delivery delivery) {
        this.next = firstChunk;
        this.filled = 0;
        this.delivery = delivery;
    }

    /** The first chunk not handed on yet: where a stream that broke off resumes. */
    int nextChunk() {
        return next;
    }

    /** Where in the object the stream resumes: the start of {@link #nextChunk()}. */
    long resumeOffset() {
        return (long) next * chunkSize;
    }

    /** The object's bytes handed on since the start of {@code firstChunk}, where this stream began. */
    long handedOnSince(int firstChunk) {
        return Math.min(resumeOffset(), objectSize) - (long) firstChunk * chunkSize;
    }

    @Override
    public void accept(MemorySegment bytes) {
        long taken = 0;
        while (taken < bytes.byteSize()) {
            long chunkBytes = Math.min(chunkSize, objectSize - (long) next * chunkSize);
            long n = Math.min(bytes.byteSize() - taken, chunkBytes - filled);
            MemorySegment.copy(bytes, taken, staging, filled, n);
            filled += n;
            taken += n;
            if (filled == chunkBytes) {
                long pages = (chunkBytes + RegionServer.PAGE - 1) & -RegionServer.PAGE;
                // The object ends inside this page: the rest of it reads as zeros.
                staging.asSlice(chunkBytes, pages - chunkBytes).fill((byte) 0);
                int chunk = next++;
                filled = 0;
                delivery.chunk(chunk, staging.asSlice(0, pages));
            }
        }
    }
}
