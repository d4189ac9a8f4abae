package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link MappedRegion#load} and {@link MappedRegion#copyTo}: reads whose faults are taken in native code. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class MappedRegionLoadTest extends WithPageServer {
    private static final int CHUNK = 64 * 1024;

    @Test
    void aLoadedRangeIsResidentAndReadsAsTheObject() throws Exception {
        long size = 16L << 20;
        long offset = 3 * CHUNK + 123;
        int length = 5 * 1024 * 1024 + 7;
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false);
        try (MappedRegion region = anymap.map(URI.create("mem:load?size=" + size + "&seed=21"), options)) {
            region.load(offset, length);
            long faultsAfterLoad = region.stats().faults();
            assertTrue(faultsAfterLoad > 0, "the load fetched the range: " + region.stats());
            assertArrayEquals(ReferenceContent.bytes(size, 21, offset, length), actual(region.segment(), offset, length));
            assertEquals(faultsAfterLoad, region.stats().faults(), "reading the loaded range faulted again");
            // The last, partial page of the object too.
            region.load(size - 10, 10);
            assertArrayEquals(ReferenceContent.bytes(size, 21, size - 10, 10), actual(region.segment(), size - 10, 10));
        }
    }

    @Test
    void aCopyIntoNativeOrHeapMemoryHoldsTheObjectsBytes() throws Exception {
        long size = (8L << 20) + 999;
        long offset = 777;
        int length = (int) size - 1000;
        try (MappedRegion region = anymap.map(URI.create("mem:copy?size=" + size + "&seed=22"), MapOptions.defaults().withChunkSize(CHUNK));
             Arena arena = Arena.ofConfined()) {
            byte[] expected = ReferenceContent.bytes(size, 22, offset, length);
            MemorySegment offHeap = arena.allocate(length);
            region.copyTo(offset, offHeap);
            assertArrayEquals(expected, offHeap.toArray(ValueLayout.JAVA_BYTE));
            byte[] onHeap = new byte[length];
            region.copyTo(offset, MemorySegment.ofArray(onHeap));
            assertArrayEquals(expected, onHeap);
        }
    }

    @Test
    void aLoadOverAFailedChunkThrowsAnIOExceptionNamingTheUriAndTheCause() throws Exception {
        long size = 4 << 20;
        long badOffset = (1 << 20) + 100;
        URI uri = URI.create("faulty:broken-load?size=" + size + "&seed=3&fail=" + badOffset);
        MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false);
        try (MappedRegion region = anymap.map(uri, options); Arena arena = Arena.ofConfined()) {
            IOException load = assertThrows(IOException.class, () -> region.load(0, size));
            assertTrue(load.getMessage().contains("faulty:broken-load") && load.getMessage().contains("injected failure")
                    && load.getMessage().contains("the chunk at bytes " + (1 << 20) + " to " + ((1 << 20) + CHUNK)), load.getMessage());
            // A native copy over the failed chunk fails the same way, and the JVM that would die of a SIGBUS there lives on.
            MemorySegment target = arena.allocate(2 * CHUNK);
            IOException copy = assertThrows(IOException.class, () -> region.copyTo((1 << 20) - CHUNK, target));
            assertTrue(copy.getMessage().contains("injected failure"), copy.getMessage());
            assertDoesNotThrow(() -> region.load(badOffset + CHUNK, size - badOffset - CHUNK));
            assertArrayEquals(ReferenceContent.bytes(size, 3, size - 4096, 4096), actual(region.segment(), size - 4096, 4096));
        }
    }

    @Test
    void aRangeOutsideTheObjectAClosedRegionOrAReadOnlyDestinationIsRefused() throws Exception {
        long size = 100_000;
        MappedRegion region = anymap.map(URI.create("mem:bounds?size=" + size + "&seed=5"));
        assertThrows(IndexOutOfBoundsException.class, () -> region.load(-1, 10));
        assertThrows(IndexOutOfBoundsException.class, () -> region.load(size - 10, 11));
        assertThrows(IndexOutOfBoundsException.class, () -> region.load(10, -1));
        assertThrows(IndexOutOfBoundsException.class, () -> region.copyTo(size - 10, MemorySegment.ofArray(new byte[11])));
        assertThrows(IllegalArgumentException.class, () -> region.copyTo(0, MemorySegment.ofArray(new byte[10]).asReadOnly()));
        region.load(size, 0);
        region.close();
        assertThrows(IllegalStateException.class, () -> region.load(0, 10));
        assertThrows(IllegalStateException.class, () -> region.copyTo(0, MemorySegment.ofArray(new byte[10])));
        try (MappedRegion empty = anymap.map(URI.create("mem:empty-load?size=0"))) {
            empty.load(0, 0);
            empty.copyTo(0, MemorySegment.ofArray(new byte[0]));
        }
    }

    /**
     * The point of load: four threads wait in loads on fetches that the test holds, and a garbage
     * collection on this thread finishes all the same. Were the faults taken by Java code, it would
     * wait for the fetches, which give up only after 30 s and then fail the loads.
     */
    @Test
    void aGarbageCollectionFinishesWhileLoadsWaitOnFetches() throws Exception {
        int threads = 4;
        long size = 16L * CHUNK;
        try (ServerSocket latch = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
             MappedRegion region = anymap.map(URI.create("faulty:held-load?size=" + size + "&seed=6&release=" + latch.getLocalPort()),
                     MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false))) {
            CountDownLatch loaded = new CountDownLatch(threads);
            List<AtomicReference<Throwable>> errors = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long offset = 3L * t * CHUNK;
                AtomicReference<Throwable> error = new AtomicReference<>();
                errors.add(error);
                Thread.ofPlatform().daemon().start(() -> {
                    try {
                        region.load(offset, CHUNK);
                    } catch (Throwable e) {
                        error.set(e);
                    }
                    loaded.countDown();
                });
            }
            List<Socket> held = new ArrayList<>();
            try {
                for (int t = 0; t < threads; t++) {
                    held.add(latch.accept()); // a fetch has started, and is held until this socket is written to
                }
                System.gc();
                assertEquals(threads, loaded.getCount(), "a load ended before its fetch was released");
                assertEquals(0, region.stats().failures(), "a held fetch gave up before the collection ended");
                for (Socket fetch : held) {
                    fetch.getOutputStream().write(1);
                }
            } finally {
                for (Socket fetch : held) {
                    fetch.close();
                }
            }
            assertTrue(loaded.await(1, TimeUnit.MINUTES));
            for (AtomicReference<Throwable> error : errors) {
                assertEquals(null, error.get());
            }
            for (int t = 0; t < threads; t++) {
                assertArrayEquals(ReferenceContent.bytes(size, 6, 3L * t * CHUNK, CHUNK), actual(region.segment(), 3L * t * CHUNK, CHUNK));
            }
        }
    }

    /**
     * The contrast that shows what the test above can see: the same held fetch under a plain Java
     * touch holds the collection until the fetch gives up (no one can release it: this JVM stops at
     * the safepoint), so the collection ends only after the failure.
     */
    @Test
    void aGarbageCollectionWaitsForAFetchThatAJavaTouchWaitsOn() throws Exception {
        long size = 4L * CHUNK;
        try (ServerSocket latch = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
             MappedRegion region = anymap.map(URI.create("faulty:held-touch?size=" + size + "&seed=7&holdfor=500&release="
                     + latch.getLocalPort()), MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false))) {
            AtomicReference<Throwable> touched = new AtomicReference<>();
            Thread toucher = Thread.ofPlatform().daemon().start(() -> {
                try {
                    region.segment().get(ValueLayout.JAVA_BYTE, CHUNK);
                } catch (Throwable e) {
                    touched.set(e);
                }
            });
            try (Socket fetch = latch.accept()) {
                System.gc();
                assertEquals(1, region.stats().failures(), "the collection ended before the fetch the touch waits on");
            }
            toucher.join();
            assertInstanceOf(InternalError.class, touched.get());
        }
    }
}
