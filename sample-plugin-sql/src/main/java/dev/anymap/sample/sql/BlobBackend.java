package dev.anymap.sample.sql;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.NoSuchFileException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One row's {@code bytea} value, read a range at a time with {@code substring}. Every read's
 * statement also selects the row's version, so a read returns bytes of the version that was opened
 * or fails with {@link ObjectChangedException}: a row updated while mapped is never read as a mix.
 */
final class BlobBackend implements StorageBackend {
    private static final System.Logger LOG = System.getLogger(BlobBackend.class.getName());
    /** The most one statement asks for, so that neither side holds a whole large value in memory at once. */
    private static final int MAX_STATEMENT_BYTES = 16 << 20;

    private final URI uri;
    private final SqlErrors errors;
    private final ConnectionPool pool;
    private final String key;
    private final String readSql;
    private final long size;
    private final String openedVersion;
    private final ObjectVersion version;
    private final Set<Connection> inFlight = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private BlobBackend(BlobLocation location, SqlErrors errors, ConnectionPool pool, Statements statements, long size,
            String openedVersion, ObjectVersion version) {
        this.uri = location.withoutPassword();
        this.errors = errors;
        this.pool = pool;
        this.key = location.key();
        this.readSql = statements.read();
        this.size = size;
        this.openedVersion = openedVersion;
        this.version = version;
    }

    /** The SQL of one configuration; every name in it quoted. */
    record Statements(String open, String read) {
        static Statements of(BlobLocation location, BlobOptions options) {
            String data = BlobLocation.quote(options.dataColumn());
            String version = options.versionColumn() == null ? "xmin" : BlobLocation.quote(options.versionColumn());
            String from = " FROM " + location.quotedTable() + " WHERE " + BlobLocation.quote(options.keyColumn()) + " = ?";
            return new Statements(
                    "SELECT octet_length(" + data + "), (" + version + ")::text, pg_typeof(" + data + ")::text" + from + " LIMIT 2",
                    // substring counts from 1.
                    "SELECT substring(" + data + " from ? for ?), (" + version + ")::text" + from);
        }
    }

    static BlobBackend open(BlobLocation location, BlobOptions options) throws IOException {
        SqlErrors errors = new SqlErrors(location, options);
        try {
            DriverManager.getDriver(location.jdbcUrl());
        } catch (SQLException noDriver) {
            throw new IOException(errors.uri() + ": no JDBC driver for PostgreSQL is on the class path or module path; add "
                    + "org.postgresql:postgresql beside the plugin (on the module path also --add-modules org.postgresql.jdbc)");
        }
        Statements statements = Statements.of(location, options);
        ConnectionPool pool = ConnectionPool.lease(options.poolKey(location));
        try {
            Connection connection = pool.borrow(() -> false);
            try (PreparedStatement statement = connection.prepareStatement(statements.open())) {
                setKey(statement, 1, location.key());
                BlobBackend backend = fromRow(location, options, errors, pool, statements, statement);
                pool.giveBack(connection);
                return backend;
            } catch (SQLException | RuntimeException | IOException e) {
                pool.discard(connection);
                throw e;
            }
        } catch (SQLException e) {
            pool.release();
            throw errors.translate(e, "opening the row");
        } catch (IOException | RuntimeException e) {
            pool.release();
            throw e;
        }
    }

    private static BlobBackend fromRow(BlobLocation location, BlobOptions options, SqlErrors errors, ConnectionPool pool,
            Statements statements, PreparedStatement statement) throws SQLException, IOException {
        String where = options.keyColumn() + " = '" + location.key() + "' in table " + location.tableName();
        try (ResultSet row = statement.executeQuery()) {
            if (!row.next()) {
                throw new NoSuchFileException(errors.uri(), null, "no row with " + where);
            }
            long size = row.getLong(1);
            boolean nullData = row.wasNull();
            String versionText = row.getString(2);
            String type = row.getString(3);
            if (row.next()) {
                throw new IOException(errors.uri() + ": more than one row with " + where + "; make " + options.keyColumn()
                        + " the primary key or unique, or name another column with option key-column");
            }
            if (!"bytea".equals(type)) {
                throw new IllegalArgumentException(errors.uri() + ": column " + options.dataColumn() + " is of type " + type
                        + ", not bytea; name the bytea column with option data-column");
            }
            if (nullData) {
                throw new NoSuchFileException(errors.uri(), null, options.dataColumn() + " is NULL in the row with " + where);
            }
            if (versionText == null) {
                throw new IOException(errors.uri() + ": the version column " + options.versionColumn() + " is NULL in the row with "
                        + where + "; it must change on every update of the row (leave option version-column out for xmin)");
            }
            String versionName = options.versionColumn() == null ? "xmin" : options.versionColumn();
            return new BlobBackend(location, errors, pool, statements, size, versionText,
                    new ObjectVersion(ObjectVersion.Kind.GENERATION, versionName + ":" + versionText));
        }
    }

    @Override
    public URI uri() {
        return uri;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public ObjectVersion version() {
        return version;
    }

    @Override
    public void read(long offset, MemorySegment target) throws IOException {
        OutOfRangeException.check(uri, offset, target.byteSize(), size);
        for (long done = 0; done < target.byteSize(); done += MAX_STATEMENT_BYTES) {
            int length = (int) Math.min(MAX_STATEMENT_BYTES, target.byteSize() - done);
            readSlice(offset + done, target.asSlice(done, length));
        }
    }

    /** One statement; a connection found broken is replaced once, as a server restart breaks every idle one. */
    private void readSlice(long offset, MemorySegment target) throws IOException {
        for (int attempt = 1; ; attempt++) {
            Connection connection = borrow();
            byte[] bytes;
            String versionNow;
            try (PreparedStatement statement = connection.prepareStatement(readSql)) {
                statement.setInt(1, Math.toIntExact(offset + 1)); // a bytea holds at most 1 GiB
                statement.setInt(2, (int) target.byteSize());
                setKey(statement, 3, key);
                try (ResultSet row = statement.executeQuery()) {
                    boolean found = row.next();
                    bytes = found ? row.getBytes(1) : null;
                    versionNow = found ? row.getString(2) : null;
                }
            } catch (SQLException | RuntimeException failure) {
                inFlight.remove(connection);
                pool.discard(connection);
                if (closed) {
                    throw new BackendClosedException(uri);
                }
                if (failure instanceof SQLException sql && SqlErrors.connectionBroken(sql) && attempt == 1) {
                    LOG.log(System.Logger.Level.DEBUG, () -> errors.uri() + ": connection broken ("
                            + errors.scrub(failure.getMessage()) + "); reading again on a new one");
                    continue;
                }
                if (failure instanceof SQLException sql) {
                    throw errors.translate(sql, "reading " + target.byteSize() + " bytes at offset " + offset);
                }
                throw (RuntimeException) failure;
            }
            inFlight.remove(connection);
            pool.giveBack(connection);
            check(bytes, versionNow, offset, target.byteSize());
            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, target, 0, bytes.length);
            return;
        }
    }

    private Connection borrow() throws IOException {
        Connection connection;
        try {
            connection = pool.borrow(() -> closed);
        } catch (SQLException e) {
            throw errors.translate(e, "connecting");
        }
        if (connection == null) {
            throw new BackendClosedException(uri);
        }
        inFlight.add(connection);
        // Checked after the add, and close() sets the flag before it looks: one of the two sees the other.
        if (closed) {
            inFlight.remove(connection);
            pool.giveBack(connection);
            throw new BackendClosedException(uri);
        }
        return connection;
    }

    private void check(byte[] bytes, String versionNow, long offset, long length) throws ObjectChangedException {
        if (versionNow == null && bytes == null) {
            throw new ObjectChangedException(uri, version, "the row is gone");
        }
        if (!openedVersion.equals(versionNow)) {
            throw new ObjectChangedException(uri, version, "the row's version is now " + versionNow);
        }
        if (bytes == null || bytes.length != length) {
            throw new ObjectChangedException(uri, version, "a read of " + length + " bytes at offset " + offset + " got "
                    + (bytes == null ? "NULL" : bytes.length + " bytes") + " with the version unchanged: does the version "
                    + "column change on every update of the row?");
        }
    }

    /** The key as a parameter of no stated type, so that the server reads it as the key column's type (text, integer, uuid...). */
    private static void setKey(PreparedStatement statement, int index, String key) throws SQLException {
        statement.setObject(index, key, Types.OTHER);
    }

    /** Reads in flight fail at once: their connections are aborted, which closes their sockets. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        for (Connection connection : inFlight) {
            try {
                connection.abort(Runnable::run);
            } catch (SQLException | RuntimeException alreadyGone) {
                // The read on it fails or has finished; either way it gives the connection back.
            }
        }
        pool.wakeWaiters();
        pool.release();
    }
}
