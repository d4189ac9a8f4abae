package dev.anymap.backend.s3;

import dev.anymap.s3server.EmbeddedS3;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/** Which S3 server this run's tests use, and that EmbeddedS3's backend options reach it. */
@ExtendWith(S3ServerExtension.class)
class S3ServerTest {
    @Test
    void reportsWhichServerTheTestsUse(S3TestServer server) throws Exception {
        boolean docker = S3ServerExtension.dockerAvailable();
        System.out.println("S3 tests run against " + server + " (Docker engine available: " + docker + ")");
        String expected = System.getProperty(S3ServerExtension.CHOICE_PROPERTY, docker ? "minio" : "s3proxy");
        assertTrue(server.kind().toLowerCase(Locale.ROOT).startsWith(expected), server.kind() + " but expected " + expected);
        byte[] content = GeneratedContent.bytes(41, 0, 1000);
        URI uri = server.put("roundtrip.bin", content);
        assertArrayEquals(content, server.get(uri));
    }

    @Test
    void embeddedS3IsAllADemoNeedsToMapAnObject() throws Exception {
        byte[] content = GeneratedContent.bytes(42, 0, 70_000);
        Path directory;
        try (EmbeddedS3 s3 = EmbeddedS3.start(); S3Client client = s3.newClient()) {
            directory = s3.directory();
            client.createBucket(b -> b.bucket("demo"));
            client.putObject(b -> b.bucket("demo").key("data.bin"), RequestBody.fromBytes(content));
            try (StorageBackend backend = BackendRegistry.load().open(URI.create("s3://demo/data.bin"), s3.backendOptions())) {
                byte[] read = new byte[content.length];
                backend.read(0, MemorySegment.ofArray(read));
                assertArrayEquals(content, read);
            }
        }
        assertTrue(Files.notExists(directory), "its temporary directory is gone");
    }
}
