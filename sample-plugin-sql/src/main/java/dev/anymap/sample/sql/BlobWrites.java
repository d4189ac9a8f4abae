package dev.anymap.sample.sql;

import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Changes;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

/**
 * The SQL of the write path, for one table and its columns, every name quoted.
 *
 * <p>A commit locks the row ({@code SELECT ... FOR UPDATE}, which waits for a writer whose
 * transaction is open and then sees its row), compares the row's version with the one the backend
 * read, and writes each dirty range with {@code overlay(data placing ? from ? for ?)}, all in one
 * transaction: another writer's update fails the commit before anything is written, and a failure
 * anywhere rolls it all back. The version is checked once, under the lock, rather than in every
 * update's WHERE, since the first update of the transaction changes it (a new {@code xmin}).
 *
 * <p>The ranges of one commit go in as few UPDATEs as {@value #MAX_STATEMENT_BYTES} bytes of new data
 * and {@value #MAX_RANGES_PER_STATEMENT} ranges per statement allow, rather than one per range:
 * PostgreSQL writes a new copy of the whole value (and of its TOAST, and to its WAL) on every UPDATE
 * of a row, so an UPDATE per range would write the value once per range. Each UPDATE takes the
 * unchanged bytes as slices of the old value; a value stored out of line uncompressed
 * ({@code ALTER TABLE ... ALTER COLUMN data SET STORAGE EXTERNAL}, as for fast reads) gives each slice
 * without reading the rest, where a compressed one is decompressed up to each slice's end.
 */
final class BlobWrites {
    /** The most bytes of new data one statement carries, so that neither side holds a whole large value. */
    static final int MAX_STATEMENT_BYTES = 16 << 20;
    static final int MAX_RANGES_PER_STATEMENT = 4096;
    private static final int ZERO_PIECE = 1 << 20;

    private final String table;
    private final String dataColumn;
    private final String data;
    private final String version;
    private final String where;

    BlobWrites(BlobLocation location, BlobOptions options) {
        this.table = location.quotedTable();
        this.dataColumn = options.dataColumn();
        this.data = BlobLocation.quote(options.dataColumn());
        this.version = options.versionColumn() == null ? "xmin" : BlobLocation.quote(options.versionColumn());
        this.where = " WHERE " + BlobLocation.quote(options.keyColumn()) + " = ?";
    }

    String dataColumn() {
        return dataColumn;
    }

    /** The row's size and version, locked until the transaction ends; null if there is no such row. */
    Row lock(Connection connection, String key) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement(
                "SELECT (" + version + ")::text, octet_length(" + data + ") FROM " + table + where + " FOR UPDATE")) {
            setKey(statement, 1, key);
            try (ResultSet row = statement.executeQuery()) {
                return row.next() ? new Row(row.getString(1), row.getLong(2)) : null;
            }
        }
    }

    record Row(String version, long size) {}

    /** The row's version now, in this transaction: after its updates, the version they made. */
    String version(Connection connection, String key) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement("SELECT (" + version + ")::text FROM " + table + where)) {
            setKey(statement, 1, key);
            try (ResultSet row = statement.executeQuery()) {
                return row.next() ? row.getString(1) : null;
            }
        }
    }

    /**
     * Writes the dirty ranges of {@code changes}, read from it at most {@value #MAX_STATEMENT_BYTES}
     * bytes at a time, into the locked row.
     *
     * @throws IOException if reading the changes fails, or the row is gone
     */
    void update(Connection connection, String key, Changes changes) throws SQLException, IOException {
        List<ByteRange> pieces = new ArrayList<>();
        long bytes = 0;
        for (ByteRange range : changes.dirty()) {
            for (long done = 0; done < range.length(); ) {
                long length = Math.min(MAX_STATEMENT_BYTES, range.length() - done);
                if (pieces.size() == MAX_RANGES_PER_STATEMENT || bytes + length > MAX_STATEMENT_BYTES) {
                    overlay(connection, key, changes, pieces);
                    pieces.clear();
                    bytes = 0;
                }
                pieces.add(new ByteRange(range.offset() + done, length));
                bytes += length;
                done += length;
            }
        }
        if (!pieces.isEmpty()) {
            overlay(connection, key, changes, pieces);
        }
    }

    /**
     * One UPDATE that makes the value anew from its old bytes between the pieces and the pieces' new
     * bytes, joined by {@code string_agg}, which appends each part once: a nested {@code overlay} per
     * piece would copy the whole value once per piece, and hold every copy until the statement ends.
     * Positions are numbers this class computed, written into the SQL; the new bytes are parameters.
     */
    private void overlay(Connection connection, String key, Changes changes, List<ByteRange> pieces)
            throws SQLException, IOException {
        StringBuilder parts = new StringBuilder();
        int part = 0;
        long end = 0;
        for (ByteRange piece : pieces) {
            if (piece.offset() > end) {
                // substring counts from 1.
                parts.append(part++ == 0 ? "" : ", ").append("(").append(part).append(", substring(").append(data)
                        .append(" from ").append(end + 1).append(" for ").append(piece.offset() - end).append("))");
            }
            parts.append(part++ == 0 ? "" : ", ").append("(").append(part).append(", ?::bytea)");
            end = piece.end();
        }
        if (end < changes.size()) {
            parts.append(", (").append(part + 1).append(", substring(").append(data).append(" from ").append(end + 1).append("))");
        }
        String sql = "UPDATE " + table + " SET " + data + " = (SELECT string_agg(p, ''::bytea ORDER BY i) FROM (VALUES "
                + parts + ") AS parts (i, p))" + where;
        try (PreparedStatement statement = connection.prepareStatement(sql)) {
            int parameter = 1;
            for (ByteRange piece : pieces) {
                byte[] bytes = new byte[(int) piece.length()];
                changes.read(piece.offset(), MemorySegment.ofArray(bytes));
                statement.setBytes(parameter++, bytes);
            }
            setKey(statement, parameter, key);
            if (statement.executeUpdate() != 1) {
                throw new IOException("the row was not updated: it is gone, or its key is not unique");
            }
        }
    }

    /** Whether the user may update the data column. */
    boolean mayUpdate(Connection connection) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement("SELECT has_column_privilege(?, ?, 'UPDATE')")) {
            statement.setString(1, table);
            statement.setString(2, dataColumn);
            try (ResultSet row = statement.executeQuery()) {
                return row.next() && row.getBoolean(1);
            }
        }
    }

    /** Whether a row with the key exists. */
    boolean exists(Connection connection, String key) throws SQLException {
        try (PreparedStatement statement = connection.prepareStatement("SELECT 1 FROM " + table + where + " LIMIT 1")) {
            setKey(statement, 1, key);
            try (ResultSet row = statement.executeQuery()) {
                return row.next();
            }
        }
    }

    /** Inserts a row of {@code size} zero bytes, made by the server a MiB at a time: no zeros cross the network. */
    void insertZeros(Connection connection, String key, String keyColumn, long size) throws SQLException {
        String zeros = "(SELECT coalesce(string_agg(decode(repeat('00', least(" + ZERO_PIECE + ", ? - (g - 1) * " + ZERO_PIECE
                + ")::int), 'hex'), ''::bytea ORDER BY g), ''::bytea) FROM generate_series(1, (? + " + (ZERO_PIECE - 1) + ") / "
                + ZERO_PIECE + ") g)";
        try (PreparedStatement statement = connection.prepareStatement("INSERT INTO " + table + " ("
                + BlobLocation.quote(keyColumn) + ", " + data + ") VALUES (?, " + zeros + ")")) {
            setKey(statement, 1, key);
            statement.setLong(2, size);
            statement.setLong(3, size);
            statement.executeUpdate();
        }
    }

    private static void setKey(PreparedStatement statement, int index, String key) throws SQLException {
        statement.setObject(index, key, Types.OTHER);
    }
}
