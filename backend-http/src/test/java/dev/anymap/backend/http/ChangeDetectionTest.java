package dev.anymap.backend.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A resource that changes while it is mapped: reads fail with ObjectChangedException, and never mix versions. */
class ChangeDetectionTest {
    private static final byte[] V1 = TestContent.random(31, 40_000);
    private static final byte[] V2 = TestContent.random(32, 40_000);
    private static final Instant T1 = Instant.parse("2025-03-01T10:00:00Z");

    private final AtomicReference<Served> current = new AtomicReference<>();
    private TestServer server;

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    /** A correct server of whatever version is current. */
    private void serveCurrent() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> current.get().serve(request, response, callback));
    }

    /** A server that sends the current version whatever the request's preconditions say. */
    private void serveCurrentIgnoringPreconditions() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            Served served = current.get();
            served.validators(response);
            long[] range = served.range(request);
            return range == null
                    ? served.send(request, response, callback, 200, 0, served.content().length - 1)
                    : served.send(request, response, callback, 206, range[0], range[1]);
        });
    }

    @Test
    void withAStrongEtagEveryGetCarriesIfMatchAndA412AfterAChangeFailsTheRead() throws Exception {
        current.set(Served.strong(V1, "v1"));
        serveCurrent();
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertEquals(ObjectVersion.etag("\"v1\""), backend.version());
            assertArrayEquals(Arrays.copyOfRange(V1, 100, 5000), Tests.read(backend, 100, 4900));
            current.set(Served.strong(V2, "v2"));
            ObjectChangedException error = assertThrows(ObjectChangedException.class, () -> Tests.read(backend, 100, 4900));
            assertTrue(error.getMessage().contains("412 Precondition Failed") && error.getMessage().contains("If-Match: \"v1\"")
                    && error.getMessage().contains("map it again"), error.getMessage());
        }
        assertEquals(2, server.requests("GET").size(), "a 412 is not retried");
        server.requests("GET").forEach(get -> assertEquals("\"v1\"", get.header("if-match"), get.toString()));
        try (StorageBackend reopened = Tests.open(server.uri("/model.bin"))) {
            assertEquals(ObjectVersion.etag("\"v2\""), reopened.version());
            assertArrayEquals(Arrays.copyOfRange(V2, 100, 5000), Tests.read(reopened, 100, 4900));
        }
    }

    @Test
    void withOnlyLastModifiedEveryGetCarriesIfUnmodifiedSince() throws Exception {
        current.set(Served.modified(V1, T1));
        serveCurrent();
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertEquals(ObjectVersion.modified(T1, V1.length), backend.version());
            assertArrayEquals(Arrays.copyOfRange(V1, 0, 100), Tests.read(backend, 0, 100));
            current.set(Served.modified(V2, T1.plusSeconds(10)));
            ObjectChangedException error = assertThrows(ObjectChangedException.class, () -> Tests.read(backend, 0, 100));
            assertTrue(error.getMessage().contains("If-Unmodified-Since: " + Served.modified(V1, T1).lastModifiedHeader()),
                    error.getMessage());
        }
        server.requests("GET").forEach(get -> {
            assertEquals(Served.modified(V1, T1).lastModifiedHeader(), get.header("if-unmodified-since"));
            assertNull(get.header("if-match"));
        });
    }

    @Test
    void aServerThatIgnoresPreconditionsGivesTheChangeAwayByItsEtagAndNoNewByteIsWritten() throws Exception {
        current.set(Served.strong(V1, "v1"));
        serveCurrentIgnoringPreconditions();
        try (StorageBackend backend = Tests.open(server.uri("/model.bin")); Arena arena = Arena.ofConfined()) {
            current.set(Served.strong(V2, "v2"));
            MemorySegment target = arena.allocate(4096);
            target.fill((byte) 0x5A);
            ObjectChangedException error = assertThrows(ObjectChangedException.class, () -> backend.read(8192, target));
            assertTrue(error.getMessage().contains("ETag is now \"v2\""), error.getMessage());
            byte[] untouched = new byte[4096];
            Arrays.fill(untouched, (byte) 0x5A);
            assertArrayEquals(untouched, target.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void withoutValidatorsAChangeOfSizeInContentRangeIsStillCaught() throws Exception {
        current.set(new Served(V1, null, null));
        serveCurrentIgnoringPreconditions();
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            assertArrayEquals(Arrays.copyOfRange(V1, 0, 10), Tests.read(backend, 0, 10));
            current.set(new Served(Arrays.copyOf(V1, V1.length + 1), null, null));
            ObjectChangedException error = assertThrows(ObjectChangedException.class, () -> Tests.read(backend, 0, 10));
            assertTrue(error.getMessage().contains("size is now " + (V1.length + 1) + " bytes"), error.getMessage());
        }
        server.requests("GET").forEach(get -> {
            assertNull(get.header("if-match"));
            assertNull(get.header("if-unmodified-since"));
        });
    }

    @Test
    void withoutValidatorsEachOpenHasAVersionOfItsOwn() throws Exception {
        current.set(new Served(V1, null, null));
        serveCurrent();
        try (StorageBackend first = Tests.open(server.uri("/model.bin")); StorageBackend second = Tests.open(server.uri("/model.bin"))) {
            // Nothing says the two opens saw the same bytes, so no cache may treat them as one version.
            assertNotEquals(first.version(), second.version());
            assertEquals(first.version(), first.version());
        }
    }

    @Test
    void aResourceDeletedAfterOpenIsAChange() throws Exception {
        current.set(Served.strong(V1, "v1"));
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            if (request.getMethod().equals("HEAD")) {
                return current.get().serve(request, response, callback);
            }
            response.setStatus(404);
            callback.succeeded();
            return true;
        });
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            ObjectChangedException error = assertThrows(ObjectChangedException.class, () -> Tests.read(backend, 0, 10));
            assertTrue(error.getMessage().contains("404 Not Found"), error.getMessage());
        }
    }
}
