package dev.anymap.linux;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The PAGEMAP_SCAN ioctl (Linux 6.7) on this process's {@code /proc/self/pagemap}: which pages of a
 * range registered with userfaultfd in write-protect mode, with {@link Userfaultfd#FEATURE_WP_ASYNC},
 * were written since they were last protected, protecting them again in the same call. The kernel
 * resolves the first write to a protected page by itself, without a fault message, so a written page
 * costs one minor fault and a page never written costs nothing.
 *
 * <p>Not safe for concurrent use: one scanner per region, whose owner serialises its scans.
 */
public final class PageMapScan implements AutoCloseable {
    /** {@code _IOWR('f', 16, struct pm_scan_arg)}: 96 bytes. */
    private static final long PAGEMAP_SCAN = (3L << 30) | (96L << 16) | ('f' << 8) | 16;
    private static final long PM_SCAN_WP_MATCHING = 1;
    private static final long PM_SCAN_CHECK_WPASYNC = 1 << 1;
    private static final long PAGE_IS_WRITTEN = 1 << 1;
    private static final int REGION_BYTES = 24;
    private static final int REGIONS_PER_CALL = 512;

    /** Takes the written ranges of a scan, as offsets from the start of the range scanned. */
    @FunctionalInterface
    public interface RangeSink {
        void written(long offset, long length);
    }

    private final int pagemap;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment argument = arena.allocate(96, 8);
    private final MemorySegment regions = arena.allocate((long) REGION_BYTES * REGIONS_PER_CALL, 8);

    private PageMapScan(int pagemap) {
        this.pagemap = pagemap;
    }

    /** A scanner of this process's pages. */
    public static PageMapScan open() throws NativeException {
        return new PageMapScan((int) Libc.check(Libc.open("/proc/self/pagemap", Libc.O_RDONLY | Libc.O_CLOEXEC), "open(/proc/self/pagemap)"));
    }

    /**
     * Passes each run of pages of {@code [start, start + length)} written since the last scan to
     * {@code sink}, in order, and write-protects them again, so that the next scan reports only what
     * is written after this one.
     */
    public void takeWritten(long start, long length, RangeSink sink) throws NativeException {
        long end = start + length;
        for (long from = start; from < end; ) {
            argument.fill((byte) 0);
            argument.set(JAVA_LONG, 0, 96);
            argument.set(JAVA_LONG, 8, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC);
            argument.set(JAVA_LONG, 16, from);
            argument.set(JAVA_LONG, 24, end);
            argument.set(JAVA_LONG, 40, regions.address());
            argument.set(JAVA_LONG, 48, REGIONS_PER_CALL);
            argument.set(JAVA_LONG, 72, PAGE_IS_WRITTEN); // category_mask: written pages only
            argument.set(JAVA_LONG, 88, PAGE_IS_WRITTEN); // return_mask
            int found = (int) Libc.check(Libc.ioctl(pagemap, PAGEMAP_SCAN, argument), "ioctl(PAGEMAP_SCAN)");
            for (int i = 0; i < found; i++) {
                long runStart = regions.get(JAVA_LONG, (long) i * REGION_BYTES);
                long runEnd = regions.get(JAVA_LONG, (long) i * REGION_BYTES + 8);
                sink.written(runStart - start, runEnd - runStart);
            }
            long walkEnd = argument.get(JAVA_LONG, 32);
            if (walkEnd <= from) {
                throw new IllegalStateException("PAGEMAP_SCAN made no progress at " + Long.toHexString(from));
            }
            from = walkEnd;
        }
    }

    @Override
    public void close() {
        Libc.close(pagemap);
        arena.close();
    }
}
