package dev.anymap.firecracker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.ServedGuest;
import dev.anymap.backend.memory.MemoryObjects;
import java.net.URI;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The page server SIGKILLed while a VM resumes, twice: the vCPUs wait in their faults, the server
 * that takes over serves them on, and every byte is still the memory file's. Meanwhile this JVM makes
 * garbage all along: the vCPUs wait in native code, so its collections go on.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class PageServerKilledMidResumeTest {
    private static final long MIB = 1L << 20;

    @Test
    void everyByteIsRightAfterThePageServerIsKilledTwiceInTheMiddleOfAResume() throws Exception {
        AnymapConfig config = TestServers.privateServer();
        long seed = 61;
        long size = 96 * MIB;
        URI uri = MemoryObjects.generatedUri("fc-kill", size, seed);
        AtomicBoolean allocating = new AtomicBoolean(true);
        AtomicLong garbageMade = new AtomicLong();
        Thread garbage = Thread.ofPlatform().daemon().name("garbage").start(() -> {
            Object[] live = new Object[1024];
            for (int i = 0; allocating.get(); i++) {
                live[i & 1023] = new byte[16 * 1024];
                garbageMade.addAndGet(16 * 1024);
                if ((i & 63) == 0) {
                    LockSupport.parkNanos(5_000_000);
                }
            }
        });
        try (Anymap anymap = Anymap.open(config);
             FakeFirecracker guest = FakeFirecracker.consecutive(4096, 32 * MIB, 64 * MIB);
             ServedGuest served = anymap.serve(uri, MapOptions.defaults().withChunkSize(64 * 1024).withAutoPull(false).withReadahead(4),
                     guest.guestMemory())) {
            AtomicLong checked = new AtomicLong();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Long> blocks = GuestReaders.allBlocks(guest, 8);
            Thread vcpus = Thread.ofPlatform().start(() -> {
                try {
                    GuestReaders.check(guest, SnapshotBytes.generated(seed), offset -> false, 4, blocks, checked);
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            long killedAt = 0;
            // Two moments at random in the first two thirds of the resume, printed so that a failure can be run again.
            long seedOfKills = System.nanoTime();
            java.util.Random moments = new java.util.Random(seedOfKills);
            long[] killPoints = {size / 20 + moments.nextLong(size / 4), size / 3 + moments.nextLong(size / 3)};
            System.out.println("page server kills after " + killPoints[0] + " and " + killPoints[1] + " bytes read (seed " + seedOfKills + ")");
            for (long killAfter : killPoints) {
                while (checked.get() < killAfter && vcpus.isAlive()) {
                    LockSupport.parkNanos(1_000_000);
                }
                ProcessHandle server = ProcessHandle.of(anymap.serverStatus().serverPid()).orElseThrow();
                assertTrue(server.destroyForcibly());
                server.onExit().get(30, TimeUnit.SECONDS);
                assertNotEquals(killedAt, server.pid(), "a new server took over from the first");
                killedAt = server.pid();
            }
            vcpus.join();
            if (failure.get() != null) {
                throw new AssertionError("a vCPU read wrong bytes after the kills", failure.get());
            }
            assertEquals(size, checked.get(), "every block read");
            assertTrue(garbageMade.get() > 0, "garbage was made meanwhile");
        } finally {
            allocating.set(false);
            garbage.join();
        }
    }
}
