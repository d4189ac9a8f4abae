package dev.anymap.sample.sql;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
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
 *
 * <p>Opened for writing, it commits in one transaction (see {@link BlobWrites}): atomic, durable once
 * PostgreSQL has committed, and refused with {@link ObjectChangedException}, writing nothing, if the
 * row's version is no longer the one this backend reads. Reads read the new version from then on.
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
    private final String versionName;
    /** Null for a backend opened to read only. */
    private final BlobWrites writes;
    private volatile String openedVersion;
    /** The version a commit makes, from just before its COMMIT until reads are told it: reads may see it then. */
    private volatile String committing;
    private volatile ObjectVersion version;
    private final Set<Connection> inFlight = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private BlobBackend(BlobLocation location, SqlErrors errors, ConnectionPool pool, Statements statements, long size,
            String versionName, String openedVersion, BlobWrites writes) {
        this.uri = location.withoutPassword();
        this.errors = errors;
        this.pool = pool;
        this.key = location.key();
        this.readSql = statements.read();
        this.size = size;
        this.versionName = versionName;
        this.writes = writes;
        this.openedVersion = openedVersion;
        this.version = versionOf(versionName, openedVersion);
    }

    private static ObjectVersion versionOf(String versionName, String versionText) {
        return new ObjectVersion(ObjectVersion.Kind.GENERATION, versionName + ":" + versionText);
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

    /**
     * @param writable whether to open for writing too: the user must be allowed to update the data column
     */
    static BlobBackend open(BlobLocation location, BlobOptions options, boolean writable) throws IOException {
        SqlErrors errors = new SqlErrors(location, options);
        checkDriver(location, errors);
        Statements statements = Statements.of(location, options);
        ConnectionPool pool = ConnectionPool.lease(options.poolKey(location));
        try {
            Connection connection = pool.borrow(() -> false);
            try (PreparedStatement statement = connection.prepareStatement(statements.open())) {
                setKey(statement, 1, location.key());
                BlobWrites writes = writable ? new BlobWrites(location, options) : null;
                BlobBackend backend = fromRow(location, options, errors, pool, statements, statement, writes);
                if (writes != null && !writes.mayUpdate(connection)) {
                    throw new AccessDeniedException(errors.uri(), null, "the user may read column " + options.dataColumn()
                            + " of " + location.tableName() + " but not update it; GRANT UPDATE (" + options.dataColumn()
                            + ") ON " + location.tableName() + " to the user, or map it read-only");
                }
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

    /**
     * Inserts the row of {@code location} with {@code size} zero bytes, in a transaction that first
     * checks that no row has its key.
     *
     * @throws FileAlreadyExistsException if one has
     */
    static void insertZeros(BlobLocation location, BlobOptions options, long size) throws IOException {
        SqlErrors errors = new SqlErrors(location, options);
        if (size < 0 || size >= 1L << 30) {
            throw new IllegalArgumentException("cannot create " + errors.uri() + " of " + size + " bytes: a bytea holds 0 to "
                    + ((1L << 30) - 1) + " bytes");
        }
        checkDriver(location, errors);
        String where = options.keyColumn() + " = '" + location.key() + "' in table " + location.tableName();
        BlobWrites writes = new BlobWrites(location, options);
        ConnectionPool pool = ConnectionPool.lease(options.poolKey(location));
        try {
            Connection connection = pool.borrow(() -> false);
            if (connection == null) {
                throw new IOException(errors.uri() + ": no connection to create the row on");
            }
            try {
                connection.setAutoCommit(false);
                if (writes.exists(connection, location.key())) {
                    throw new FileAlreadyExistsException(errors.uri(), null, "a row with " + where + " exists; delete it, or map it");
                }
                writes.insertZeros(connection, location.key(), options.keyColumn(), size);
                connection.commit();
                connection.setAutoCommit(true);
                pool.giveBack(connection);
            } catch (SQLException | IOException | RuntimeException e) {
                // Closing the connection rolls its transaction back.
                pool.discard(connection);
                if (e instanceof SQLException sql && "23505".equals(sql.getSQLState())) {
                    throw new FileAlreadyExistsException(errors.uri(), null, "a row with " + where + " was inserted meanwhile");
                }
                throw e;
            }
        } catch (SQLException e) {
            throw errors.translateWrite(e, "inserting a row of " + size + " zero bytes", "INSERT");
        } finally {
            pool.release();
        }
    }

    private static void checkDriver(BlobLocation location, SqlErrors errors) throws IOException {
        try {
            DriverManager.getDriver(location.jdbcUrl());
        } catch (SQLException noDriver) {
            throw new IOException(errors.uri() + ": no JDBC driver for PostgreSQL is on the class path or module path; add "
                    + "org.postgresql:postgresql beside the plugin (on the module path also --add-modules org.postgresql.jdbc)");
        }
    }

    private static BlobBackend fromRow(BlobLocation location, BlobOptions options, SqlErrors errors, ConnectionPool pool,
            Statements statements, PreparedStatement statement, BlobWrites writes) throws SQLException, IOException {
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
            return new BlobBackend(location, errors, pool, statements, size, versionName, versionText, writes);
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
    public Set<Capability> capabilities() {
        return writes == null ? Set.of() : Set.of(Capability.WRITE);
    }

    @Override
    public ObjectVersion commit(Changes changes) throws IOException {
        if (writes == null) {
            return StorageBackend.super.commit(changes);
        }
        ObjectVersion base = version;
        if (changes.size() != size) {
            throw new IllegalArgumentException(errors.uri() + ": the changes are for an object of " + changes.size()
                    + " bytes, and it has " + size + "; a commit never changes the size");
        }
        if (!changes.base().equals(base)) {
            throw new ObjectChangedException(uri, base, "the changes were made on version " + changes.base());
        }
        if (changes.dirty().isEmpty()) {
            return base;
        }
        Connection connection = borrow();
        boolean atCommit = false;
        try {
            connection.setAutoCommit(false);
            BlobWrites.Row row = writes.lock(connection, key);
            if (row == null) {
                throw new ObjectChangedException(uri, base, "the row is gone; nothing was written");
            }
            if (!row.version().equals(openedVersion) || row.size() != size) {
                throw new ObjectChangedException(uri, base, "the row's version is now " + row.version() + " (" + row.size()
                        + " bytes): another writer changed it; nothing was written");
            }
            writes.update(connection, key, changes);
            String after = writes.version(connection, key);
            if (after == null || after.equals(openedVersion)) {
                throw new IOException(errors.uri() + ": the version column " + versionName + " did not change when the row was "
                        + "updated; it must change on every update (a trigger, or leave option version-column out for xmin); "
                        + "nothing was written");
            }
            atCommit = true;
            committing = after;
            connection.commit();
            connection.setAutoCommit(true);
            inFlight.remove(connection);
            pool.giveBack(connection);
            openedVersion = after;
            version = versionOf(versionName, after);
            committing = null;
            return version;
        } catch (SQLException failure) {
            abandon(connection);
            if (closed) {
                throw new BackendClosedException(uri);
            }
            String doing = "committing " + changes.dirty().size() + " ranges";
            if (atCommit && SqlErrors.connectionBroken(failure)) {
                IOException broken = errors.translate(failure, doing);
                throw new IOException(broken.getMessage() + "; the connection broke at COMMIT, so whether the row holds "
                        + "the new version is unknown: open it again to see", broken.getCause());
            }
            throw errors.translateWrite(failure, doing, "UPDATE (" + writes.dataColumn() + ")");
        } catch (IOException | RuntimeException failure) {
            abandon(connection);
            throw failure;
        }
    }

    /** A connection whose transaction failed: rolled back by closing it, and replaced. */
    private void abandon(Connection connection) {
        committing = null;
        inFlight.remove(connection);
        pool.discard(connection);
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
        // Committing first: it is cleared only after openedVersion has the version it held.
        String beingCommitted = committing;
        if (!openedVersion.equals(versionNow) && !(versionNow != null && versionNow.equals(beingCommitted))) {
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
