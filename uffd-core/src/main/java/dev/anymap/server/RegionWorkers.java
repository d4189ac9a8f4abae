package dev.anymap.server;

import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * One region's workers of one kind (demand fetches, or prefetches), run on threads that every
 * region of the page server shares: a map starts no threads but its fault loop, and a region holds
 * threads only while it has reads to make. Measured at 0 ms round trip, starting and joining 64
 * prefetch threads of its own added about 3.5 ms to each S3 map and 2.6 ms to each close. Up to
 * {@code limit} workers drain the region's queue at once; each one leaves when the queue is empty,
 * and the next {@link #wake()} starts one again.
 */
final class RegionWorkers {
    /**
     * Platform threads: on virtual ones, measured, a cold scan of 256 MiB on S3 ran at 150 MB/s instead of 270.
     * One idle for 15 s ends: a burst of reads (a pull, a client's fuzz) leaves no hundreds of threads for long.
     */
    private static final ExecutorService THREADS = new java.util.concurrent.ThreadPoolExecutor(0, Integer.MAX_VALUE, 15,
            TimeUnit.SECONDS, new java.util.concurrent.SynchronousQueue<>(), Thread.ofPlatform().name("anymap-worker-", 0).daemon().factory());
    /**
     * Wakes again a region that could have no thread (a cgroup's {@code pids.max}, {@code ulimit -u}):
     * its one thread is started with the class, before a limit can refuse it.
     */
    private static final ScheduledThreadPoolExecutor RETRIES = retries();
    private static final Duration RETRY_PAUSE = Duration.ofMillis(50);
    private static final PeerWarnings NO_THREAD = new PeerWarnings(System.getLogger(RegionWorkers.class.getName()), "process");

    /** Takes extents from a region's queue until it is empty or the region stops. */
    @FunctionalInterface
    interface Drain {
        void run() throws InterruptedException;
    }

    private final int limit;
    private final Drain drain;
    private final BooleanSupplier queued;
    /** The threads working for this region now, so that {@link #stop} interrupts them and no others. */
    private final Set<Thread> working = new HashSet<>();
    private int started;
    private boolean stopped;

    /**
     * @param limit the most workers at once
     * @param drain what each worker runs
     * @param queued whether the queue holds work: checked as a worker leaves, so that work queued
     *     while every worker was leaving still gets one
     */
    RegionWorkers(int limit, Drain drain, BooleanSupplier queued) {
        this.limit = limit;
        this.drain = drain;
        this.queued = queued;
    }

    /** Starts a worker for newly queued work, unless {@code limit} are at work already. */
    void wake() {
        synchronized (this) {
            if (stopped || started >= limit) {
                return;
            }
            started++;
        }
        try {
            THREADS.execute(this::work);
        } catch (RuntimeException | Error noThread) {
            // Not thrown: the fault loop that queued the work would stop, and every thread waiting on the region with it.
            leave();
            NO_THREAD.warn(0, "no thread could be started for a fetch (" + noThread + "); trying again every "
                    + RETRY_PAUSE.toMillis() + " ms, the faults waiting meanwhile: raise the page server's process or pids limit");
            RETRIES.schedule(this::wakeIfQueued, RETRY_PAUSE.toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    private void wakeIfQueued() {
        if (queued.getAsBoolean()) {
            wake();
        }
    }

    private static ScheduledThreadPoolExecutor retries() {
        ScheduledThreadPoolExecutor retries = new ScheduledThreadPoolExecutor(1, Thread.ofPlatform().name("anymap-worker-retry").daemon().factory());
        retries.prestartAllCoreThreads();
        return retries;
    }

    private void work() {
        Thread self = Thread.currentThread();
        synchronized (this) {
            if (stopped) {
                leave();
                return;
            }
            working.add(self);
        }
        try {
            drain.run();
        } catch (InterruptedException stopping) {
            // stop() interrupts the workers.
        } finally {
            synchronized (this) {
                // Cleared under the lock that stop() interrupts under: the next region this thread works for never sees it.
                Thread.interrupted();
                if (working.remove(self)) {
                    leave(); // else release() gave its place up already
                }
            }
        }
        wakeIfQueued();
    }

    private synchronized void leave() {
        started--;
        notifyAll();
    }

    /**
     * Gives the place of {@code worker}, stuck in a read past its deadline, to a new worker: the
     * region's other reads go on with as many workers as before, while {@code worker} finishes what
     * it has, if it ever does, and then leaves ({@link #isWorking()} tells it so).
     */
    void release(Thread worker) {
        synchronized (this) {
            if (!working.remove(worker)) {
                return;
            }
            leave();
        }
        wakeIfQueued();
    }

    /** Whether the calling thread still works for this region: false once {@link #release}d. */
    synchronized boolean isWorking() {
        return working.contains(Thread.currentThread());
    }

    /** Starts no more workers, and interrupts those at work: a region stops all its kinds of worker, then waits. */
    synchronized void stop() {
        stopped = true;
        working.forEach(Thread::interrupt);
    }

    /**
     * Waits until the workers that {@link #stop()} interrupted have left.
     *
     * @return false if one was still at work when {@code timeoutNanos} ran out
     */
    synchronized boolean awaitStopped(long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        for (long left = timeoutNanos; started > 0 && left > 0; left = deadline - System.nanoTime()) {
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return started == 0;
    }
}
