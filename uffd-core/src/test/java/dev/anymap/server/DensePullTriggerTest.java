package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class DensePullTriggerTest {
    private static final long MS = 1_000_000;

    @Test
    void firesOnceWhenFaultsHaveWaitedASixteenthOfTheEstimatedPull() {
        // 1 MiB in 10 ms per read, 8 reads at once: 64 MiB pulls in 80 ms, so the trigger is at 5 ms of waiting.
        DensePullTrigger trigger = new DensePullTrigger(64L << 20, 8, new StorageSpeeds.Speed());
        long now = 0;
        trigger.demandStarted(now);
        assertFalse(trigger.demandFinished(now += 4 * MS, 1 << 20, 10 * MS), "4 ms of waiting");
        assertEquals(80 * MS, trigger.estimatedPullNanos(), 1);
        trigger.demandStarted(now += 100 * MS);
        assertTrue(trigger.demandFinished(now += MS, 0, MS), "5 ms of waiting");
        trigger.demandStarted(now);
        assertFalse(trigger.demandFinished(now + 50 * MS, 0, 50 * MS), "fired already");
    }

    @Test
    void faultsWaitingAtTheSameTimeCountOnce() {
        DensePullTrigger trigger = new DensePullTrigger(1L << 30, 8, new StorageSpeeds.Speed());
        trigger.demandStarted(0);
        trigger.demandStarted(MS);
        trigger.demandFinished(3 * MS, 1 << 20, 3 * MS);
        trigger.demandFinished(4 * MS, 1 << 20, 3 * MS);
        assertEquals(4 * MS, trigger.stalledNanos());
    }

    @Test
    void aReadAnsweredFromMemoryDoesNotMakeThePullLookCheap() {
        // The first chunk came with the open: 256 KiB at once. The next took 30 ms, a round trip.
        DensePullTrigger trigger = new DensePullTrigger(256L << 20, 8, new StorageSpeeds.Speed());
        trigger.demandStarted(0);
        assertFalse(trigger.demandFinished(10_000, 256 << 10, 10_000));
        trigger.demandStarted(MS);
        assertFalse(trigger.demandFinished(31 * MS, 256 << 10, 30 * MS), "30 ms of waiting, against a pull of about 3.8 s");
        assertEquals(3840 * MS, trigger.estimatedPullNanos(), 1 * MS);
    }

    @Test
    void onAStorageKnownToStreamFastThePullIsARoundTripAndTheTransfer() {
        // Reads of other regions streamed 64 MiB in 64 ms: a pull of 64 MiB is the round trip and about 64 ms.
        DensePullTrigger trigger = new DensePullTrigger(64L << 20, 8, storageThatStreamed(64L << 20, 64 * MS));
        trigger.demandStarted(0);
        assertFalse(trigger.demandFinished(10_000, 256 << 10, 10_000), "the open's cached chunk: 10 us of waiting");
        trigger.demandStarted(MS);
        assertTrue(trigger.demandFinished(31 * MS, 256 << 10, 30 * MS), "one round trip of waiting, against a pull of about 94 ms");
        assertEquals(30 * MS + (64L << 20) * 64 * MS / (64L << 20), trigger.estimatedPullNanos(), MS);
    }

    @Test
    void aFaultStillWaitingIsDueAsSoonAsItHasWaitedASixteenthOfThePull() {
        // 64 MiB streamed in 64 ms: with no read of its own yet, the region's pull of 64 MiB is 64 ms, due after 4 ms of waiting.
        DensePullTrigger trigger = new DensePullTrigger(64L << 20, 8, storageThatStreamed(64L << 20, 64 * MS));
        assertEquals(-1, trigger.nanosUntilDue(0), "no fault waits");
        trigger.demandStarted(MS);
        assertEquals(4 * MS, trigger.nanosUntilDue(MS), 1000);
        assertEquals(MS, trigger.nanosUntilDue(4 * MS), 1000);
        assertFalse(trigger.due(4 * MS), "3 ms of waiting");
        assertTrue(trigger.due(5 * MS), "4 ms of waiting, the fault still outstanding");
        assertEquals(-1, trigger.nanosUntilDue(6 * MS), "started already");
        assertFalse(trigger.demandFinished(30 * MS, 256 << 10, 29 * MS), "started already");
    }

    @Test
    void nothingIsDueBeforeThereIsAnythingToEstimateFrom() {
        DensePullTrigger trigger = new DensePullTrigger(64L << 20, 8, new StorageSpeeds.Speed());
        trigger.demandStarted(0);
        assertEquals(-1, trigger.nanosUntilDue(0));
        assertFalse(trigger.due(10_000 * MS));
    }

    @Test
    void aFailedReadTellsNothingAboutSpeedAndFiresNothing() {
        DensePullTrigger trigger = new DensePullTrigger(1 << 20, 8, new StorageSpeeds.Speed());
        trigger.demandStarted(0);
        assertFalse(trigger.demandFinished(10_000 * MS, 0, 10_000 * MS));
    }

    /** A storage whose reads, of other regions, streamed {@code bytes} in {@code nanos}. */
    private static StorageSpeeds.Speed storageThatStreamed(long bytes, long nanos) {
        StorageSpeeds.Speed storage = new StorageSpeeds.Speed();
        storage.streamStarted(0);
        storage.streamEnded(nanos, bytes);
        return storage;
    }
}
