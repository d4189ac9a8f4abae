package dev.anymap.spi;

/** What a {@link StorageBackend} can do beyond positional reads. */
public enum Capability {
    /** {@link StorageBackend#write} and {@link StorageBackend#flush} change the stored object. */
    WRITE
}
