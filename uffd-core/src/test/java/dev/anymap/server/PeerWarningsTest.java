package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.ResourceBundle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class PeerWarningsTest {
    private final AtomicLong now = new AtomicLong();
    private final List<String> lines = new ArrayList<>();
    private final PeerWarnings warnings = new PeerWarnings(new Lines(lines), "process", now::get);

    @Test
    void aPeerInALoopGetsItsShareAMinuteAndTheNextLineCountsTheRest() {
        for (int i = 0; i < 1000; i++) {
            warnings.warn(7, "bad packet " + i);
        }
        assertEquals(PeerWarnings.PER_PEER, lines.size(), lines.toString());
        now.addAndGet(TimeUnit.SECONDS.toNanos(61));
        warnings.warn(7, "bad packet 1000");
        String last = lines.getLast();
        assertTrue(last.startsWith("bad packet 1000 (" + (1000 - PeerWarnings.PER_PEER) + " more warnings about process 7 "), last);
    }

    @Test
    void anotherPeerIsLoggedWhileOneIsHeldBack() {
        for (int i = 0; i < 100; i++) {
            warnings.warn(7, "from 7");
        }
        warnings.warn(8, "from 8");
        assertEquals("from 8", lines.getLast());
    }

    @Test
    void peersThatChangeTheirPidEachTimeAreBoundTogether() {
        for (int pid = 0; pid < 10_000; pid++) {
            warnings.warn(pid, "from " + pid);
        }
        assertEquals(PeerWarnings.ALL_PEERS, lines.size());
    }

    /** A logger that keeps its lines. */
    private record Lines(List<String> lines) implements System.Logger {
        @Override
        public String getName() {
            return "lines";
        }

        @Override
        public boolean isLoggable(Level level) {
            return true;
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String message, Throwable thrown) {
            lines.add(message);
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String format, Object... parameters) {
            lines.add(format);
        }

        @Override
        public void log(Level level, Supplier<String> message) {
            lines.add(message.get());
        }
    }
}
