package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The requests of one process are answered as each is done: a map whose object takes its time to
 * open (a round trip to remote storage) holds up none of the others, and a flush that waits on its
 * storage none of the requests sent after it; every answer reaches the call that asked for it.
 */
class MapsAtOnceTest {
    private static final long SIZE = 1 << 20;
    private static final MapOptions OPTIONS = MapOptions.defaults().withChunkSize(64 << 10).withReadahead(0).withAutoPull(false);

    @TempDir
    Path directory;

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void objectsMappedFromSeveralThreadsOpenAtOnceAndEachRegionReadsItsOwnObject() throws Exception {
        int maps = 4;
        ExecutorService threads = Executors.newFixedThreadPool(maps);
        try (Anymap anymap = Anymap.open(TestServers.privateServer())) {
            List<CompletableFuture<MappedRegion>> mapped = new ArrayList<>();
            for (int i = 0; i < maps; i++) {
                // Four objects (four seeds) whose opens each wait until all four are under way, and fail after 10 s.
                URI uri = URI.create("faulty:opened-together?size=" + (SIZE + i * 4096) + "&seed=" + (80 + i) + "&opentogether=" + maps);
                mapped.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return anymap.map(uri, OPTIONS);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }, threads));
            }
            for (int i = 0; i < maps; i++) {
                try (MappedRegion region = mapped.get(i).get(1, TimeUnit.MINUTES)) {
                    long size = SIZE + i * 4096;
                    assertEquals(size, region.size());
                    assertEquals("generation:" + (80 + i), region.version().toString());
                    region.load(0, size);
                    assertArrayEquals(ReferenceContent.bytes(size, 80 + i, 0, (int) size), region.segment().toArray(ValueLayout.JAVA_BYTE));
                }
            }
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void requestsAnsweredWhileAFlushWaitsOnItsStorageEachGetTheirOwnAnswer() throws Exception {
        byte[] model = new byte[(int) SIZE];
        new java.util.SplittableRandom(43).nextBytes(model);
        Path file = Files.write(directory.resolve("flushed.bin"), model);
        // The commit takes a second before it writes: the stats requests below are answered meanwhile.
        URI uri = URI.create("servedfile:" + file + "?slow=1000");
        try (Anymap anymap = Anymap.open(TestServers.privateServer());
             MappedRegion region = anymap.map(uri, OPTIONS.withWritable(true))) {
            MemorySegment.copy(new byte[] {1, 2, 3}, 0, region.segment(), ValueLayout.JAVA_BYTE, 5000, 3);
            System.arraycopy(new byte[] {1, 2, 3}, 0, model, 5000, 3);
            CompletableFuture<Void> flush = CompletableFuture.runAsync(() -> {
                try {
                    region.flush();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            int answeredDuringTheFlush = 0;
            while (!flush.isDone()) {
                RegionStats stats = region.stats();
                assertTrue(stats.chunksFetched() >= 1, "a stats request answered with another's answer: " + stats);
                answeredDuringTheFlush++;
            }
            flush.get(1, TimeUnit.MINUTES);
            assertArrayEquals(model, Files.readAllBytes(file), "the file after the flush");
            assertTrue(answeredDuringTheFlush > 1, "no stats request was answered while the flush waited");
        }
    }

    /**
     * A thread interrupted while its map is under way gets an InterruptedIOException at once. The
     * answer that comes later is no one's: the cache's memory that comes with it is closed then, and
     * the region made for it unmapped. Left open, they would hold the object's cached pages, and a
     * place among the process's regions, for as long as the process runs.
     */
    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aMapWhoseThreadIsInterruptedLeavesNeitherItsMemoryNorItsRegionOpen() throws Exception {
        // Each open waits until the two maps below are both under way.
        URI uri = URI.create("faulty:interrupted?size=" + SIZE + "&seed=90&opentogether=2");
        try (Anymap anymap = Anymap.open(TestServers.privateServer())) {
            long server = anymap.serverStatus().serverPid(); // started now, so that the map below waits on its open alone
            CompletableFuture<Throwable> interrupted = new CompletableFuture<>();
            Thread first = Thread.ofPlatform().start(() -> {
                try {
                    anymap.map(uri, OPTIONS).close();
                    interrupted.complete(null);
                } catch (Throwable e) {
                    interrupted.complete(e);
                }
            });
            while (!(first.getState() == Thread.State.WAITING && java.util.Arrays.stream(first.getStackTrace())
                    .anyMatch(frame -> frame.getClassName().equals(PageServerLink.class.getName())))) {
                Thread.onSpinWait();
            }
            first.interrupt();
            Throwable failure = interrupted.get(1, TimeUnit.MINUTES);
            assertTrue(failure instanceof java.io.InterruptedIOException, "the interrupted map: " + failure);
            try (MappedRegion second = anymap.map(uri, OPTIONS)) {
                assertEquals(ReferenceContent.bytes(SIZE, 90, 0, 1)[0], second.segment().get(ValueLayout.JAVA_BYTE, 0));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!memoryDescriptors(server).isEmpty()) {
                assertTrue(System.nanoTime() < deadline, "descriptors of the cache's memory still open: " + memoryDescriptors(server));
                Thread.onSpinWait();
            }
            // Nor does the server keep the region it made for no one until this process leaves.
            while (!anymap.serverStatus().regions().isEmpty()) {
                assertTrue(System.nanoTime() < deadline, "regions the server still serves: " + anymap.serverStatus().regions());
                Thread.onSpinWait();
            }
        }
    }

    /** This process's descriptors of the memory files of page server {@code server}'s cache, as it sends them. */
    private static List<String> memoryDescriptors(long server) throws IOException {
        List<String> memory = new ArrayList<>();
        try (var descriptors = Files.list(Path.of("/proc/self/fd"))) {
            for (Path descriptor : descriptors.toList()) {
                try {
                    String target = Files.readSymbolicLink(descriptor).toString();
                    if (target.startsWith("/memfd:anymap-" + server + "-")) { // not those of page servers that tests run in this JVM
                        memory.add(descriptor.getFileName() + " -> " + target);
                    }
                } catch (java.nio.file.NoSuchFileException closedMeanwhile) {
                    // the listing's own descriptor, or one closed since
                }
            }
        }
        return memory;
    }
}
