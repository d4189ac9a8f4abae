package dev.anymap.sample.sql;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

/**
 * The connections of one configuration (server, database, user, settings), shared by every backend
 * opened with it: a page server may map thousands of rows of one table, and they should share a
 * few connections rather than each hold its own. A connection serves one statement at a time, so a
 * read borrows one for its statement and gives it back; at most {@code connections} are open, and a
 * read that finds them all busy waits for one. The pool closes when the last backend using it does.
 */
final class ConnectionPool {
    private static final Map<BlobOptions.PoolKey, ConnectionPool> POOLS = new HashMap<>();

    private final BlobOptions.PoolKey key;
    private final Deque<Connection> idle = new ArrayDeque<>();
    private int open;
    private int leases;
    private boolean retired;

    private ConnectionPool(BlobOptions.PoolKey key) {
        this.key = key;
    }

    /** The shared pool for {@code key}, made if no open backend uses one; {@link #release()} gives it back. */
    static ConnectionPool lease(BlobOptions.PoolKey key) {
        synchronized (POOLS) {
            ConnectionPool pool = POOLS.computeIfAbsent(key, ConnectionPool::new);
            synchronized (pool) {
                pool.leases++;
            }
            return pool;
        }
    }

    /** One backend is done with this pool; the last one closes its idle connections. */
    void release() {
        synchronized (POOLS) {
            synchronized (this) {
                if (--leases > 0) {
                    return;
                }
                retired = true;
                POOLS.remove(key, this);
                idle.forEach(ConnectionPool::closeQuietly);
                idle.clear();
                notifyAll();
            }
        }
    }

    /**
     * An idle connection, a new one while fewer than the limit are open, or else the next one given
     * back. Waits at most the read timeout, and no longer than {@code closed} stays false.
     *
     * @throws SQLException if a new connection cannot be opened
     * @throws IOException if none is free in time
     */
    Connection borrow(Closed closed) throws SQLException, IOException {
        long deadline = System.nanoTime() + key.readTimeout().toNanos();
        synchronized (this) {
            while (true) {
                if (closed.isClosed() || retired) {
                    return null;
                }
                if (!idle.isEmpty()) {
                    return idle.pop();
                }
                if (open < key.connections()) {
                    open++;
                    break;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IOException("all " + key.connections() + " connections to " + key.jdbcUrl() + " stayed busy for "
                            + key.readTimeout() + "; raise option connections or read-timeout-ms");
                }
                try {
                    wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while waiting for a connection to " + key.jdbcUrl());
                }
            }
        }
        // Connected outside the lock: it takes a round trip or three, and others may give back meanwhile.
        try {
            return connect();
        } catch (SQLException | RuntimeException e) {
            forget();
            throw e;
        }
    }

    /** A connection that worked, for the next read. */
    void giveBack(Connection connection) {
        synchronized (this) {
            if (!retired) {
                idle.push(connection);
                notifyAll();
                return;
            }
        }
        discard(connection);
    }

    /** A connection that failed or was aborted: closed, and its place freed for a new one. */
    void discard(Connection connection) {
        closeQuietly(connection);
        forget();
    }

    /** Wakes the reads waiting for a connection, so that those of a closed backend give up. */
    synchronized void wakeWaiters() {
        notifyAll();
    }

    private synchronized void forget() {
        open--;
        notifyAll();
    }

    private Connection connect() throws SQLException {
        Properties properties = new Properties();
        if (key.user() != null) {
            properties.setProperty("user", key.user());
        }
        if (key.password() != null) {
            properties.setProperty("password", key.password());
        }
        // PostgreSQL's driver takes these in whole seconds; 0 would mean no limit.
        properties.setProperty("connectTimeout", seconds(key.connectTimeout()));
        properties.setProperty("loginTimeout", seconds(key.connectTimeout()));
        properties.setProperty("socketTimeout", seconds(key.readTimeout()));
        properties.setProperty("tcpKeepAlive", "true");
        properties.setProperty("ApplicationName", "anymap pgblob");
        if (key.sslMode() != null) {
            properties.setProperty("sslmode", key.sslMode());
        }
        return DriverManager.getConnection(key.jdbcUrl(), properties);
    }

    private static String seconds(Duration duration) {
        return Long.toString(Math.max(1, (duration.toMillis() + 999) / 1000));
    }

    static void closeQuietly(Connection connection) {
        try {
            connection.close();
        } catch (SQLException | RuntimeException alreadyBroken) {
            // Nothing to do about a connection that cannot even close.
        }
    }

    /** Whether the backend a read belongs to was closed. */
    @FunctionalInterface
    interface Closed {
        boolean isClosed();
    }
}
