package dev.anymap.samples;

import dev.anymap.AnymapConfig;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every command that maps an object shares: {@link TuningOptions} and the page server's socket. */
final class MappingOptions extends TuningOptions {
    @Option(names = "--socket", paramLabel = "PATH", description = "Page server socket (default: the user's page server, started if needed).")
    Path socket;

    AnymapConfig config() {
        return socket == null ? AnymapConfig.defaults() : AnymapConfig.defaults().withSocket(socket);
    }
}
