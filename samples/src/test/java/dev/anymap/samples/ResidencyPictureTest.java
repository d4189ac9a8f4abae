package dev.anymap.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.Point;
import java.awt.image.BufferedImage;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ResidencyPictureTest {
    private static final int CHUNK = 256 << 10;

    @BeforeAll
    static void headless() {
        System.setProperty("java.awt.headless", "true");
    }

    @Test
    void chunksBroughtAheadAreDrawnApartFromTouchedAndFromNotResidentOnes() {
        int[] trace = {10, 3, 500};
        int[] resident = {3, 10, 11, 12, 13, 14, 15, 500};
        ResidencyPicture picture = new ResidencyPicture("mem:x", 1L << 30, CHUNK, trace, resident);
        BufferedImage image = picture.draw();
        assertEquals(ResidencyPicture.BROUGHT_AHEAD, colourOf(image, picture, 11));
        assertEquals(ResidencyPicture.BROUGHT_AHEAD, colourOf(image, picture, 15));
        assertEquals(ResidencyPicture.NOT_RESIDENT, colourOf(image, picture, 16));
        assertEquals(ResidencyPicture.NOT_RESIDENT, colourOf(image, picture, 4095), "the last chunk");
        assertEquals(ResidencyPicture.touchedAt(0), colourOf(image, picture, 10), "first touched");
        assertEquals(ResidencyPicture.touchedAt(0.5), colourOf(image, picture, 3));
        assertEquals(ResidencyPicture.touchedAt(1), colourOf(image, picture, 500), "last touched");
        for (int chunk : trace) {
            assertNotEquals(ResidencyPicture.BROUGHT_AHEAD, colourOf(image, picture, chunk));
            assertNotEquals(ResidencyPicture.NOT_RESIDENT, colourOf(image, picture, chunk));
        }
    }

    @Test
    void aChunkTouchedAndThenEvictedIsStillDrawnAsTouched() {
        ResidencyPicture picture = new ResidencyPicture("mem:x", 64L * CHUNK, CHUNK, new int[] {7, 8}, new int[] {8});
        BufferedImage image = picture.draw();
        assertEquals(ResidencyPicture.touchedAt(0), colourOf(image, picture, 7));
        assertEquals(ResidencyPicture.touchedAt(1), colourOf(image, picture, 8));
    }

    @Test
    void aCellOfManyChunksIsTouchedIfAnyOfThemIsAndBroughtAheadIfOnlyResident() {
        // 64 GiB of 64 KiB chunks: a million chunks, 32 to a cell.
        int chunk = 64 << 10;
        ResidencyPicture picture = new ResidencyPicture("mem:big", 64L << 30, chunk, new int[] {40}, new int[] {33, 40, 64});
        assertEquals(32, picture.chunksPerCell());
        BufferedImage image = picture.draw();
        assertEquals(ResidencyPicture.touchedAt(0), colourOf(image, picture, 33), "33 shares its cell with 40, touched");
        assertEquals(ResidencyPicture.BROUGHT_AHEAD, colourOf(image, picture, 64));
        assertEquals(ResidencyPicture.NOT_RESIDENT, colourOf(image, picture, 0));
    }

    @Test
    void rowsAreLabelledWithTheirStartOffsetsAndColumnsWithOffsetsInARow() {
        // 1 GiB of 256 KiB chunks: 32 rows of 128 chunks, 32 MiB each.
        List<ResidencyPicture.Tick> rows = ResidencyPicture.ticks(32, 32L << 20, ResidencyPicture.CELL, 14);
        assertEquals(List.of("0", "128 MiB", "256 MiB", "384 MiB", "512 MiB", "640 MiB", "768 MiB", "896 MiB", "1 GiB"),
                rows.stream().map(ResidencyPicture.Tick::label).toList());
        assertEquals(List.of(0, 4, 8, 12, 16, 20, 24, 28, 32), rows.stream().map(ResidencyPicture.Tick::index).toList());
        List<ResidencyPicture.Tick> columns = ResidencyPicture.ticks(128, CHUNK, ResidencyPicture.CELL, 64);
        assertEquals(List.of("0", "4 MiB", "8 MiB", "12 MiB", "16 MiB", "20 MiB", "24 MiB", "28 MiB", "32 MiB"),
                columns.stream().map(ResidencyPicture.Tick::label).toList());
        assertEquals(28L << 20, columns.get(7).offset());
    }

    @Test
    void anEndTooCloseToTheLastTickIsLeftUnlabelled() {
        List<ResidencyPicture.Tick> ticks = ResidencyPicture.ticks(10, 1 << 20, ResidencyPicture.CELL, 14);
        assertEquals(List.of("0", "4 MiB", "8 MiB"), ticks.stream().map(ResidencyPicture.Tick::label).toList());
    }

    @Test
    void bytesAreWrittenInBinaryUnits() {
        assertEquals("0", ResidencyPicture.bytes(0));
        assertEquals("512 B", ResidencyPicture.bytes(512));
        assertEquals("64 KiB", ResidencyPicture.bytes(64 << 10));
        assertEquals("1.5 MiB", ResidencyPicture.bytes(3 << 19));
        assertEquals("2.86 MiB", ResidencyPicture.bytes(3_000_003));
        assertEquals("3 TiB", ResidencyPicture.bytes(3L << 40));
    }

    @Test
    void theAxesCarryTheirLabels() {
        ResidencyPicture picture = new ResidencyPicture("mem:x", 1L << 30, CHUNK, new int[0], new int[0]);
        BufferedImage image = picture.draw();
        Point first = picture.pixelOf(0);
        Point belowLastRow = picture.pixelOf(4095);
        assertTrue(inked(image, 0, first.y - 6, first.x - 8, first.y + 6), "a label left of the first row");
        assertTrue(inked(image, first.x - 4, belowLastRow.y + 6, first.x + 60, belowLastRow.y + 24), "labels under the last row");
        assertTrue(!inked(image, 0, belowLastRow.y + 6, first.x - 30, image.getHeight() - 1), "none where there is no tick");
    }

    private static Color colourOf(BufferedImage image, ResidencyPicture picture, int chunk) {
        Point pixel = picture.pixelOf(chunk);
        return new Color(image.getRGB(pixel.x, pixel.y));
    }

    /** Whether any pixel of the rectangle is dark, as text is. */
    private static boolean inked(BufferedImage image, int x0, int y0, int x1, int y1) {
        for (int y = Math.max(0, y0); y <= Math.min(image.getHeight() - 1, y1); y++) {
            for (int x = Math.max(0, x0); x <= Math.min(image.getWidth() - 1, x1); x++) {
                Color c = new Color(image.getRGB(x, y));
                if (c.getRed() + c.getGreen() + c.getBlue() < 3 * 128) {
                    return true;
                }
            }
        }
        return false;
    }
}
