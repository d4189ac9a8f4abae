package dev.anymap.firecracker;

import dev.anymap.AccessTrace;
import dev.anymap.ServedGuest;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Records the boot of the first VM served: the order in which it first touched the snapshot's
 * chunks, saved when it ends (or the handler closes), for later resumes to replay.
 */
final class TraceRecorder {
    private final Path file;
    private ServedGuest recorded;
    private boolean claimed;

    TraceRecorder(Path file) {
        this.file = file;
    }

    /** Records {@code guest} if it is the first VM served. */
    synchronized void offer(long pid, ServedGuest guest) {
        if (!claimed) {
            claimed = true;
            recorded = guest;
            FirecrackerHandler.LOG.log(System.Logger.Level.INFO, "recording the trace of Firecracker process " + pid + " to " + file);
        }
    }

    /** Saves the trace of {@code guest} if it is the one recorded; before the guest is closed. */
    void saveIfRecorded(long pid, ServedGuest guest) {
        synchronized (this) {
            if (recorded != guest || guest == null) {
                return;
            }
            recorded = null;
        }
        try {
            AccessTrace trace = guest.trace();
            trace.save(file);
            FirecrackerHandler.LOG.log(System.Logger.Level.INFO, "saved the trace of Firecracker process " + pid + " to " + file + ": "
                    + trace);
        } catch (IOException | RuntimeException e) {
            FirecrackerHandler.LOG.log(System.Logger.Level.ERROR, "could not save the trace of Firecracker process " + pid + " to " + file
                    + ": " + e.getMessage());
        }
    }
}
