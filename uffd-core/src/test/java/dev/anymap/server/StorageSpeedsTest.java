package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StorageSpeedsTest {
    private static final long MS = 1_000_000;

    @Test
    void readsStreamingAtOnceAddUpOverTheTimeAnyOfThemStreamed() {
        StorageSpeeds.Speed speed = new StorageSpeeds.Speed();
        speed.streamStarted(0);
        speed.streamStarted(5 * MS);
        speed.streamEnded(10 * MS, 8L << 20);
        speed.streamEnded(20 * MS, 8L << 20);
        speed.streamStarted(100 * MS);
        speed.streamEnded(104 * MS, 4L << 20);
        assertEquals((double) (20L << 20) / (24 * MS), speed.bytesPerNano(), 1e-9);
    }

    @Test
    void unknownUntilEnoughHasStreamed() {
        StorageSpeeds.Speed speed = new StorageSpeeds.Speed();
        speed.streamStarted(0);
        speed.streamEnded(MS, StorageSpeeds.Speed.ENOUGH_BYTES - 1);
        assertEquals(0, speed.bytesPerNano());
        speed.streamStarted(2 * MS);
        speed.streamEnded(3 * MS, 1);
        assertEquals((double) StorageSpeeds.Speed.ENOUGH_BYTES / (2 * MS), speed.bytesPerNano(), 1e-9);
    }

    @Test
    void aStorageThatSlowsDownIsSeenTo() {
        StorageSpeeds.Speed speed = new StorageSpeeds.Speed();
        long now = 0;
        // 4 GiB at 1 byte per ns, then 4 GiB at a tenth of that.
        for (int i = 0; i < 64; i++) {
            speed.streamStarted(now);
            speed.streamEnded(now += 64L << 20, 64L << 20);
        }
        for (int i = 0; i < 64; i++) {
            speed.streamStarted(now);
            speed.streamEnded(now += 640L << 20, 64L << 20);
        }
        assertTrue(speed.bytesPerNano() < 0.15, speed.bytesPerNano() + " bytes per ns");
    }

    @Test
    void objectsShareTheSpeedOfTheirStorage() {
        StorageSpeeds speeds = new StorageSpeeds();
        assertSame(speeds.of(URI.create("s3://bucket/a"), Map.of()), speeds.of(URI.create("s3://bucket/b/c"), Map.of()));
        assertNotSame(speeds.of(URI.create("s3://bucket/a"), Map.of()), speeds.of(URI.create("s3://other/a"), Map.of()));
        assertNotSame(speeds.of(URI.create("http://host:8080/a"), Map.of()), speeds.of(URI.create("http://host:8081/a"), Map.of()));
        assertSame(speeds.of(URI.create("s3://my_bucket/a"), Map.of()), speeds.of(URI.create("s3://my_bucket/b"), Map.of()));
        assertNotSame(speeds.of(URI.create("s3://my_bucket/a"), Map.of()), speeds.of(URI.create("s3://my_other_bucket/a"), Map.of()));
        assertSame(speeds.of(URI.create("mem:a?size=1"), Map.of()), speeds.of(URI.create("mem:b?size=2"), Map.of()));
        assertNotSame(speeds.of(URI.create("s3://bucket/a"), Map.of("endpoint", "http://near:9000")),
                speeds.of(URI.create("s3://bucket/a"), Map.of("endpoint", "http://far:9000")), "another way to the bucket");
        assertSame(speeds.of(URI.create("s3://bucket/a"), Map.of("endpoint", "http://near:9000", "region", "x")),
                speeds.of(URI.create("s3://bucket/b"), new java.util.LinkedHashMap<>(Map.of("region", "x", "endpoint", "http://near:9000"))));
    }
}
