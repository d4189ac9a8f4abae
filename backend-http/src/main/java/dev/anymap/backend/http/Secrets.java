package dev.anymap.backend.http;

import dev.anymap.spi.Redaction;
import dev.anymap.spi.ScrubbedException;
import java.net.URI;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Keeps secrets out of the messages this backend passes on. Its own messages name URIs through
 * {@link Redaction}; this is for the messages of the JDK's HTTP and TLS code, which are not written
 * with presigned URLs and bearer tokens in mind. Their exceptions are passed on only as
 * {@link ScrubbedException} copies.
 */
final class Secrets {
    private static final String MASK = "****";

    private final List<String> values = new CopyOnWriteArrayList<>();
    private final List<URI> uris = new CopyOnWriteArrayList<>();

    Secrets(List<String> values, URI uri) {
        values.forEach(this::addValue);
        addUri(uri);
    }

    /** A URI met on the way (a redirect's target), whose query may hold a signature. */
    synchronized void addUri(URI uri) {
        if (uris.contains(uri)) {
            return;
        }
        uris.add(uri);
        addValue(uri.getRawUserInfo());
        addValue(uri.getUserInfo());
        addValue(uri.getRawQuery());
        addValue(uri.getQuery());
    }

    private synchronized void addValue(String value) {
        // Short values would mask ordinary words of a message; a credential is never this short.
        if (value != null && value.length() >= 4 && !values.contains(value)) {
            values.add(value);
            values.sort(Comparator.comparingInt(String::length).reversed());
        }
    }

    String scrub(String text) {
        if (text == null) {
            return null;
        }
        String scrubbed = text;
        for (URI uri : uris) {
            scrubbed = scrubbed.replace(uri.toString(), Redaction.uri(uri));
        }
        for (String value : values) {
            scrubbed = scrubbed.replace(value, MASK);
        }
        return scrubbed;
    }

    /** {@code failure} and its causes as scrubbed copies; null for null. */
    ScrubbedException scrub(Throwable failure) {
        return ScrubbedException.of(failure, this::scrub);
    }
}
