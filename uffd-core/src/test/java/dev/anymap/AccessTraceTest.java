package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class AccessTraceTest {
    private static final int CHUNK = 64 * 1024;

    @Test
    void aTraceSurvivesSaveAndLoad(@TempDir Path directory) throws IOException {
        AccessTrace trace = new AccessTrace(10 * CHUNK + 5, "etag:\"x\"", CHUNK, new int[] {3, 0, 10, 7});
        Path file = directory.resolve("trace");
        trace.save(file);
        assertEquals(trace, AccessTrace.load(file));
    }

    @Test
    void aTraceConvertsToOtherChunkSizesKeepingTheOrderOfFirstTouch() {
        AccessTrace trace = new AccessTrace(8L * CHUNK, "generation:1", CHUNK, new int[] {5, 1, 4, 0});
        assertArrayEquals(new int[] {2, 0}, trace.chunksFor(2 * CHUNK), "5 and 4 in chunk 2, 1 and 0 in chunk 0");
        assertArrayEquals(new int[] {10, 11, 2, 3, 8, 9, 0, 1}, trace.chunksFor(CHUNK / 2));
    }

    @Test
    void aFileThatIsNotATraceIsAClearError(@TempDir Path directory) throws IOException {
        Path garbage = Files.write(directory.resolve("garbage"), new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9});
        assertTrue(assertThrows(IOException.class, () -> AccessTrace.load(garbage)).getMessage().contains("not an anymap access trace"));
        Path file = directory.resolve("trace");
        new AccessTrace(4L * CHUNK, "v", CHUNK, new int[] {0, 1, 2, 3}).save(file);
        byte[] bytes = Files.readAllBytes(file);
        Path truncated = Files.write(directory.resolve("truncated"), java.util.Arrays.copyOf(bytes, bytes.length - 3));
        assertTrue(assertThrows(IOException.class, () -> AccessTrace.load(truncated)).getMessage().contains("truncated"));
        assertThrows(IllegalArgumentException.class, () -> new AccessTrace(CHUNK, "v", CHUNK, new int[] {1}));
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aRecordedTraceReplayedOnANewMappingFetchesEverythingBeforeItIsTouched() throws Exception {
        long size = 32L << 20;
        long seed = 51;
        URI uri = URI.create("faulty:traced?size=" + size + "&seed=" + seed);
        List<Integer> touched = new ArrayList<>();
        for (int chunk = 0; chunk < size / CHUNK; chunk += 3) {
            touched.add(chunk);
        }
        Collections.shuffle(touched, new Random(7));
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false);
        AccessTrace trace;
        try (Anymap anymap = Anymap.open(TestServers.privateServer())) {
            try (MappedRegion recorded = anymap.map(uri, options)) {
                for (int chunk : touched) {
                    recorded.segment().get(ValueLayout.JAVA_BYTE, (long) chunk * CHUNK + 11);
                }
                trace = recorded.trace();
            }
            assertArrayEquals(touched.stream().mapToInt(Integer::intValue).toArray(), trace.chunks());
        }
        // Replayed by another page server, as on a later run: the first one's cache would hold every chunk already.
        try (Anymap anymap = Anymap.open(TestServers.privateServer())) {
            try (MappedRegion replayed = anymap.map(uri, options)) {
                replayed.prefetch(trace);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (replayed.stats().chunksFetched() < touched.size() && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                assertTracedChunksRead(replayed, size, seed, touched.stream().mapToInt(Integer::intValue).toArray());
                assertEquals(0, replayed.stats().faults(), "every chunk arrived before it was touched");
                assertEquals(touched.size(), replayed.stats().chunksFetched(), "and nothing else was fetched");
            }
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aTraceGivenToMapIsReadWhileTheObjectOpens() throws Exception {
        long size = 16L << 20;
        long seed = 61;
        int[] chunks = {200, 3, 117, 42, 9, 250, 60, 181};
        // The open waits until the trace's eight chunks have been read: a map that read them after it could not open.
        URI uri = URI.create("faulty:read-while-opening?size=" + size + "&seed=" + seed + "&openafter=" + chunks.length);
        AccessTrace trace = new AccessTrace(size, "generation:" + seed, CHUNK, chunks);
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false);
        try (Anymap anymap = Anymap.open(TestServers.privateServer());
             MappedRegion region = anymap.map(uri, options, trace)) {
            assertEquals("generation:" + seed, region.version().toString());
            assertTracedChunksRead(region, size, seed, chunks);
            assertEquals(chunks.length, region.stats().chunksFetched(), "each traced chunk read once, before it was touched");
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aTraceOfAnOlderVersionGivenToMapMapsTheObjectAsItIsNowAndStillPrefetches() throws Exception {
        long size = 16L << 20;
        int[] chunks = {5, 77, 130, 2};
        AccessTrace older = new AccessTrace(size, "generation:1", CHUNK, chunks);
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false);
        try (Anymap anymap = Anymap.open(TestServers.privateServer());
             MappedRegion region = anymap.map(URI.create("faulty:rewritten?size=" + size + "&seed=2"), options, older)) {
            assertEquals("generation:2", region.version().toString());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (region.stats().chunksFetched() < chunks.length && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertTracedChunksRead(region, size, 2, chunks);
            assertEquals(chunks.length, region.stats().chunksFetched(), "the trace prefetched the new version's chunks, each once");
            assertEquals(0, region.stats().failures());
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aTraceOfAnObjectOfAnotherSizeGivenToMapIsNotUsed() throws Exception {
        long size = 16L << 20;
        AccessTrace smaller = new AccessTrace(size / 2, "generation:3", CHUNK, new int[] {1, 2, 3});
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false);
        try (Anymap anymap = Anymap.open(TestServers.privateServer());
             MappedRegion region = anymap.map(URI.create("faulty:grown?size=" + size + "&seed=3"), options, smaller)) {
            assertEquals(size, region.size());
            assertEquals(0, region.stats().chunksFetched());
            assertTracedChunksRead(region, size, 3, new int[] {1, 2, 3, 255});
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void chunksThatReadaheadBroughtAreNotInTheTraceUntilAFaultReachesThem() throws Exception {
        long size = 16L << 20;
        try (Anymap anymap = Anymap.open(TestServers.privateServer());
             MappedRegion region = anymap.map(URI.create("faulty:read-ahead-trace?size=" + size + "&seed=53"),
                     MapOptions.defaults().withChunkSize(CHUNK).withReadahead(64).withAutoPull(false))) {
            // Two adjacent faults make a stream, whose readahead claims the chunks after them before it reads any.
            region.segment().get(ValueLayout.JAVA_BYTE, 5);
            region.segment().get(ValueLayout.JAVA_BYTE, CHUNK + 5);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (region.stats().chunksFetched() < 4 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertTrue(region.stats().chunksFetched() >= 4, "readahead fetched chunks after the two touched: " + region.stats());
            assertArrayEquals(new int[] {0, 1}, region.trace().chunks(), "only the chunks faulted on");
        }
    }

    /** Reads each chunk whole from the mapping and compares it with the reference content, in this order. */
    private static void assertTracedChunksRead(MappedRegion region, long size, long seed, int[] chunks) throws IOException {
        byte[] got = new byte[CHUNK];
        byte[] want = new byte[CHUNK];
        for (int chunk : chunks) {
            MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, (long) chunk * CHUNK, got, 0, CHUNK);
            ReferenceContent.of(size, seed).read((long) chunk * CHUNK, MemorySegment.ofArray(want));
            assertArrayEquals(want, got, "chunk " + chunk);
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aTraceLongerThanAPacketComesWhole() throws Exception {
        long size = 80L << 20;
        int chunk = 4096;
        try (Anymap anymap = Anymap.open(TestServers.privateServer());
             MappedRegion region = anymap.map(URI.create("faulty:long-trace?size=" + size + "&seed=52"),
                     MapOptions.defaults().withChunkSize(chunk).withReadahead(0).withAutoPull(false))) {
            for (long offset = size - chunk; offset >= 0; offset -= chunk) {
                region.segment().get(ValueLayout.JAVA_BYTE, offset);
            }
            int[] chunks = region.trace().chunks();
            assertEquals(size / chunk, chunks.length);
            for (int i = 0; i < chunks.length; i++) {
                assertEquals(chunks.length - 1 - i, chunks[i], "position " + i);
            }
        }
    }
}
