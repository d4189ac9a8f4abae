package dev.anymap.server;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Message;
import java.lang.foreign.MemorySegment;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Another process's memory that a region fills by copying: a virtual machine's guest memory, which
 * Firecracker hands over with its userfaultfd. It is that process's private memory, registered for
 * missing pages, in ranges that each hold the object's bytes from an offset. When a chunk is in the
 * cache, its arrival copies the chunk's pages into every range that holds them (UFFDIO_COPY) and
 * wakes the threads there.
 *
 * <p>A range the process gives back ({@code madvise(MADV_DONTNEED)}: a balloon, virtio-mem) is
 * reported as UFFD_EVENT_REMOVE, and reads as zeros from then on: its pages are marked removed, and
 * a fault there is filled with zeros, never with the object's bytes. The kernel reports the removal
 * before it empties the range, and fails every copy with EAGAIN until the event is read; a copy
 * that saw no mark and lands after the range was emptied would bring the old bytes back. So the
 * fault loop reads each batch under the write lock of {@link #events} and marks removals before it
 * lets go, and a copy holds the read lock from looking at the marks until its ioctl returns: it
 * either lands before the event is read, and is emptied with the range, or sees the mark.
 *
 * <p>The ranges given back are told to the page server's keeper before any fault in them is
 * served, so that a server that takes the guest over serves them as zeros too.
 *
 * <p>No thread ever waits on an unread event: a copy that fails with EAGAIN (a removal waits to be
 * read), or EFAULT (the cache dropped the chunk under it), gives up and wakes the range; its threads
 * fault again, and the loop, having read the removal, serves them anew.
 */
final class GuestCopy implements RegionMemory {
    private static final System.Logger LOG = System.getLogger(GuestCopy.class.getName());

    /** One range of the guest's memory, and which of its pages were given back. */
    private static final class Range {
        final long address;
        final long size;
        final long offset;
        final long pageSize;
        /** A bit per page: removed, and zeros from now on. Written under the events write lock, read under its read lock. */
        final long[] removed;

        Range(Message.GuestRange range) {
            this.address = range.address();
            this.size = range.size();
            this.offset = range.offset();
            this.pageSize = range.pageSize();
            this.removed = new long[(int) ((size / pageSize + 63) / 64)];
        }

        boolean holds(long at) {
            return at >= address && at - address < size;
        }

        boolean isRemoved(long page) {
            return (removed[(int) (page >>> 6)] & (1L << page)) != 0;
        }

        /** Marks the pages of {@code [start, end)} that lie in this range. */
        void remove(long start, long end) {
            long from = Math.max(start, address);
            long to = Math.min(end, address + size);
            for (long at = from - (from - address) % pageSize; at < to; at += pageSize) {
                long page = (at - address) / pageSize;
                removed[(int) (page >>> 6)] |= 1L << page;
            }
        }
    }

    /** Told the ranges given back so far, on the fault loop, before any fault in them is served. */
    interface Removals {
        void changed(Message.GuestRemovals removals);
    }

    private final RegionServer region;
    private final ChunkTable table;
    private final ObjectMemory memory;
    private final int uffd;
    private final List<Range> ranges;
    /** Zeros to copy into a removed huge page (UFFDIO_ZEROPAGE has no huge pages): untouched private memory, which costs none. */
    private final long zeros;
    private final long zerosLength;
    private final ReentrantReadWriteLock events = new ReentrantReadWriteLock();
    private final FaultLoop loop;
    /** The object's local file, copied from directly; null where the object is read into the cache. */
    private final LocalFileView localFile;
    private final AtomicBoolean outsideLogged = new AtomicBoolean();
    private final AtomicBoolean shortFileLogged = new AtomicBoolean();
    /** The ranges given back, start to end, joined where they touch; guarded by the events write lock. */
    private final TreeMap<Long, Long> removedRuns = new TreeMap<>();
    private final Removals removals;
    private volatile Message.GuestRemovals removalsNow;
    private volatile boolean stopping;
    /** The guest's process is gone: its memory with it. */
    private volatile boolean gone;

    /**
     * Serves the faults of {@code ranges} through {@code userfaultfd}, which this memory owns from now
     * on, from {@code localFile} if not null, else from the cache.
     */
    GuestCopy(RegionServer region, int userfaultfd, List<Message.GuestRange> ranges, LocalFileView localFile,
              Message.GuestRemovals removedBefore, Removals removals) throws NativeException {
        this.region = region;
        this.localFile = localFile;
        this.removals = removals;
        this.removalsNow = removedBefore;
        this.table = region.object().table();
        this.memory = region.object().memory();
        this.uffd = userfaultfd;
        this.ranges = ranges.stream().map(Range::new).sorted(Comparator.comparingLong(range -> range.address)).toList();
        this.zerosLength = ranges.stream().mapToLong(Message.GuestRange::pageSize).max().orElse(Userfaultfd.PAGE);
        this.zeros = zerosLength > Userfaultfd.PAGE
                ? Libc.check(Libc.mmap(0, zerosLength, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0),
                        "mmap(zeros)")
                : 0;
        long[] before = removedBefore.ranges();
        for (int i = 0; i < before.length; i += 2) {
            remove(before[i], before[i + 1]);
        }
        this.loop = new FaultLoop(userfaultfd, this::onPageFault, events.writeLock(), this::onEvent, "guest region " + region.id());
    }

    /** The ranges given back so far. */
    Message.GuestRemovals removals() {
        return removalsNow;
    }

    /**
     * Checks that every range lies within an object of {@code size} bytes and that chunks of {@code
     * chunkSize} bytes are whole pages of each.
     *
     * @throws IllegalArgumentException naming the range and what to fix
     */
    static void check(List<Message.GuestRange> ranges, long size, int chunkSize, String printableUri) {
        for (int i = 0; i < ranges.size(); i++) {
            Message.GuestRange range = ranges.get(i);
            if (range.offset() + range.size() > size || range.offset() + range.size() < 0) {
                throw new IllegalArgumentException("guest memory range " + i + " holds bytes " + range.offset() + " to "
                        + (range.offset() + range.size()) + " of " + printableUri + ", which has " + size
                        + ": the memory file is not the one this guest's snapshot was taken with, or is cut short");
            }
            if (chunkSize % range.pageSize() != 0) {
                throw new IllegalArgumentException("guest memory range " + i + " has pages of " + range.pageSize()
                        + " bytes; serve it in chunks of a multiple of that, not " + chunkSize);
            }
        }
    }

    /** On the fault loop. The thread is not checked: a guest's faults are its VM's, whose process hands the userfaultfd to a handler. */
    private void onPageFault(long address, int thread, Userfaultfd.FillRequest fill) {
        Range range = rangeOf(address);
        if (range == null) {
            // Registered with this userfaultfd but described in no range: nothing to fill it with, and a thread must not wait for ever.
            if (outsideLogged.compareAndSet(false, true)) {
                LOG.log(System.Logger.Level.ERROR, "guest region " + region.id() + ": a fault at 0x" + Long.toHexString(address)
                        + " lies in no range the guest described; such pages are poisoned");
            }
            fill.poison(uffd, address & -Userfaultfd.PAGE, Userfaultfd.PAGE, 0);
            return;
        }
        long page = (address - range.address) / range.pageSize;
        events.readLock().lock();
        try {
            if (range.isRemoved(page)) {
                fillZeros(range, range.address + page * range.pageSize, fill);
                return;
            }
        } finally {
            events.readLock().unlock();
        }
        long offset = range.offset + page * range.pageSize;
        if (localFile == null) {
            region.onFault(offset, fill);
            return;
        }
        int chunk = region.touched(offset);
        if (fillChunk(chunk, localFile.addressOf(table.offset(chunk)), fill) == -Errno.EFAULT) {
            if (shortFileLogged.compareAndSet(false, true)) {
                LOG.log(System.Logger.Level.ERROR, "guest region " + region.id() + ": the local file of " + region.object().printableUri()
                        + " is shorter than when it was opened; the pages past its end are poisoned");
            }
            fillChunk(chunk, 0, fill);
        }
    }

    /** On the fault loop, holding the events write lock: a removal, or an event this memory does not act on. */
    private void onEvent(MemorySegment messages, int index) {
        byte event = Userfaultfd.event(messages, index);
        if (event == Userfaultfd.EVENT_REMOVE) {
            remove(Userfaultfd.removeStart(messages, index), Userfaultfd.removeEnd(messages, index));
            Message.GuestRemovals now = removalsNow;
            try {
                removals.changed(now);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "guest region " + region.id() + ": telling the keeper of memory given back: " + e.getMessage()
                        + "; should this server die, a server taking over would not know it");
            }
        } else {
            LOG.log(System.Logger.Level.DEBUG, () -> "guest region " + region.id() + ": event 0x" + Integer.toHexString(event) + " ignored");
        }
    }

    /** Marks {@code [start, end)} given back, in the pages and in the runs kept for a takeover. */
    private void remove(long start, long end) {
        boolean ours = false;
        for (Range range : ranges) {
            if (start < range.address + range.size && end > range.address) {
                range.remove(start, end);
                ours = true;
            }
        }
        if (!ours || removalsNow.lost()) {
            return;
        }
        long from = start;
        long to = end;
        Map.Entry<Long, Long> before = removedRuns.floorEntry(from);
        if (before != null && before.getValue() >= from) {
            from = before.getKey();
            to = Math.max(to, before.getValue());
        }
        for (Map.Entry<Long, Long> after = removedRuns.ceilingEntry(from); after != null && after.getKey() <= to;
                after = removedRuns.ceilingEntry(from)) {
            to = Math.max(to, after.getValue());
            removedRuns.remove(after.getKey());
        }
        removedRuns.put(from, to);
        if (removedRuns.size() > Message.GuestRemovals.MAX_RANGES) {
            removedRuns.clear();
            removalsNow = new Message.GuestRemovals(new long[0], true);
            LOG.log(System.Logger.Level.WARNING, "guest region " + region.id() + ": more than " + Message.GuestRemovals.MAX_RANGES
                    + " ranges given back; should this server die, the server taking over fails the guest's pages not yet filled");
            return;
        }
        long[] bounds = new long[2 * removedRuns.size()];
        int i = 0;
        for (Map.Entry<Long, Long> run : removedRuns.entrySet()) {
            bounds[i++] = run.getKey();
            bounds[i++] = run.getValue();
        }
        removalsNow = new Message.GuestRemovals(bounds, false);
    }

    private void fillZeros(Range range, long page, Userfaultfd.FillRequest fill) {
        int result = range.pageSize == Userfaultfd.PAGE
                ? fill.zeroPage(uffd, page, range.pageSize, 0)
                : fill.copy(uffd, page, zeros, range.pageSize, 0);
        settle(result, page, range.pageSize, fill);
    }

    @Override
    public void arrived(int chunk, Userfaultfd.FillRequest fill) {
        fillChunk(chunk, memory.addressOf(table.offset(chunk)), fill);
    }

    @Override
    public void failed(int chunk, Userfaultfd.FillRequest fill) {
        fillChunk(chunk, 0, fill);
    }

    /**
     * Copies {@code chunk} from {@code source} (or poisons it, when 0) into every range that holds
     * part of it, stepping over removed pages and pages already there, then wakes those parts.
     *
     * @return 0, or {@code -EFAULT} if the source could not be read (the part of it that could was copied)
     */
    private int fillChunk(int chunk, long source, Userfaultfd.FillRequest fill) {
        int status = 0;
        long chunkStart = table.offset(chunk);
        long chunkEnd = chunkStart + table.fillLength(chunk, 1);
        events.readLock().lock();
        try {
            for (Range range : ranges) {
                long from = Math.max(chunkStart, range.offset);
                long to = Math.min(chunkEnd, range.offset + range.size);
                if (from >= to || stopping || gone) {
                    continue;
                }
                long guestFrom = range.address + (from - range.offset);
                long firstPage = (from - range.offset) / range.pageSize;
                long pages = (to - from) / range.pageSize;
                long runStart = -1;
                for (long page = 0; page <= pages; page++) {
                    boolean fillable = page < pages && !range.isRemoved(firstPage + page);
                    if (fillable && runStart < 0) {
                        runStart = page;
                    } else if (!fillable && runStart >= 0) {
                        long offset = runStart * range.pageSize;
                        int result = fillRun(guestFrom + offset, source == 0 ? 0 : source + (from - chunkStart) + offset,
                                (page - runStart) * range.pageSize, range.pageSize, fill);
                        if (result != 0) {
                            status = result == -Errno.EFAULT ? result : status;
                            break;
                        }
                        runStart = -1;
                    }
                }
                if (!gone) {
                    fill.wake(uffd, guestFrom, to - from);
                }
            }
        } finally {
            events.readLock().unlock();
        }
        return status;
    }

    /**
     * Fills one run of pages.
     *
     * @return 0, or the {@code -errno} that stopped it, after which the rest of the range is better
     *     left for its threads to fault on again
     */
    private int fillRun(long destination, long source, long length, long pageSize, Userfaultfd.FillRequest fill) {
        long done = 0;
        while (done < length) {
            int result = source == 0
                    ? fill.poison(uffd, destination + done, length - done, Userfaultfd.COPY_MODE_DONTWAKE)
                    : fill.copy(uffd, destination + done, source + done, length - done, Userfaultfd.COPY_MODE_DONTWAKE);
            if (result == 0) {
                return 0;
            }
            done += Math.max(0, fill.done());
            if (result == -Errno.EEXIST) {
                done += pageSize; // the guest has this page already: filled before, by a server that died, or written
                continue;
            }
            return settle(result, destination + done, pageSize, fill) ? 0 : result;
        }
        return 0;
    }

    /**
     * What a fill's failure means: EAGAIN (a removal waits to be read) and EFAULT (the cache dropped
     * the chunk under the copy) wake the page, whose threads then fault again; ESRCH and ENOENT mean
     * the guest is gone. False unless the fill succeeded or found the page there.
     */
    private boolean settle(int result, long page, long pageSize, Userfaultfd.FillRequest fill) {
        switch (-result) {
            case 0, Errno.EEXIST -> {
                if (result != 0) {
                    fill.wake(uffd, page, pageSize);
                }
                return true;
            }
            case Errno.EAGAIN, Errno.EFAULT -> fill.wake(uffd, page, pageSize);
            case Errno.ESRCH, Errno.ENOENT -> {
                if (!gone) {
                    gone = true;
                    LOG.log(System.Logger.Level.INFO, "guest region " + region.id() + ": the guest's process is gone");
                }
            }
            default -> LOG.log(System.Logger.Level.ERROR, "guest region " + region.id() + ": filling 0x" + Long.toHexString(page)
                    + " failed with " + Errno.name(-result));
        }
        return false;
    }

    private Range rangeOf(long address) {
        for (Range range : ranges) {
            if (range.holds(address)) {
                return range;
            }
        }
        return null;
    }

    @Override
    public void close() {
        stopping = true;
        boolean joined = loop.stopAndJoin();
        // Copies in flight hold the read lock: once this has the write lock, none uses the descriptor any more.
        events.writeLock().lock();
        try {
            if (joined) {
                Libc.close(uffd);
            } else {
                LOG.log(System.Logger.Level.WARNING, "guest region " + region.id() + ": its fault loop is still running after close; its"
                        + " userfaultfd is left open");
            }
            if (zeros != 0) {
                Libc.munmap(zeros, zerosLength);
            }
            if (localFile != null) {
                localFile.close();
            }
        } finally {
            events.writeLock().unlock();
        }
    }
}
