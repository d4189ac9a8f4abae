package dev.anymap.sample.sql;

import dev.anymap.spi.Redaction;
import java.net.URI;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The backend options of one {@code open}, checked and parsed.
 *
 * @param user the database user, or null for the URI's, or else the driver's default
 * @param password the user's password, or null for the URI's or none
 * @param keyColumn the column that names the row
 * @param dataColumn the {@code bytea} column that holds the object
 * @param versionColumn a column that changes on every update of the row, or null for the row's {@code xmin}
 * @param connections the most connections that the backends of one configuration hold
 * @param connectTimeout how long a connection may take to open
 * @param readTimeout how long a statement may wait for the server's answer
 * @param sslMode the driver's {@code sslmode}, or null for its default
 */
record BlobOptions(String user, String password, String keyColumn, String dataColumn, String versionColumn,
        int connections, Duration connectTimeout, Duration readTimeout, String sslMode) {

    static final String USER = "user";
    static final String PASSWORD = "password";
    static final String KEY_COLUMN = "key-column";
    static final String DATA_COLUMN = "data-column";
    static final String VERSION_COLUMN = "version-column";
    static final String CONNECTIONS = "connections";
    static final String CONNECT_TIMEOUT_MS = "connect-timeout-ms";
    static final String READ_TIMEOUT_MS = "read-timeout-ms";
    static final String SSL_MODE = "ssl-mode";

    static final Set<String> SUPPORTED = Set.of(USER, PASSWORD, KEY_COLUMN, DATA_COLUMN, VERSION_COLUMN, CONNECTIONS,
            CONNECT_TIMEOUT_MS, READ_TIMEOUT_MS, SSL_MODE);
    static final Set<String> SECRET = Set.of(PASSWORD);

    private static final Set<String> SSL_MODES = Set.of("disable", "allow", "prefer", "require", "verify-ca", "verify-full");

    /**
     * Checks and parses {@code options} for {@code location}.
     *
     * @throws IllegalArgumentException naming the option (never the password) when one is unknown, malformed or in conflict
     */
    static BlobOptions parse(BlobLocation location, Map<String, String> options) {
        URI uri = location.uri();
        for (String key : options.keySet()) {
            if (!SUPPORTED.contains(key)) {
                throw new IllegalArgumentException("option '" + key + "' is not one the 'pgblob' backend understands (for "
                        + Redaction.uri(uri) + "); it understands " + new TreeSet<>(SUPPORTED));
            }
        }
        String user = either(location, options, USER, location.user());
        String password = either(location, options, PASSWORD, location.password());
        String sslMode = options.get(SSL_MODE);
        if (sslMode != null && !SSL_MODES.contains(sslMode.strip().toLowerCase(Locale.ROOT))) {
            throw new IllegalArgumentException("option ssl-mode is one of " + new TreeSet<>(SSL_MODES) + ", not '" + sslMode
                    + "' (for " + Redaction.uri(uri) + ")");
        }
        return new BlobOptions(user, password,
                column(uri, options, KEY_COLUMN, "key"), column(uri, options, DATA_COLUMN, "data"),
                options.containsKey(VERSION_COLUMN) ? column(uri, options, VERSION_COLUMN, null) : null,
                Math.toIntExact(positive(uri, options, CONNECTIONS, 4, 1000)),
                Duration.ofMillis(positive(uri, options, CONNECT_TIMEOUT_MS, 10_000, Integer.MAX_VALUE)),
                Duration.ofMillis(positive(uri, options, READ_TIMEOUT_MS, 30_000, Integer.MAX_VALUE)),
                sslMode == null ? null : sslMode.strip().toLowerCase(Locale.ROOT));
    }

    /** What makes two connection pools differ: everything that reaches the server when a connection opens. */
    PoolKey poolKey(BlobLocation location) {
        return new PoolKey(location.jdbcUrl(), user, password, connections, connectTimeout, readTimeout, sslMode);
    }

    /** The identity of a shared pool. Holds the password, so its {@code toString} masks it. */
    record PoolKey(String jdbcUrl, String user, String password, int connections, Duration connectTimeout,
            Duration readTimeout, String sslMode) {
        @Override
        public String toString() {
            return "PoolKey[" + jdbcUrl + ", user " + user + (password == null ? "" : ", password ****") + "]";
        }
    }

    @Override
    public String toString() {
        return "BlobOptions[user " + user + (password == null ? "" : ", password ****") + ", key " + keyColumn + ", data "
                + dataColumn + ", version " + (versionColumn == null ? "xmin" : versionColumn) + ", " + connections
                + " connections]";
    }

    private static String either(BlobLocation location, Map<String, String> options, String key, String fromUri) {
        String fromOption = options.get(key);
        if (fromOption != null && fromUri != null) {
            throw new IllegalArgumentException("the " + key + " is given twice, in the URI and in option " + key + " (for "
                    + Redaction.uri(location.uri()) + "); give it once");
        }
        return fromOption != null ? fromOption : fromUri;
    }

    private static String column(URI uri, Map<String, String> options, String key, String fallback) {
        String value = options.getOrDefault(key, fallback);
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("option " + key + " names a column, and cannot be empty (for "
                    + Redaction.uri(uri) + ")");
        }
        return value;
    }

    private static long positive(URI uri, Map<String, String> options, String key, long fallback, long max) {
        String value = options.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            long parsed = Long.parseLong(value.strip());
            if (parsed > 0 && parsed <= max) {
                return parsed;
            }
        } catch (NumberFormatException notANumber) {
            // Reported below, with the same message as a number out of range.
        }
        throw new IllegalArgumentException("option " + key + " is a whole number from 1 to " + max + ", not '" + value
                + "' (for " + Redaction.uri(uri) + ")");
    }
}
