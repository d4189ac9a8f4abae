package dev.anymap;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Message;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;

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
 * <p><b>A thread stopped in a fault holds up every safepoint of its JVM</b> (a garbage collection,
 * a deoptimisation) until the page server answers, a round trip to storage. Where that matters,
 * {@link #load} a range before reading it, or {@link #copyTo copy} it out: their faults are taken
 * in native code, where a thread holds up no safepoint, and a failed fetch is an IOException there.
 *
 * <p><b>Kernel-mapped regions.</b> Where the object's backend has a local file of it ({@code file:},
 * a spooled archive entry, an HTTP resource downloaded whole), the region maps that file itself, as
 * {@link java.nio.channels.FileChannel#map} would, and the kernel serves its faults from the page
 * cache: no page server is in the path, so none's death touches it, and {@link #stats()} counts
 * nothing fetched. A {@code file:} object is opened by this process, with its own rights, and no
 * page server is asked, started, or lists the region; a spooled entry or a download is the page
 * server's, which opens it and hands its file over. A {@code file:} mapping shows later changes of
 * the file, as FileChannel.map does; a file truncated under it fails the access past its new end
 * with the same InternalError as a failed fetch. See {@link #kernelMapped()}.
 *
 * <p>Closing waits for accesses in flight on other threads, then unmaps the memory; the segment
 * then refuses every access with IllegalStateException.
 */
public final class MappedRegion implements AutoCloseable {
    private final Anymap owner;
    private final URI uri;
    private final MapOptions options;
    private final long size;
    /** Moves on with each flush; made from {@link #versionAtMap} when first asked, under {@link #flushing}. */
    private volatile ObjectVersion version;
    /**
     * The version the region was mapped at. A local file's is made only when asked: formatting its
     * modification time as the file backend does costs more than the map itself after a garbage
     * collection, which leaves the formatter's compiled code to be entered anew.
     */
    private final Supplier<ObjectVersion> versionAtMap;
    private final long address;
    private final long length;
    private final int userfaultfd;
    /** The local file a kernel-mapped region maps, or -1: kept to say, after a failed load, how the file changed. */
    private final int file;
    /**
     * The server that answered a kernel-mapped region's map: only it knows the region's number; or
     * {@link PageServerLink#NO_SERVER} for a local file this process opened and mapped itself.
     */
    private final int mappedOn;
    private final Arena arena;
    private final MemorySegment segment;
    private final RangeLoader loader;
    /** The pages written and not yet flushed, for a writable region the page server serves; null otherwise. */
    private final WrittenPages written;
    /** Held by a flush: one at a time, and close waits for it. */
    private final Object flushing = new Object();
    /** Held by loads and copies, which reach the memory by address: close takes it to wait for them. */
    private final ReentrantReadWriteLock nativeAccess = new ReentrantReadWriteLock();
    private static final long LOST = -1;
    private volatile long serverRegionId;
    private volatile boolean closed;

    MappedRegion(Anymap owner, URI uri, MapOptions options, long size, ObjectVersion version, long address, long length,
                 int userfaultfd, long serverRegionId, WrittenPages written) {
        this(owner, uri, options, size, () -> version, address, length, userfaultfd, -1, serverRegionId, PageServerLink.ANY_SERVER,
                written);
    }

    /** A region that the kernel maps from {@code file}, as the page server numbered {@code mappedOn} answered. */
    MappedRegion(Anymap owner, URI uri, MapOptions options, long size, Supplier<ObjectVersion> version, long address, long length,
                 int file, long serverRegionId, int mappedOn) {
        this(owner, uri, options, size, version, address, length, -1, file, serverRegionId, mappedOn, null);
    }

    private MappedRegion(Anymap owner, URI uri, MapOptions options, long size, Supplier<ObjectVersion> version, long address,
                         long length, int userfaultfd, int file, long serverRegionId, int mappedOn, WrittenPages written) {
        this.written = written;
        this.owner = owner;
        this.file = file;
        this.mappedOn = mappedOn;
        this.uri = uri;
        this.options = options;
        this.size = size;
        this.versionAtMap = version;
        this.address = address;
        this.length = length;
        this.userfaultfd = userfaultfd;
        this.serverRegionId = serverRegionId;
        this.arena = Arena.ofShared();
        MemorySegment memory = size == 0 ? MemorySegment.NULL : MemorySegment.ofAddress(address).reinterpret(size, arena, null);
        this.segment = options.writable() ? memory : memory.asReadOnly();
        this.loader = new RangeLoader(address, options.chunkSize());
    }

    /**
     * Whether the kernel maps this region from a local file of the object, with no page server in the
     * path (see the class description): then nothing is fetched, {@link #stats()} counts nothing,
     * {@link #trace()} is empty, {@link #prefetch} asks the kernel to read the trace's chunks ahead,
     * and {@link #load} and {@link #copyTo} read through the page cache. A {@code file:} region,
     * which this process mapped with no page server, is in no server's status.
     */
    public boolean kernelMapped() {
        return file >= 0;
    }

    /** This region as the link to the page server resumes or fails it. */
    ServerRegion asServerRegion() {
        return new ServerRegion(uri, this::serverRegionId, () -> closed, this::lose);
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

    /**
     * The version of the object that this region reads: it never mixes in bytes of another. For a
     * writable region, the version its last {@link #flush()} made, and the version it was mapped at
     * before the first.
     */
    public ObjectVersion version() {
        ObjectVersion known = version;
        if (known == null) {
            synchronized (flushing) { // a flush's version, once made, is never put back to the mapped one
                if (version == null) {
                    version = versionAtMap.get();
                }
                known = version;
            }
        }
        return known;
    }

    /**
     * Writes what was written to this region since its last flush to storage, and returns when the
     * storage holds it durably, like {@link java.nio.MappedByteBuffer#force()}: the object's new
     * version, which {@link #version()} returns from then on. Writes made while the flush runs may go
     * with it or wait for the next.
     *
     * <p>Where the storage can check it (S3, a database row), the flush applies only if the object is
     * still at {@link #version()}: if another writer changed it meanwhile, it fails with
     * {@link ObjectChangedException} and overwrites nothing. A {@code file:} region is the file itself,
     * mapped shared as {@link java.nio.channels.FileChannel#map} maps it for writing: the flush forces
     * its written pages to the disk ({@code msync}), as {@code force()} does, and checks nothing.
     *
     * <p><b>A flush that fails loses nothing.</b> The written bytes stay in the region's memory (in the
     * page server's memory for the region, which only this region maps), and the next flush writes
     * them again; {@link #close()} flushes, and a close whose flush fails leaves the region open.
     *
     * @return the object's version once the flush is durable; the same version if nothing was written
     * @throws ObjectChangedException if another writer changed the object since this region's version
     * @throws java.nio.file.AccessDeniedException if the storage refuses the write
     * @throws IOException if the storage or the page server fails, naming the URI and the cause
     * @throws IllegalStateException if the region is closed, or was not mapped writable
     */
    public ObjectVersion flush() throws IOException {
        synchronized (flushing) {
            checkOpen();
            if (!options.writable()) {
                throw new IllegalStateException(Redaction.uri(uri) + " was not mapped writable: there is nothing to flush");
            }
            if (length == 0) {
                return version();
            }
            if (kernelMapped()) {
                Libc.check(Libc.msync(address, length, Libc.MS_SYNC), "msync(" + Redaction.uri(uri) + ")");
                version = LocalBackends.get().currentVersion(uri, options.backendOptions());
                return version;
            }
            long[] ranges = written.take();
            if (ranges.length == 0) {
                return version();
            }
            Message reply = owner.link().call(new Message.Flush(owner.link().nextRequestId(), onServer(), ranges), -1, uri);
            if (!(reply instanceof Message.Flushed flushed)) {
                throw new IOException("the page server answered a flush of " + Redaction.uri(uri) + " with " + reply);
            }
            written.flushed();
            version = ObjectVersion.parse(flushed.version());
            return version;
        }
    }

    /** What the page server has done for this region so far. */
    public RegionStats stats() throws IOException {
        checkOpen();
        if (length == 0 || kernelMapped()) {
            return RegionStats.NONE;
        }
        return owner.link().stats(onServer(), uri);
    }

    /**
     * The order in which this region's chunks were first touched so far, for {@link #prefetch(AccessTrace)}
     * on a later mapping. The page server sees only faults: a chunk fetched ahead (readahead, a pull,
     * a replayed trace) is in the trace only if a fault reached it before it arrived, since a touch
     * of a chunk the cache holds is served by the kernel. Record a trace on a mapping without
     * {@linkplain MapOptions#autoPull() automatic} or background pulls, whose chunks are never touched
     * by a fault. A trace names whole chunks: recorded and replayed on mappings of small chunks, its
     * replay fetches little more than the recorded workload touched.
     */
    public AccessTrace trace() throws IOException {
        checkOpen();
        int[] chunks = length == 0 || kernelMapped() ? new int[0] : owner.link().chunks(onServer(), false, uri);
        return new AccessTrace(size, version().toString(), options.chunkSize(), chunks);
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
        if (kernelMapped()) {
            withNativeAccess(() -> adviseWillNeed(trace.chunksFor(options.chunkSize())));
        } else if (length > 0) {
            owner.link().prefetch(onServer(), trace.chunksFor(options.chunkSize()), uri, PageServerLink.ANY_SERVER);
        }
    }

    /**
     * Makes the bytes {@code [offset, offset + length)} resident, fetching what is missing, like
     * {@link java.nio.MappedByteBuffer#load()}: the faults are taken in native code
     * ({@code madvise(MADV_POPULATE_READ)}), so while this thread waits on storage the JVM's
     * safepoints, and with them its garbage collections, go on. Reads of the range from Java then
     * find their pages present and wait on nothing. Pages once loaded stay resident until close, or
     * until the page server's cache drops them to keep its memory budget.
     * Reading a range loaded beforehand costs one system call per 2 MiB on top of the fetches.
     *
     * @throws IOException if a chunk of the range failed to be fetched, naming the URI and the cause
     *     (the range's other chunks stay readable; the failed one fails every Java access)
     * @throws IndexOutOfBoundsException if the range is not within the object
     * @throws IllegalStateException if the region is closed
     */
    public void load(long offset, long length) throws IOException {
        Objects.checkFromIndexSize(offset, length, size);
        withNativeAccess(() -> loader.load(offset, offset + length, describe(offset, offset + length), this::lastFailure));
    }

    /**
     * Copies {@code destination.byteSize()} bytes from {@code offset} into {@code destination} (native
     * or heap memory), 2 MiB at a time: each step is {@linkplain #load loaded} first, in native code,
     * and then copied from pages that are present, so that the copying thread never waits on storage
     * in Java code. The pages copied stay resident, within the page server's cache budget.
     *
     * @throws IOException if a chunk of the range failed to be fetched, naming the URI and the cause;
     *     what the destination then holds is unspecified
     * @throws IndexOutOfBoundsException if the range is not within the object
     * @throws IllegalArgumentException if {@code destination} is read-only
     * @throws IllegalStateException if the region or the destination's arena is closed
     */
    public void copyTo(long offset, MemorySegment destination) throws IOException {
        long length = destination.byteSize();
        Objects.checkFromIndexSize(offset, length, size);
        if (destination.isReadOnly()) {
            throw new IllegalArgumentException("the destination of a copy from " + Redaction.uri(uri) + " is read-only");
        }
        withNativeAccess(() -> {
            for (long done = 0; done < length; ) {
                long from = offset + done;
                long step = Math.min(length - done, RangeLoader.STEP - (from & (RangeLoader.STEP - 1)));
                loader.load(from, from + step, describe(from, from + step), this::lastFailure);
                // The step's pages are present now, and stay so: the copy takes no fault. Java's copy, not a memcpy
                // downcall: measured with benchmarks/run --only SafepointPauses, glibc's memcpy through FFM copied
                // resident memory at 0.27 of MemorySegment.copy's speed on this machine, in 256 KiB or 2 MiB pieces.
                MemorySegment.copy(segment, from, destination, done, step);
                done += step;
            }
        });
    }

    /** Has the kernel read the chunks of a kernel-mapped region ahead, in the background, into the page cache. */
    private void adviseWillNeed(int[] chunks) {
        long chunk = options.chunkSize();
        for (int index : chunks) {
            long from = index * chunk;
            if (from < length) {
                Libc.madvise(address + from, Math.min(chunk, length - from), Libc.MADV_WILLNEED);
            }
        }
    }

    private interface NativeAccess {
        void run() throws IOException;
    }

    private void withNativeAccess(NativeAccess access) throws IOException {
        nativeAccess.readLock().lock();
        try {
            checkOpen();
            if (length > 0) {
                access.run();
            }
        } finally {
            nativeAccess.readLock().unlock();
        }
    }

    private String describe(long from, long to) {
        return "bytes " + from + " to " + to + " of " + Redaction.uri(uri);
    }

    private String lastFailure() {
        if (kernelMapped()) {
            long now = Libc.lseek(file, 0, Libc.SEEK_END);
            return now >= 0 && now < size
                    ? "the local file mapped is now " + now + " bytes long, shorter than the " + size + " mapped: it was truncated"
                    + " under the mapping; map it again"
                    : "the kernel could not read the local file mapped (" + (now < 0 ? Errno.name((int) -now) : now + " bytes") + ")";
        }
        try {
            String failure = stats().lastFailure();
            return failure.isEmpty() ? "the page server recorded no cause" : failure;
        } catch (IOException | IllegalStateException e) {
            return "the page server's fetch failed (and asking it why failed too: " + e.getMessage() + ")";
        }
    }

    /**
     * No page server serves this region any more (it died, and none took the region over): every page
     * not yet fetched fails, from this process, and the region asks no server anything again, since
     * its number may be another region's on the server that serves the link now.
     */
    void lose() {
        if (kernelMapped()) {
            return; // the kernel serves it, whatever happened to servers
        }
        serverRegionId = LOST;
        // Under the lock that close takes to mark the region closed: once it has, the userfaultfd's
        // number and the address may be a new region's, whose pages this must not fail.
        synchronized (this) {
            if (length > 0 && !closed) {
                try (Arena call = Arena.ofConfined()) {
                    new Userfaultfd.FillRequest(call).fillRange(userfaultfd, address, 0, length);
                }
            }
        }
    }

    /** The region's number on the server that serves it; throws if no server does. */
    private long onServer() throws IOException {
        long id = serverRegionId;
        if (id == LOST) {
            throw new IOException("the page server that served " + Redaction.uri(uri) + " died and none took it over; its pages not"
                    + " fetched before fail (see the application's log); map it again");
        }
        return id;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException(Redaction.uri(uri) + " is closed");
        }
    }

    boolean isWritable() {
        return options.writable();
    }

    boolean isClosed() {
        return closed;
    }

    /**
     * {@linkplain #flush() Flushes} a writable region, then unmaps the region. Waits for accesses in
     * flight on other threads. Idempotent.
     *
     * @throws IOException if the flush fails: the region is then left open, its writes in it, for
     *     another flush or close (or {@link #closeWithoutFlush()}, which gives them up)
     */
    @Override
    public void close() throws IOException {
        synchronized (flushing) {
            if (options.writable() && !closed) {
                flush();
            }
            closeWithoutFlush();
        }
    }

    /**
     * Unmaps the region, giving up what was written since its last flush. Idempotent. A flush under
     * way on another thread ends first. A {@code file:} region is the file itself: its writes are in
     * the file already, and only their forcing to the disk is given up.
     */
    public void closeWithoutFlush() throws IOException {
        // A flush under way on another thread ends first: it scans the written pages of the mapping that this unmaps.
        synchronized (flushing) {
            synchronized (this) {
                if (closed) {
                    return;
                }
                closed = true;
            }
        }
        if (written != null) {
            written.close();
        }
        // Loads and copies in flight on other threads reach the memory by address: wait for them to end.
        nativeAccess.writeLock().lock();
        nativeAccess.writeLock().unlock();
        arena.close();
        if (length == 0) {
            if (file >= 0) {
                Libc.close(file); // an empty local file: nothing mapped, no server told
            }
            owner.forget(this);
            return;
        }
        if (kernelMapped()) {
            Libc.munmap(address, length);
            closeKernelMapped();
            return;
        }
        try {
            // Still one of the owner's regions: should the server die now, the one that takes over is told it is this process's.
            // And still mapped: the kernel takes a fill or a poison through any userfaultfd of this process whose range is
            // registered, so the server is done with this one before a new region may be mapped at its address.
            if (serverRegionId != LOST) {
                owner.link().call(new Message.Unmap(owner.link().nextRequestId(), serverRegionId), -1, uri);
            }
        } catch (IllegalArgumentException unknown) {
            // Asked again of a server that took over from one that had unmapped it, and so never had it.
        } finally {
            Libc.munmap(address, length);
            owner.forget(this);
            Libc.close(userfaultfd);
        }
    }

    /**
     * Tells the server that mapped it, if it still runs: one that took over never had its number,
     * and may have given it to a region of its own. A file this process mapped itself tells no one.
     */
    private void closeKernelMapped() throws IOException {
        try {
            if (mappedOn != PageServerLink.NO_SERVER && owner.link().serves(mappedOn)) {
                owner.link().call(new Message.Unmap(owner.link().nextRequestId(), serverRegionId), -1, uri, mappedOn);
            }
        } catch (PageServerLink.ConnectionLostException | IllegalArgumentException serverGone) {
            // The server that listed it is gone, and its list with it.
        } finally {
            owner.forget(this);
            Libc.close(file);
        }
    }

    /**
     * Maps a local file of the object for the kernel to serve, shared, as FileChannel.map does: a
     * writable region's descriptor was opened for writing, and its writes are the file's.
     */
    static long mapFile(int file, long length, boolean writable) throws NativeException {
        int protection = writable ? Libc.PROT_READ | Libc.PROT_WRITE : Libc.PROT_READ;
        return Libc.check(Libc.mmap(0, length, protection, Libc.MAP_SHARED, file, 0), "mmap");
    }

    /**
     * Maps the object's memory in the page server, {@code memfd}: what it holds is mapped by the
     * kernel, and what it lacks faults to the page server. A read-only region's memory is the shared
     * cache, shared with every other process that maps the object, which the server sent opened for
     * reading only; mapped private, since the kernel refuses a shared mapping of a read-only
     * descriptor to userfaultfd. A writable region's is a layer of its own, which the server sent
     * writable and reads the writes from: mapped shared.
     */
    static long mapMemory(int memfd, long length, boolean writable) throws NativeException {
        return Libc.check(writable
                ? Libc.mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_NORESERVE, memfd, 0)
                : Libc.mmap(0, length, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_NORESERVE, memfd, 0), "mmap(page cache memory)");
    }
}
