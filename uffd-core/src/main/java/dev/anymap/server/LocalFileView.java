package dev.anymap.server;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.spi.StorageBackend;

/**
 * The server's read-only mapping of an object's local file, where its backend has one: the source a
 * guest's memory is copied from with no fetch and no copy in the page cache, since the kernel's page
 * cache holds the file's pages already and shares them between every guest of the same file. This
 * is how Firecracker's own example handler serves a local snapshot, and the C floor's one copy.
 */
final class LocalFileView implements AutoCloseable {
    private final long address;
    private final long length;

    private LocalFileView(long address, long length) {
        this.address = address;
        this.length = length;
    }

    /** A view of the backend's local file, or null where it has none (or none of the size opened). */
    static LocalFileView open(StorageBackend backend) throws NativeException {
        int file = KernelMappedRegion.open(backend);
        if (file < 0) {
            return null;
        }
        try {
            long length = RegionServer.mappedLength(backend.size());
            return new LocalFileView(Libc.check(Libc.mmap(0, length, Libc.PROT_READ, Libc.MAP_SHARED, file, 0), "mmap(local file)"), length);
        } finally {
            Libc.close(file); // the mapping holds the file
        }
    }

    /** The address of the file's byte at {@code offset}. A copy from past a file cut short fails with EFAULT. */
    long addressOf(long offset) {
        return address + offset;
    }

    @Override
    public void close() {
        Libc.munmap(address, length);
    }
}
