package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class RegionWorkersTest {

    @Test
    void drainsEveryQueuedItemWithNoMoreWorkersAtOnceThanTheLimit() throws Exception {
        Queue<Integer> queue = new ConcurrentLinkedQueue<>();
        CountDownLatch done = new CountDownLatch(2_000);
        AtomicInteger atWork = new AtomicInteger();
        AtomicInteger mostAtWork = new AtomicInteger();
        RegionWorkers workers = new RegionWorkers(3, () -> {
            int now = atWork.incrementAndGet();
            mostAtWork.accumulateAndGet(now, Math::max);
            try {
                for (Integer item; (item = queue.poll()) != null; ) {
                    done.countDown();
                }
            } finally {
                atWork.decrementAndGet();
            }
        }, () -> !queue.isEmpty());
        for (int i = 0; i < 2_000; i++) {
            queue.add(i);
            workers.wake();
        }
        assertTrue(done.await(30, TimeUnit.SECONDS), "items left undone: " + done.getCount());
        assertTrue(mostAtWork.get() >= 1 && mostAtWork.get() <= 3, "workers at once: " + mostAtWork.get());
        workers.stop();
        assertTrue(workers.awaitStopped(TimeUnit.SECONDS.toNanos(10)));
    }

    @Test
    void stopInterruptsWorkersWaitsForThemAndStartsNoMore() throws Exception {
        CountDownLatch blocked = new CountDownLatch(2);
        AtomicInteger interrupted = new AtomicInteger();
        AtomicInteger runs = new AtomicInteger();
        RegionWorkers workers = new RegionWorkers(2, () -> {
            runs.incrementAndGet();
            blocked.countDown();
            try {
                new CountDownLatch(1).await();
            } catch (InterruptedException e) {
                interrupted.incrementAndGet();
                throw e;
            }
        }, () -> false);
        workers.wake();
        workers.wake();
        assertTrue(blocked.await(10, TimeUnit.SECONDS));

        workers.stop();
        assertTrue(workers.awaitStopped(TimeUnit.SECONDS.toNanos(10)));
        assertEquals(2, interrupted.get());
        workers.wake();
        assertEquals(2, runs.get());

        // The shared threads that were interrupted go on working for other regions, uninterrupted.
        CountDownLatch next = new CountDownLatch(4);
        AtomicBoolean sawInterrupt = new AtomicBoolean();
        RegionWorkers others = new RegionWorkers(4, () -> {
            sawInterrupt.compareAndSet(false, Thread.currentThread().isInterrupted());
            next.countDown();
        }, () -> false);
        for (int i = 0; i < 4; i++) {
            others.wake();
        }
        assertTrue(next.await(10, TimeUnit.SECONDS));
        assertFalse(sawInterrupt.get());
    }
}
