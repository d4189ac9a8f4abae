package dev.anymap.sample.sql;

import dev.anymap.spi.Redaction;
import dev.anymap.spi.ScrubbedException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.sql.SQLException;

/**
 * Turns the driver's {@link SQLException}s into the exceptions the SPI asks for, by SQLSTATE, with
 * a message that names the URI (redacted) and says what to fix. The driver's own message is passed
 * on scrubbed of the password, as a {@link ScrubbedException} cause.
 */
final class SqlErrors {
    private final BlobLocation location;
    private final String password;

    SqlErrors(BlobLocation location, BlobOptions options) {
        this.location = location;
        this.password = options.password();
    }

    String uri() {
        return Redaction.uri(location.uri());
    }

    String scrub(String text) {
        if (text == null || password == null || password.isEmpty()) {
            return text;
        }
        return text.replace(password, "****");
    }

    /** Whether a statement that failed this way may work on a new connection. */
    static boolean connectionBroken(SQLException failure) {
        String state = failure.getSQLState();
        // 08: connection exception; 57P01..57P03: the server shut down or is starting.
        return state != null && (state.startsWith("08") || state.startsWith("57P"));
    }

    /**
     * A failed write, rolled back: {@code privilege} is what to GRANT where the user lacks it (SQLSTATE
     * 42501); anything else as {@link #translate} has it.
     */
    IOException translateWrite(SQLException failure, String doing, String privilege) {
        IOException translated;
        if ("42501".equals(failure.getSQLState())) {
            translated = new AccessDeniedException(uri(), null, doing + " failed: " + Redaction.describe(failure, this::scrub)
                    + "; GRANT " + privilege + " ON " + location.tableName() + " to the user; nothing was written");
            translated.initCause(ScrubbedException.of(failure, this::scrub));
            return translated;
        }
        translated = translate(failure, doing);
        IOException said = translated instanceof AccessDeniedException || translated instanceof NoSuchFileException
                ? translated
                : new IOException(translated.getMessage() + "; nothing was written", translated.getCause());
        return said;
    }

    /** A failure to connect, to open the row, or to read it. */
    IOException translate(SQLException failure, String doing) {
        String state = failure.getSQLState() == null ? "" : failure.getSQLState();
        String cause = Redaction.describe(failure, this::scrub);
        String where = uri() + ": " + doing + " failed: " + cause;
        IOException translated = switch (state) {
            case "28P01", "28000" -> new AccessDeniedException(uri(), null, doing + " failed: " + cause
                    + "; check the user and password (options user and password, or the URI's user info) and pg_hba.conf");
            case "42501" -> new AccessDeniedException(uri(), null, doing + " failed: " + cause
                    + "; GRANT SELECT on " + location.tableName() + " to the user");
            case "3D000" -> new NoSuchFileException(uri(), null, "no database '" + location.database() + "' on "
                    + location.host() + ":" + location.port() + " (" + cause + ")");
            case "42P01", "3F000" -> new NoSuchFileException(uri(), null, "no table " + location.tableName() + " in database '"
                    + location.database() + "' (" + cause + "); names are exact, as in the catalog (an unquoted "
                    + "CREATE TABLE Blobs makes blobs)");
            case "42703" -> new IOException(where + "; name the table's columns with options key-column, data-column "
                    + "and version-column");
            default -> state.startsWith("08")
                    ? new IOException(where + "; is PostgreSQL running at " + location.host() + ":" + location.port()
                            + " and accepting TCP connections (listen_addresses, pg_hba.conf)?")
                    : new IOException(where + (state.isEmpty() ? "" : " (SQLSTATE " + state + ")"));
        };
        translated.initCause(ScrubbedException.of(failure, this::scrub));
        return translated;
    }
}
