package dev.anymap.lucene;

import dev.anymap.backend.s3.S3BackendProvider;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The objects directly under an {@code s3://bucket/prefix/}, listed with ListObjectsV2 by a client
 * set up from the options the s3 backend would map them with, resolved the same way
 * ({@link S3BackendProvider#resolveLocally}): the same endpoint, region and credentials.
 */
final class S3Listing implements IndexListing {
    private final URI base;
    private final String bucket;
    private final String prefix;
    private final S3Client client;

    private S3Listing(URI base, String bucket, String prefix, S3Client client) {
        this.base = base;
        this.bucket = bucket;
        this.prefix = prefix;
        this.client = client;
    }

    static S3Listing open(URI base, Map<String, String> options) throws IOException {
        String bucket = base.getAuthority();
        if (bucket == null || bucket.isEmpty()) {
            throw new IllegalArgumentException(Redaction.uri(base) + " names no bucket: write s3://BUCKET/PREFIX/");
        }
        String path = base.getPath() == null ? "" : base.getPath();
        String prefix = path.startsWith("/") ? path.substring(1) : path;
        Map<String, String> resolved = new S3BackendProvider().resolveLocally(base, options);
        S3ClientBuilder builder = S3Client.builder()
                .region(Region.of(resolved.getOrDefault("region", "us-east-1")))
                .forcePathStyle(Boolean.parseBoolean(resolved.getOrDefault("path-style", "false")))
                .credentialsProvider(credentials(resolved));
        if (resolved.get("endpoint") != null) {
            builder.endpointOverride(URI.create(resolved.get("endpoint")));
        }
        return new S3Listing(base, bucket, prefix, builder.build());
    }

    private static AwsCredentialsProvider credentials(Map<String, String> resolved) {
        if (Boolean.parseBoolean(resolved.get("anonymous"))) {
            return AnonymousCredentialsProvider.create();
        }
        String accessKeyId = resolved.get("access-key-id");
        if (accessKeyId == null) {
            // credentials=page-server: the page server reads with its own; the listing, here, can only use this process's.
            return DefaultCredentialsProvider.builder().build();
        }
        String sessionToken = resolved.get("session-token");
        return StaticCredentialsProvider.create(sessionToken == null
                ? AwsBasicCredentials.create(accessKeyId, resolved.get("secret-access-key"))
                : AwsSessionCredentials.create(accessKeyId, resolved.get("secret-access-key"), sessionToken));
    }

    @Override
    public SortedMap<String, Long> list() throws IOException {
        SortedMap<String, Long> files = new TreeMap<>();
        try {
            for (S3Object object : client.listObjectsV2Paginator(b -> b.bucket(bucket).prefix(prefix).delimiter("/")).contents()) {
                String name = object.key().substring(prefix.length());
                if (!name.isEmpty()) {
                    files.put(name, object.size());
                }
            }
        } catch (NoSuchBucketException e) {
            throw new NoSuchFileException(Redaction.uri(base), null, "no such bucket: " + bucket);
        } catch (S3Exception e) {
            if (e.statusCode() == 403) {
                throw new AccessDeniedException(Redaction.uri(base), null, "listing refused (" + e.awsErrorDetails().errorCode()
                        + "): allow s3:ListBucket on the prefix, or open the index at its commit (segments_N), which needs no listing");
            }
            throw new IOException("listing " + Redaction.uri(base) + " failed: " + e.getMessage(), e);
        } catch (SdkException e) {
            throw new IOException("listing " + Redaction.uri(base) + " failed: " + e.getMessage(), e);
        }
        return files;
    }

    @Override
    public void close() {
        client.close();
    }
}
