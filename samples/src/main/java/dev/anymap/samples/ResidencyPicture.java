package dev.anymap.samples;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.Point;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A picture of a region's chunks: a grid read like text, each row's start offset on the y axis and
 * the offsets within a row on the x axis, each cell coloured by what the page server knows of its
 * chunks: touched (faulted on, shaded by the order of first touch), brought ahead and never faulted
 * on (readahead, a pull, a replayed trace), or not resident.
 */
final class ResidencyPicture {
    static final Color NOT_RESIDENT = new Color(0xE4E4E4);
    /** Far from every shade of the touch ramp, which runs from blue to yellow through green. */
    static final Color BROUGHT_AHEAD = new Color(0xE0709A);
    static final int CELL = 6;

    private static final int MAX_COLUMNS = 128;
    private static final int MAX_CELLS = MAX_COLUMNS * 256;
    private static final int LEFT = 76;
    private static final int TOP = 92;
    private static final int RIGHT = 44;
    private static final int BOTTOM = 34;
    private static final int MIN_WIDTH = 720;
    private static final int ROW_LABEL_PIXELS = 14;
    private static final int COLUMN_LABEL_PIXELS = 64;
    private static final Color INK = new Color(0x303030);

    /** A labelled offset on an axis: at the start of cell or row {@code index}. */
    record Tick(int index, long offset, String label) {}

    private final String title;
    private final long objectSize;
    private final int chunkSize;
    private final int chunks;
    private final int perCell;
    private final int cells;
    private final int columns;
    private final int rows;
    private final double[] firstTouch;
    private final boolean[] resident;
    private final int touched;
    private final int broughtAhead;
    private final int residentChunks;

    /**
     * @param title the region's URI (redacted) or any name for it
     * @param firstTouches the chunks faulted on, in the order of first touch (an access trace)
     * @param resident the chunks resident now, in any order
     */
    ResidencyPicture(String title, long objectSize, int chunkSize, int[] firstTouches, int[] resident) {
        this.title = title;
        this.objectSize = objectSize;
        this.chunkSize = chunkSize;
        long count = (objectSize + chunkSize - 1) / chunkSize;
        this.chunks = (int) count;
        // Many chunks share a cell when there are more than the picture holds.
        this.perCell = (int) Math.max(1, (count + MAX_CELLS - 1) / MAX_CELLS);
        this.cells = (int) ((count + perCell - 1) / perCell);
        this.columns = Math.max(1, Math.min(MAX_COLUMNS, cells));
        this.rows = Math.max(1, (cells + columns - 1) / columns);
        this.firstTouch = new double[cells];
        this.resident = new boolean[cells];
        Arrays.fill(firstTouch, -1);
        boolean[] faulted = new boolean[chunks];
        for (int i = 0; i < firstTouches.length; i++) {
            int cell = firstTouches[i] / perCell;
            faulted[firstTouches[i]] = true;
            if (firstTouch[cell] < 0) {
                firstTouch[cell] = firstTouches.length == 1 ? 0 : (double) i / (firstTouches.length - 1);
            }
        }
        int ahead = 0;
        for (int chunk : resident) {
            this.resident[chunk / perCell] = true;
            ahead += faulted[chunk] ? 0 : 1;
        }
        this.touched = firstTouches.length;
        this.broughtAhead = ahead;
        this.residentChunks = resident.length;
    }

    /** How many chunks one cell stands for: more than one for regions of more than 32,768 chunks. */
    int chunksPerCell() {
        return perCell;
    }

    /** The pixel at the middle of the cell that holds {@code chunk}. */
    Point pixelOf(int chunk) {
        int cell = chunk / perCell;
        return new Point(LEFT + (cell % columns) * CELL + CELL / 2 - 1, TOP + (cell / columns) * CELL + CELL / 2 - 1);
    }

    /** The colour of a chunk first touched at {@code order} (0 first, 1 last): dark blue to yellow through green, which stays ordered in grey. */
    static Color touchedAt(double order) {
        float hue = (float) (0.66 - 0.5 * order);
        float brightness = (float) (0.45 + 0.55 * order);
        return Color.getHSBColor(hue, 0.85f, brightness);
    }

    BufferedImage draw() {
        int gridWidth = columns * CELL;
        BufferedImage image = new BufferedImage(Math.max(MIN_WIDTH, LEFT + gridWidth + RIGHT), TOP + rows * CELL + BOTTOM,
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, image.getWidth(), image.getHeight());
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
            g.setColor(INK);
            g.drawString(fit(g.getFontMetrics(), title, image.getWidth() - 8), 4, 15);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            FontMetrics metrics = g.getFontMetrics();
            g.drawString(String.format(Locale.ROOT, "%s (%,d bytes) in %,d chunks of %s%s: %,d resident, %,d touched, %,d brought ahead",
                    bytes(objectSize), objectSize, chunks, bytes(chunkSize), perCell == 1 ? "" : ", " + perCell + " to a cell",
                    residentChunks, touched, broughtAhead), 4, 32);
            legend(g, metrics, 50);
            grid(g);
            axes(g, metrics, gridWidth);
        } finally {
            g.dispose();
        }
        return image;
    }

    private void legend(Graphics2D g, FontMetrics metrics, int top) {
        int x = 4;
        x = swatch(g, metrics, x, top, NOT_RESIDENT, "not resident");
        x = swatch(g, metrics, x, top, BROUGHT_AHEAD, "brought ahead, never faulted on");
        g.setColor(INK);
        g.drawString("touched, in order of first touch: first", x, top + 9);
        x += metrics.stringWidth("touched, in order of first touch: first") + 4;
        for (int i = 0; i < 100; i++) {
            g.setColor(touchedAt(i / 99.0));
            g.fillRect(x + i, top, 1, 10);
        }
        g.setColor(INK);
        g.drawString("last", x + 104, top + 9);
        g.drawString("Each row starts at the offset on its left; the offsets below the grid are from the start of a row.", 4, top + 26);
    }

    private static int swatch(Graphics2D g, FontMetrics metrics, int x, int top, Color color, String label) {
        g.setColor(color);
        g.fillRect(x, top, 10, 10);
        g.setColor(INK);
        g.drawString(label, x + 14, top + 9);
        return x + 14 + metrics.stringWidth(label) + 16;
    }

    private void grid(Graphics2D g) {
        for (int cell = 0; cell < cells; cell++) {
            g.setColor(firstTouch[cell] >= 0 ? touchedAt(firstTouch[cell]) : resident[cell] ? BROUGHT_AHEAD : NOT_RESIDENT);
            g.fillRect(LEFT + (cell % columns) * CELL, TOP + (cell / columns) * CELL, CELL - 1, CELL - 1);
        }
    }

    private void axes(Graphics2D g, FontMetrics metrics, int gridWidth) {
        long cellBytes = (long) perCell * chunkSize;
        g.setColor(INK);
        int bottom = TOP + rows * CELL;
        for (Tick tick : ticks(columns, cellBytes, CELL, COLUMN_LABEL_PIXELS)) {
            int x = LEFT + tick.index() * CELL;
            g.drawLine(x, bottom, x, bottom + 3);
            g.drawString(tick.label(), x - metrics.stringWidth(tick.label()) / 2, bottom + 4 + metrics.getAscent());
        }
        for (Tick tick : ticks(rows, columns * cellBytes, CELL, ROW_LABEL_PIXELS)) {
            if (tick.index() == rows) {
                continue; // the end of the last row is on the x axis already
            }
            int y = TOP + tick.index() * CELL;
            g.drawLine(LEFT - 4, y, LEFT - 1, y);
            g.drawString(tick.label(), LEFT - 7 - metrics.stringWidth(tick.label()), y + metrics.getAscent() / 2);
        }
        g.drawLine(LEFT - 1, TOP, LEFT - 1, bottom);
        g.drawLine(LEFT - 1, bottom, LEFT + gridWidth, bottom);
    }

    /**
     * Ticks at the starts of {@code count} cells (or rows) of {@code stepBytes} each, every power of
     * two of them that leaves {@code minPixels} between labels, and one at the end.
     */
    static List<Tick> ticks(int count, long stepBytes, int cellPixels, int minPixels) {
        int every = 1;
        while ((long) every * cellPixels < minPixels) {
            every *= 2;
        }
        List<Tick> ticks = new ArrayList<>();
        for (int index = 0; index < count; index += every) {
            ticks.add(new Tick(index, index * stepBytes, bytes(index * stepBytes)));
        }
        // The end, where the last label leaves room for it.
        if ((long) (count - ticks.getLast().index()) * cellPixels >= minPixels) {
            ticks.add(new Tick(count, count * stepBytes, bytes(count * stepBytes)));
        }
        return ticks;
    }

    /** {@code bytes} in binary units, with at most two decimals: 0, 512 B, 64 KiB, 1.5 MiB, 2.86 GiB. */
    static String bytes(long bytes) {
        if (bytes == 0) {
            return "0";
        }
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        int unit = 0;
        while (unit + 1 < units.length && Math.abs(bytes) >= 1L << (10 * (unit + 1))) {
            unit++;
        }
        java.math.BigDecimal value = java.math.BigDecimal.valueOf(bytes)
                .divide(java.math.BigDecimal.valueOf(1L << (10 * unit)), 2, java.math.RoundingMode.HALF_EVEN).stripTrailingZeros();
        return value.toPlainString() + " " + units[unit];
    }

    private static String fit(FontMetrics metrics, String text, int width) {
        if (metrics.stringWidth(text) <= width) {
            return text;
        }
        String cut = text;
        while (!cut.isEmpty() && metrics.stringWidth(cut + "...") > width) {
            cut = cut.substring(0, cut.length() - 1);
        }
        return cut + "...";
    }
}
