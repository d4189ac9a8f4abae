package dev.anymap.samples;

import dev.anymap.AnymapServer;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code anymap} command line. */
@Command(name = "anymap", mixinStandardHelpOptions = true, version = "anymap 0.1.0",
        description = "Use any storage as memory: map objects as lazily paged memory.",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:done", "1:the bytes did not match (demo)", "2:bad usage or argument",
                "3:no such object", "4:access denied", "5:storage or page server failure",
                "6:the destination exists (cp without --overwrite)"})
public final class AnymapCommand implements Runnable {
    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** The commands, in the order the usage lists them. */
    private static final List<Class<?>> COMMANDS = List.of(DemoCommand.class, ObjectCommands.Cat.class, ObjectCommands.Sha256Sum.class,
            ObjectCommands.Dd.class, CopyCommand.class, ObjectCommands.Stat.class, StatusCommand.class, TraceCommands.Trace.class,
            TraceCommands.Residency.class, AnymapCommand.Serve.class, FirecrackerCommand.class, CommandLine.HelpCommand.class);

    public static void main(String[] args) {
        System.exit(commandLine(args.length > 0 ? args[0] : "").execute(args));
    }

    /** The command line with every command: for help, and for a first argument that names none. */
    static CommandLine commandLine() {
        return commandLine("");
    }

    /**
     * The command line with only the command named {@code first}, if one is: picocli reads each command's
     * annotations as it is added, which for all of them took longer than a {@code cat} of a small file.
     */
    static CommandLine commandLine(String first) {
        boolean one = !first.equals("help") && COMMANDS.stream().anyMatch(command -> name(command).equals(first));
        CommandLine line = new CommandLine(new AnymapCommand()).setExecutionExceptionHandler(AnymapCommand::failed);
        for (Class<?> command : COMMANDS) {
            if (!one || name(command).equals(first)) {
                line.addSubcommand(command);
            }
        }
        return line;
    }

    private static String name(Class<?> command) {
        return command.getAnnotation(Command.class).name();
    }

    /** One line on standard error, and an exit code a script can act on; no stack trace. */
    private static int failed(Exception e, CommandLine command, CommandLine.ParseResult parsed) {
        command.getErr().println("anymap " + command.getCommandName() + ": " + e.getMessage());
        return switch (e) {
            case java.nio.file.NoSuchFileException ignored -> 3;
            case java.nio.file.FileAlreadyExistsException ignored -> 6;
            case java.nio.file.AccessDeniedException ignored -> 4;
            case IllegalArgumentException ignored -> 2;
            default -> 5;
        };
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = "Run a page server in the foreground until stopped (Ctrl-C).")
    static final class Serve implements java.util.concurrent.Callable<Integer> {
        @CommandLine.Option(names = "--socket", paramLabel = "PATH",
                description = "Socket to listen on (default: $XDG_RUNTIME_DIR/anymap/server.sock or <tmpdir>/anymap-<uid>/server.sock).")
        private String socket;

        @CommandLine.Option(names = "--allow-uid", paramLabel = "UID", description = "Also serve this user (repeatable), with its own credentials only: no local paths, no plugins (README: Security model).")
        private Set<Integer> allowedUids = Set.of();

        @CommandLine.Option(names = "--cache-limit", paramLabel = "BYTES",
                description = "Memory budget of the shared page cache, in bytes (default: half of the machine's memory or of its "
                        + "memory cgroup's limit, whichever is lower). Past it, chunks are dropped and fetched again when touched.")
        private long cacheLimit;

        @CommandLine.Option(names = "--max-connections", paramLabel = "N", defaultValue = "" + dev.anymap.ServerLimits.CONNECTIONS,
                description = "Connections the server holds at once, of all processes (default: ${DEFAULT-VALUE}).")
        private int maxConnections;

        @CommandLine.Option(names = "--max-connections-per-process", paramLabel = "N",
                defaultValue = "" + dev.anymap.ServerLimits.CONNECTIONS_PER_PROCESS,
                description = "Connections the server holds at once of one process (default: ${DEFAULT-VALUE}).")
        private int maxConnectionsPerProcess;

        @CommandLine.Option(names = "--max-regions-per-process", paramLabel = "N",
                defaultValue = "" + dev.anymap.ServerLimits.REGIONS_PER_PROCESS,
                description = "Regions one process may have mapped at once (default: ${DEFAULT-VALUE}).")
        private int maxRegionsPerProcess;

        @CommandLine.Option(names = "--max-fetches-per-process", paramLabel = "N",
                defaultValue = "" + dev.anymap.ServerLimits.FETCHES_PER_PROCESS,
                description = "Storage reads one process's regions may have outstanding at once; past it, its faults wait their turn "
                        + "(default: ${DEFAULT-VALUE}).")
        private int maxFetchesPerProcess;

        @CommandLine.Option(names = "--max-prefetch-memory-per-process", paramLabel = "BYTES", defaultValue = "0",
                description = "Bytes fetched ahead of one process's faults (readahead, pulls, traces) that the cache may hold; past it, "
                        + "its prefetching stops (default 0: no limit; chunks already read count until they leave the cache).")
        private long maxPrefetchMemoryPerProcess;

        @CommandLine.Option(names = "--max-cache-share", paramLabel = "PERCENT",
                defaultValue = "" + dev.anymap.ServerLimits.CACHE_SHARE_PERCENT,
                description = "Share of the cache's limit that one process's chunks may hold when the cache is full; past it, its own "
                        + "chunks are dropped first (default: ${DEFAULT-VALUE}).")
        private int maxCacheShare;

        @Override
        public Integer call() throws java.io.IOException {
            try {
                System.err.println("anymap page server running; Ctrl-C stops it");
                AnymapServer.run(socket == null ? null : Path.of(socket), allowedUids, cacheLimit,
                        new dev.anymap.ServerLimits(maxConnections, maxConnectionsPerProcess, maxRegionsPerProcess,
                                maxFetchesPerProcess, maxPrefetchMemoryPerProcess, maxCacheShare));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return 0;
        }
    }
}
