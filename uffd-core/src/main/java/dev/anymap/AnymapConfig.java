package dev.anymap;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * How an {@link Anymap} finds its page server.
 *
 * @param socket the page server's socket; null for the per-user default
 *     ({@code $XDG_RUNTIME_DIR/anymap/server.sock}, else {@code <tmpdir>/anymap-<uid>/server.sock})
 * @param autoStart start a page server when none listens at the socket (and a new one if it dies):
 *     a child JVM on this JVM's class path and module path. When false, only attach to a running one.
 * @param serverIdleExit how long an auto-started server lingers with no clients before it exits
 * @param startTimeout how long to wait for an auto-started server to accept clients
 * @param serverJvmOptions extra options for an auto-started server's JVM (heap size, logging, ...)
 * @param cacheLimit the memory budget, in bytes, of an auto-started server's shared page cache, which holds the chunks of
 *     every region it serves; 0 for the default, half of the machine's memory or of the memory cgroup's limit,
 *     whichever is lower. Past it, chunks are dropped and fetched again when next touched, so that regions can be
 *     larger than memory. A server already running keeps the budget it was started with.
 */
public record AnymapConfig(Path socket, boolean autoStart, Duration serverIdleExit, Duration startTimeout,
                           List<String> serverJvmOptions, long cacheLimit) {

    /** Checks the components (a cache limit of at least 0, where 0 is the default) and copies {@code serverJvmOptions}. */
    public AnymapConfig {
        Objects.requireNonNull(serverIdleExit, "serverIdleExit");
        Objects.requireNonNull(startTimeout, "startTimeout");
        serverJvmOptions = List.copyOf(serverJvmOptions);
        if (cacheLimit < 0) {
            throw new IllegalArgumentException("a cache limit of " + cacheLimit + " bytes is negative; use 0 for the default");
        }
    }

    /** The default socket, auto-start on, a server that lingers 2 s with no clients, 30 s to start. */
    public static AnymapConfig defaults() {
        return new AnymapConfig(null, true, Duration.ofSeconds(2), Duration.ofSeconds(30), List.of(), 0);
    }

    /** This configuration with the page server's socket {@code socket} (null: the per-user default). */
    public AnymapConfig withSocket(Path socket) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions, cacheLimit);
    }

    /** This configuration with auto-start of a page server on or off. */
    public AnymapConfig withAutoStart(boolean autoStart) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions, cacheLimit);
    }

    /** This configuration with how long an auto-started server lingers with no clients. */
    public AnymapConfig withServerIdleExit(Duration serverIdleExit) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions, cacheLimit);
    }

    /** This configuration with how long to wait for an auto-started server to accept clients. */
    public AnymapConfig withStartTimeout(Duration startTimeout) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions, cacheLimit);
    }

    /** This configuration with the extra JVM options of an auto-started server. */
    public AnymapConfig withServerJvmOptions(List<String> serverJvmOptions) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions, cacheLimit);
    }

    /** An auto-started server's page cache budget in bytes; 0 for the default. */
    public AnymapConfig withCacheLimit(long cacheLimit) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions, cacheLimit);
    }
}
