package dev.anymap.spi;

import java.net.URI;

/** No provider on the class path or module path serves a URI's scheme. */
public final class UnknownSchemeException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    UnknownSchemeException(URI uri, String available) {
        super("no storage backend serves the scheme of " + Redaction.uri(uri) + "; available: " + available
                + ". Put the backend's jar (anymap-backend-*) on the class path or module path.");
    }
}
