package dev.anymap.backend.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The opt-in fallback for servers that ignore ranges: one whole download at open, then reads from a private copy. */
class FullDownloadTest {
    private static final byte[] CONTENT = TestContent.random(61, 200_000);

    private final List<AutoCloseable> servers = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable server : servers) {
            server.close();
        }
    }

    private static List<Path> downloads() throws IOException {
        try (Stream<Path> files = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return files.filter(file -> file.getFileName().toString().startsWith("anymap-http-")
                    && file.getFileName().toString().endsWith(".download")).toList();
        }
    }

    @Test
    void theProbesOwnAnswerIsTheDownloadKeptAsTheLocalFileUntilClose() throws Exception {
        Served served = Served.strong(CONTENT, "whole");
        TestServer server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            response.getHeaders().put(HttpHeader.ETAG, served.etag());
            return served.send(request, response, callback, 200, 0, CONTENT.length - 1);
        });
        servers.add(server);
        List<Path> before = downloads();
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"), HttpOptions.ALLOW_FULL_DOWNLOAD, "true")) {
            assertInstanceOf(DownloadedBackend.class, backend);
            assertEquals(CONTENT.length, backend.size());
            assertEquals(ObjectVersion.etag("\"whole\""), backend.version());
            Path copy = backend.localFile().orElseThrow();
            List<Path> during = new java.util.ArrayList<>(downloads());
            during.removeAll(before);
            assertEquals(List.of(copy), during, "the private copy is the local file the kernel may map, while open");
            assertArrayEquals(CONTENT, Files.readAllBytes(copy));
            MemorySegment view = backend.view().orElseThrow();
            assertTrue(view.isReadOnly());
            assertArrayEquals(CONTENT, view.toArray(ValueLayout.JAVA_BYTE));
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 77_777, 177_777), Tests.read(backend, 77_777, 100_000));
        }
        assertEquals(before, downloads(), "the private copy is removed at close");
        assertEquals(List.of("HEAD", "GET"), server.requests.stream().map(TestServer.Seen::method).toList());
    }

    @Test
    void aDownloadCutShortIsStartedAgainForTheSameVersion() throws Exception {
        RawServer server = new RawServer((request, out) -> {
            boolean head = request.method().equals("HEAD");
            RawServer.head(out, "200 OK", "Content-Length: " + CONTENT.length, "ETag: \"whole\"");
            if (!head) {
                out.write(CONTENT, 0, request.number() == 2 ? 50_000 : CONTENT.length);
            }
            return head || request.number() > 2;
        });
        servers.add(server);
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"), HttpOptions.ALLOW_FULL_DOWNLOAD, "true")) {
            assertArrayEquals(CONTENT, Tests.read(backend, 0, CONTENT.length));
        }
        assertEquals(3, server.requests.size());
        assertEquals("bytes=0-0", server.requests.get(1).header("range"));
        assertNull(server.requests.get(2).header("range"));
        assertEquals("\"whole\"", server.requests.get(2).header("if-match"));
    }

    @Test
    void aResourceThatChangesBetweenTwoDownloadAttemptsFailsTheOpen() throws Exception {
        RawServer server = new RawServer((request, out) -> {
            if (request.method().equals("HEAD")) {
                RawServer.head(out, "200 OK", "Content-Length: " + CONTENT.length, "ETag: \"whole\"");
                return true;
            }
            if (request.number() == 2) {
                RawServer.head(out, "200 OK", "Content-Length: " + CONTENT.length, "ETag: \"whole\"");
                out.write(CONTENT, 0, 1000);
                return false;
            }
            RawServer.head(out, "412 Precondition Failed", "Content-Length: 0");
            return true;
        });
        servers.add(server);
        ObjectChangedException error = assertThrows(ObjectChangedException.class,
                () -> Tests.open(server.uri("/model.bin"), HttpOptions.ALLOW_FULL_DOWNLOAD, "true"));
        assertTrue(error.getMessage().contains("412") && error.getMessage().contains("while it was downloaded"), error.getMessage());
    }

    @Test
    void aBodyOfUnknownLengthIsDownloadedToItsEnd() throws Exception {
        RawServer server = new RawServer((request, out) -> {
            if (request.method().equals("HEAD")) {
                RawServer.head(out, "405 Method Not Allowed", "Content-Length: 0");
                return true;
            }
            RawServer.head(out, "200 OK", "Transfer-Encoding: chunked", "Last-Modified: Sat, 01 Mar 2025 10:00:00 GMT");
            for (int offset = 0; offset < CONTENT.length; offset += 30_000) {
                int length = Math.min(30_000, CONTENT.length - offset);
                out.write((Integer.toHexString(length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(CONTENT, offset, length);
                out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
            }
            out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            return true;
        });
        servers.add(server);
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"), HttpOptions.ALLOW_FULL_DOWNLOAD, "true")) {
            assertEquals(CONTENT.length, backend.size());
            assertEquals("modified:2025-03-01T10:00:00Z/" + CONTENT.length, backend.version().toString());
            assertArrayEquals(CONTENT, Tests.read(backend, 0, CONTENT.length));
        }
    }
}
