package dev.anymap.backend.file;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import java.net.URI;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** gz: content has no random access and no declared size: it is copied whole at open. */
class GzBackendContractTest extends StorageBackendContract {
    @TempDir
    Path dir;

    @Override
    protected boolean offersLocalFile() {
        return true;
    }

    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        Path gz = Archives.gzip(dir.resolve(name + ".bin.gz"), content);
        return BackendRegistry.load().open(URI.create("gz:" + gz.toUri()));
    }
}
