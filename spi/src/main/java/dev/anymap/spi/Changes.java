package dev.anymap.spi;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Objects;

/**
 * What one {@linkplain StorageBackend#commit commit} makes of an object: its new bytes, which differ
 * from those of {@link #base()} only within {@link #dirty()}.
 *
 * <p>{@link #read} gives the new bytes of any range, dirty or not, so that a backend that must
 * rewrite more than the dirty ranges (a whole S3 part around one dirty page) takes what it needs from
 * here: dirty bytes come from the writer's memory, the others from memory where they are resident
 * and from the backend's own reads of {@link #base()} where they are not.
 */
public interface Changes {

    /** The version the changes were made on: the commit applies only if the object is still at it. */
    ObjectVersion base();

    /** The object's size, which a commit never changes. */
    long size();

    /** The ranges that may differ from {@link #base()}: sorted, disjoint, not adjacent, within {@link #size()}. */
    List<ByteRange> dirty();

    /**
     * Copies the new bytes at {@code offset} into {@code target}, {@code target.byteSize()} of them.
     *
     * @throws OutOfRangeException if the range reaches past {@link #size()}
     * @throws IOException if reading bytes of {@link #base()} from storage fails
     */
    void read(long offset, MemorySegment target) throws IOException;

    /**
     * A name unique to this commit attempt. A backend whose storage keeps a few bytes with the object
     * (S3's user metadata) stores it there and returns it from {@link StorageBackend#lastCommit()}, so
     * that a page server that took over from one that died in the middle of a commit learns whether
     * the commit happened.
     */
    String token();

    /** Changes whose new content is all in {@code content}, the object's whole new bytes: for tests and tools. */
    static Changes of(ObjectVersion base, List<ByteRange> dirty, MemorySegment content, String token) {
        Objects.requireNonNull(base, "base");
        Objects.requireNonNull(content, "content");
        Objects.requireNonNull(token, "token");
        List<ByteRange> ranges = List.copyOf(dirty);
        long end = -1;
        for (ByteRange range : ranges) {
            if (range.offset() <= end || range.end() > content.byteSize()) {
                throw new IllegalArgumentException("dirty ranges must be sorted, disjoint, not adjacent and within "
                        + content.byteSize() + " bytes: " + ranges);
            }
            end = range.end();
        }
        return new Changes() {
            @Override
            public ObjectVersion base() {
                return base;
            }

            @Override
            public long size() {
                return content.byteSize();
            }

            @Override
            public List<ByteRange> dirty() {
                return ranges;
            }

            @Override
            public void read(long offset, MemorySegment target) {
                MemorySegment.copy(content, offset, target, 0, target.byteSize());
            }

            @Override
            public String token() {
                return token;
            }
        };
    }
}
