package dev.anymap.protocol;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;

/**
 * Encodes messages into packets and decodes packets into messages, checking every size, count and
 * length against the packet and against fixed limits before use: a packet comes from another
 * process and is not trusted.
 */
public final class MessageCodec {
    /** The largest packet either side sends or accepts. */
    public static final int MAX_PACKET = 64 * 1024;
    /**
     * What a {@link Message.Keep} adds to the map it carries: its own fields, and room for the map to
     * grow by a commit's token and version. A map longer than a packet less this would be answered but
     * never kept, and so lost with its server.
     */
    private static final int KEEP_HEADROOM = 1024;
    /** The largest map request: one that its {@link Message.Keep} always holds. */
    static final int MAX_MAP = MAX_PACKET - KEEP_HEADROOM;
    static final int MAX_URI = 8 * 1024;
    static final int MAX_OPTIONS = 64;
    /** The most memory ranges one guest hands over: Firecracker sends one or two, a VM with hot-plugged memory some more. */
    public static final int MAX_GUEST_RANGES = 64;
    static final int MAX_OPTION_KEY = 256;
    static final int MAX_OPTION_VALUE = 8 * 1024;
    static final int MAX_TEXT = 16 * 1024;
    /** The most entries of a class path, and of a module path, in a map request. */
    static final int MAX_PATH_ENTRIES = 1024;
    /** The longest path of one entry, in characters. */
    static final int MAX_PATH = 4096;
    /**
     * The most characters of one path list, decoded. Each entry is sent as the length of the prefix
     * it shares with the one before and the rest, so that a Maven class path of hundreds of jars in
     * one repository fits a packet; this bounds what a small packet may expand to.
     */
    static final int MAX_PATH_CHARACTERS = 512 * 1024;
    /** The most regions a status lists: with URIs, versions and failures at their limit, 64 fit a packet. */
    public static final int MAX_REGIONS = 64;
    /** The most client processes a status lists the usage of. */
    public static final int MAX_PEERS = 64;
    /** The most chunk numbers in one packet of a trace or a prefetch order. */
    public static final int MAX_TRACE_CHUNKS = 15_000;
    /** The most region ids in one {@link Message.Resume} or {@link Message.Resumed}. */
    public static final int MAX_REGION_IDS = 7_000;
    /** URIs and failures in a status are cut to this many bytes, so that a full list fits a packet. */
    public static final int MAX_STATUS_URI = 256;
    private static final int MAX_SHARED_CODE_PATHS = 8;
    private static final java.util.Map<Message.CodePath, Message.CodePath> CODE_PATHS = new java.util.concurrent.ConcurrentHashMap<>();
    private static final int MAGIC = 0x414E594D; // "ANYM"
    private static final int MAP_FLAG_PULL = 1;
    private static final int MAP_FLAG_AUTO_PULL = 2;
    private static final int MAP_FLAG_WRITABLE = 4;
    private static final int MAP_FLAG_CREATED = 8;
    private static final int REGION_FLAG_KERNEL_MAPPED = 1;
    private static final int REGION_FLAG_WRITABLE = 2;
    private static final int REGION_FLAG_GUEST = 4;

    private MessageCodec() {}

    private enum Type {
        HELLO, WELCOME, MAP, MAPPED, ATTACH, ATTACHED, UNMAP, UNMAPPED, STATS_REQUEST, STATS, FAILURE, STATUS_REQUEST, STATUS,
        TRACE_REQUEST, TRACE, PREFETCH_ORDER, PREFETCH_QUEUED, RESUME, RESUMED, KEEP, FORGET, KEPT_ALL,
        FLUSH, FLUSHED
    }

    /**
     * The packet of {@code message}.
     *
     * @throws IllegalArgumentException if a text, a count or the whole is beyond the limits
     */
    public static byte[] encode(Message message) {
        return encode(message, message instanceof Message.Map ? MAX_MAP : MAX_PACKET);
    }

    private static byte[] encode(Message message, int limit) {
        ByteBuffer out = ByteBuffer.allocate(limit).order(ByteOrder.LITTLE_ENDIAN);
        try {
            encode(message, out);
        } catch (java.nio.BufferOverflowException tooLong) {
            throw new IllegalArgumentException("a " + message.getClass().getSimpleName() + " message is longer than the "
                    + limit + " bytes it may have" + (message instanceof Message.Map m ? " (its options, or the "
                    + m.codePath().classPath().size() + " class path and " + m.codePath().modulePath().size()
                    + " module path entries of this process)" : ""));
        }
        byte[] packet = new byte[out.position()];
        out.flip().get(packet);
        return packet;
    }

    private static void encode(Message message, ByteBuffer out) {
        out.putInt(MAGIC);
        switch (message) {
            case Message.Hello m -> type(out, Type.HELLO).putInt(m.protocolVersion()).putLong(m.pid());
            case Message.Welcome m -> type(out, Type.WELCOME).putInt(m.protocolVersion()).putLong(m.serverPid());
            case Message.Map m -> {
                Message.Prefetching p = m.prefetching();
                type(out, Type.MAP).putLong(m.requestId()).putInt(m.chunkSize()).putInt(m.fetchWorkers()).putInt(p.readaheadChunks())
                        .putInt((p.backgroundPull() ? MAP_FLAG_PULL : 0) | (p.autoPull() ? MAP_FLAG_AUTO_PULL : 0)
                                | (m.writing().writable() ? MAP_FLAG_WRITABLE : 0) | (m.writing().created() ? MAP_FLAG_CREATED : 0))
                        .putLong(p.memoryLimit()).putLong(p.rateLimit());
                text(out, m.uri(), MAX_URI);
                if (m.options().size() > MAX_OPTIONS) {
                    throw new IllegalArgumentException("more than " + MAX_OPTIONS + " backend options");
                }
                out.putInt(m.options().size());
                m.options().forEach((key, value) -> {
                    text(out, key, MAX_OPTION_KEY);
                    text(out, value, MAX_OPTION_VALUE);
                });
                text(out, m.expectedVersion(), MAX_TEXT);
                out.putLong(m.assumed().size());
                text(out, m.assumed().version(), MAX_TEXT);
                out.putLong(m.fetchDeadlineMillis());
                text(out, m.writing().pendingCommit(), MAX_TEXT);
                paths(out, m.codePath().classPath());
                paths(out, m.codePath().modulePath());
                if (m.guest().size() > MAX_GUEST_RANGES) {
                    throw new IllegalArgumentException("more than " + MAX_GUEST_RANGES + " guest memory ranges");
                }
                out.putInt(m.guest().size());
                m.guest().forEach(range -> out.putLong(range.address()).putLong(range.size()).putLong(range.offset()).putLong(range.pageSize()));
            }
            case Message.Mapped m -> {
                type(out, Type.MAPPED).putLong(m.requestId()).putLong(m.regionId()).putLong(m.size())
                        .putInt(m.kernelMapped() ? REGION_FLAG_KERNEL_MAPPED : 0);
                text(out, m.version(), MAX_TEXT);
            }
            case Message.Attach m -> type(out, Type.ATTACH).putLong(m.requestId()).putLong(m.regionId()).putLong(m.address()).putLong(m.length());
            case Message.Attached m -> type(out, Type.ATTACHED).putLong(m.requestId());
            case Message.Flush m -> ids(type(out, Type.FLUSH).putLong(m.requestId()).putLong(m.regionId()), m.ranges());
            case Message.Flushed m -> text(type(out, Type.FLUSHED).putLong(m.requestId()), m.version(), MAX_TEXT);
            case Message.Unmap m -> type(out, Type.UNMAP).putLong(m.requestId()).putLong(m.regionId());
            case Message.Unmapped m -> type(out, Type.UNMAPPED).putLong(m.requestId());
            case Message.StatsRequest m -> type(out, Type.STATS_REQUEST).putLong(m.requestId()).putLong(m.regionId());
            case Message.Stats m -> stats(type(out, Type.STATS), m, MAX_TEXT);
            case Message.StatusRequest m -> type(out, Type.STATUS_REQUEST).putLong(m.requestId());
            case Message.TraceRequest m -> type(out, Type.TRACE_REQUEST).putLong(m.requestId()).putLong(m.regionId()).putInt(m.from())
                    .putInt(m.resident() ? 1 : 0);
            case Message.Trace m -> chunks(type(out, Type.TRACE).putLong(m.requestId()).putInt(m.total()), m.chunks());
            case Message.PrefetchOrder m -> chunks(type(out, Type.PREFETCH_ORDER).putLong(m.requestId()).putLong(m.regionId()), m.chunks());
            case Message.PrefetchQueued m -> type(out, Type.PREFETCH_QUEUED).putLong(m.requestId());
            case Message.Status m -> {
                if (m.regions().size() > MAX_REGIONS) {
                    throw new IllegalArgumentException("more than " + MAX_REGIONS + " regions in a status");
                }
                type(out, Type.STATUS).putLong(m.requestId()).putLong(m.serverPid()).putInt(m.clients()).putLong(m.regionCount())
                        .putLong(m.cache().limitBytes()).putLong(m.cache().residentBytes()).putLong(m.cache().evictions())
                        .putInt(m.regions().size());
                for (Message.RegionStatus region : m.regions()) {
                    out.putLong(region.clientPid()).putLong(region.regionId()).putLong(region.size()).putInt(region.chunkSize())
                            .putLong(region.residentBytes())
                            .putInt((region.kernelMapped() ? REGION_FLAG_KERNEL_MAPPED : 0) | (region.writable() ? REGION_FLAG_WRITABLE : 0)
                                    | (region.guest() ? REGION_FLAG_GUEST : 0));
                    text(out, region.uri(), MAX_STATUS_URI);
                    text(out, region.version(), MAX_STATUS_URI);
                    stats(out, region.stats(), MAX_STATUS_URI);
                }
                if (m.peers().size() > MAX_PEERS) {
                    throw new IllegalArgumentException("more than " + MAX_PEERS + " processes in a status");
                }
                out.putInt(m.peers().size());
                for (Message.PeerUsage peer : m.peers()) {
                    out.putLong(peer.pid()).putInt(peer.fetchesInFlight()).putInt(peer.mostFetchesInFlight()).putLong(peer.prefetchBytes())
                            .putLong(peer.mostPrefetchBytes()).putLong(peer.cachedBytes()).putLong(peer.mostCachedBytes());
                }
            }
            case Message.Resume m -> ids(type(out, Type.RESUME).putLong(m.requestId()), m.regionIds());
            case Message.Resumed m -> ids(type(out, Type.RESUMED).putLong(m.requestId()), m.lost());
            case Message.Keep m -> {
                type(out, Type.KEEP).putLong(m.regionId()).putLong(m.clientPid()).putLong(m.clientStart()).putLong(m.address())
                        .putLong(m.length());
                byte[] map = encode(m.map(), out.remaining() - 3 * Integer.BYTES);
                out.putInt(map.length).put(map);
                long[] removed = m.removals().ranges();
                if (removed.length % 2 != 0 || removed.length / 2 > Message.GuestRemovals.MAX_RANGES) {
                    throw new IllegalArgumentException(removed.length + " removal bounds: not pairs, or more than "
                            + Message.GuestRemovals.MAX_RANGES + " ranges");
                }
                // Ranges beside a long map are cut, as more than the most kept are: marked lost, their pages fail, none reads wrong.
                int ranges = Math.min(removed.length / 2, (out.remaining() - 2 * Integer.BYTES) / (2 * Long.BYTES));
                out.putInt(m.removals().lost() || ranges < removed.length / 2 ? 1 : 0).putInt(ranges);
                for (int i = 0; i < 2 * ranges; i++) {
                    out.putLong(removed[i]);
                }
            }
            case Message.Forget m -> type(out, Type.FORGET).putLong(m.regionId());
            case Message.KeptAll m -> type(out, Type.KEPT_ALL).putInt(m.regions());
            case Message.Failure m -> {
                type(out, Type.FAILURE).putLong(m.requestId()).putInt(m.kind().ordinal());
                text(out, truncate(m.message(), MAX_TEXT), MAX_TEXT); // cut, not refused: a refused answer never reaches its caller
            }
        }
    }

    public static Message decode(ByteBuffer packet) throws ProtocolException {
        return decode(packet, MAX_MAP);
    }

    /** @param mapLimit the longest map accepted: a map of its own, or one that a {@link Message.Keep} carries */
    private static Message decode(ByteBuffer packet, int mapLimit) throws ProtocolException {
        ByteBuffer in = packet.order(ByteOrder.LITTLE_ENDIAN);
        try {
            if (in.remaining() > MAX_PACKET || in.getInt() != MAGIC) {
                throw new ProtocolException("not an anymap packet");
            }
            int typeIndex = in.getInt();
            if (typeIndex < 0 || typeIndex >= Type.values().length) {
                throw new ProtocolException("unknown message type " + typeIndex);
            }
            Type type = Type.values()[typeIndex];
            if (type == Type.MAP && in.limit() > mapLimit) {
                throw new ProtocolException("a map request of " + in.limit() + " bytes, more than the " + mapLimit + " a keeper holds");
            }
            Message message = switch (type) {
                case HELLO -> new Message.Hello(in.getInt(), in.getLong());
                case WELCOME -> new Message.Welcome(in.getInt(), in.getLong());
                case MAP -> {
                    long requestId = in.getLong();
                    int chunkSize = in.getInt();
                    int fetchWorkers = in.getInt();
                    int readahead = in.getInt();
                    int flags = in.getInt();
                    if ((flags & ~(MAP_FLAG_PULL | MAP_FLAG_AUTO_PULL | MAP_FLAG_WRITABLE | MAP_FLAG_CREATED)) != 0) {
                        throw new ProtocolException("unknown map flags " + Integer.toHexString(flags));
                    }
                    var prefetching = new Message.Prefetching(readahead, (flags & MAP_FLAG_PULL) != 0, (flags & MAP_FLAG_AUTO_PULL) != 0,
                            in.getLong(), in.getLong());
                    String uri = text(in, MAX_URI);
                    int count = in.getInt();
                    if (count < 0 || count > MAX_OPTIONS) {
                        throw new ProtocolException("option count " + count + " outside 0.." + MAX_OPTIONS);
                    }
                    var options = new LinkedHashMap<String, String>();
                    for (int i = 0; i < count; i++) {
                        options.put(text(in, MAX_OPTION_KEY), text(in, MAX_OPTION_VALUE));
                    }
                    String expectedVersion = text(in, MAX_TEXT);
                    var assumed = new Message.Assumed(in.getLong(), text(in, MAX_TEXT));
                    long fetchDeadlineMillis = in.getLong();
                    var writing = new Message.Writing((flags & MAP_FLAG_WRITABLE) != 0, (flags & MAP_FLAG_CREATED) != 0, text(in, MAX_TEXT));
                    var codePath = shared(new Message.CodePath(paths(in), paths(in)));
                    int ranges = in.getInt();
                    if (ranges < 0 || ranges > MAX_GUEST_RANGES) {
                        throw new ProtocolException("guest range count " + ranges + " outside 0.." + MAX_GUEST_RANGES);
                    }
                    var guest = new java.util.ArrayList<Message.GuestRange>(ranges);
                    for (int i = 0; i < ranges; i++) {
                        guest.add(new Message.GuestRange(in.getLong(), in.getLong(), in.getLong(), in.getLong()));
                    }
                    yield new Message.Map(requestId, uri, java.util.Collections.unmodifiableMap(options), chunkSize, fetchWorkers,
                            prefetching, expectedVersion, assumed, fetchDeadlineMillis, codePath, writing, guest);
                }
                case MAPPED -> {
                    long requestId = in.getLong();
                    long regionId = in.getLong();
                    long size = in.getLong();
                    boolean kernelMapped = (regionFlags(in.getInt(), REGION_FLAG_KERNEL_MAPPED) & REGION_FLAG_KERNEL_MAPPED) != 0;
                    yield new Message.Mapped(requestId, regionId, size, text(in, MAX_TEXT), kernelMapped);
                }
                case ATTACH -> new Message.Attach(in.getLong(), in.getLong(), in.getLong(), in.getLong());
                case ATTACHED -> new Message.Attached(in.getLong());
                case FLUSH -> new Message.Flush(in.getLong(), in.getLong(), ids(in));
                case FLUSHED -> new Message.Flushed(in.getLong(), text(in, MAX_TEXT));
                case UNMAP -> new Message.Unmap(in.getLong(), in.getLong());
                case UNMAPPED -> new Message.Unmapped(in.getLong());
                case STATS_REQUEST -> new Message.StatsRequest(in.getLong(), in.getLong());
                case STATS -> stats(in, MAX_TEXT);
                case STATUS_REQUEST -> new Message.StatusRequest(in.getLong());
                case TRACE_REQUEST -> new Message.TraceRequest(in.getLong(), in.getLong(), in.getInt(), in.getInt() != 0);
                case TRACE -> new Message.Trace(in.getLong(), in.getInt(), chunks(in));
                case PREFETCH_ORDER -> new Message.PrefetchOrder(in.getLong(), in.getLong(), chunks(in));
                case PREFETCH_QUEUED -> new Message.PrefetchQueued(in.getLong());
                case STATUS -> {
                    long requestId = in.getLong();
                    long serverPid = in.getLong();
                    int clients = in.getInt();
                    long regionCount = in.getLong();
                    Message.Cache cache = new Message.Cache(in.getLong(), in.getLong(), in.getLong());
                    int count = in.getInt();
                    if (count < 0 || count > MAX_REGIONS) {
                        throw new ProtocolException("region count " + count + " outside 0.." + MAX_REGIONS);
                    }
                    var regions = new java.util.ArrayList<Message.RegionStatus>();
                    for (int i = 0; i < count; i++) {
                        long clientPid = in.getLong();
                        long regionId = in.getLong();
                        long size = in.getLong();
                        int chunkSize = in.getInt();
                        long resident = in.getLong();
                        int flags = regionFlags(in.getInt(), REGION_FLAG_KERNEL_MAPPED | REGION_FLAG_WRITABLE | REGION_FLAG_GUEST);
                        String uri = text(in, MAX_STATUS_URI);
                        String version = text(in, MAX_STATUS_URI);
                        regions.add(new Message.RegionStatus(clientPid, regionId, uri, version, size, chunkSize, resident,
                                stats(in, MAX_STATUS_URI), (flags & REGION_FLAG_KERNEL_MAPPED) != 0, (flags & REGION_FLAG_WRITABLE) != 0,
                                (flags & REGION_FLAG_GUEST) != 0));
                    }
                    int peerCount = in.getInt();
                    if (peerCount < 0 || peerCount > MAX_PEERS) {
                        throw new ProtocolException("process count " + peerCount + " outside 0.." + MAX_PEERS);
                    }
                    var peers = new java.util.ArrayList<Message.PeerUsage>();
                    for (int i = 0; i < peerCount; i++) {
                        peers.add(new Message.PeerUsage(in.getLong(), in.getInt(), in.getInt(), in.getLong(), in.getLong(), in.getLong(),
                                in.getLong()));
                    }
                    yield new Message.Status(requestId, serverPid, clients, regionCount, java.util.List.copyOf(regions), cache,
                            java.util.List.copyOf(peers));
                }
                case RESUME -> new Message.Resume(in.getLong(), ids(in));
                case RESUMED -> new Message.Resumed(in.getLong(), ids(in));
                case KEEP -> {
                    long regionId = in.getLong();
                    long clientPid = in.getLong();
                    long clientStart = in.getLong();
                    long address = in.getLong();
                    long length = in.getLong();
                    int mapLength = in.getInt();
                    if (mapLength < 0 || mapLength > in.remaining()) {
                        throw new ProtocolException("kept map of " + mapLength + " bytes outside 0.." + in.remaining());
                    }
                    ByteBuffer nested = in.slice(in.position(), mapLength);
                    in.position(in.position() + mapLength);
                    if (!(decode(nested, MAX_PACKET) instanceof Message.Map map)) {
                        throw new ProtocolException("a kept region without its map");
                    }
                    boolean lost = in.getInt() != 0;
                    int ranges = in.getInt();
                    if (ranges < 0 || ranges > Message.GuestRemovals.MAX_RANGES) {
                        throw new ProtocolException("removed range count " + ranges + " outside 0.." + Message.GuestRemovals.MAX_RANGES);
                    }
                    long[] removed = new long[2 * ranges];
                    for (int i = 0; i < removed.length; i++) {
                        removed[i] = in.getLong();
                    }
                    yield new Message.Keep(regionId, clientPid, clientStart, address, length, map, new Message.GuestRemovals(removed, lost));
                }
                case FORGET -> new Message.Forget(in.getLong());
                case KEPT_ALL -> new Message.KeptAll(in.getInt());
                case FAILURE -> {
                    long requestId = in.getLong();
                    int kind = in.getInt();
                    if (kind < 0 || kind >= Message.ErrorKind.values().length) {
                        throw new ProtocolException("unknown error kind " + kind);
                    }
                    yield new Message.Failure(requestId, Message.ErrorKind.values()[kind], text(in, MAX_TEXT));
                }
            };
            if (in.hasRemaining()) {
                throw new ProtocolException(in.remaining() + " bytes after a " + message.getClass().getSimpleName() + " message");
            }
            return message;
        } catch (BufferUnderflowException truncated) {
            throw new ProtocolException("truncated packet");
        }
    }

    /** The flags of a region, refused if any is not among {@code known}. */
    private static int regionFlags(int flags, int known) throws ProtocolException {
        if ((flags & ~known) != 0) {
            throw new ProtocolException("unknown region flags " + Integer.toHexString(flags));
        }
        return flags;
    }

    private static void stats(ByteBuffer out, Message.Stats m, int textLimit) {
        out.putLong(m.requestId()).putLong(m.faults()).putLong(m.chunksFetched()).putLong(m.bytesFetched())
                .putLong(m.fetchNanosTotal()).putLong(m.fetchNanosMax()).putLong(m.fetchNanosP50()).putLong(m.fetchNanosP90())
                .putLong(m.fetchNanosP99()).putLong(m.failures()).putLong(m.cacheHits()).putLong(m.cachedBytes()).putLong(m.evictions());
        text(out, truncate(m.lastFailure(), textLimit), textLimit); // a backend's message may hold an HTTP body or a query
    }

    private static Message.Stats stats(ByteBuffer in, int textLimit) throws ProtocolException {
        long requestId = in.getLong();
        long faults = in.getLong();
        long chunksFetched = in.getLong();
        long bytesFetched = in.getLong();
        long fetchNanosTotal = in.getLong();
        long fetchNanosMax = in.getLong();
        long p50 = in.getLong();
        long p90 = in.getLong();
        long p99 = in.getLong();
        long failures = in.getLong();
        long cacheHits = in.getLong();
        long cachedBytes = in.getLong();
        long evictions = in.getLong();
        return new Message.Stats(requestId, faults, chunksFetched, bytesFetched, fetchNanosTotal, fetchNanosMax, p50, p90, p99, failures,
                text(in, textLimit), cacheHits, cachedBytes, evictions);
    }

    private static void paths(ByteBuffer out, java.util.List<Message.PathEntry> entries) {
        if (entries.size() > MAX_PATH_ENTRIES) {
            throw new IllegalArgumentException("more than " + MAX_PATH_ENTRIES + " entries in a class path or module path");
        }
        out.putInt(entries.size());
        String previous = "";
        for (Message.PathEntry entry : entries) {
            String path = entry.path();
            if (path.length() > MAX_PATH) {
                throw new IllegalArgumentException("a path of " + path.length() + " characters is longer than the limit of " + MAX_PATH);
            }
            int shared = 0;
            int most = Math.min(previous.length(), path.length());
            while (shared < most && previous.charAt(shared) == path.charAt(shared)) {
                shared++;
            }
            if (shared > 0 && Character.isHighSurrogate(path.charAt(shared - 1))) {
                shared--; // never split a character
            }
            out.putInt(shared);
            text(out, path.substring(shared), MAX_PATH * 3);
            out.putLong(entry.size()).putLong(entry.modifiedMillis());
            previous = path;
        }
    }

    /**
     * {@code decoded}, or an equal code path decoded before: every map of a process carries the same
     * class path, often tens of KiB, and a keeper holds the maps of thousands of regions in 32 MiB of
     * heap. With a copy for each, 2,170 regions of a 15 KiB class path filled it. A few paths at once
     * are kept; more (a client that sends a new one with each map) empty the table.
     */
    private static Message.CodePath shared(Message.CodePath decoded) {
        Message.CodePath known = CODE_PATHS.putIfAbsent(decoded, decoded);
        if (known != null) {
            return known;
        }
        if (CODE_PATHS.size() > MAX_SHARED_CODE_PATHS) {
            CODE_PATHS.clear();
        }
        return decoded;
    }

    private static java.util.List<Message.PathEntry> paths(ByteBuffer in) throws ProtocolException {
        int count = in.getInt();
        if (count < 0 || count > MAX_PATH_ENTRIES) {
            throw new ProtocolException("path entry count " + count + " outside 0.." + MAX_PATH_ENTRIES);
        }
        var entries = new java.util.ArrayList<Message.PathEntry>(count);
        String previous = "";
        long characters = 0;
        for (int i = 0; i < count; i++) {
            int shared = in.getInt();
            if (shared < 0 || shared > previous.length()) {
                throw new ProtocolException("shared path prefix " + shared + " outside 0.." + previous.length());
            }
            String path = previous.substring(0, shared) + text(in, MAX_PATH * 3);
            characters += path.length();
            if (path.length() > MAX_PATH || characters > MAX_PATH_CHARACTERS) {
                throw new ProtocolException("a path of " + path.length() + " characters, or paths of " + characters
                        + " in all, beyond the limits of " + MAX_PATH + " and " + MAX_PATH_CHARACTERS);
            }
            entries.add(new Message.PathEntry(path, in.getLong(), in.getLong()));
            previous = path;
        }
        return java.util.List.copyOf(entries);
    }

    private static void chunks(ByteBuffer out, int[] chunks) {
        if (chunks.length > MAX_TRACE_CHUNKS) {
            throw new IllegalArgumentException("more than " + MAX_TRACE_CHUNKS + " chunks in one packet");
        }
        out.putInt(chunks.length);
        for (int chunk : chunks) {
            out.putInt(chunk);
        }
    }

    private static int[] chunks(ByteBuffer in) throws ProtocolException {
        int count = in.getInt();
        if (count < 0 || count > MAX_TRACE_CHUNKS || (long) count * Integer.BYTES > in.remaining()) {
            throw new ProtocolException("chunk count " + count + " outside 0.." + Math.min(MAX_TRACE_CHUNKS, in.remaining() / Integer.BYTES));
        }
        int[] chunks = new int[count];
        for (int i = 0; i < count; i++) {
            chunks[i] = in.getInt();
            if (chunks[i] < 0) {
                throw new ProtocolException("negative chunk number " + chunks[i]);
            }
        }
        return chunks;
    }

    private static void ids(ByteBuffer out, long[] ids) {
        if (ids.length > MAX_REGION_IDS) {
            throw new IllegalArgumentException("more than " + MAX_REGION_IDS + " region ids in one packet");
        }
        out.putInt(ids.length);
        for (long id : ids) {
            out.putLong(id);
        }
    }

    private static long[] ids(ByteBuffer in) throws ProtocolException {
        int count = in.getInt();
        if (count < 0 || count > MAX_REGION_IDS || (long) count * Long.BYTES > in.remaining()) {
            throw new ProtocolException("region id count " + count + " outside 0.." + Math.min(MAX_REGION_IDS, in.remaining() / Long.BYTES));
        }
        long[] ids = new long[count];
        for (int i = 0; i < count; i++) {
            ids[i] = in.getLong();
        }
        return ids;
    }

    /** {@code text} cut to at most {@code limit} bytes of UTF-8, on a character boundary. */
    public static String truncate(String text, int limit) {
        if (text.getBytes(StandardCharsets.UTF_8).length <= limit) {
            return text;
        }
        // The encoder stops before the first character that would not fit whole, in one pass.
        java.nio.CharBuffer in = java.nio.CharBuffer.wrap(text);
        StandardCharsets.UTF_8.newEncoder().onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE)
                .encode(in, ByteBuffer.allocate(limit - 3), true);
        return text.substring(0, in.position()) + "...";
    }

    private static ByteBuffer type(ByteBuffer out, Type type) {
        return out.putInt(type.ordinal());
    }

    private static void text(ByteBuffer out, String text, int limit) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > limit) {
            throw new IllegalArgumentException("text of " + bytes.length + " bytes is longer than the limit of " + limit);
        }
        out.putInt(bytes.length).put(bytes);
    }

    private static String text(ByteBuffer in, int limit) throws ProtocolException {
        int length = in.getInt();
        if (length < 0 || length > limit || length > in.remaining()) {
            throw new ProtocolException("text length " + length + " outside 0.." + Math.min(limit, in.remaining()));
        }
        byte[] bytes = new byte[length];
        in.get(bytes);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new ProtocolException("text is not UTF-8");
        }
    }
}
