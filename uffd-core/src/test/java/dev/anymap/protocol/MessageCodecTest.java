package dev.anymap.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MessageCodecTest {
    // The ordinals of the codec's message types, as they stand on the wire.
    private static final int MAP = 2;
    private static final int MAPPED = 3;
    private static final int FAILURE = 10;
    private static final Message.Prefetching NO_PREFETCHING = new Message.Prefetching(0, false, false, Long.MAX_VALUE, Long.MAX_VALUE);

    private static Message roundTrip(Message message) throws ProtocolException {
        return MessageCodec.decode(ByteBuffer.wrap(MessageCodec.encode(message)));
    }

    @Test
    void everyMessageSurvivesARoundTrip() throws Exception {
        List<Message> messages = List.of(
                new Message.Hello(1, 42),
                new Message.Welcome(1, 43),
                new Message.Map(7, "s3://bücket/a b", Map.of("region", "eu-west-1", "secret", "x"), 65536, 4,
                        new Message.Prefetching(2, true, false, 1L << 30, 50_000_000), "etag:\"abc\"", Message.Assumed.NONE,
                        120_000),
                new Message.Map(8, "s3://b/k", Map.of(), 32768, 16, new Message.Prefetching(0, false, true, Long.MAX_VALUE, Long.MAX_VALUE),
                        "", new Message.Assumed(1L << 30, "etag:\"def\""), 1),
                new Message.Map(9, "stamp:1", Map.of("secret-access-key", "s3cr3t"), 4096, 1, NO_PREFETCHING, "", Message.Assumed.NONE, 120_000,
                        new Message.CodePath(List.of(
                                new Message.PathEntry("/home/u/.m2/repository/dev/anymap/anymap-spi/0.1/anymap-spi-0.1.jar", 12_345, 1_700_000_000_123L),
                                new Message.PathEntry("/home/u/.m2/repository/dev/anymap/anymap-uffd-core/0.1/anymap-uffd-core-0.1.jar", 1, 2),
                                new Message.PathEntry("/home/u/plugins/ünïcode 🙂.jar", 3, 4),
                                new Message.PathEntry("/home/u/plugins/ünïcode 🙃.jar", 5, 6),
                                new Message.PathEntry("/classes", 0, 0)),
                                List.of(new Message.PathEntry("/mods/a.jar", 7, 8)))),
                new Message.Mapped(7, 9, 1L << 40, "generation:3"),
                new Message.Mapped(7, 10, 12_345, "modified:x/12345", true),
                new Message.Attach(8, 9, 0x7f00_0000_0000L, 1L << 30),
                new Message.Attached(8),
                new Message.Unmap(10, 9),
                new Message.Unmapped(10),
                new Message.StatsRequest(11, 9),
                new Message.Stats(11, 1, 2, 3, 4, 5, 6, 7, 8, 9, "last", 10, 4096, 2),
                new Message.StatusRequest(13),
                new Message.TraceRequest(14, 9, 15_000, true),
                new Message.Trace(14, 20_000, new int[] {3, 1, 2}),
                new Message.PrefetchOrder(15, 9, new int[] {0, 1, 2, 7}),
                new Message.PrefetchQueued(15),
                new Message.Status(13, 77, 2, 3, List.of(
                        new Message.RegionStatus(100, 1, "mem:a", "generation:0", 4096, 4096, 4096, new Message.Stats(0, 1, 1, 4096, 9, 9, 9, 9, 9, 0, "", 0, 4096, 0)),
                        new Message.RegionStatus(101, 2, "file:///b", "modified:x/1", 1 << 20, 65536, 0, new Message.Stats(0, 0, 0, 0, 0, 0, 0, 0, 0, 1, "x", 1, 0, 3)),
                        new Message.RegionStatus(102, 3, "file:///c", "modified:x/2", 1 << 20, 65536, 0, new Message.Stats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, 0, 0), true),
                        new Message.RegionStatus(103, 4, "s3://b/d", "etag:\"e\"", 1 << 20, 65536, 4096, new Message.Stats(0, 1, 1, 4096, 9, 9, 9, 9, 9, 0, "", 0, 4096, 0), false, true),
                        new Message.RegionStatus(104, 5, "s3://b/vm", "etag:\"f\"", 1 << 20, 2 << 20, 0, new Message.Stats(0, 1, 1, 4096, 9, 9, 9, 9, 9, 0, "", 0, 0, 0), false, false, true)),
                        new Message.Cache(1 << 30, 1 << 20, 5)),
                new Message.Failure(12, Message.ErrorKind.NO_SUCH_OBJECT, "missing"));
        for (Message message : messages) {
            assertEquals(message, roundTrip(message));
        }
    }

    @Test
    void refusesATruncatedPacket() {
        byte[] packet = MessageCodec.encode(new Message.Attach(1, 2, 3, 4));
        for (int length = 0; length < packet.length; length++) {
            int cut = length;
            assertThrows(ProtocolException.class, () -> MessageCodec.decode(ByteBuffer.wrap(Arrays.copyOf(packet, cut))),
                    "a packet cut to " + cut + " bytes");
        }
    }

    @Test
    void refusesTrailingBytesAnUnknownTypeAndAForeignMagic() {
        byte[] packet = MessageCodec.encode(new Message.Unmapped(1));
        assertThrows(ProtocolException.class, () -> MessageCodec.decode(ByteBuffer.wrap(Arrays.copyOf(packet, packet.length + 1))));
        byte[] unknownType = packet.clone();
        ByteBuffer.wrap(unknownType).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 999);
        assertThrows(ProtocolException.class, () -> MessageCodec.decode(ByteBuffer.wrap(unknownType)));
        byte[] foreign = packet.clone();
        foreign[0] ^= 1;
        assertThrows(ProtocolException.class, () -> MessageCodec.decode(ByteBuffer.wrap(foreign)));
    }

    @Test
    void refusesLengthsAndCountsBeyondThePacketOrTheLimits() {
        ByteBuffer hugeText = header(MAP).putLong(1).putInt(4096).putInt(1).putInt(0).putInt(0).putLong(0).putLong(1).putInt(Integer.MAX_VALUE);
        ProtocolException text = assertThrows(ProtocolException.class, () -> MessageCodec.decode(hugeText.flip()));
        assertTrue(text.getMessage().contains("text length"), text.getMessage());

        ByteBuffer negativeText = header(MAP).putLong(1).putInt(4096).putInt(1).putInt(0).putInt(0).putLong(0).putLong(1).putInt(-5);
        assertThrows(ProtocolException.class, () -> MessageCodec.decode(negativeText.flip()));

        ByteBuffer tooManyOptions = header(MAP).putLong(1).putInt(4096).putInt(1).putInt(0).putInt(0).putLong(0).putLong(1).putInt(0).putInt(MessageCodec.MAX_OPTIONS + 1);
        ProtocolException count = assertThrows(ProtocolException.class, () -> MessageCodec.decode(tooManyOptions.flip()));
        assertTrue(count.getMessage().contains("option count"), count.getMessage());

        ByteBuffer badKind = header(FAILURE).putLong(1).putInt(77);
        assertThrows(ProtocolException.class, () -> MessageCodec.decode(badKind.flip()));
    }

    @Test
    void aMapCarriesItsFetchDeadlineAndOneCutBeforeItIsRefused() throws Exception {
        Message.Map map = new Message.Map(3, "faulty:x?size=1", Map.of(), 4096, 1, NO_PREFETCHING, "", Message.Assumed.NONE, 90_000);
        assertEquals(90_000, ((Message.Map) roundTrip(map)).fetchDeadlineMillis());
        byte[] packet = MessageCodec.encode(map);
        // A Map of the protocol before the deadline ends where the deadline begins.
        assertThrows(ProtocolException.class, () -> MessageCodec.decode(ByteBuffer.wrap(Arrays.copyOf(packet, packet.length - Long.BYTES))));
    }

    @Test
    void refusesUnknownMapFlags() {
        ByteBuffer flags = header(MAP).putLong(1).putInt(4096).putInt(1).putInt(0).putInt(0x80);
        ProtocolException error = assertThrows(ProtocolException.class, () -> MessageCodec.decode(flags.flip()));
        assertTrue(error.getMessage().contains("flags"), error.getMessage());
    }

    @Test
    void refusesUnknownRegionFlagsInAMappedReply() {
        ByteBuffer flags = header(MAPPED).putLong(1).putLong(2).putLong(3).putInt(0x2).putInt(0);
        ProtocolException error = assertThrows(ProtocolException.class, () -> MessageCodec.decode(flags.flip()));
        assertTrue(error.getMessage().contains("region flags"), error.getMessage());
    }

    @Test
    void refusesTextThatIsNotUtf8() {
        ByteBuffer invalid = header(MAP).putLong(1).putInt(4096).putInt(1).putInt(0).putInt(0).putLong(0).putLong(1).putInt(2).put((byte) 0xC3).put((byte) 0x28);
        ProtocolException error = assertThrows(ProtocolException.class, () -> MessageCodec.decode(invalid.flip()));
        assertTrue(error.getMessage().contains("UTF-8"), error.getMessage());
    }

    @Test
    void aStatusOfTheMostRegionsWithTheLongestTextsFitsAPacket() throws Exception {
        String longest = "s3://bucket/" + "k".repeat(1000);
        Message.Stats stats = new Message.Stats(0, 1, 1, 1, 1, 1, 1, 1, 1, 1, MessageCodec.truncate("é".repeat(500), MessageCodec.MAX_STATUS_URI), 1, 1, 1);
        List<Message.RegionStatus> regions = java.util.stream.IntStream.range(0, MessageCodec.MAX_REGIONS)
                .mapToObj(i -> new Message.RegionStatus(i, i, MessageCodec.truncate(longest, MessageCodec.MAX_STATUS_URI),
                        MessageCodec.truncate(longest, MessageCodec.MAX_STATUS_URI), 1, 4096, 0, stats, i % 2 == 0))
                .toList();
        Message status = new Message.Status(1, 2, 3, 1000, regions, new Message.Cache(1, 2, 3));
        assertEquals(status, roundTrip(status));
        assertTrue(MessageCodec.truncate(longest, 256).endsWith("..."));
    }

    /**
     * A failure's text comes from a backend, which may put an HTTP body or a query in it: cut to fit,
     * never refused, since a reply that cannot be encoded never reaches the call that waits for it.
     */
    @Test
    void aFailureOrALastFailureLongerThanTheLimitIsCutNotRefused() throws Exception {
        String told = "GET https://storage.example/object failed: 500 " + "<html>ü".repeat(6000);
        Message.Failure failure = (Message.Failure) roundTrip(new Message.Failure(3, Message.ErrorKind.IO, told));
        assertTrue(failure.message().length() < told.length() && failure.message().endsWith("..."), failure.message().length() + " chars");
        assertTrue(told.startsWith(failure.message().substring(0, failure.message().length() - 3)));
        Message.Stats stats = (Message.Stats) roundTrip(new Message.Stats(4, 1, 2, 3, 4, 5, 6, 7, 8, 9, told, 10, 4096, 2));
        assertEquals(failure.message(), stats.lastFailure());
    }

    @Test
    void aTextIsCutToTheLongestWholeCharactersThatFitTheLimit() {
        String text = "aü€🙂".repeat(5000); // characters of 1, 2, 3 and 4 bytes, the last a surrogate pair
        for (int limit = 3; limit < 200; limit++) {
            String cut = MessageCodec.truncate(text, limit);
            String kept = cut.substring(0, cut.length() - 3);
            int bytes = cut.getBytes(StandardCharsets.UTF_8).length;
            assertTrue(cut.endsWith("...") && text.startsWith(kept), cut);
            assertTrue(bytes <= limit, bytes + " bytes for a limit of " + limit);
            int next = text.offsetByCodePoints(kept.length(), 1);
            assertTrue(text.substring(0, next).getBytes(StandardCharsets.UTF_8).length + 3 > limit, "one more character fits " + limit);
        }
        assertEquals("short", MessageCodec.truncate("short", 5));
    }

    @Test
    void refusesToEncodeMoreThanTheLimits() {
        String longUri = "mem:" + "x".repeat(MessageCodec.MAX_URI);
        assertThrows(IllegalArgumentException.class,
                () -> MessageCodec.encode(new Message.Map(1, longUri, Map.of(), 4096, 1, NO_PREFETCHING, "", Message.Assumed.NONE, 1000)));
    }

    @Test
    void aMapRequestCarriesAClassPathOfHundredsOfJarsInOneRepository() throws Exception {
        List<Message.PathEntry> jars = java.util.stream.IntStream.range(0, 600)
                .mapToObj(i -> new Message.PathEntry("/home/someone/.m2/repository/org/example/library-" + i + "/1.2." + i
                        + "/library-" + i + "-1.2." + i + ".jar", i * 1000L, 1_700_000_000_000L + i))
                .toList();
        Message map = new Message.Map(1, "s3://b/k", Map.of(), 4096, 1, NO_PREFETCHING, "", Message.Assumed.NONE, 1000,
                new Message.CodePath(jars, List.of()));
        int pathBytes = jars.stream().mapToInt(jar -> jar.path().length()).sum();
        assertTrue(MessageCodec.encode(map).length < pathBytes, "each path sent as what differs from the one before");
        assertEquals(map, roundTrip(map));
    }

    /** Held once however many regions' maps carry it: a keeper holds thousands in 32 MiB of heap. */
    @Test
    void mapsThatCarryEqualClassPathsShareOneDecodedCopy() throws Exception {
        List<Message.PathEntry> jars = java.util.stream.IntStream.range(0, 150)
                .mapToObj(i -> new Message.PathEntry("/opt/application/lib/dependency-" + i + "-1.0.jar", i, i)).toList();
        Message.Map first = (Message.Map) roundTrip(new Message.Map(1, "s3://b/one", Map.of(), 4096, 1, NO_PREFETCHING, "",
                Message.Assumed.NONE, 1000, new Message.CodePath(jars, List.of())));
        Message.Map second = (Message.Map) roundTrip(new Message.Map(2, "s3://b/two", Map.of(), 4096, 1, NO_PREFETCHING, "",
                Message.Assumed.NONE, 1000, new Message.CodePath(new java.util.ArrayList<>(jars), List.of())));
        Message.Keep kept = (Message.Keep) roundTrip(new Message.Keep(3, 4, 5, 4096, 4096, second));
        assertEquals(jars, first.codePath().classPath());
        assertTrue(first.codePath() == second.codePath(), "each map decoded with a copy of its own");
        assertTrue(first.codePath() == kept.map().codePath(), "the kept map decoded with a copy of its own");
    }

    @Test
    void theLongestMapAClientMaySendIsKeptWholeWithItsCommitAndRemovalsBesideItAreCutAsLost() throws Exception {
        // Grows the class path, an entry at a time, until the codec refuses the map: the one before is the longest.
        List<Message.PathEntry> jars = new java.util.ArrayList<>();
        Message.Map longest = null;
        for (int i = 0; ; i++) {
            jars.add(new Message.PathEntry("/opt/app/lib/" + i + "-" + "x".repeat(200) + ".jar", i, i));
            Message.Map map = new Message.Map(1, "s3://b/k", Map.of(), 4096, 1, NO_PREFETCHING, "", Message.Assumed.NONE, 1000,
                    new Message.CodePath(jars, List.of()));
            try {
                MessageCodec.encode(map);
            } catch (IllegalArgumentException tooLong) {
                assertTrue(tooLong.getMessage().contains(jars.size() + " class path"), tooLong.getMessage());
                break;
            }
            longest = map;
        }
        assertTrue(MessageCodec.encode(longest).length > MessageCodec.MAX_PACKET / 2, "the longest map is short: the test proves nothing");
        long[] ranges = new long[2 * Message.GuestRemovals.MAX_RANGES];
        for (int i = 0; i < ranges.length; i++) {
            ranges[i] = 4096L * i;
        }
        for (Message.Map grown : List.of(longest.withPendingCommit(java.util.UUID.randomUUID().toString()),
                longest.toTakeOver("etag:\"" + "e".repeat(32) + "\" version-id:" + "v".repeat(32)))) {
            Message.Keep kept = (Message.Keep) roundTrip(new Message.Keep(2, 3, 4, 4096, 4096, grown, new Message.GuestRemovals(ranges, false)));
            assertEquals(grown, kept.map());
            assertTrue(kept.removals().lost(), "ranges were cut, and not marked lost");
            long[] cut = kept.removals().ranges();
            assertTrue(cut.length < ranges.length, cut.length + " bounds");
            assertArrayEquals(Arrays.copyOf(ranges, cut.length), cut);
        }
        // A whole removal list beside a short map is not cut.
        Message.Map small = new Message.Map(5, "s3://b/k", Map.of(), 4096, 1, NO_PREFETCHING, "", Message.Assumed.NONE, 1000);
        Message.Keep whole = (Message.Keep) roundTrip(new Message.Keep(2, 3, 4, 4096, 4096, small, new Message.GuestRemovals(ranges, false)));
        assertEquals(new Message.GuestRemovals(ranges, false), whole.removals());
    }

    @Test
    void aServerRefusesAMapLongerThanAKeeperHolds() {
        Message.Map map = new Message.Map(1, "mem:x", Map.of("k", "v".repeat(8 * 1024 - 1)), 4096, 1, NO_PREFETCHING, "", Message.Assumed.NONE,
                1000);
        byte[] packet = MessageCodec.encode(map);
        ByteBuffer longer = ByteBuffer.allocate(MessageCodec.MAX_PACKET - 100).order(ByteOrder.LITTLE_ENDIAN);
        longer.put(packet);
        ProtocolException refused = assertThrows(ProtocolException.class, () -> MessageCodec.decode(longer.flip().limit(longer.capacity())));
        assertTrue(refused.getMessage().contains("a keeper holds"), refused.getMessage());
    }

    @Test
    void refusesPathsBeyondTheLimitsAndAPrefixLongerThanThePathBefore() {
        List<Message.PathEntry> tooMany = java.util.Collections.nCopies(MessageCodec.MAX_PATH_ENTRIES + 1, new Message.PathEntry("/a", 1, 1));
        assertThrows(IllegalArgumentException.class, () -> MessageCodec.encode(new Message.Map(1, "mem:x", Map.of(), 4096, 1,
                NO_PREFETCHING, "", Message.Assumed.NONE, 1000, new Message.CodePath(tooMany, List.of()))));
        byte[] packet = MessageCodec.encode(new Message.Map(1, "mem:x", Map.of(), 4096, 1, NO_PREFETCHING, "", Message.Assumed.NONE, 1000,
                new Message.CodePath(List.of(new Message.PathEntry("/a", 1, 1)), List.of())));
        // The class path's entry count, its one entry (shared prefix, text, size, time), an empty module path and no guest range end the packet.
        ByteBuffer prefix = ByteBuffer.wrap(packet).order(ByteOrder.LITTLE_ENDIAN);
        int entry = packet.length - 4 - 4 - (8 + 8) - (4 + 2) - 4;
        prefix.putInt(entry, 5);
        ProtocolException shared = assertThrows(ProtocolException.class, () -> MessageCodec.decode(ByteBuffer.wrap(packet)));
        assertTrue(shared.getMessage().contains("prefix"), shared.getMessage());
        prefix.putInt(entry, 0);
        prefix.putInt(entry - 4, Integer.MAX_VALUE);
        ProtocolException count = assertThrows(ProtocolException.class, () -> MessageCodec.decode(ByteBuffer.wrap(packet)));
        assertTrue(count.getMessage().contains("path entry count"), count.getMessage());
    }

    @Test
    void aGuestsRangesGoWithItsMapRequestAndTooManyAreRefused() throws Exception {
        Message.Map map = new Message.Map(1, "s3://b/snapshot", Map.of(), 2 << 20, 1, NO_PREFETCHING, "", Message.Assumed.NONE, 1000,
                Message.CodePath.SERVER).withGuest(List.of(new Message.GuestRange(0x7f0000000000L, 1L << 30, 0, 4096),
                new Message.GuestRange(0x7f8000000000L, 2L << 20, 1L << 30, 2 << 20)));
        assertEquals(map, roundTrip(map));
        assertTrue(((Message.Map) roundTrip(map)).isGuest());
        List<Message.GuestRange> tooMany = java.util.Collections.nCopies(MessageCodec.MAX_GUEST_RANGES + 1,
                new Message.GuestRange(4096, 4096, 0, 4096));
        assertThrows(IllegalArgumentException.class, () -> MessageCodec.encode(map.withGuest(tooMany)));
        byte[] packet = MessageCodec.encode(map);
        // The count of guest ranges stands before its ranges, at the packet's end.
        ByteBuffer.wrap(packet).order(ByteOrder.LITTLE_ENDIAN).putInt(packet.length - 2 * 32 - 4, MessageCodec.MAX_GUEST_RANGES + 1);
        ProtocolException refused = assertThrows(ProtocolException.class, () -> MessageCodec.decode(ByteBuffer.wrap(packet)));
        assertTrue(refused.getMessage().contains("guest range count"), refused.getMessage());
    }

    @Test
    void aMapRequestPrintsNoOptionValue() {
        String printed = new Message.Map(1, "s3://b/k", Map.of("secret-access-key", "s3cr3t-value"), 4096, 1, NO_PREFETCHING, "",
                Message.Assumed.NONE, 1000).toString();
        assertTrue(printed.contains("secret-access-key") && !printed.contains("s3cr3t-value"), printed);
    }

    private static ByteBuffer header(int type) {
        return ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN).putInt(0x414E594D).putInt(type);
    }
}
