package dev.anymap.protocol;

/**
 * The messages between an application (the client) and its page server, one per packet. Every
 * request carries an id that its reply repeats.
 */
public sealed interface Message {
    /** Client to server: the first message on a connection. */
    record Hello(int protocolVersion, long pid) implements Message {}

    /** Server to client: the answer to {@link Hello}. */
    record Welcome(int protocolVersion, long serverPid) implements Message {}

    /**
     * Client to server: open {@code uri} for a new region. {@code expectedVersion} is empty for a new
     * mapping, and the version mapped before for a region moved to a new server: if the object has
     * changed since, the region's faults fail rather than mix two versions. {@code assumed} is the
     * size and version an access trace was recorded on, or {@link Assumed#NONE}. {@code fetchDeadlineMillis}
     * is the longest one fetch of the region's chunks may take, retries included.
     */
    record Map(long requestId, String uri, java.util.Map<String, String> options, int chunkSize, int fetchWorkers,
               Prefetching prefetching, String expectedVersion, Assumed assumed, long fetchDeadlineMillis) implements Message {}

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

    /** Server to client: the region is open on the server; the object's size and version. */
    record Mapped(long requestId, long regionId, long size, String version) implements Message {}

    /**
     * Client to server, with the region's userfaultfd attached: serve the faults of
     * {@code [address, address + length)}. A client sends it again, with the same descriptor, to a
     * server it started after the previous one died.
     */
    record Attach(long requestId, long regionId, long address, long length) implements Message {}

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
                 String lastFailure) implements Message {}

    /** Client to server: what the server holds, for every client. */
    record StatusRequest(long requestId) implements Message {}

    /** Server to client: what the server holds; at most {@code MessageCodec.MAX_REGIONS} regions are listed. */
    record Status(long requestId, long serverPid, int clients, long regionCount, java.util.List<RegionStatus> regions)
            implements Message {}

    /** One region in a {@link Status}. */
    record RegionStatus(long clientPid, long regionId, String uri, String version, long size, int chunkSize,
                        long residentBytes, Stats stats) {}

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

    /** Server to client: a request failed. */
    record Failure(long requestId, ErrorKind kind, String message) implements Message {}

    /** What kind of failure a {@link Failure} reports, so the client can throw the matching exception. */
    enum ErrorKind {
        NO_SUCH_OBJECT, ACCESS_DENIED, INVALID_ARGUMENT, UNKNOWN_SCHEME, OBJECT_CHANGED, IO, PROTOCOL, INTERNAL
    }

    /** The version of this protocol; a client and server of different versions refuse each other. */
    int PROTOCOL_VERSION = 4;
}
