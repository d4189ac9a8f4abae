package dev.anymap.backend.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.eclipse.jetty.server.handler.ResourceHandler;
import org.eclipse.jetty.util.resource.ResourceFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The SPI test kit against files served by Jetty's own ResourceHandler (ETags, Last-Modified, byte
 * ranges), reached through the service loader as a user would. Each subclass speaks one way: HTTP/1.1
 * or HTTP/2, plain or TLS with a certificate made for the test.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class HttpContractTest extends StorageBackendContract {
    private final AtomicInteger names = new AtomicInteger();
    private Path dir;
    private TestServer server;

    abstract TestServer.Mode mode();

    @BeforeAll
    void startServer() throws Exception {
        dir = Files.createTempDirectory("anymap-http-contract-");
        ResourceHandler files = new ResourceHandler();
        files.setBaseResource(ResourceFactory.root().newResource(dir));
        files.setEtags(true);
        files.setDirAllowed(false);
        server = TestServer.start(mode(), files);
    }

    @AfterAll
    void stopServer() throws Exception {
        server.close();
        try (var files = Files.list(dir)) {
            for (Path file : files.toList()) {
                Files.delete(file);
            }
        }
        Files.delete(dir);
    }

    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        String file = names.incrementAndGet() + "-" + name + ".bin";
        Files.write(dir.resolve(file), content);
        return BackendRegistry.load().open(server.uri("/" + file), server.clientOptions());
    }

    @Test
    void everyRequestWentOverTheWireProtocolUnderTestAndEveryGetWasPreconditioned() throws Exception {
        try (StorageBackend backend = store("protocol", new byte[10_000])) {
            backend.read(5000, java.lang.foreign.MemorySegment.ofArray(new byte[100]));
            backend.read(0, java.lang.foreign.MemorySegment.ofArray(new byte[100]));
        }
        Set<String> versions = server.requests.stream().map(TestServer.Seen::version).collect(Collectors.toSet());
        assertTrue(versions.contains(mode().serverVersion), "versions seen: " + versions);
        if (mode() != TestServer.Mode.H2C) {
            // h2c starts each connection with one HTTP/1.1 request, which the upgrade answers; the rest is HTTP/2.
            assertEquals(Set.of(mode().serverVersion), versions);
        }
        var gets = server.requests("GET");
        assertFalse(gets.isEmpty());
        for (TestServer.Seen get : gets) {
            assertEquals("identity", get.header("accept-encoding"), get.toString());
            // Jetty's file ETags are weak, so the precondition is the modification time.
            assertTrue(get.header("if-unmodified-since") != null || get.header("if-match") != null, get.toString());
            assertTrue(get.header("range") != null, get.toString());
        }
    }
}
