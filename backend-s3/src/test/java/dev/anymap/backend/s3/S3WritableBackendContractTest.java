package dev.anymap.backend.s3;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.testkit.WritableBackendContract;
import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;

/** The SPI's write checks against a real S3 server, through ServiceLoader as a user gets the backend. */
@ExtendWith(S3ServerExtension.class)
class S3WritableBackendContractTest extends WritableBackendContract {
    private static S3TestServer server;

    @BeforeAll
    static void server(S3TestServer s3) {
        server = s3;
    }

    @Override
    protected BackendProvider provider() {
        return BackendRegistry.load().provider(URI.create("s3://b/k"));
    }

    @Override
    protected Map<String, String> options() {
        return server.options();
    }

    @Override
    protected URI store(String name, byte[] content) {
        return server.put(name, content);
    }

    @Override
    protected URI absent(String name) {
        return server.uri(S3TestServer.uniqueKey(name));
    }

    @Override
    protected byte[] readStored(URI uri) throws Exception {
        return server.get(uri);
    }

    @Override
    protected void changeBehindTheBackend(URI uri, byte[] content) {
        server.overwrite(uri, content);
    }

    @Override
    protected boolean detectsConcurrentWriters() {
        return true;
    }

    /** The part: objects of a few parts, so that commits copy some parts and upload others. */
    @Override
    protected int chunkSize() {
        return (int) S3Commit.PART;
    }
}
