package dev.anymap.backend.http;

import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/** The SPI test kit against a server that ignores ranges, read through the opt-in whole download. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FullDownloadContractTest extends StorageBackendContract {
    private final Map<String, Served> files = new ConcurrentHashMap<>();
    private final AtomicInteger names = new AtomicInteger();
    private TestServer server;

    @BeforeAll
    void startServer() throws Exception {
        server = TestServer.start(TestServer.Mode.HTTP_1_1, (request, response, callback) -> {
            Served served = files.get(request.getHttpURI().getPath());
            if (served == null) {
                return false;
            }
            response.getHeaders().put(org.eclipse.jetty.http.HttpHeader.ETAG, served.etag());
            return served.send(request, response, callback, 200, 0, served.content().length - 1);
        });
    }

    @AfterAll
    void stopServer() throws Exception {
        server.close();
    }

    @Override
    protected boolean offersLocalFile() {
        return true;
    }

    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        String path = "/" + names.incrementAndGet() + "-" + name;
        files.put(path, Served.strong(content, "e" + names.get()));
        return Tests.open(server.uri(path), HttpOptions.ALLOW_FULL_DOWNLOAD, "true");
    }
}
