package dev.anymap.samples;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Commands that look at a region of a running page server: its access trace and its residency. */
final class TraceCommands {
    private TraceCommands() {}

    @Command(name = "trace", mixinStandardHelpOptions = true,
            description = "Save the access trace of a region that a running page server holds (its number is in `status`), "
                    + "for an application to replay with MappedRegion.prefetch.")
    static final class Trace implements Callable<Integer> {
        @Parameters(paramLabel = "REGION", description = "The region's number, as `anymap status` shows it.")
        long region;

        @Option(names = "--out", required = true, paramLabel = "FILE", description = "Where to write the trace.")
        Path out;

        @Mixin
        RunningServer server;

        @Override
        public Integer call() throws Exception {
            try (Anymap anymap = server.attach()) {
                AccessTrace trace = anymap.trace(region);
                trace.save(out);
                System.out.println("saved " + trace + " to " + out);
            }
            return 0;
        }
    }

    @Command(name = "residency", mixinStandardHelpOptions = true,
            description = "Draw which chunks of a region are resident, coloured by the order they were first touched, as a PNG.")
    static final class Residency implements Callable<Integer> {
        private static final int COLUMNS = 128;
        private static final int MAX_CELLS = COLUMNS * 256;

        @Parameters(paramLabel = "REGION", description = "The region's number, as `anymap status` shows it.")
        long region;

        @Option(names = "--out", required = true, paramLabel = "FILE", description = "The PNG to write.")
        Path out;

        @Mixin
        RunningServer server;

        @Override
        public Integer call() throws Exception {
            System.setProperty("java.awt.headless", "true");
            AccessTrace trace;
            int[] resident;
            try (Anymap anymap = server.attach()) {
                trace = anymap.trace(region);
                resident = anymap.residentChunks(region);
            }
            long chunks = (trace.objectSize() + trace.chunkSize() - 1) / trace.chunkSize();
            // Many chunks share a cell when there are more than the picture holds.
            int perCell = (int) Math.max(1, (chunks + MAX_CELLS - 1) / MAX_CELLS);
            int cells = (int) ((chunks + perCell - 1) / perCell);
            double[] firstTouch = new double[cells];
            boolean[] present = new boolean[cells];
            java.util.Arrays.fill(firstTouch, -1);
            int[] order = trace.chunks();
            for (int i = 0; i < order.length; i++) {
                int cell = order[i] / perCell;
                if (firstTouch[cell] < 0) {
                    firstTouch[cell] = order.length == 1 ? 0 : (double) i / (order.length - 1);
                }
            }
            for (int chunk : resident) {
                present[chunk / perCell] = true;
            }
            int cellSize = 6;
            int rows = (cells + COLUMNS - 1) / COLUMNS;
            int header = 40;
            BufferedImage image = new BufferedImage(COLUMNS * cellSize, header + rows * cellSize, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = image.createGraphics();
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, image.getWidth(), image.getHeight());
            g.setColor(Color.DARK_GRAY);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            g.drawString(String.format("region %d: %,d of %,d chunks resident (%d per cell)", region, resident.length, chunks, perCell), 4, 14);
            g.drawString("first touched: early", 4, 32);
            for (int x = 0; x < 120; x++) {
                g.setColor(ramp(x / 119.0));
                g.fillRect(130 + x, 24, 1, 10);
            }
            g.setColor(Color.DARK_GRAY);
            g.drawString("late     grey: resident, fetched without a touch     white: not resident", 256, 32);
            for (int cell = 0; cell < cells; cell++) {
                Color color = firstTouch[cell] >= 0 ? ramp(firstTouch[cell]) : present[cell] ? Color.LIGHT_GRAY : new Color(0xF4F4F4);
                g.setColor(color);
                g.fillRect((cell % COLUMNS) * cellSize, header + (cell / COLUMNS) * cellSize, cellSize - 1, cellSize - 1);
            }
            g.dispose();
            ImageIO.write(image, "png", out.toFile());
            System.out.println("wrote " + out + " (" + image.getWidth() + "x" + image.getHeight() + ")");
            return 0;
        }

        /** Dark blue to yellow through green: order is visible, and so is it in grey. */
        private static Color ramp(double t) {
            float hue = (float) (0.66 - 0.5 * t);
            float brightness = (float) (0.45 + 0.55 * t);
            return Color.getHSBColor(hue, 0.85f, brightness);
        }
    }
}
