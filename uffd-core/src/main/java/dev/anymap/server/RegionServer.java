package dev.anymap.server;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Message;
import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;

/**
 * Serves the page faults of one mapped region: a fault loop that reads fault messages in batches
 * and hands missing chunks to fetch workers, which read the chunk from the backend into a staging
 * buffer and install it with UFFDIO_COPY.
 *
 * <p>Each chunk is EMPTY, IN_FLIGHT or PRESENT (or FAILED, after a fetch gave up). Only the fault
 * loop moves a chunk out of EMPTY or FAILED, so concurrent faults on one chunk merge into one fetch:
 * UFFDIO_COPY wakes every thread waiting anywhere in the chunk. Demand fetches go to the front of
 * the queue and readahead to the back, so prefetching never delays a fault.
 */
final class RegionServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RegionServer.class.getName());
    static final int PAGE = Userfaultfd.PAGE;
    static final int MIN_CHUNK = PAGE;
    static final int MAX_CHUNK = 32 << 20;

    private static final byte EMPTY = 0;
    private static final byte IN_FLIGHT = 1;
    private static final byte PRESENT = 2;
    private static final byte FAILED = 3;
    private static final VarHandle STATE = MethodHandles.arrayElementVarHandle(byte[].class);

    private static final int MESSAGES_PER_READ = 64;
    /** How long the fault loop keeps polling the userfaultfd after a fault before it sleeps in poll(2). */
    private static final long SPIN_NANOS = 50_000;
    private static final int FETCH_ATTEMPTS = 3;
    private static final long FIRST_RETRY_MILLIS = 50;

    private final long id;
    private final StorageBackend backend;
    private final long size;
    private final long mappedLength;
    private final int chunkSize;
    private final int readaheadChunks;
    private final int fetchWorkers;
    private final String failEveryFault;
    private final long viewAddress;
    private final byte[] states;
    private final LinkedBlockingDeque<Integer> queue = new LinkedBlockingDeque<>();
    private final RegionCounters counters = new RegionCounters();
    private final List<Thread> threads = new ArrayList<>();

    private volatile boolean stopping;
    private int uffd = -1;
    private int stopEvent = -1;
    private long base;

    /**
     * @param failEveryFault when not null, every fault fails with this reason: the object is no
     *     longer the version the client mapped
     */
    RegionServer(long id, StorageBackend backend, int chunkSize, int fetchWorkers, int readaheadChunks, String failEveryFault) {
        this.id = id;
        this.backend = backend;
        this.size = backend.size();
        this.mappedLength = mappedLength(size);
        this.chunkSize = chunkSize;
        this.fetchWorkers = fetchWorkers;
        this.readaheadChunks = readaheadChunks;
        this.failEveryFault = failEveryFault;
        this.viewAddress = backend.view().map(MemorySegment::address).orElse(0L);
        long chunks = (mappedLength + chunkSize - 1) / chunkSize;
        if (chunks > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a chunk size of " + chunkSize + " makes " + chunks + " chunks for "
                    + Redaction.uri(backend.uri()) + "; use larger chunks");
        }
        this.states = new byte[(int) chunks];
    }

    /** The length a client maps for an object of {@code size} bytes: whole pages. */
    static long mappedLength(long size) {
        return (size + PAGE - 1) & -PAGE;
    }

    long id() {
        return id;
    }

    StorageBackend backend() {
        return backend;
    }

    Message.Stats stats(long requestId) {
        return counters.snapshot(requestId);
    }

    /**
     * Starts serving the faults of {@code [address, address + length)} through {@code userfaultfd},
     * which this region then owns. Wakes every thread already waiting there: after a page server
     * restart they wait on faults that the dead server had read and will never answer.
     */
    synchronized void attach(int userfaultfd, long address, long length) throws IOException {
        if (uffd >= 0) {
            Libc.close(userfaultfd);
            throw new IllegalStateException("region " + id + " is already attached");
        }
        if (length != mappedLength || (address & (PAGE - 1)) != 0 || address == 0) {
            Libc.close(userfaultfd);
            throw new IllegalArgumentException("attach of " + length + " bytes at 0x" + Long.toHexString(address)
                    + " does not match region " + id + " (" + mappedLength + " bytes, page aligned)");
        }
        uffd = userfaultfd;
        base = address;
        stopEvent = (int) Libc.check(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK), "eventfd");
        for (int i = 0; i < fetchWorkers; i++) {
            threads.add(Thread.ofPlatform().name("anymap-fetch-" + id + "-" + i).daemon().start(this::fetchLoop));
        }
        threads.add(Thread.ofPlatform().name("anymap-faults-" + id).daemon().start(this::faultLoop));
        Userfaultfd.wake(uffd, base, mappedLength);
    }

    private void faultLoop() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment messages = arena.allocate((long) Userfaultfd.MESSAGE_SIZE * MESSAGES_PER_READ, 8);
            MemorySegment pollfds = arena.allocate(2 * Libc.POLLFD_SIZE, 4);
            Libc.setPollFd(pollfds, 0, uffd, Libc.POLLIN);
            Libc.setPollFd(pollfds, 1, stopEvent, Libc.POLLIN);
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            long lastFault = System.nanoTime();
            while (!stopping) {
                long read = Libc.read(uffd, messages, messages.byteSize());
                if (read > 0) {
                    onMessages(messages, (int) (read / Userfaultfd.MESSAGE_SIZE), fill);
                    lastFault = System.nanoTime();
                } else if (read == -Errno.EAGAIN) {
                    // Busy-poll briefly after a fault, when the next one is likely close behind; then sleep.
                    if (System.nanoTime() - lastFault < SPIN_NANOS) {
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
                LOG.log(System.Logger.Level.ERROR, "fault loop of region " + id + " (" + Redaction.uri(backend.uri()) + ") stopped", e);
            }
        }
    }

    private void onMessages(MemorySegment messages, int count, Userfaultfd.FillRequest fill) {
        for (int i = 0; i < count; i++) {
            if (Userfaultfd.event(messages, i) != Userfaultfd.EVENT_PAGEFAULT) {
                continue; // no other event is enabled
            }
            long offset = (Userfaultfd.pagefaultAddress(messages, i) & -PAGE) - base;
            if (offset < 0 || offset >= mappedLength) {
                continue;
            }
            counters.fault();
            int chunk = (int) (offset / chunkSize);
            demand(chunk, fill);
            for (int ahead = 1; ahead <= readaheadChunks && chunk + ahead < states.length; ahead++) {
                int next = chunk + ahead;
                if (claim(next) && !fillFromView(next, fill)) {
                    queue.offerLast(next);
                }
            }
        }
    }

    private void demand(int chunk, Userfaultfd.FillRequest fill) {
        if (claim(chunk)) {
            if (!fillFromView(chunk, fill)) {
                queue.offerFirst(chunk);
            }
        } else if ((byte) STATE.getVolatile(states, chunk) == IN_FLIGHT && queue.removeLastOccurrence(chunk)) {
            // Queued as readahead and not started yet: a thread now waits for it.
            queue.offerFirst(chunk);
        }
    }

    private boolean claim(int chunk) {
        byte state = (byte) STATE.getVolatile(states, chunk);
        return (state == EMPTY || state == FAILED) && STATE.compareAndSet(states, chunk, state, IN_FLIGHT);
    }

    private void fetchLoop() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment staging = arena.allocate(chunkSize, PAGE);
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            while (!stopping) {
                Integer chunk = queue.pollFirst(1, TimeUnit.SECONDS);
                if (chunk != null) {
                    fetch(chunk, staging, fill);
                }
            }
        } catch (InterruptedException stopped) {
            // close() interrupts the workers.
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.ERROR, "fetch worker of region " + id + " stopped", e);
        }
    }

    private void fetch(int chunk, MemorySegment staging, Userfaultfd.FillRequest fill) throws InterruptedException {
        long offset = (long) chunk * chunkSize;
        long fillLength = Math.min(chunkSize, mappedLength - offset);
        long dataLength = Math.min(chunkSize, size - offset);
        if (failEveryFault != null) {
            fail(chunk, offset, fillLength, failEveryFault, fill);
            return;
        }
        long started = System.nanoTime();
        Exception failure = read(offset, staging.asSlice(0, dataLength));
        if (failure != null) {
            fail(chunk, offset, fillLength, describe(offset, dataLength, failure), fill);
            return;
        }
        if (dataLength < fillLength) {
            // The object ends inside this page: the rest of it reads as zeros.
            staging.asSlice(dataLength, fillLength - dataLength).fill((byte) 0);
        }
        // Counted before the install wakes the faulting threads, so that they see it in stats.
        counters.fetched(dataLength, System.nanoTime() - started);
        if (install(chunk, offset, fillLength, staging.address(), fill, false)) {
            STATE.setVolatile(states, chunk, PRESENT);
        }
    }

    /**
     * Fills a claimed chunk straight from the backend's {@linkplain StorageBackend#view() view},
     * on the calling thread: a copy from memory that never waits on storage, so the fault loop does
     * it itself and saves the handoff to a worker, which costs more than the copy of a small chunk.
     *
     * @return false if the chunk needs a fetch by a worker: there is no view, the chunk holds the
     *     object's end (whose page is partly past it), or the region has to fail every fault
     */
    private boolean fillFromView(int chunk, Userfaultfd.FillRequest fill) {
        long offset = (long) chunk * chunkSize;
        long length = Math.min(chunkSize, size - offset);
        if (viewAddress == 0 || failEveryFault != null || length != Math.min(chunkSize, mappedLength - offset)) {
            return false;
        }
        counters.fetched(length, 0);
        if (install(chunk, offset, length, viewAddress + offset, fill, false)) {
            STATE.setVolatile(states, chunk, PRESENT);
        }
        return true;
    }

    /** Reads with bounded retries; the failure that ended them, or null. */
    private Exception read(long offset, MemorySegment target) throws InterruptedException {
        Exception failure = null;
        for (int attempt = 0; attempt < FETCH_ATTEMPTS && !stopping; attempt++) {
            if (attempt > 0) {
                Thread.sleep(FIRST_RETRY_MILLIS << (2 * (attempt - 1)));
            }
            try {
                backend.read(offset, target);
                return null;
            } catch (OutOfRangeException | ObjectChangedException | BackendClosedException permanent) {
                return permanent;
            } catch (IOException | RuntimeException e) {
                failure = e;
            }
        }
        return failure != null ? failure : new BackendClosedException(backend.uri());
    }

    private String describe(long offset, long length, Exception failure) {
        return "reading " + length + " bytes at offset " + offset + " of " + Redaction.uri(backend.uri()) + " failed: "
                + failure.getClass().getSimpleName() + ": " + failure.getMessage();
    }

    /**
     * Poisons the chunk, so that the threads waiting in it, and every later touch, get SIGBUS (which
     * the JVM turns into an InternalError at the access). The chunk is FAILED: if the client zaps
     * the poisoned pages, the next touch fetches it again.
     */
    private void fail(int chunk, long offset, long fillLength, String description, Userfaultfd.FillRequest fill) {
        counters.failed(description);
        LOG.log(System.Logger.Level.WARNING, "region " + id + ": " + description);
        if (install(chunk, offset, fillLength, 0, fill, true)) {
            STATE.setVolatile(states, chunk, FAILED);
        }
    }

    /** @return false if the region is gone (the client unmapped it or exited) */
    private boolean install(int chunk, long offset, long length, long source, Userfaultfd.FillRequest fill, boolean poison) {
        int result = fill.fillRange(uffd, base + offset, poison ? 0 : source, length);
        if (result == 0) {
            return true;
        }
        if (result != -Errno.ENOENT && result != -Errno.ESRCH && !stopping) {
            LOG.log(System.Logger.Level.ERROR, "region " + id + ": installing chunk " + chunk + " failed with "
                    + Errno.name(-result) + "; the threads waiting on it are woken to fault again");
            STATE.setVolatile(states, chunk, EMPTY);
            wakeQuietly(offset, length);
        }
        return false;
    }

    private void wakeQuietly(long offset, long length) {
        try {
            Userfaultfd.wake(uffd, base + offset, length);
        } catch (NativeException e) {
            LOG.log(System.Logger.Level.DEBUG, "wake after install: " + e.getMessage());
        }
    }

    /** Stops serving, waits for the fault loop and workers, and frees the userfaultfd and backend. */
    @Override
    public synchronized void close() {
        if (stopping) {
            return;
        }
        stopping = true;
        if (stopEvent >= 0) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment one = arena.allocate(8);
                one.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 1L);
                Libc.write(stopEvent, one, 8);
            }
        }
        for (Thread thread : threads) {
            thread.interrupt();
        }
        // Closed before the join: a worker blocked in a slow read is released by it.
        try {
            backend.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "closing " + Redaction.uri(backend.uri()) + ": " + e.getMessage());
        }
        boolean joined = true;
        for (Thread thread : threads) {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(10));
                joined &= !thread.isAlive();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                joined = false;
                break;
            }
        }
        if (!joined) {
            // A thread that may still call ioctl on the userfaultfd must not find its number reused.
            LOG.log(System.Logger.Level.WARNING, "region " + id + ": a fetch is still running after close; its descriptors are left open");
            return;
        }
        if (uffd >= 0) {
            Libc.close(uffd);
        }
        if (stopEvent >= 0) {
            Libc.close(stopEvent);
        }
    }
}
