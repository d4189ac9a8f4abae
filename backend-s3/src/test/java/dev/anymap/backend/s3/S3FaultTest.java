package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.backend.s3.FaultyProxy.Fault;
import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A server that throttles, drops connections, cuts bodies short or stalls, played by a
 * {@link FaultyProxy} in front of the real one: reads come back right after retries, or fail
 * cleanly, and never hand out wrong bytes.
 */
@ExtendWith(S3ServerExtension.class)
class S3FaultTest {
    private static final int SIZE = 600_000;
    private static S3TestServer server;
    private static byte[] content;
    private static URI uri;

    private FaultyProxy proxy;

    @BeforeAll
    static void store(S3TestServer s3) {
        server = s3;
        content = GeneratedContent.bytes(21, 0, SIZE);
        uri = server.put("faults.bin", content);
    }

    @BeforeEach
    void startProxy() throws IOException {
        proxy = new FaultyProxy(server.endpoint());
    }

    @AfterEach
    void stopProxy() throws IOException {
        proxy.close();
    }

    private static byte[] expected(long offset, int length) {
        return Arrays.copyOfRange(content, (int) offset, (int) offset + length);
    }

    @Test
    void throttlingAtOpenIsRetriedUntilTheServerRecovers() throws IOException {
        proxy.inject("GET", Fault.SLOW_DOWN, 2);
        try (StorageBackend backend = proxy.open(server, uri)) {
            assertEquals(SIZE, backend.size());
            assertEquals(2, proxy.faultsServed());
            assertEquals(3, proxy.requests().stream().filter(r -> r.startsWith("GET ")).count());
        }
    }

    @Test
    void throttledReadsAreRetriedUntilTheServerRecovers() throws IOException {
        try (StorageBackend backend = proxy.open(server, uri); Arena arena = Arena.ofConfined()) {
            proxy.inject("GET", Fault.SLOW_DOWN, 2);
            MemorySegment target = arena.allocate(256 * 1024);
            backend.read(1000, target);
            assertArrayEquals(expected(1000, 256 * 1024), target.toArray(ValueLayout.JAVA_BYTE));
            assertEquals(2, proxy.faultsServed());
            assertEquals(3, proxy.getsSinceOpen().size());
            assertEquals(List.of(503, 503, 206), proxy.statuses().subList(proxy.statuses().size() - 3, proxy.statuses().size()));
        }
    }

    @Test
    void aServerThatKeepsThrottlingFailsTheReadAfterMaxAttempts() throws IOException {
        try (StorageBackend backend = proxy.open(server, uri, S3Settings.MAX_ATTEMPTS, "2")) {
            proxy.inject("GET", Fault.SLOW_DOWN, 100);
            byte[] target = new byte[5000];
            IOException failed = assertThrows(IOException.class, () -> backend.read(300_000, MemorySegment.ofArray(target)));
            assertFalse(failed instanceof ObjectChangedException);
            assertTrue(failed.getMessage().contains(uri.toString()), failed.getMessage());
            assertTrue(failed.getMessage().contains("503"), failed.getMessage());
            assertEquals(2, proxy.getsSinceOpen().size(), "max-attempts=2");
            assertArrayEquals(new byte[5000], target, "nothing reached the target");
        }
    }

    @Test
    void aConnectionResetMidBodyIsResumedAndTheBytesAreRight() throws IOException {
        try (StorageBackend backend = proxy.open(server, uri); Arena arena = Arena.ofConfined()) {
            proxy.inject("GET", Fault.RESET_MID_BODY, 1);
            MemorySegment target = arena.allocate(400_000);
            backend.read(123, target);
            assertArrayEquals(expected(123, 400_000), target.toArray(ValueLayout.JAVA_BYTE));
            assertEquals(1, proxy.faultsServed());
            assertEquals(2, proxy.getsSinceOpen().size());
        }
    }

    @Test
    void aReadThatBeginsInTheBytesOfTheOpenAsksOnlyForWhatFollowsThem() throws IOException {
        try (StorageBackend backend = proxy.open(server, uri)) {
            byte[] target = new byte[300_000];
            backend.read(5000, MemorySegment.ofArray(target));
            assertArrayEquals(expected(5000, 300_000), target);
            List<String> gets = proxy.getsSinceOpen();
            assertEquals(1, gets.size());
            assertEquals("bytes=" + S3Backend.OPENING_BYTES + "-304999", FaultyProxy.header(gets.get(0), "Range"));
        }
    }

    @Test
    void aShortBodyIsResumedFromItsEndNeverZeroFilled() throws IOException {
        try (StorageBackend backend = proxy.open(server, uri)) {
            proxy.inject("GET", Fault.SHORT_BODY, 1);
            byte[] target = new byte[300_000];
            // Past the bytes that came with the open, which a read never asks for again.
            long offset = S3Backend.OPENING_BYTES + 5000;
            backend.read(offset, MemorySegment.ofArray(target));
            assertArrayEquals(expected(offset, 300_000), target);
            List<String> gets = proxy.getsSinceOpen();
            assertEquals(2, gets.size());
            assertEquals("bytes=" + offset + "-" + (offset + 299_999), FaultyProxy.header(gets.get(0), "Range"));
            // The first body brought exactly half; the second GET asks for the rest and only the rest.
            assertEquals("bytes=" + (offset + 150_000) + "-" + (offset + 299_999), FaultyProxy.header(gets.get(1), "Range"));
            assertEquals(backend.version().value(), FaultyProxy.header(gets.get(1), "If-Match"));
        }
    }

    @Test
    void bodiesThatAlwaysBreakFailTheReadCleanlyWithOnlyRightBytesInTheTarget() throws IOException {
        try (StorageBackend backend = proxy.open(server, uri, S3Settings.MAX_ATTEMPTS, "3")) {
            proxy.inject("GET", Fault.SHORT_BODY, 1);
            proxy.inject("GET", Fault.RESET_MID_BODY, 100);
            byte[] target = new byte[200_000];
            Arrays.fill(target, (byte) 0x5A);
            IOException failed = assertThrows(IOException.class, () -> backend.read(300_000, MemorySegment.ofArray(target)));
            assertTrue(failed.getMessage().contains(uri.toString()), failed.getMessage());
            assertTrue(failed.getMessage().contains("after 3 attempts"), failed.getMessage());
            assertEquals(3, proxy.getsSinceOpen().size());
            // What came in before the failure is the object's own bytes, and the rest is untouched.
            for (int i = 0; i < target.length; i++) {
                if (target[i] != content[300_000 + i] && target[i] != 0x5A) {
                    throw new AssertionError("byte " + i + " is " + target[i] + ": neither the object's nor the untouched one");
                }
            }
            assertArrayEquals(expected(300_000, 100_000), Arrays.copyOf(target, 100_000), "the half the short body brought");
        }
    }

    @Test
    void aStalledBodyTimesOutAndIsResumed() throws IOException {
        try (StorageBackend backend = proxy.open(server, uri, S3Settings.READ_TIMEOUT_MS, "400"); Arena arena = Arena.ofShared()) {
            proxy.inject("GET", Fault.STALL_MID_BODY, 1);
            MemorySegment target = arena.allocate(500_000);
            long start = System.nanoTime();
            assertTimeoutPreemptively(Duration.ofSeconds(30), () -> backend.read(50_000, target));
            long elapsedMillis = (System.nanoTime() - start) / 1_000_000;
            assertArrayEquals(expected(50_000, 500_000), target.toArray(ValueLayout.JAVA_BYTE));
            assertEquals(2, proxy.getsSinceOpen().size());
            assertTrue(elapsedMillis >= 400, "resumed after the 400 ms read timeout, not before: " + elapsedMillis + " ms");
        }
    }

    @Test
    void closingTheBackendAbortsAReadStalledInItsBody() throws Exception {
        StorageBackend backend = proxy.open(server, uri, S3Settings.READ_TIMEOUT_MS, "60000");
        proxy.inject("GET", Fault.STALL_MID_BODY, 1);
        byte[] target = new byte[400_000];
        CompletableFuture<IOException> failure = new CompletableFuture<>();
        Thread reader = Thread.ofPlatform().start(() -> {
            try {
                backend.read(0, MemorySegment.ofArray(target));
                failure.complete(null);
            } catch (IOException e) {
                failure.complete(e);
            } catch (RuntimeException | Error e) {
                failure.completeExceptionally(e);
            }
        });
        // The read is stalled once the proxy has served its fault (it sends half a body, then waits).
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            while (proxy.faultsServed() == 0) {
                Thread.onSpinWait();
            }
        });
        backend.close();
        IOException failed = failure.get(10, TimeUnit.SECONDS);
        assertInstanceOf(BackendClosedException.class, failed, "the read after close");
        reader.join(Duration.ofSeconds(1));
        assertFalse(reader.isAlive(), "the read still hangs after close");
    }
}
