package dev.anymap.server;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The deadline on a region's fetches: a read of the backend that gives no answer within it is given
 * up, so that a backend with no timeouts of its own never holds a faulting thread for ever.
 *
 * <p>The deadline runs from the start of a fetch (one read of one or more adjacent chunks) to its
 * end, over every attempt the page server and the backend make; a fetch that failed for another
 * reason and is followed by reads of its chunks one by one gives each of those a deadline of its
 * own. When it passes, the chunks the read has not brought are settled at once, on a timer thread
 * (the region poisons those that a thread waits for, and gives the others back to be fetched again),
 * the reading thread is interrupted, and its place among the region's workers goes to a new one.
 * A read that ignores the interrupt is abandoned: its thread finishes it whenever it can, and
 * installs nothing. So that stuck reads do not take a thread each for ever, a region abandons at
 * most {@link #MAX_ABANDONED} at once; at that many its backend is closed, which releases the reads
 * of any backend that keeps the {@code StorageBackend} contract, and every later fetch fails.
 */
final class FetchDeadlines {
    private static final System.Logger LOG = System.getLogger(FetchDeadlines.class.getName());
    /** One thread for every region of the page server: it settles chunks, which is a few ioctls. */
    private static final ScheduledThreadPoolExecutor TIMER = timer();
    /**
     * The fetches under way, in every region. They are swept by one timer, set for the earliest
     * deadline among them, and not timed one by one: measured (a loop of 20 us fetches), a timer set
     * and cancelled for each fetch woke the timer thread each time, 6 us of CPU per fetch, as much as
     * a fourth of a read of 256 KiB from the page cache; noting it in this set costs 0.1 us.
     */
    private static final Set<Watch> UNDER_WAY = ConcurrentHashMap.newKeySet();
    /** Whether a sweep is set, and for when; guarded by {@link #UNDER_WAY}. */
    private static boolean sweepSet;
    private static long sweepAt;
    /** How long an interrupted read has to end before it counts as abandoned. */
    static final long ABANDON_AFTER_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** The most abandoned reads a region holds at once before it closes its backend. */
    static final int MAX_ABANDONED = 8;

    /** What becomes of the chunks {@code [from, to)} that a fetch had not brought when its deadline passed. */
    @FunctionalInterface
    interface Expiry {
        void settle(int from, int to, String reason);
    }

    /** What a fetch past its deadline returns: its chunks were settled when it passed. */
    static final class PassedException extends IOException {
        private static final long serialVersionUID = 1L;

        PassedException(String message) {
            super(message);
        }
    }

    private final long deadlineNanos;
    private final String printableUri;
    private final Runnable closeBackend;
    /** Guarded by this, as is every field below: a settle runs under it, so that close waits for one under way. */
    private int passedOut;
    private int abandoned;
    private boolean gaveUp;
    private boolean closed;
    private Runnable afterLastRead;

    /**
     * @param closeBackend closes the region's backend, when {@link #MAX_ABANDONED} reads of it are abandoned
     */
    FetchDeadlines(Duration deadline, String printableUri, Runnable closeBackend) {
        this.deadlineNanos = deadline.toNanos();
        this.printableUri = printableUri;
        this.closeBackend = closeBackend;
    }

    private static ScheduledThreadPoolExecutor timer() {
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1,
                Thread.ofPlatform().name("anymap-fetch-deadlines").daemon().factory());
        return timer;
    }

    /** Notes a fetch under way, and sets the sweep for its deadline if none is set sooner. */
    private static void add(Watch watch) {
        synchronized (UNDER_WAY) {
            UNDER_WAY.add(watch);
            if (!sweepSet || watch.deadlineAt - sweepAt < 0) {
                setSweep(watch.deadlineAt);
            }
        }
    }

    private static void setSweep(long at) {
        sweepSet = true;
        sweepAt = at;
        TIMER.schedule(FetchDeadlines::sweep, Math.max(0, at - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    /** Expires the fetches whose deadline has passed, and sets the next sweep for the earliest of the rest. */
    private static void sweep() {
        List<Watch> due = new ArrayList<>();
        synchronized (UNDER_WAY) {
            long now = System.nanoTime();
            long next = Long.MAX_VALUE;
            boolean any = false;
            for (Watch watch : UNDER_WAY) {
                if (watch.deadlineAt - now <= 0) {
                    due.add(watch);
                } else if (!any || watch.deadlineAt - next < 0) {
                    next = watch.deadlineAt;
                    any = true;
                }
            }
            UNDER_WAY.removeAll(due);
            if (!any) {
                sweepSet = false;
            } else if (sweepAt - now <= 0 || next - sweepAt < 0) {
                setSweep(next); // else this was a sweep set before a sooner one, which sets the next
            }
        }
        due.forEach(Watch::expire);
    }

    /** What a chunk whose fetch passed its deadline failed with: "no answer within 120 s". */
    String reason() {
        long millis = TimeUnit.NANOSECONDS.toMillis(deadlineNanos);
        return "no answer within " + (millis % 1000 == 0 ? String.valueOf(millis / 1000) : String.valueOf(millis / 1000.0)) + " s";
    }

    /** Whether the backend was closed because too many of its reads were abandoned. */
    synchronized boolean gaveUp() {
        return gaveUp;
    }

    /** Why every fetch fails once the backend was closed for its abandoned reads. */
    String gaveUpMessage() {
        return MAX_ABANDONED + " reads of " + printableUri + " gave " + reason() + " and ignored their interrupts; its backend was "
                + "closed, so that they hold no more threads. Map it again to read on";
    }

    /**
     * Watches a fetch of chunks {@code [first, end)} by the calling thread, one of {@code workers}, from now
     * until the deadline or {@link Watch#end()}.
     */
    Watch watch(int first, int end, RegionWorkers workers, Expiry expiry) {
        Watch watch = new Watch(Thread.currentThread(), first, end, System.nanoTime() + deadlineNanos, workers, expiry);
        add(watch);
        return watch;
    }

    /** Settles no more chunks, after waiting for a settle under way: the region is about to close its userfaultfd. */
    synchronized void close() {
        closed = true;
    }

    /**
     * Runs {@code free} once no read past its deadline is out: now, or when the last one ends. What
     * such a read may still write into is freed then.
     */
    void whenNoneOut(Runnable free) {
        synchronized (this) {
            if (passedOut > 0) {
                afterLastRead = free;
                LOG.log(System.Logger.Level.WARNING, passedOut + " reads of " + printableUri
                        + " past their deadline are still out as its region closes; their buffers are freed when they end");
                return;
            }
        }
        free.run();
    }

    /** One fetch under the deadline. */
    final class Watch {
        private final Thread reader;
        private final int end;
        private final RegionWorkers workers;
        private final Expiry expiry;
        private final long deadlineAt;
        /** Guarded by this, as are the fields below: the first chunk not handed on yet. */
        private int next;
        private boolean ended;
        private boolean passed;
        private boolean counted;

        private Watch(Thread reader, int first, int end, long deadlineAt, RegionWorkers workers, Expiry expiry) {
            this.reader = reader;
            this.deadlineAt = deadlineAt;
            this.next = first;
            this.end = end;
            this.workers = workers;
            this.expiry = expiry;
        }

        /**
         * Hands chunk {@code chunk} on (installs or holds it) unless the deadline has passed, in
         * which case the chunk was settled already and the read is stopped with a
         * {@link PassedException}, thrown through the backend's stream.
         */
        synchronized void deliver(int chunk, Runnable handOn) {
            if (passed) {
                throw new UncheckedPassed(new PassedException(reason()));
            }
            handOn.run();
            next = chunk + 1;
        }

        /** Whether the deadline has passed, and the read is given up. */
        synchronized boolean passed() {
            return passed;
        }

        /**
         * Ends the watch. @return whether the deadline passed: the chunks that the read had not
         *     brought then are settled, and the interrupt meant for the read is cleared
         */
        boolean end() {
            UNDER_WAY.remove(this);
            synchronized (this) {
                ended = true;
                if (!passed) {
                    return false;
                }
            }
            Thread.interrupted();
            Runnable free = null;
            synchronized (FetchDeadlines.this) {
                passedOut--;
                if (counted) {
                    abandoned--;
                }
                if (passedOut == 0 && afterLastRead != null) {
                    free = afterLastRead;
                    afterLastRead = null;
                }
            }
            if (free != null) {
                free.run();
            }
            return true;
        }

        private void expire() {
            int from;
            synchronized (this) {
                if (ended || next >= end) {
                    return; // every chunk is in: the read is as good as done
                }
                passed = true;
                from = next;
                reader.interrupt();
            }
            workers.release(reader);
            synchronized (FetchDeadlines.this) {
                passedOut++;
                if (!closed) {
                    try {
                        expiry.settle(from, end, reason());
                    } catch (RuntimeException | Error e) {
                        LOG.log(System.Logger.Level.ERROR, "settling the chunks of a read of " + printableUri + " past its deadline", e);
                    }
                }
            }
            TIMER.schedule(this::abandonIfStuck, ABANDON_AFTER_NANOS, TimeUnit.NANOSECONDS);
        }

        private void abandonIfStuck() {
            int now;
            boolean giveUp;
            synchronized (FetchDeadlines.this) {
                synchronized (this) {
                    if (ended) {
                        return;
                    }
                    counted = true;
                }
                now = ++abandoned;
                giveUp = now >= MAX_ABANDONED && !gaveUp && !closed;
                gaveUp |= giveUp;
            }
            LOG.log(System.Logger.Level.WARNING, "a read of " + printableUri + " gave " + reason() + " and ignores its interrupt; "
                    + "abandoned (" + now + " of " + MAX_ABANDONED + " before the backend is closed)");
            if (giveUp) {
                LOG.log(System.Logger.Level.ERROR, gaveUpMessage());
                closeBackend.run();
            }
        }
    }

    /** Carries a {@link PassedException} out of a backend's stream, which throws only IOException. */
    static final class UncheckedPassed extends RuntimeException {
        private static final long serialVersionUID = 1L;

        UncheckedPassed(PassedException cause) {
            super(cause.getMessage(), cause, false, false);
        }
    }
}
