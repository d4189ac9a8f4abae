package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** One S3 client per configuration, however many objects are mapped, and none left open for nothing. */
@ExtendWith(S3ServerExtension.class)
class S3ClientsTest {
    private static S3TestServer server;
    private static URI uri;
    private static byte[] content;

    @BeforeAll
    static void store(S3TestServer s3) {
        server = s3;
        content = GeneratedContent.bytes(31, 0, 10_000);
        uri = server.put("shared.bin", content);
    }

    @Test
    void aThousandBackendsWithTheSameOptionsShareOneClient() throws IOException {
        S3Clients clients = new S3Clients(Duration.ofDays(1));
        S3BackendProvider provider = new S3BackendProvider(clients);
        List<StorageBackend> backends = new ArrayList<>();
        try {
            for (int i = 0; i < 1000; i++) {
                backends.add(provider.open(uri, server.options()));
            }
            assertEquals(1, clients.built());
            byte[] read = new byte[100];
            backends.get(999).read(500, MemorySegment.ofArray(read));
            assertArrayEquals(java.util.Arrays.copyOfRange(content, 500, 600), read);
        } finally {
            for (StorageBackend backend : backends) {
                backend.close();
            }
            clients.closeAll();
        }
    }

    @Test
    void differentEndpointsCredentialsOrPoolsGetClientsOfTheirOwn() throws IOException {
        S3Clients clients = new S3Clients(Duration.ofDays(1));
        S3BackendProvider provider = new S3BackendProvider(clients);
        Map<String, String> bigPool = new HashMap<>(server.options());
        bigPool.put(S3Settings.MAX_CONNECTIONS, "512");
        // The same server under another name is another endpoint, as far as a client cache can tell.
        URI endpoint = server.endpoint();
        String otherName = endpoint.getHost().equals("localhost") ? "127.0.0.1" : "localhost";
        Map<String, String> viaLocalhost = new HashMap<>(server.options(URI.create(
                endpoint.getScheme() + "://" + otherName + ":" + endpoint.getPort())));
        try (StorageBackend a = provider.open(uri, server.options());
                StorageBackend b = provider.open(uri, new HashMap<>(server.options()));
                StorageBackend c = provider.open(uri, bigPool);
                StorageBackend d = provider.open(uri, viaLocalhost)) {
            assertEquals(3, clients.built());
            for (StorageBackend backend : List.of(b, c, d)) {
                assertEquals(a.version(), backend.version());
            }
        } finally {
            clients.closeAll();
        }
    }

    @Test
    void aClientNobodyUsesIsClosedAndTheNextOpenBuildsAnother() throws IOException {
        S3Clients clients = new S3Clients(Duration.ZERO);
        S3BackendProvider provider = new S3BackendProvider(clients);
        StorageBackend first = provider.open(uri, server.options());
        StorageBackend second = provider.open(uri, server.options());
        first.close();
        assertEquals(1, clients.open(), "still leased by the second backend");
        first.close();
        assertEquals(1, clients.open(), "a second close of one backend gives nothing back twice");
        second.close();
        assertEquals(0, clients.open());
        try (StorageBackend third = provider.open(uri, server.options())) {
            assertEquals(2, clients.built());
            third.read(0, MemorySegment.ofArray(new byte[10]));
        }
        assertEquals(0, clients.open());
    }

    @Test
    void anIdleClientIsKeptForTheNextOpenUntilItsDelayRunsOut() throws IOException {
        S3Clients clients = new S3Clients(Duration.ofDays(1));
        S3BackendProvider provider = new S3BackendProvider(clients);
        provider.open(uri, server.options()).close();
        assertEquals(1, clients.open());
        provider.open(uri, server.options()).close();
        assertEquals(1, clients.built(), "reused, not rebuilt");
        clients.closeAll();
        assertEquals(0, clients.open());
    }

    @Test
    void aFailedOpenGivesItsClientBack() {
        S3Clients clients = new S3Clients(Duration.ZERO);
        S3BackendProvider provider = new S3BackendProvider(clients);
        assertThrows(IOException.class, () -> provider.open(server.uri("missing.bin"), server.options()));
        assertEquals(0, clients.open());
    }

    @Test
    void credentialsComeFromTheSdksDefaultChainWhenNoOptionGivesThem() throws IOException {
        S3Clients clients = new S3Clients(Duration.ZERO);
        Map<String, String> options = new HashMap<>(server.options());
        options.remove(S3Settings.ACCESS_KEY_ID);
        options.remove(S3Settings.SECRET_ACCESS_KEY);
        System.setProperty("aws.accessKeyId", server.accessKey());
        System.setProperty("aws.secretAccessKey", server.secretKey());
        try (StorageBackend backend = new S3BackendProvider(clients).open(uri, options)) {
            byte[] read = new byte[10];
            backend.read(0, MemorySegment.ofArray(read));
            assertArrayEquals(java.util.Arrays.copyOf(content, 10), read);
        } finally {
            System.clearProperty("aws.accessKeyId");
            System.clearProperty("aws.secretAccessKey");
        }
    }

    @Test
    void theProfileOptionReadsCredentialsAndRegionFromTheAwsConfigFiles(@TempDir Path home) throws IOException {
        Path credentials = Files.writeString(home.resolve("credentials"), "[anymap-test]\naws_access_key_id = "
                + server.accessKey() + "\naws_secret_access_key = " + server.secretKey() + "\n");
        Path config = Files.writeString(home.resolve("config"), "[profile anymap-test]\nregion = " + server.region() + "\n");
        S3Clients clients = new S3Clients(Duration.ZERO);
        Map<String, String> options = new HashMap<>(server.options());
        options.remove(S3Settings.ACCESS_KEY_ID);
        options.remove(S3Settings.SECRET_ACCESS_KEY);
        options.remove(S3Settings.REGION);
        options.put(S3Settings.PROFILE, "anymap-test");
        System.setProperty("aws.sharedCredentialsFile", credentials.toString());
        System.setProperty("aws.configFile", config.toString());
        try (StorageBackend backend = new S3BackendProvider(clients).open(uri, options)) {
            assertEquals(content.length, backend.size());
        } finally {
            System.clearProperty("aws.sharedCredentialsFile");
            System.clearProperty("aws.configFile");
        }
        // Without the files the same profile does not exist: the open above did depend on them.
        assertThrows(IOException.class, () -> new S3BackendProvider(clients).open(uri, options));
    }
}
