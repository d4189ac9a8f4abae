package dev.anymap.sample.sql;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import org.junit.jupiter.api.extension.ExtendWith;

/** The SPI's test kit against rows of a real PostgreSQL, opened through the registry as a user would. */
@ExtendWith(TestPostgres.class)
class PgBlobContractTest extends StorageBackendContract {
    private final TestPostgres.Server server;
    private final String table;

    PgBlobContractTest(TestPostgres.Server server) throws Exception {
        this.server = server;
        this.table = Tables.create(server, "contract");
    }

    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        Tables.put(server, table, name, content);
        return BackendRegistry.load().open(server.uri(table, name), server.login());
    }
}
