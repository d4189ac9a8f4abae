package dev.anymap.server;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Warnings about what peers sent, rate-limited: a peer that sends bad packets in a loop gets a few
 * lines a minute into the log, not one per packet, and the line let through after it was held back
 * says how many were not logged. A bound across all peers keeps one that forks a process per packet
 * (a new pid each time) just as quiet.
 */
final class PeerWarnings {
    /** Warnings logged about one peer in a minute. */
    static final int PER_PEER = 10;
    /** Warnings logged about all peers together in a minute. */
    static final int ALL_PEERS = 100;
    private static final long WINDOW = TimeUnit.MINUTES.toNanos(1);
    /** Past this many peers seen in the window, those whose window ended are forgotten. */
    private static final int MAX_PEERS = 4096;

    private final System.Logger log;
    private final String what;
    private final LongSupplier clock;
    private final Map<Long, Window> peers = new HashMap<>();
    private final Window all = new Window();

    /** Counts of one peer's (or all peers') warnings in the current minute. */
    private static final class Window {
        long start = Long.MIN_VALUE;
        int logged;
        long suppressed;

        /** Starts a new minute if this one has ended. */
        void roll(long now) {
            if (start == Long.MIN_VALUE || now - start >= WINDOW) {
                start = now;
                logged = 0;
            }
        }
    }

    /**
     * @param what what a peer is called in the note of suppressed lines ("process", "uid")
     */
    PeerWarnings(System.Logger log, String what) {
        this(log, what, System::nanoTime);
    }

    PeerWarnings(System.Logger log, String what, LongSupplier clock) {
        this.log = log;
        this.what = what;
        this.clock = clock;
    }

    /** Logs {@code message} as a warning about {@code peer}, unless that peer or all have had their share this minute. */
    void warn(long peer, String message) {
        long suppressed;
        synchronized (this) {
            long now = clock.getAsLong();
            if (peers.size() >= MAX_PEERS && !peers.containsKey(peer)) {
                peers.values().removeIf(window -> now - window.start >= WINDOW);
            }
            Window window = peers.computeIfAbsent(peer, ignored -> new Window());
            window.roll(now);
            all.roll(now);
            if (window.logged >= PER_PEER || all.logged >= ALL_PEERS) {
                window.suppressed++;
                return;
            }
            window.logged++;
            all.logged++;
            suppressed = window.suppressed;
            window.suppressed = 0;
        }
        log.log(System.Logger.Level.WARNING, suppressed == 0 ? message
                : message + " (" + suppressed + " more warnings about " + what + " " + peer + " were not logged before this one: at most "
                        + PER_PEER + " a minute for one peer, " + ALL_PEERS + " for all)");
    }
}
