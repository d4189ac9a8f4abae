package dev.anymap.spi;

import java.time.Instant;
import java.util.Objects;

/**
 * The identity of one version of a stored object: what caches key on and what change detection
 * compares. Two equal versions of one URI stand for the same bytes.
 *
 * @param kind what the value is
 * @param value the validator itself, compared as an opaque string
 */
public record ObjectVersion(Kind kind, String value) {

    /** What an {@link ObjectVersion}'s value is. */
    public enum Kind {
        /** An HTTP or S3 entity tag, quotes included, as the server sent it. */
        ETAG,
        /** A modification time and size: weaker, since a rewrite within the clock's resolution is missed. */
        MODIFIED,
        /** A hash of the content, as {@code algorithm:hex}. */
        CONTENT_HASH,
        /** A counter the backend increments on every change. */
        GENERATION
    }

    public ObjectVersion {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(value, "value");
    }

    public static ObjectVersion etag(String etag) {
        return new ObjectVersion(Kind.ETAG, etag);
    }

    public static ObjectVersion modified(Instant modified, long size) {
        return new ObjectVersion(Kind.MODIFIED, modified + "/" + size);
    }

    public static ObjectVersion contentHash(String algorithm, String hex) {
        return new ObjectVersion(Kind.CONTENT_HASH, algorithm + ":" + hex);
    }

    public static ObjectVersion generation(long generation) {
        return new ObjectVersion(Kind.GENERATION, Long.toString(generation));
    }

    /**
     * The version that {@link #toString()} printed.
     *
     * @throws IllegalArgumentException if {@code text} is not such a string
     */
    public static ObjectVersion parse(String text) {
        int colon = text.indexOf(':');
        if (colon > 0) {
            for (Kind kind : Kind.values()) {
                if (kind.name().equalsIgnoreCase(text.substring(0, colon))) {
                    return new ObjectVersion(kind, text.substring(colon + 1));
                }
            }
        }
        throw new IllegalArgumentException("not an object version: '" + text + "'");
    }

    @Override
    public String toString() {
        return kind.name().toLowerCase(java.util.Locale.ROOT) + ":" + value;
    }
}
