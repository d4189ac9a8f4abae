package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class PeerBudgetTest {
    private static final long CHUNK = 256 << 10;
    private static final long LIMIT = 8 * CHUNK;

    @Test
    void prefetchMemoryHeldNeverReadsOverTheLimitWhileThreadsReserveAndReleaseAtOnce() throws Exception {
        PeerBudget budget = new PeerBudget(1, 4, LIMIT, Long.MAX_VALUE);
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicLong refused = new AtomicLong();
        CountDownLatch started = new CountDownLatch(4);
        List<Thread> reservers = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            reservers.add(Thread.ofPlatform().start(() -> {
                started.countDown();
                while (running.get()) {
                    if (budget.reservePrefetch(3 * CHUNK)) {
                        budget.releasePrefetch(3 * CHUNK);
                    } else {
                        refused.incrementAndGet();
                    }
                }
            }));
        }
        started.await();
        long samples = 0;
        long mostSeen = 0;
        // Until the limit has turned reservations away many times: the sampler has seen the budget full.
        while (refused.get() < 100_000 || samples < 100_000) {
            long held = budget.prefetchHeld();
            mostSeen = Math.max(mostSeen, held);
            assertTrue(held <= LIMIT, "held " + held + " bytes fetched ahead, past the limit of " + LIMIT);
            samples++;
        }
        running.set(false);
        for (Thread reserver : reservers) {
            reserver.join();
        }
        assertTrue(budget.mostPrefetchHeld() <= LIMIT, "the most held, " + budget.mostPrefetchHeld() + ", past the limit of " + LIMIT);
        assertEquals(6 * CHUNK, budget.mostPrefetchHeld(), "two reservations of three chunks fit under a limit of eight");
        assertEquals(0, budget.prefetchHeld());
        assertTrue(mostSeen > 0, "the sampler never saw a reservation held");
    }
}
