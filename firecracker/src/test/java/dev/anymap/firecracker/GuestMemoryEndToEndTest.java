package dev.anymap.firecracker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.ServedGuest;
import dev.anymap.backend.memory.MemoryObjects;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Guest memory of {@link FakeFirecracker}s served with {@link Anymap#serve}, the library call, by a
 * page server of this class's own: every byte each vCPU thread reads is the memory file's, from a
 * generated object and from a local file; regions whose file offsets are not in their memory order;
 * several VMs at once; a balloon's ranges read as zeros while other threads fault; a trace recorded
 * on one resume replayed on the next.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class GuestMemoryEndToEndTest {
    private static final long MIB = 1L << 20;
    private static AnymapConfig config;
    private static Anymap anymap;

    @TempDir
    static Path directory;

    @BeforeAll
    static void startAPageServer() throws Exception {
        config = TestServers.privateServer();
        anymap = Anymap.open(config);
    }

    @AfterAll
    static void close() throws Exception {
        anymap.close();
    }

    private static MapOptions options() {
        return MapOptions.defaults().withChunkSize(64 * 1024);
    }

    @Test
    void everyByteOfSeveralRegionsIsTheMemoryFilesFromAGeneratedObject() throws Exception {
        long seed = 11;
        // Memory order and file order differ: the offsets, not the addresses, say which bytes go where.
        long[] sizes = {8 * MIB, 4 * MIB, 12 * MIB};
        long[] offsets = {16 * MIB, 0, 4 * MIB};
        URI uri = MemoryObjects.generatedUri("fc-regions", 28 * MIB, seed);
        try (FakeFirecracker guest = FakeFirecracker.start(4096, sizes, offsets);
             ServedGuest served = anymap.serve(uri, options(), guest.guestMemory())) {
            long checked = GuestReaders.checkAll(guest, SnapshotBytes.generated(seed), offset -> false, 4, 1);
            assertEquals(24 * MIB, checked);
            assertEquals(28 * MIB, served.size());
            assertTrue(served.stats().faults() > 0, "the page server served the faults");
        }
    }

    @Test
    void aLocalMemoryFileIsServedByteForByte() throws Exception {
        Path file = directory.resolve("snapshot.mem");
        byte[] content = new byte[(int) (20 * MIB)];
        new Random(5).nextBytes(content);
        Files.write(file, content);
        try (FakeFirecracker guest = FakeFirecracker.consecutive(4096, 12 * MIB, 8 * MIB);
             ServedGuest served = anymap.serve(file.toUri(), options(), guest.guestMemory())) {
            assertEquals(20 * MIB, GuestReaders.checkAll(guest, SnapshotBytes.file(file), offset -> false, 3, 2));
        }
    }

    @Test
    void severalVirtualMachinesAreServedAtOnce() throws Exception {
        int machines = 3;
        List<FakeFirecracker> guests = new ArrayList<>();
        List<ServedGuest> served = new ArrayList<>();
        List<Thread> boots = new ArrayList<>();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        try {
            for (int vm = 0; vm < machines; vm++) {
                long seed = 20 + vm % 2; // two of them resume the same snapshot: its chunks are shared in the cache
                FakeFirecracker guest = FakeFirecracker.consecutive(4096, 6 * MIB, 2 * MIB, 8 * MIB);
                guests.add(guest);
                served.add(anymap.serve(MemoryObjects.generatedUri("fc-vm-" + seed, 16 * MIB, seed), options(), guest.guestMemory()));
                boots.add(Thread.ofPlatform().unstarted(() -> {
                    try {
                        assertEquals(16 * MIB, GuestReaders.checkAll(guest, SnapshotBytes.generated(seed), offset -> false, 2, seed));
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            boots.forEach(Thread::start);
            for (Thread boot : boots) {
                boot.join();
            }
            assertTrue(failures.isEmpty(), () -> "a VM read wrong bytes: " + failures);
        } finally {
            for (ServedGuest guest : served) {
                guest.close();
            }
            guests.forEach(FakeFirecracker::close);
        }
    }

    @Test
    void aBalloonsRangesReadAsZerosWhileOtherThreadsFault() throws Exception {
        long seed = 31;
        long size = 32 * MIB;
        URI uri = MemoryObjects.generatedUri("fc-balloon", size, seed);
        SnapshotBytes source = SnapshotBytes.generated(seed);
        try (FakeFirecracker guest = FakeFirecracker.consecutive(4096, 16 * MIB, 16 * MIB);
             ServedGuest served = anymap.serve(uri, options().withAutoPull(false).withReadahead(0), guest.guestMemory())) {
            // The balloon takes every other MiB of the second region: half of it read before, half never touched.
            java.util.function.LongPredicate ballooned = offset -> offset >= 16 * MIB && (offset / MIB) % 2 == 0;
            List<Long> touchedFirst = new ArrayList<>();
            for (long offset = 16 * MIB; offset < 24 * MIB; offset += GuestReaders.BLOCK) {
                touchedFirst.add(offset);
            }
            GuestReaders.check(guest, source, offset -> false, 2, touchedFirst);
            // Meanwhile the first region is read by vCPUs that fault all along.
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            Thread vcpus = Thread.ofPlatform().start(() -> {
                try {
                    List<Long> first = new ArrayList<>();
                    for (long offset = 0; offset < 16 * MIB; offset += GuestReaders.BLOCK) {
                        first.add(offset);
                    }
                    java.util.Collections.shuffle(first, new Random(3));
                    GuestReaders.check(guest, source, offset -> false, 2, first);
                } catch (Throwable e) {
                    failures.add(e);
                }
            });
            for (long offset = 16 * MIB; offset < size; offset += 2 * MIB) {
                guest.balloon(guest.address(offset), MIB);
            }
            vcpus.join();
            assertTrue(failures.isEmpty(), () -> "a vCPU read wrong bytes: " + failures);
            // The guest deflates and touches the balloon's pages again: zeros, never the snapshot's bytes.
            assertEquals(32 * MIB, GuestReaders.checkAll(guest, source, ballooned, 3, 4));
        }
    }

    @Test
    void aTraceRecordedOnOneResumeIsReplayedOnTheNext() throws Exception {
        long seed = 41;
        long size = 16 * MIB;
        URI uri = MemoryObjects.generatedUri("fc-trace", size, seed);
        SnapshotBytes source = SnapshotBytes.generated(seed);
        List<Long> boot = new ArrayList<>();
        for (long offset = 0; offset < size; offset += 8 * GuestReaders.BLOCK) {
            boot.add(offset);
        }
        MapOptions options = options().withAutoPull(false).withReadahead(0);
        AccessTrace trace;
        try (FakeFirecracker guest = FakeFirecracker.consecutive(4096, 8 * MIB, 8 * MIB);
             ServedGuest served = anymap.serve(uri, options, guest.guestMemory())) {
            GuestReaders.check(guest, source, offset -> false, 1, boot);
            trace = served.trace();
        }
        assertEquals(boot.size(), trace.chunksFor(64 * 1024).length, "the boot's first touches, one chunk each");
        try (FakeFirecracker guest = FakeFirecracker.consecutive(4096, 8 * MIB, 8 * MIB);
             ServedGuest served = anymap.serve(uri, options, guest.guestMemory(), trace)) {
            assertEquals(16 * MIB, GuestReaders.checkAll(guest, source, offset -> false, 2, 5));
        }
    }
}
