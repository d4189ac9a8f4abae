package dev.anymap.backend.file;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Commits to sftp objects, against a real SFTP server whose files the test reads directly: what the
 * server stores is compared with a model of the expected bytes, kept in a plain array.
 */
class SftpWriteTest {
    private static final int PAGE = 4096;
    private static final int CHUNK = 64 << 10;

    @TempDir
    static Path root;

    @TempDir
    Path local;

    private static SftpTestServer server;
    private final BackendRegistry registry = BackendRegistry.load();

    @BeforeAll
    static void startServer() throws Exception {
        server = SftpTestServer.start(root);
    }

    @AfterAll
    static void stopServer() throws Exception {
        server.close();
    }

    private static Map<String, String> options() {
        Map<String, String> options = new HashMap<>();
        options.put(VfsOptions.SFTP_STRICT_HOST_KEY_CHECKING, "no");
        options.put(VfsOptions.SFTP_PASSWORD, SftpTestServer.PASSWORD);
        return options;
    }

    /** The model's dirty bytes as the SPI wants them: maximal runs, so sorted, disjoint and not adjacent. */
    private static List<ByteRange> ranges(boolean[] dirty) {
        List<ByteRange> ranges = new ArrayList<>();
        for (int i = 0; i < dirty.length; ) {
            if (!dirty[i]) {
                i++;
                continue;
            }
            int start = i;
            while (i < dirty.length && dirty[i]) {
                i++;
            }
            ranges.add(new ByteRange(start, i - start));
        }
        return ranges;
    }

    /** Writes random bytes into the model at every alignment and size around page and chunk boundaries. */
    private static List<ByteRange> scribble(byte[] model, SplittableRandom random) {
        boolean[] dirty = new boolean[model.length];
        int[] sizes = {1, 7, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE + 3};
        for (int write = 0; write < 24; write++) {
            int boundary = random.nextBoolean() ? PAGE * random.nextInt(1, model.length / PAGE)
                    : CHUNK * random.nextInt(1, model.length / CHUNK);
            int length = sizes[random.nextInt(sizes.length)];
            int offset = Math.clamp(boundary + random.nextInt(-2, 3) - (random.nextBoolean() ? length : 0), 0,
                    model.length - length);
            for (int i = offset; i < offset + length; i++) {
                model[i] = (byte) random.nextInt(256);
                dirty[i] = true;
            }
        }
        // One write of more than the commit's buffer, up to the object's last byte.
        int tail = (1 << 20) + 5;
        for (int i = model.length - tail; i < model.length; i++) {
            model[i] = (byte) random.nextInt(256);
            dirty[i] = true;
        }
        return ranges(dirty);
    }

    private static byte[] readAll(StorageBackend backend) throws IOException {
        byte[] bytes = new byte[(int) backend.size()];
        backend.read(0, MemorySegment.ofArray(bytes));
        return bytes;
    }

    private static Changes changes(StorageBackend backend, List<ByteRange> dirty, byte[] model) {
        return Changes.of(backend.version(), dirty, MemorySegment.ofArray(model.clone()), UUID.randomUUID().toString());
    }

    @Test
    void randomWritesAroundPageAndChunkBoundariesAreStoredAsTheModelHasThem() throws Exception {
        byte[] model = TestContent.random(1, 3 * (1 << 20) + 123);
        Path stored = Files.write(root.resolve("random-writes.bin"), model);
        SplittableRandom random = new SplittableRandom(2);
        try (StorageBackend backend = registry.openForWriting(server.uri("random-writes.bin"), options())) {
            assertEquals(java.util.Set.of(Capability.WRITE), backend.capabilities());
            List<ObjectVersion> versions = new ArrayList<>(List.of(backend.version()));
            for (int round = 0; round < 3; round++) {
                List<ByteRange> dirty = scribble(model, random);
                ObjectVersion committed = backend.commit(changes(backend, dirty, model));

                assertArrayEquals(model, Files.readAllBytes(stored), "round " + round);
                assertEquals(committed, backend.version());
                assertFalse(versions.contains(committed), committed + " is new, after " + versions);
                versions.add(committed);
                assertArrayEquals(model, readAll(backend), "the backend reads what it committed");
            }
        }
        try (StorageBackend reopened = registry.open(server.uri("random-writes.bin"), options())) {
            assertEquals(model.length, reopened.size());
            assertArrayEquals(model, readAll(reopened));
        }
    }

    @Test
    void aCommitOnAVersionAnotherWriterReplacedFailsAndWritesNothing() throws Exception {
        byte[] original = TestContent.random(3, 200_000);
        Path stored = Files.write(root.resolve("two-writers.bin"), original);
        URI uri = server.uri("two-writers.bin");
        try (StorageBackend first = registry.openForWriting(uri, options());
                StorageBackend second = registry.openForWriting(uri, options())) {
            assertEquals(first.version(), second.version());
            byte[] winner = original.clone();
            winner[10] ^= 1;
            winner[150_000] ^= 1;
            first.commit(changes(first, List.of(new ByteRange(10, 1), new ByteRange(150_000, 1)), winner));

            byte[] loser = original.clone();
            java.util.Arrays.fill(loser, 0, 200_000, (byte) 7);
            ObjectVersion loserBase = second.version();
            ObjectChangedException refused = assertThrows(ObjectChangedException.class,
                    () -> second.commit(changes(second, List.of(new ByteRange(0, 200_000)), loser)));
            assertTrue(refused.getMessage().contains(uri.toString()), refused.getMessage());
            assertArrayEquals(winner, Files.readAllBytes(stored), "the winner's bytes, and none of the loser's");
            assertEquals(loserBase, second.version(), "a failed commit leaves the version");
        }
    }

    @Test
    void aCommitThatFailedHalfWayLeavesSomeRangesWrittenAndARetryWritesThemAll() throws Exception {
        byte[] original = TestContent.random(9, 100_000);
        Path stored = Files.write(root.resolve("half-way.bin"), original);
        // An old time, so that the half-way writes move the version: the retry must know them for its own.
        Files.setLastModifiedTime(stored, java.nio.file.attribute.FileTime.from(java.time.Instant.now().minusSeconds(100)));
        byte[] model = original.clone();
        List<ByteRange> dirty = List.of(new ByteRange(100, 5000), new ByteRange(60_000, 3000));
        for (ByteRange range : dirty) {
            java.util.Arrays.fill(model, (int) range.offset(), (int) range.end(), (byte) 0x5a);
        }
        try (StorageBackend backend = registry.openForWriting(server.uri("half-way.bin"), options())) {
            ObjectVersion base = backend.version();
            Changes good = changes(backend, dirty, model);
            Changes failing = new Changes() {
                @Override
                public ObjectVersion base() {
                    return good.base();
                }

                @Override
                public long size() {
                    return good.size();
                }

                @Override
                public List<ByteRange> dirty() {
                    return good.dirty();
                }

                @Override
                public void read(long offset, MemorySegment target) throws IOException {
                    if (offset >= 60_000) {
                        throw new IOException("the second range's bytes are gone");
                    }
                    good.read(offset, target);
                }

                @Override
                public String token() {
                    return good.token();
                }
            };
            assertThrows(IOException.class, () -> backend.commit(failing));
            byte[] halfWay = Files.readAllBytes(stored);
            assertArrayEquals(java.util.Arrays.copyOfRange(model, 0, 60_000), java.util.Arrays.copyOfRange(halfWay, 0, 60_000),
                    "the first range is written");
            assertArrayEquals(java.util.Arrays.copyOfRange(original, 60_000, 100_000),
                    java.util.Arrays.copyOfRange(halfWay, 60_000, 100_000), "the second is not");
            assertEquals(base, backend.version(), "a failed commit leaves the version the backend reads");

            ObjectVersion committed = backend.commit(good);
            assertArrayEquals(model, Files.readAllBytes(stored), "the retry wrote every range");
            assertEquals(committed, backend.version());
        }
    }

    @Test
    void aCommitAfterTheServerDroppedTheSessionConnectsAgain() throws Exception {
        byte[] model = TestContent.random(10, 20_000);
        Path stored = Files.write(root.resolve("dropped.bin"), model);
        try (StorageBackend backend = registry.openForWriting(server.uri("dropped.bin"), options())) {
            model[5] ^= 1;
            backend.commit(changes(backend, List.of(new ByteRange(5, 1)), model));
            server.dropSessions();
            assertEquals(0, server.sessions());
            model[19_999] ^= 1;
            backend.commit(changes(backend, List.of(new ByteRange(19_999, 1)), model));
            assertArrayEquals(model, Files.readAllBytes(stored));
            assertArrayEquals(model, readAll(backend), "reads after the reconnect");
        }
    }

    @Test
    void aCommitAfterTheFileChangedBehindTheBackendFails() throws Exception {
        Path stored = Files.write(root.resolve("changed.bin"), TestContent.random(4, 50_000));
        try (StorageBackend backend = registry.openForWriting(server.uri("changed.bin"), options())) {
            byte[] other = TestContent.random(5, 50_001);
            Files.write(stored, other);
            byte[] model = TestContent.random(6, 50_000);
            assertThrows(ObjectChangedException.class,
                    () -> backend.commit(changes(backend, List.of(new ByteRange(0, 50_000)), model)));
            assertArrayEquals(other, Files.readAllBytes(stored));
        }
    }

    @Test
    void createMakesAFileOfZerosThatTakesCommitsAndRefusesOneThatExists() throws Exception {
        URI uri = server.uri("created/new.bin");
        Files.createDirectories(root.resolve("created"));
        int size = 300_000;
        try (StorageBackend backend = registry.create(uri, size, options())) {
            assertEquals(size, backend.size());
            assertTrue(backend.capabilities().contains(Capability.WRITE));
            assertArrayEquals(new byte[size], Files.readAllBytes(root.resolve("created/new.bin")));
            byte[] model = new byte[size];
            System.arraycopy(TestContent.random(7, 5000), 0, model, PAGE - 1, 5000);
            backend.commit(changes(backend, List.of(new ByteRange(PAGE - 1, 5000)), model));
            assertArrayEquals(model, Files.readAllBytes(root.resolve("created/new.bin")));

            FileAlreadyExistsException exists = assertThrows(FileAlreadyExistsException.class,
                    () -> registry.create(uri, 10, options()));
            assertTrue(exists.getMessage().contains(uri.toString()), exists.getMessage());
            assertArrayEquals(model, Files.readAllBytes(root.resolve("created/new.bin")), "the existing file is left as it was");
        }
    }

    @Test
    void archiveEntriesAndCompressedContentRefuseWritingAtOpen() throws Exception {
        Archives.zip(root.resolve("archive.zip"), Archives.withNeighbours(Map.of("entry.bin", new byte[100])));
        URI entry = URI.create("zip:" + server.uri("archive.zip") + "!/entry.bin");
        UnsupportedOperationException zip = assertThrows(UnsupportedOperationException.class,
                () -> registry.openForWriting(entry, options()));
        assertTrue(zip.getMessage().contains("archive") && zip.getMessage().contains(entry.toString()), zip.getMessage());

        Path gz = local.resolve("x.bin.gz");
        Archives.gzip(gz, new byte[100]);
        URI compressed = URI.create("gz:" + gz.toUri());
        UnsupportedOperationException refused = assertThrows(UnsupportedOperationException.class,
                () -> registry.create(compressed, 100, Map.of()));
        assertTrue(refused.getMessage().contains("compressed"), refused.getMessage());
        assertTrue(Files.exists(gz));
    }

    @Test
    void anObjectOpenedToReadRefusesCommits() throws Exception {
        byte[] content = TestContent.random(8, 10_000);
        Path stored = Files.write(root.resolve("read-only.bin"), content);
        try (StorageBackend backend = registry.open(server.uri("read-only.bin"), options())) {
            assertFalse(backend.capabilities().contains(Capability.WRITE));
            assertThrows(UnsupportedOperationException.class,
                    () -> backend.commit(changes(backend, List.of(new ByteRange(0, 1)), new byte[10_000])));
        }
        assertArrayEquals(content, Files.readAllBytes(stored));
    }

    @Test
    void aPasswordInTheUriNeverReachesAWriteFailure() throws Exception {
        String password = SftpTestServer.PASSWORD;
        URI uri = server.uri(SftpTestServer.USER + ":" + password, "no/such/dir/file.bin");
        Map<String, String> options = Map.of(VfsOptions.SFTP_STRICT_HOST_KEY_CHECKING, "no");
        IOException failed = assertThrows(IOException.class, () -> registry.create(uri, 10, options));
        java.io.StringWriter printed = new java.io.StringWriter();
        failed.printStackTrace(new java.io.PrintWriter(printed));
        assertFalse(printed.toString().contains(password), printed.toString());
        assertNotEquals(-1, failed.getMessage().indexOf("127.0.0.1"), failed.getMessage());
    }
}
