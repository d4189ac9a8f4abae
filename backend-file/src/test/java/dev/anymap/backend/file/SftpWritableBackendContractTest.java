package dev.anymap.backend.file;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.testkit.WritableBackendContract;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/** The write kit against a real SFTP server, whose files the kit reads directly as the stored bytes. */
class SftpWritableBackendContractTest extends WritableBackendContract {
    @TempDir
    static Path root;

    private static SftpTestServer server;

    @BeforeAll
    static void startServer() throws Exception {
        server = SftpTestServer.start(root);
    }

    @AfterAll
    static void stopServer() throws Exception {
        server.close();
    }

    @Override
    protected BackendProvider provider() {
        return new VfsBackendProvider();
    }

    @Override
    protected Map<String, String> options() {
        return Map.of(VfsOptions.SFTP_PASSWORD, SftpTestServer.PASSWORD, VfsOptions.SFTP_STRICT_HOST_KEY_CHECKING, "no");
    }

    @Override
    protected URI store(String name, byte[] content) throws Exception {
        Files.write(root.resolve(name + ".bin"), content);
        return server.uri(name + ".bin");
    }

    @Override
    protected URI absent(String name) {
        return server.uri(name + ".bin");
    }

    @Override
    protected byte[] readStored(URI uri) throws Exception {
        return Files.readAllBytes(root.resolve(uri.getPath().substring(1)));
    }

    /** Written in place on the server's disk, with the time moved on as the clock would have by then (sftp tells seconds). */
    @Override
    protected void changeBehindTheBackend(URI uri, byte[] content) throws Exception {
        Path file = root.resolve(uri.getPath().substring(1));
        FileTime before = Files.getLastModifiedTime(file);
        Files.write(file, content);
        Files.setLastModifiedTime(file, FileTime.from(before.toInstant().plusSeconds(1)));
    }

    @Override
    protected boolean detectsConcurrentWriters() {
        return true;
    }
}
