package dev.anymap.samples;

import dev.anymap.AnymapServer;
import java.nio.file.Path;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code anymap} command line. */
@Command(name = "anymap", mixinStandardHelpOptions = true, version = "anymap 0.1.0",
        description = "Use any storage as memory: map objects as lazily paged memory.",
        subcommands = {DemoCommand.class, AnymapCommand.Serve.class, CommandLine.HelpCommand.class})
public final class AnymapCommand implements Runnable {
    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new AnymapCommand()).execute(args));
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = "Run a page server in the foreground until stopped (Ctrl-C).")
    static final class Serve implements Runnable {
        @CommandLine.Option(names = "--socket", paramLabel = "PATH",
                description = "Socket to listen on (default: $XDG_RUNTIME_DIR/anymap/server.sock or <tmpdir>/anymap-<uid>/server.sock).")
        private String socket;

        @CommandLine.Option(names = "--allow-uid", paramLabel = "UID", description = "Also serve this user (repeatable).")
        private Set<Integer> allowedUids = Set.of();

        @Override
        public void run() {
            try {
                System.err.println("anymap page server running; Ctrl-C stops it");
                AnymapServer.run(socket == null ? null : Path.of(socket), allowedUids);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
