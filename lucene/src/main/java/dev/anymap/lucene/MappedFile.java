package dev.anymap.lucene;

import dev.anymap.MappedRegion;
import java.io.IOException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * One index file as mapped for one {@link AnymapDirectory#openInput}: its region, shared by the input
 * and every clone and slice of it, and which of its chunks were already asked to be loaded ahead.
 */
final class MappedFile {
    private final MappedRegion region;
    private final int chunkShift;
    /** One bit per chunk that a prefetch has asked for: once asked, a chunk stays resident, so asking again is waste. */
    private final AtomicLongArray requested;
    private final Executor loads;

    MappedFile(MappedRegion region, int chunkSize, Executor loads) {
        this.region = region;
        this.chunkShift = Integer.numberOfTrailingZeros(chunkSize);
        long chunks = (region.size() + chunkSize - 1) >>> chunkShift;
        this.requested = new AtomicLongArray((int) ((chunks + 63) >>> 6));
        this.loads = loads;
    }

    MappedRegion region() {
        return region;
    }

    /**
     * Has a background thread load {@code [offset, offset + length)} of the file, as Lucene's
     * {@code prefetch} asks: the fetch runs while the caller goes on, in native code, and the reads
     * that follow find the bytes present. Chunks asked for once are not asked for again.
     */
    void prefetch(long offset, long length) {
        if (length <= 0) {
            return;
        }
        long first = offset >>> chunkShift;
        long last = (offset + length - 1) >>> chunkShift;
        boolean any = false;
        for (long chunk = first; chunk <= last; chunk++) {
            int word = (int) (chunk >>> 6);
            long bit = 1L << chunk;
            any |= (requested.getAndUpdate(word, bits -> bits | bit) & bit) == 0;
        }
        if (!any) {
            return;
        }
        try {
            loads.execute(() -> {
                try {
                    region.load(offset, length);
                } catch (IOException | IllegalStateException failedOrClosed) {
                    // A hint only: a failed fetch fails the read that needs it, with its cause; a closed file is read no more.
                }
            });
        } catch (RejectedExecutionException busyOrClosed) {
            // The loads queued are plenty; the read that needs these bytes fetches them itself.
        }
    }

    void close() throws IOException {
        region.close();
    }
}
