package dev.anymap.backend.file;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

class SftpBackendContractTest extends StorageBackendContract {
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
    protected StorageBackend store(String name, byte[] content) throws Exception {
        Files.write(root.resolve(name + ".bin"), content);
        return BackendRegistry.load().open(server.uri(name + ".bin"), Map.of(
                VfsOptions.SFTP_PASSWORD, SftpTestServer.PASSWORD,
                VfsOptions.SFTP_STRICT_HOST_KEY_CHECKING, "no"));
    }
}
