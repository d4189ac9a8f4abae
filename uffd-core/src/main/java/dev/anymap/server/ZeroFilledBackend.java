package dev.anymap.server;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.spi.ByteSink;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.Optional;
import java.util.Set;

/**
 * An object that its client has just created as zeros, and maps writable: what the region has not
 * written is zeros in every version its own commits make (a commit changes only ranges the region
 * wrote, and so fetched), so it is read as zeros, from memory, and never fetched. A copy into a new
 * S3 object then uploads what it writes without first downloading as many zeros. Commits go to the
 * object's backend.
 */
final class ZeroFilledBackend implements StorageBackend {
    private final StorageBackend backend;
    /** Never written, so every page of it is the kernel's one zero page: the object's size costs address space, not memory. */
    private final long zeros;
    private final long length;
    private final java.util.concurrent.atomic.AtomicBoolean open = new java.util.concurrent.atomic.AtomicBoolean(true);

    private ZeroFilledBackend(StorageBackend backend, long zeros, long length) {
        this.backend = backend;
        this.zeros = zeros;
        this.length = length;
    }

    /** {@code backend}, read as zeros: the caller has checked that it is at the version its client created, or one of its own commits since. */
    static StorageBackend of(StorageBackend backend) throws IOException {
        long length = RegionServer.mappedLength(backend.size());
        if (length == 0) {
            return backend;
        }
        try {
            long zeros = Libc.check(Libc.mmap(0, length, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0),
                    "mmap(zeros, " + length + ")");
            return new ZeroFilledBackend(backend, zeros, length);
        } catch (NativeException e) {
            backend.close();
            throw e;
        }
    }

    @Override
    public URI uri() {
        return backend.uri();
    }

    @Override
    public long size() {
        return backend.size();
    }

    @Override
    public ObjectVersion version() {
        return backend.version();
    }

    @Override
    public Set<Capability> capabilities() {
        return backend.capabilities();
    }

    @Override
    public void read(long offset, MemorySegment target) throws IOException {
        OutOfRangeException.check(uri(), offset, target.byteSize(), size());
        target.fill((byte) 0);
    }

    @Override
    public void stream(long offset, long length, ByteSink sink) throws IOException {
        OutOfRangeException.check(uri(), offset, length, size());
        sink.accept(view().orElseThrow().asSlice(offset, length));
    }

    @Override
    public Optional<MemorySegment> view() {
        return Optional.of(MemorySegment.ofAddress(zeros).reinterpret(size()).asReadOnly());
    }

    @Override
    public ObjectVersion commit(Changes changes) throws IOException {
        return backend.commit(changes);
    }

    @Override
    public Optional<String> lastCommit() {
        return backend.lastCommit();
    }

    @Override
    public void close() throws IOException {
        try {
            backend.close();
        } finally {
            if (open.compareAndSet(true, false)) {
                Libc.munmap(zeros, length);
            }
        }
    }
}
