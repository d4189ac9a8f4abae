package dev.anymap.spi;

/** What a {@link StorageBackend} can do beyond positional reads. */
public enum Capability {
    /** {@link StorageBackend#commit} writes a new version of the stored object. */
    WRITE
}
