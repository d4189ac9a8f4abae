package dev.anymap.spi.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The write path every writable backend owes anymap: {@link StorageBackend#commit},
 * {@link BackendProvider#openForWriting} and {@link BackendProvider#create}. A writable backend's test
 * extends this class and says how to store an object, how to read what is stored without the backend
 * (the file system, the storage's own client, SQL), and how another writer changes it; the kit commits
 * writes at every alignment around page and chunk boundaries, and compares the stored bytes, read that
 * independent way, with a model of what they must be.
 */
public abstract class WritableBackendContract {
    /** The page size the engine works in. */
    protected static final int PAGE = 4096;

    private final AtomicInteger names = new AtomicInteger();
    private final AtomicInteger tokens = new AtomicInteger();

    /** The provider under test; the kit opens, opens for writing and creates through it. */
    protected abstract BackendProvider provider();

    /** The options every open and create passes; none by default. */
    protected Map<String, String> options() {
        return Map.of();
    }

    /**
     * Stores an object holding exactly {@code content} under a name made from {@code name} (each call
     * gets a fresh name), without the backend, and returns its URI.
     */
    protected abstract URI store(String name, byte[] content) throws Exception;

    /** A URI, made from {@code name}, where no object exists yet: for {@link BackendProvider#create}. */
    protected abstract URI absent(String name) throws Exception;

    /** The bytes stored at {@code uri}, read without the backend under test. */
    protected abstract byte[] readStored(URI uri) throws Exception;

    /**
     * Replaces the object at {@code uri} with {@code content} (same size) behind the backend's back, as
     * another writer would: the object must then be at a version other than before, as it would be
     * once the storage's clock moved on (a backend whose version is a modification time moves it).
     */
    protected abstract void changeBehindTheBackend(URI uri, byte[] content) throws Exception;

    /**
     * Whether a commit finds that the object is no longer at {@link Changes#base()} (conditional
     * writes, a row version, a size and modification time). Where it does not, the kit skips its
     * checks of stale bases.
     */
    protected abstract boolean detectsConcurrentWriters();

    /** The chunk size whose boundaries are probed; a backend with its own block or part size overrides it. */
    protected int chunkSize() {
        return 64 * 1024;
    }

    @Test
    void commitsWritesAtEveryAlignmentAndLengthAroundPageAndChunkBoundaries() throws Exception {
        int chunk = chunkSize();
        // Not a multiple of the page: the last page is partial, and writes reach its last byte.
        byte[] model = TestContent.random(21, 2 * chunk + PAGE + 123);
        int[] boundaries = {0, PAGE, chunk, 2 * chunk, 2 * chunk + PAGE, model.length};
        int[] lengths = {1, 2, 7, PAGE - 1, PAGE, PAGE + 1, chunk - 1, chunk, chunk + 1};
        URI uri = store(name("alignment"), model);
        SplittableRandom random = new SplittableRandom(22);
        try (StorageBackend backend = openForWriting(uri)) {
            for (int delta = -1; delta <= 1; delta++) {
                for (int length : lengths) {
                    // One range at each boundary (ending at it where it is the end), merged where they meet.
                    List<long[]> wanted = new ArrayList<>();
                    for (int boundary : boundaries) {
                        long offset = boundary == model.length ? model.length - length - 1 - delta : boundary + delta;
                        offset = Math.max(0, Math.min(offset, model.length - length));
                        wanted.add(new long[] {offset, length});
                    }
                    List<ByteRange> dirty = merge(wanted);
                    for (ByteRange range : dirty) {
                        fillRandom(model, range, random);
                    }
                    int d = delta;
                    commitAndCheck(backend, uri, model, dirty, () -> "ranges of " + length + " bytes at boundaries "
                            + (d < 0 ? "- 1" : d > 0 ? "+ 1" : "") + ": " + dirty);
                }
            }
        }
    }

    @Test
    void commitsRandomRangesAndTheUnalignedTail() throws Exception {
        int chunk = chunkSize();
        byte[] model = TestContent.random(23, 3 * chunk + 5 * PAGE + 321);
        URI uri = store(name("random"), model);
        SplittableRandom random = new SplittableRandom(24);
        try (StorageBackend backend = openForWriting(uri)) {
            for (int round = 0; round < 8; round++) {
                List<long[]> wanted = new ArrayList<>();
                for (int i = random.nextInt(1, 12); i > 0; i--) {
                    long length = random.nextInt(1, 2 * PAGE + 2);
                    wanted.add(new long[] {random.nextLong(model.length - length + 1), length});
                }
                // The last byte of the object, on a partial page, is written every other round.
                if (round % 2 == 0) {
                    wanted.add(new long[] {model.length - 1, 1});
                }
                List<ByteRange> dirty = merge(wanted);
                for (ByteRange range : dirty) {
                    fillRandom(model, range, random);
                }
                int r = round;
                commitAndCheck(backend, uri, model, dirty, () -> "round " + r + ": " + dirty);
            }
        }
    }

    @Test
    void aCommitMakesANewVersionThatANewOpenSeesWithTheNewBytes() throws Exception {
        byte[] model = TestContent.random(25, 3 * PAGE + 77);
        URI uri = store(name("version"), model);
        try (StorageBackend backend = openForWriting(uri)) {
            ObjectVersion before = backend.version();
            List<ByteRange> dirty = List.of(new ByteRange(PAGE - 5, 10));
            fillRandom(model, dirty.getFirst(), new SplittableRandom(26));
            ObjectVersion committed = backend.commit(changes(before, dirty, model));
            assertNotEquals(before, committed, "the version a commit returns is a new one");
            assertEquals(committed, backend.version(), "version() after a commit is the version it returned");
            assertArrayEquals(model, readStored(uri), "the stored bytes after the commit");
            assertArrayEquals(model, readAll(backend), "the committing backend's reads after the commit");
            try (StorageBackend reopened = provider().open(uri, options())) {
                assertEquals(committed, reopened.version(), "the version a new open sees");
                assertArrayEquals(model, readAll(reopened), "a new open's reads");
            }
        }
    }

    @Test
    void aSecondCommitOnTopOfTheFirstKeepsBoth() throws Exception {
        byte[] model = TestContent.random(27, 4 * PAGE + 1);
        URI uri = store(name("second"), model);
        SplittableRandom random = new SplittableRandom(28);
        try (StorageBackend backend = openForWriting(uri)) {
            List<ByteRange> first = List.of(new ByteRange(0, PAGE), new ByteRange(3 * PAGE, 10));
            first.forEach(range -> fillRandom(model, range, random));
            ObjectVersion one = backend.commit(changes(backend.version(), first, model));
            List<ByteRange> second = List.of(new ByteRange(PAGE / 2, PAGE), new ByteRange(4 * PAGE, 1));
            second.forEach(range -> fillRandom(model, range, random));
            ObjectVersion two = backend.commit(changes(one, second, model));
            assertNotEquals(one, two, "the second commit's version");
            assertEquals(two, backend.version());
            assertArrayEquals(model, readStored(uri), "the stored bytes after two commits");
            assertArrayEquals(model, readAll(backend), "reads after two commits");
        }
    }

    @Test
    void aCommitOnAStaleBaseFailsAndKeepsTheOtherWritersBytes() throws Exception {
        Assumptions.assumeTrue(detectsConcurrentWriters(), "this storage does not detect a concurrent writer");
        byte[] original = TestContent.random(29, 2 * PAGE + 9);
        URI uri = store(name("stale"), original);
        try (StorageBackend backend = openForWriting(uri)) {
            byte[] others = TestContent.random(30, original.length);
            changeBehindTheBackend(uri, others);
            byte[] mine = original.clone();
            List<ByteRange> dirty = List.of(new ByteRange(10, PAGE));
            fillRandom(mine, dirty.getFirst(), new SplittableRandom(31));
            ObjectChangedException failure = assertThrows(ObjectChangedException.class,
                    () -> backend.commit(changes(backend.version(), dirty, mine)));
            assertTrue(failure.getMessage().contains(uri.getScheme()), "the failure names the object: " + failure.getMessage());
            assertArrayEquals(others, readStored(uri), "the other writer's bytes, untouched by the failed commit");
        }
    }

    @Test
    void aCommitWhoseBaseIsAnotherVersionFailsAndChangesNothing() throws Exception {
        Assumptions.assumeTrue(detectsConcurrentWriters(), "this storage does not detect a concurrent writer");
        byte[] original = TestContent.random(32, PAGE + 3);
        URI uri = store(name("other-base"), original);
        try (StorageBackend backend = openForWriting(uri)) {
            byte[] mine = original.clone();
            List<ByteRange> dirty = List.of(new ByteRange(0, PAGE + 3));
            fillRandom(mine, dirty.getFirst(), new SplittableRandom(33));
            ObjectVersion other = new ObjectVersion(backend.version().kind(), backend.version().value() + "0");
            assertThrows(ObjectChangedException.class, () -> backend.commit(changes(other, dirty, mine)));
            assertArrayEquals(original, readStored(uri), "the stored bytes after a refused commit");
        }
    }

    @Test
    void createMakesAnObjectOfZerosOfTheSizeThatCommitsWrite() throws Exception {
        int size = 2 * chunkSize() + 123;
        URI uri = absent(name("create"));
        try (StorageBackend backend = provider().create(uri, size, options())) {
            assertTrue(backend.capabilities().contains(Capability.WRITE), "a created object is open for writing");
            assertEquals(size, backend.size());
            byte[] model = new byte[size];
            assertArrayEquals(model, readStored(uri), "a created object's stored bytes");
            assertArrayEquals(model, readAll(backend), "a created object's reads");
            List<ByteRange> dirty = List.of(new ByteRange(PAGE - 1, 2), new ByteRange(size - 1, 1));
            dirty.forEach(range -> fillRandom(model, range, new SplittableRandom(range.offset())));
            commitAndCheck(backend, uri, model, dirty, () -> "a commit on a created object");
        }
    }

    @Test
    void createOverAnExistingObjectFailsAndLeavesIt() throws Exception {
        byte[] content = TestContent.random(34, PAGE + 10);
        URI uri = store(name("exists"), content);
        assertThrows(FileAlreadyExistsException.class, () -> provider().create(uri, 2 * PAGE, options()).close());
        assertArrayEquals(content, readStored(uri), "the existing object after a refused create");
    }

    @Test
    void aBackendOpenedToReadRefusesToCommit() throws Exception {
        byte[] content = TestContent.random(35, PAGE + 10);
        URI uri = store(name("read-only"), content);
        try (StorageBackend backend = provider().open(uri, options())) {
            assertFalse(backend.capabilities().contains(Capability.WRITE), "a backend opened to read has no WRITE capability");
            byte[] changed = content.clone();
            List<ByteRange> dirty = List.of(new ByteRange(0, 10));
            fillRandom(changed, dirty.getFirst(), new SplittableRandom(36));
            assertThrows(UnsupportedOperationException.class, () -> backend.commit(changes(backend.version(), dirty, changed)));
        }
        assertArrayEquals(content, readStored(uri), "the stored bytes after a refused commit");
    }

    @Test
    void anEmptyCommitChangesNoByte() throws Exception {
        byte[] content = TestContent.random(37, 2 * PAGE + 10);
        URI uri = store(name("empty-commit"), content);
        try (StorageBackend backend = openForWriting(uri)) {
            assertTrue(backend.capabilities().contains(Capability.WRITE), "a backend opened for writing has the WRITE capability");
            // Content that differs everywhere: nothing outside the (empty) dirty list may be written.
            byte[] elsewhere = TestContent.random(38, content.length);
            ObjectVersion version = backend.commit(changes(backend.version(), List.of(), elsewhere));
            assertEquals(version, backend.version(), "version() after an empty commit is the version it returned");
            assertArrayEquals(content, readStored(uri), "the stored bytes after an empty commit");
            assertArrayEquals(content, readAll(backend), "reads after an empty commit");
            List<ByteRange> dirty = List.of(new ByteRange(PAGE, 1));
            fillRandom(content, dirty.getFirst(), new SplittableRandom(39));
            commitAndCheck(backend, uri, content, dirty, () -> "a commit after an empty one");
        }
    }

    /** Opens {@code uri} for writing through the provider, and checks that it can write. */
    protected StorageBackend openForWriting(URI uri) throws Exception {
        StorageBackend backend = provider().openForWriting(uri, options());
        if (!backend.capabilities().contains(Capability.WRITE)) {
            backend.close();
            throw new AssertionError(uri + " opened for writing has no WRITE capability");
        }
        return backend;
    }

    /** Commits {@code model} on the backend's version and checks the storage and the backend's reads against it. */
    private void commitAndCheck(StorageBackend backend, URI uri, byte[] model, List<ByteRange> dirty,
            java.util.function.Supplier<String> what) throws Exception {
        ObjectVersion before = backend.version();
        ObjectVersion committed = backend.commit(changes(before, dirty, model));
        assertNotEquals(before, committed, () -> what.get() + ": the commit's version");
        assertEquals(committed, backend.version(), () -> what.get() + ": version() after the commit");
        byte[] stored = readStored(uri);
        assertEquals(model.length, stored.length, () -> what.get() + ": the stored object's size");
        int differs = Arrays.mismatch(model, stored);
        assertEquals(-1, differs, () -> what.get() + ": the stored bytes differ from the model first at byte " + differs);
        assertArrayEquals(model, readAll(backend), () -> what.get() + ": the backend's reads after the commit");
    }

    private Changes changes(ObjectVersion base, List<ByteRange> dirty, byte[] content) {
        // A copy: the model changes after the commit, and a backend must not read it later.
        return Changes.of(base, dirty, MemorySegment.ofArray(content.clone()), "kit-" + tokens.incrementAndGet());
    }

    private String name(String base) {
        return base + "-" + names.incrementAndGet();
    }

    private static byte[] readAll(StorageBackend backend) throws Exception {
        byte[] bytes = new byte[Math.toIntExact(backend.size())];
        backend.read(0, MemorySegment.ofArray(bytes));
        return bytes;
    }

    private static void fillRandom(byte[] model, ByteRange range, SplittableRandom random) {
        for (long i = range.offset(); i < range.end(); i++) {
            model[(int) i] = (byte) random.nextInt(256);
        }
    }

    /** Sorted, disjoint, non-adjacent ranges covering the {@code {offset, length}} pairs. */
    private static List<ByteRange> merge(List<long[]> ranges) {
        TreeSet<long[]> sorted = new TreeSet<>((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
        sorted.addAll(ranges);
        List<ByteRange> merged = new ArrayList<>();
        long start = -1;
        long end = -1;
        for (long[] range : sorted) {
            if (start >= 0 && range[0] <= end) {
                end = Math.max(end, range[0] + range[1]);
                continue;
            }
            if (start >= 0) {
                merged.add(new ByteRange(start, end - start));
            }
            start = range[0];
            end = range[0] + range[1];
        }
        if (start >= 0) {
            merged.add(new ByteRange(start, end - start));
        }
        return merged;
    }
}
