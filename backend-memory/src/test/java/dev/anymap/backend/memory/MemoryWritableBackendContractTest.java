package dev.anymap.backend.memory;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.testkit.WritableBackendContract;
import java.net.URI;
import java.util.UUID;

class MemoryWritableBackendContractTest extends WritableBackendContract {
    /** Named objects live for the whole JVM: a prefix of this instance's own keeps its names fresh. */
    private final String prefix = "writable-" + UUID.randomUUID() + "-";

    @Override
    protected BackendProvider provider() {
        return new MemoryBackendProvider();
    }

    @Override
    protected URI store(String name, byte[] content) {
        return MemoryObjects.put(prefix + name, content);
    }

    @Override
    protected URI absent(String name) {
        return MemoryObjects.uri(prefix + name);
    }

    @Override
    protected byte[] readStored(URI uri) {
        byte[] stored = MemoryObjects.storedBytes(uri.getSchemeSpecificPart());
        if (stored == null) {
            throw new AssertionError("nothing is stored as " + uri);
        }
        return stored;
    }

    @Override
    protected void changeBehindTheBackend(URI uri, byte[] content) {
        MemoryObjects.put(uri.getSchemeSpecificPart(), content);
    }

    @Override
    protected boolean detectsConcurrentWriters() {
        return true;
    }
}
