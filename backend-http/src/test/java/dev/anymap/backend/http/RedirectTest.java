package dev.anymap.backend.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.AccessDeniedException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Redirect chains across origins, as to a CDN or a presigned URL: the final URL is remembered, the
 * user's credentials stay with their origin, and signatures stay out of messages and logs.
 */
class RedirectTest {
    private static final byte[] CONTENT = TestContent.random(51, 30_000);
    private static final Served RESOURCE = Served.strong(CONTENT, "s3");
    private static final String TOKEN = "token-that-must-not-leak";
    private static final String SIGNATURE = "c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw";

    private final List<AutoCloseable> servers = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable server : servers) {
            server.close();
        }
    }

    private TestServer start(TestServer.Mode mode, TestServer.Script script) throws Exception {
        TestServer server = TestServer.start(mode, script);
        servers.add(server);
        return server;
    }

    private static boolean redirect(Response response, Callback callback, int status, String location) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.LOCATION, location);
        callback.succeeded();
        return true;
    }

    private static boolean status(Response response, Callback callback, int status) {
        response.setStatus(status);
        callback.succeeded();
        return true;
    }

    /** A storage origin that serves a presigned object: GET only (HEAD is not signed), and 503s or 403s on demand. */
    private TestServer storage(AtomicBoolean expired, AtomicInteger overloaded) throws Exception {
        return start(TestServer.Mode.HTTP_1_1, (Request request, Response response, Callback callback) -> {
            String path = request.getHttpURI().getPath();
            String query = request.getHttpURI().getQuery();
            if (path.equals("/presigned")) {
                return redirect(response, callback, 308, "/object?X-Amz-Credential=AKIA&X-Amz-Signature=" + SIGNATURE);
            }
            if (!path.equals("/object") || query == null || !query.contains(SIGNATURE)) {
                return status(response, callback, 403);
            }
            if (request.getMethod().equals("HEAD") || expired.get()) {
                return status(response, callback, 403);
            }
            if (overloaded.getAndDecrement() > 0) {
                return status(response, callback, 503);
            }
            return RESOURCE.serve(request, response, callback);
        });
    }

    @Test
    void aChainAcrossOriginsIsFollowedOnceAndTheFinalUrlServesEveryRead() throws Exception {
        TestServer storage = storage(new AtomicBoolean(), new AtomicInteger());
        TestServer origin = start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> switch (request.getHttpURI().getPath()) {
            case "/start" -> redirect(response, callback, 302, "/hop");
            case "/hop" -> redirect(response, callback, 307, storage.uri("/presigned?X-Amz-Signature=" + SIGNATURE).toString());
            default -> false;
        });
        try (StorageBackend backend = Tests.open(origin.uri("/start"), HttpOptions.BEARER_TOKEN, TOKEN)) {
            assertEquals(CONTENT.length, backend.size());
            assertEquals(storage.uri("/object?X-Amz-Credential=AKIA&X-Amz-Signature=" + SIGNATURE), ((RangeBackend) backend).location());
            int originRequestsAtOpen = origin.requests.size();
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 1000, 21_000), Tests.read(backend, 1000, 20_000));
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 29_000, 30_000), Tests.read(backend, 29_000, 1000));
            assertEquals(originRequestsAtOpen, origin.requests.size(), "reads go straight to the final URL");
            assertEquals(backend.uri(), origin.uri("/start"), "the backend still names the URL it was opened with");
        }
        // HEAD through the chain (refused at the end), then GET 0-0 through it, then two reads at the end of it.
        assertEquals(List.of("HEAD /start", "HEAD /hop", "GET /start", "GET /hop"),
                origin.requests.stream().map(seen -> seen.method() + " " + seen.target()).toList());
        origin.requests.forEach(seen -> assertEquals("Bearer " + TOKEN, seen.header("authorization"), seen.toString()));
        storage.requests.forEach(seen -> assertNull(seen.header("authorization"), "credentials leaked to another origin: " + seen));
        assertEquals(List.of("HEAD /presigned", "HEAD /object", "GET /presigned", "GET /object", "GET /object", "GET /object"),
                storage.requests.stream().map(seen -> seen.method() + " " + seen.target().replaceAll("\\?.*", "")).toList());
    }

    @Test
    void aSignatureMetOnTheWayNeverReachesAMessageOrALogLine() throws Exception {
        AtomicBoolean expired = new AtomicBoolean();
        AtomicInteger overloaded = new AtomicInteger();
        TestServer storage = storage(expired, overloaded);
        List<LogRecord> records = new ArrayList<>();
        Logger logger = Logger.getLogger(Transport.class.getName());
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                synchronized (records) {
                    records.add(record);
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Level previous = logger.getLevel();
        logger.setLevel(Level.ALL);
        logger.addHandler(capture);
        try (StorageBackend backend = Tests.open(storage.uri("/presigned?X-Amz-Signature=" + SIGNATURE), HttpOptions.BEARER_TOKEN, TOKEN)) {
            overloaded.set(1);
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 0, 100), Tests.read(backend, 0, 100));
            expired.set(true);
            AccessDeniedException error = assertThrows(AccessDeniedException.class, () -> Tests.read(backend, 0, 100));
            String printed = printed(error) + backend;
            assertTrue(printed.contains("X-Amz-Signature=****") && printed.contains("presigned URL may have expired"), printed);
            assertFalse(printed.contains(SIGNATURE) || printed.contains(TOKEN), printed);
        } finally {
            logger.removeHandler(capture);
            logger.setLevel(previous);
        }
        synchronized (records) {
            assertFalse(records.isEmpty(), "the retry after the 503 is logged");
            for (LogRecord record : records) {
                String line = new java.util.logging.SimpleFormatter().format(record);
                assertTrue(line.contains("X-Amz-Signature=****"), line);
                assertFalse(line.contains(SIGNATURE) || line.contains(TOKEN), line);
            }
        }
    }

    private static String printed(Throwable error) {
        StringWriter text = new StringWriter();
        error.printStackTrace(new PrintWriter(text));
        return text.toString();
    }

    @Test
    void aRedirectLoopIsAnErrorAfterTenHops() throws Exception {
        TestServer server = start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> redirect(response, callback, 302, "/loop"));
        IOException error = assertThrows(IOException.class, () -> Tests.open(server.uri("/loop")));
        assertTrue(error.getMessage().contains("more than 10 redirects"), error.getMessage());
        assertEquals(Transport.MAX_REDIRECTS + 1, server.requests.size());
    }

    @Test
    void aRedirectFromHttpsToPlainHttpIsNotFollowed() throws Exception {
        TestServer plain = start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> RESOURCE.serve(request, response, callback));
        TestServer secure = start(TestServer.Mode.HTTPS_1_1,
                (request, response, callback) -> redirect(response, callback, 301, plain.uri("/model.bin").toString()));
        IOException error = assertThrows(IOException.class, () -> Tests.open(secure.uri("/model.bin"),
                HttpOptions.TRUST_STORE, TestCertificates.trustStore().toString(), HttpOptions.TRUST_STORE_PASSWORD, TestCertificates.PASSWORD));
        assertTrue(error.getMessage().contains("from https to plain http"), error.getMessage());
        assertTrue(plain.requests.isEmpty());
    }
}
