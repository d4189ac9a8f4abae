package dev.anymap.backend.s3;

import dev.anymap.spi.ByteRange;
import java.util.ArrayList;
import java.util.List;

/**
 * Which parts a commit's multipart upload has, and which of them travel. A part must be at least
 * {@link S3Commit#MIN_PART} but the last, so every dirty byte costs a part that size uploaded; the
 * clean bytes between such parts are copied inside S3 in parts as large as S3 takes (5 GiB), so that a
 * commit of one dirty page is one small upload and two copies, whatever the object's size.
 */
final class PartPlan {
    /** The largest part S3 takes. */
    static final long MAX_PART = 5L << 30;

    /** One part: its bytes, and whether they are uploaded or copied from the base inside S3. */
    record Part(long offset, long length, boolean upload) {}

    private PartPlan() {}

    /**
     * The parts of an object of {@code size} bytes whose {@code dirty} ranges (sorted, disjoint)
     * change, uploaded parts at most {@code uploadLimit} bytes; empty if that takes more than
     * {@link S3Commit#MAX_PARTS} parts, where the caller falls back to parts of one size.
     */
    static List<Part> of(long size, List<ByteRange> dirty, long uploadLimit) {
        List<Part> parts = new ArrayList<>();
        long at = 0;
        int next = 0;
        while (at < size) {
            while (next < dirty.size() && dirty.get(next).end() <= at) {
                next++;
            }
            if (next == dirty.size()) {
                copy(parts, at, size);
                break;
            }
            long dirtyFrom = Math.max(at, dirty.get(next).offset());
            if (dirtyFrom - at >= S3Commit.MIN_PART) {
                copy(parts, at, dirtyFrom);
                at = dirtyFrom;
            }
            // An upload of the least size, grown over dirty ranges that a copy could not take apart from it.
            long end = Math.min(size, at + S3Commit.MIN_PART);
            for (int later = next; later < dirty.size() && dirty.get(later).offset() < end + S3Commit.MIN_PART; later++) {
                end = Math.min(size, Math.min(at + uploadLimit, Math.max(end, dirty.get(later).end())));
            }
            parts.add(new Part(at, end - at, true));
            at = end;
            if (parts.size() > S3Commit.MAX_PARTS) {
                return List.of();
            }
        }
        return parts.size() > S3Commit.MAX_PARTS ? List.of() : parts;
    }

    /** Copies of {@code [from, to)}: as few parts as S3 takes, none but the last shorter than its least. */
    private static void copy(List<Part> parts, long from, long to) {
        for (long at = from; at < to; ) {
            long length = Math.min(MAX_PART, to - at);
            long rest = to - at - length;
            if (rest > 0 && rest < S3Commit.MIN_PART) {
                length -= S3Commit.MIN_PART; // leaves the rest a part of the least size
            }
            parts.add(new Part(at, length, false));
            at += length;
        }
    }
}
