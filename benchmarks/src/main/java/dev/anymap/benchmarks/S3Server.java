package dev.anymap.benchmarks;

import dev.anymap.s3server.EmbeddedS3;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CreateBucketRequest;

/**
 * The far end of the S3 benchmarks: s3proxy with objects kept as files, plus a {@link LatencyProxy}
 * in front of it for each round trip asked for. It runs in a process of its own, never in the JVM
 * that maps what it serves (see {@link RangeServer}).
 *
 * <p>This is the one class that names the S3 server ({@code EmbeddedS3}, from anymap-s3-server).
 *
 * <pre>S3Server CREDENTIALS_FILE BUCKET [ROUND_TRIP_MS...]</pre>
 * Creates BUCKET, writes the access key and the secret key (one a line) to CREDENTIALS_FILE, readable by
 * this user only, so that they never pass through a log or a command line; prints
 * {@code S3 ENDPOINT_PORT STORE_DIRECTORY PROXY_PORT...} (one proxy port per round trip, 0 meaning the
 * server itself) and serves until standard input closes.
 */
public final class S3Server {
    private S3Server() {}

    public static void main(String[] args) throws Exception {
        Path credentials = Path.of(args[0]);
        String bucket = args[1];
        try (EmbeddedS3 s3 = EmbeddedS3.start()) {
            try (S3Client client = s3.newClient()) {
                client.createBucket(CreateBucketRequest.builder().bucket(bucket).build());
            }
            writeOwnerOnly(credentials, s3.accessKey() + "\n" + s3.secretKey() + "\n");
            int port = s3.endpoint().getPort();
            StringBuilder line = new StringBuilder("S3 " + port + " " + s3.directory().toAbsolutePath());
            List<LatencyProxy> proxies = new ArrayList<>();
            for (int i = 2; i < args.length; i++) {
                long roundTrip = Long.parseLong(args[i]);
                if (roundTrip == 0) {
                    line.append(' ').append(port);
                } else {
                    LatencyProxy proxy = new LatencyProxy(port, roundTrip);
                    proxies.add(proxy);
                    line.append(' ').append(proxy.port());
                }
            }
            System.out.println(line);
            System.out.flush();
            while (System.in.read() >= 0) {
                // Until the benchmark that started this process closes its end.
            }
            for (LatencyProxy proxy : proxies) {
                proxy.close();
            }
        }
    }

    private static void writeOwnerOnly(Path file, String text) throws IOException {
        Files.deleteIfExists(file);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(file, text, StandardOpenOption.TRUNCATE_EXISTING);
    }
}
