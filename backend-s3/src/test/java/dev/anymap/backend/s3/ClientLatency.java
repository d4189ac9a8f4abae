package dev.anymap.backend.s3;

import dev.anymap.s3server.EmbeddedS3;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

/**
 * The measurement behind the backend's choice of HTTP client: the median latency of ranged GETs of
 * 256 KiB from s3proxy on loopback, one thread and then eight at once, for every sync HTTP client of
 * the SDK on the class path, each read into native memory as the backend reads.
 *
 * <pre>
 * ./mvnw -q -pl backend-s3 test-compile exec:java -Pclient-latency \
 *     -Dexec.classpathScope=test -Dexec.mainClass=dev.anymap.backend.s3.ClientLatency
 * </pre>
 *
 * The CRT client is only published up to SDK 2.54.13; to include it, add
 * {@code -Pclient-latency,client-latency-crt -Daws-sdk.version=2.54.13}. Not a test: it asserts
 * nothing and takes a minute.
 */
public final class ClientLatency {
    private static final int CHUNK = 256 * 1024;
    private static final int OBJECT = 64 * 1024 * 1024;
    private static final int WARMUP = 1500;
    private static final int MEASURED = 1000;
    private static final int THREADS = 8;

    private static final List<String[]> CANDIDATES = List.of(
            new String[] {"apache5", "software.amazon.awssdk.http.apache5.Apache5HttpClient", "maxConnections"},
            new String[] {"apache", "software.amazon.awssdk.http.apache.ApacheHttpClient", "maxConnections"},
            new String[] {"url-connection", "software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient", null},
            new String[] {"crt", "software.amazon.awssdk.http.crt.AwsCrtHttpClient", "maxConcurrency"});

    private ClientLatency() {}

    public static void main(String[] args) throws Exception {
        try (EmbeddedS3 server = EmbeddedS3.start()) {
            byte[] content = new byte[OBJECT];
            new SplittableRandom(42).nextBytes(content);
            try (S3Client admin = server.newClient()) {
                admin.createBucket(b -> b.bucket("latency"));
                admin.putObject(b -> b.bucket("latency").key("object"), RequestBody.fromBytes(content));
            }
            System.out.printf(Locale.ROOT, "%d ranged GETs of %d KiB per client and round after %d warm-up ones per client, s3proxy on loopback, JDK %s%n",
                    MEASURED, CHUNK / 1024, WARMUP, Runtime.version());
            // s3proxy's own JIT warm-up takes thousands of requests and would otherwise be charged to whichever
            // client runs first: every client warms it up, and itself, before anything is measured.
            for (String[] candidate : CANDIDATES) {
                try (S3Client client = client(server, buildHttpClient(candidate))) {
                    for (int i = 0; i < WARMUP; i++) {
                        get(client, i, content);
                    }
                } catch (ClassNotFoundException absent) {
                    // not on the class path: see the profiles in the pom
                }
            }
            // Three rounds, each in a different order, so that no client is favoured by running first into a
            // cold JIT or page cache; the summary is the median of each client's three round medians.
            Map<String, List<double[]>> results = new LinkedHashMap<>();
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < CANDIDATES.size(); i++) {
                    String[] candidate = CANDIDATES.get((i + round) % CANDIDATES.size());
                    SdkHttpClient http;
                    try {
                        http = buildHttpClient(candidate);
                    } catch (ClassNotFoundException absent) {
                        continue;
                    }
                    try (S3Client client = client(server, http)) {
                        results.computeIfAbsent(candidate[0], k -> new ArrayList<>()).add(measure(round + 1, candidate[0], client, content));
                    }
                }
            }
            System.out.println("median of the round medians:");
            results.forEach((name, rounds) -> System.out.printf(Locale.ROOT, "  %-15s 1 thread: %6.0f us | %d threads: %6.0f us%n",
                    name, middle(rounds, 0), THREADS, middle(rounds, 1)));
        }
    }

    private static double middle(List<double[]> rounds, int column) {
        double[] values = rounds.stream().mapToDouble(r -> r[column]).sorted().toArray();
        return values[values.length / 2];
    }

    private static double[] measure(int round, String name, S3Client client, byte[] content) throws Exception {
        for (int i = 0; i < 100; i++) {
            get(client, i, content);
        }
        long[] single = new long[MEASURED];
        for (int i = 0; i < MEASURED; i++) {
            single[i] = get(client, WARMUP + i, content);
        }
        long[] parallel = new long[MEASURED];
        try (ExecutorService pool = Executors.newFixedThreadPool(THREADS)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int thread = t;
                futures.add(pool.submit(() -> {
                    for (int i = thread; i < MEASURED; i += THREADS) {
                        parallel[i] = get(client, 10_000 + i, content);
                    }
                    return null;
                }));
            }
            for (Future<?> future : futures) {
                future.get();
            }
        }
        System.out.printf(Locale.ROOT, "round %d %-15s 1 thread: median %6.0f us p90 %6.0f us | %d threads: median %6.0f us p90 %6.0f us%n",
                round, name, percentile(single, 50), percentile(single, 90), THREADS, percentile(parallel, 50), percentile(parallel, 90));
        return new double[] {percentile(single, 50), percentile(parallel, 50)};
    }

    /** One ranged GET into native memory, checked against the content; returns its latency in ns. */
    private static long get(S3Client client, int index, byte[] content) throws Exception {
        int offset = new SplittableRandom(index).nextInt(OBJECT / CHUNK) * CHUNK;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment target = arena.allocate(CHUNK);
            byte[] buffer = new byte[64 * 1024];
            long start = System.nanoTime();
            try (ResponseInputStream<GetObjectResponse> body = client.getObject(
                    b -> b.bucket("latency").key("object").range("bytes=" + offset + "-" + (offset + CHUNK - 1)))) {
                int filled = 0;
                while (filled < CHUNK) {
                    int n = body.read(buffer, 0, Math.min(buffer.length, CHUNK - filled));
                    if (n < 0) {
                        throw new IllegalStateException("short body");
                    }
                    MemorySegment.copy(buffer, 0, target, ValueLayout.JAVA_BYTE, filled, n);
                    filled += n;
                }
            }
            long elapsed = System.nanoTime() - start;
            if (!Arrays.equals(target.toArray(ValueLayout.JAVA_BYTE), Arrays.copyOfRange(content, offset, offset + CHUNK))) {
                throw new IllegalStateException("wrong bytes at " + offset);
            }
            return elapsed;
        }
    }

    private static double percentile(long[] nanos, int percent) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        return sorted[Math.min(sorted.length - 1, sorted.length * percent / 100)] / 1_000.0;
    }

    private static SdkHttpClient buildHttpClient(String[] candidate) throws Exception {
        Object builder = Class.forName(candidate[1]).getMethod("builder").invoke(null);
        if (candidate[2] != null) {
            for (Method method : builder.getClass().getMethods()) {
                if (method.getName().equals(candidate[2]) && method.getParameterCount() == 1) {
                    method.setAccessible(true);
                    method.invoke(builder, 16);
                    break;
                }
            }
        }
        Method build = builder.getClass().getMethod("build");
        build.setAccessible(true);
        return (SdkHttpClient) build.invoke(builder);
    }

    private static S3Client client(EmbeddedS3 server, SdkHttpClient http) {
        return S3Client.builder()
                .httpClient(http)
                .endpointOverride(server.endpoint())
                .forcePathStyle(true)
                .region(Region.of(server.region()))
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey())))
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .overrideConfiguration(o -> o.apiCallAttemptTimeout(Duration.ofSeconds(30)))
                .build();
    }
}
