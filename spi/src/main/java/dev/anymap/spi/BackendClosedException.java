package dev.anymap.spi;

import java.io.IOException;
import java.net.URI;

/** A read from a {@link StorageBackend} after it was closed. */
public final class BackendClosedException extends IOException {
    private static final long serialVersionUID = 1L;

    /** A read or write of {@code uri} that came after its backend was closed. */
    public BackendClosedException(URI uri) {
        super(Redaction.uri(uri) + " was closed");
    }
}
