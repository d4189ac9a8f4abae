package dev.anymap.server;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A region that its client maps from the object's memory in the shared page cache: a chunk in the
 * cache is there for the region's threads already, so its arrival only wakes them.
 */
final class SharedMapping implements RegionMemory {
    private static final System.Logger LOG = System.getLogger(SharedMapping.class.getName());
    /** How long close waits for the fault loop to stop. */
    private static final long CLOSE_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final RegionServer region;
    private final ChunkTable table;
    private final int uffd;
    private final long base;
    private final FaultLoop faultLoop;
    /** Held to use the userfaultfd; close takes it to free the descriptor, whose number another may then get. */
    private final ReentrantReadWriteLock descriptor = new ReentrantReadWriteLock();
    private volatile boolean stopping;

    /** Serves the faults of {@code [base, base + mapped length)} through {@code userfaultfd}, which this mapping owns from now on. */
    SharedMapping(RegionServer region, int userfaultfd, long base) throws NativeException {
        this.region = region;
        this.table = region.object().table();
        this.uffd = userfaultfd;
        this.base = base;
        this.faultLoop = new FaultLoop(userfaultfd, this::onPageFault, "region " + region.id());
    }

    private void onPageFault(long address, Userfaultfd.FillRequest fill) {
        long offset = (address & -RegionServer.PAGE) - base;
        if (offset >= 0 && offset < table.mappedLength()) {
            region.onFault(offset, fill);
        }
    }

    @Override
    public void arrived(int chunk, Userfaultfd.FillRequest fill) {
        if (!descriptor.readLock().tryLock()) {
            return; // closing
        }
        try {
            int result = stopping ? 0 : fill.wake(uffd, base + table.offset(chunk), table.fillLength(chunk, 1));
            if (result != 0) {
                LOG.log(System.Logger.Level.DEBUG, "region " + region.id() + ": waking chunk " + chunk + ": errno " + -result);
            }
        } finally {
            descriptor.readLock().unlock();
        }
    }

    @Override
    public void failed(int chunk, Userfaultfd.FillRequest fill) {
        if (!descriptor.readLock().tryLock()) {
            return;
        }
        try {
            if (!stopping) {
                fill.fillRange(uffd, base + table.offset(chunk), 0, table.fillLength(chunk, 1));
            }
        } finally {
            descriptor.readLock().unlock();
        }
    }

    @Override
    public void close() {
        stopping = true;
        faultLoop.stop();
        boolean joined;
        try {
            joined = faultLoop.join(CLOSE_TIMEOUT_NANOS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            joined = false;
        }
        descriptor.writeLock().lock();
        try {
            if (joined) {
                Libc.close(uffd);
            } else {
                LOG.log(System.Logger.Level.WARNING, "region " + region.id() + ": its fault loop is still running after close; its"
                        + " userfaultfd is left open");
            }
        } finally {
            descriptor.writeLock().unlock();
        }
    }
}
