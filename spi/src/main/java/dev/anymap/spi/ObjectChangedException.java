package dev.anymap.spi;

import java.io.IOException;
import java.net.URI;

/**
 * The object changed since it was opened, so its bytes can no longer be read as one version (an HTTP
 * or S3 412, a file whose size or modification time moved). Not worth a retry: the mapping has to be
 * opened again.
 */
public final class ObjectChangedException extends IOException {
    private static final long serialVersionUID = 1L;

    /** {@code uri} is no longer at the version {@code opened}, as {@code detail} says (the version found, a status). */
    public ObjectChangedException(URI uri, ObjectVersion opened, String detail) {
        super(Redaction.uri(uri) + " changed since it was opened (opened at " + opened + "): " + detail
                + "; map it again to read the new version");
    }

    /** One passed on with the message another made, as the page server's is to its client. */
    public ObjectChangedException(String message) {
        super(message);
    }
}
