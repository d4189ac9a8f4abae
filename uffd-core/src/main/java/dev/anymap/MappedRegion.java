package dev.anymap;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Message;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;

/**
 * A stored object mapped into this process's memory: {@link #segment()} reads as the object's
 * bytes, each chunk fetched by the page server the first time any thread touches it.
 *
 * <p><b>When a fetch fails</b> (after the page server's retries), the touching access, and every
 * later touch of that chunk, fails with {@code java.lang.InternalError} ("a fault occurred in an
 * unsafe memory access operation"): the page server poisons the chunk with UFFDIO_POISON, the
 * kernel sends SIGBUS, and the JVM raises the error at the access. Catch it around accesses where
 * storage may fail, and ask {@link #stats()} for {@link RegionStats#lastFailure()}. Bytes that
 * are read are always the object's bytes: a failure never reads as zeros.
 *
 * <p>Closing waits for accesses in flight on other threads, then unmaps the memory; the segment
 * then refuses every access with IllegalStateException.
 */
public final class MappedRegion implements AutoCloseable {
    private final Anymap owner;
    private final URI uri;
    private final MapOptions options;
    private final long size;
    private final ObjectVersion version;
    private final long address;
    private final long length;
    private final int userfaultfd;
    private final Arena arena;
    private final MemorySegment segment;
    private volatile long serverRegionId;
    private volatile boolean closed;

    MappedRegion(Anymap owner, URI uri, MapOptions options, long size, ObjectVersion version, long address, long length,
                 int userfaultfd, long serverRegionId) {
        this.owner = owner;
        this.uri = uri;
        this.options = options;
        this.size = size;
        this.version = version;
        this.address = address;
        this.length = length;
        this.userfaultfd = userfaultfd;
        this.serverRegionId = serverRegionId;
        this.arena = Arena.ofShared();
        MemorySegment memory = size == 0 ? MemorySegment.NULL : MemorySegment.ofAddress(address).reinterpret(size, arena, null);
        this.segment = options.writable() ? memory : memory.asReadOnly();
    }

    /** This region's number in its page server, as {@code anymap status} lists it. */
    long serverRegionId() {
        return serverRegionId;
    }

    /** The object's bytes; read-only unless mapped {@linkplain MapOptions#writable() writable}. */
    public MemorySegment segment() {
        return segment;
    }

    public URI uri() {
        return uri;
    }

    /** The object's size in bytes, as the page server saw it at map time. */
    public long size() {
        return size;
    }

    /** The version of the object that this region reads: it never mixes in bytes of another. */
    public ObjectVersion version() {
        return version;
    }

    /** What the page server has done for this region so far. */
    public RegionStats stats() throws IOException {
        checkOpen();
        if (length == 0) {
            return RegionStats.NONE;
        }
        Message reply = owner.link().call(new Message.StatsRequest(owner.link().nextRequestId(), serverRegionId), -1, uri);
        if (!(reply instanceof Message.Stats stats)) {
            throw new IOException("the page server answered a stats request with " + reply);
        }
        return RegionStats.of(stats);
    }

    /**
     * The order in which this region's chunks were first touched so far (chunks fetched ahead of a
     * sequential scan count as touched when they were fetched), for {@link #prefetch(AccessTrace)}
     * on a later mapping. The page server sees only faults: record a trace on a mapping without
     * {@linkplain MapOptions#autoPull() automatic} or background pulls, whose chunks are never touched
     * by a fault. A trace names whole chunks: recorded and replayed on mappings of small chunks, its
     * replay fetches little more than the recorded workload touched.
     */
    public AccessTrace trace() throws IOException {
        checkOpen();
        int[] chunks = length == 0 ? new int[0] : owner.link().chunks(serverRegionId, false, uri);
        return new AccessTrace(size, version.toString(), options.chunkSize(), chunks);
    }

    /**
     * Has the page server fetch the chunks of {@code trace} in its order, ahead of this region's
     * faults and behind them: replayed right after mapping, the chunks a recorded workload needs
     * arrive before it asks ({@link Anymap#map(URI, MapOptions, AccessTrace)} starts them sooner). A
     * trace of another chunk size is converted; one of another version of the object still serves as
     * a hint.
     *
     * @throws IllegalArgumentException if the trace is of an object of another size
     */
    public void prefetch(AccessTrace trace) throws IOException {
        checkOpen();
        if (trace.objectSize() != size) {
            throw new IllegalArgumentException("the trace is of an object of " + trace.objectSize() + " bytes; "
                    + Redaction.uri(uri) + " has " + size);
        }
        if (length > 0) {
            owner.link().prefetch(serverRegionId, trace.chunksFor(options.chunkSize()), uri);
        }
    }

    /** Fails every page not yet fetched, from this process, when no page server is left to serve them. */
    void poisonMissingPages() {
        if (length > 0 && !closed) {
            try (Arena call = Arena.ofConfined()) {
                new Userfaultfd.FillRequest(call).fillRange(userfaultfd, address, 0, length);
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(Redaction.uri(uri) + " is closed");
        }
    }

    boolean isClosed() {
        return closed;
    }

    /** Unmaps the region. Waits for accesses in flight on other threads. Idempotent. */
    @Override
    public void close() throws IOException {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        arena.close();
        if (length == 0) {
            owner.forget(this);
            return;
        }
        Libc.munmap(address, length);
        try {
            // Still one of the owner's regions: should the server die now, the one that takes over is told it is this process's.
            owner.link().call(new Message.Unmap(owner.link().nextRequestId(), serverRegionId), -1, uri);
        } catch (IllegalArgumentException unknown) {
            // Asked again of a server that took over from one that had unmapped it, and so never had it.
        } finally {
            owner.forget(this);
            Libc.close(userfaultfd);
        }
    }

    /**
     * Private anonymous memory, not a memfd shared with the page server: measured with
     * benchmarks/run, UFFDIO_COPY into shmem made 1-2 MiB chunks about 30% slower (0.68-0.72 of the
     * C floor, against 1.0 for anonymous memory). What a memfd would give later work stays
     * possible: pages are dropped to bound memory by this process zapping them (MADV_DONTNEED
     * faults nothing, so any thread may do it on the server's word), and write-back reads dirty
     * pages here, where they are present.
     */
    static long mapMemory(long length) throws NativeException {
        return Libc.check(Libc.mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0), "mmap");
    }
}
