package dev.anymap.backend.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The provider as users meet it: discovery, options, credentials, TLS, HTTP versions, shared clients, close. */
class HttpBackendProviderTest {
    private static final byte[] CONTENT = TestContent.random(71, 20_000);
    private static final Served RESOURCE = Served.strong(CONTENT, "p1");
    private static final String SECRET = "s3cr3t-value-that-must-not-leak";

    private final List<AutoCloseable> servers = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable server : servers) {
            server.close();
        }
    }

    private TestServer serve(TestServer.Mode mode) throws Exception {
        TestServer server = TestServer.start(mode, (request, response, callback) -> RESOURCE.serve(request, response, callback));
        servers.add(server);
        return server;
    }

    @Test
    void theServiceLoaderFindsItForHttpAndHttps() {
        BackendRegistry registry = BackendRegistry.load();
        assertEquals("http", registry.provider(URI.create("http://example.com/a")).name());
        assertEquals("http", registry.provider(URI.create("https://example.com/a")).name());
        assertEquals(Set.of("http", "https"), new HttpBackendProvider().schemes());
    }

    @Test
    void everyOptionThatCanHoldACredentialIsSecretAndRedacted() {
        BackendProvider provider = new HttpBackendProvider();
        assertTrue(provider.supportedOptions().containsAll(provider.secretOptions()));
        Map<String, String> redacted = provider.redact(Map.of(HttpOptions.AUTHORIZATION, SECRET, HttpOptions.BEARER_TOKEN, SECRET,
                HttpOptions.HEADERS, "X-Api-Key: " + SECRET, HttpOptions.TRUST_STORE_PASSWORD, SECRET, HttpOptions.MAX_ATTEMPTS, "3"));
        assertFalse(redacted.toString().contains(SECRET), redacted.toString());
        assertEquals("3", redacted.get(HttpOptions.MAX_ATTEMPTS));
    }

    @ParameterizedTest(name = "{0}={1}")
    @CsvSource(delimiter = '|', value = {
        "max-attempts|0|max-attempts is a whole number above 0",
        "read-timeout-ms|soon|read-timeout-ms is a whole number above 0",
        "http-version|3|http-version is auto, 1.1 or 2",
        "allow-full-download|yes|allow-full-download is true or false",
        "headers|Range: bytes=0-10|header Range is set by the http backend itself",
        "headers|X-Api-Key s3cr3t-value-that-must-not-leak|a line is not 'Name: value'",
        "headers|Bad Name: s3cr3t-value-that-must-not-leak|'Bad Name' is not a valid header name",
        "trust-store-password|s3cr3t-value-that-must-not-leak|trust-store-password is given without trust-store",
        "no-such-option|1|option 'no-such-option' is not one the 'http' backend understands"})
    void aBadOptionIsRefusedBeforeAnyRequestWithoutQuotingSecrets(String key, String value, String expected) {
        URI uri = URI.create("http://127.0.0.1:9/model.bin");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> new HttpBackendProvider().open(uri, Map.of(key, value)));
        assertTrue(error.getMessage().contains(expected), error.getMessage());
        assertFalse(error.getMessage().contains(SECRET), error.getMessage());
    }

    @Test
    void aHeaderValueWithAControlCharacterIsRefusedWithoutQuotingIt() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> new HttpBackendProvider()
                .open(URI.create("http://127.0.0.1:9/x"), Map.of(HttpOptions.AUTHORIZATION, SECRET + "\u0000")));
        assertTrue(error.getMessage().contains("control characters"), error.getMessage());
        assertFalse(error.getMessage().contains(SECRET), error.getMessage());
    }

    @Test
    void headersBearerTokenAndUserInfoAreSentAsGiven() throws Exception {
        TestServer server = serve(TestServer.Mode.HTTP_1_1);
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"), HttpOptions.BEARER_TOKEN, SECRET,
                HttpOptions.HEADERS, "X-Api-Key: k1\nCookie: session=c1")) {
            Tests.read(backend, 0, 10);
        }
        URI withUserInfo = URI.create("http://user:p%40ss@127.0.0.1:" + server.port() + "/model.bin");
        try (StorageBackend backend = Tests.open(withUserInfo)) {
            Tests.read(backend, 0, 10);
            assertFalse(backend.toString().contains("p%40ss") || backend.toString().contains("p@ss"), backend.toString());
        }
        List<TestServer.Seen> seen = server.requests;
        assertEquals(4, seen.size());
        for (TestServer.Seen request : seen.subList(0, 2)) {
            assertEquals("Bearer " + SECRET, request.header("authorization"));
            assertEquals("k1", request.header("x-api-key"));
            assertEquals("session=c1", request.header("cookie"));
        }
        String basic = "Basic " + Base64.getEncoder().encodeToString("user:p@ss".getBytes(StandardCharsets.UTF_8));
        seen.subList(2, 4).forEach(request -> assertEquals(basic, request.header("authorization")));
    }

    @Test
    void refusedCredentialsAreNamedButNeverQuoted() throws Exception {
        TestServer server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            response.setStatus(401);
            callback.succeeded();
            return true;
        });
        servers.add(server);
        AccessDeniedException error = assertThrows(AccessDeniedException.class,
                () -> Tests.open(server.uri("/model.bin"), HttpOptions.AUTHORIZATION, "Token " + SECRET));
        assertTrue(error.getMessage().contains("401 Unauthorized") && error.getMessage().contains("credentials given were refused"),
                error.getMessage());
        assertFalse(error.getMessage().contains(SECRET), error.getMessage());
        assertEquals(1, server.requests.size(), "a 401 is not retried");
    }

    @ParameterizedTest(name = "{0} asked for {1}")
    @CsvSource({"HTTPS_2, auto, HTTP/2.0", "HTTPS_2, 1.1, HTTP/1.1", "H2C, auto, HTTP/1.1", "HTTPS_1_1, 2, HTTP/1.1"})
    void theHttpVersionOptionChoosesWhatIsSpoken(TestServer.Mode mode, String asked, String spoken) throws Exception {
        TestServer server = serve(mode);
        Map<String, String> options = new java.util.HashMap<>(server.clientOptions());
        options.put(HttpOptions.HTTP_VERSION, asked);
        try (StorageBackend backend = BackendRegistry.load().open(server.uri("/model.bin"), options)) {
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 10, 20), Tests.read(backend, 10, 10));
        }
        assertEquals(Set.of(spoken), server.requests.stream().map(TestServer.Seen::version).collect(Collectors.toSet()));
    }

    @Test
    void theJdkProxyPropertiesAreHonoured() throws Exception {
        TestServer proxy = serve(TestServer.Mode.HTTP_1_1);
        Map<String, String> saved = new java.util.HashMap<>();
        for (String key : List.of("http.proxyHost", "http.proxyPort", "http.nonProxyHosts")) {
            saved.put(key, System.getProperty(key));
        }
        System.setProperty("http.proxyHost", "127.0.0.1");
        System.setProperty("http.proxyPort", String.valueOf(proxy.port()));
        // The default exempts loopback addresses, which is all these tests may use.
        System.setProperty("http.nonProxyHosts", "");
        // A name that resolves nowhere: only the proxy can answer for it.
        URI unreachable = URI.create("http://storage.invalid:8099/model.bin");
        try (StorageBackend backend = Tests.open(unreachable)) {
            assertArrayEquals(Arrays.copyOfRange(CONTENT, 5, 15), Tests.read(backend, 5, 10));
        } finally {
            saved.forEach((key, value) -> {
                if (value == null) {
                    System.clearProperty(key);
                } else {
                    System.setProperty(key, value);
                }
            });
        }
        assertEquals(2, proxy.requests.size());
        proxy.requests.forEach(seen -> assertEquals("storage.invalid:8099", seen.header("host"), seen.toString()));
    }

    @Test
    void aCertificateThatIsNotTrustedFailsTheOpenNamingTheTrustStoreOption() throws Exception {
        TestServer server = serve(TestServer.Mode.HTTPS_1_1);
        IOException error = assertThrows(IOException.class, () -> Tests.open(server.uri("/model.bin")));
        assertTrue(error.getMessage().contains("is not trusted") && error.getMessage().contains("option trust-store"),
                error.getMessage());
        assertTrue(server.requests.isEmpty());
    }

    @Test
    void aWrongTrustStorePasswordIsAnErrorThatDoesNotQuoteIt() throws Exception {
        TestServer server = serve(TestServer.Mode.HTTPS_1_1);
        IOException error = assertThrows(IOException.class, () -> Tests.open(server.uri("/model.bin"),
                HttpOptions.TRUST_STORE, TestCertificates.trustStore().toString(), HttpOptions.TRUST_STORE_PASSWORD, SECRET));
        assertTrue(error.getMessage().contains("cannot use trust store"), error.getMessage());
        assertFalse(error.getMessage().contains(SECRET), error.getMessage());
    }

    @Test
    void backendsWithTheSameSettingsShareOneClientWhichEndsWithTheLastOfThem() throws Exception {
        TestServer server = serve(TestServer.Mode.HTTP_1_1);
        StorageBackend first = Tests.open(server.uri("/model.bin"), HttpOptions.MAX_ATTEMPTS, "2");
        StorageBackend second = Tests.open(server.uri("/model.bin"), HttpOptions.BEARER_TOKEN, "other");
        StorageBackend third = Tests.open(server.uri("/model.bin"), HttpOptions.CONNECT_TIMEOUT_MS, "1234");
        HttpClient shared = ((RangeBackend) first).transport().client();
        assertSame(shared, ((RangeBackend) second).transport().client(), "headers and attempts do not split the pool");
        assertNotSame(shared, ((RangeBackend) third).transport().client(), "a connect timeout does");
        third.close();
        first.close();
        assertArrayEquals(Arrays.copyOfRange(CONTENT, 0, 100), Tests.read(second, 0, 100), "the client outlives a backend that used it");
        assertFalse(shared.isTerminated());
        second.close();
        assertTrue(shared.awaitTermination(Duration.ofSeconds(10)), "the last backend shuts the client down");
    }

    @Test
    void closeFailsAReadThatWaitsOnAStalledBodyAtOnceAndLaterReadsToo() throws Exception {
        CountDownLatch stalled = new CountDownLatch(1);
        RawServer[] self = new RawServer[1];
        RawServer server = new RawServer((request, out) -> {
            if (request.method().equals("HEAD")) {
                RawServer.head(out, "200 OK", "Content-Length: " + CONTENT.length, "Accept-Ranges: bytes", "ETag: \"p1\"");
                return true;
            }
            RawServer.head(out, "206 Partial Content", "Content-Length: 10000", "Content-Range: bytes 0-9999/" + CONTENT.length);
            out.write(CONTENT, 0, 100);
            out.flush();
            stalled.countDown();
            self[0].hold();
            return false;
        });
        self[0] = server;
        servers.add(server);
        StorageBackend backend = Tests.open(server.uri("/model.bin"));
        CompletableFuture<byte[]> read = CompletableFuture.supplyAsync(() -> {
            try {
                return Tests.read(backend, 0, 10_000);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        assertTrue(stalled.await(10, TimeUnit.SECONDS));
        backend.close();
        // The default read timeout is 30 s: an answer within 10 s comes from close, not from the timeout.
        ExecutionException failed = assertThrows(ExecutionException.class, () -> read.get(10, TimeUnit.SECONDS));
        assertInstanceOf(BackendClosedException.class, failed.getCause().getCause(), failed.getCause().toString());
        assertThrows(BackendClosedException.class, () -> Tests.read(backend, 0, 1));
        backend.close();
    }

    @Test
    void anInterruptedReaderStopsWaitingAndKeepsItsInterrupt() throws Exception {
        CountDownLatch stalled = new CountDownLatch(1);
        RawServer[] self = new RawServer[1];
        RawServer server = new RawServer((request, out) -> {
            if (request.method().equals("HEAD")) {
                RawServer.head(out, "200 OK", "Content-Length: " + CONTENT.length, "Accept-Ranges: bytes");
                return true;
            }
            stalled.countDown();
            self[0].hold();
            return false;
        });
        self[0] = server;
        servers.add(server);
        try (StorageBackend backend = Tests.open(server.uri("/model.bin"))) {
            CompletableFuture<Throwable> outcome = new CompletableFuture<>();
            Thread reader = Thread.ofPlatform().start(() -> {
                try {
                    Tests.read(backend, 0, 100);
                    outcome.complete(null);
                } catch (Throwable t) {
                    outcome.complete(Thread.currentThread().isInterrupted() ? t : new AssertionError("interrupt lost", t));
                }
            });
            assertTrue(stalled.await(10, TimeUnit.SECONDS));
            reader.interrupt();
            assertInstanceOf(InterruptedIOException.class, outcome.get(10, TimeUnit.SECONDS));
        }
    }
}
