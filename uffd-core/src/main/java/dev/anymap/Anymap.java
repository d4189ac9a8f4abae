package dev.anymap;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.linux.UserfaultfdUnavailableException;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Maps stored objects into memory, paged in lazily by a page server.
 *
 * <pre>{@code
 * try (Anymap anymap = Anymap.open();
 *      MappedRegion region = anymap.map(URI.create("file:///data/model.bin"))) {
 *     byte b = region.segment().get(ValueLayout.JAVA_BYTE, 123_456_789L);
 * }
 * }</pre>
 *
 * <p>A JVM cannot serve the page faults of its own memory (a thread stopped in a fault blocks
 * every safepoint, and with it the thread that would serve the fault), so the faults are served
 * by a page server: a separate process that receives each region's userfaultfd over a Unix socket.
 * The first request that needs one attaches to the user's page server, or starts one. A local file
 * ({@code file:}) needs none: this process opens it and the kernel maps it, as
 * {@link java.nio.channels.FileChannel#map} would. Safe for concurrent use.
 */
public final class Anymap implements AutoCloseable {
    private static volatile Long availableFeatures;
    /** What a writable region's dirty tracking needs of userfaultfd. */
    private static final long WRITE_TRACKING = Userfaultfd.FEATURE_WP_ASYNC | Userfaultfd.FEATURE_WP_HUGETLBFS_SHMEM;

    private final PageServerLink link;
    private final Set<MappedRegion> regions = ConcurrentHashMap.newKeySet();
    private final Set<ServedGuest> guests = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private Anymap(AnymapConfig config) throws IOException {
        // Kernel-mapped regions need no server: a takeover has nothing of theirs to resume, nor its failure to fail.
        this.link = PageServerLink.open(config, () -> java.util.stream.Stream.concat(
                regions.stream().filter(region -> !region.kernelMapped()).map(MappedRegion::asServerRegion),
                guests.stream().map(ServedGuest::asServerRegion)).toList());
    }

    /**
     * The user's page server, attached to (or started, if none runs) by the first request that needs
     * one: a map of anything but a local file, {@link #serverStatus()}, a trace. A process that maps
     * only local files starts none, and an error in reaching one (none runs and auto-start is off)
     * comes from that first request.
     */
    public static Anymap open() throws IOException {
        return open(AnymapConfig.defaults());
    }

    /** As {@link #open()}, with the page server that {@code config} names. */
    public static Anymap open(AnymapConfig config) throws IOException {
        return new Anymap(config);
    }

    /** Maps {@code uri} with the default options. */
    public MappedRegion map(URI uri) throws IOException {
        return map(uri, MapOptions.defaults());
    }

    /**
     * Maps the object at {@code uri}. The object is opened now: a missing object, a denied request or
     * a bad URI fails here, not at the first touch.
     *
     * <p>A {@code file:} URI that a backend of this process opens as a local file is opened here,
     * with this process's rights, and mapped by the kernel with no page server: none is asked, or
     * started (see {@link MappedRegion#kernelMapped()}). Other objects are opened by the page server.
     *
     * @throws java.nio.file.NoSuchFileException if there is no such object
     * @throws java.nio.file.AccessDeniedException if the backend may not read it
     * @throws IllegalArgumentException for a scheme no backend serves, or a bad option
     * @throws UserfaultfdUnavailableException if this process may not use userfaultfd; the message names the fix
     * @throws IOException if the page server or the backend fails otherwise
     */
    public MappedRegion map(URI uri, MapOptions options) throws IOException {
        return map(uri, options, null, false, null);
    }

    /**
     * Maps, starting again once if the page server dies in the middle: a server that takes over knows nothing of it.
     *
     * @param created the version at which this process just created the object as zeros, or null
     */
    private MappedRegion map(URI uri, MapOptions options, AccessTrace trace, boolean assume, ObjectVersion created) throws IOException {
        try {
            return mapOnce(uri, options, trace, assume, created);
        } catch (PageServerLink.ConnectionLostException e) {
            return mapOnce(uri, options, trace, assume, created);
        }
    }

    /**
     * Maps the object at {@code uri} and replays {@code trace} from the start: as {@link #map(URI,
     * MapOptions)} then {@link MappedRegion#prefetch(AccessTrace)}, a round trip to the storage
     * sooner. Where the backend can read a given version (S3), the page server reads the trace's
     * chunks while it opens the object, taking it to be the size and version the trace was recorded
     * on, and keeps them only if the open finds it so. If the object has changed since the trace was
     * recorded, it is mapped as it is now, and the trace, if of an object of the same size, still
     * serves as a hint; of another size, it is not used.
     *
     * @throws java.nio.file.NoSuchFileException if there is no such object
     * @throws IOException as {@link #map(URI, MapOptions)}
     */
    public MappedRegion map(URI uri, MapOptions options, AccessTrace trace) throws IOException {
        Objects.requireNonNull(trace, "trace");
        try {
            return map(uri, options, trace, true, null);
        } catch (ObjectChangedException notAsTraced) {
            return map(uri, options, trace, false, null);
        }
    }

    /** Maps, sends the trace's order before the attach, and with {@code assume}, maps the object as the trace saw it. */
    private MappedRegion mapOnce(URI uri, MapOptions given, AccessTrace trace, boolean assume, ObjectVersion created) throws IOException {
        if (closed) {
            throw new IllegalStateException("this Anymap is closed");
        }
        // Resolved here, where this process's environment is: the page server is shared and has its own.
        MapOptions options = given.withBackendOptions(LocalBackends.get().resolve(uri, given.backendOptions()));
        java.util.Optional<LocalBackends.LocalFile> local = LocalBackends.get().openLocalFile(uri, options.backendOptions(), options.writable());
        if (local.isPresent()) {
            MappedRegion region = mapLocalFile(uri, options, local.get());
            if (trace != null && trace.objectSize() == region.size()) {
                region.prefetch(trace);
            }
            return region;
        }
        long features = features();
        Message.Assumed assumed = assume ? new Message.Assumed(trace.objectSize(), trace.objectVersion()) : Message.Assumed.NONE;
        // Every request about the new region goes to the server that made it; another that took over never heard of it.
        int server = link.server();
        Message.Map request = options.request(link.nextRequestId(), uri, created == null ? "" : created.toString(), assumed, created != null);
        Connection.Incoming answer = link.exchange(request, -1, uri, server);
        Message.Mapped mapped = (Message.Mapped) answer.message();
        int memory = answer.fd();
        ObjectVersion version = ObjectVersion.parse(mapped.version());
        if (mapped.kernelMapped()) {
            MappedRegion region = mapFile(uri, options, mapped, version, answer.fd(), server);
            if (trace != null && trace.objectSize() == mapped.size()) {
                region.prefetch(trace);
            }
            return region;
        }
        if (mapped.size() == 0) {
            answer.closeDescriptors();
            link.call(new Message.Unmap(link.nextRequestId(), mapped.regionId()), -1, uri, server);
            return register(new MappedRegion(this, uri, options, 0, version, 0, 0, -1, 0, null));
        }
        long length = (mapped.size() + Userfaultfd.PAGE - 1) & -Userfaultfd.PAGE;
        long address = 0;
        int uffd = -1;
        WrittenPages written = null;
        try {
            if (options.writable() && (features & WRITE_TRACKING) != WRITE_TRACKING) {
                throw new UnsupportedOperationException("mapping " + Redaction.uri(uri) + " writable needs userfaultfd's asynchronous"
                        + " write protection of shared memory (Linux 6.7 or later), which this kernel lacks; map it read-only");
            }
            if (trace != null && trace.objectSize() == mapped.size()) {
                // Before the attach, which waits for the open when the object was assumed: the reads start now.
                link.prefetch(mapped.regionId(), trace.chunksFor(options.chunkSize()), uri, server);
            }
            if (memory < 0) {
                throw new IOException("the page server mapped " + Redaction.uri(uri) + " but sent no memory for it");
            }
            address = MappedRegion.mapMemory(memory, length, options.writable());
            uffd = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
            if (options.writable()) {
                Userfaultfd.enable(uffd, features & Userfaultfd.FEATURE_POISON | WRITE_TRACKING | Userfaultfd.FEATURE_THREAD_ID);
                Userfaultfd.register(uffd, address, length, Userfaultfd.REGISTER_MODE_MISSING | Userfaultfd.REGISTER_MODE_WP);
                // Before any access: from here on, the first write to each page marks it for the next flush.
                Userfaultfd.writeProtect(uffd, address, length);
                written = WrittenPages.track(address, length, mapped.size());
            } else {
                Userfaultfd.enable(uffd, features & Userfaultfd.FEATURE_POISON | Userfaultfd.FEATURE_THREAD_ID);
                Userfaultfd.register(uffd, address, length, Userfaultfd.REGISTER_MODE_MISSING);
            }
            link.call(new Message.Attach(link.nextRequestId(), mapped.regionId(), address, length), uffd, uri, server);
            return register(new MappedRegion(this, uri, options, mapped.size(), version, address, length, uffd, mapped.regionId(), written));
        } catch (IOException | RuntimeException e) {
            if (written != null) {
                written.close();
            }
            if (address != 0) {
                Libc.munmap(address, length);
            }
            if (uffd >= 0) {
                Libc.close(uffd);
            }
            if (e instanceof PageServerLink.ConnectionLostException) {
                throw e; // map() starts again whole, on the server that took over
            }
            try {
                link.call(new Message.Unmap(link.nextRequestId(), mapped.regionId()), -1, uri, server);
            } catch (IOException | RuntimeException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        } finally {
            answer.closeDescriptors(); // the mapping holds the memory now
        }
    }

    /**
     * Maps a local file that this process opened itself: the kernel serves its faults, no page server
     * lists it or knows of it. The descriptor stays with the region, which closes it.
     */
    private MappedRegion mapLocalFile(URI uri, MapOptions options, LocalBackends.LocalFile file) throws IOException {
        long length = (file.size() + Userfaultfd.PAGE - 1) & -Userfaultfd.PAGE;
        long address = 0;
        try {
            if (length > 0) {
                address = MappedRegion.mapFile(file.descriptor(), length, options.writable());
            }
            return register(new MappedRegion(this, uri, options, file.size(), file.version(), address, length, file.descriptor(),
                    -1, PageServerLink.NO_SERVER));
        } catch (IOException | RuntimeException e) {
            if (address != 0) {
                Libc.munmap(address, length);
            }
            Libc.close(file.descriptor());
            throw e;
        }
    }

    /**
     * Maps the local file whose descriptor came with {@code mapped}: the kernel serves its faults, and
     * the page server only lists it. The descriptor stays with the region, which closes it.
     */
    private MappedRegion mapFile(URI uri, MapOptions options, Message.Mapped mapped, ObjectVersion version, int file, int server)
            throws IOException {
        long length = (mapped.size() + Userfaultfd.PAGE - 1) & -Userfaultfd.PAGE;
        long address = 0;
        try {
            if (!mapped.kernelMapped() || file < 0 || mapped.size() == 0) {
                throw new IOException("the page server answered the map of " + Redaction.uri(uri) + " with " + mapped
                        + (file < 0 ? " but no file" : " and a descriptor"));
            }
            address = MappedRegion.mapFile(file, length, options.writable());
            return register(new MappedRegion(this, uri, options, mapped.size(), () -> version, address, length, file, mapped.regionId(),
                    server));
        } catch (IOException | RuntimeException e) {
            if (address != 0) {
                Libc.munmap(address, length);
            }
            if (file >= 0) {
                Libc.close(file);
            }
            try {
                link.call(new Message.Unmap(link.nextRequestId(), mapped.regionId()), -1, uri, server);
            } catch (IOException | RuntimeException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    /**
     * Serves another process's memory from the object at {@code uri}: the page server fills each page
     * the process touches from the object's bytes at the page's offset, a chunk at a time, through
     * the userfaultfd the process handed over. This is how a Firecracker microVM's snapshot memory is
     * served (see {@code dev.anymap.firecracker}). The object is opened now, as by {@link #map(URI,
     * MapOptions)}, and read at the version found now for as long as it is served. A chunk size
     * smaller than the memory's largest page is raised to it.
     *
     * @throws IllegalArgumentException if a range is outside the object, {@code options} are
     *     writable, or the descriptor is not a userfaultfd
     * @throws java.nio.file.NoSuchFileException if there is no such object
     * @throws IOException as {@link #map(URI, MapOptions)}
     */
    public ServedGuest serve(URI uri, MapOptions options, GuestMemory memory) throws IOException {
        return serve(uri, options, memory, null);
    }

    /**
     * As {@link #serve(URI, MapOptions, GuestMemory)}, replaying {@code trace} from the start, as
     * {@link #map(URI, MapOptions, AccessTrace)} does: its chunks are read while the object is opened,
     * before the process touches them. A trace recorded on another version of the object still serves
     * as a hint; one of another size is not used.
     */
    public ServedGuest serve(URI uri, MapOptions options, GuestMemory memory, AccessTrace trace) throws IOException {
        Objects.requireNonNull(memory, "memory");
        if (options.writable()) {
            throw new IllegalArgumentException("guest memory is served read-only from " + Redaction.uri(uri)
                    + ": the process's writes stay in its own memory");
        }
        if (!Userfaultfd.isUserfaultfd(memory.userfaultfd())) {
            throw new IllegalArgumentException("descriptor " + memory.userfaultfd() + " is not a userfaultfd but "
                    + Userfaultfd.describe(memory.userfaultfd()));
        }
        MapOptions chunked = options.chunkSize() >= memory.largestPage() ? options : options.withChunkSize((int) memory.largestPage());
        boolean assume = trace != null;
        while (true) {
            try {
                return serveOnce(uri, chunked, memory, trace, assume);
            } catch (PageServerLink.ConnectionLostException e) {
                // A server that takes over knows nothing of a region it was not told of: start again.
            } catch (ObjectChangedException notAsTraced) {
                if (!assume) {
                    throw notAsTraced;
                }
                assume = false;
            }
        }
    }

    private ServedGuest serveOnce(URI uri, MapOptions given, GuestMemory memory, AccessTrace trace, boolean assume) throws IOException {
        if (closed) {
            throw new IllegalStateException("this Anymap is closed");
        }
        MapOptions options = given.withBackendOptions(LocalBackends.get().resolve(uri, given.backendOptions()));
        Message.Assumed assumed = assume ? new Message.Assumed(trace.objectSize(), trace.objectVersion()) : Message.Assumed.NONE;
        int server = link.server();
        List<Message.GuestRange> ranges = memory.ranges().stream()
                .map(range -> new Message.GuestRange(range.address(), range.size(), range.offset(), range.pageSize())).toList();
        Message.Map request = options.request(link.nextRequestId(), uri, "", assumed, false).withGuest(ranges);
        Connection.Incoming answer = link.exchange(request, -1, uri, server);
        answer.closeDescriptors(); // the process maps nothing of the server's
        Message.Mapped mapped = (Message.Mapped) answer.message();
        int duplicate = -1;
        try {
            if (trace != null && trace.objectSize() == mapped.size()) {
                link.prefetch(mapped.regionId(), trace.chunksFor(options.chunkSize()), uri, server);
            }
            duplicate = (int) Libc.check(Libc.dup(memory.userfaultfd()), "dup(userfaultfd)");
            link.call(new Message.Attach(link.nextRequestId(), mapped.regionId(), 0, 0), memory.userfaultfd(), uri, server);
            ServedGuest guest = new ServedGuest(this, uri, options, mapped.size(), ObjectVersion.parse(mapped.version()), memory, duplicate,
                    mapped.regionId());
            guests.add(guest);
            return guest;
        } catch (IOException | RuntimeException e) {
            if (duplicate >= 0) {
                Libc.close(duplicate);
            }
            if (!(e instanceof PageServerLink.ConnectionLostException)) {
                try {
                    link.call(new Message.Unmap(link.nextRequestId(), mapped.regionId()), -1, uri, server);
                } catch (IOException | RuntimeException cleanup) {
                    e.addSuppressed(cleanup);
                }
            }
            throw e;
        }
    }

    /**
     * Creates a new object of {@code size} zero bytes at {@code uri} and maps it writable: memory
     * that lives in storage. The object is created now, by this process with its own backend and
     * rights, where the storage can check it only if none exists (S3's conditional write, an
     * exclusive create of a file); writes reach it at {@link MappedRegion#flush()} and close.
     *
     * @throws java.nio.file.FileAlreadyExistsException if an object exists at {@code uri}
     * @throws IllegalArgumentException if the backend of {@code uri} cannot write
     * @throws IOException as {@link #map(URI, MapOptions)}
     */
    public MappedRegion create(URI uri, long size, MapOptions options) throws IOException {
        if (closed) {
            throw new IllegalStateException("this Anymap is closed");
        }
        MapOptions writable = options.withWritable(true);
        Map<String, String> resolved = LocalBackends.get().resolve(uri, writable.backendOptions());
        ObjectVersion created;
        try {
            created = LocalBackends.get().create(uri, size, resolved);
        } catch (UnsupportedOperationException readOnly) {
            throw new IllegalArgumentException(readOnly.getMessage(), readOnly);
        }
        // What the region does not write is zeros: the page server reads none of it from storage.
        return map(uri, writable, null, false, created);
    }

    /** What the page server holds now, for this and every other client. */
    public ServerStatus serverStatus() throws IOException {
        Message reply = link.call(new Message.StatusRequest(link.nextRequestId()), -1, null);
        if (!(reply instanceof Message.Status status)) {
            throw new IOException("the page server answered a status request with " + reply);
        }
        return new ServerStatus(status.serverPid(), status.clients(), status.regionCount(), status.regions().stream()
                .map(r -> new ServerStatus.Region(r.clientPid(), r.regionId(), r.uri(), r.version(), r.size(), r.chunkSize(),
                        r.residentBytes(), RegionStats.of(r.stats()), r.kernelMapped(), r.writable(), r.guest()))
                .toList(), link.takeOvers(), status.cache().limitBytes(), status.cache().residentBytes(), status.cache().evictions());
    }

    /**
     * The access trace of any region the page server holds, this process's or another's: its
     * number is in {@link #serverStatus()}.
     */
    public AccessTrace trace(long regionId) throws IOException {
        ServerStatus.Region region = describe(regionId);
        if (region.kernelMapped()) {
            // The kernel serves its faults: no page server sees an access to record.
            return new AccessTrace(region.size(), region.version(), region.chunkSize(), new int[0]);
        }
        return new AccessTrace(region.size(), region.version(), region.chunkSize(), link.chunks(regionId, false, null));
    }

    /** The chunks of any region the page server holds that are resident now, in order of number. */
    public int[] residentChunks(long regionId) throws IOException {
        if (describe(regionId).kernelMapped()) {
            throw new IllegalArgumentException("region " + regionId + " is mapped by the kernel from a local file: what of it is resident"
                    + " is the page cache's, which the page server does not track");
        }
        return link.chunks(regionId, true, null);
    }

    private ServerStatus.Region describe(long regionId) throws IOException {
        return serverStatus().regions().stream().filter(r -> r.regionId() == regionId).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("the page server has no region " + regionId
                        + " (or it is past the first " + dev.anymap.protocol.MessageCodec.MAX_REGIONS + " it lists)"));
    }

    private MappedRegion register(MappedRegion region) {
        regions.add(region);
        return region;
    }

    /** The userfaultfd features of this kernel, probed once: a failure here names what to fix. */
    private static long features() throws NativeException, UserfaultfdUnavailableException {
        Long known = availableFeatures;
        if (known == null) {
            known = Userfaultfd.availableFeatures();
            availableFeatures = known;
        }
        return known;
    }

    PageServerLink link() {
        return link;
    }

    void forget(MappedRegion region) {
        regions.remove(region);
    }

    void forget(ServedGuest guest) {
        guests.remove(guest);
    }

    /**
     * Flushes every writable region, then closes every region still mapped, and leaves the page
     * server (which exits once no client is left, if it auto-started).
     *
     * @throws IOException if a flush fails: then nothing is closed, and the writes are still in their
     *     regions, for another flush or close
     */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        for (MappedRegion region : List.copyOf(regions)) {
            if (region.isWritable() && !region.isClosed()) {
                region.flush();
            }
        }
        closed = true;
        IOException first = null;
        List<AutoCloseable> open = new java.util.ArrayList<>(regions);
        open.addAll(guests);
        for (AutoCloseable region : open) {
            try {
                region.close();
            } catch (Exception e) {
                IOException failure = e instanceof IOException io ? io : new IOException(e);
                if (first == null) {
                    first = failure;
                } else {
                    first.addSuppressed(failure);
                }
            }
        }
        link.close();
        if (first != null) {
            throw first;
        }
    }
}
