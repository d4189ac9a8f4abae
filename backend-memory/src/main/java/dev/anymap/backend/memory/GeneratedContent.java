package dev.anymap.backend.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The content of generated {@code mem:} objects: each 8-byte word a mix of the seed and the word's
 * index, so any range can be rebuilt on its own, in any process, to the same bytes.
 */
final class GeneratedContent {
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private GeneratedContent() {}

    static MemoryObjects.Generator random(long seed) {
        return (offset, target) -> fill(seed, offset, target);
    }

    private static void fill(long seed, long offset, MemorySegment target) {
        long length = target.byteSize();
        long position = 0;
        while (position < length && ((offset + position) & 7) != 0) {
            target.set(ValueLayout.JAVA_BYTE, position, byteAt(seed, offset + position));
            position++;
        }
        for (; position + 8 <= length; position += 8) {
            target.set(WORD, position, word(seed, (offset + position) >>> 3));
        }
        for (; position < length; position++) {
            target.set(ValueLayout.JAVA_BYTE, position, byteAt(seed, offset + position));
        }
    }

    private static byte byteAt(long seed, long index) {
        return (byte) (word(seed, index >>> 3) >>> (8 * (index & 7)));
    }

    /** SplitMix64's finaliser: a fast bijection whose output passes as random. */
    private static long word(long seed, long index) {
        long z = seed + (index + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
