package dev.anymap.backend.file;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;

class TarBackendContractTest extends StorageBackendContract {
    @TempDir
    Path dir;

    @Override
    protected boolean offersLocalFile() {
        return true;
    }

    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        String entry = "data/" + name + ".bin";
        Path tar = Archives.tar(dir.resolve(name + ".tar"), Archives.withNeighbours(Map.of(entry, content)));
        return BackendRegistry.load().open(Archives.entryUri("tar", tar, entry));
    }
}
