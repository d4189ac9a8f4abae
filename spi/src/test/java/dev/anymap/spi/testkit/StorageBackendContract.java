package dev.anymap.spi.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The behaviour every {@link StorageBackend} owes the page server. A backend's test extends this
 * class and says how to store an object with given content and open it; the kit checks size, reads
 * at every alignment around page and chunk boundaries, the tail of objects that are not page sized,
 * reads past the end, concurrent random reads, and close while reads are in flight, comparing every
 * byte against the content it stored.
 */
public abstract class StorageBackendContract {
    /** The page size the engine works in. */
    protected static final int PAGE = 4096;

    /**
     * Stores an object named {@code name} holding exactly {@code content}, and opens it. Each call
     * gets a fresh name; the test closes what it opens.
     */
    protected abstract StorageBackend store(String name, byte[] content) throws Exception;

    /** The chunk size whose boundaries are probed; a backend with its own block size overrides it. */
    protected int chunkSize() {
        return 64 * 1024;
    }

    /**
     * Whether the backend hands over a {@linkplain StorageBackend#localFile() local file}; a backend
     * that does overrides this to say so, and the kit checks the file.
     */
    protected boolean offersLocalFile() {
        return false;
    }

    /** The deadline for any single test that runs threads, so a hung read fails instead of hanging CI. */
    protected Duration concurrentTestDeadline() {
        return Duration.ofSeconds(60);
    }

    @Test
    void aLocalFileIsOfferedAsDeclaredAndHoldsExactlyTheBytesReadsReturn() throws Exception {
        byte[] content = TestContent.random(11, 3 * PAGE + 77);
        try (StorageBackend backend = store("local-file", content)) {
            Optional<Path> file = backend.localFile();
            assertEquals(offersLocalFile(), file.isPresent(), "whether " + backend + " offers a local file");
            if (file.isEmpty()) {
                return;
            }
            assertTrue(Files.isRegularFile(file.get()), file.get() + " is a regular file");
            assertEquals(backend.size(), Files.size(file.get()), "the local file's size");
            byte[] read = new byte[content.length];
            backend.read(0, MemorySegment.ofArray(read));
            assertArrayEquals(content, read, "the backend's reads");
            assertArrayEquals(read, Files.readAllBytes(file.get()), "the local file's bytes against the backend's reads");
        }
    }

    @Test
    void reportsTheSizeOfObjectsAroundPageBoundaries() throws Exception {
        for (int size : new int[] {1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 123}) {
            try (StorageBackend backend = store("size-" + size, TestContent.random(size, size))) {
                assertEquals(size, backend.size(), "size of " + backend.uri());
            }
        }
    }

    @Test
    void anEmptyObjectHasSizeZeroAndReadsNothing() throws Exception {
        try (StorageBackend backend = store("empty", new byte[0])) {
            assertEquals(0, backend.size());
            backend.read(0, MemorySegment.ofArray(new byte[0]));
            assertThrows(OutOfRangeException.class, () -> backend.read(0, MemorySegment.ofArray(new byte[1])));
        }
    }

    @Test
    void hasAVersionThatDoesNotChangeWhileOpen() throws Exception {
        try (StorageBackend backend = store("version", TestContent.random(7, 1000))) {
            assertNotNull(backend.version());
            assertEquals(backend.version(), backend.version());
        }
    }

    @Test
    void readsAtEveryAlignmentAndLengthAroundPageAndChunkBoundaries() throws Exception {
        int chunk = chunkSize();
        byte[] content = TestContent.random(1, 2 * chunk + PAGE + 123);
        TreeSet<Integer> offsets = new TreeSet<>();
        for (int boundary : new int[] {0, PAGE, chunk, 2 * chunk, 2 * chunk + PAGE, content.length}) {
            for (int delta = -1; delta <= 1; delta++) {
                if (boundary + delta >= 0 && boundary + delta <= content.length) {
                    offsets.add(boundary + delta);
                }
            }
        }
        int[] lengths = {0, 1, 2, 7, PAGE - 1, PAGE, PAGE + 1, chunk - 1, chunk, chunk + 1};
        try (StorageBackend backend = store("alignment", content); Arena arena = Arena.ofConfined()) {
            int target = 0;
            for (int offset : offsets) {
                for (int length : lengths) {
                    if (offset + length > content.length) {
                        continue;
                    }
                    byte[] read = readWith(backend, offset, length, target++ % 3, arena);
                    assertArrayEquals(Arrays.copyOfRange(content, offset, offset + length), read,
                            () -> "bytes at offset " + offset + ", length " + length);
                }
            }
        }
    }

    @Test
    void readsTheTailOfAnObjectWhoseSizeIsNotAMultipleOfThePageSize() throws Exception {
        byte[] content = TestContent.random(2, 5 * PAGE + 321);
        try (StorageBackend backend = store("tail", content); Arena arena = Arena.ofConfined()) {
            for (int length : new int[] {1, 321, PAGE, PAGE + 321, content.length}) {
                int offset = content.length - length;
                assertArrayEquals(Arrays.copyOfRange(content, offset, content.length),
                        readWith(backend, offset, length, length % 3, arena), "last " + length + " bytes");
            }
        }
    }

    @Test
    void aReadPastTheEndIsAClearErrorNamingTheObject() throws Exception {
        byte[] content = TestContent.random(3, PAGE + 5);
        try (StorageBackend backend = store("past-end", content)) {
            long size = backend.size();
            for (long[] range : new long[][] {{size, 1}, {size - 1, 2}, {0, size + 1}, {size + PAGE, 1}}) {
                OutOfRangeException error = assertThrows(OutOfRangeException.class,
                        () -> backend.read(range[0], MemorySegment.ofArray(new byte[(int) range[1]])));
                assertTrue(error.getMessage().contains("past the end") && error.getMessage().contains(String.valueOf(size)),
                        error.getMessage());
            }
            assertThrows(IllegalArgumentException.class, () -> backend.read(-1, MemorySegment.ofArray(new byte[1])));
            // A failed read leaves the backend usable.
            assertArrayEquals(Arrays.copyOfRange(content, 0, 10), readWith(backend, 0, 10, 0, null));
        }
    }

    @Test
    void streamsARangeInOrderEachByteOnce() throws Exception {
        int chunk = chunkSize();
        // Longer than the default stream's piece, so that a stream in pieces crosses one.
        byte[] content = TestContent.random(8, StorageBackend.STREAM_PIECE + 2 * chunk + 123);
        try (StorageBackend backend = store("stream", content)) {
            long[][] ranges = {{0, content.length}, {PAGE - 1, StorageBackend.STREAM_PIECE + 2}, {chunk + 1, 7},
                    {content.length - 1, 1}, {content.length, 0}};
            for (long[] range : ranges) {
                int offset = (int) range[0];
                int length = (int) range[1];
                ByteArrayOutputStream streamed = new ByteArrayOutputStream();
                backend.stream(offset, length, bytes -> streamed.writeBytes(bytes.toArray(ValueLayout.JAVA_BYTE)));
                assertArrayEquals(Arrays.copyOfRange(content, offset, offset + length), streamed.toByteArray(),
                        () -> "bytes streamed at offset " + offset + ", length " + length);
            }
        }
    }

    @Test
    void aStreamPastTheEndFailsBeforeItPassesAnyBytes() throws Exception {
        byte[] content = TestContent.random(9, PAGE + 5);
        try (StorageBackend backend = store("stream-past-end", content)) {
            long size = backend.size();
            List<MemorySegment> passed = new ArrayList<>();
            assertThrows(OutOfRangeException.class, () -> backend.stream(size - 1, 2, passed::add));
            assertThrows(IllegalArgumentException.class, () -> backend.stream(-1, 1, passed::add));
            assertEquals(List.of(), passed);
        }
    }

    @Test
    void aSinkThatThrowsEndsTheStreamAndLeavesTheBackendUsable() throws Exception {
        byte[] content = TestContent.random(10, 4 * chunkSize());
        try (StorageBackend backend = store("stream-sink-throws", content)) {
            IllegalStateException stop = new IllegalStateException("the sink stops the stream");
            IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> backend.stream(0, content.length, bytes -> {
                throw stop;
            }));
            assertTrue(thrown == stop, "the sink's own exception, not " + thrown);
            assertArrayEquals(Arrays.copyOfRange(content, PAGE, 3 * PAGE), readWith(backend, PAGE, 2 * PAGE, 0, null));
        }
    }

    @Test
    void readsIntoAByteBufferAndAdvancesItsPosition() throws Exception {
        byte[] content = TestContent.random(4, 3 * PAGE);
        try (StorageBackend backend = store("buffer", content)) {
            for (ByteBuffer buffer : List.of(ByteBuffer.allocate(PAGE + 10), ByteBuffer.allocateDirect(PAGE + 10))) {
                buffer.position(5).limit(5 + PAGE);
                backend.read(PAGE - 3, buffer);
                assertEquals(5 + PAGE, buffer.position());
                byte[] read = new byte[PAGE];
                buffer.position(5);
                buffer.get(read);
                assertArrayEquals(Arrays.copyOfRange(content, PAGE - 3, 2 * PAGE - 3), read);
            }
        }
    }

    @Test
    void eightThreadsReadingAtRandomAllGetTheRightBytes() throws Exception {
        int chunk = chunkSize();
        byte[] content = TestContent.random(5, 8 * chunk + 77);
        try (StorageBackend backend = store("concurrent", content)) {
            inThreads(8, thread -> {
                SplittableRandom random = new SplittableRandom(thread);
                try (Arena arena = Arena.ofConfined()) {
                    for (int i = 0; i < 200; i++) {
                        int offset = random.nextInt(content.length);
                        int length = random.nextInt(Math.min(2 * chunk, content.length - offset) + 1);
                        byte[] read = readWith(backend, offset, length, i % 3, arena);
                        if (!Arrays.equals(content, offset, offset + length, read, 0, length)) {
                            throw new AssertionError("thread " + thread + ": wrong bytes at offset " + offset + ", length " + length);
                        }
                    }
                }
                return null;
            });
        }
    }

    @Test
    void closeWhileReadsAreInFlightNeverHangsAndNeverReturnsWrongBytes() throws Exception {
        int chunk = chunkSize();
        byte[] content = TestContent.random(6, 4 * chunk);
        StorageBackend backend = store("close-in-flight", content);
        CountDownLatch everyThreadHasRead = new CountDownLatch(8);
        AtomicBoolean closed = new AtomicBoolean();
        List<Future<Object>> readers = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            for (int t = 0; t < 8; t++) {
                int thread = t;
                readers.add(pool.submit(() -> {
                    SplittableRandom random = new SplittableRandom(thread);
                    boolean counted = false;
                    int readsAfterClose = 0;
                    // Read until a read fails after close; reads that succeed must be right.
                    for (int i = 0; ; i++) {
                        int offset = random.nextInt(content.length - chunk);
                        byte[] read;
                        try {
                            read = readWith(backend, offset, chunk, i % 3, null);
                        } catch (IOException | IllegalStateException failure) {
                            if (!closed.get()) {
                                throw new AssertionError("a read failed before close", failure);
                            }
                            return null;
                        }
                        if (!Arrays.equals(content, offset, offset + chunk, read, 0, chunk)) {
                            throw new AssertionError("wrong bytes at offset " + offset + " (closed: " + closed.get() + ")");
                        }
                        if (!counted) {
                            everyThreadHasRead.countDown();
                            counted = true;
                        }
                        if (closed.get() && ++readsAfterClose > 1_000) {
                            throw new AssertionError("reads kept succeeding long after close");
                        }
                    }
                }));
            }
            assertTrue(everyThreadHasRead.await(concurrentTestDeadline().toSeconds(), TimeUnit.SECONDS), "readers started");
            closed.set(true);
            backend.close();
            for (Future<Object> reader : readers) {
                reader.get(concurrentTestDeadline().toSeconds(), TimeUnit.SECONDS);
            }
            assertThrows(IOException.class, () -> backend.read(0, MemorySegment.ofArray(new byte[1])));
            backend.close(); // idempotent
        } catch (TimeoutException hung) {
            fail("a read hung after close");
        } finally {
            pool.shutdownNow();
        }
    }

    /** Reads through one of three kinds of target: 0 native segment, 1 heap segment, 2 byte buffer. */
    private static byte[] readWith(StorageBackend backend, long offset, int length, int kind, Arena arena) throws IOException {
        byte[] result = new byte[length];
        switch (kind) {
            case 0 -> {
                try (Arena own = arena == null ? Arena.ofConfined() : null) {
                    MemorySegment target = (arena != null ? arena : own).allocate(Math.max(length, 1)).asSlice(0, length);
                    backend.read(offset, target);
                    MemorySegment.copy(target, ValueLayout.JAVA_BYTE, 0, result, 0, length);
                }
            }
            case 1 -> backend.read(offset, MemorySegment.ofArray(result));
            default -> {
                ByteBuffer buffer = ByteBuffer.wrap(result);
                backend.read(offset, buffer);
                if (buffer.hasRemaining()) {
                    throw new AssertionError("ByteBuffer read left " + buffer.remaining() + " bytes unread");
                }
            }
        }
        return result;
    }

    @FunctionalInterface
    private interface ThreadBody {
        Object run(int thread) throws Exception;
    }

    private void inThreads(int count, ThreadBody body) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(count);
        try {
            List<Future<Object>> futures = new ArrayList<>();
            for (int t = 0; t < count; t++) {
                int thread = t;
                futures.add(pool.submit(() -> body.run(thread)));
            }
            for (Future<Object> future : futures) {
                try {
                    future.get(concurrentTestDeadline().toSeconds(), TimeUnit.SECONDS);
                } catch (TimeoutException hung) {
                    fail("a reader thread did not finish within " + concurrentTestDeadline());
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
