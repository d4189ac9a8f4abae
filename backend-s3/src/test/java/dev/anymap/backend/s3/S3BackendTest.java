package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** What the s3 backend does beyond the SPI's test kit, against a real S3 server. */
@ExtendWith(S3ServerExtension.class)
class S3BackendTest {
    private static S3TestServer server;

    @BeforeAll
    static void server(S3TestServer s3) {
        server = s3;
    }

    private static StorageBackend open(URI uri) throws Exception {
        return BackendRegistry.load().open(uri, server.options());
    }

    private static ObjectVersion versionOf(URI uri) throws Exception {
        try (StorageBackend opened = open(uri)) {
            return opened.version();
        }
    }

    @Test
    void isTheProviderServiceLoaderFindsForS3() {
        BackendProvider provider = BackendRegistry.load().provider(URI.create("s3://bucket/key"));
        assertInstanceOf(S3BackendProvider.class, provider);
        assertEquals("s3", provider.name());
        assertTrue(provider.supportedOptions().containsAll(List.of("endpoint", "region", "path-style", "profile",
                "access-key-id", "secret-access-key", "session-token", "max-connections", "connect-timeout-ms",
                "read-timeout-ms", "max-attempts")));
        assertEquals(java.util.Set.of("secret-access-key", "session-token"), provider.secretOptions());
        Map<String, String> redacted = provider.redact(server.options());
        assertEquals("****", redacted.get("secret-access-key"));
        assertEquals(server.accessKey(), redacted.get("access-key-id"));
    }

    @Test
    void anEmptyObjectOpensWithSizeZeroAndTheServersEtag() throws Exception {
        URI uri = server.put("empty.bin", new byte[0]);
        try (StorageBackend backend = open(uri)) {
            assertEquals(0, backend.size());
            String etag = server.admin().headObject(b -> b.bucket(server.bucket()).key(uri.getPath().substring(1))).eTag();
            assertEquals(ObjectVersion.etag(etag), backend.version());
            backend.read(0, MemorySegment.ofArray(new byte[0]));
            assertThrows(OutOfRangeException.class, () -> backend.read(0, MemorySegment.ofArray(new byte[1])));
        }
    }

    @Test
    void aOneByteObjectReadsItsByteIntoEveryKindOfTarget() throws Exception {
        try (StorageBackend backend = open(server.put("one.bin", new byte[] {(byte) 0xA7})); Arena arena = Arena.ofConfined()) {
            assertEquals(1, backend.size());
            MemorySegment nativeTarget = arena.allocate(1);
            backend.read(0, nativeTarget);
            assertEquals((byte) 0xA7, nativeTarget.get(ValueLayout.JAVA_BYTE, 0));
            byte[] heap = new byte[1];
            backend.read(0, MemorySegment.ofArray(heap));
            assertEquals((byte) 0xA7, heap[0]);
            assertThrows(OutOfRangeException.class, () -> backend.read(1, MemorySegment.ofArray(new byte[1])));
        }
    }

    @Test
    void readsIntoHeapSegmentsOverArraysOfOtherTypes() throws Exception {
        byte[] content = GeneratedContent.bytes(11, 0, 200_000);
        try (StorageBackend backend = open(server.put("longs.bin", content))) {
            long[] longs = new long[10_000];
            MemorySegment target = MemorySegment.ofArray(longs);
            backend.read(1234, target);
            assertArrayEquals(Arrays.copyOfRange(content, 1234, 1234 + 80_000), target.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void readsMoreThanOneStagingBufferIntoNativeMemoryAtAnOddOffset() throws Exception {
        byte[] content = GeneratedContent.bytes(12, 0, 3 << 20);
        try (StorageBackend backend = open(server.put("native.bin", content)); Arena arena = Arena.ofConfined()) {
            MemorySegment target = arena.allocate((2 << 20) + 3);
            backend.read(777, target);
            assertArrayEquals(Arrays.copyOfRange(content, 777, 777 + (int) target.byteSize()), target.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void openIsOneGetOfTheFirstBytesAndEveryLaterGetIsRangedWithIfMatchAndTheEtagSeenAtOpen() throws Exception {
        byte[] content = GeneratedContent.bytes(13, 0, 700_000);
        URI uri = server.put("if-match.bin", content);
        try (FaultyProxy proxy = new FaultyProxy(server.endpoint());
                StorageBackend backend = BackendRegistry.load().open(uri, server.options(proxy.endpoint()))) {
            List<String> atOpen = proxy.requests();
            assertEquals(1, atOpen.size(), "one request at open: " + atOpen);
            assertTrue(atOpen.getFirst().startsWith("GET "), atOpen.getFirst());
            assertEquals("bytes=0-" + (S3Backend.OPENING_BYTES - 1), FaultyProxy.header(atOpen.getFirst(), "Range"));
            assertEquals(content.length, backend.size());

            byte[] start = new byte[S3Backend.OPENING_BYTES];
            backend.read(0, MemorySegment.ofArray(start));
            assertArrayEquals(Arrays.copyOf(content, start.length), start);
            assertEquals(1, proxy.requests().size(), "the first bytes came with the open");

            backend.read(300_000, MemorySegment.ofArray(new byte[10]));
            backend.read(699_990, MemorySegment.ofArray(new byte[10]));
            backend.read(400_000, MemorySegment.ofArray(new byte[65536]));
            List<String> gets = proxy.requests().stream().skip(1).filter(r -> r.startsWith("GET ")).toList();
            assertEquals(List.of("bytes=300000-300009", "bytes=699990-699999", "bytes=400000-465535"),
                    gets.stream().map(r -> FaultyProxy.header(r, "Range")).toList());
            for (String get : gets) {
                assertEquals(backend.version().value(), FaultyProxy.header(get, "If-Match"), get);
            }
            assertEquals(0, proxy.requests().stream().filter(r -> r.startsWith("HEAD ")).count(), "no HEAD");
        }
    }

    @Test
    void anObjectReplacedWhileOpenFailsItsReadsWithObjectChangedThroughA412() throws Exception {
        byte[] first = GeneratedContent.bytes(14, 0, 400_000);
        byte[] second = GeneratedContent.bytes(15, 0, 400_000); // same size: only the ETag tells them apart
        URI uri = server.put("replaced.bin", first);
        try (FaultyProxy proxy = new FaultyProxy(server.endpoint());
                StorageBackend backend = BackendRegistry.load().open(uri, server.options(proxy.endpoint()))) {
            byte[] before = new byte[1000];
            backend.read(300_000, MemorySegment.ofArray(before));
            assertArrayEquals(Arrays.copyOfRange(first, 300_000, 301_000), before);

            server.overwrite(uri, second);

            byte[] opened = new byte[1000];
            backend.read(0, MemorySegment.ofArray(opened));
            assertArrayEquals(Arrays.copyOf(first, 1000), opened, "the first bytes came at open, from the version opened");
            byte[] target = new byte[1000];
            ObjectChangedException changed = assertThrows(ObjectChangedException.class,
                    () -> backend.read(301_000, MemorySegment.ofArray(target)));
            assertTrue(changed.getMessage().contains(uri.toString()), changed.getMessage());
            assertTrue(changed.getMessage().contains("412"), changed.getMessage());
            assertTrue(proxy.statuses().contains(412), "the server answered " + proxy.statuses());
            assertArrayEquals(new byte[1000], target, "nothing of the new version reached the target");
            // No retry makes it right: the mapping has to be opened again.
            assertThrows(ObjectChangedException.class, () -> backend.read(300_000, MemorySegment.ofArray(new byte[1])));
        }
        try (StorageBackend reopened = open(uri)) {
            byte[] now = new byte[1000];
            reopened.read(301_000, MemorySegment.ofArray(now));
            assertArrayEquals(Arrays.copyOfRange(second, 301_000, 302_000), now);
        }
    }

    @Test
    void openedAtASizeAndEtagItSendsNothingUntilAReadAndThenReadsWithIfMatch() throws Exception {
        byte[] content = GeneratedContent.bytes(17, 0, 500_000);
        URI uri = server.put("open-at.bin", content);
        ObjectVersion version = versionOf(uri);
        try (FaultyProxy proxy = new FaultyProxy(server.endpoint());
                StorageBackend backend = BackendRegistry.load().openAt(uri, server.options(proxy.endpoint()), content.length, version)
                        .orElseThrow()) {
            assertEquals(List.of(), proxy.requests(), "no request before the first read");
            assertEquals(content.length, backend.size());
            assertEquals(version, backend.version());
            byte[] got = new byte[70_000];
            backend.read(10, MemorySegment.ofArray(got));
            assertArrayEquals(Arrays.copyOfRange(content, 10, 70_010), got, "not even the first bytes came before");
            assertEquals(List.of("bytes=10-70009"), proxy.requests().stream().map(r -> FaultyProxy.header(r, "Range")).toList());
            assertEquals(version.value(), FaultyProxy.header(proxy.requests().getFirst(), "If-Match"));
        }
    }

    @Test
    void openedAtAnEtagTheObjectNoLongerHasItFailsEveryReadWithObjectChanged() throws Exception {
        byte[] first = GeneratedContent.bytes(18, 0, 300_000);
        URI uri = server.put("open-at-replaced.bin", first);
        ObjectVersion version = versionOf(uri);
        server.overwrite(uri, GeneratedContent.bytes(19, 0, 300_000));
        try (StorageBackend backend = BackendRegistry.load().openAt(uri, server.options(), first.length, version).orElseThrow()) {
            byte[] target = new byte[1000];
            assertThrows(ObjectChangedException.class, () -> backend.read(0, MemorySegment.ofArray(target)));
            assertArrayEquals(new byte[1000], target, "nothing of the new version reached the target");
        }
        assertTrue(BackendRegistry.load().openAt(uri, server.options(), first.length, ObjectVersion.generation(1)).isEmpty(),
                "S3 names a version by its ETag only");
    }

    @Test
    void anObjectDeletedWhileOpenFailsItsReadsWithObjectChanged() throws Exception {
        URI uri = server.put("deleted.bin", GeneratedContent.bytes(16, 0, 400_000));
        try (StorageBackend backend = open(uri)) {
            server.delete(uri);
            ObjectChangedException gone = assertThrows(ObjectChangedException.class,
                    () -> backend.read(300_000, MemorySegment.ofArray(new byte[100])));
            assertTrue(gone.getMessage().contains(uri.toString()), gone.getMessage());
        }
    }

    @Test
    void aKeyWithSpacesAndUnicodeIsReadFromItsPercentEncodedUri() throws Exception {
        String key = S3TestServer.uniqueKey("dir/a file ü.bin");
        byte[] content = GeneratedContent.bytes(17, 0, 5000);
        server.admin().putObject(b -> b.bucket(server.bucket()).key(key),
                software.amazon.awssdk.core.sync.RequestBody.fromBytes(content));
        URI uri = URI.create("s3://" + server.bucket() + "/" + java.net.URLEncoder.encode(key, java.nio.charset.StandardCharsets.UTF_8)
                .replace("+", "%20").replace("%2F", "/"));
        try (StorageBackend backend = open(uri)) {
            byte[] read = new byte[5000];
            backend.read(0, MemorySegment.ofArray(read));
            assertArrayEquals(content, read);
        }
    }

    @Test
    void aClosedBackendRefusesReadsAndClosesTwice() throws Exception {
        StorageBackend backend = open(server.put("closed.bin", new byte[10]));
        backend.close();
        BackendClosedException closed = assertThrows(BackendClosedException.class,
                () -> backend.read(0, MemorySegment.ofArray(new byte[1])));
        assertTrue(closed.getMessage().contains(backend.uri().toString()));
        backend.close();
    }

    @Test
    void optionsTheBackendDoesNotKnowAreRefusedBeforeAnyRequest() {
        Map<String, String> options = new HashMap<>(server.options());
        options.put("regoin", "eu-west-1");
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> new S3BackendProvider().open(URI.create("s3://b/k"), options));
        assertTrue(refused.getMessage().contains("regoin"), refused.getMessage());
        assertTrue(!refused.getMessage().contains(server.secretKey()), refused.getMessage());
    }
}
