package dev.anymap.backend.s3;

import dev.anymap.s3server.S3Access;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompletedPart;

/**
 * A running S3 server for the tests, whichever it is (see {@link S3ServerExtension}): where it is,
 * how to sign for it, a bucket made for this run, and an admin client that stores objects the
 * backend then reads. The admin client is a separate client with its own settings, so that what the
 * tests store does not depend on the code under test.
 */
final class S3TestServer implements AutoCloseable {
    private static final AtomicLong NAMES = new AtomicLong();

    private final String kind;
    private final URI endpoint;
    private final String region;
    private final String accessKey;
    private final String secretKey;
    private final String bucket;
    private final S3Client admin;
    private final Stopper server;

    S3TestServer(String kind, URI endpoint, String region, String accessKey, String secretKey, Stopper server) {
        this.kind = kind;
        this.endpoint = endpoint;
        this.region = region;
        this.accessKey = accessKey;
        this.secretKey = secretKey;
        this.server = server;
        this.admin = S3Access.clientBuilder(endpoint, region, accessKey, secretKey)
                .httpClientBuilder(Apache5HttpClient.builder().maxConnections(8))
                .build();
        this.bucket = "anymap-test-" + ProcessHandle.current().pid();
        createBucket(bucket);
    }

    /** "s3proxy ..." or "MinIO ...", with the version or image. */
    String kind() {
        return kind;
    }

    URI endpoint() {
        return endpoint;
    }

    String region() {
        return region;
    }

    String accessKey() {
        return accessKey;
    }

    String secretKey() {
        return secretKey;
    }

    /** The bucket made for this test run. */
    String bucket() {
        return bucket;
    }

    S3Client admin() {
        return admin;
    }

    void createBucket(String name) {
        admin.createBucket(b -> b.bucket(name));
    }

    /** A key not used before in this run, readable in a server's listing. */
    static String uniqueKey(String name) {
        return "t" + NAMES.incrementAndGet() + "/" + name;
    }

    /** Stores {@code content} under a fresh key of the test bucket; returns its {@code s3://} URI. */
    URI put(String name, byte[] content) {
        String key = uniqueKey(name);
        admin.putObject(b -> b.bucket(bucket).key(key), RequestBody.fromBytes(content));
        return uri(key);
    }

    /** Replaces the object at {@code uri} with {@code content}. */
    void overwrite(URI uri, byte[] content) {
        admin.putObject(b -> b.bucket(bucket).key(key(uri)), RequestBody.fromBytes(content));
    }

    void delete(URI uri) {
        admin.deleteObject(b -> b.bucket(bucket).key(key(uri)));
    }

    /**
     * Stores {@code size} bytes of {@link GeneratedContent} with {@code seed} as a multipart upload of
     * parts of {@code partSize} bytes, two parts in flight at a time (hashing for SigV4 and the ETag is
     * what an upload to a loopback server waits for, on both cores); returns its {@code s3://} URI.
     */
    URI putMultipart(String name, long seed, long size, int partSize) throws Exception {
        String key = uniqueKey(name);
        String upload = admin.createMultipartUpload(b -> b.bucket(bucket).key(key)).uploadId();
        int count = (int) ((size + partSize - 1) / partSize);
        CompletedPart[] parts = new CompletedPart[count];
        ThreadLocal<byte[]> buffers = ThreadLocal.withInitial(() -> new byte[partSize]);
        try (ExecutorService uploaders = Executors.newFixedThreadPool(2)) {
            List<Future<?>> uploads = new ArrayList<>();
            for (int p = 0; p < count; p++) {
                int index = p;
                uploads.add(uploaders.submit(() -> {
                    long offset = (long) index * partSize;
                    int length = (int) Math.min(partSize, size - offset);
                    byte[] part = buffers.get();
                    GeneratedContent.fill(seed, offset, part, 0, length);
                    String etag = admin.uploadPart(b -> b.bucket(bucket).key(key).uploadId(upload).partNumber(index + 1),
                            RequestBody.fromContentProvider(() -> new ByteArrayInputStream(part, 0, length), length,
                                    "application/octet-stream")).eTag();
                    parts[index] = CompletedPart.builder().partNumber(index + 1).eTag(etag).build();
                    return null;
                }));
            }
            for (Future<?> future : uploads) {
                future.get();
            }
        }
        admin.completeMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(upload).multipartUpload(m -> m.parts(parts)));
        return uri(key);
    }

    /** The whole object at {@code uri}, read by the admin client. */
    byte[] get(URI uri) throws IOException {
        try (InputStream in = admin.getObject(b -> b.bucket(bucket).key(key(uri)))) {
            return in.readAllBytes();
        }
    }

    URI uri(String key) {
        return URI.create("s3://" + bucket + "/" + key);
    }

    private String key(URI uri) {
        return uri.getPath().substring(1);
    }

    /** The backend options that reach this server with its credentials. */
    Map<String, String> options() {
        return options(endpoint);
    }

    /** The backend options that reach this server through {@code via} (a proxy in front of it). */
    Map<String, String> options(URI via) {
        Map<String, String> options = new LinkedHashMap<>();
        options.put(S3Settings.ENDPOINT, via.toString());
        options.put(S3Settings.REGION, region);
        options.put(S3Settings.PATH_STYLE, "true");
        options.put(S3Settings.ACCESS_KEY_ID, accessKey);
        options.put(S3Settings.SECRET_ACCESS_KEY, secretKey);
        return options;
    }

    /** Stops the server behind an {@link S3TestServer}. */
    @FunctionalInterface
    interface Stopper {
        void stop() throws IOException;
    }

    @Override
    public void close() throws IOException {
        try {
            admin.close();
        } finally {
            server.stop();
        }
    }

    @Override
    public String toString() {
        return kind + " at " + endpoint;
    }
}
