package dev.anymap.s3server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

class S3ServerProcessTest {
    @Test
    void servesObjectsFromAChildProcessUntilClosed() throws Exception {
        byte[] content = new byte[1_234_567];
        new Random(3).nextBytes(content);
        long pid;
        try (S3ServerProcess server = S3ServerProcess.start()) {
            pid = server.pid();
            assertFalse(pid == ProcessHandle.current().pid());
            String commandLine = ProcessHandle.of(pid).orElseThrow().info().commandLine().orElse("");
            assertFalse(commandLine.contains(server.secretKey()), "the secret key is not on the child's command line");
            try (S3Client writer = server.newClient(); S3Client reader = server.newClient()) {
                writer.createBucket(b -> b.bucket("bucket"));
                writer.putObject(b -> b.bucket("bucket").key("a/b.bin"), RequestBody.fromBytes(content));
                assertArrayEquals(content, reader.getObjectAsBytes(b -> b.bucket("bucket").key("a/b.bin")).asByteArray());
                assertArrayEquals(java.util.Arrays.copyOfRange(content, 1000, 2000),
                        reader.getObjectAsBytes(b -> b.bucket("bucket").key("a/b.bin").range("bytes=1000-1999")).asByteArray());
            }
            assertEquals("http://127.0.0.1:" + server.endpoint().getPort(), server.backendOptions().get("endpoint"));
            assertEquals(server.secretKey(), server.backendOptions().get("secret-access-key"));
        }
        assertTrue(ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true), "the child is gone after close");
    }

    @Test
    void theChildExitsWhenItsParentDies() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process parent = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), ParentThatHangs.class.getName())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String line = new java.io.BufferedReader(new java.io.InputStreamReader(parent.getInputStream(), StandardCharsets.US_ASCII)).readLine();
        assertTrue(line != null, "the parent printed its child's pid");
        long child = Long.parseLong(line.strip());
        ProcessHandle handle = ProcessHandle.of(child).orElseThrow();
        parent.destroyForcibly().waitFor();
        // The child sees the end of its standard input and stops; onExit completes when it has.
        handle.onExit().get(60, TimeUnit.SECONDS);
        assertFalse(handle.isAlive());
    }

    /** A parent that starts a server, says the child's pid, and waits to be killed. */
    static final class ParentThatHangs {
        public static void main(String[] args) throws Exception {
            S3ServerProcess server = S3ServerProcess.start();
            System.out.println(server.pid());
            System.out.flush();
            Thread.sleep(Long.MAX_VALUE);
        }
    }

    @Test
    void aChildThatCannotStartFailsWithItsOutput(@TempDir Path directory) {
        Path missing = directory.resolve("no such parent");
        IOException failure = assertThrows(IOException.class, () -> S3ServerProcess.start(missing));
        assertTrue(failure.getMessage().contains("failed to start") && failure.getMessage().contains("no such parent"),
                failure.getMessage());
    }

    @Test
    void embeddedS3ServesInThisJvm() throws Exception {
        byte[] content = "for an S3 client under test".getBytes(StandardCharsets.UTF_8);
        Path directory;
        try (EmbeddedS3 server = EmbeddedS3.start(); S3Client client = server.newClient()) {
            directory = server.directory();
            client.createBucket(b -> b.bucket("tests"));
            client.putObject(b -> b.bucket("tests").key("k"), RequestBody.fromBytes(content));
            assertArrayEquals(content, client.getObjectAsBytes(b -> b.bucket("tests").key("k")).asByteArray());
            assertEquals(List.of("k"), client.listObjectsV2(b -> b.bucket("tests")).contents().stream().map(o -> o.key()).toList());
        }
        assertFalse(java.nio.file.Files.exists(directory), "its temporary directory is gone");
    }
}
