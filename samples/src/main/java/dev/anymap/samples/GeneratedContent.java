package dev.anymap.samples;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** {@code size} pseudo-random bytes from a seed, generated as they are read: an upload of any size in 64 KiB of heap. */
final class GeneratedContent extends InputStream {
    private final SplittableRandom random;
    private final long size;
    private final ByteBuffer block = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN).limit(0);
    private long position;

    GeneratedContent(long seed, long size) {
        this.random = new SplittableRandom(seed);
        this.size = size;
    }

    @Override
    public int read(byte[] into, int offset, int length) {
        if (position == size) {
            return -1;
        }
        if (!block.hasRemaining()) {
            block.clear();
            while (block.hasRemaining()) {
                block.putLong(random.nextLong());
            }
            block.flip();
        }
        int count = (int) Math.min(Math.min(length, block.remaining()), size - position);
        block.get(into, offset, count);
        position += count;
        return count;
    }

    @Override
    public int read() {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }
}
