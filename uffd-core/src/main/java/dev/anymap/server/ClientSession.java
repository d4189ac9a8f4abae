package dev.anymap.server;

import dev.anymap.linux.Libc;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.ProtocolException;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
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
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One client's connection: answers its requests in order, and frees all of its regions when it
 * goes, whether it closed them or died.
 */
final class ClientSession implements Runnable {
    private static final System.Logger LOG = System.getLogger(ClientSession.class.getName());
    private static final AtomicLong NEXT_REGION = new AtomicLong(1);
    private static final int MAX_FETCH_WORKERS = 64;
    private static final int MAX_READAHEAD = 1024;
    /** Where the opens that check an assumed object run, beside the session that answered the map. */
    private static final Executor OPENS = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("anymap-open-", 0).factory());

    private final Connection connection;
    private final long peerPid;
    private final BackendRegistry registry;
    private final StorageSpeeds storageSpeeds;
    private final java.util.function.Consumer<ClientSession> onEnd;
    private final java.util.function.LongFunction<Message> status;
    private final java.util.function.LongFunction<RegionServer> anyRegion;
    private final Map<Long, RegionServer> regions = new ConcurrentHashMap<>();
    /** Regions mapped as an object was assumed to be, and the open that checks it, until their attach. */
    private final Map<Long, Assumption> assumptions = new ConcurrentHashMap<>();

    /** What a region was mapped as, and the object as its open finds it. */
    private record Assumption(URI uri, long size, ObjectVersion version, CompletableFuture<Opened> opened) {}

    /** The size and version of an object as an open found them. */
    private record Opened(long size, ObjectVersion version) {}

    ClientSession(Connection connection, long peerPid, BackendRegistry registry, StorageSpeeds storageSpeeds,
                  java.util.function.Consumer<ClientSession> onEnd, java.util.function.LongFunction<Message> status,
                  java.util.function.LongFunction<RegionServer> anyRegion) {
        this.connection = connection;
        this.peerPid = peerPid;
        this.registry = registry;
        this.storageSpeeds = storageSpeeds;
        this.onEnd = onEnd;
        this.status = status;
        this.anyRegion = anyRegion;
    }

    /** This client's region of that id, or null. */
    RegionServer region(long regionId) {
        return regions.get(regionId);
    }

    /** Ends the connection: the session frees its regions and ends, and the client moves them to a new server. */
    void shutdown() {
        connection.shutdown();
    }

    /** This client's regions, for a server status. */
    java.util.List<Message.RegionStatus> regionStatuses() {
        return regions.values().stream().map(region -> region.status(peerPid)).toList();
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
                connection.send(answer(incoming));
            }
        } catch (ProtocolException e) {
            LOG.log(System.Logger.Level.WARNING, "client " + peerPid + " sent an invalid message (" + e.getMessage() + "); dropping it");
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "client " + peerPid + " connection ended: " + e);
        } finally {
            regions.values().forEach(RegionServer::close);
            regions.clear();
            assumptions.clear();
            connection.close();
            onEnd.accept(this);
        }
    }

    private Message answer(Connection.Incoming incoming) {
        Message message = incoming.message();
        long requestId = requestId(message);
        try {
            if (incoming.fd() >= 0 && !(message instanceof Message.Attach)) {
                closeDescriptor(incoming);
                throw new ProtocolException("a descriptor came with a " + message.getClass().getSimpleName() + " message");
            }
            return switch (message) {
                case Message.Map map -> map(map);
                case Message.Attach attach -> {
                    if (incoming.fd() < 0) {
                        throw new ProtocolException("an Attach message came without its userfaultfd");
                    }
                    RegionServer region = region(attach.regionId(), incoming);
                    confirmAssumption(attach.regionId(), region, incoming);
                    region.attach(incoming.fd(), attach.address(), attach.length());
                    yield new Message.Attached(requestId);
                }
                case Message.Unmap unmap -> {
                    RegionServer region = regions.remove(unmap.regionId());
                    if (region == null) {
                        throw new IllegalArgumentException("no region " + unmap.regionId() + " for this client");
                    }
                    assumptions.remove(unmap.regionId());
                    region.close();
                    yield new Message.Unmapped(requestId);
                }
                case Message.StatsRequest stats -> region(stats.regionId(), null).stats(requestId);
                case Message.StatusRequest request -> status.apply(request.requestId());
                case Message.TraceRequest trace -> {
                    // Any client's region: tools look at what an application's page server holds.
                    RegionServer region = anyRegion.apply(trace.regionId());
                    if (region == null) {
                        throw new IllegalArgumentException("this page server has no region " + trace.regionId());
                    }
                    yield region.trace(requestId, trace.from(), trace.resident());
                }
                case Message.PrefetchOrder order -> {
                    region(order.regionId(), null).prefetchInOrder(order.chunks());
                    yield new Message.PrefetchQueued(requestId);
                }
                default -> throw new ProtocolException("unexpected " + message.getClass().getSimpleName() + " message");
            };
        } catch (Exception e) {
            return new Message.Failure(requestId, kind(e), String.valueOf(e.getMessage()));
        }
    }

    private Message map(Message.Map map) throws IOException, URISyntaxException {
        int chunk = map.chunkSize();
        if (chunk < RegionServer.MIN_CHUNK || chunk > RegionServer.MAX_CHUNK || Integer.bitCount(chunk) != 1) {
            throw new IllegalArgumentException("chunk size " + chunk + " is not a power of two from "
                    + RegionServer.MIN_CHUNK + " to " + RegionServer.MAX_CHUNK);
        }
        if (map.fetchWorkers() < 1 || map.fetchWorkers() > MAX_FETCH_WORKERS) {
            throw new IllegalArgumentException("fetch workers " + map.fetchWorkers() + " outside 1.." + MAX_FETCH_WORKERS);
        }
        Message.Prefetching prefetching = map.prefetching();
        if (prefetching.readaheadChunks() < 0 || prefetching.readaheadChunks() > MAX_READAHEAD) {
            throw new IllegalArgumentException("readahead " + prefetching.readaheadChunks() + " outside 0.." + MAX_READAHEAD);
        }
        if (prefetching.memoryLimit() < 0 || prefetching.rateLimit() <= 0) {
            throw new IllegalArgumentException("prefetch limits of " + prefetching.memoryLimit() + " bytes and "
                    + prefetching.rateLimit() + " bytes per second are not a size and a positive rate");
        }
        URI uri = new URI(map.uri());
        BackendProvider provider = registry.provider(uri);
        String backendName = provider.name();
        StorageSpeeds.Speed storageSpeed = storageSpeeds.of(uri, provider.redact(map.options()));
        if (!map.assumed().equals(Message.Assumed.NONE) && map.expectedVersion().isEmpty()) {
            ObjectVersion version = ObjectVersion.parse(map.assumed().version());
            Optional<StorageBackend> assumed = registry.openAt(uri, map.options(), map.assumed().size(), version);
            if (assumed.isPresent()) {
                // Answered now, its reads started by the trace that follows, and checked by an open that runs meanwhile.
                long regionId = addRegion(uri, assumed.get(), backendName, storageSpeed, chunk, map, prefetching, null);
                assumptions.put(regionId, new Assumption(uri, map.assumed().size(), version,
                        CompletableFuture.supplyAsync(() -> open(uri, map.options()), OPENS)));
                return new Message.Mapped(map.requestId(), regionId, map.assumed().size(), version.toString());
            }
        }
        StorageBackend backend = registry.open(uri, map.options());
        String changed = null;
        if (!map.expectedVersion().isEmpty() && !map.expectedVersion().equals(backend.version().toString())) {
            changed = Redaction.uri(uri) + " changed while its page server restarted (mapped at " + map.expectedVersion()
                    + ", now at " + backend.version() + "); map it again to read the new version";
        }
        long regionId = addRegion(uri, backend, backendName, storageSpeed, chunk, map, prefetching, changed);
        return new Message.Mapped(map.requestId(), regionId, backend.size(), backend.version().toString());
    }

    private long addRegion(URI uri, StorageBackend backend, String backendName, StorageSpeeds.Speed storageSpeed, int chunk,
                           Message.Map map, Message.Prefetching prefetching, String changed) throws IOException {
        try {
            long regionId = NEXT_REGION.getAndIncrement();
            regions.put(regionId, new RegionServer(regionId, backend, backendName, storageSpeed, chunk, map.fetchWorkers(),
                    prefetching, changed));
            LOG.log(System.Logger.Level.DEBUG, "client " + peerPid + " mapped " + Redaction.uri(uri) + " as region " + regionId);
            return regionId;
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }

    /** Opens and closes the object: what it is now. */
    private Opened open(URI uri, Map<String, String> options) {
        try (StorageBackend backend = registry.open(uri, options)) {
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
        if (incoming != null && incoming.fd() >= 0) {
            Libc.close(incoming.fd());
        }
    }

    private static long requestId(Message message) {
        return switch (message) {
            case Message.Map m -> m.requestId();
            case Message.Attach m -> m.requestId();
            case Message.Unmap m -> m.requestId();
            case Message.StatsRequest m -> m.requestId();
            case Message.StatusRequest m -> m.requestId();
            case Message.TraceRequest m -> m.requestId();
            case Message.PrefetchOrder m -> m.requestId();
            default -> 0;
        };
    }

    private static Message.ErrorKind kind(Exception e) {
        return switch (e) {
            case NoSuchFileException ignored -> Message.ErrorKind.NO_SUCH_OBJECT;
            case AccessDeniedException ignored -> Message.ErrorKind.ACCESS_DENIED;
            case UnknownSchemeException ignored -> Message.ErrorKind.UNKNOWN_SCHEME;
            case ObjectChangedException ignored -> Message.ErrorKind.OBJECT_CHANGED;
            case IllegalArgumentException ignored -> Message.ErrorKind.INVALID_ARGUMENT;
            case URISyntaxException ignored -> Message.ErrorKind.INVALID_ARGUMENT;
            case ProtocolException ignored -> Message.ErrorKind.PROTOCOL;
            case IOException ignored -> Message.ErrorKind.IO;
            default -> Message.ErrorKind.INTERNAL;
        };
    }
}
