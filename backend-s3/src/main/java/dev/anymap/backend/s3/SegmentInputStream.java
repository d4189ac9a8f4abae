package dev.anymap.backend.s3;

import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/** The bytes of a memory segment as a stream, copied out only as far as each read asks. */
final class SegmentInputStream extends InputStream {
    private final MemorySegment bytes;
    private long position;

    SegmentInputStream(MemorySegment bytes) {
        this.bytes = bytes;
    }

    @Override
    public int read() {
        return position < bytes.byteSize() ? bytes.get(ValueLayout.JAVA_BYTE, position++) & 0xFF : -1;
    }

    @Override
    public int read(byte[] target, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, target.length);
        if (length == 0) {
            return 0;
        }
        long left = bytes.byteSize() - position;
        if (left <= 0) {
            return -1;
        }
        int n = (int) Math.min(length, left);
        MemorySegment.copy(bytes, ValueLayout.JAVA_BYTE, position, target, offset, n);
        position += n;
        return n;
    }

    @Override
    public long skip(long n) {
        long skipped = Math.max(0, Math.min(n, bytes.byteSize() - position));
        position += skipped;
        return skipped;
    }

    @Override
    public int available() {
        return (int) Math.min(Integer.MAX_VALUE, bytes.byteSize() - position);
    }
}
