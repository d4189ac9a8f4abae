package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.StorageBackend;
import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(value = 5, unit = TimeUnit.MINUTES)
class MappedRegionTest extends WithPageServer {
    private static final long GIB = 1L << 30;

    @ParameterizedTest
    @ValueSource(strings = {"mem", "file"})
    void aGibibyteTouchedByFourThreadsInRandomOrderMatchesTheBackendByteForByte(String scheme, @TempDir Path directory)
            throws Exception {
        long seed = 11;
        int block = 64 * 1024;
        StorageBackend reference = ReferenceContent.of(GIB, seed);
        URI uri = URI.create("mem:equal?size=" + GIB + "&seed=" + seed);
        if (scheme.equals("file")) {
            Path file = directory.resolve("a file of 1 GiB.bin");
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                channel.write(reference.view().orElseThrow().asByteBuffer());
            }
            uri = file.toUri();
        }
        try (MappedRegion region = anymap.map(uri)) {
            List<Long> blocks = new ArrayList<>(LongStream.range(0, GIB / block).boxed().toList());
            Collections.shuffle(blocks, new java.util.Random(seed));
            ExecutorService threads = Executors.newFixedThreadPool(4);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    List<Long> mine = blocks.subList(t * blocks.size() / 4, (t + 1) * blocks.size() / 4);
                    done.add(threads.submit(() -> {
                        byte[] want = new byte[block];
                        for (long index : mine) {
                            long offset = index * block;
                            reference.read(offset, MemorySegment.ofArray(want));
                            if (!java.util.Arrays.equals(want, actual(region.segment(), offset, block))) {
                                throw new AssertionError("wrong bytes in the block at offset " + offset);
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> future : done) {
                    future.get();
                }
            } finally {
                threads.shutdownNow();
            }
            RegionStats stats = region.stats();
            assertEquals(scheme.equals("file"), region.kernelMapped(), "a local file is mapped by the kernel");
            if (region.kernelMapped()) {
                assertEquals(0, stats.bytesFetched(), "the kernel reads the file: nothing is fetched");
                return;
            }
            // Once, but for chunks that a fault far ahead of the automatic pull's reads read on its own.
            assertTrue(stats.bytesFetched() >= GIB && stats.bytesFetched() <= GIB + stats.faults() * (long) MapOptions.DEFAULT_CHUNK_SIZE,
                    "every byte fetched once, but a fault's own: " + stats);
            assertEquals(0, stats.failures());
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 4095, 4097, GIB + 1})
    void anObjectOfUnalignedSizeReadsRightUpToItsLastByte(long size) throws Exception {
        long seed = size;
        try (MappedRegion region = anymap.map(URI.create("mem:unaligned?size=" + size + "&seed=" + seed),
                MapOptions.defaults().withChunkSize(64 * 1024))) {
            MemorySegment memory = region.segment();
            assertEquals(size, memory.byteSize());
            int head = (int) Math.min(size, 10_000);
            assertArrayEquals(ReferenceContent.bytes(size, seed, 0, head), actual(memory, 0, head));
            int tail = (int) Math.min(size, 5000);
            assertArrayEquals(ReferenceContent.bytes(size, seed, size - tail, tail), actual(memory, size - tail, tail));
            assertThrows(IndexOutOfBoundsException.class, () -> memory.get(ValueLayout.JAVA_BYTE, size));
        }
    }

    @Test
    void anEmptyObjectMapsToAnEmptySegment() throws Exception {
        try (MappedRegion region = anymap.map(URI.create("mem:empty?size=0"))) {
            assertEquals(0, region.segment().byteSize());
            assertEquals(0, region.size());
            assertEquals(0, region.stats().faults());
        }
    }

    @Test
    void aFailedFetchFailsTheTouchingAccessAndLeavesTheRestReadable() throws Exception {
        long size = 4 << 20;
        long badOffset = 1 << 20;
        URI uri = URI.create("faulty:broken?size=" + size + "&seed=3&fail=" + badOffset);
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(64 * 1024))) {
            MemorySegment memory = region.segment();
            InternalError first = assertThrows(InternalError.class, () -> memory.get(ValueLayout.JAVA_BYTE, badOffset + 5));
            assertTrue(first.getMessage().contains("unsafe memory access"), first.getMessage());
            // The chunk stays failed: a retry fails the same way, and never reads as zeros.
            assertThrows(InternalError.class, () -> memory.get(ValueLayout.JAVA_LONG_UNALIGNED, badOffset));
            assertArrayEquals(ReferenceContent.bytes(size, 3, badOffset + 64 * 1024, 4096), actual(memory, badOffset + 64 * 1024, 4096));
            RegionStats stats = region.stats();
            assertEquals(1, stats.failures());
            assertTrue(stats.lastFailure().contains("faulty:broken") && stats.lastFailure().contains("injected failure"),
                    stats.lastFailure());
        }
    }

    @Test
    void aSlowChunkDoesNotHoldUpFaultsOnOtherChunks() throws Exception {
        long size = 8 << 20;
        int chunk = 64 * 1024;
        URI uri = URI.create("faulty:slow?size=" + size + "&seed=4&slow=0&delay=3000");
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(chunk).withFetchWorkers(2))) {
            MemorySegment memory = region.segment();
            AtomicBoolean slowDone = new AtomicBoolean();
            Thread slow = Thread.ofPlatform().start(() -> {
                memory.get(ValueLayout.JAVA_BYTE, 0);
                slowDone.set(true);
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (region.stats().faults() == 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertArrayEquals(ReferenceContent.bytes(size, 4, chunk, (int) size - chunk), actual(memory, chunk, (int) size - chunk));
            assertFalse(slowDone.get(), "the rest of the object was read while the slow chunk was still being fetched");
            slow.join();
            assertArrayEquals(ReferenceContent.bytes(size, 4, 0, chunk), actual(memory, 0, chunk));
        }
    }

    @Test
    void sixteenThreadsFaultingOnDifferentChunksAreAllServedAtOnceByDefault() throws Exception {
        int chunk = 64 * 1024;
        long size = 64L * chunk;
        // Each read is held until 16 are in progress: with fewer fetch workers they would fail.
        URI uri = URI.create("faulty:together?size=" + size + "&seed=8&together=16");
        MapOptions options = MapOptions.defaults().withChunkSize(chunk).withReadahead(0).withAutoPull(false);
        try (MappedRegion region = anymap.map(uri, options)) {
            MemorySegment memory = region.segment();
            List<Thread> threads = new ArrayList<>();
            byte[][] read = new byte[16][];
            // All started before any faults: a thread blocked in a fault holds up a safepoint, and with it the
            // start of the next thread, until the page server answers, which it does only once all 16 read.
            CountDownLatch started = new CountDownLatch(16);
            for (int t = 0; t < 16; t++) {
                int thread = t;
                threads.add(Thread.ofPlatform().start(() -> {
                    started.countDown();
                    try {
                        started.await();
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                    read[thread] = actual(memory, thread * 4L * chunk, 4096);
                }));
            }
            for (Thread thread : threads) {
                thread.join();
            }
            for (int t = 0; t < 16; t++) {
                assertArrayEquals(ReferenceContent.bytes(size, 8, t * 4L * chunk, 4096), read[t], "thread " + t);
            }
            assertEquals(0, region.stats().failures());
            assertEquals(16, region.stats().chunksFetched());
        }
    }

    @Test
    void aThousandMapAndCloseCyclesLeakNoDescriptorsAndNoServerMemory() throws Exception {
        ProcessHandle server = TestServers.startedServer(config).orElseThrow();
        // Warm up first: the server's JIT, heap and malloc arenas settle over the first ~2000 cycles.
        for (int i = 0; i < 2000; i++) {
            cycle(i);
        }
        long descriptors = openDescriptors();
        long serverMemory = residentKib(server.pid());
        for (int i = 0; i < 1000; i++) {
            cycle(i);
        }
        assertEquals(descriptors, openDescriptors(), "open descriptors of this process");
        long grown = residentKib(server.pid()) - serverMemory;
        assertTrue(grown < 32 * 1024, "the page server grew by " + grown + " KiB over 1000 cycles");
    }

    private static void cycle(int i) throws IOException {
        try (MappedRegion region = anymap.map(URI.create("mem:cycle?size=" + (1 << 20) + "&seed=" + (i % 4)),
                MapOptions.defaults().withChunkSize(64 * 1024))) {
            if (region.segment().get(ValueLayout.JAVA_BYTE, 12345) != ReferenceContent.bytes(1 << 20, i % 4, 12345, 1)[0]) {
                throw new AssertionError("wrong byte in cycle " + i);
            }
        }
    }

    private static long openDescriptors() throws IOException {
        try (var entries = Files.list(Path.of("/proc/self/fd"))) {
            return entries.count();
        }
    }

    private static long residentKib(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                .filter(line -> line.startsWith("VmRSS:"))
                .mapToLong(line -> Long.parseLong(line.replaceAll("[^0-9]", "")))
                .findFirst().orElseThrow();
    }

    @Test
    void aMissingObjectOrAnUnknownSchemeFailsAtMapNamingTheUri() {
        NoSuchFileException missing = assertThrows(NoSuchFileException.class, () -> anymap.map(URI.create("mem:no-such-object")));
        assertTrue(missing.getMessage().contains("mem:no-such-object"), missing.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> anymap.map(URI.create("gopher://host/x")));
        assertTrue(unknown.getMessage().contains("gopher://host/x") && unknown.getMessage().contains("mem"), unknown.getMessage());
    }

    @Test
    void theSegmentIsReadOnlyUnlessMappedWritableAndAGeneratedObjectCannotBe() throws Exception {
        URI uri = URI.create("mem:writes?size=100000&seed=8");
        try (MappedRegion readOnly = anymap.map(uri)) {
            assertThrows(IllegalArgumentException.class, () -> readOnly.segment().set(ValueLayout.JAVA_BYTE, 0, (byte) 1));
        }
        // Made from its URI in every process: there is nowhere to write it back to (WriteBackTest writes storage that keeps it).
        IllegalArgumentException generated = assertThrows(IllegalArgumentException.class,
                () -> anymap.map(uri, MapOptions.defaults().withWritable(true)));
        assertTrue(generated.getMessage().contains("mem:writes"), generated.getMessage());
    }

    @Test
    void aClosedRegionRefusesAccess() throws Exception {
        MappedRegion region = anymap.map(URI.create("mem:closed?size=10000&seed=1"));
        MemorySegment memory = region.segment();
        memory.get(ValueLayout.JAVA_BYTE, 0);
        region.close();
        assertThrows(IllegalStateException.class, () -> memory.get(ValueLayout.JAVA_BYTE, 0));
        region.close(); // idempotent
    }
}
