package dev.anymap.backend.s3;

/**
 * Object content that is a pure function of (seed, offset): an object of gigabytes can be uploaded
 * part by part and any range of it checked, without holding it anywhere. Each 8-byte word is the
 * SplitMix64 finaliser of its index mixed with the seed, so that no two words, ranges or objects of
 * different seeds look alike and a read from the wrong offset cannot pass for the right one.
 */
final class GeneratedContent {
    private GeneratedContent() {}

    static byte byteAt(long seed, long offset) {
        return (byte) (word(seed, offset >>> 3) >>> ((offset & 7) * 8));
    }

    static byte[] bytes(long seed, long offset, int length) {
        byte[] bytes = new byte[length];
        fill(seed, offset, bytes, 0, length);
        return bytes;
    }

    static void fill(long seed, long offset, byte[] into, int at, int length) {
        int i = 0;
        // Leading bytes up to a word boundary, whole words, then the trailing bytes.
        while (i < length && ((offset + i) & 7) != 0) {
            into[at + i] = byteAt(seed, offset + i);
            i++;
        }
        while (length - i >= 8) {
            long word = word(seed, (offset + i) >>> 3);
            for (int b = 0; b < 8; b++) {
                into[at + i + b] = (byte) (word >>> (b * 8));
            }
            i += 8;
        }
        while (i < length) {
            into[at + i] = byteAt(seed, offset + i);
            i++;
        }
    }

    private static long word(long seed, long index) {
        long z = index * 0x9E3779B97F4A7C15L + seed;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
