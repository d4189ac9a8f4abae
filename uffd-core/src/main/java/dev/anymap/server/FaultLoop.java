package dev.anymap.server;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.concurrent.locks.Lock;

/**
 * The thread that reads one userfaultfd's messages, in batches, and hands each page fault on. It
 * polls briefly after a fault, when the next is likely close behind, and otherwise sleeps in
 * poll(2) until a fault or {@link #stopAndJoin()}. Other events, where the userfaultfd has them enabled,
 * go to their own handler first, under a lock held while the batch is read.
 */
final class FaultLoop {
    private static final System.Logger LOG = System.getLogger(FaultLoop.class.getName());
    private static final int MESSAGES_PER_READ = 64;
    /**
     * How long the loop keeps polling the userfaultfd after a fault before it sleeps in poll(2): at
     * least this, and twice the last gap between faults where that was under {@link #MAX_SPIN_NANOS},
     * so that a scan of large chunks, whose thread reads a while between faults, still finds it awake.
     */
    private static final long MIN_SPIN_NANOS = 50_000;
    private static final long MAX_SPIN_NANOS = 200_000;
    private static final long CLOSE_TIMEOUT_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
    private static final long HUGE_PAGE = 2L << 20;

    /** What the loop hands each page fault to, on its own thread. */
    interface PageFaults {
        /** @param thread the thread that faulted, where the userfaultfd names it; 0 where not */
        void onPageFault(long address, int thread, Userfaultfd.FillRequest fill);
    }

    /** What the loop hands every other event to, on its own thread, while it holds its reading lock. */
    interface Events {
        void onEvent(MemorySegment messages, int index);
    }

    private final int uffd;
    private final int stopEvent;
    private final PageFaults faults;
    private final Lock reading;
    private final Events events;
    private final String name;
    private final Thread thread;
    private volatile boolean stopping;
    /** Faults whose handler threw, on the loop's thread. */
    private long failedFaults;

    /** Starts the loop; {@code userfaultfd} stays the caller's to close, after {@link #stopAndJoin}. */
    FaultLoop(int userfaultfd, PageFaults faults, String name) throws NativeException {
        this(userfaultfd, faults, null, null, name);
    }

    /**
     * @param reading held while a batch is read and its other events handled, so that whoever holds
     *     it knows that no event it has not seen was read meanwhile; null for none
     * @param events the handler of events other than page faults; null where none is enabled
     */
    FaultLoop(int userfaultfd, PageFaults faults, Lock reading, Events events, String name) throws NativeException {
        this.uffd = userfaultfd;
        this.faults = faults;
        this.reading = reading;
        this.events = events;
        this.name = name;
        this.stopEvent = (int) Libc.check(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK), "eventfd");
        this.thread = Thread.ofPlatform().name("anymap-faults-" + name).daemon().unstarted(this::run);
        thread.start();
    }

    private void run() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment messages = arena.allocate((long) Userfaultfd.MESSAGE_SIZE * MESSAGES_PER_READ, 8);
            MemorySegment pollfds = arena.allocate(2 * Libc.POLLFD_SIZE, 4);
            Libc.setPollFd(pollfds, 0, uffd, Libc.POLLIN);
            Libc.setPollFd(pollfds, 1, stopEvent, Libc.POLLIN);
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            long lastFault = System.nanoTime();
            long spin = MIN_SPIN_NANOS;
            while (!stopping) {
                long read = read(messages);
                if (read > 0) {
                    long gap = System.nanoTime() - lastFault;
                    spin = gap < MAX_SPIN_NANOS / 2 ? Math.max(MIN_SPIN_NANOS, 2 * gap) : MIN_SPIN_NANOS;
                    int count = (int) (read / Userfaultfd.MESSAGE_SIZE);
                    for (int i = 0; i < count; i++) {
                        if (Userfaultfd.event(messages, i) == Userfaultfd.EVENT_PAGEFAULT) {
                            long address = Userfaultfd.pagefaultAddress(messages, i);
                            try {
                                faults.onPageFault(address, Userfaultfd.pagefaultThread(messages, i), fill);
                            } catch (RuntimeException | Error e) {
                                failFault(address, e, fill);
                            }
                        }
                    }
                    lastFault = System.nanoTime();
                } else if (read == -Errno.EAGAIN) {
                    if (System.nanoTime() - lastFault < spin) {
                        Thread.onSpinWait();
                        continue;
                    }
                    int ready = Libc.poll(pollfds, 2, -1);
                    if (ready < 0 && ready != -Errno.EINTR) {
                        throw new NativeException("poll", -ready);
                    }
                    short uffdEvents = Libc.pollRevents(pollfds, 0);
                    if (Libc.pollRevents(pollfds, 1) != 0 || (uffdEvents & (Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0) {
                        return;
                    }
                } else if (read != -Errno.EINTR) {
                    throw new NativeException("read(userfaultfd)", (int) -read);
                }
            }
        } catch (Exception | Error e) {
            if (!stopping) {
                LOG.log(System.Logger.Level.ERROR, "fault loop of " + name + " stopped", e);
            }
        }
    }

    /**
     * A fault whose handler threw: its page is poisoned, so that the thread gets a memory error
     * (an {@code InternalError} in Java) rather than waiting for ever, and the loop goes on serving
     * the region's other pages. A page of a hugetlb mapping is poisoned whole.
     */
    private void failFault(long address, Throwable cause, Userfaultfd.FillRequest fill) {
        failedFaults++;
        if (failedFaults == 1 || failedFaults % 1000 == 0) {
            LOG.log(System.Logger.Level.ERROR, "fault loop of " + name + ": handling a fault failed (" + failedFaults
                    + " so far); its page is poisoned", cause);
        }
        int result = fill.poison(uffd, address & -Userfaultfd.PAGE, Userfaultfd.PAGE, 0);
        if (result == -Errno.EINVAL) {
            result = fill.poison(uffd, address & -HUGE_PAGE, HUGE_PAGE, 0);
        }
        if (result != 0 && result != -Errno.EEXIST) {
            LOG.log(System.Logger.Level.ERROR, "fault loop of " + name + ": poisoning the page at 0x" + Long.toHexString(address)
                    + " failed: " + new NativeException("UFFDIO_POISON", -result).getMessage());
        }
    }

    /** Reads a batch; with a reading lock, hands its other events on before letting go of it. */
    private long read(MemorySegment messages) {
        if (reading == null) {
            return Libc.read(uffd, messages, messages.byteSize());
        }
        reading.lock();
        try {
            long read = Libc.read(uffd, messages, messages.byteSize());
            for (int i = 0; i < read / Userfaultfd.MESSAGE_SIZE; i++) {
                if (Userfaultfd.event(messages, i) != Userfaultfd.EVENT_PAGEFAULT && events != null) {
                    events.onEvent(messages, i);
                }
            }
            return read;
        } finally {
            reading.unlock();
        }
    }

    /**
     * Stops the loop and waits for it, up to ten seconds; false if it still runs then, and its
     * userfaultfd must stay open: a thread that may still use the descriptor must not find its
     * number given to another.
     */
    boolean stopAndJoin() {
        stop();
        try {
            return join(CLOSE_TIMEOUT_NANOS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private void stop() {
        stopping = true;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(8);
            one.set(ValueLayout.JAVA_LONG, 0, 1L);
            Libc.write(stopEvent, one, 8);
        }
        thread.interrupt();
    }

    /** Waits for the loop to end; once it has, its eventfd is closed. */
    private boolean join(long timeoutNanos) throws InterruptedException {
        boolean ended = thread.join(Duration.ofNanos(Math.max(1, timeoutNanos)));
        if (ended) {
            Libc.close(stopEvent);
        }
        return ended;
    }
}
