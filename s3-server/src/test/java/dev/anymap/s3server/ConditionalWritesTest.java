package dev.anymap.s3server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Exception;

/** Conditional writes of the test server, as S3 makes them: checked and applied as one step. */
class ConditionalWritesTest {
    private static final String BUCKET = "conditional";
    private static final int WRITERS = 4;
    private static EmbeddedS3 server;
    private static S3Client client;

    @BeforeAll
    static void start() throws Exception {
        server = EmbeddedS3.start();
        client = server.newClient();
        client.createBucket(b -> b.bucket(BUCKET));
    }

    @AfterAll
    static void stop() throws Exception {
        client.close();
        server.close();
    }

    private static byte[] content(int seed, int size) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static String put(String key, byte[] content) {
        return client.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromBytes(content)).eTag();
    }

    private static byte[] get(String key) {
        return client.getObjectAsBytes(b -> b.bucket(BUCKET).key(key)).asByteArray();
    }

    /**
     * s3proxy alone checks If-Match before it reads the body: writers that start together all pass the
     * check while the first body is still arriving, and all succeed. Bodies of several MiB keep them
     * all in that window.
     */
    @Test
    void ofWritersRacingWithIfMatchOnOneVersionExactlyOneWinsAndTheObjectIsItsBytes() throws Exception {
        String key = "race-put";
        String base = put(key, content(0, 1000));
        byte[][] bodies = new byte[WRITERS][];
        for (int w = 0; w < WRITERS; w++) {
            bodies[w] = content(w + 1, 6 << 20);
        }
        CyclicBarrier start = new CyclicBarrier(WRITERS);
        List<Future<String>> results = new ArrayList<>();
        try (ExecutorService writers = Executors.newFixedThreadPool(WRITERS)) {
            for (int w = 0; w < WRITERS; w++) {
                byte[] body = bodies[w];
                results.add(writers.submit(() -> {
                    start.await();
                    try {
                        client.putObject(b -> b.bucket(BUCKET).key(key).ifMatch(base), RequestBody.fromBytes(body));
                        return "won";
                    } catch (S3Exception e) {
                        return "HTTP " + e.statusCode();
                    }
                }));
            }
        }
        List<String> outcomes = new ArrayList<>();
        int winner = -1;
        for (int w = 0; w < WRITERS; w++) {
            outcomes.add(results.get(w).get());
            if (outcomes.get(w).equals("won")) {
                winner = w;
            }
        }
        assertEquals(1, outcomes.stream().filter("won"::equals).count(), "outcomes " + outcomes);
        assertEquals(WRITERS - 1, outcomes.stream().filter("HTTP 412"::equals).count(), "outcomes " + outcomes);
        assertArrayEquals(bodies[winner], get(key));
    }

    @Test
    void ifNoneMatchStarRefusesAKeyThatExistsAndCreatesOneThatDoesNot() {
        String key = "create";
        byte[] first = content(20, 5000);
        client.putObject(b -> b.bucket(BUCKET).key(key).ifNoneMatch("*"), RequestBody.fromBytes(first));
        S3Exception refused = assertThrows(S3Exception.class,
                () -> client.putObject(b -> b.bucket(BUCKET).key(key).ifNoneMatch("*"), RequestBody.fromBytes(content(21, 5000))));
        assertEquals(412, refused.statusCode());
        assertArrayEquals(first, get(key));
    }

    @Test
    void ifMatchOnAKeyThatDoesNotExistIs404AndStoresNothing() {
        S3Exception refused = assertThrows(S3Exception.class, () -> client.putObject(
                b -> b.bucket(BUCKET).key("absent").ifMatch("\"0123456789abcdef0123456789abcdef\""), RequestBody.fromBytes(new byte[10])));
        assertEquals(404, refused.statusCode());
        assertThrows(S3Exception.class, () -> client.headObject(b -> b.bucket(BUCKET).key("absent")));
    }
}
