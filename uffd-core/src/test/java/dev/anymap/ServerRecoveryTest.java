package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.StorageBackend;
import dev.anymap.testbackend.ReferenceContent;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class ServerRecoveryTest {

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aScanCompletesWithRightBytesWhenThePageServerIsKilledInTheMiddle() throws Exception {
        long size = 256L << 20;
        long seed = 31;
        int block = 64 * 1024;
        // The second half is slow, so the kill lands while the scanner waits on a fetch.
        URI uri = URI.create("faulty:recover?size=" + size + "&seed=" + seed + "&slowfrom=" + (size / 2) + "&delay=20");
        StorageBackend reference = ReferenceContent.of(size, seed);
        AnymapConfig config = TestServers.privateServer();
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(1 << 20).withReadahead(0).withAutoPull(false))) {
            AtomicLong scanned = new AtomicLong();
            CompletableFuture<Void> scan = CompletableFuture.runAsync(() -> {
                byte[] want = new byte[block];
                byte[] got = new byte[block];
                for (long offset = 0; offset < size; offset += block) {
                    try {
                        reference.read(offset, MemorySegment.ofArray(want));
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                    MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, got, 0, block);
                    if (!Arrays.equals(want, got)) {
                        throw new AssertionError("wrong bytes at offset " + offset);
                    }
                    scanned.set(offset + block);
                }
            }, runnable -> Thread.ofPlatform().start(runnable));

            ProcessHandle first = TestServers.startedServer(config).orElseThrow();
            while (scanned.get() < size / 2 + (16 << 20) && !scan.isDone()) {
                Thread.onSpinWait();
            }
            assertTrue(!scan.isDone(), "the scan ended before the page server could be killed");
            first.destroyForcibly();
            first.onExit().get(30, TimeUnit.SECONDS);

            scan.get(2, TimeUnit.MINUTES);
            ProcessHandle second = TestServers.startedServer(config).orElseThrow();
            assertNotEquals(first.pid(), second.pid());
            assertTrue(region.stats().chunksFetched() > 0, "the new server serves the region");
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aGuestsMemoryIsServedOnWithRightBytesWhenThePageServerIsKilledInTheMiddle() throws Exception {
        long size = 64L << 20;
        long seed = 32;
        int block = 64 * 1024;
        // Every fetch is slow, so the kill lands while the guest's threads wait on one.
        URI uri = URI.create("faulty:recover-guest?size=" + size + "&seed=" + seed + "&slowfrom=0&delay=20");
        StorageBackend reference = ReferenceContent.of(size, seed);
        AnymapConfig config = TestServers.privateServer();
        try (TestGuest guest = new TestGuest(size / 2, size / 2);
             Anymap anymap = Anymap.open(config);
             ServedGuest served = anymap.serve(uri, MapOptions.defaults().withChunkSize(1 << 20).withReadahead(0).withAutoPull(false),
                     new GuestMemory(guest.userfaultfd(), java.util.List.of(new GuestMemory.Range(guest.address(0), size / 2, 0, 4096),
                             new GuestMemory.Range(guest.address(1), size / 2, size / 2, 4096))))) {
            AtomicLong scanned = new AtomicLong();
            CompletableFuture<?>[] halves = new CompletableFuture<?>[2];
            for (int half = 0; half < 2; half++) {
                long address = guest.address(half);
                long from = half * (size / 2);
                halves[half] = CompletableFuture.runAsync(() -> {
                    byte[] want = new byte[block];
                    for (long offset = 0; offset < size / 2; offset += block) {
                        try {
                            reference.read(from + offset, MemorySegment.ofArray(want));
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                        if (!Arrays.equals(want, TestGuest.read(address + offset, block))) {
                            throw new AssertionError("wrong bytes at offset " + (from + offset));
                        }
                        scanned.addAndGet(block);
                    }
                }, runnable -> Thread.ofPlatform().start(runnable));
            }
            CompletableFuture<Void> scan = CompletableFuture.allOf(halves);
            ProcessHandle first = TestServers.startedServer(config).orElseThrow();
            while (scanned.get() < size / 4 && !scan.isDone()) {
                Thread.onSpinWait();
            }
            assertTrue(!scan.isDone(), "the guest's reads ended before the page server could be killed");
            first.destroyForcibly();
            first.onExit().get(30, TimeUnit.SECONDS);

            scan.get(2, TimeUnit.MINUTES);
            assertNotEquals(first.pid(), TestServers.startedServer(config).orElseThrow().pid());
            assertTrue(served.stats().chunksFetched() > 0, "the new server serves the guest");
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void memoryAGuestGaveBackStillReadsAsZerosOnTheServerThatTookOver() throws Exception {
        long size = 16L << 20;
        long seed = 33;
        StorageBackend reference = ReferenceContent.of(size, seed);
        AnymapConfig config = TestServers.privateServer();
        try (TestGuest guest = new TestGuest(size);
             Anymap anymap = Anymap.open(config);
             ServedGuest served = anymap.serve(URI.create("mem:given-back?size=" + size + "&seed=" + seed), MapOptions.defaults(),
                     new GuestMemory(guest.userfaultfd(), java.util.List.of(new GuestMemory.Range(guest.address(0), size, 0, 4096))))) {
            long base = guest.address(0);
            // The first MiB read, then given back; the second given back untouched; the third never given back, read after the kill.
            assertTrue(Arrays.equals(bytes(reference, 0, 1 << 20), TestGuest.read(base, 1 << 20)));
            TestGuest.giveBack(base, 2L << 20);
            // The kernel lets madvise return once the server has read the removal, maybe before it told the keeper; a
            // fault in the range is served only after that, so this read orders the kill after it.
            assertTrue(Arrays.equals(new byte[4096], TestGuest.read(base + (1 << 20), 4096)), "given back: zeros");
            ProcessHandle first = TestServers.startedServer(config).orElseThrow();
            first.destroyForcibly();
            first.onExit().get(30, TimeUnit.SECONDS);

            byte[] zeros = new byte[2 << 20];
            assertTrue(Arrays.equals(zeros, TestGuest.read(base, 2 << 20)), "given back before the kill: zeros after it");
            assertTrue(Arrays.equals(bytes(reference, 2L << 20, 1 << 20), TestGuest.read(base + (2L << 20), 1 << 20)));
            assertNotEquals(first.pid(), TestServers.startedServer(config).orElseThrow().pid());
            assertTrue(served.stats().faults() > 0, "the server that took over serves the guest");
        }
    }

    private static byte[] bytes(StorageBackend backend, long offset, int length) throws java.io.IOException {
        byte[] bytes = new byte[length];
        backend.read(offset, MemorySegment.ofArray(bytes));
        return bytes;
    }
}
