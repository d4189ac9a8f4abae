package dev.anymap.backend.http;

import dev.anymap.spi.ObjectVersion;
import java.net.http.HttpHeaders;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * What identifies the version of a resource that was opened: its entity tag and its modification
 * time, as the server gave them when it was opened.
 *
 * @param etag the ETag header, quotes and any {@code W/} included, or null
 * @param lastModified the Last-Modified header as sent, or null if absent or not a date
 */
record Validator(String etag, String lastModified) {

    static Validator of(HttpHeaders headers) {
        String etag = headers.firstValue("etag").map(String::strip).filter(s -> !s.isEmpty()).orElse(null);
        String modified = headers.firstValue("last-modified").map(String::strip).orElse(null);
        return new Validator(etag, instant(modified) == null ? null : modified);
    }

    /** Whether {@code If-Match} can be used: a weak tag never matches there. */
    boolean strong() {
        return etag != null && !etag.startsWith("W/");
    }

    /**
     * The object's version. Without any validator there is no way to tell two versions apart, so
     * each open gets a version of its own: no cache or restarted page server then takes the bytes of
     * one open for those of another.
     */
    ObjectVersion version(long size) {
        if (etag != null) {
            return ObjectVersion.etag(etag);
        }
        if (lastModified != null) {
            return ObjectVersion.modified(instant(lastModified), size);
        }
        return ObjectVersion.generation(ThreadLocalRandom.current().nextLong(Long.MAX_VALUE));
    }

    /**
     * The precondition every GET carries, so that a server holding another version answers 412
     * instead of sending its bytes: {@code If-Match} with a strong tag, else
     * {@code If-Unmodified-Since}; none without a validator.
     */
    Map<String, String> conditions() {
        if (strong()) {
            return Map.of("If-Match", etag);
        }
        if (lastModified != null) {
            return Map.of("If-Unmodified-Since", lastModified);
        }
        return Map.of();
    }

    /** The precondition, as words for an error message. */
    String describeConditions() {
        return conditions().entrySet().stream().map(e -> e.getKey() + ": " + e.getValue()).findFirst()
                .orElse("no precondition");
    }

    /**
     * How a response's validators differ from the opened ones, or null if they do not. A server that
     * ignores preconditions still gives itself away by the tag or time it sends with the new bytes.
     */
    String differenceTo(HttpHeaders response) {
        Validator now = of(response);
        if (etag != null && now.etag != null && !etag.equals(now.etag)) {
            return "its ETag is now " + now.etag;
        }
        if (lastModified != null && now.lastModified != null && !Objects.equals(instant(lastModified), instant(now.lastModified))) {
            return "its Last-Modified is now " + now.lastModified;
        }
        return null;
    }

    static Instant instant(String httpDate) {
        if (httpDate == null) {
            return null;
        }
        try {
            return ZonedDateTime.parse(httpDate, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
        } catch (DateTimeParseException notADate) {
            return null;
        }
    }
}
