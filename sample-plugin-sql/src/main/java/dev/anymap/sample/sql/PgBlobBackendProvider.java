package dev.anymap.sample.sql;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.net.URI;
import java.util.Map;
import java.util.Set;

/**
 * Serves {@code pgblob://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE/[SCHEMA.]TABLE/KEY}: the {@code bytea}
 * value in the row of {@code TABLE} whose key column equals {@code KEY}, read over JDBC with one
 * {@code substring} per read, and written, where opened for writing, in one transaction per commit (see
 * {@link BlobWrites}). The JDBC driver for PostgreSQL is found at run time; put
 * {@code org.postgresql:postgresql} beside this jar.
 *
 * <p>Options:
 * <ul>
 *   <li>{@code user}, {@code password} (secret): the database user and password, instead of the URI's user info.
 *   <li>{@code key-column} (default {@code key}), {@code data-column} (default {@code data}): the columns that name
 *       the row and hold the object ({@code bytea}).
 *   <li>{@code version-column}: a column that changes on every update of the row (a counter, a timestamp, a hash);
 *       by default the row's {@code xmin}, which PostgreSQL changes on every update.
 *   <li>{@code connections} (default 4): the most connections held for one server, database and user, shared by
 *       every row mapped with the same options.
 *   <li>{@code connect-timeout-ms} (default 10000), {@code read-timeout-ms} (default 30000).
 *   <li>{@code ssl-mode}: the driver's {@code sslmode} ({@code disable} ... {@code verify-full}).
 * </ul>
 */
public final class PgBlobBackendProvider implements BackendProvider {

    @Override
    public String name() {
        return "pgblob";
    }

    @Override
    public Set<String> schemes() {
        return Set.of(BlobLocation.SCHEME);
    }

    @Override
    public Set<String> supportedOptions() {
        return BlobOptions.SUPPORTED;
    }

    @Override
    public Set<String> secretOptions() {
        return BlobOptions.SECRET;
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        BlobLocation location = BlobLocation.parse(uri);
        return BlobBackend.open(location, BlobOptions.parse(location, options), false);
    }

    /**
     * Opens the row for writing too: a commit writes its dirty ranges with {@code overlay} in one
     * transaction, checking the row's version under a row lock (see {@link BlobWrites}).
     *
     * @throws java.nio.file.AccessDeniedException if the user may not update the data column
     */
    @Override
    public StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
        BlobLocation location = BlobLocation.parse(uri);
        return BlobBackend.open(location, BlobOptions.parse(location, options), true);
    }

    /**
     * Inserts a row whose data is {@code size} zero bytes (at most 1 GiB, PostgreSQL's limit for a
     * {@code bytea}), made by the server, and opens it for writing. The key column should be unique:
     * an existing row fails the create, and with a unique key so does one that another client inserts
     * meanwhile.
     *
     * @throws java.nio.file.FileAlreadyExistsException if a row with the key exists
     */
    @Override
    public StorageBackend create(URI uri, long size, Map<String, String> options) throws IOException {
        BlobLocation location = BlobLocation.parse(uri);
        BlobOptions parsed = BlobOptions.parse(location, options);
        BlobBackend.insertZeros(location, parsed, size);
        return BlobBackend.open(location, parsed, true);
    }
}
