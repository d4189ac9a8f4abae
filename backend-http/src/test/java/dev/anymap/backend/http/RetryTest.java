package dev.anymap.backend.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Failures that pass: overload, dropped connections, bodies cut short or stalled, timeouts. */
class RetryTest {
    private static final byte[] CONTENT = TestContent.random(41, 100_000);
    private static final Served RESOURCE = Served.strong(CONTENT, "r1");
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");

    private final List<AutoCloseable> servers = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable server : servers) {
            server.close();
        }
    }

    private TestServer jetty(TestServer.Script script) throws Exception {
        TestServer server = TestServer.start(TestServer.Mode.HTTP_1_1, script);
        servers.add(server);
        return server;
    }

    private RawServer raw(RawServer.Script script) throws Exception {
        RawServer server = new RawServer(script);
        servers.add(server);
        return server;
    }

    /** The requested range of a raw request, as {first, last}. */
    private static long[] range(RawServer.RawRequest request) {
        Matcher matcher = RANGE.matcher(request.header("range"));
        assertTrue(matcher.matches(), request.toString());
        return new long[] {Long.parseLong(matcher.group(1)), Long.parseLong(matcher.group(2))};
    }

    /** Answers a HEAD or a ranged GET correctly; with {@code bodyBytes} below the range's length, sends only that many. */
    private static void answer(RawServer.RawRequest request, OutputStream out, long bodyBytes) throws IOException {
        if (request.method().equals("HEAD")) {
            RawServer.head(out, "200 OK", "Content-Length: " + CONTENT.length, "Accept-Ranges: bytes", "ETag: \"r1\"");
            return;
        }
        long[] range = range(request);
        int length = (int) (range[1] - range[0] + 1);
        RawServer.head(out, "206 Partial Content", "Content-Length: " + length, "ETag: \"r1\"",
                "Content-Range: bytes " + range[0] + "-" + range[1] + "/" + CONTENT.length);
        out.write(CONTENT, (int) range[0], (int) Math.min(length, bodyBytes));
        out.flush();
    }

    @Test
    void a503ThenRecoveryIsRetriedAtOpenAndAtReadAndReadsTheRightBytes() throws Exception {
        AtomicInteger heads = new AtomicInteger();
        AtomicInteger gets = new AtomicInteger();
        TestServer server = jetty((request, response, callback) -> {
            boolean fail = request.getMethod().equals("HEAD") ? heads.incrementAndGet() == 1 : gets.incrementAndGet() <= 2;
            if (fail) {
                response.setStatus(503);
                callback.succeeded();
                return true;
            }
            return RESOURCE.serve(request, response, callback);
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 12_345, 80_000), Tests.read(backend, 12_345, 80_000 - 12_345));
        }
        assertEquals(2, server.requests("HEAD").size());
        assertEquals(3, server.requests("GET").size());
    }

    @Test
    void a429WaitsAsLongAsItsRetryAfterSays() throws Exception {
        List<Long> arrivals = new CopyOnWriteArrayList<>();
        TestServer server = jetty((request, response, callback) -> {
            if (request.getMethod().equals("GET")) {
                arrivals.add(System.nanoTime());
                if (arrivals.size() == 1) {
                    response.setStatus(429);
                    response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
                    callback.succeeded();
                    return true;
                }
            }
            return RESOURCE.serve(request, response, callback);
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 0, 1000), Tests.read(backend, 0, 1000));
        }
        assertEquals(2, arrivals.size());
        // Without the header the first backoff is at most 100 ms.
        long waitedMillis = Duration.ofNanos(arrivals.get(1) - arrivals.get(0)).toMillis();
        assertTrue(waitedMillis >= 990, "waited " + waitedMillis + " ms");
    }

    @Test
    void a503ThatPersistsFailsAfterMaxAttempts() throws Exception {
        TestServer server = jetty((request, response, callback) -> {
            if (request.getMethod().equals("GET")) {
                response.setStatus(503);
                callback.succeeded();
                return true;
            }
            return RESOURCE.serve(request, response, callback);
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"), HttpOptions.MAX_ATTEMPTS, "3")) {
            IOException error = assertThrows(IOException.class, () -> Tests.read(backend, 0, 10));
            assertTrue(error.getMessage().contains("failed after 3 attempts") && error.getMessage().contains("503 Service Unavailable"),
                    error.getMessage());
        }
        assertEquals(3, server.requests("GET").size());
    }

    @Test
    void aRetryAfterLongerThanAReadWaitsFailsAtOnce() throws Exception {
        TestServer server = jetty((request, response, callback) -> {
            if (request.getMethod().equals("GET")) {
                response.setStatus(503);
                response.getHeaders().put(HttpHeader.RETRY_AFTER, "3600");
                callback.succeeded();
                return true;
            }
            return RESOURCE.serve(request, response, callback);
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            IOException error = assertThrows(IOException.class, () -> Tests.read(backend, 0, 10));
            assertTrue(error.getMessage().contains("Retry-After 3600000 ms"), error.getMessage());
        }
        assertEquals(1, server.requests("GET").size());
    }

    @Test
    void aMissingResourceIsNoSuchFileAtOpenAndIsNotRetried() throws Exception {
        TestServer server = jetty((request, response, callback) -> false);
        NoSuchFileException error = assertThrows(NoSuchFileException.class, () -> Tests.open(server.uri("/nothing.bin")));
        assertTrue(error.getMessage().contains("/nothing.bin") && error.getMessage().contains("404 Not Found"), error.getMessage());
        assertEquals(1, server.requests.size());
    }

    @Test
    void aConnectionDroppedWithoutAnAnswerIsRetried() throws Exception {
        RawServer server = raw((request, out) -> {
            if (request.method().equals("GET") && request.number() == 2) {
                return false;
            }
            answer(request, out, Long.MAX_VALUE);
            return true;
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 500, 70_500), Tests.read(backend, 500, 70_000));
        }
        assertEquals(3, server.requests.size());
    }

    @Test
    void aBodyCutShortIsAskedForAgainFromWhereItStopped() throws Exception {
        RawServer server = raw((request, out) -> {
            if (request.method().equals("GET") && request.number() == 2) {
                answer(request, out, 30_000);
                return false;
            }
            answer(request, out, Long.MAX_VALUE);
            return true;
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 1000, 91_000), Tests.read(backend, 1000, 90_000));
        }
        assertEquals("bytes=1000-90999", server.requests.get(1).header("range"));
        assertEquals("bytes=31000-90999", server.requests.get(2).header("range"));
        assertEquals("\"r1\"", server.requests.get(2).header("if-match"), "the rest must come from the same version");
    }

    @Test
    void aChunkedBodyThatEndsCleanlyButShortOfItsContentRangeIsRetriedNotZeroFilled() throws Exception {
        RawServer server = raw((request, out) -> {
            if (request.method().equals("GET") && request.number() == 2) {
                long[] range = range(request);
                RawServer.head(out, "206 Partial Content", "Transfer-Encoding: chunked", "ETag: \"r1\"",
                        "Content-Range: bytes " + range[0] + "-" + range[1] + "/" + CONTENT.length);
                out.write(("1000\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(CONTENT, (int) range[0], 0x1000);
                out.write("\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                return true;
            }
            answer(request, out, Long.MAX_VALUE);
            return true;
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 0, 20_000), Tests.read(backend, 0, 20_000));
        }
        assertEquals("bytes=4096-19999", server.requests.get(2).header("range"));
    }

    @Test
    void aBodyCutShortEveryTimeFailsAfterMaxAttemptsAndNeverReturnsShort() throws Exception {
        RawServer server = raw((request, out) -> {
            answer(request, out, request.method().equals("GET") ? 1000 : Long.MAX_VALUE);
            return !request.method().equals("GET");
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"), HttpOptions.MAX_ATTEMPTS, "3")) {
            IOException error = assertThrows(IOException.class, () -> Tests.read(backend, 0, 50_000));
            assertTrue(error.getMessage().contains("failed after 3 attempts") && error.getMessage().contains("after 3000 of 50000 bytes"), error.getMessage());
        }
        assertEquals(List.of("bytes=0-49999", "bytes=1000-49999", "bytes=2000-49999"),
                server.requests.stream().skip(1).map(r -> r.header("range")).toList());
    }

    @Test
    void aStalledBodyTimesOutAndIsAskedForAgain() throws Exception {
        RawServer[] self = new RawServer[1];
        RawServer server = raw((request, out) -> {
            if (request.method().equals("GET") && request.number() == 2) {
                answer(request, out, 8000);
                self[0].hold();
                return false;
            }
            answer(request, out, Long.MAX_VALUE);
            return true;
        });
        self[0] = server;
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"), HttpOptions.READ_TIMEOUT_MS, "300")) {
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 0, 60_000), Tests.read(backend, 0, 60_000));
        }
        assertEquals("bytes=8000-59999", server.requests.get(2).header("range"));
    }

    @Test
    void aBodyThatStallsEveryTimeFailsNamingTheReadTimeout() throws Exception {
        RawServer[] self = new RawServer[1];
        RawServer server = raw((request, out) -> {
            answer(request, out, request.method().equals("GET") ? 10 : Long.MAX_VALUE);
            if (request.method().equals("GET")) {
                self[0].hold();
            }
            return true;
        });
        self[0] = server;
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"), HttpOptions.READ_TIMEOUT_MS, "200",
                HttpOptions.MAX_ATTEMPTS, "2")) {
            IOException error = assertTimeoutPreemptively(Duration.ofSeconds(20),
                    () -> assertThrows(IOException.class, () -> Tests.read(backend, 0, 50_000)));
            assertTrue(error.getMessage().contains("stalled after 20 of 50000 bytes")
                    && error.getMessage().contains("200 ms (option read-timeout-ms)"), error.getMessage());
        }
    }

    @Test
    void aServerThatNeverAnswersTimesOutAtOpen() throws Exception {
        RawServer[] self = new RawServer[1];
        RawServer server = raw((request, out) -> {
            self[0].hold();
            return false;
        });
        self[0] = server;
        IOException error = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertThrows(IOException.class,
                () -> Tests.open(server.uri("/model.bin"), HttpOptions.READ_TIMEOUT_MS, "200", HttpOptions.MAX_ATTEMPTS, "2")));
        assertTrue(error.getMessage().contains("failed after 2 attempts")
                && error.getMessage().contains("no response from " + server.uri("/model.bin") + " within 200 ms"), error.getMessage());
        assertEquals(2, server.requests.size());
    }

    @Test
    void aConnectThatHangsTimesOut() throws Exception {
        // A listener that never accepts, with its backlog filled: the kernel then drops further SYNs,
        // so the next connect hangs until the client gives up.
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            List<Socket> fillers = new ArrayList<>();
            try {
                boolean hangs = false;
                for (int i = 0; i < 16 && !hangs; i++) {
                    Socket filler = new Socket();
                    fillers.add(filler);
                    try {
                        filler.connect(new InetSocketAddress(listener.getInetAddress(), listener.getLocalPort()), 200);
                    } catch (SocketTimeoutException full) {
                        hangs = true;
                    }
                }
                org.junit.jupiter.api.Assumptions.assumeTrue(hangs, "this kernel accepts connections beyond the backlog");
                URI uri = URI.create("http://127.0.0.1:" + listener.getLocalPort() + "/model.bin");
                IOException error = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertThrows(IOException.class,
                        () -> Tests.open(uri, HttpOptions.CONNECT_TIMEOUT_MS, "250", HttpOptions.MAX_ATTEMPTS, "1")));
                assertTrue(error.getMessage().contains("cannot connect to " + uri + " within 250 ms (option connect-timeout-ms)"),
                        error.getMessage());
            } finally {
                for (Socket filler : fillers) {
                    filler.close();
                }
            }
        }
    }
}
