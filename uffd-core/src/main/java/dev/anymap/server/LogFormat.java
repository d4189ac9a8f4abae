package dev.anymap.server;

/** The page server's and keeper's log lines: one line each, with milliseconds, for reading a takeover. */
public final class LogFormat {
    private static final String PROPERTY = "java.util.logging.SimpleFormatter.format";

    private LogFormat() {}

    /** Unless the user chose a format, before anything logs. */
    public static void useMilliseconds() {
        if (System.getProperty(PROPERTY) == null) {
            System.setProperty(PROPERTY, "%1$tF %1$tT.%1$tL %4$s %3$s: %5$s%6$s%n");
        }
    }
}
