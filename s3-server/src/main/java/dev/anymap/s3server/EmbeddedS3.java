package dev.anymap.s3server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.Properties;
import org.gaul.s3proxy.BlobStores;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.blobstore.BlobStore;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * An S3 server inside this JVM: s3proxy on 127.0.0.1 at a free port, objects kept as files under a
 * directory, requests authenticated with SigV4 against a fresh random key pair.
 *
 * <p>For tests of S3 clients. Never map an object it serves from the same JVM (the JVM freezes at
 * the first garbage collection): {@link S3ServerProcess} runs it in a child JVM for that. SLF4J's
 * DEBUG level must be off for {@code org.gaul} (s3proxy logs every byte it serves there).
 */
public final class EmbeddedS3 implements AutoCloseable {
    /** s3proxy accepts any region in a signature; this is the one clients are told to sign for. */
    public static final String REGION = "us-east-1";
    private static final long MAX_SINGLE_PUT = 5L << 30;

    private final S3Proxy proxy;
    private final BlobStore store;
    private final Path directory;
    private final boolean ownsDirectory;
    private final URI endpoint;
    private final String accessKey;
    private final String secretKey;

    private EmbeddedS3(S3Proxy proxy, BlobStore store, Path directory, boolean ownsDirectory, String accessKey,
            String secretKey) {
        this.proxy = proxy;
        this.store = store;
        this.directory = directory;
        this.ownsDirectory = ownsDirectory;
        this.endpoint = URI.create("http://127.0.0.1:" + proxy.getPort());
        this.accessKey = accessKey;
        this.secretKey = secretKey;
    }

    /** Starts a server that keeps its objects in a new temporary directory, deleted by {@link #close()}. */
    public static EmbeddedS3 start() throws Exception {
        return start(Files.createTempDirectory("anymap-s3-"), true);
    }

    /** Starts a server that keeps its objects in a new directory under {@code parent}, deleted by {@link #close()}. */
    public static EmbeddedS3 startTemporary(Path parent) throws Exception {
        return start(Files.createTempDirectory(parent, "anymap-s3-"), true);
    }

    /** Starts a server that keeps its objects under {@code directory} (one subdirectory per bucket). */
    public static EmbeddedS3 start(Path directory) throws Exception {
        return start(directory, false);
    }

    private static EmbeddedS3 start(Path directory, boolean ownsDirectory) throws Exception {
        return start(directory, ownsDirectory, S3Access.newAccessKey(), S3Access.newSecretKey());
    }

    static EmbeddedS3 start(Path directory, boolean ownsDirectory, String accessKey, String secretKey) throws Exception {
        Files.createDirectories(directory);
        Properties properties = new Properties();
        properties.setProperty("jclouds.filesystem.basedir", directory.toAbsolutePath().toString());
        BlobStore store = BlobStores.create("filesystem", properties);
        S3Proxy proxy = S3Proxy.builder()
                // Conditional writes as S3 makes them, atomic (see ConditionalWrites).
                .blobStore(new ConditionalWrites(store))
                .endpoint(URI.create("http://127.0.0.1:0"))
                .awsAuthentication(AuthenticationType.AWS_V4, accessKey, secretKey)
                // Single PUTs up to 5 GiB, as on S3 (s3proxy's own limit for unchunked ones is 128 MiB).
                .v4MaxNonChunkedRequestSize(MAX_SINGLE_PUT)
                .build();
        proxy.start();
        return new EmbeddedS3(proxy, store, directory, ownsDirectory, accessKey, secretKey);
    }

    /** {@code http://127.0.0.1:PORT}; buckets are addressed path-style. */
    public URI endpoint() {
        return endpoint;
    }

    /** The region a client signs its requests for. */
    public String region() {
        return REGION;
    }

    /** The access key this server accepts. */
    public String accessKey() {
        return accessKey;
    }

    /** The secret key this server accepts, which only a client of its own needs. */
    public String secretKey() {
        return secretKey;
    }

    /** The options with which the s3 backend reaches this server: {@code registry.open(uri, server.backendOptions())}. */
    public Map<String, String> backendOptions() {
        return S3Access.backendOptions(endpoint, REGION, accessKey, secretKey);
    }

    /** A new SDK client for this server, to create buckets and store objects; the caller closes it. */
    public S3Client newClient() {
        return S3Access.newClient(endpoint, REGION, accessKey, secretKey);
    }

    /** Where the objects are kept. */
    public Path directory() {
        return directory;
    }

    @Override
    public void close() throws IOException {
        try {
            proxy.stop();
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while stopping s3proxy", e);
        } catch (Exception e) {
            throw new IOException("could not stop s3proxy", e);
        } finally {
            store.close();
            if (ownsDirectory) {
                deleteTree(directory);
            }
        }
    }

    private static void deleteTree(Path root) {
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException failure) throws IOException {
                    Files.delete(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("could not delete the s3proxy directory " + root, e);
        }
    }
}
