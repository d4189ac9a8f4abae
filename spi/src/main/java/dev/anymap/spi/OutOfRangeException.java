package dev.anymap.spi;

import java.io.EOFException;
import java.net.URI;

/** A read that reaches past the end of an object. */
public final class OutOfRangeException extends EOFException {
    private static final long serialVersionUID = 1L;

    public OutOfRangeException(URI uri, long offset, long length, long size) {
        super("read of " + length + " bytes at offset " + offset + " reaches past the end of " + Redaction.uri(uri)
                + " (size " + size + " bytes)");
    }

    /**
     * Checks a read of {@code length} bytes at {@code offset} against an object of {@code size}
     * bytes: the one range check every backend makes before it reads.
     *
     * @throws IllegalArgumentException if {@code offset} or {@code length} is negative
     * @throws OutOfRangeException if the range ends past {@code size}
     */
    public static void check(URI uri, long offset, long length, long size) throws OutOfRangeException {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("negative offset " + offset + " or length " + length + " for " + Redaction.uri(uri));
        }
        if (offset > size - length) {
            throw new OutOfRangeException(uri, offset, length, size);
        }
    }
}
