package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ChunkCutterTest {
    private static final int PAGE = RegionServer.PAGE;
    private static final int CHUNK = 4 * PAGE;

    private record Delivered(int chunk, byte[] bytes) {}

    @Test
    void handsOnEachChunkWholeWhateverPiecesTheBytesComeIn() {
        // Three and a bit chunks: the last ends inside a page.
        byte[] object = random(3 * CHUNK + PAGE + 100, 1);
        for (int piece : new int[] {1, 100, PAGE, CHUNK - 1, CHUNK, CHUNK + 1, object.length}) {
            List<Delivered> delivered = cut(object, 0, object.length, piece);
            assertEquals(4, delivered.size(), "pieces of " + piece);
            for (int c = 0; c < 3; c++) {
                assertEquals(c, delivered.get(c).chunk());
                assertArrayEquals(Arrays.copyOfRange(object, c * CHUNK, (c + 1) * CHUNK), delivered.get(c).bytes(), "chunk " + c);
            }
            byte[] last = delivered.get(3).bytes();
            assertEquals(2 * PAGE, last.length, "the last chunk is padded to whole pages");
            assertArrayEquals(Arrays.copyOfRange(object, 3 * CHUNK, object.length), Arrays.copyOf(last, PAGE + 100));
            assertArrayEquals(new byte[PAGE - 100], Arrays.copyOfRange(last, PAGE + 100, last.length), "zeros past the object's end");
        }
    }

    @Test
    void aStreamThatBreaksOffKeepsItsPartialChunkBackAndResumesAtItsStart() {
        byte[] object = random(4 * CHUNK, 2);
        try (Arena arena = Arena.ofConfined()) {
            ChunkCutter cutter = new ChunkCutter(arena.allocate(CHUNK, PAGE), CHUNK, object.length);
            List<Delivered> delivered = new ArrayList<>();
            cutter.start(1, (chunk, bytes) -> delivered.add(new Delivered(chunk, bytes.toArray(ValueLayout.JAVA_BYTE))));
            cutter.accept(MemorySegment.ofArray(Arrays.copyOfRange(object, CHUNK, 2 * CHUNK + 10)));
            assertEquals(1, delivered.size());
            assertEquals(2, cutter.nextChunk());
            assertEquals(2L * CHUNK, cutter.resumeOffset());

            cutter.start(cutter.nextChunk(), (chunk, bytes) -> delivered.add(new Delivered(chunk, bytes.toArray(ValueLayout.JAVA_BYTE))));
            cutter.accept(MemorySegment.ofArray(Arrays.copyOfRange(object, 2 * CHUNK, 4 * CHUNK)));
            assertEquals(List.of(1, 2, 3), delivered.stream().map(Delivered::chunk).toList());
            assertArrayEquals(Arrays.copyOfRange(object, 2 * CHUNK, 3 * CHUNK), delivered.get(1).bytes());
        }
    }

    private static List<Delivered> cut(byte[] object, int from, int to, int piece) {
        try (Arena arena = Arena.ofConfined()) {
            ChunkCutter cutter = new ChunkCutter(arena.allocate(CHUNK, PAGE), CHUNK, object.length);
            List<Delivered> delivered = new ArrayList<>();
            cutter.start(from / CHUNK, (chunk, bytes) -> delivered.add(new Delivered(chunk, bytes.toArray(ValueLayout.JAVA_BYTE))));
            for (int at = from; at < to; at += piece) {
                cutter.accept(MemorySegment.ofArray(Arrays.copyOfRange(object, at, Math.min(to, at + piece))));
            }
            return delivered;
        }
    }

    private static byte[] random(int length, long seed) {
        byte[] bytes = new byte[length];
        new SplittableRandom(seed).nextBytes(bytes);
        return bytes;
    }
}
