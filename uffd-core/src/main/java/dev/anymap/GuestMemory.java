package dev.anymap;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * Memory of another process, registered with a userfaultfd that the process handed over, to be
 * filled from a stored object: a virtual machine's guest memory, as Firecracker hands it to a page
 * fault handler. The page server copies the object's bytes into it (UFFDIO_COPY) as the process
 * touches it; the process maps nothing of anymap's. See {@link Anymap#serve(java.net.URI, MapOptions, GuestMemory)}.
 *
 * @param userfaultfd the userfaultfd that covers every range, registered for missing pages; it stays
 *     the caller's to close, and the page server holds a duplicate of its own
 * @param ranges the process's memory, in any order, none overlapping another
 */
public record GuestMemory(int userfaultfd, List<Range> ranges) {
    /** The largest page a range may have: a gigantic page of 1 GiB. */
    private static final long MAX_PAGE = 1L << 30;

    /**
     * {@code size} bytes at {@code address} in the process hold the object's bytes from {@code
     * offset}, in pages of {@code pageSize} bytes (4096, or a huge page's size for memory backed by
     * hugetlbfs); all three are multiples of the page size.
     */
    public record Range(long address, long size, long offset, long pageSize) {
        /** Checks that the range is aligned to its page size, which is a power of two, and does not wrap around. */
        public Range {
            if (pageSize < 4096 || pageSize > MAX_PAGE || Long.bitCount(pageSize) != 1) {
                throw new IllegalArgumentException("a guest memory range's page size must be a power of two from 4096 bytes to 1 GiB, not "
                        + pageSize);
            }
            if (address <= 0 || size <= 0 || offset < 0) {
                throw new IllegalArgumentException("a guest memory range needs an address and a size above 0 and an offset of at least 0;"
                        + " got address 0x" + Long.toHexString(address) + ", size " + size + ", offset " + offset);
            }
            if ((address | size | offset) % pageSize != 0) {
                throw new IllegalArgumentException("the guest memory range at 0x" + Long.toHexString(address) + " (size " + size + ", offset "
                        + offset + ") is not aligned to its page size of " + pageSize + " bytes");
            }
            if (address + size < address || offset + size < offset) {
                throw new IllegalArgumentException("the guest memory range at 0x" + Long.toHexString(address) + " of " + size
                        + " bytes wraps around");
            }
        }

        long end() {
            return address + size;
        }
    }

    /** Checks that there is a userfaultfd and one range at least, none overlapping another, and copies {@code ranges}. */
    public GuestMemory {
        Objects.requireNonNull(ranges, "ranges");
        if (userfaultfd < 0) {
            throw new IllegalArgumentException("no userfaultfd (descriptor " + userfaultfd + ")");
        }
        if (ranges.isEmpty()) {
            throw new IllegalArgumentException("guest memory of no range");
        }
        if (ranges.size() > dev.anymap.protocol.MessageCodec.MAX_GUEST_RANGES) {
            throw new IllegalArgumentException("guest memory of " + ranges.size() + " ranges; at most "
                    + dev.anymap.protocol.MessageCodec.MAX_GUEST_RANGES + " are served");
        }
        ranges = List.copyOf(ranges);
        List<Range> byAddress = new ArrayList<>(ranges);
        byAddress.sort(Comparator.comparingLong(Range::address));
        for (int i = 1; i < byAddress.size(); i++) {
            if (byAddress.get(i).address() < byAddress.get(i - 1).end()) {
                throw new IllegalArgumentException("guest memory ranges at 0x" + Long.toHexString(byAddress.get(i - 1).address())
                        + " and 0x" + Long.toHexString(byAddress.get(i).address()) + " overlap");
            }
        }
    }

    /** The largest page of any range: chunks are whole multiples of it. */
    long largestPage() {
        return ranges.stream().mapToLong(Range::pageSize).max().orElseThrow();
    }
}
