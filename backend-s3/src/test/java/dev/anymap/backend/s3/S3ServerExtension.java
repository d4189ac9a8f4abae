package dev.anymap.backend.s3;

import dev.anymap.s3server.EmbeddedS3;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Locale;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.MinIOContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * Gives every S3 test one real S3 server, started once for the whole test run and stopped at its end:
 * MinIO in a container where a Docker engine is available, otherwise s3proxy inside the test JVM
 * ({@link EmbeddedS3}). Tests take an {@link S3TestServer} parameter (in a {@code @BeforeAll} method
 * too) and run unchanged against either.
 *
 * <p>{@code -Danymap.s3.server=minio} or {@code =s3proxy} picks one whatever Docker says.
 */
final class S3ServerExtension implements ParameterResolver {
    static final String CHOICE_PROPERTY = "anymap.s3.server";

    /**
     * MinIO's community images left Docker Hub in September 2026; MinIO's own quay.io repository still
     * serves them. This is the last release published there (the later RELEASE.2025-10-15T17-29-55Z
     * security fix shipped as source only).
     */
    static final String MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z";

    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(S3ServerExtension.class);

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == S3TestServer.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) throws ParameterResolutionException {
        // The root store lives as long as the test run and closes the server (an AutoCloseable) at its end.
        return context.getRoot().getStore(NAMESPACE).getOrComputeIfAbsent(S3TestServer.class, type -> start(), S3TestServer.class);
    }

    /** Which server this run uses: the property if set, else MinIO exactly when Docker answers. */
    static String choice() {
        String chosen = System.getProperty(CHOICE_PROPERTY, "auto").toLowerCase(Locale.ROOT);
        return switch (chosen) {
            case "minio", "s3proxy" -> chosen;
            case "auto" -> dockerAvailable() ? "minio" : "s3proxy";
            default -> throw new IllegalArgumentException(CHOICE_PROPERTY + " is minio, s3proxy or auto, not " + chosen);
        };
    }

    static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError noDocker) {
            return false;
        }
    }

    private static S3TestServer start() {
        try {
            return choice().equals("minio") ? startMinio() : startS3Proxy();
        } catch (Exception e) {
            throw new ParameterResolutionException("could not start the S3 server for the tests", e);
        }
    }

    private static S3TestServer startS3Proxy() throws Exception {
        EmbeddedS3 server = EmbeddedS3.startTemporary(scratchParent());
        try {
            return new S3TestServer("s3proxy " + packageVersion(org.gaul.s3proxy.S3Proxy.class) + " (in this JVM, filesystem store)",
                    server.endpoint(), server.region(), server.accessKey(), server.secretKey(), server::close);
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
    }

    @SuppressWarnings("resource") // closed through the S3TestServer
    private static S3TestServer startMinio() {
        String user = "anymap" + random(4);
        String password = random(16);
        MinIOContainer minio = new MinIOContainer(DockerImageName.parse(MINIO_IMAGE).asCompatibleSubstituteFor("minio/minio"))
                .withUserName(user)
                .withPassword(password);
        minio.start();
        try {
            return new S3TestServer("MinIO " + MINIO_IMAGE + " (Testcontainers)", java.net.URI.create(minio.getS3URL()),
                    "us-east-1", user, password, minio::stop);
        } catch (RuntimeException e) {
            minio.stop();
            throw e;
        }
    }

    /**
     * Where s3proxy keeps the objects: in memory (tmpfs) where there is room, since the large-object test
     * writes gigabytes, and on a disk those outrun the page cache and upload at the disk's pace.
     */
    private static Path scratchParent() throws IOException {
        Path shm = Path.of("/dev/shm");
        if (Files.isDirectory(shm) && Files.isWritable(shm) && Files.getFileStore(shm).getUsableSpace() > 8L << 30) {
            return shm;
        }
        return Path.of(System.getProperty("java.io.tmpdir"));
    }

    private static String packageVersion(Class<?> type) {
        String version = type.getPackage().getImplementationVersion();
        return version == null ? "" : version;
    }

    private static String random(int bytes) {
        byte[] random = new byte[bytes];
        new SecureRandom().nextBytes(random);
        return HexFormat.of().formatHex(random);
    }
}
