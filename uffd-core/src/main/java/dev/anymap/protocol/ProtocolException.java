package dev.anymap.protocol;

import java.io.IOException;

/** A packet that is not a valid message: the connection that sent it is dropped. */
public final class ProtocolException extends IOException {
    private static final long serialVersionUID = 1L;

    public ProtocolException(String message) {
        super(message);
    }
}
