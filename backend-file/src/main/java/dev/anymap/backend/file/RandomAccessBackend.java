package dev.anymap.backend.file;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A VFS object with random access (sftp, ftp, ram, a resource in a directory): each read seeks a
 * {@link org.apache.commons.vfs2.RandomAccessContent} borrowed from a {@link RandomAccessPool} and
 * reads the range. Opened for writing (sftp), it commits through {@link InPlaceCommits}, and reads
 * read the new version from then on.
 */
final class RandomAccessBackend implements StorageBackend {
    private final URI uri;
    private final long size;
    private volatile ObjectVersion version;
    private final RandomAccessPool pool;
    private final SecretScrubber scrubber;
    private final InPlaceCommits commits;
    private final AtomicBoolean closed = new AtomicBoolean();

    /**
     * @param uri the URI without passwords
     * @param commits how changes are written, or null for an object opened to be read only
     */
    RandomAccessBackend(URI uri, long size, ObjectVersion version, RandomAccessPool pool, SecretScrubber scrubber,
            InPlaceCommits commits) {
        this.uri = uri;
        this.size = size;
        this.version = version;
        this.pool = pool;
        this.scrubber = scrubber;
        this.commits = commits;
    }

    @Override
    public URI uri() {
        return uri;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public ObjectVersion version() {
        return version;
    }

    @Override
    public Set<Capability> capabilities() {
        return commits == null ? Set.of() : Set.of(Capability.WRITE);
    }

    /**
     * Writes each dirty range in place; see {@link InPlaceCommits} for what the check of the base
     * version catches and what a failure in the middle leaves.
     */
    @Override
    public ObjectVersion commit(Changes changes) throws IOException {
        if (commits == null) {
            return StorageBackend.super.commit(changes);
        }
        if (closed.get()) {
            throw new BackendClosedException(uri);
        }
        try {
            ObjectVersion committed = commits.commit(version, changes);
            version = committed;
            return committed;
        } finally {
            // Pooled contents may hold bytes read ahead of the write: later reads open new ones.
            pool.dropIdle();
        }
    }

    @Override
    public void read(long offset, MemorySegment target) throws IOException {
        OutOfRangeException.check(uri, offset, target.byteSize(), size);
        if (target.isReadOnly()) {
            throw new IllegalArgumentException("the target segment is read-only");
        }
        if (closed.get()) {
            throw new BackendClosedException(uri);
        }
        if (target.byteSize() == 0) {
            return;
        }
        RandomAccessPool.Slot slot = pool.borrow();
        boolean reusable = false;
        try {
            readInto(slot, offset, target);
            reusable = true;
        } catch (IOException failure) {
            throw translate(failure, offset, target.byteSize());
        } finally {
            pool.giveBack(slot, reusable);
        }
    }

    private static void readInto(RandomAccessPool.Slot slot, long offset, MemorySegment target) throws IOException {
        slot.content.seek(offset);
        long length = target.byteSize();
        if (target.heapBase().orElse(null) instanceof byte[] array) {
            // A heap segment's address is its offset in the array: read in place.
            slot.content.readFully(array, (int) target.address(), (int) length);
            return;
        }
        byte[] buffer = slot.buffer(length);
        for (long done = 0; done < length; ) {
            int piece = (int) Math.min(buffer.length, length - done);
            slot.content.readFully(buffer, 0, piece);
            MemorySegment.copy(buffer, 0, target, ValueLayout.JAVA_BYTE, done, piece);
            done += piece;
        }
    }

    private IOException translate(IOException failure, long offset, long length) {
        IOException translated;
        if (closed.get()) {
            translated = new BackendClosedException(uri);
        } else if (failure instanceof EOFException) {
            translated = new ObjectChangedException(uri, version, "it ends before byte " + (offset + length)
                    + " now, and had " + size + " bytes when it was opened");
        } else {
            translated = new IOException("reading " + length + " bytes at offset " + offset + " of " + scrubber.uri(uri)
                    + " failed: " + scrubber.describe(failure));
        }
        translated.initCause(scrubber.chain(failure));
        return translated;
    }

    /** Reads the first byte, so that a file the server will not let us read fails at open time. */
    void probe(VfsFailures failures) throws IOException {
        if (size == 0) {
            return;
        }
        RandomAccessPool.Slot slot;
        try {
            slot = pool.borrow();
        } catch (IOException | RuntimeException e) {
            throw failures.atOpen(e);
        }
        boolean reusable = false;
        try {
            slot.content.seek(0);
            slot.content.readFully(new byte[1]);
            reusable = true;
        } catch (IOException | RuntimeException e) {
            throw failures.atOpen(e);
        } finally {
            pool.giveBack(slot, reusable);
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            if (commits != null) {
                commits.close();
            }
            pool.close();
        }
    }
}
