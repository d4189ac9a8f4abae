package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 1, unit = TimeUnit.MINUTES)
class FetchDeadlinesTest {

    /** Waits for {@code latch} as a read whose connection went silent and that ignores interrupts. */
    private static void deafly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void asManyAbandonedReadsAsTheBoundCloseTheBackendAndTheirBuffersAreFreedWhenTheLastEnds() throws Exception {
        int reads = FetchDeadlines.MAX_ABANDONED;
        CountDownLatch backendClosed = new CountDownLatch(1);
        CountDownLatch answer = new CountDownLatch(1);
        FetchDeadlines deadlines = new FetchDeadlines(Duration.ofMillis(100), "faulty:stuck", backendClosed::countDown);
        List<String> settled = Collections.synchronizedList(new ArrayList<>());
        Queue<Integer> chunks = new ConcurrentLinkedQueue<>();
        AtomicInteger passed = new AtomicInteger();
        AtomicInteger leftWorking = new AtomicInteger();
        CountDownLatch ended = new CountDownLatch(reads);
        AtomicReference<RegionWorkers> self = new AtomicReference<>();
        RegionWorkers workers = new RegionWorkers(reads, () -> {
            for (Integer chunk; (chunk = chunks.poll()) != null; ) {
                FetchDeadlines.Watch watch = deadlines.watch(chunk, chunk + 1, self.get(),
                        (from, to, reason) -> settled.add(from + ".." + to + ": " + reason));
                deafly(answer);
                if (watch.end()) {
                    passed.incrementAndGet();
                }
                if (self.get().isWorking()) {
                    leftWorking.incrementAndGet();
                }
                ended.countDown();
                return;
            }
        }, () -> !chunks.isEmpty());
        self.set(workers);
        for (int chunk = 0; chunk < reads; chunk++) {
            chunks.add(chunk);
            workers.wake();
        }

        assertTrue(backendClosed.await(30, TimeUnit.SECONDS), "the backend was not closed for its stuck reads");
        assertTrue(deadlines.gaveUp());
        assertTrue(deadlines.gaveUpMessage().contains("faulty:stuck"), deadlines.gaveUpMessage());
        assertEquals(reads, settled.size(), settled.toString());
        assertTrue(settled.stream().allMatch(line -> line.endsWith("no answer within 0.1 s")), settled.toString());
        // The workers gave their places up: a region stops without waiting for reads it abandoned.
        workers.stop();
        assertTrue(workers.awaitStopped(TimeUnit.SECONDS.toNanos(10)));

        deadlines.close();
        CountDownLatch freed = new CountDownLatch(1);
        deadlines.whenNoneOut(freed::countDown);
        assertEquals(1, freed.getCount(), "buffers freed while reads past their deadline could still write into them");
        answer.countDown();
        assertTrue(ended.await(10, TimeUnit.SECONDS));
        assertTrue(freed.await(10, TimeUnit.SECONDS));
        assertEquals(reads, passed.get());
        assertEquals(0, leftWorking.get());
    }

    @Test
    void aReadThatEndsInTimeIsNeitherSettledNorInterrupted() throws Exception {
        FetchDeadlines deadlines = new FetchDeadlines(Duration.ofMillis(50), "mem:x", () -> {});
        RegionWorkers workers = new RegionWorkers(1, () -> {}, () -> false);
        List<Integer> settled = Collections.synchronizedList(new ArrayList<>());
        FetchDeadlines.Watch inTime = deadlines.watch(0, 1, workers, (from, to, reason) -> settled.add(from));
        assertFalse(inTime.end());
        // Timed after the first on the one timer thread: when it passes, the first's deadline has passed too.
        CountDownLatch later = new CountDownLatch(1);
        FetchDeadlines.Watch late = deadlines.watch(1, 2, workers, (from, to, reason) -> {
            settled.add(from);
            later.countDown();
        });
        deafly(later); // this thread is the late read, which the deadline interrupts
        assertTrue(Thread.currentThread().isInterrupted(), "the late read was not interrupted");
        assertTrue(late.end());
        assertEquals(List.of(1), settled);
        assertFalse(Thread.currentThread().isInterrupted(), "the interrupt meant for the late read was left behind");
    }
}
