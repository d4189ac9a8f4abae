package dev.anymap.backend.file;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;

/**
 * Cuts a {@link MemorySegment} into {@link ByteBuffer} pieces that a channel can fill or drain, so that
 * a native target is read into in place.
 *
 * <p>A native piece can be up to 1 GiB (a ByteBuffer holds at most 2 GiB). A heap piece is at most
 * 1 MiB: the JDK moves heap buffers through a temporary direct buffer as large as the buffer, and
 * keeps it per thread, so a large heap piece would leave that much native memory behind in every
 * reading thread. A heap segment over anything but a byte[] cannot be viewed as a ByteBuffer, and goes
 * through a byte[] of its own.
 */
final class SegmentPieces {
    private static final long NATIVE_PIECE = 1L << 30;
    private static final int HEAP_PIECE = 1 << 20;

    private SegmentPieces() {}

    /** Moves all of {@code piece} to or from the object, at {@code position}. */
    @FunctionalInterface
    interface Transfer {
        void fully(long position, ByteBuffer piece) throws IOException;
    }

    /** Fills {@code target} with the object's bytes from {@code position} on. */
    static void fill(MemorySegment target, long position, Transfer read) throws IOException {
        if (target.isReadOnly()) {
            throw new IllegalArgumentException("the target segment is read-only");
        }
        long length = target.byteSize();
        if (viewable(target)) {
            long pieceSize = target.isNative() ? NATIVE_PIECE : HEAP_PIECE;
            for (long done = 0; done < length; ) {
                long piece = Math.min(pieceSize, length - done);
                read.fully(position + done, target.asSlice(done, piece).asByteBuffer());
                done += piece;
            }
            return;
        }
        byte[] bounce = new byte[(int) Math.min(HEAP_PIECE, length)];
        for (long done = 0; done < length; ) {
            int piece = (int) Math.min(bounce.length, length - done);
            read.fully(position + done, ByteBuffer.wrap(bounce, 0, piece));
            MemorySegment.copy(bounce, 0, target, ValueLayout.JAVA_BYTE, done, piece);
            done += piece;
        }
    }

    /** Stores all of {@code source} in the object from {@code position} on. */
    static void drain(MemorySegment source, long position, Transfer write) throws IOException {
        long length = source.byteSize();
        if (viewable(source)) {
            long pieceSize = source.isNative() ? NATIVE_PIECE : HEAP_PIECE;
            for (long done = 0; done < length; ) {
                long piece = Math.min(pieceSize, length - done);
                write.fully(position + done, source.asSlice(done, piece).asByteBuffer());
                done += piece;
            }
            return;
        }
        byte[] bounce = new byte[(int) Math.min(HEAP_PIECE, length)];
        for (long done = 0; done < length; ) {
            int piece = (int) Math.min(bounce.length, length - done);
            MemorySegment.copy(source, ValueLayout.JAVA_BYTE, done, bounce, 0, piece);
            write.fully(position + done, ByteBuffer.wrap(bounce, 0, piece));
            done += piece;
        }
    }

    private static boolean viewable(MemorySegment segment) {
        return segment.isNative() || segment.heapBase().map(base -> base instanceof byte[]).orElse(false);
    }
}
