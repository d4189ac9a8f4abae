package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class EvictionQueuesTest {
    private static final long CHUNK = 1 << 20;
    private static final int CACHE_CHUNKS = 256;

    /** A cache of {@link #CACHE_CHUNKS} chunks, run on the queues alone: what is resident, and the misses. */
    private static final class Simulated {
        final EvictionQueues queues = new EvictionQueues(CACHE_CHUNKS * CHUNK);
        final Set<EvictionQueues.Slot> resident = new HashSet<>();
        long misses;

        /** A touch: a miss fetches the chunk and makes room for it, as the page cache does. */
        void touch(int chunk) {
            EvictionQueues.Slot slot = new EvictionQueues.Slot(null, chunk);
            if (resident.contains(slot)) {
                return;
            }
            misses++;
            while (resident.size() >= CACHE_CHUNKS) {
                resident.remove(queues.victim());
            }
            queues.admit(slot, CHUNK);
            resident.add(slot);
        }
    }

    @Test
    void theNextVictimIsTheOneTakenNextAndLookingTakesNothing() {
        EvictionQueues queues = new EvictionQueues(4 * CHUNK);
        for (int chunk = 0; chunk < 6; chunk++) {
            queues.admit(new EvictionQueues.Slot(null, chunk), CHUNK);
        }
        for (int i = 0; i < 3; i++) {
            queues.victim();
        }
        // Chunks dropped and fetched again go to the protected queue: both queues are looked into.
        queues.admit(new EvictionQueues.Slot(null, 0), CHUNK);
        queues.admit(new EvictionQueues.Slot(null, 1), CHUNK);
        for (int taken = 0; taken < 5; taken++) {
            EvictionQueues.Slot next = queues.nextVictim();
            assertEquals(next, queues.nextVictim(), "looking took it");
            assertEquals(next, queues.victim());
        }
        assertNull(queues.nextVictim());
    }

    @Test
    void aHotSetOfHalfTheCacheStaysResidentThroughScansOfFourTimesIt() {
        Simulated cache = new Simulated();
        Random random = new Random(7);
        int hot = CACHE_CHUNKS / 2;
        int scanned = 1_000_000;
        long hotReads = 0;
        long hotMissesAfterWarmUp = 0;
        for (int round = 0; round < 20; round++) {
            // A scan of four times the cache, interleaved with random reads of the hot set.
            for (int i = 0; i < 4 * CACHE_CHUNKS; i++) {
                cache.touch(scanned++);
                long before = cache.misses;
                cache.touch(random.nextInt(hot));
                if (round >= 2) {
                    hotReads++;
                    hotMissesAfterWarmUp += cache.misses - before;
                }
            }
        }
        double hitRate = 1 - (double) hotMissesAfterWarmUp / hotReads;
        assertTrue(hitRate >= 0.99, "the hot set's hit rate after warm-up was " + hitRate);
    }

    @Test
    void withNoHotSetAScanCyclesThroughTheWholeCache() {
        Simulated cache = new Simulated();
        for (int chunk = 0; chunk < 10 * CACHE_CHUNKS; chunk++) {
            cache.touch(chunk);
        }
        assertTrue(cache.resident.size() == CACHE_CHUNKS, "resident: " + cache.resident.size());
        assertTrue(cache.resident.contains(new EvictionQueues.Slot(null, 10 * CACHE_CHUNKS - 1)), "the latest chunk is resident");
    }

    @Test
    void anEmptyCacheHasNoVictim() {
        assertNull(new EvictionQueues(CACHE_CHUNKS * CHUNK).victim());
    }
}
