package dev.anymap.backend.s3;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.Properties;
import org.gaul.s3proxy.BlobStores;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.blobstore.BlobStore;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * An S3 server inside this JVM: s3proxy on 127.0.0.1 at a free port, objects kept as files under a
 * directory, requests authenticated with SigV4 against a fresh random key pair.
 *
 * <p>Made for tests, and for a demo that wants {@code s3://} without a cloud account: it lives in
 * the test jar of anymap-backend-s3 so that s3proxy stays out of the backend's own dependencies. A
 * caller needs {@code org.gaul:s3proxy} and {@code com.fasterxml.jackson.core:jackson-annotations}
 * 2.22 on its class path, and SLF4J's DEBUG level off for {@code org.gaul} (s3proxy logs every byte
 * it serves there).
 */
public final class EmbeddedS3 implements AutoCloseable {
    /** s3proxy accepts any region in a signature; this is the one clients are told to sign for. */
    public static final String REGION = "us-east-1";

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
        Files.createDirectories(directory);
        Properties properties = new Properties();
        properties.setProperty("jclouds.filesystem.basedir", directory.toAbsolutePath().toString());
        BlobStore store = BlobStores.create("filesystem", properties);
        String accessKey = "anymap" + randomHex(6);
        String secretKey = randomHex(20);
        S3Proxy proxy = S3Proxy.builder()
                .blobStore(store)
                .endpoint(URI.create("http://127.0.0.1:0"))
                .awsAuthentication(AuthenticationType.AWS_V4, accessKey, secretKey)
                .build();
        proxy.start();
        return new EmbeddedS3(proxy, store, directory, ownsDirectory, accessKey, secretKey);
    }

    private static String randomHex(int bytes) {
        byte[] random = new byte[bytes];
        new SecureRandom().nextBytes(random);
        return HexFormat.of().formatHex(random);
    }

    /** {@code http://127.0.0.1:PORT}; buckets are addressed path-style. */
    public URI endpoint() {
        return endpoint;
    }

    public String region() {
        return REGION;
    }

    public String accessKey() {
        return accessKey;
    }

    public String secretKey() {
        return secretKey;
    }

    /** The options with which the s3 backend reaches this server: {@code registry.open(uri, server.backendOptions())}. */
    public Map<String, String> backendOptions() {
        return Map.of(
                S3Settings.ENDPOINT, endpoint.toString(),
                S3Settings.REGION, REGION,
                S3Settings.PATH_STYLE, "true",
                S3Settings.ACCESS_KEY_ID, accessKey,
                S3Settings.SECRET_ACCESS_KEY, secretKey);
    }

    /** A new SDK client for this server, to create buckets and store objects; the caller closes it. */
    public S3Client newClient() {
        return S3Client.builder()
                .httpClientBuilder(Apache5HttpClient.builder())
                .endpointOverride(endpoint)
                .forcePathStyle(true)
                .region(Region.of(REGION))
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKey, secretKey)))
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .build();
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
