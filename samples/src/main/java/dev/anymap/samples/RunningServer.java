package dev.anymap.samples;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The option of commands that look at a running page server, and the attach that never starts one. */
final class RunningServer {
    @Option(names = "--socket", paramLabel = "PATH", description = "Page server socket (default: the user's page server).")
    Path socket;

    Anymap attach() throws IOException {
        AnymapConfig config = socket == null ? AnymapConfig.defaults() : AnymapConfig.defaults().withSocket(socket);
        return Anymap.open(config.withAutoStart(false));
    }
}
