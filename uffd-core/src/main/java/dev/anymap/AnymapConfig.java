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
 */
public record AnymapConfig(Path socket, boolean autoStart, Duration serverIdleExit, Duration startTimeout,
                           List<String> serverJvmOptions) {

    public AnymapConfig {
        Objects.requireNonNull(serverIdleExit, "serverIdleExit");
        Objects.requireNonNull(startTimeout, "startTimeout");
        serverJvmOptions = List.copyOf(serverJvmOptions);
    }

    /** The default socket, auto-start on, a server that lingers 2 s with no clients, 30 s to start. */
    public static AnymapConfig defaults() {
        return new AnymapConfig(null, true, Duration.ofSeconds(2), Duration.ofSeconds(30), List.of());
    }

    public AnymapConfig withSocket(Path socket) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions);
    }

    public AnymapConfig withAutoStart(boolean autoStart) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions);
    }

    public AnymapConfig withServerIdleExit(Duration serverIdleExit) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions);
    }

    public AnymapConfig withStartTimeout(Duration startTimeout) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions);
    }

    public AnymapConfig withServerJvmOptions(List<String> serverJvmOptions) {
        return new AnymapConfig(socket, autoStart, serverIdleExit, startTimeout, serverJvmOptions);
    }
}
