package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * An object of a gigabyte, stored with a multipart upload and checked range by range, and by eight
 * concurrent readers, against content generated from its offsets.
 *
 * <p>The size is {@value #DEFAULT_SIZE} bytes unless {@code -Danymap.s3.large-object-bytes} says
 * otherwise. The issue asks for 5 GiB; the upload to s3proxy runs at about 120 MB/s on the two-core CI
 * machine (the server's MD5 and file writes, not the network), so 5 GiB would cost some 45 s of a
 * 90 s test budget, and 1 GiB costs 5 to 9 s. Run
 * {@code ./mvnw -pl backend-s3 install -Dtest=S3LargeObjectTest -Danymap.s3.large-object-bytes=5368721465}
 * for offsets past 2^31 and 2^32.
 */
@ExtendWith(S3ServerExtension.class)
class S3LargeObjectTest {
    static final long DEFAULT_SIZE = (1L << 30) + 12_345;
    private static final int PART = 64 * 1024 * 1024;
    private static final long SEED = 0x5EED_0F_B16L;

    private static S3TestServer server;
    private static URI uri;
    private static long size;

    @BeforeAll
    static void upload(S3TestServer s3) throws Exception {
        server = s3;
        size = Long.getLong("anymap.s3.large-object-bytes", DEFAULT_SIZE);
        long start = System.nanoTime();
        uri = server.putMultipart("large.bin", SEED, size, PART);
        System.out.printf("uploaded %d bytes in %d parts to %s in %.1f s%n", size, (size + PART - 1) / PART, server.kind(),
                (System.nanoTime() - start) / 1e9);
    }

    @Test
    void readsAroundThePartBoundariesAndTheEnd() throws Exception {
        try (StorageBackend backend = BackendRegistry.load().open(uri, server.options()); Arena arena = Arena.ofConfined()) {
            assertEquals(size, backend.size());
            List<Long> offsets = new ArrayList<>(List.of(0L, size - 1, size - 4096 - 17));
            for (long boundary = PART; boundary < size; boundary += PART) {
                offsets.add(boundary - 3);
            }
            for (long boundary : new long[] {1L << 31, 1L << 32}) {
                if (boundary + 10 < size) {
                    offsets.add(boundary - 5);
                }
            }
            for (long offset : offsets) {
                int length = (int) Math.min(256 * 1024, size - offset);
                MemorySegment target = arena.allocate(length);
                backend.read(offset, target);
                assertArrayEquals(GeneratedContent.bytes(SEED, offset, length), target.toArray(ValueLayout.JAVA_BYTE),
                        "bytes at offset " + offset);
            }
            assertThrows(OutOfRangeException.class, () -> backend.read(size - 1, MemorySegment.ofArray(new byte[2])));
        }
    }

    @Test
    void eightFetchWorkersReadingChunksAllOverIt() throws Exception {
        int chunk = 1 << 20;
        try (StorageBackend backend = BackendRegistry.load().open(uri, server.options());
                ExecutorService workers = Executors.newFixedThreadPool(8)) {
            List<Future<?>> done = new ArrayList<>();
            for (int w = 0; w < 8; w++) {
                int worker = w;
                done.add(workers.submit(() -> {
                    SplittableRandom random = new SplittableRandom(worker);
                    try (Arena arena = Arena.ofConfined()) {
                        MemorySegment target = arena.allocate(chunk);
                        for (int i = 0; i < 16; i++) {
                            long offset = random.nextLong(size / chunk) * chunk;
                            backend.read(offset, target);
                            assertArrayEquals(GeneratedContent.bytes(SEED, offset, chunk), target.toArray(ValueLayout.JAVA_BYTE),
                                    "chunk at offset " + offset);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> future : done) {
                future.get(60, TimeUnit.SECONDS);
            }
        }
    }
}
