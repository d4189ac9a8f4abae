package dev.anymap.backend.s3;

import dev.anymap.spi.Redaction;
import java.net.URI;
import java.util.Locale;

/**
 * The bucket and key an {@code s3://bucket/key} URI names. The key is the URI's path without its
 * leading slash, percent-decoded ({@code s3://b/a%20b} is the key {@code a b}); where the bucket is
 * served from is an option, not part of the URI.
 */
record S3Location(String bucket, String key) {

    /**
     * @throws IllegalArgumentException for a URI that is not {@code s3://bucket/key}: no bucket, no key,
     *     a user, a port, a query or a fragment
     */
    static S3Location of(URI uri) {
        if (uri.getScheme() == null || !uri.getScheme().toLowerCase(Locale.ROOT).equals("s3")) {
            throw invalid(uri, "its scheme is not s3");
        }
        if (uri.isOpaque()) {
            throw invalid(uri, "it has no // before the bucket");
        }
        // The authority, not the host: bucket names with underscores or capitals (allowed by many
        // third-party stores, and by old AWS buckets) are no host names, and URI leaves their host null.
        String bucket = uri.getAuthority();
        if (bucket == null || bucket.isEmpty()) {
            throw invalid(uri, "it names no bucket");
        }
        if (bucket.contains("@") || bucket.contains(":")) {
            throw invalid(uri, "a bucket name has no user or port; give the endpoint with the option 'endpoint'");
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw invalid(uri, "it has a query or fragment, which the s3 backend does not read");
        }
        String path = uri.getPath();
        String key = path == null || path.isEmpty() ? "" : path.substring(1);
        if (key.isEmpty()) {
            throw invalid(uri, "it names a bucket but no object key");
        }
        return new S3Location(bucket, key);
    }

    private static IllegalArgumentException invalid(URI uri, String why) {
        return new IllegalArgumentException(Redaction.uri(uri) + " is not an s3://bucket/key URI: " + why);
    }
}
