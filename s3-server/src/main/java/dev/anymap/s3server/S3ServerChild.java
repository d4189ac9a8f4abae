package dev.anymap.s3server;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;

/**
 * The main class of the child JVM that {@link S3ServerProcess} starts: an {@link EmbeddedS3} with the
 * key pair the parent put in the environment, announced on standard output, and stopped when
 * standard input reaches its end (the parent closed it, or died).
 */
final class S3ServerChild {
    static final String READY = "anymap-s3-server ready at ";
    static final String ACCESS_KEY_VARIABLE = "ANYMAP_S3_SERVER_ACCESS_KEY";
    static final String SECRET_KEY_VARIABLE = "ANYMAP_S3_SERVER_SECRET_KEY";

    private S3ServerChild() {}

    /** One argument: the directory under which to make the (temporary) object directory. */
    static void main(String[] args) throws Exception {
        String accessKey = System.getenv(ACCESS_KEY_VARIABLE);
        String secretKey = System.getenv(SECRET_KEY_VARIABLE);
        if (accessKey == null || secretKey == null || args.length != 1) {
            System.err.println("started by S3ServerProcess only: needs " + ACCESS_KEY_VARIABLE + " and " + SECRET_KEY_VARIABLE
                    + " in the environment and a parent directory as the argument");
            System.exit(2);
        }
        Path directory = java.nio.file.Files.createTempDirectory(Path.of(args[0]), "anymap-s3-");
        try (EmbeddedS3 server = EmbeddedS3.start(directory, true, accessKey, secretKey)) {
            System.out.println(READY + server.endpoint());
            System.out.flush();
            awaitEndOf(System.in);
        }
        System.exit(0); // s3proxy's Jetty leaves non-daemon threads behind
    }

    private static void awaitEndOf(InputStream in) {
        byte[] ignored = new byte[256];
        try {
            while (in.read(ignored) >= 0) {
                // the parent writes nothing; only the end matters
            }
        } catch (IOException e) {
            // a broken pipe is an end too
        }
    }
}
