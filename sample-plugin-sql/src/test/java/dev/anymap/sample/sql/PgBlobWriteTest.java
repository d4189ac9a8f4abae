package dev.anymap.sample.sql;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Commits to rows of a real PostgreSQL, beyond the write kit: writers that meet, many statements in one transaction, rights. */
@ExtendWith(TestPostgres.class)
class PgBlobWriteTest {
    private final TestPostgres.Server server;
    private final PgBlobBackendProvider provider = new PgBlobBackendProvider();

    PgBlobWriteTest(TestPostgres.Server server) {
        this.server = server;
    }

    private static Changes changes(StorageBackend backend, List<ByteRange> dirty, byte[] model) {
        return Changes.of(backend.version(), dirty, MemorySegment.ofArray(model.clone()), "test");
    }

    /** Whether a statement of the backend's connections waits on a lock now. */
    private boolean aCommitWaitsOnTheRowLock() throws Exception {
        try (Connection connection = server.connect();
                PreparedStatement statement = connection.prepareStatement("SELECT count(*) FROM pg_stat_activity "
                        + "WHERE application_name = 'anymap pgblob' AND wait_event_type = 'Lock'");
                ResultSet row = statement.executeQuery()) {
            row.next();
            return row.getInt(1) > 0;
        }
    }

    @Test
    void aCommitThatWaitedOnAnotherWritersTransactionFailsAndLeavesItsBytes() throws Exception {
        String table = Tables.create(server, "meet");
        byte[] original = TestContent.random(41, 5 * 4096);
        Tables.put(server, table, "row", original);
        byte[] winner = TestContent.random(42, original.length);
        try (StorageBackend backend = provider.openForWriting(server.uri(table, "row"), server.login());
                Connection other = server.connect()) {
            ObjectVersion before = backend.version();
            other.setAutoCommit(false);
            try (PreparedStatement update = other.prepareStatement("UPDATE " + table + " SET data = ? WHERE key = 'row'")) {
                update.setBytes(1, winner);
                update.executeUpdate();
            }
            byte[] mine = original.clone();
            mine[4095] ^= 1;
            mine[4096] ^= 1;
            CompletableFuture<ObjectVersion> commit = CompletableFuture.supplyAsync(() -> {
                try {
                    return backend.commit(changes(backend, List.of(new ByteRange(4095, 2)), mine));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            // The commit reaches the row lock that the open transaction holds, and waits there.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!aCommitWaitsOnTheRowLock()) {
                assertFalse(commit.isDone(), () -> "the commit ended without waiting for the other writer: " + commit);
                assertTrue(System.nanoTime() < deadline, "the commit never waited on the row lock");
                Thread.sleep(10);
            }
            other.commit();

            ExecutionException failed = assertThrows(ExecutionException.class, () -> commit.get(30, TimeUnit.SECONDS));
            ObjectChangedException changed = assertInstanceOf(ObjectChangedException.class, failed.getCause().getCause());
            assertTrue(changed.getMessage().contains("another writer"), changed.getMessage());
            assertArrayEquals(winner, Tables.get(server, table, "row"), "the other writer's bytes, and none of the commit's");
            assertEquals(before, backend.version());
        }
    }

    @Test
    void manyRangesAndOneLongerThanAStatementCarryAreStoredInOneTransaction() throws Exception {
        String table = Tables.create(server, "statements");
        int size = 40 << 20;
        byte[] model = TestContent.random(43, size);
        Tables.put(server, table, "big", model);
        SplittableRandom random = new SplittableRandom(44);
        List<ByteRange> dirty = new ArrayList<>();
        // More ranges than one statement takes, then one range longer than one statement carries.
        for (int i = 0; i < BlobWrites.MAX_RANGES_PER_STATEMENT + 3; i++) {
            dirty.add(new ByteRange(i * 2048L + 1020, 1 + (i % 9)));
        }
        dirty.add(new ByteRange(10 << 20, BlobWrites.MAX_STATEMENT_BYTES + 12345));
        for (ByteRange range : dirty) {
            for (long i = range.offset(); i < range.end(); i++) {
                model[(int) i] = (byte) random.nextInt(256);
            }
        }
        try (StorageBackend backend = provider.openForWriting(server.uri(table, "big"), server.login())) {
            // A commit whose last piece cannot be read fails, and rolls back the statements before it.
            byte[] stored = Tables.get(server, table, "big");
            Changes good = changes(backend, dirty, model);
            Changes failing = new FailingAtTheEnd(good, (10 << 20) + BlobWrites.MAX_STATEMENT_BYTES);
            IOException readFailed = assertThrows(IOException.class, () -> backend.commit(failing));
            assertEquals("the new bytes are gone", readFailed.getMessage());
            assertArrayEquals(stored, Tables.get(server, table, "big"), "a failed commit wrote nothing");

            ObjectVersion committed = backend.commit(good);
            assertEquals(committed, backend.version());
            assertArrayEquals(model, Tables.get(server, table, "big"));
        }
    }

    /** Changes whose reads at or past {@code from} fail, as a page server's read of a base that storage refuses would. */
    private record FailingAtTheEnd(Changes changes, long from) implements Changes {
        @Override
        public ObjectVersion base() {
            return changes.base();
        }

        @Override
        public long size() {
            return changes.size();
        }

        @Override
        public List<ByteRange> dirty() {
            return changes.dirty();
        }

        @Override
        public void read(long offset, MemorySegment target) throws IOException {
            if (offset + target.byteSize() > from) {
                throw new IOException("the new bytes are gone");
            }
            changes.read(offset, target);
        }

        @Override
        public String token() {
            return changes.token();
        }
    }

    @Test
    void aUserWhoMayOnlyReadIsRefusedWritingAtOpenWithTheGrantToAsk() throws Exception {
        String table = Tables.create(server, "rights");
        Tables.put(server, table, "row", new byte[100]);
        String role = "reader_" + ProcessHandle.current().pid();
        String password = "Reader-secret-9921";
        Tables.execute(server, "DROP ROLE IF EXISTS " + role);
        Tables.execute(server, "CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'");
        Tables.execute(server, "GRANT SELECT ON " + table + " TO " + role);
        URI uri = server.uri(table, "row");
        Map<String, String> login = Map.of("user", role, "password", password);
        try (StorageBackend reader = provider.open(uri, login)) {
            assertEquals(100, reader.size());
        }
        AccessDeniedException denied = assertThrows(AccessDeniedException.class, () -> provider.openForWriting(uri, login));
        assertTrue(denied.getMessage().contains("GRANT UPDATE (data) ON " + table), denied.getMessage());
        StringWriter printed = new StringWriter();
        denied.printStackTrace(new PrintWriter(printed));
        assertFalse(printed.toString().contains(password), printed.toString());
        assertArrayEquals(new byte[100], Tables.get(server, table, "row"));
    }
}
