package dev.anymap.backend.file;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

class FileBackendContractTest extends StorageBackendContract {
    @TempDir
    Path dir;

    @Override
    protected boolean offersLocalFile() {
        return true;
    }

    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        Path file = Files.write(dir.resolve(name + ".bin"), content);
        return BackendRegistry.load().open(file.toUri());
    }
}
