package dev.anymap.firecracker;

import dev.anymap.GuestMemory;

/**
 * One of the guest memory regions that Firecracker describes in its handshake (its {@code
 * GuestRegionUffdMapping}): {@code size} bytes at {@code baseHostVirtAddr} in Firecracker's
 * process, holding the snapshot memory file's bytes from {@code offset}, in pages of {@code
 * pageSize} bytes.
 */
public record GuestRegionMapping(long baseHostVirtAddr, long size, long offset, long pageSize) {
    /** The region as the page server serves it; its page size and alignment are checked there. */
    GuestMemory.Range range() {
        return new GuestMemory.Range(baseHostVirtAddr, size, offset, pageSize);
    }
}
