package dev.anymap.server;

import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Writes what a writable region wrote to storage: its client names the written ranges, which are in
 * the region's private layer of memory, and the backend commits them as one new version of the
 * object. One commit at a time per object.
 */
final class WriteBack {
    /** Told before a commit starts, and after it ends well: the keeper learns what a server that takes over must check. */
    interface Progress {
        void committing(String token);

        void committed(String version);
    }

    private final ServedObject object;
    private final ReentrantLock commits = new ReentrantLock();

    WriteBack(ServedObject object) {
        this.object = object;
    }

    /**
     * Commits {@code ranges} (offset and length pairs) and returns the new version.
     *
     * @throws IllegalArgumentException if the ranges are not sorted, disjoint ranges of the object
     * @throws IllegalStateException if another flush of the object is under way
     */
    String commit(long[] ranges, Progress progress) throws IOException {
        List<ByteRange> dirty = validated(ranges);
        if (!commits.tryLock()) {
            throw new IllegalStateException("a flush of " + object.printableUri() + " is already under way; flush one at a time");
        }
        try {
            StorageBackend backend = object.backend();
            if (backend == null || object.isClosed()) {
                throw new IOException("flushing " + object.printableUri() + ": the region is closing");
            }
            String token = UUID.randomUUID().toString();
            progress.committing(token);
            ObjectVersion version;
            try {
                version = backend.commit(new LayerChanges(backend, dirty, token));
            } catch (IOException e) {
                throw named(e);
            }
            object.committed(version.toString());
            progress.committed(version.toString());
            return version.toString();
        } finally {
            commits.unlock();
        }
    }

    /** {@code e}, or one that names the object where a plain IOException of the backend's does not ("No space left on device"). */
    private IOException named(IOException e) {
        if (e.getClass() != IOException.class || String.valueOf(e.getMessage()).contains(object.printableUri())) {
            return e;
        }
        return new IOException("writing to " + object.printableUri() + " failed: " + e.getMessage()
                + "; the writes are kept in the region for another flush", e);
    }

    /** Waits for a commit under way to end: the object is closing, and its backend must outlive the commit. */
    void awaitCommit() {
        commits.lock();
        commits.unlock();
    }

    private List<ByteRange> validated(long[] ranges) {
        if (ranges.length % 2 != 0) {
            throw new IllegalArgumentException("a flush names ranges as offset and length pairs, not " + ranges.length + " numbers");
        }
        List<ByteRange> dirty = new ArrayList<>(ranges.length / 2);
        long end = -1;
        ChunkTable table = object.table();
        for (int i = 0; i < ranges.length; i += 2) {
            ByteRange range = new ByteRange(ranges[i], ranges[i + 1]);
            if (range.offset() <= end || range.end() > object.size()) {
                throw new IllegalArgumentException("flush ranges must be sorted, disjoint, not adjacent and within the object's "
                        + object.size() + " bytes: " + range + " is not");
            }
            // A range starts and ends with written pages (between them may be pages the client joined in), and only a
            // page the layer holds can have been written: one it lacks would be written from storage's old bytes.
            for (long edge : new long[] {range.offset(), range.end() - 1}) {
                if (!table.isPresent((int) (edge / table.chunkSize()))) {
                    throw new IllegalArgumentException("flush range " + range + " of " + object.printableUri()
                            + " starts or ends in a chunk that was never mapped in: no write can have reached it");
                }
            }
            dirty.add(range);
            end = range.end();
        }
        return List.copyOf(dirty);
    }

    /** The object's new bytes: the layer's where it holds them, the version it was read from elsewhere. */
    private final class LayerChanges implements Changes {
        private final StorageBackend backend;
        private final ObjectVersion base;
        private final List<ByteRange> dirty;
        private final String token;

        LayerChanges(StorageBackend backend, List<ByteRange> dirty, String token) {
            this.backend = backend;
            this.base = backend.version();
            this.dirty = dirty;
            this.token = token;
        }

        @Override
        public ObjectVersion base() {
            return base;
        }

        @Override
        public long size() {
            return object.size();
        }

        @Override
        public List<ByteRange> dirty() {
            return dirty;
        }

        @Override
        public void read(long offset, MemorySegment target) throws IOException {
            OutOfRangeException.check(object.uri(), offset, target.byteSize(), object.size());
            ChunkTable table = object.table();
            long end = offset + target.byteSize();
            for (long at = offset; at < end; ) {
                int chunk = (int) (at / table.chunkSize());
                boolean present = table.isPresent(chunk);
                long runEnd = Math.min(end, table.offset(chunk) + table.chunkSize());
                // A run of chunks in the same state: one copy, or one read of storage.
                while (runEnd < end && table.isPresent((int) (runEnd / table.chunkSize())) == present) {
                    runEnd = Math.min(end, runEnd + table.chunkSize());
                }
                MemorySegment piece = target.asSlice(at - offset, runEnd - at);
                if (present) {
                    object.memory().read(at, piece);
                } else {
                    backend.read(at, piece);
                }
                at = runEnd;
            }
        }

        @Override
        public String token() {
            return token;
        }
    }
}
