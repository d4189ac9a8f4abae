package dev.anymap.spi;

/**
 * A range of an object's bytes.
 *
 * @param offset where it starts, at least 0
 * @param length how many bytes, at least 1
 */
public record ByteRange(long offset, long length) {
    /** Checks that the range starts at 0 or later, holds a byte at least, and ends before {@code Long.MAX_VALUE}. */
    public ByteRange {
        if (offset < 0 || length <= 0 || offset + length < 0) {
            throw new IllegalArgumentException("not a byte range: offset " + offset + ", length " + length);
        }
    }

    /** The offset just past its last byte. */
    public long end() {
        return offset + length;
    }
}
