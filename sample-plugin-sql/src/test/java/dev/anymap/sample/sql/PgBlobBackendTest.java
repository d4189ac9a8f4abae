package dev.anymap.sample.sql;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.MemorySegment;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(TestPostgres.class)
class PgBlobBackendTest {
    private static final BackendRegistry REGISTRY = BackendRegistry.load();

    private final TestPostgres.Server server;

    PgBlobBackendTest(TestPostgres.Server server) {
        this.server = server;
    }

    private static byte[] read(StorageBackend backend, long offset, int length) throws IOException {
        byte[] bytes = new byte[length];
        backend.read(offset, MemorySegment.ofArray(bytes));
        return bytes;
    }

    /** The whole message chain and stack trace, as a log would print it. */
    private static String printed(Throwable failure) {
        StringWriter text = new StringWriter();
        failure.printStackTrace(new PrintWriter(text));
        return text.toString();
    }

    @Test
    void theProviderIsFoundOnTheClassPathByItsScheme() {
        assertInstanceOf(PgBlobBackendProvider.class, REGISTRY.provider(server.uri("t", "k")));
    }

    @Test
    void anEmptyValueIsAnObjectOfSizeZero() throws Exception {
        String table = Tables.create(server, "empty");
        Tables.put(server, table, "nothing", new byte[0]);
        try (StorageBackend backend = REGISTRY.open(server.uri(table, "nothing"), server.login())) {
            assertEquals(0, backend.size());
            backend.read(0, MemorySegment.ofArray(new byte[0]));
        }
    }

    /** 256 MiB: a large model file's size, four times the 64 MiB that the engine's readahead holds at most. */
    @Test
    void aValueOf256MibReadsBackByteForByte() throws Exception {
        int size = 256 << 20;
        byte[] content = TestContent.random(256, size);
        String table = Tables.create(server, "large");
        Tables.put(server, table, "weights/layer 0.bin", content);
        URI uri = URI.create(server.uri(table, "weights").toString() + "/layer%200.bin");
        try (StorageBackend backend = REGISTRY.open(uri, server.login())) {
            assertEquals(size, backend.size());
            int piece = 4 << 20;
            byte[] bytes = new byte[piece];
            for (int offset = 0; offset < size; offset += piece) {
                backend.read(offset, MemorySegment.ofArray(bytes));
                assertTrue(Arrays.equals(content, offset, offset + piece, bytes, 0, piece), "bytes at " + offset);
            }
            // One read larger than a statement's limit is split, and still exact.
            byte[] large = read(backend, size - (40 << 20) - 3, 40 << 20);
            assertArrayEquals(Arrays.copyOfRange(content, size - (40 << 20) - 3, size - 3), large);
        }
    }

    @Test
    void aRowUpdatedOrDeletedWhileOpenFailsReadsInsteadOfMixingVersions() throws Exception {
        String table = Tables.create(server, "changed");
        byte[] first = TestContent.random(1, 100_000);
        Tables.put(server, table, "k", first);
        try (StorageBackend backend = REGISTRY.open(server.uri(table, "k"), server.login())) {
            assertArrayEquals(Arrays.copyOfRange(first, 500, 1500), read(backend, 500, 1000));
            Tables.put(server, table, "k", TestContent.random(2, 100_000));
            ObjectChangedException updated = assertThrows(ObjectChangedException.class, () -> read(backend, 500, 1000));
            assertTrue(updated.getMessage().contains(backend.version().toString()), updated.getMessage());
            Tables.execute(server, "DELETE FROM " + table);
            ObjectChangedException deleted = assertThrows(ObjectChangedException.class, () -> read(backend, 0, 1));
            assertTrue(deleted.getMessage().contains("gone"), deleted.getMessage());
        }
    }

    @Test
    void aVersionColumnReplacesXminAndKeyAndDataColumnsCanBeNamed() throws Exception {
        String table = Tables.create(server, "columns");
        Tables.execute(server, "CREATE TABLE " + table + "_named (id bigint PRIMARY KEY, payload bytea, revision int)");
        byte[] content = TestContent.random(3, 5000);
        Tables.put(server, table, "unused", content);
        Tables.execute(server, "INSERT INTO " + table + "_named SELECT 42, data, 1 FROM " + table);
        Map<String, String> options = new HashMap<>(server.login());
        options.putAll(Map.of("key-column", "id", "data-column", "payload", "version-column", "revision"));
        try (StorageBackend backend = REGISTRY.open(server.uri(table + "_named", "42"), options)) {
            assertEquals("generation:revision:1", backend.version().toString());
            assertArrayEquals(content, read(backend, 0, content.length));
            Tables.execute(server, "UPDATE " + table + "_named SET revision = 2");
            assertThrows(ObjectChangedException.class, () -> read(backend, 0, 1));
        }
    }

    @Test
    void aMissingRowTableOrDatabaseIsNoSuchFileNamingIt() throws Exception {
        String table = Tables.create(server, "missing");
        NoSuchFileException row = assertThrows(NoSuchFileException.class,
                () -> REGISTRY.open(server.uri(table, "absent"), server.login()));
        assertTrue(row.getMessage().contains(server.uri(table, "absent").toString()) && row.getMessage().contains("no row with key = 'absent'"),
                row.getMessage());
        NoSuchFileException noTable = assertThrows(NoSuchFileException.class,
                () -> REGISTRY.open(server.uri("no_such_table", "k"), server.login()));
        assertTrue(noTable.getMessage().contains("no table no_such_table"), noTable.getMessage());
        URI otherDatabase = URI.create(server.uri(table, "k").toString().replace("/blobs/", "/no_such_db/"));
        NoSuchFileException noDatabase = assertThrows(NoSuchFileException.class, () -> REGISTRY.open(otherDatabase, server.login()));
        assertTrue(noDatabase.getMessage().contains("no database 'no_such_db'"), noDatabase.getMessage());
    }

    @Test
    void aWrongPasswordIsAccessDeniedAndThePasswordAppearsNowhere() throws Exception {
        String table = Tables.create(server, "denied");
        Tables.put(server, table, "k", new byte[10]);
        String wrong = "not-the-Password-731";
        AccessDeniedException asOption = assertThrows(AccessDeniedException.class,
                () -> REGISTRY.open(server.uri(table, "k"), Map.of("user", TestPostgres.USER, "password", wrong)));
        assertTrue(asOption.getMessage().contains("password authentication failed"), asOption.getMessage());
        assertFalse(printed(asOption).contains(wrong), printed(asOption));

        URI withUserInfo = URI.create("pgblob://" + TestPostgres.USER + ":" + wrong + "@127.0.0.1:" + server.port() + "/"
                + TestPostgres.DATABASE + "/" + table + "/k");
        AccessDeniedException inUri = assertThrows(AccessDeniedException.class, () -> REGISTRY.open(withUserInfo, Map.of()));
        assertTrue(inUri.getMessage().contains(TestPostgres.USER + ":****@"), inUri.getMessage());
        assertFalse(printed(inUri).contains(wrong), printed(inUri));
    }

    @Test
    void thePasswordOfTheUriIsNotInTheBackendsUri() throws Exception {
        String table = Tables.create(server, "userinfo");
        Tables.put(server, table, "k", new byte[] {1, 2, 3});
        URI uri = URI.create("pgblob://" + TestPostgres.USER + ":" + TestPostgres.PASSWORD + "@127.0.0.1:" + server.port() + "/"
                + TestPostgres.DATABASE + "/" + table + "/k");
        try (StorageBackend backend = REGISTRY.open(uri, Map.of())) {
            assertArrayEquals(new byte[] {1, 2, 3}, read(backend, 0, 3));
            assertFalse(backend.uri().toString().contains(TestPostgres.PASSWORD), backend.uri().toString());
        }
    }

    @Test
    void anUnreachableServerIsAClearError() throws Exception {
        int closedPort;
        try (ServerSocket probe = new ServerSocket(0)) {
            closedPort = probe.getLocalPort();
        }
        URI uri = URI.create("pgblob://127.0.0.1:" + closedPort + "/db/t/k");
        IOException failure = assertThrows(IOException.class, () -> REGISTRY.open(uri, Map.of("connect-timeout-ms", "2000")));
        assertTrue(failure.getMessage().contains(uri.toString()) && failure.getMessage().contains("is PostgreSQL running"),
                failure.getMessage());
    }

    @Test
    void badOptionsAndUrisAreRefusedNamingTheOption() {
        URI uri = server.uri("t", "k");
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> REGISTRY.open(uri, Map.of("data-colum", "x")));
        assertTrue(unknown.getMessage().contains("data-colum"), unknown.getMessage());
        IllegalArgumentException connections = assertThrows(IllegalArgumentException.class,
                () -> REGISTRY.open(uri, Map.of("connections", "0")));
        assertTrue(connections.getMessage().contains("option connections"), connections.getMessage());
        IllegalArgumentException noKey = assertThrows(IllegalArgumentException.class,
                () -> REGISTRY.open(URI.create("pgblob://127.0.0.1/db/table"), Map.of()));
        assertTrue(noKey.getMessage().contains(BlobLocation.FORM), noKey.getMessage());
    }

    @Test
    void aReadAfterTheServerDroppedTheConnectionReconnectsOnce() throws Exception {
        String table = Tables.create(server, "reconnect");
        byte[] content = TestContent.random(4, 50_000);
        Tables.put(server, table, "k", content);
        try (StorageBackend backend = REGISTRY.open(server.uri(table, "k"), server.login())) {
            assertArrayEquals(Arrays.copyOfRange(content, 0, 100), read(backend, 0, 100));
            Tables.execute(server, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'anymap pgblob'");
            assertArrayEquals(Arrays.copyOfRange(content, 100, 40_000), read(backend, 100, 39_900));
        }
    }
}
