package dev.anymap.backend.memory;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.Capability;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/** One open view of a {@link MemoryObject}. */
final class MemoryBackend implements StorageBackend {
    private final URI uri;
    private final MemoryObject object;
    private final ObjectVersion version;
    private final AtomicBoolean closed = new AtomicBoolean();

    MemoryBackend(URI uri, MemoryObject object) {
        this.uri = uri;
        this.object = object;
        this.version = ObjectVersion.generation(object.generation());
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
        return version;
    }

    @Override
    public Set<Capability> capabilities() {
        return object.writable() ? Set.of(Capability.WRITE) : Set.of();
    }

    /** Writable objects are not viewed: a write would change pages the page server already filled. */
    @Override
    public Optional<MemorySegment> view() {
        return object.writable() ? Optional.empty() : Optional.of(object.bytes().asReadOnly());
    }

    @Override
    public void read(long offset, MemorySegment target) throws IOException {
        OutOfRangeException.check(uri, offset, target.byteSize(), size());
        copy(object.bytes(), offset, target, 0, target.byteSize());
    }

    @Override
    public void write(long offset, MemorySegment source) throws IOException {
        if (!object.writable()) {
            StorageBackend.super.write(offset, source);
        }
        OutOfRangeException.check(uri, offset, source.byteSize(), size());
        copy(source, 0, object.bytes(), offset, source.byteSize());
        object.wrote();
    }

    private void copy(MemorySegment from, long fromOffset, MemorySegment to, long toOffset, long length) throws IOException {
        if (closed.get()) {
            throw new BackendClosedException(uri);
        }
        try {
            MemorySegment.copy(from, fromOffset, to, toOffset, length);
        } catch (IllegalStateException arenaClosed) {
            // The last backend on the object closed its arena while this copy ran.
            throw new BackendClosedException(uri);
        }
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            object.release();
        }
    }
}
