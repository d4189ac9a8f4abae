package dev.anymap.sample.sql;

import dev.anymap.spi.Redaction;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Where a {@code pgblob://[user[:password]@]host[:port]/database/[schema.]table/key} URI points.
 *
 * @param uri the URI as given, for {@link Redaction}
 * @param host the server's host name or address (an IPv6 address in brackets)
 * @param port the server's port
 * @param database the database name
 * @param schema the table's schema, or null for the connection's search path
 * @param table the table name, exactly as in the catalog
 * @param key the row's key, as text; the server converts it to the key column's type
 * @param user the user of the URI's user info, or null
 * @param password the password of the URI's user info, or null
 */
record BlobLocation(URI uri, String host, int port, String database, String schema, String table, String key,
        String user, String password) {

    static final String SCHEME = "pgblob";
    static final int DEFAULT_PORT = 5432;
    static final String FORM = "pgblob://[USER@]HOST[:PORT]/DATABASE/[SCHEMA.]TABLE/KEY";

    static BlobLocation parse(URI uri) {
        if (uri.getScheme() == null || !uri.getScheme().toLowerCase(Locale.ROOT).equals(SCHEME)) {
            throw new IllegalArgumentException(Redaction.uri(uri) + " is not a " + SCHEME + ": URI; the form is " + FORM);
        }
        if (uri.isOpaque() || uri.getHost() == null) {
            throw new IllegalArgumentException(Redaction.uri(uri) + " has no host; the form is " + FORM);
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new IllegalArgumentException(Redaction.uri(uri) + " has a query or fragment; settings are backend options "
                    + "(key-column, data-column, ...), not URI parameters");
        }
        String path = uri.getPath() == null ? "" : uri.getPath();
        // Split on raw slashes, so that a key may hold an encoded or a literal '/': all after the table is the key.
        String[] parts = path.startsWith("/") ? path.substring(1).split("/", 3) : new String[0];
        if (parts.length < 3 || parts[0].isEmpty() || parts[1].isEmpty() || parts[2].isEmpty()) {
            throw new IllegalArgumentException(Redaction.uri(uri) + " does not name a database, a table and a key; the form is "
                    + FORM);
        }
        String table = parts[1];
        String schema = null;
        int dot = table.indexOf('.');
        if (dot >= 0) {
            schema = table.substring(0, dot);
            table = table.substring(dot + 1);
            if (schema.isEmpty() || table.isEmpty() || table.indexOf('.') >= 0) {
                throw new IllegalArgumentException(Redaction.uri(uri) + ": '" + parts[1] + "' is not TABLE or SCHEMA.TABLE");
            }
        }
        String userInfo = uri.getUserInfo();
        String user = null;
        String password = null;
        if (userInfo != null) {
            int colon = userInfo.indexOf(':');
            user = colon < 0 ? userInfo : userInfo.substring(0, colon);
            password = colon < 0 ? null : userInfo.substring(colon + 1);
        }
        return new BlobLocation(uri, uri.getHost(), uri.getPort() < 0 ? DEFAULT_PORT : uri.getPort(), parts[0], schema,
                table, parts[2], user == null || user.isEmpty() ? null : user, password);
    }

    /** The JDBC URL of the database, which carries no credentials: they go in connection properties. */
    String jdbcUrl() {
        return "jdbc:postgresql://" + host + ":" + port + "/" + URLEncoder.encode(database, StandardCharsets.UTF_8);
    }

    /** The table as SQL, every name quoted, so that a URI cannot inject anything and names keep their case. */
    String quotedTable() {
        return (schema == null ? "" : quote(schema) + ".") + quote(table);
    }

    /** The table for messages. */
    String tableName() {
        return schema == null ? table : schema + "." + table;
    }

    /** {@link #uri()} without the password of its user info: what {@code StorageBackend.uri()} returns. */
    URI withoutPassword() {
        if (password == null) {
            return uri;
        }
        try {
            return new URI(uri.getScheme(), user, uri.getHost(), uri.getPort(), uri.getPath(), null, null);
        } catch (URISyntaxException impossible) {
            throw new IllegalStateException(impossible);
        }
    }

    static String quote(String identifier) {
        if (identifier.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("a PostgreSQL name cannot hold a NUL character");
        }
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }
}
