package dev.anymap.sample.sql;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.testkit.WritableBackendContract;
import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.extension.ExtendWith;

/** The SPI's write kit against rows of a real PostgreSQL; the stored bytes are read back with plain JDBC. */
@ExtendWith(TestPostgres.class)
class PgBlobWritableContractTest extends WritableBackendContract {
    private final TestPostgres.Server server;
    private final String table;

    PgBlobWritableContractTest(TestPostgres.Server server) throws Exception {
        this.server = server;
        this.table = Tables.create(server, "writable");
    }

    @Override
    protected BackendProvider provider() {
        return new PgBlobBackendProvider();
    }

    @Override
    protected Map<String, String> options() {
        return server.login();
    }

    @Override
    protected URI store(String name, byte[] content) throws Exception {
        Tables.put(server, table, name, content);
        return server.uri(table, name);
    }

    @Override
    protected URI absent(String name) {
        return server.uri(table, name);
    }

    @Override
    protected byte[] readStored(URI uri) throws Exception {
        return Tables.get(server, table, uri.getPath().substring(uri.getPath().lastIndexOf('/') + 1));
    }

    /** An UPDATE by another connection: PostgreSQL gives the row a new xmin. */
    @Override
    protected void changeBehindTheBackend(URI uri, byte[] content) throws Exception {
        Tables.put(server, table, uri.getPath().substring(uri.getPath().lastIndexOf('/') + 1), content);
    }

    @Override
    protected boolean detectsConcurrentWriters() {
        return true;
    }
}
