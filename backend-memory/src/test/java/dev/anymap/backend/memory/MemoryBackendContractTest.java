package dev.anymap.backend.memory;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;

class MemoryBackendContractTest extends StorageBackendContract {
    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        return BackendRegistry.load().open(MemoryObjects.put("contract-" + name, content));
    }
}
