package dev.anymap.backend.memory;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One open view of a {@link MemoryObject}; for a named object opened for writing, the view of the
 * version its last commit made.
 */
final class MemoryBackend implements StorageBackend {
    private final URI uri;
    /** The name the object is stored under, or null for a generated object, which cannot be written. */
    private final String writableName;
    private volatile MemoryObject object;
    /** Versions this backend read before its commits: their views stay valid until close. */
    private final List<MemoryObject> superseded = new ArrayList<>();
    private final AtomicBoolean closed = new AtomicBoolean();

    MemoryBackend(URI uri, MemoryObject object, String writableName) {
        this.uri = uri;
        this.object = object;
        this.writableName = writableName;
    }

    @Override
    public URI uri() {
        return uri;
    }

    @Override
    public long size() {
        return object.bytes().byteSize();
    }

    @Override
    public ObjectVersion version() {
        return ObjectVersion.generation(object.generation());
    }

    @Override
    public Set<Capability> capabilities() {
        return writableName != null ? Set.of(Capability.WRITE) : Set.of();
    }

    /** The version this backend reads; a commit makes another, and leaves this one as it is. */
    @Override
    public Optional<MemorySegment> view() {
        return Optional.of(object.bytes().asReadOnly());
    }

    @Override
    public void read(long offset, MemorySegment target) throws IOException {
        OutOfRangeException.check(uri, offset, target.byteSize(), size());
        if (closed.get()) {
            throw new BackendClosedException(uri);
        }
        try {
            MemorySegment.copy(object.bytes(), offset, target, 0, target.byteSize());
        } catch (IllegalStateException arenaClosed) {
            // The last backend on the object closed its arena while this copy ran.
            throw new BackendClosedException(uri);
        }
    }

    /**
     * Makes a new object of the current bytes with the changes applied, and stores it in place of the
     * current one if that is still at {@code changes.base()}: atomic, and costs a copy of the whole
     * object. Backends open on the old version keep reading it.
     */
    @Override
    public synchronized ObjectVersion commit(Changes changes) throws IOException {
        if (writableName == null) {
            return StorageBackend.super.commit(changes);
        }
        if (closed.get()) {
            throw new BackendClosedException(uri);
        }
        MemoryObject current = MemoryObjects.retainNamed(writableName);
        if (current == null) {
            throw new ObjectChangedException(uri, changes.base(), "it was removed");
        }
        try {
            ObjectVersion now = ObjectVersion.generation(current.generation());
            if (!now.equals(changes.base())) {
                throw new ObjectChangedException(uri, changes.base(), "it is at " + now + " now");
            }
            if (changes.size() != current.bytes().byteSize()) {
                throw new IllegalArgumentException("changes of " + changes.size() + " bytes for " + Redaction.uri(uri)
                        + ", which has " + current.bytes().byteSize() + " bytes: a commit never changes the size");
            }
            if (changes.dirty().isEmpty()) {
                return version();
            }
            MemoryObject next = MemoryObject.allocate(changes.size());
            boolean stored = false;
            next.retain(); // this backend's reference; the other is the name's
            try {
                MemorySegment.copy(current.bytes(), 0, next.bytes(), 0, changes.size());
                for (ByteRange range : changes.dirty()) {
                    changes.read(range.offset(), next.bytes().asSlice(range.offset(), range.length()));
                }
                if (!MemoryObjects.replace(writableName, current, next)) {
                    throw new ObjectChangedException(uri, changes.base(), "another writer stored it meanwhile");
                }
                stored = true;
            } finally {
                if (!stored) {
                    next.release();
                    next.release();
                }
            }
            synchronized (superseded) {
                superseded.add(object);
            }
            object = next;
            return version();
        } finally {
            current.release();
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            object.release();
            synchronized (superseded) {
                superseded.forEach(MemoryObject::release);
                superseded.clear();
            }
        }
    }
}
