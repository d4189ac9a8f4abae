package dev.anymap;

import dev.anymap.linux.NativeException;
import dev.anymap.linux.PageMapScan;
import dev.anymap.protocol.MessageCodec;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * The pages of a writable region written since its last successful flush. The region's memory is
 * registered with userfaultfd in asynchronous write-protect mode: the kernel marks a page written at
 * its first write, with no message to anyone, and {@link #take()} collects the marks with
 * PAGEMAP_SCAN, protecting the pages again. What a flush took stays here until the flush succeeds,
 * so that a failed flush loses nothing: the next one writes it again, with whatever was written since.
 */
final class WrittenPages implements AutoCloseable {
    /** A flush names at most this many ranges: runs closest to each other are joined beyond it. */
    static final int MAX_RANGES = MessageCodec.MAX_REGION_IDS / 2;

    private final PageMapScan scan;
    private final long address;
    private final long length;
    private final long size;
    /** Written runs not yet flushed: start to end, disjoint, not adjacent. */
    private final TreeMap<Long, Long> unflushed = new TreeMap<>();

    private WrittenPages(PageMapScan scan, long address, long length, long size) {
        this.scan = scan;
        this.address = address;
        this.length = length;
        this.size = size;
    }

    /** Tracks the region at {@code address}, whose pages must all be write-protected already. */
    static WrittenPages track(long address, long length, long size) throws NativeException {
        return new WrittenPages(PageMapScan.open(), address, length, size);
    }

    /**
     * The ranges written and not yet flushed, as offset and length pairs in order, at most
     * {@link #MAX_RANGES} of them: the pages written since the last call are added, and protected
     * again.
     */
    synchronized long[] take() throws NativeException {
        scan.takeWritten(address, length, (offset, runLength) -> {
            if (offset < size) {
                add(offset, Math.min(offset + runLength, size));
            }
        });
        joinClosest();
        long[] ranges = new long[unflushed.size() * 2];
        int i = 0;
        for (Map.Entry<Long, Long> run : unflushed.entrySet()) {
            ranges[i++] = run.getKey();
            ranges[i++] = run.getValue() - run.getKey();
        }
        return ranges;
    }

    /** What the last {@link #take()} returned is in storage. */
    synchronized void flushed() {
        unflushed.clear();
    }

    private void add(long start, long end) {
        Map.Entry<Long, Long> before = unflushed.floorEntry(start);
        if (before != null && before.getValue() >= start) {
            start = before.getKey();
            end = Math.max(end, before.getValue());
        }
        for (Map.Entry<Long, Long> after; (after = unflushed.ceilingEntry(start)) != null && after.getKey() <= end; ) {
            end = Math.max(end, after.getValue());
            unflushed.remove(after.getKey());
        }
        unflushed.put(start, end);
    }

    /** Joins the runs with the smallest gaps between them until at most {@link #MAX_RANGES} are left. */
    private void joinClosest() {
        if (unflushed.size() <= MAX_RANGES) {
            return;
        }
        long[] gaps = new long[unflushed.size() - 1];
        long previousEnd = -1;
        int i = 0;
        for (Map.Entry<Long, Long> run : unflushed.entrySet()) {
            if (previousEnd >= 0) {
                gaps[i++] = run.getKey() - previousEnd;
            }
            previousEnd = run.getValue();
        }
        Arrays.sort(gaps);
        long widest = gaps[unflushed.size() - MAX_RANGES - 1]; // joining every gap up to this one leaves at most MAX_RANGES
        TreeMap<Long, Long> joined = new TreeMap<>();
        long start = -1;
        long end = -1;
        for (Map.Entry<Long, Long> run : unflushed.entrySet()) {
            if (start >= 0 && run.getKey() - end <= widest) {
                end = run.getValue();
            } else {
                if (start >= 0) {
                    joined.put(start, end);
                }
                start = run.getKey();
                end = run.getValue();
            }
        }
        joined.put(start, end);
        unflushed.clear();
        unflushed.putAll(joined);
    }

    @Override
    public void close() {
        scan.close();
    }
}
