/** {@code mem:} objects held off-heap: named objects of this JVM, and generated objects any process can rebuild. */
module dev.anymap.backend.memory {
    requires transitive dev.anymap.spi;

    exports dev.anymap.backend.memory;

    provides dev.anymap.spi.BackendProvider with dev.anymap.backend.memory.MemoryBackendProvider;
}
