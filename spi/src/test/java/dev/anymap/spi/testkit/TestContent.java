package dev.anymap.spi.testkit;

import java.util.SplittableRandom;

/** Reference bytes for backend tests: deterministic in the seed, and unrelated to any backend's own generator. */
public final class TestContent {
    private TestContent() {}

    public static byte[] random(long seed, int size) {
        byte[] bytes = new byte[size];
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < size; i++) {
            bytes[i] = (byte) random.nextInt(256);
        }
        return bytes;
    }
}
