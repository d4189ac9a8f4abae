package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Ranged reads sent to a presigned URL of the object, seen on the wire by a {@link FaultyProxy} in
 * front of the real server: what they carry, and that whatever the store will not answer that way
 * is read through the SDK, with the same bytes and the same errors.
 */
@ExtendWith(S3ServerExtension.class)
class PresignedRangesTest {
    private static final int SIZE = 900_000;
    private static S3TestServer server;
    private static byte[] content;

    private FaultyProxy proxy;

    @BeforeAll
    static void store(S3TestServer s3) {
        server = s3;
        content = GeneratedContent.bytes(37, 0, SIZE);
    }

    @BeforeEach
    void startProxy() throws IOException {
        proxy = new FaultyProxy(server.endpoint());
    }

    @AfterEach
    void stopProxy() throws IOException {
        proxy.close();
    }

    private static boolean presigned(String request) {
        return request.substring(0, request.indexOf('\r')).contains("X-Amz-Signature=");
    }

    private static boolean hasHeader(String request, String name) {
        return request.toLowerCase(Locale.ROOT).contains("\r\n" + name.toLowerCase(Locale.ROOT) + ":");
    }

    private static byte[] read(StorageBackend backend, long offset, int length) throws IOException {
        byte[] target = new byte[length];
        backend.read(offset, MemorySegment.ofArray(target));
        return target;
    }

    @Test
    void aRangedReadIsOneGetOfAPresignedUrlWithItsRangeAndIfMatchAndNoAuthorizationHeader() throws IOException {
        URI uri = server.put("presigned.bin", content);
        try (StorageBackend backend = proxy.open(server, uri)) {
            assertArrayEquals(Arrays.copyOfRange(content, 500_000, 600_000), read(backend, 500_000, 100_000));
            List<String> gets = proxy.getsSinceOpen();
            assertEquals(1, gets.size(), gets.toString());
            String get = gets.getFirst();
            assertTrue(presigned(get), get);
            assertFalse(hasHeader(get, "Authorization"), get);
            assertTrue(get.contains("Range: bytes=500000-599999"), get);
            assertTrue(hasHeader(get, "If-Match"), get);
            assertEquals(206, proxy.statuses().getLast());
        }
    }

    @Test
    void aBucketThatDeniesPresignedUrlsIsReadThroughTheSdkAndAskedNoMoreAfterAFewRefusals() throws IOException {
        URI uri = server.put("denied.bin", content);
        proxy.denyPresigned(true);
        try (StorageBackend backend = proxy.open(server, uri)) {
            for (int i = 0; i < 6; i++) {
                long offset = 300_000 + i * 50_000L;
                assertArrayEquals(Arrays.copyOfRange(content, (int) offset, (int) offset + 40_000), read(backend, offset, 40_000));
            }
            List<String> gets = proxy.getsSinceOpen();
            long refused = gets.stream().filter(PresignedRangesTest::presigned).count();
            assertEquals(3, refused, "presigned requests, each refused 403, before the backend stops sending them: " + gets);
            assertEquals(6, gets.size() - refused, "one signed GET through the SDK per read");
            assertFalse(presigned(gets.getLast()), gets.getLast());
            assertTrue(hasHeader(gets.getLast(), "Authorization"), gets.getLast());
        }
    }

    @Test
    void aReplacedObjectFailsThePresignedReadAsChangedAndNothingReachesTheTarget() throws IOException {
        URI uri = server.put("replaced.bin", content);
        try (StorageBackend backend = proxy.open(server, uri)) {
            server.overwrite(uri, GeneratedContent.bytes(38, 0, SIZE));
            byte[] target = new byte[30_000];
            assertThrows(ObjectChangedException.class, () -> backend.read(400_000, MemorySegment.ofArray(target)));
            assertArrayEquals(new byte[target.length], target);
            assertTrue(presigned(proxy.getsSinceOpen().getFirst()), "the read went to the presigned URL first: " + proxy.getsSinceOpen());
            assertTrue(proxy.statuses().contains(412), proxy.statuses().toString());
        }
    }

    @Test
    void throttledPresignedReadsCountAsAttemptsAndTheFailureHoldsNoPartOfTheUrl() throws IOException {
        URI uri = server.put("throttled.bin", content);
        try (StorageBackend backend = proxy.open(server, uri, S3Settings.MAX_ATTEMPTS, "3")) {
            proxy.inject("GET", FaultyProxy.Fault.SLOW_DOWN, 100);
            byte[] target = new byte[20_000];
            IOException failed = assertThrows(IOException.class, () -> backend.read(700_000, MemorySegment.ofArray(target)));
            assertEquals(3, proxy.getsSinceOpen().size(), "max-attempts=3: " + proxy.getsSinceOpen());
            assertTrue(proxy.getsSinceOpen().stream().allMatch(PresignedRangesTest::presigned), proxy.getsSinceOpen().toString());
            assertTrue(failed.getMessage().contains(uri.toString()) && failed.getMessage().contains("503"), failed.getMessage());
            assertArrayEquals(new byte[target.length], target);
            StringWriter printed = new StringWriter();
            failed.printStackTrace(new PrintWriter(printed));
            for (String secret : new String[] {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-", server.accessKey(), server.secretKey()}) {
                assertFalse(printed.toString().contains(secret), "'" + secret + "' in: " + printed);
            }
        }
    }

    @Test
    void aBodyThatBreaksOffIsResumedOnThePresignedUrlWithTheRightBytes() throws IOException {
        URI uri = server.put("resumed.bin", content);
        try (StorageBackend backend = proxy.open(server, uri)) {
            proxy.inject("GET", FaultyProxy.Fault.RESET_MID_BODY, 1);
            assertArrayEquals(Arrays.copyOfRange(content, 100_000, 800_000), read(backend, 100_000, 700_000));
            List<String> gets = proxy.getsSinceOpen();
            assertEquals(2, gets.size(), gets.toString());
            assertTrue(gets.stream().allMatch(PresignedRangesTest::presigned), gets.toString());
            java.util.regex.Matcher range = java.util.regex.Pattern.compile("Range: bytes=(\\d+)-799999").matcher(gets.get(1));
            assertTrue(range.find() && Long.parseLong(range.group(1)) > 100_000,
                    "the second GET asks only for what the first did not bring: " + gets.get(1));
        }
    }
}
