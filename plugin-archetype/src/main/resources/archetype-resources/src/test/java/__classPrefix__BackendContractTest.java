package ${package};

import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SPI's test kit: sizes, reads at every alignment around page and chunk boundaries, reads past the
 * end, streams, eight threads reading at random, and close while reads are in flight, every byte
 * compared with what was stored. Store the objects in a real instance of your storage, started by
 * the test, not in a mock.
 */
class ${classPrefix}BackendContractTest extends StorageBackendContract {
    @TempDir
    Path storage;

    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        Path file = Files.write(storage.resolve(name), content);
        return new ${classPrefix}BackendProvider().open(uriOf(file), Map.of());
    }

    static URI uriOf(Path file) {
        return URI.create(${classPrefix}BackendProvider.SCHEME + ":" + file.toUri().getRawPath());
    }
}
