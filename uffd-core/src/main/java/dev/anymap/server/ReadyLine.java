package dev.anymap.server;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** The line a child process prints on its standard output once it is ready: a page server's, a keeper's. */
public final class ReadyLine {
    private ReadyLine() {}

    /**
     * Prints {@code line} for the parent waiting in {@link #await}, then points standard output at
     * standard error (the log): the parent stops reading once it has its line, and may exit, and the
     * JVM still prints later (writing its AOT cache at exit).
     */
    public static void announce(String line) {
        System.out.println(line);
        System.out.flush();
        dev.anymap.linux.Libc.dup2(2, 1);
    }

    /**
     * Waits for a line of {@code process}'s output that starts with {@code prefix}. The output is read
     * to its end on a thread of its own, so that the child never blocks on a full pipe; lines before
     * the one awaited are skipped (JVM options may print first: a flight recording announces itself).
     *
     * @return the line, or null if the output ended first (the process exited)
     * @throws TimeoutException if neither happens within {@code timeout}
     */
    public static String await(Process process, String prefix, Duration timeout) throws IOException, TimeoutException {
        BufferedReader output = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<String> ready = new CompletableFuture<>();
        Thread.ofVirtual().name("anymap-child-output-" + process.pid()).start(() -> {
            try (output) {
                for (String line; (line = output.readLine()) != null; ) {
                    if (line.startsWith(prefix)) {
                        ready.complete(line);
                    }
                }
            } catch (IOException e) {
                // The child is gone; its exit tells how.
            } finally {
                ready.complete(null);
            }
        });
        try {
            return ready.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for process " + process.pid() + " to start");
        } catch (ExecutionException e) {
            throw new IOException(e.getCause());
        }
    }
}
