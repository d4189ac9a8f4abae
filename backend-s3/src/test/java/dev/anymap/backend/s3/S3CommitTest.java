package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Commits of the s3 backend against a real S3 server, the stored object read back with the plain SDK. */
@ExtendWith(S3ServerExtension.class)
class S3CommitTest {
    private static final int PAGE = 4096;
    private static final int CHUNK = S3Backend.OPENING_BYTES;
    private static final int PART = (int) S3Commit.PART;
    private static S3TestServer server;

    @BeforeAll
    static void server(S3TestServer s3) {
        server = s3;
    }

    private static BackendProvider provider() {
        return BackendRegistry.load().provider(URI.create("s3://b/k"));
    }

    private static StorageBackend openForWriting(URI uri) throws IOException {
        return provider().openForWriting(uri, server.options());
    }

    private static StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
        return provider().openForWriting(uri, options);
    }

    /** The object's expected bytes and what was written since the last commit, kept apart from the code under test. */
    private static final class Model {
        final byte[] bytes;
        final boolean[] dirty;

        Model(byte[] bytes) {
            this.bytes = bytes;
            this.dirty = new boolean[bytes.length];
        }

        void write(long offset, byte[] data) {
            System.arraycopy(data, 0, bytes, (int) offset, data.length);
            Arrays.fill(dirty, (int) offset, (int) offset + data.length, true);
        }

        /** The written bytes as sorted, disjoint, non-adjacent ranges, and a fresh start. */
        Changes changes(ObjectVersion base, String token) {
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
            Arrays.fill(dirty, false);
            return Changes.of(base, ranges, MemorySegment.ofArray(bytes.clone()), token);
        }
    }

    private static byte[] random(Random random, int length) {
        byte[] data = new byte[length];
        random.nextBytes(data);
        return data;
    }

    /** Offsets around every page, chunk and part boundary of an object of {@code size}, at -1, 0 and +1. */
    private static List<Long> boundaries(long size) {
        List<Long> offsets = new ArrayList<>();
        for (long unit : new long[] {PAGE, CHUNK, PART}) {
            for (long boundary = unit; boundary < size; boundary += unit) {
                if (unit == PAGE && boundary % CHUNK != 0 && boundary > 3 * PAGE && size - boundary > 3 * PAGE) {
                    continue; // the first and last pages stand for all the others
                }
                for (long delta = -1; delta <= 1; delta++) {
                    offsets.add(boundary + delta);
                }
            }
        }
        offsets.add(0L);
        offsets.add(size - 1);
        return offsets;
    }

    private static void writeAroundBoundaries(StorageBackend backend, Model model, Random random, int rounds) throws Exception {
        int[] lengths = {1, 7, PAGE - 1, PAGE, PAGE + 1, CHUNK - 1, CHUNK + 1};
        long size = model.bytes.length;
        ObjectVersion base = backend.version();
        for (int round = 0; round < rounds; round++) {
            // Each round writes at a few boundaries, at sizes that end before, at and after the next.
            List<Long> offsets = boundaries(size);
            for (int w = 0; w < 12; w++) {
                long offset = offsets.get(random.nextInt(offsets.size()));
                int length = lengths[random.nextInt(lengths.length)];
                if (random.nextBoolean()) {
                    offset = Math.max(0, offset - length + 1); // ending at the boundary instead of starting there
                }
                length = (int) Math.min(length, size - offset);
                model.write(offset, random(random, length));
            }
            String token = "round-" + round + "-" + UUID.randomUUID();
            ObjectVersion committed = backend.commit(model.changes(base, token));
            assertNotEquals(base, committed, "a commit makes a new version");
            assertEquals(committed, backend.version());
            assertEquals(committed.value(), server.admin().headObject(b -> b.bucket(server.bucket()).key(key(backend.uri()))).eTag());
            assertArrayEquals(model.bytes, server.get(backend.uri()), "round " + round + ": the stored object, read with the SDK");
            assertEquals(Optional.of(token), backend.lastCommit());
            base = committed;
        }
        byte[] readBack = new byte[model.bytes.length];
        backend.read(0, MemorySegment.ofArray(readBack));
        assertArrayEquals(model.bytes, readBack, "the backend reads the version it committed");
    }

    private static String key(URI uri) {
        return uri.getPath().substring(1);
    }

    @Test
    void randomWritesAroundPageChunkAndPartBoundariesOfAnObjectOfThreePartsAreStoredExactly() throws Exception {
        int size = 2 * PART + 3 * CHUNK + 123;
        Model model = new Model(GeneratedContent.bytes(101, 0, size));
        URI uri = server.put("commit-multipart.bin", model.bytes.clone());
        try (StorageBackend backend = openForWriting(uri)) {
            assertEquals(Set.of(Capability.WRITE), backend.capabilities());
            writeAroundBoundaries(backend, model, new Random(1), 3);
        }
    }

    @Test
    void randomWritesAroundPageAndChunkBoundariesOfAnObjectOfOnePartAreStoredExactly() throws Exception {
        int size = 3 * CHUNK + 777;
        Model model = new Model(GeneratedContent.bytes(102, 0, size));
        URI uri = server.put("commit-single.bin", model.bytes.clone());
        try (StorageBackend backend = openForWriting(uri)) {
            writeAroundBoundaries(backend, model, new Random(2), 3);
            assertEquals(new S3Commit.Result(backend.version().value(), 1, 0), ((S3Backend) backend).lastResult(), "one PUT");
        }
    }

    @Test
    void anObjectOfExactlyOnePartAndOneOfOnePartAndOneByteAreStoredExactly() throws Exception {
        for (int size : new int[] {PART, PART + 1}) {
            Model model = new Model(GeneratedContent.bytes(103, 0, size));
            URI uri = server.put("commit-edge.bin", model.bytes.clone());
            try (StorageBackend backend = openForWriting(uri)) {
                model.write(size - 1, new byte[] {42});
                backend.commit(model.changes(backend.version(), "edge"));
                assertArrayEquals(model.bytes, server.get(uri), size + " bytes");
            }
        }
    }

    @Test
    void onlyThePartsWithADirtyByteAreUploadedAndTheOthersAreCopiedInsideS3() throws Exception {
        int size = 3 * PART + 1000; // four parts
        Model model = new Model(GeneratedContent.bytes(104, 0, size));
        URI uri = server.put("commit-dirty-parts.bin", model.bytes.clone());
        try (FaultyProxy proxy = new FaultyProxy(server.endpoint());
                StorageBackend backend = openForWriting(uri, server.options(proxy.endpoint()))) {
            model.write(PART + 5, new byte[] {1, 2, 3}); // part 2
            model.write(3 * PART + 999, new byte[] {4}); // the last byte, part 4
            ObjectVersion base = backend.version();
            int before = proxy.requests().size();
            ObjectVersion committed = backend.commit(model.changes(base, "dirty-parts"));
            List<String> requests = proxy.requests().subList(before, proxy.requests().size());
            List<String> uploads = requests.stream()
                    .filter(r -> r.startsWith("PUT ") && r.contains("partNumber=") && FaultyProxy.header(r, "x-amz-copy-source") == null)
                    .toList();
            List<String> copies = requests.stream()
                    .filter(r -> r.startsWith("PUT ") && FaultyProxy.header(r, "x-amz-copy-source") != null).toList();
            assertEquals(2, uploads.size(), "parts uploaded: " + uploads);
            assertTrue(uploads.stream().anyMatch(r -> r.contains("partNumber=2")), uploads.toString());
            assertTrue(uploads.stream().anyMatch(r -> r.contains("partNumber=4")), uploads.toString());
            assertEquals(2, copies.size(), "parts copied: " + copies);
            long uploadedBytes = uploads.stream().mapToLong(r -> Long.parseLong(FaultyProxy.header(r, "Content-Length"))).sum();
            assertTrue(uploadedBytes < PART + 1000 + 64 * 1024, "bytes that travelled: " + uploadedBytes);
            for (String copy : copies) {
                assertEquals(base.value(), FaultyProxy.header(copy, "x-amz-copy-source-if-match"), copy);
                assertTrue(FaultyProxy.header(copy, "x-amz-copy-source-range").startsWith("bytes="), copy);
            }
            assertEquals(new S3Commit.Result(committed.value(), 2, 2), ((S3Backend) backend).lastResult());
            String complete = requests.stream().filter(r -> r.startsWith("POST ") && r.contains("uploadId=")).findFirst().orElseThrow();
            assertTrue(FaultyProxy.header(complete, "If-Match") != null, "the complete is conditional: " + complete);
            assertArrayEquals(model.bytes, server.get(uri));
        }
    }

    @Test
    void copiesAndTheCompleteAreConditionalOnTheBaseEtagAndLaterReadsOnTheNewOne() throws Exception {
        int size = PART + 1000;
        Model model = new Model(GeneratedContent.bytes(105, 0, size));
        URI uri = server.put("commit-conditions.bin", model.bytes.clone());
        try (FaultyProxy proxy = new FaultyProxy(server.endpoint());
                StorageBackend backend = openForWriting(uri, server.options(proxy.endpoint()))) {
            ObjectVersion base = backend.version();
            model.write(PART + 1, new byte[] {9});
            int before = proxy.requests().size();
            ObjectVersion committed = backend.commit(model.changes(base, "conditions"));
            List<String> requests = proxy.requests().subList(before, proxy.requests().size());
            String copy = requests.stream().filter(r -> FaultyProxy.header(r, "x-amz-copy-source") != null).findFirst().orElseThrow();
            assertEquals(base.value(), FaultyProxy.header(copy, "x-amz-copy-source-if-match"));
            String complete = requests.stream().filter(r -> r.startsWith("POST ") && r.contains("uploadId=")).findFirst().orElseThrow();
            assertEquals(base.value(), FaultyProxy.header(complete, "If-Match"));

            int afterCommit = proxy.requests().size();
            byte[] read = new byte[100];
            backend.read(PART - 50, MemorySegment.ofArray(read));
            assertArrayEquals(Arrays.copyOfRange(model.bytes, PART - 50, PART + 50), read);
            String get = proxy.requests().get(afterCommit);
            assertEquals(committed.value(), FaultyProxy.header(get, "If-Match"), "reads name the new version");
        }
    }

    @Test
    void ofTwoWritersOfOneObjectTheFirstToCommitWinsAndTheOtherGetsObjectChanged() throws Exception {
        for (int size : new int[] {100_000, 2 * PART + 10}) {
            byte[] original = GeneratedContent.bytes(106, 0, size);
            URI uri = server.put("two-writers.bin", original);
            try (StorageBackend first = openForWriting(uri); StorageBackend second = openForWriting(uri)) {
                Model a = new Model(original.clone());
                Model b = new Model(original.clone());
                a.write(10, new byte[] {1, 1, 1});
                b.write(20, new byte[] {2, 2, 2});
                b.write(size - 1, new byte[] {2});
                first.commit(a.changes(first.version(), "a"));
                ObjectVersion secondBase = second.version();
                ObjectChangedException lost = assertThrows(ObjectChangedException.class,
                        () -> second.commit(b.changes(secondBase, "b")));
                assertTrue(lost.getMessage().contains(uri.toString()), lost.getMessage());
                assertFalse(lost.getMessage().contains(server.secretKey()), lost.getMessage());
                assertArrayEquals(a.bytes, server.get(uri), size + " bytes: exactly the winner's");
                assertEquals(secondBase, second.version(), "the loser stays at the version it read");
                assertTrue(server.admin().listMultipartUploads(r -> r.bucket(server.bucket()).prefix(key(uri))).uploads().isEmpty(),
                        "no upload left behind");
            }
        }
    }

    @Test
    void ofTwoWritersCommittingAtOnceExactlyOneWinsAndTheObjectIsItsBytes() throws Exception {
        // One PUT each, long enough that both are in flight together; then multipart uploads of every part.
        for (int size : new int[] {3 << 20, 2 * PART + 10}) {
            twoWritersAtOnce(size);
        }
    }

    private static void twoWritersAtOnce(int size) throws Exception {
        byte[] original = GeneratedContent.bytes(107, 0, size);
        URI uri = server.put("two-writers-at-once.bin", original);
        Model[] models = {new Model(original.clone()), new Model(original.clone())};
        models[0].write(0, random(new Random(3), size));
        models[1].write(0, random(new Random(4), size));
        try (StorageBackend first = openForWriting(uri); StorageBackend second = openForWriting(uri)) {
            StorageBackend[] writers = {first, second};
            CyclicBarrier start = new CyclicBarrier(2);
            List<Future<Boolean>> outcomes = new ArrayList<>();
            try (ExecutorService threads = Executors.newFixedThreadPool(2)) {
                for (int w = 0; w < 2; w++) {
                    int index = w;
                    Changes changes = models[w].changes(writers[w].version(), "writer-" + w);
                    outcomes.add(threads.submit(() -> {
                        start.await();
                        try {
                            writers[index].commit(changes);
                            return true;
                        } catch (ObjectChangedException lost) {
                            return false;
                        }
                    }));
                }
            }
            boolean firstWon = outcomes.get(0).get();
            boolean secondWon = outcomes.get(1).get();
            assertTrue(firstWon ^ secondWon, size + " bytes: exactly one wins: " + firstWon + ", " + secondWon);
            assertArrayEquals(models[firstWon ? 0 : 1].bytes, server.get(uri));
        }
    }

    @Test
    void aCommitThatFailsAbortsItsUploadAndLeavesTheObjectAsItWas() throws Exception {
        int size = 2 * PART + 10;
        byte[] original = GeneratedContent.bytes(108, 0, size);
        URI uri = server.put("commit-fails.bin", original);
        ObjectVersion before;
        Map<String, String> options = new HashMap<>();
        try (FaultyProxy proxy = new FaultyProxy(server.endpoint())) {
            options.putAll(server.options(proxy.endpoint()));
            options.put(S3Settings.MAX_ATTEMPTS, "2");
            try (StorageBackend backend = openForWriting(uri, options)) {
                before = backend.version();
                Model model = new Model(original.clone());
                model.write(PART + 3, new byte[] {7});
                proxy.inject("PUT", FaultyProxy.Fault.SLOW_DOWN, 100); // every part, copied or uploaded
                IOException failed = assertThrows(IOException.class, () -> backend.commit(model.changes(before, "fails")));
                assertFalse(failed instanceof ObjectChangedException, failed.toString());
                assertTrue(failed.getMessage().contains(uri.toString()), failed.getMessage());
                assertTrue(failed.getMessage().contains("503") || failed.getMessage().contains("SlowDown")
                        || failed.getMessage().contains("reduce your request rate"), failed.getMessage());
                assertFalse(failed.getMessage().contains(server.secretKey()), failed.getMessage());
                assertTrue(proxy.requests().stream().anyMatch(r -> r.startsWith("DELETE ") && r.contains("uploadId=")), "aborted");
                assertEquals(before, backend.version(), "still at the version it read");
            }
        }
        assertTrue(server.admin().listMultipartUploads(r -> r.bucket(server.bucket()).prefix(key(uri))).uploads().isEmpty(),
                "no upload left behind");
        assertArrayEquals(original, server.get(uri), "the object is as it was");
        assertEquals(before.value(), server.admin().headObject(b -> b.bucket(server.bucket()).key(key(uri))).eTag());
    }

    @Test
    void createStoresZerosOnlyWhereNoObjectIsAndOpensItForWriting() throws Exception {
        for (int size : new int[] {0, 5000, 2 * PART + 3}) {
            URI uri = server.uri(S3TestServer.uniqueKey("created.bin"));
            try (StorageBackend created = provider().create(uri, size, server.options())) {
                assertEquals(size, created.size());
                assertEquals(Set.of(Capability.WRITE), created.capabilities());
                assertArrayEquals(new byte[size], server.get(uri), size + " zeros");
                assertEquals(created.version().value(),
                        server.admin().headObject(b -> b.bucket(server.bucket()).key(key(uri))).eTag());
                if (size > 0) {
                    Model model = new Model(new byte[size]);
                    model.write(size / 2, new byte[] {5, 6});
                    created.commit(model.changes(created.version(), "after-create"));
                    assertArrayEquals(model.bytes, server.get(uri));
                }
            }
        }
    }

    @Test
    void createOfAKeyThatExistsFailsAndLeavesTheObjectAsItWas() throws Exception {
        for (int size : new int[] {10, 2 * PART + 3}) {
            byte[] original = GeneratedContent.bytes(109, 0, 1000);
            URI uri = server.put("exists.bin", original);
            FileAlreadyExistsException exists = assertThrows(FileAlreadyExistsException.class,
                    () -> provider().create(uri, size, server.options()));
            assertTrue(exists.getMessage().contains(uri.toString()), exists.getMessage());
            assertArrayEquals(original, server.get(uri));
            assertTrue(server.admin().listMultipartUploads(r -> r.bucket(server.bucket()).prefix(key(uri))).uploads().isEmpty(),
                    "no upload left behind");
        }
    }

    @Test
    void aCreateTheServerRefusesIsAccessDeniedNamingTheUriAndNoSecret() throws Exception {
        URI uri = server.uri(S3TestServer.uniqueKey("denied.bin"));
        Map<String, String> options = new HashMap<>(server.options());
        String wrongSecret = "wrong" + server.secretKey();
        options.put(S3Settings.SECRET_ACCESS_KEY, wrongSecret);
        java.nio.file.AccessDeniedException denied = assertThrows(java.nio.file.AccessDeniedException.class,
                () -> provider().create(uri, 1000, options));
        assertTrue(denied.getMessage().contains(uri.toString()), denied.getMessage());
        assertTrue(denied.getMessage().contains("403"), denied.getMessage());
        assertFalse(denied.getMessage().contains(wrongSecret), denied.getMessage());
        assertThrows(software.amazon.awssdk.services.s3.model.NoSuchKeyException.class,
                () -> server.admin().headObject(b -> b.bucket(server.bucket()).key(key(uri))), "nothing stored");
    }

    @Test
    void lastCommitIsTheTokenOfTheCommitThatMadeTheVersionOpened() throws Exception {
        for (int size : new int[] {1000, PART + 1}) {
            URI uri = server.put("token.bin", GeneratedContent.bytes(110, 0, size));
            try (StorageBackend plain = BackendRegistry.load().open(uri, server.options())) {
                assertEquals(Optional.empty(), plain.lastCommit(), "stored by another program");
            }
            String token = UUID.randomUUID().toString();
            try (StorageBackend backend = openForWriting(uri)) {
                Model model = new Model(GeneratedContent.bytes(110, 0, size));
                model.write(3, new byte[] {3});
                backend.commit(model.changes(backend.version(), token));
                assertEquals(Optional.of(token), backend.lastCommit());
            }
            try (StorageBackend reopened = BackendRegistry.load().open(uri, server.options())) {
                assertEquals(Optional.of(token), reopened.lastCommit(), size + " bytes");
            }
            try (StorageBackend reopened = openForWriting(uri)) {
                assertEquals(Optional.of(token), reopened.lastCommit());
            }
        }
    }

    @Test
    void aBackendOpenedToReadRefusesCommitsAndChangesOfAnotherSizeAreRefused() throws Exception {
        byte[] original = GeneratedContent.bytes(111, 0, 1000);
        URI uri = server.put("read-only.bin", original);
        try (StorageBackend backend = BackendRegistry.load().open(uri, server.options())) {
            assertEquals(Set.of(), backend.capabilities());
            UnsupportedOperationException refused = assertThrows(UnsupportedOperationException.class,
                    () -> backend.commit(Changes.of(backend.version(), List.of(), MemorySegment.ofArray(original), "t")));
            assertTrue(refused.getMessage().contains(uri.toString()), refused.getMessage());
        }
        try (StorageBackend backend = openForWriting(uri)) {
            assertThrows(IllegalArgumentException.class,
                    () -> backend.commit(Changes.of(backend.version(), List.of(), MemorySegment.ofArray(new byte[999]), "t")));
        }
        assertArrayEquals(original, server.get(uri));
    }

    @Test
    void partsStayWithinS3sLimitsForObjectsOfEverySize() {
        assertEquals(S3Commit.PART, S3Commit.partSize(1));
        assertEquals(S3Commit.PART, S3Commit.partSize(S3Commit.PART * S3Commit.MAX_PARTS));
        for (long size : new long[] {S3Commit.PART * S3Commit.MAX_PARTS + 1, 1L << 40, 5L << 40}) {
            long part = S3Commit.partSize(size);
            assertTrue((size + part - 1) / part <= S3Commit.MAX_PARTS, size + " in parts of " + part);
            assertTrue(part >= S3Commit.MIN_PART && part <= 5L << 30, size + " in parts of " + part);
        }
    }
}
