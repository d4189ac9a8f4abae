package dev.anymap.server;

import dev.anymap.linux.Libc;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.ProtocolException;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.UnknownSchemeException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One client's connection: answers its requests in order, and frees all of its regions when it
 * goes, whether it closed them or died.
 *
 * <p>A session without a connection holds the regions of a client whose page server died: this
 * server took them over from the keeper, and serves their faults until the client connects again
 * and {@linkplain Message.Resume resumes} them, or exits.
 */
final class ClientSession implements Runnable {
    private static final System.Logger LOG = System.getLogger(ClientSession.class.getName());
    /** A client that sends bad packets in a loop must not fill the disk with the warnings. */
    private static final PeerWarnings WARNINGS = new PeerWarnings(LOG, "process");
    private static final AtomicLong NEXT_REGION = new AtomicLong(1);
    private static final long WARM_UP_BYTES = 1 << 20;
    /** Where the opens that check an assumed object run, beside the session that answered the map. */
    private static final Executor OPENS = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("anymap-open-", 0).factory());
    /** Where a client's maps are made, each on a thread of its own, and answered. */
    private static final Executor MAPS = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("anymap-map-", 0).factory());
    /**
     * The most maps of one client made at once: a map opens its object, a round trip to the storage,
     * and an application that opens many objects from several threads (a Lucene index opening its
     * files) must not wait for them one after the other. A client with more under way waits for one.
     */
    static final int MAPS_AT_ONCE = 16;

    private final Connection connection;
    private final long peerPid;
    private final long peerStart;
    private final Server server;
    private final java.util.function.Consumer<ClientSession> onEnd;
    private final RegionLimit regionLimit;
    /** What this client may have the server do. */
    private final PeerPolicy policy;
    private final Map<Long, RegionServer> regions = new ConcurrentHashMap<>();
    /** Regions the kernel maps from a local file: no faults to serve, a record for status. */
    private final Map<Long, KernelMappedRegion> kernelMapped = new ConcurrentHashMap<>();
    /** Maps of this client under way, off the session's thread: a permit each. */
    private final Semaphore mapsAtOnce = new Semaphore(MAPS_AT_ONCE);
    /** Maps under way whose regions count against the client's limit before they exist. */
    private final AtomicInteger mapsUnderWay = new AtomicInteger();
    /** How each region was mapped, as a server that takes it over must map it again. */
    private final Map<Long, Message.Map> requests = new ConcurrentHashMap<>();
    private final Flushes flushes;
    /** Regions mapped as an object was assumed to be, and the open that checks it, until their attach. */
    private final Map<Long, Assumption> assumptions = new ConcurrentHashMap<>();

    /** What a region was mapped as, and the object as its open finds it. */
    private record Assumption(URI uri, long size, ObjectVersion version, CompletableFuture<Opened> opened) {}

    /** The size and version of an object as an open found them. */
    private record Opened(long size, ObjectVersion version) {}

    /** What every session of one page server shares. */
    record Server(BackendLoaders backendLoaders, StorageSpeeds storageSpeeds, PageCache cache, KeeperLink keeper, Orphans orphans,
                  java.util.function.LongFunction<Message> status, java.util.function.LongFunction<RegionServer> anyRegion) {
        /** The same, but no keeper holds the regions: the server's own warm-up. */
        Server withoutKeeper() {
            return new Server(backendLoaders, storageSpeeds, cache, null, orphans, status, anyRegion);
        }
    }

    /**
     * The process a session serves: its pid, when it started (a pid can be another process's
     * later), and what it may have the server do.
     */
    record Peer(long pid, long start, PeerPolicy policy) {}

    /** A region and how it was mapped, handed from one session to another. */
    record Handed(RegionServer region, Message.Map request) {}

    /** Refuses a new region of a client that holds as many as it may. */
    interface RegionLimit {
        /** @throws IOException naming the limit and how to raise it */
        void check(long pid) throws IOException;

        /** What process {@code pid} may hold of fetches, prefetching and the cache, across its regions. */
        default PeerBudget budget(long pid) {
            return PeerBudget.UNLIMITED;
        }
    }

    /** For the sessions of the server itself and of regions taken over: no limit. */
    static final RegionLimit NO_REGION_LIMIT = pid -> { };

    /** The regions taken over from a dead server, held for their clients until they resume them. */
    interface Orphans {
        /** Hands over region {@code regionId} of client {@code pid} if it is an orphan; null if not. */
        Handed claim(long pid, long regionId);
    }

    /**
     * @param connection the client's connection; null for a session no client is connected to: the
     *     server's own warm-up, or the regions of a dead server's client, held until it claims them
     * @param onEnd told when the session has ended and given back everything it held
     */
    ClientSession(Server server, Connection connection, Peer peer, java.util.function.Consumer<ClientSession> onEnd, RegionLimit regionLimit) {
        this.regionLimit = regionLimit;
        this.connection = connection;
        this.peerPid = peer.pid();
        this.peerStart = peer.start();
        this.policy = peer.policy();
        this.server = server;
        this.onEnd = onEnd;
        this.flushes = new Flushes(connection, peerPid, server.keeper(), requests);
    }

    long peerPid() {
        return peerPid;
    }

    /** The regions this client holds, and those being mapped for it: a map that ends meanwhile may count twice for a moment. */
    int regionCount() {
        return regions.size() + kernelMapped.size() + mapsUnderWay.get();
    }

    /** This client's region of that id, or null. */
    RegionServer region(long regionId) {
        return regions.get(regionId);
    }

    /** When the client process started, in milliseconds since the epoch, or 0 if unknown. */
    static long startOf(long pid) {
        return ProcessHandle.of(pid).flatMap(handle -> handle.info().startInstant()).map(java.time.Instant::toEpochMilli).orElse(0L);
    }

    /** Whether the client process still runs: the same process, not another that was given its pid. */
    boolean peerAlive() {
        return ProcessHandle.of(peerPid).filter(ProcessHandle::isAlive).isPresent() && (peerStart == 0 || startOf(peerPid) == peerStart);
    }

    boolean isEmpty() {
        return regions.isEmpty();
    }

    /**
     * Serves a region that a dead server served, as it was: the same id, object version, options and
     * memory, whose chunks already there it keeps. If it cannot be mapped again, its untouched pages
     * are poisoned, so that its threads fail rather than wait.
     */
    void adopt(Message.Keep kept, int userfaultfd, int memfd) {
        long regionId = kept.regionId();
        NEXT_REGION.accumulateAndGet(regionId + 1, Math::max);
        String failure;
        ObjectMemory memory = null;
        try {
            memory = ObjectMemory.adopt(memfd, kept.length());
            Message reply = map(kept.map(), regionId, memory);
            failure = reply instanceof Message.Failure f ? f.message() : null;
        } catch (Exception | Error e) {
            failure = failure("taking over region " + regionId + " of client " + peerPid, 0, e).message();
        }
        if (failure != null) {
            if (memory != null && !regions.containsKey(regionId)) {
                memory.close();
            }
            LOG.log(System.Logger.Level.ERROR, "region " + regionId + " of client " + peerPid + " could not be taken over: " + failure
                    + "; its pages not yet fetched now raise an error when touched");
            closeRegion(regionId);
            failUnfilled(kept, userfaultfd);
            Libc.close(userfaultfd);
            return;
        }
        try {
            RegionServer region = regions.get(regionId);
            if (kept.map().isGuest()) {
                if (kept.removals().lost()) {
                    // Before the attach, whose wake would have the guest's threads read the snapshot's bytes where zeros belong.
                    LOG.log(System.Logger.Level.ERROR, "guest region " + regionId + " of client " + peerPid + " gave back more ranges than"
                            + " its keeper could hold: pages of them would read the snapshot's bytes, not zeros, so every page not yet"
                            + " filled now raises a memory error in the guest");
                    failUnfilled(kept, userfaultfd);
                }
                region.attachGuest(userfaultfd, kept.map().guest(), kept.removals(), removals -> keepRemovals(regionId, removals));
            } else {
                region.attach(userfaultfd, kept.address(), kept.length(), peerPid);
            }
            keepAttached(regionId, kept.address(), kept.length(), userfaultfd, region);
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "region " + regionId + " of client " + peerPid + " could not be taken over: " + e.getMessage());
            closeRegion(regionId);
        }
    }

    /** Poisons every page not yet filled in a region taken over: its threads fail instead of waiting for ever. */
    private static void failUnfilled(Message.Keep kept, int userfaultfd) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Userfaultfd.FillRequest poison = new Userfaultfd.FillRequest(arena);
            if (kept.map().isGuest()) {
                kept.map().guest().forEach(range -> poison.poisonAbandoned(userfaultfd, range.address(), range.size(), range.pageSize()));
            } else {
                poison.fillRange(userfaultfd, kept.address(), 0, kept.length());
            }
        }
    }

    /**
     * Maps, attaches and closes a small region of this server's own, without touching it: a standby
     * that does so while it waits takes over with the classes and native calls of the fault path
     * loaded and linked, which a new JVM otherwise loads while the application's threads wait.
     */
    void warmUp() {
        long length = RegionServer.mappedLength(WARM_UP_BYTES);
        long address = 0;
        int userfaultfd = -1;
        try {
            Message reply = map(new Message.Map(0, "mem:anymap-warm-up?size=" + WARM_UP_BYTES + "&seed=1", Map.of(), RegionServer.MIN_CHUNK,
                    1, new Message.Prefetching(0, false, false, Long.MAX_VALUE, Long.MAX_VALUE), "", Message.Assumed.NONE,
                    java.time.Duration.ofMinutes(1).toMillis()));
            if (!(reply instanceof Message.Mapped mapped)) {
                return;
            }
            int memfd = regions.get(mapped.regionId()).object().memoryForClient();
            try {
                address = Libc.check(Libc.mmap(0, length, Libc.PROT_READ, Libc.MAP_PRIVATE, memfd, 0), "mmap");
            } finally {
                Libc.close(memfd);
            }
            userfaultfd = dev.anymap.linux.Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
            dev.anymap.linux.Userfaultfd.enable(userfaultfd, 0);
            dev.anymap.linux.Userfaultfd.register(userfaultfd, address, length, dev.anymap.linux.Userfaultfd.REGISTER_MODE_MISSING);
            int attached = userfaultfd;
            userfaultfd = -1; // the region's now, which closes it if the attach fails
            regions.get(mapped.regionId()).attach(attached, address, length, ProcessHandle.current().pid());
        } catch (Exception e) {
            LOG.log(System.Logger.Level.DEBUG, "warming up: " + e);
        } finally {
            closeAll();
            if (userfaultfd >= 0) {
                Libc.close(userfaultfd);
            }
            if (address != 0) {
                Libc.munmap(address, length);
            }
        }
    }

    /**
     * The descriptor that goes with a reply: for a region mapped, its object's memory in the cache
     * (opened for reading only, unless the region is writable), or the local file the kernel maps it
     * from, which the client maps. The caller closes it once sent.
     */
    private int descriptorFor(Message reply) throws IOException {
        if (!(reply instanceof Message.Mapped mapped)) {
            return -1;
        }
        if (kernelMapped.get(mapped.regionId()) instanceof KernelMappedRegion local) {
            return local.handOver();
        }
        Message.Map request = requests.get(mapped.regionId());
        if (regions.get(mapped.regionId()) instanceof RegionServer region && request != null && !request.isGuest()) {
            return region.object().memoryForClient();
        }
        return -1;
    }

    /** Lets go of a region, unclosed, for the session that claims it; null if this session has no such region. */
    Handed release(long regionId) {
        Message.Map request = requests.remove(regionId);
        RegionServer region = regions.remove(regionId);
        return region == null ? null : new Handed(region, request);
    }

    /** Closes every region: the client is gone. */
    void closeAll() {
        // A flush under way ends first, its region listed meanwhile: a client that died in the middle leaves it done, never half.
        regions.values().stream().map(region -> region.object().writeBack()).filter(java.util.Objects::nonNull)
                .forEach(WriteBack::awaitCommit);
        regions.keySet().forEach(this::closeRegion);
        kernelMapped.values().forEach(KernelMappedRegion::close);
        kernelMapped.clear();
        assumptions.clear();
    }

    /** Ends the connection: the session frees its regions and ends (its client resumes them where the keeper has them served). */
    void shutdown() {
        connection.shutdown();
    }

    /** This client's regions, for a server status. */
    java.util.List<Message.RegionStatus> regionStatuses() {
        return java.util.stream.Stream.concat(regions.values().stream().map(region -> region.status(peerPid)),
                kernelMapped.values().stream().map(region -> region.status(peerPid))).toList();
    }

    @Override
    public void run() {
        try {
            Connection.Incoming first = connection.receive();
            if (first == null) {
                return;
            }
            if (!(first.message() instanceof Message.Hello hello) || hello.protocolVersion() != Message.PROTOCOL_VERSION) {
                closeDescriptor(first);
                connection.send(new Message.Failure(0, Message.ErrorKind.PROTOCOL, "this page server speaks anymap protocol "
                        + Message.PROTOCOL_VERSION + "; upgrade the client or the server so that they match"));
                return;
            }
            connection.send(new Message.Welcome(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
            for (Connection.Incoming incoming; (incoming = connection.receive()) != null; ) {
                Message reply = answer(incoming);
                if (reply != null) { // else answered later, by a thread of its own
                    send(reply);
                }
            }
        } catch (ProtocolException e) {
            WARNINGS.warn(peerPid, "client " + peerPid + " sent an invalid message (" + e.getMessage() + "); dropping it");
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "client " + peerPid + " connection ended: " + e);
        } finally {
            // The maps under way end first: a region one of them makes is then closed with the others.
            mapsAtOnce.acquireUninterruptibly(MAPS_AT_ONCE);
            closeAll();
            connection.close();
            onEnd.accept(this);
        }
    }

    /** Sends a reply, with the descriptor that goes with it. */
    private void send(Message reply) throws IOException {
        int fd = descriptorFor(reply);
        try {
            connection.send(reply, fd);
        } finally {
            if (fd >= 0) {
                Libc.close(fd); // the client has its own now, or never will
            }
        }
    }

    /**
     * Makes a map on a thread of its own, which answers it, once the region limit, counting the maps
     * under way, leaves room for it. Waits while {@link #MAPS_AT_ONCE} are under way.
     */
    private void startMap(Message.Map map) throws IOException {
        regionLimit.check(peerPid);
        try {
            mapsAtOnce.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while waiting for this client's other maps");
        }
        mapsUnderWay.incrementAndGet();
        MAPS.execute(() -> {
            try {
                Message reply;
                try {
                    reply = map(map);
                } catch (Exception | Error e) {
                    reply = failure(map.requestId(), e);
                } finally {
                    mapsUnderWay.decrementAndGet();
                }
                send(reply);
            } catch (IOException | RuntimeException | Error lost) {
                // The connection is gone: the session ends, and closes the region with the others.
                LOG.log(System.Logger.Level.DEBUG, "client " + peerPid + ": the answer to a map was not sent: " + lost);
            } finally {
                mapsAtOnce.release();
            }
        });
    }

    private Message answer(Connection.Incoming incoming) {
        Message message = incoming.message();
        long requestId = Message.requestId(message);
        try {
            if (incoming.fds().length > (message instanceof Message.Attach ? 1 : 0)) {
                closeDescriptor(incoming);
                throw new ProtocolException(incoming.fds().length + " descriptors came with a " + message.getClass().getSimpleName()
                        + " message");
            }
            return switch (message) {
                case Message.Map map -> {
                    startMap(map);
                    yield null; // answered by the map's own thread
                }
                case Message.Attach attach -> {
                    if (incoming.fd() < 0) {
                        throw new ProtocolException("an Attach message came without its userfaultfd");
                    }
                    if (!Userfaultfd.isUserfaultfd(incoming.fd())) {
                        String what = Userfaultfd.describe(incoming.fd());
                        closeDescriptor(incoming);
                        throw new ProtocolException("the descriptor sent with the Attach of region " + attach.regionId()
                                + " is not a userfaultfd but " + what);
                    }
                    RegionServer region = region(attach.regionId(), incoming);
                    confirmAssumption(attach.regionId(), region, incoming);
                    Message.Map request = requests.get(attach.regionId());
                    long features = Userfaultfd.features(incoming.fd());
                    // Features that cannot be read (-1) leave it to the first fault, which refuses one that names no thread.
                    if (!request.isGuest() && features >= 0 && (features & Userfaultfd.FEATURE_THREAD_ID) == 0) {
                        closeDescriptor(incoming);
                        throw new ProtocolException("the userfaultfd sent with the Attach of region " + attach.regionId() + " was set up"
                                + " without UFFD_FEATURE_THREAD_ID: the page server serves a region's faults only to the threads of the"
                                + " process that attached it, and tells them by the thread each fault names");
                    }
                    if (request.isGuest()) {
                        long regionId = attach.regionId();
                        region.attachGuest(incoming.fd(), request.guest(), Message.GuestRemovals.NONE, removals -> keepRemovals(regionId, removals));
                        // The keeper hands a taker-over the memory's length, which the guest's ranges do not give.
                        keepAttached(attach.regionId(), 0, region.object().table().mappedLength(), incoming.fd(), region);
                    } else {
                        region.attach(incoming.fd(), attach.address(), attach.length(), peerPid);
                        keepAttached(attach.regionId(), attach.address(), attach.length(), incoming.fd(), region);
                    }
                    yield new Message.Attached(requestId);
                }
                case Message.Unmap unmap -> {
                    KernelMappedRegion local = kernelMapped.remove(unmap.regionId());
                    if (local != null) {
                        local.close();
                    } else if (!closeRegion(unmap.regionId())) {
                        throw new IllegalArgumentException("no region " + unmap.regionId() + " for this client");
                    }
                    yield new Message.Unmapped(requestId);
                }
                case Message.Resume resume -> resume(resume);
                case Message.StatsRequest stats -> kernelMapped.containsKey(stats.regionId())
                        ? kernelMapped.get(stats.regionId()).stats(requestId)
                        : region(stats.regionId(), null).stats(requestId);
                case Message.StatusRequest request -> policy.foreign() ? ownStatus(server.status().apply(request.requestId()))
                        : server.status().apply(request.requestId());
                case Message.TraceRequest trace -> {
                    // Any client's region: tools look at what an application's page server holds. Another user's, its own only.
                    RegionServer region = policy.foreign() ? regions.get(trace.regionId()) : server.anyRegion().apply(trace.regionId());
                    if (region == null) {
                        throw new IllegalArgumentException("this page server has no region " + trace.regionId());
                    }
                    yield region.trace(requestId, trace.from(), trace.resident());
                }
                case Message.Flush flush -> {
                    RegionServer region = region(flush.regionId(), null);
                    Message.Map request = requests.get(flush.regionId());
                    flushes.start(flush, region, server.backendLoaders().of(request.codePath()).loader());
                    yield null; // answered by the flush's own thread
                }
                case Message.PrefetchOrder order -> {
                    region(order.regionId(), null).prefetchInOrder(order.chunks());
                    yield new Message.PrefetchQueued(requestId);
                }
                default -> throw new ProtocolException("unexpected " + message.getClass().getSimpleName() + " message");
            };
        } catch (Exception | Error e) {
            return failure(requestId, e);
        }
    }

    /** A status as another user sees it: the regions of its own process only, not what the server's user maps. */
    private Message ownStatus(Message status) {
        if (!(status instanceof Message.Status all)) {
            return status;
        }
        java.util.List<Message.RegionStatus> own = all.regions().stream().filter(region -> region.clientPid() == peerPid).toList();
        return new Message.Status(all.requestId(), all.serverPid(), all.clients(), own.size(), own, all.cache());
    }

    /** Takes back this client's regions that this server took over from a dead one. */
    private Message resume(Message.Resume resume) {
        java.util.List<Long> lost = new java.util.ArrayList<>();
        for (long regionId : resume.regionIds()) {
            Handed handed = server.orphans().claim(peerPid, regionId);
            if (handed == null) {
                lost.add(regionId);
            } else {
                regions.put(regionId, handed.region());
                requests.put(regionId, handed.request());
            }
        }
        LOG.log(System.Logger.Level.INFO, "client " + peerPid + " resumed " + (resume.regionIds().length - lost.size()) + " regions"
                + (lost.isEmpty() ? "" : "; " + lost.size() + " were lost"));
        return new Message.Resumed(resume.requestId(), lost.stream().mapToLong(Long::longValue).toArray());
    }

    /** Hands an attached region to the keeper, so that it outlives this server. */
    private void keepAttached(long regionId, long address, long length, int userfaultfd, RegionServer region) throws IOException {
        Message.Map request = requests.get(regionId);
        if (server.keeper() != null && request != null) {
            server.keeper().keep(new Message.Keep(regionId, peerPid, peerStart, address, length, request, region.removals()), userfaultfd,
                    region.object().memory().fd());
        }
    }

    /** Tells the keeper what a guest gave back, before a fault there is served. */
    private void keepRemovals(long regionId, Message.GuestRemovals removals) {
        if (server.keeper() == null) {
            return;
        }
        try {
            server.keeper().removed(regionId, removals);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Closes a region, the keeper letting go of it first; false if this client has no such region. */
    private boolean closeRegion(long regionId) {
        RegionServer region = regions.remove(regionId);
        requests.remove(regionId);
        assumptions.remove(regionId);
        if (region == null) {
            return false;
        }
        if (server.keeper() != null) {
            server.keeper().forget(regionId);
        }
        region.close();
        return true;
    }

    private Message map(Message.Map map) throws IOException, URISyntaxException {
        try {
            return map(policy.admit(map), NEXT_REGION.getAndIncrement(), null);
        } catch (UnknownSchemeException e) {
            if (!policy.foreign()) {
                throw e;
            }
            throw new IllegalArgumentException(e.getMessage() + policy.unknownScheme(), e);
        }
    }

    /**
     * @param takenOverMemory the memory of a region taken over from a dead server, which holds its
     *     object's chunks fetched so far and which its client maps; null for a new region
     */
    private Message map(Message.Map map, long regionId, ObjectMemory takenOverMemory) throws IOException, URISyntaxException {
        MapRequestLimits.check(map);
        int chunk = map.chunkSize();
        Message.Prefetching prefetching = map.prefetching();
        URI uri = new URI(map.uri());
        // The providers of the process that mapped: its plugins, its versions of them.
        BackendLoaders.Backends backends = server.backendLoaders().of(map.codePath());
        BackendProvider provider = backends.provider(uri);
        policy.check(uri, provider, map.options());
        String backendName = provider.name();
        server.cache().checkChunkSize(chunk, Redaction.uri(uri));
        StorageSpeeds.Speed storageSpeed = server.storageSpeeds().of(uri, provider.redact(map.options()));
        if (!map.assumed().equals(Message.Assumed.NONE) && map.expectedVersion().isEmpty()) {
            ObjectVersion version = ObjectVersion.parse(map.assumed().version());
            if (map.isGuest()) {
                GuestCopy.check(map.guest(), map.assumed().size(), chunk, Redaction.uri(uri));
            }
            Optional<StorageBackend> assumed = backends.openAt(uri, map.options(), map.assumed().size(), version);
            if (assumed.isPresent()) {
                // Answered now, its reads started by the trace that follows, and checked by an open that runs meanwhile.
                addRegion(regionId, uri, assumed.get(), backendName, storageSpeed, chunk, map, prefetching, null, null);
                assumptions.put(regionId, new Assumption(uri, map.assumed().size(), version,
                        CompletableFuture.supplyAsync(() -> open(backends, uri, map.options()), OPENS)));
                return new Message.Mapped(map.requestId(), regionId, map.assumed().size(), version.toString());
            }
        }
        StorageBackend backend = map.writing().writable() ? backends.openForWriting(uri, map.options()) : backends.open(uri, map.options());
        boolean ownCommit = committedBeforeTakeOver(map, backend);
        boolean asExpected = ownCommit || map.expectedVersion().equals(backend.version().toString());
        if (map.writing().created() && asExpected) {
            backend = ZeroFilledBackend.of(backend);
        } else if (map.writing().created() && takenOverMemory == null) {
            ObjectVersion now = backend.version();
            backend.close();
            throw new ObjectChangedException(uri, ObjectVersion.parse(map.expectedVersion()), "it is at " + now
                    + " now: another writer changed it since it was created");
        }
        String changed = null;
        if (!map.expectedVersion().isEmpty() && !asExpected) {
            changed = Redaction.uri(uri) + " changed while its page server restarted (mapped at " + map.expectedVersion()
                    + ", now at " + backend.version() + "); map it again to read the new version";
        }
        if (map.isGuest()) {
            if (map.writing().writable()) {
                backend.close();
                throw new IllegalArgumentException("guest memory is served read-only, not writable");
            }
            try {
                GuestCopy.check(map.guest(), backend.size(), chunk, Redaction.uri(uri));
            } catch (IllegalArgumentException e) {
                backend.close();
                throw e;
            }
        } else if (changed == null && takenOverMemory == null && !map.writing().writable()) {
            Message kernel = kernelMap(regionId, uri, backend, chunk, map);
            if (kernel != null) {
                return kernel;
            }
        }
        long size = backend.size();
        // A guest of a local file copies from the kernel's page cache, which holds the file already.
        LocalFileView localFile = map.isGuest() && changed == null ? LocalFileView.open(backend) : null;
        try {
            addRegion(regionId, uri, backend, backendName, storageSpeed, chunk, map, prefetching, changed, takenOverMemory);
        } catch (IOException | RuntimeException e) {
            if (localFile != null) {
                localFile.close();
            }
            throw e;
        }
        if (localFile != null) {
            regions.get(regionId).readFrom(localFile);
        }
        return new Message.Mapped(map.requestId(), regionId, size, changed == null ? backend.version().toString() : map.expectedVersion());
    }

    /**
     * Answers the map with the backend's local file for the client to map, if it has one: the
     * descriptor holds the bytes, so the backend closes now (deleting a spooled copy, whose bytes
     * stay for the descriptor); null if it has none.
     */
    private Message kernelMap(long regionId, URI uri, StorageBackend backend, int chunk, Message.Map map) {
        int file = KernelMappedRegion.open(backend);
        if (file < 0) {
            return null;
        }
        String version = backend.version().toString();
        long size = backend.size();
        try {
            backend.close();
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing the backend of kernel-mapped " + Redaction.uri(uri) + ": " + e);
        }
        kernelMapped.put(regionId, new KernelMappedRegion(regionId, uri, version, size, chunk, file));
        LOG.log(System.Logger.Level.DEBUG, "client " + peerPid + " mapped " + Redaction.uri(uri) + " as region " + regionId
                + ", mapped by the kernel from a local file");
        return new Message.Mapped(map.requestId(), regionId, size, version, true);
    }

    /**
     * Adds a region on the served object of its object version: the one the cache holds, or a new
     * one. A region whose object changed while its server was dead reads what its memory holds, and
     * fails every fetch; it shares nothing.
     */
    private void addRegion(long regionId, URI uri, StorageBackend backend, String backendName, StorageSpeeds.Speed storageSpeed,
                           int chunk, Message.Map map, Message.Prefetching prefetching, String changed, ObjectMemory takenOverMemory)
            throws IOException {
        ServedObject object = null;
        try {
            String version = changed == null ? backend.version().toString() : map.expectedVersion();
            // A writable region's layer is its own: no other region may read its writes.
            PageCache.Key key = changed == null && !map.writing().writable() ? new PageCache.Key(map.uri(), Map.copyOf(map.options()), version, chunk) : null;
            object = server.cache().acquire(key, takenOverMemory, () -> {
                ObjectMemory memory = null;
                try {
                    memory = takenOverMemory != null ? takenOverMemory : ObjectMemory.create(RegionServer.mappedLength(backend.size()));
                    ServedObject created = new ServedObject(server.cache(), key, backend, backendName, memory, chunk, map.fetchWorkers(),
                            storageSpeed, Duration.ofMillis(map.fetchDeadlineMillis()), changed, map.writing().writable());
                    if (takenOverMemory != null) {
                        created.adoptResidentChunks();
                    }
                    return created;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                } catch (RuntimeException | Error e) {
                    if (memory != null && memory != takenOverMemory) {
                        memory.close(); // the taken-over memory's owner closes it
                    }
                    throw e;
                }
            });
            RegionServer region;
            try {
                if (object.backend() != backend) {
                    object.offerBackend(backend); // the cache's object, which reads through a backend of its own or now this one
                }
                region = new RegionServer(regionId, object, storageSpeed, prefetching, server.cache().limit(), map.isGuest(),
                        regionLimit.budget(peerPid));
            } catch (IOException | RuntimeException | Error e) {
                object.release(); // held for good otherwise: its memory would never leave the cache
                throw e;
            }
            regions.put(regionId, region);
            // A server that takes the region over maps it as the version it reads, and with nothing assumed.
            requests.put(regionId, map.toTakeOver(changed == null ? backend.version().toString() : map.expectedVersion()));
            LOG.log(System.Logger.Level.DEBUG, "client " + peerPid + " mapped " + Redaction.uri(uri) + " as region " + regionId);
        } catch (UncheckedIOException e) {
            backend.close();
            throw e.getCause();
        } catch (RuntimeException | Error e) {
            if (object == null) {
                backend.close();
            }
            throw e;
        }
    }

    /**
     * Whether the object moved on from the version a writable region read by a commit of the region's
     * own, made by the server before this one, which died before it could say so: the region then
     * reads the new version, which differs from the old only by its writes.
     */
    private static boolean committedBeforeTakeOver(Message.Map map, StorageBackend backend) {
        String pending = map.writing().pendingCommit();
        return map.writing().writable() && !pending.isEmpty() && backend.lastCommit().filter(pending::equals).isPresent();
    }

    /** Opens and closes the object: what it is now. */
    private static Opened open(BackendLoaders.Backends backends, URI uri, Map<String, String> options) {
        try (StorageBackend backend = backends.open(uri, options)) {
            return new Opened(backend.size(), backend.version());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Waits for the open of a region mapped as assumed, and refuses its attach if the object is not
     * what was assumed: the region is closed, with whatever it read, and the client maps again.
     */
    private void confirmAssumption(long regionId, RegionServer region, Connection.Incoming incoming) throws IOException {
        Assumption assumption = assumptions.remove(regionId);
        if (assumption == null) {
            return;
        }
        Opened opened;
        try {
            opened = assumption.opened().join();
        } catch (CompletionException e) {
            region.close();
            closeDescriptor(incoming);
            switch (e.getCause()) {
                case UncheckedIOException io -> throw io.getCause();
                case RuntimeException runtime -> throw runtime;
                default -> throw e;
            }
        }
        if (opened.size() != assumption.size() || !opened.version().equals(assumption.version())) {
            region.close();
            closeDescriptor(incoming);
            throw new ObjectChangedException(assumption.uri(), assumption.version(), "it is now at " + opened.version() + ", "
                    + opened.size() + " bytes");
        }
    }

    private RegionServer region(long regionId, Connection.Incoming withDescriptor) {
        RegionServer region = regions.get(regionId);
        if (region == null) {
            closeDescriptor(withDescriptor);
            throw new IllegalArgumentException("no region " + regionId + " for this client");
        }
        return region;
    }

    private static void closeDescriptor(Connection.Incoming incoming) {
        if (incoming != null) {
            incoming.closeDescriptors();
        }
    }

    /**
     * The answer to a request that failed with {@code thrown}. An Error is answered too, with its class
     * named (a backend plugin missing a class, an allocation refused): unanswered, the client would
     * wait for ever, and the server goes on serving the rest.
     */
    static Message.Failure failure(long requestId, Throwable thrown) {
        return failure("request " + requestId, requestId, thrown);
    }

    /** @param what what failed, for the log */
    private static Message.Failure failure(String what, long requestId, Throwable thrown) {
        if (thrown instanceof Exception e) {
            return new Message.Failure(requestId, kind(e), e.getMessage() != null ? e.getMessage() : e.toString());
        }
        LOG.log(System.Logger.Level.ERROR, what + " failed", thrown);
        return new Message.Failure(requestId, Message.ErrorKind.INTERNAL, "the page server failed with " + thrown
                + " (its log has the stack)");
    }

    static Message.ErrorKind kind(Exception e) {
        return switch (e) {
            case NoSuchFileException ignored -> Message.ErrorKind.NO_SUCH_OBJECT;
            case AccessDeniedException ignored -> Message.ErrorKind.ACCESS_DENIED;
            case UnknownSchemeException ignored -> Message.ErrorKind.UNKNOWN_SCHEME;
            case ObjectChangedException ignored -> Message.ErrorKind.OBJECT_CHANGED;
            case IllegalArgumentException ignored -> Message.ErrorKind.INVALID_ARGUMENT;
            case UnsupportedOperationException ignored -> Message.ErrorKind.INVALID_ARGUMENT;
            case URISyntaxException ignored -> Message.ErrorKind.INVALID_ARGUMENT;
            case ProtocolException ignored -> Message.ErrorKind.PROTOCOL;
            case IOException ignored -> Message.ErrorKind.IO;
            default -> Message.ErrorKind.INTERNAL;
        };
    }
}
