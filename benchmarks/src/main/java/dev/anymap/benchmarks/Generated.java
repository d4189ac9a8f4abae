package dev.anymap.benchmarks;

import dev.anymap.backend.memory.MemoryObjects;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** The bytes of generated objects ({@code mem:} and {@link GeneratedObjectServer}), computed on their own: the independent source. */
final class Generated {
    private Generated() {}

    static byte byteAt(long seed, long offset) {
        byte[] one = new byte[1];
        MemoryObjects.generatedContent(seed).fill(offset, MemorySegment.ofArray(one));
        return one[0];
    }

    /** What {@link Workloads#scan} returns for the object of {@code size} bytes of {@code seed}. */
    static long scanSum(long seed, long size) {
        long sum = 0;
        for (long offset = 0; offset < size; offset += 1 << 20) {
            sum += byteAt(seed, offset) + byteAt(seed, Math.min(size, offset + (1 << 20)) - 1);
        }
        return sum;
    }

    /** Sum of the first byte of every 4 KiB page, as a page-by-page touch reads them. */
    static long pageSum(long seed, long size) {
        long sum = 0;
        for (long offset = 0; offset < size; offset += Workloads.PAGE) {
            sum += byteAt(seed, offset);
        }
        return sum;
    }

    /** Checks {@code count} pages at random of {@code memory} against the generated object of {@code seed}. */
    static void checkPages(MemorySegment memory, long seed, int count, long randomSeed) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(randomSeed);
        for (int i = 0; i < count; i++) {
            long offset = random.nextLong(memory.byteSize());
            if (memory.get(ValueLayout.JAVA_BYTE, offset) != byteAt(seed, offset)) {
                throw new IllegalStateException("the mapped byte at " + offset + " differs from the generated one of seed " + seed);
            }
        }
    }
}
