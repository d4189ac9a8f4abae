package dev.anymap.server;

import dev.anymap.linux.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.logging.ConsoleHandler;
import java.util.logging.ErrorManager;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * {@code server.log}, capped: once it holds {@link #MAX_BYTES}, the next line rotates it to
 * {@code server.log.1} (and {@code .1} to {@code .2}, up to {@link #OLD_FILES}; the oldest is
 * dropped), so the page server's logs never take more than {@code (OLD_FILES + 1) * MAX_BYTES}
 * and a line. The page server, its keeper and its standby all write to that file on their standard
 * error, which their launcher opened: the new file is put in its place (dup2), so the JVM's own
 * messages follow too, and a process that finds the file rotated by another follows it the same
 * way. A lock on the file keeps two of them from rotating it at once.
 */
public final class ServerLog extends Handler {
    /** The size past which the log is rotated. */
    public static final long MAX_BYTES = 8L << 20;
    /** How many rotated files are kept beside it. */
    public static final int OLD_FILES = 2;
    private static final int STANDARD_ERROR = 2;

    private final Path log;
    private final int fd;
    private final long maxBytes;
    private final int oldFiles;
    private final Path ours;

    ServerLog(Path log, int fd, long maxBytes, int oldFiles) {
        this.log = log;
        this.fd = fd;
        this.maxBytes = maxBytes;
        this.oldFiles = oldFiles;
        this.ours = Path.of("/proc/self/fd/" + fd);
    }

    /**
     * If this process's standard error is {@code log}, has its log lines written there capped and
     * rotated; else (a server in a terminal, {@code anymap serve}) leaves them as they are.
     */
    public static void capStandardError(Path log) {
        try {
            if (!Files.isSameFile(Path.of("/proc/self/fd/" + STANDARD_ERROR), log)) {
                return;
            }
        } catch (IOException | RuntimeException e) {
            return;
        }
        Logger root = Logger.getLogger("");
        for (Handler handler : root.getHandlers()) {
            if (handler instanceof ConsoleHandler console) {
                ServerLog capped = new ServerLog(log, STANDARD_ERROR, MAX_BYTES, OLD_FILES);
                capped.setLevel(console.getLevel());
                capped.setFormatter(console.getFormatter());
                capped.setFilter(console.getFilter());
                root.removeHandler(console);
                root.addHandler(capped);
            }
        }
    }

    @Override
    public void publish(LogRecord record) {
        if (!isLoggable(record)) {
            return;
        }
        byte[] line;
        try {
            line = getFormatter().format(record).getBytes(StandardCharsets.UTF_8);
        } catch (RuntimeException e) {
            reportError(null, e, ErrorManager.FORMAT_FAILURE);
            return;
        }
        synchronized (this) {
            try {
                rotateIfFull();
            } catch (IOException | RuntimeException e) {
                // The directory gone, say: the line still goes where standard error goes.
            }
            write(line);
        }
    }

    /** Rotates the log if it is full, or follows it to its new file if another process rotated it. */
    private void rotateIfFull() throws IOException {
        if (Files.size(ours) < maxBytes && Files.exists(log) && Files.isSameFile(ours, log)) {
            return;
        }
        try (FileChannel channel = FileChannel.open(log, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock ignored = channel.lock()) {
            if (Files.isSameFile(ours, log) && Files.size(log) >= maxBytes) {
                for (int i = oldFiles; i >= 1; i--) {
                    Path from = i == 1 ? log : rotated(i - 1);
                    if (Files.exists(from)) {
                        Files.move(from, rotated(i), StandardCopyOption.REPLACE_EXISTING);
                    }
                }
                if (oldFiles == 0) {
                    Files.delete(log);
                }
            }
            // The channel above made the file if it was gone.
            int fresh = Libc.open(log.toString(), Libc.O_WRONLY | Libc.O_APPEND | Libc.O_CLOEXEC);
            if (fresh < 0) {
                return;
            }
            Libc.dup2(fresh, fd);
            Libc.close(fresh);
        }
    }

    /** {@code server.log.N}. */
    Path rotated(int n) {
        return log.resolveSibling(log.getFileName() + "." + n);
    }

    private void write(byte[] line) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(line.length);
            MemorySegment.copy(line, 0, bytes, ValueLayout.JAVA_BYTE, 0, line.length);
            for (long written = 0; written < line.length; ) {
                long n = Libc.write(fd, bytes.asSlice(written), line.length - written);
                if (n <= 0) {
                    return; // a full disk: the line is lost, as it would be on the console
                }
                written += n;
            }
        }
    }

    @Override
    public void flush() {
        // Every line is written as it comes.
    }

    @Override
    public void close() {
        // Standard error stays open for the JVM's own messages.
    }
}
