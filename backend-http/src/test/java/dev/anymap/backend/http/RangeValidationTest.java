package dev.anymap.backend.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Servers that answer ranged requests with something else than the range asked for. */
class RangeValidationTest {
    private static final byte[] CONTENT = TestContent.random(21, 50_000);
    private static final Served RESOURCE = Served.strong(CONTENT, "v1");

    private TestServer server;

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void aServerThatIgnoresRangesIsRefusedAtOpenWithTheOptionThatWouldAllowIt() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            // No Accept-Ranges, and a 200 with everything to a request for one byte.
            response.getHeaders().put(HttpHeader.ETAG, RESOURCE.etag());
            return RESOURCE.send(request, response, callback, 200, 0, CONTENT.length - 1);
        });
        IOException error = assertThrows(IOException.class, () -> Tests.open(server.uri("/model.bin")));
        assertTrue(error.getMessage().contains("ignores byte ranges") && error.getMessage().contains("allow-full-download=true")
                && error.getMessage().contains(String.valueOf(CONTENT.length)), error.getMessage());
        assertEquals(List.of("HEAD", "GET"), server.requests.stream().map(TestServer.Seen::method).toList());
        assertEquals("bytes=0-0", server.requests.get(1).header("range"));
    }

    @Test
    void aServerThatStopsServingRangesAfterOpenFailsTheReadButMayAnswerAWholeReadWhole() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            if (request.getMethod().equals("HEAD")) {
                return RESOURCE.serve(request, response, callback);
            }
            RESOURCE.validators(response);
            return RESOURCE.send(request, response, callback, 200, 0, CONTENT.length - 1);
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            IOException error = assertThrows(IOException.class, () -> Tests.read(backend, 100, 4096));
            assertTrue(error.getMessage().contains("ignored the Range header") && error.getMessage().contains("200 OK"),
                    error.getMessage());
            assertEquals(1, server.requests("GET").size(), "a server that ignores ranges is not asked again");
            assertArrayEquals(CONTENT, Tests.read(backend, 0, CONTENT.length));
        }
    }

    @Test
    void a206WithAnotherRangeThanAskedForIsAnError() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            long[] range = RESOURCE.range(request);
            if (request.getMethod().equals("HEAD") || range[0] == 0) {
                return RESOURCE.serve(request, response, callback);
            }
            // One byte off: the bytes are real, but not the ones asked for.
            RESOURCE.validators(response);
            return RESOURCE.send(request, response, callback, 206, range[0] + 1, range[1] + 1);
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 0, 1000), Tests.read(backend, 0, 1000));
            IOException error = assertThrows(IOException.class, () -> Tests.read(backend, 4096, 4096));
            assertTrue(error.getMessage().contains("GET bytes 4096-8191 with bytes 4097-8192")
                    && error.getMessage().contains("not the range asked for"), error.getMessage());
            assertEquals(2, server.requests("GET").size(), "a wrong range is not retried");
        }
    }

    @Test
    void a206WithoutContentRangeIsAnError() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            if (request.getMethod().equals("HEAD")) {
                return RESOURCE.serve(request, response, callback);
            }
            long[] range = RESOURCE.range(request);
            return RESOURCE.send(request, response, callback, 206, range[0], range[1], null);
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            IOException error = assertThrows(IOException.class, () -> Tests.read(backend, 10, 10));
            assertTrue(error.getMessage().contains("without a Content-Range"), error.getMessage());
        }
    }

    @Test
    void a416IsAnErrorNamingTheSize() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            if (request.getMethod().equals("HEAD")) {
                return RESOURCE.serve(request, response, callback);
            }
            RESOURCE.validators(response);
            response.setStatus(416);
            response.getHeaders().put(HttpHeader.CONTENT_RANGE, "bytes */" + CONTENT.length);
            callback.succeeded();
            return true;
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            IOException error = assertThrows(IOException.class, () -> Tests.read(backend, 1000, 10));
            assertTrue(error.getMessage().contains("416 Range Not Satisfiable") && error.getMessage().contains("GET bytes 1000-1009")
                    && error.getMessage().contains(CONTENT.length + " bytes"), error.getMessage());
            assertEquals(1, server.requests("GET").size(), "a 416 is not retried");
        }
    }

    @Test
    void a416ThatGivesAnotherSizeSaysTheObjectChanged() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            if (request.getMethod().equals("HEAD")) {
                return RESOURCE.serve(request, response, callback);
            }
            response.setStatus(416);
            response.getHeaders().put(HttpHeader.CONTENT_RANGE, "bytes */500");
            callback.succeeded();
            return true;
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            ObjectChangedException error = assertThrows(ObjectChangedException.class, () -> Tests.read(backend, 1000, 10));
            assertTrue(error.getMessage().contains("size is now 500 bytes"), error.getMessage());
        }
    }

    @Test
    void aCompressedBodyIsRefusedSinceItsRangesAreNotRangesOfTheResource() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            response.getHeaders().put(HttpHeader.CONTENT_ENCODING, "gzip");
            return RESOURCE.serve(request, response, callback);
        });
        IOException error = assertThrows(IOException.class, () -> Tests.open(server.uri("/model.bin")));
        assertTrue(error.getMessage().contains("Content-Encoding: gzip"), error.getMessage());
        assertEquals("identity", server.requests.getFirst().header("accept-encoding"));
    }

    @ParameterizedTest(name = "HEAD answered {0}")
    @ValueSource(ints = {403, 405, 501})
    void whereHeadIsRefusedARangedGetLearnsTheSizeAndVersion(int headStatus) throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            if (request.getMethod().equals("HEAD")) {
                response.setStatus(headStatus);
                callback.succeeded();
                return true;
            }
            return RESOURCE.serve(request, response, callback);
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertEquals(CONTENT.length, backend.size());
            assertEquals("etag:\"v1\"", backend.version().toString());
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 30_000, 50_000), Tests.read(backend, 30_000, 20_000));
        }
        assertEquals("bytes=0-0", server.requests.get(1).header("range"));
        assertEquals("\"v1\"", server.requests.get(2).header("if-match"));
    }

    @Test
    void aRangeProbeThatDoesNotGiveTheSizeIsRefused() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            if (request.getMethod().equals("HEAD")) {
                response.setStatus(405);
                callback.succeeded();
                return true;
            }
            return RESOURCE.send(request, response, callback, 206, 0, 0, "bytes 0-0/*");
        });
        IOException error = assertThrows(IOException.class, () -> Tests.open(server.uri("/model.bin")));
        assertTrue(error.getMessage().contains("does not say how large it is"), error.getMessage());
    }
}
