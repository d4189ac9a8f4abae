package dev.anymap.sample.sql;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicInteger;

/** Tables of blobs in the test server, written with plain JDBC: the reference the backend's bytes are compared with. */
final class Tables {
    private static final AtomicInteger NEXT = new AtomicInteger();

    private Tables() {}

    /** A new table {@code (key text primary key, data bytea)} whose values are stored out of line, uncompressed. */
    static String create(TestPostgres.Server server, String prefix) throws SQLException {
        String table = prefix + "_" + ProcessHandle.current().pid() + "_" + NEXT.incrementAndGet();
        try (Connection connection = server.connect(); Statement statement = connection.createStatement()) {
            statement.execute("CREATE TABLE " + table + " (key text PRIMARY KEY, data bytea)");
            statement.execute("ALTER TABLE " + table + " ALTER COLUMN data SET STORAGE EXTERNAL");
        }
        return table;
    }

    /** Stores {@code content} as the row {@code key}, replacing any. */
    static void put(TestPostgres.Server server, String table, String key, byte[] content) throws SQLException {
        try (Connection connection = server.connect();
                PreparedStatement statement = connection.prepareStatement("INSERT INTO " + table
                        + " (key, data) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data")) {
            statement.setString(1, key);
            statement.setBytes(2, content);
            statement.executeUpdate();
        }
    }

    /** The stored bytes of the row {@code key}, or null if there is none. */
    static byte[] get(TestPostgres.Server server, String table, String key) throws SQLException {
        try (Connection connection = server.connect();
                PreparedStatement statement = connection.prepareStatement("SELECT data FROM " + table + " WHERE key = ?")) {
            statement.setString(1, key);
            try (java.sql.ResultSet row = statement.executeQuery()) {
                return row.next() ? row.getBytes(1) : null;
            }
        }
    }

    static void execute(TestPostgres.Server server, String sql) throws SQLException {
        try (Connection connection = server.connect(); Statement statement = connection.createStatement()) {
            statement.execute(sql);
        }
    }
}
