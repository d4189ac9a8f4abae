package dev.anymap.samples;

import java.io.PrintStream;
import java.util.Locale;

/** A progress bar on standard error while long work runs on a terminal; nothing otherwise. */
final class Progress implements AutoCloseable {
    private static final long REDRAW_NANOS = 200_000_000L;
    private final PrintStream out = System.err;
    private final String what;
    private final long total;
    private final boolean shown;
    private final long started = System.nanoTime();
    private long lastDrawn;

    Progress(String what, long total) {
        this.what = what;
        this.total = total;
        this.shown = System.console() != null && System.console().isTerminal() && total > (64L << 20);
    }

    void update(long done) {
        long now = System.nanoTime();
        if (!shown || now - lastDrawn < REDRAW_NANOS) {
            return;
        }
        lastDrawn = now;
        int width = 30;
        int filled = (int) (width * done / Math.max(1, total));
        double seconds = (now - started) / 1e9;
        out.printf(Locale.ROOT, "\r%s [%s%s] %3d%% %.0f MB/s", what, "=".repeat(filled), " ".repeat(width - filled),
                100 * done / Math.max(1, total), done / Math.max(seconds, 1e-9) / 1e6);
    }

    @Override
    public void close() {
        if (shown && lastDrawn != 0) {
            out.print("\r" + " ".repeat(what.length() + 50) + "\r");
        }
    }
}
