package dev.anymap.backend.file;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.testkit.WritableBackendContract;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.io.TempDir;

class FileWritableBackendContractTest extends WritableBackendContract {
    @TempDir
    Path dir;

    @Override
    protected BackendProvider provider() {
        return new FileBackendProvider();
    }

    @Override
    protected URI store(String name, byte[] content) throws Exception {
        return Files.write(dir.resolve(name + ".bin"), content).toUri();
    }

    @Override
    protected URI absent(String name) {
        return dir.resolve(name + ".bin").toUri();
    }

    @Override
    protected byte[] readStored(URI uri) throws Exception {
        return Files.readAllBytes(Path.of(uri));
    }

    /** Written in place, as another writer would, with the time moved on as the clock would have by then. */
    @Override
    protected void changeBehindTheBackend(URI uri, byte[] content) throws Exception {
        Path file = Path.of(uri);
        FileTime before = Files.getLastModifiedTime(file);
        Files.write(file, content);
        Files.setLastModifiedTime(file, FileTime.from(before.toInstant().plusSeconds(1)));
    }

    @Override
    protected boolean detectsConcurrentWriters() {
        return true;
    }
}
