package dev.anymap.backend.s3;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;

/** The SPI's backend test kit against a real S3 server, through ServiceLoader as a user gets the backend. */
@ExtendWith(S3ServerExtension.class)
class S3BackendContractTest extends StorageBackendContract {
    private static S3TestServer server;

    @BeforeAll
    static void server(S3TestServer s3) {
        server = s3;
    }

    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        return BackendRegistry.load().open(server.put(name, content), server.options());
    }
}
