/**
 * {@code pgblob:} one row's {@code bytea} column in a PostgreSQL table, as an anymap storage backend,
 * over JDBC. The JDBC driver ({@code org.postgresql:postgresql}) is found at run time through
 * {@link java.sql.DriverManager}; this module does not depend on it.
 */
module dev.anymap.sample.sql {
    requires transitive dev.anymap.spi;
    requires java.sql;

    exports dev.anymap.sample.sql;

    provides dev.anymap.spi.BackendProvider with dev.anymap.sample.sql.PgBlobBackendProvider;
}
