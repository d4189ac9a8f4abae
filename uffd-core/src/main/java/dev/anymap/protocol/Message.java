package dev.anymap.protocol;

/**
 * The messages between an application (the client) and its page server, one per packet. Every
 * request carries an id that its reply repeats, and replies come in the order they are ready, not
 * the order of the requests.
 */
public sealed interface Message {
    /**
     * The id that a request carries and its reply repeats; 0 for the handshake and for the messages
     * between a page server and its keeper, which are not requests of a client.
     */
    static long requestId(Message message) {
        return switch (message) {
            case Map m -> m.requestId();
            case Mapped m -> m.requestId();
            case Attach m -> m.requestId();
            case Attached m -> m.requestId();
            case Unmap m -> m.requestId();
            case Unmapped m -> m.requestId();
            case StatsRequest m -> m.requestId();
            case Stats m -> m.requestId();
            case StatusRequest m -> m.requestId();
            case Status m -> m.requestId();
            case TraceRequest m -> m.requestId();
            case Trace m -> m.requestId();
            case PrefetchOrder m -> m.requestId();
            case PrefetchQueued m -> m.requestId();
            case Resume m -> m.requestId();
            case Resumed m -> m.requestId();
            case Flush m -> m.requestId();
            case Flushed m -> m.requestId();
            case Failure m -> m.requestId();
            default -> 0;
        };
    }

    /** Client to server: the first message on a connection. */
    record Hello(int protocolVersion, long pid) implements Message {}

    /** Server to client: the answer to {@link Hello}. */
    record Welcome(int protocolVersion, long serverPid) implements Message {}

    /**
     * Client to server: open {@code uri} for a new region. {@code expectedVersion} is empty for a new
     * mapping, and the version mapped before for a region a new server takes over (see {@link Keep}):
     * if the object has changed since, the region's faults fail rather than mix two versions. {@code assumed} is the
     * size and version an access trace was recorded on, or {@link Assumed#NONE}. {@code options} are
     * the backend's options as the mapping process {@linkplain dev.anymap.spi.BackendProvider#resolveLocally
     * resolved} them, secrets included, and {@code codePath} where that process finds its backends: the
     * request alone says how to open the object, so that a page server given it again opens the same
     * object the same way. {@code fetchDeadlineMillis} is the longest one fetch of the region's chunks
     * may take, retries included.
     */
    record Map(long requestId, String uri, java.util.Map<String, String> options, int chunkSize, int fetchWorkers,
               Prefetching prefetching, String expectedVersion, Assumed assumed, long fetchDeadlineMillis, CodePath codePath,
               Writing writing, java.util.List<GuestRange> guest)
            implements Message {

        public Map {
            guest = java.util.List.copyOf(guest);
        }

        /** A request for a region the client maps itself. */
        public Map(long requestId, String uri, java.util.Map<String, String> options, int chunkSize, int fetchWorkers,
                   Prefetching prefetching, String expectedVersion, Assumed assumed, long fetchDeadlineMillis, CodePath codePath,
                   Writing writing) {
            this(requestId, uri, options, chunkSize, fetchWorkers, prefetching, expectedVersion, assumed, fetchDeadlineMillis, codePath,
                    writing, java.util.List.of());
        }

        /** A read-only request. */
        public Map(long requestId, String uri, java.util.Map<String, String> options, int chunkSize, int fetchWorkers,
                   Prefetching prefetching, String expectedVersion, Assumed assumed, long fetchDeadlineMillis, CodePath codePath) {
            this(requestId, uri, options, chunkSize, fetchWorkers, prefetching, expectedVersion, assumed, fetchDeadlineMillis, codePath,
                    Writing.NONE);
        }

        /** A request served with the page server's own backends. */
        public Map(long requestId, String uri, java.util.Map<String, String> options, int chunkSize, int fetchWorkers,
                   Prefetching prefetching, String expectedVersion, Assumed assumed, long fetchDeadlineMillis) {
            this(requestId, uri, options, chunkSize, fetchWorkers, prefetching, expectedVersion, assumed, fetchDeadlineMillis,
                    CodePath.SERVER);
        }

        /** This request as a server that takes the region over sends it: the version it reads, nothing assumed. */
        public Map toTakeOver(String version) {
            return new Map(0, uri, options, chunkSize, fetchWorkers, prefetching, version, Assumed.NONE, fetchDeadlineMillis, codePath,
                    writing.withPendingCommit(""), guest);
        }

        /**
         * This request as a server that takes the region over sends it while a commit of the region's
         * writes, named {@code token}, may have reached storage: if the object is found at another
         * version than this request's, and that version's {@linkplain dev.anymap.spi.StorageBackend#lastCommit
         * last commit} is {@code token}, the commit happened, and the region reads the new version.
         */
        public Map withPendingCommit(String token) {
            return new Map(0, uri, options, chunkSize, fetchWorkers, prefetching, expectedVersion, Assumed.NONE, fetchDeadlineMillis,
                    codePath, writing.withPendingCommit(token), guest);
        }

        /** Option values are left out: some are secrets. */
        @Override
        public String toString() {
            String printable;
            try {
                printable = dev.anymap.spi.Redaction.uri(new java.net.URI(uri));
            } catch (java.net.URISyntaxException e) {
                printable = "(a URI that does not parse)";
            }
            return "Map[requestId=" + requestId + ", uri=" + printable
                    + ", options=" + options.keySet() + ", chunkSize=" + chunkSize + ", fetchWorkers=" + fetchWorkers
                    + ", prefetching=" + prefetching + ", expectedVersion=" + expectedVersion + ", assumed=" + assumed
                    + ", fetchDeadlineMillis=" + fetchDeadlineMillis + ", codePath=" + codePath
                    + (guest.isEmpty() ? "" : ", guest=" + guest) + "]";
        }

        /** This request, serving {@code ranges} of another process's memory. */
        public Map withGuest(java.util.List<GuestRange> ranges) {
            return new Map(requestId, uri, options, chunkSize, fetchWorkers, prefetching, expectedVersion, assumed, fetchDeadlineMillis,
                    codePath, writing, ranges);
        }

        /** Whether the region is another process's memory, which the server fills by copying, not a mapping of the cache. */
        public boolean isGuest() {
            return !guest.isEmpty();
        }
    }

    /**
     * Part of another process's memory that a {@link Map} serves, registered with the userfaultfd
     * that the {@link Attach} brings: {@code size} bytes at {@code address} in that process hold the
     * object's bytes from {@code offset}, in pages of {@code pageSize} bytes.
     */
    record GuestRange(long address, long size, long offset, long pageSize) {}

    /**
     * The class path and module path entries of a mapping process, each with its size and
     * modification time when mapped, so that a jar rebuilt since is told apart. Both empty
     * ({@link #SERVER}): the page server's own backends.
     */
    record CodePath(java.util.List<PathEntry> classPath, java.util.List<PathEntry> modulePath) {
        public static final CodePath SERVER = new CodePath(java.util.List.of(), java.util.List.of());

        public CodePath {
            classPath = java.util.List.copyOf(classPath);
            modulePath = java.util.List.copyOf(modulePath);
        }
    }

    /** A jar or directory of a class path or module path, absolute; {@code modifiedMillis} since the epoch. */
    record PathEntry(String path, long size, long modifiedMillis) {}

    /**
     * How a {@link Map} writes: whether the region is {@code writable}; whether the object was
     * {@code created} as zeros by the client at the request's expected version, so that what the
     * region has not written reads as zeros with no fetch; and the token of a commit of the region's
     * writes that may have reached storage ({@link Map#withPendingCommit}), or empty.
     */
    record Writing(boolean writable, boolean created, String pendingCommit) {
        public static final Writing NONE = new Writing(false, false, "");

        public Writing withPendingCommit(String token) {
            return new Writing(writable, created, token);
        }
    }

    /**
     * The object as a client expects to find it, so that the server may read it before it has opened
     * it: the region is answered at once, reads ahead of {@link Attach} are kept until it, and the
     * {@link Attach} fails with {@link ErrorKind#OBJECT_CHANGED} if the open finds otherwise.
     */
    record Assumed(long size, String version) {
        public static final Assumed NONE = new Assumed(-1, "");
    }

    /** How a region is prefetched; {@code dev.anymap.MapOptions} says what each part means. */
    record Prefetching(int readaheadChunks, boolean backgroundPull, boolean autoPull, long memoryLimit, long rateLimit) {}

    /**
     * Server to client: the region is open on the server; the object's size and version. With
     * {@code kernelMapped}, the backend had a local file of the object, and its descriptor, opened
     * read-only, comes with this message: the client maps it, and no {@link Attach} follows, since
     * the kernel serves the region's faults.
     */
    record Mapped(long requestId, long regionId, long size, String version, boolean kernelMapped) implements Message {
        /** A region whose faults the server serves. */
        public Mapped(long requestId, long regionId, long size, String version) {
            this(requestId, regionId, size, version, false);
        }
    }

    /**
     * Client to server, with the region's userfaultfd attached: serve the faults of
     * {@code [address, address + length)}.
     */
    record Attach(long requestId, long regionId, long address, long length) implements Message {}

    /**
     * Client to server: write the {@code ranges} of a writable region (offset and length pairs,
     * sorted, disjoint) to storage as one new version of its object.
     */
    record Flush(long requestId, long regionId, long[] ranges) implements Message {
        @Override
        public boolean equals(Object other) {
            return other instanceof Flush f && f.requestId == requestId && f.regionId == regionId && java.util.Arrays.equals(f.ranges, ranges);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(requestId, regionId, java.util.Arrays.hashCode(ranges));
        }

        @Override
        public String toString() {
            return "Flush[requestId=" + requestId + ", regionId=" + regionId + ", ranges=" + ranges.length / 2 + "]";
        }
    }

    /** Server to client: the flush is durable in storage, as the object's {@code version}. */
    record Flushed(long requestId, String version) implements Message {}

    /** Server to client: the server now serves the region's faults. */
    record Attached(long requestId) implements Message {}

    /** Client to server: the region is unmapped; free it. */
    record Unmap(long requestId, long regionId) implements Message {}

    /** Server to client: the region is freed. */
    record Unmapped(long requestId) implements Message {}

    /** Client to server: the counters of a region. */
    record StatsRequest(long requestId, long regionId) implements Message {}

    /** Server to client: the counters of a region. */
    record Stats(long requestId, long faults, long chunksFetched, long bytesFetched, long fetchNanosTotal,
                 long fetchNanosMax, long fetchNanosP50, long fetchNanosP90, long fetchNanosP99, long failures,
                 String lastFailure, long cacheHits, long cachedBytes, long evictions) implements Message {
        public Stats withLastFailure(String failure) {
            return new Stats(requestId, faults, chunksFetched, bytesFetched, fetchNanosTotal, fetchNanosMax, fetchNanosP50, fetchNanosP90,
                    fetchNanosP99, failures, failure, cacheHits, cachedBytes, evictions);
        }
    }

    /** Client to server: what the server holds, for every client. */
    record StatusRequest(long requestId) implements Message {}

    /** Server to client: what the server holds; at most {@code MessageCodec.MAX_REGIONS} regions are listed. */
    record Status(long requestId, long serverPid, int clients, long regionCount, java.util.List<RegionStatus> regions,
                  Cache cache, java.util.List<PeerUsage> peers) implements Message {
        /** A status with no processes' usage listed. */
        public Status(long requestId, long serverPid, int clients, long regionCount, java.util.List<RegionStatus> regions, Cache cache) {
            this(requestId, serverPid, clients, regionCount, regions, cache, java.util.List.of());
        }
    }

    /**
     * What one client process holds of a page server's limits per process, in a {@link Status}: its
     * storage reads outstanding, the bytes fetched ahead of its faults, the cache's chunks fetched for
     * it; each now, and the most since it connected.
     */
    record PeerUsage(long pid, int fetchesInFlight, int mostFetchesInFlight, long prefetchBytes, long mostPrefetchBytes,
                     long cachedBytes, long mostCachedBytes) {}

    /** The page server's shared page cache in a {@link Status}: its budget, what it holds, and the chunks it dropped to keep it. */
    record Cache(long limitBytes, long residentBytes, long evictions) {}

    /** One region in a {@link Status}; {@code kernelMapped} if the kernel maps it from a local file (see {@link Mapped}). */
    record RegionStatus(long clientPid, long regionId, String uri, String version, long size, int chunkSize,
                        long residentBytes, Stats stats, boolean kernelMapped, boolean writable, boolean guest) {
        public RegionStatus(long clientPid, long regionId, String uri, String version, long size, int chunkSize,
                            long residentBytes, Stats stats, boolean kernelMapped, boolean writable) {
            this(clientPid, regionId, uri, version, size, chunkSize, residentBytes, stats, kernelMapped, writable, false);
        }

        /** A region whose faults the server serves, read-only. */
        public RegionStatus(long clientPid, long regionId, String uri, String version, long size, int chunkSize,
                            long residentBytes, Stats stats) {
            this(clientPid, regionId, uri, version, size, chunkSize, residentBytes, stats, false, false);
        }

        public RegionStatus(long clientPid, long regionId, String uri, String version, long size, int chunkSize,
                            long residentBytes, Stats stats, boolean kernelMapped) {
            this(clientPid, regionId, uri, version, size, chunkSize, residentBytes, stats, kernelMapped, false);
        }
    }

    /**
     * Client to server: the chunks of a region (of any client of this server) in the order of their
     * first access, from {@code from} on; with {@code resident}, the chunks now resident instead.
     */
    record TraceRequest(long requestId, long regionId, int from, boolean resident) implements Message {}

    /** Server to client: up to {@code MessageCodec.MAX_TRACE_CHUNKS} chunks of a trace; {@code total} in all so far. */
    record Trace(long requestId, int total, int[] chunks) implements Message {
        @Override
        public boolean equals(Object other) {
            return other instanceof Trace t && t.requestId == requestId && t.total == total && java.util.Arrays.equals(t.chunks, chunks);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(requestId, total, java.util.Arrays.hashCode(chunks));
        }

        @Override
        public String toString() {
            return "Trace[requestId=" + requestId + ", total=" + total + ", chunks=" + chunks.length + "]";
        }
    }

    /** Client to server: prefetch these chunks of a region, in this order, behind its faults. */
    record PrefetchOrder(long requestId, long regionId, int[] chunks) implements Message {
        @Override
        public boolean equals(Object other) {
            return other instanceof PrefetchOrder p && p.requestId == requestId && p.regionId == regionId
                    && java.util.Arrays.equals(p.chunks, chunks);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(requestId, regionId, java.util.Arrays.hashCode(chunks));
        }

        @Override
        public String toString() {
            return "PrefetchOrder[requestId=" + requestId + ", regionId=" + regionId + ", chunks=" + chunks.length + "]";
        }
    }

    /** Server to client: a {@link PrefetchOrder} is queued. */
    record PrefetchQueued(long requestId) implements Message {}

    /**
     * Client to server, after {@link Welcome} on a connection to a page server that took over from a
     * dead one: these regions of this process are the client's again. The server answers with
     * {@link Resumed}, naming the ones it does not hold.
     */
    record Resume(long requestId, long[] regionIds) implements Message {
        @Override
        public boolean equals(Object other) {
            return other instanceof Resume r && r.requestId == requestId && java.util.Arrays.equals(r.regionIds, regionIds);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(requestId, java.util.Arrays.hashCode(regionIds));
        }

        @Override
        public String toString() {
            return "Resume[requestId=" + requestId + ", regions=" + java.util.Arrays.toString(regionIds) + "]";
        }
    }

    /** Server to client: the answer to {@link Resume}; {@code lost} are the regions this server does not hold. */
    record Resumed(long requestId, long[] lost) implements Message {
        @Override
        public boolean equals(Object other) {
            return other instanceof Resumed r && r.requestId == requestId && java.util.Arrays.equals(r.lost, lost);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(requestId, java.util.Arrays.hashCode(lost));
        }

        @Override
        public String toString() {
            return "Resumed[requestId=" + requestId + ", lost=" + java.util.Arrays.toString(lost) + "]";
        }
    }

    /**
     * Page server to its keeper, with the region's userfaultfd attached; and keeper to a page server
     * that takes over, once for each region it holds. {@code map} opens the region again as it was
     * (its {@code expectedVersion} is the version the region reads); {@code clientStart} is when the
     * client process started, in milliseconds since the epoch, so that a reused pid is not taken for it.
     */
    record Keep(long regionId, long clientPid, long clientStart, long address, long length, Map map, GuestRemovals removals)
            implements Message {
        public Keep(long regionId, long clientPid, long clientStart, long address, long length, Map map) {
            this(regionId, clientPid, clientStart, address, length, map, GuestRemovals.NONE);
        }

        public Keep withRemovals(GuestRemovals now) {
            return new Keep(regionId, clientPid, clientStart, address, length, map, now);
        }
    }

    /**
     * The ranges of a guest's memory given back so far ({@code start} and {@code end} address pairs,
     * sorted, disjoint), which read as zeros, so that a server that takes the guest over serves them
     * so too; {@code lost} if there were more than a message holds, and a server taking over cannot
     * tell them from pages never touched.
     */
    record GuestRemovals(long[] ranges, boolean lost) {
        public static final GuestRemovals NONE = new GuestRemovals(new long[0], false);
        /** The most ranges kept: 32 KiB of a message. */
        public static final int MAX_RANGES = 2048;

        @Override
        public boolean equals(Object other) {
            return other instanceof GuestRemovals r && r.lost == lost && java.util.Arrays.equals(r.ranges, ranges);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(ranges) * 31 + Boolean.hashCode(lost);
        }

        @Override
        public String toString() {
            return "GuestRemovals[" + ranges.length / 2 + " ranges" + (lost ? ", lost" : "") + "]";
        }
    }

    /** Page server to its keeper: the region is gone; close its userfaultfd. */
    record Forget(long regionId) implements Message {}

    /** Keeper to a page server that takes over: every region has been sent. */
    record KeptAll(int regions) implements Message {}

    /** Server to client: a request failed. */
    record Failure(long requestId, ErrorKind kind, String message) implements Message {}

    /** What kind of failure a {@link Failure} reports, so the client can throw the matching exception. */
    enum ErrorKind {
        NO_SUCH_OBJECT, ACCESS_DENIED, INVALID_ARGUMENT, UNKNOWN_SCHEME, OBJECT_CHANGED, IO, PROTOCOL, INTERNAL
    }

    /**
     * The version of this protocol; a client and server of different versions refuse each other. 8:
     * a server answers each request when it is done, maps and flushes after requests sent after them,
     * and a client matches answers to requests by id.
     */
    int PROTOCOL_VERSION = 8;
}
