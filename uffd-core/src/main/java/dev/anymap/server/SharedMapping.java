package dev.anymap.server;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A region that its client maps from the object's memory in the shared page cache: a chunk in the
 * cache is there for the region's threads already, so its arrival only wakes them.
 */
final class SharedMapping implements RegionMemory {
    private static final System.Logger LOG = System.getLogger(SharedMapping.class.getName());
    private static final PeerWarnings WARNINGS = new PeerWarnings(LOG, "process");
    /**
     * Faults in a row at one page whose chunk is in the cache, past which the region is refused. A
     * few come of threads that faulted on the page together, before its chunk came; memory that is
     * not the object's makes a million a second.
     */
    private static final int MAX_FAULTS_IN_VAIN = 1000;

    private final RegionServer region;
    private final ChunkTable table;
    private final int uffd;
    private final long base;
    private final FaultLoop faultLoop;
    private final long ownerPid;
    private final PeerThreads owner;
    /** Whether a fault of the owner's threads came: from then on the userfaultfd is known to be theirs. On the fault loop only. */
    private boolean ownerSeen;
    /** The last fault's offset, and how many faults in a row came there with its chunk in the cache. On the fault loop only. */
    private long lastFaultOffset = -1;
    private int faultsInVain;
    /**
     * Its faults are not another process's, or not of the object's memory: none is served, and
     * nothing reaches the memory they came from.
     */
    private volatile boolean refused;
    /** Held to use the userfaultfd; close takes it to free the descriptor, whose number another may then get. */
    private final ReentrantReadWriteLock descriptor = new ReentrantReadWriteLock();
    private volatile boolean stopping;

    /**
     * Serves the faults of {@code [base, base + mapped length)} through {@code userfaultfd}, which
     * this mapping owns from now on, to the threads of process {@code ownerPid} only.
     */
    SharedMapping(RegionServer region, int userfaultfd, long base, long ownerPid) throws NativeException {
        this.region = region;
        this.table = region.object().table();
        this.uffd = userfaultfd;
        this.base = base;
        this.ownerPid = ownerPid;
        this.owner = new PeerThreads(ownerPid);
        this.faultLoop = new FaultLoop(userfaultfd, this::onPageFault, "region " + region.id());
    }

    private void onPageFault(long address, int thread, Userfaultfd.FillRequest fill) {
        if (refused) {
            return;
        }
        if (!ownerSeen) {
            // One fault settles it: a userfaultfd reports the faults of one process's memory.
            if (!owner.includes(thread)) {
                refuse("its first fault came from thread " + thread + ", which is not a thread of process " + ownerPid
                        + " that attached it, so the userfaultfd that process sent is another process's");
                return;
            }
            ownerSeen = true;
        }
        long offset = (address & -RegionServer.PAGE) - base;
        if (offset < 0 || offset >= table.mappedLength()) {
            return;
        }
        if (faultsInVain(offset) >= MAX_FAULTS_IN_VAIN) {
            refuse("its page at offset " + offset + " faulted " + MAX_FAULTS_IN_VAIN + " times in a row with its chunk in the cache, so"
                    + " the memory registered there is not the object's memory that the server sent");
            return;
        }
        region.onFault(offset, fill);
    }

    /**
     * How many faults in a row came at {@code offset} with its chunk in the cache. A mapping of the
     * object's memory never faults on a page the cache holds, once woken; one of other memory
     * faults again as soon as it is woken, as long as it is.
     */
    private int faultsInVain(long offset) {
        if (offset != lastFaultOffset || table.state((int) (offset / table.chunkSize())) != ChunkTable.PRESENT) {
            lastFaultOffset = offset;
            faultsInVain = 0;
        } else {
            faultsInVain++;
        }
        return faultsInVain;
    }

    /**
     * Serving a fault of another process would fill or wake memory the peer does not own, and
     * waking a thread whose page stays missing has it fault again at once, a loop that burns a core.
     */
    private void refuse(String reason) {
        refused = true;
        String why = "region " + region.id() + " is not served: " + reason;
        region.counters().failed(why);
        WARNINGS.warn(ownerPid, why);
    }

    @Override
    public void arrived(int chunk, Userfaultfd.FillRequest fill) {
        if (refused || !descriptor.readLock().tryLock()) {
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
        if (refused || !descriptor.readLock().tryLock()) {
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
        boolean joined = faultLoop.stopAndJoin();
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
