package dev.anymap.server;

import dev.anymap.ServerLimits;
import dev.anymap.protocol.ServerAddress;
import dev.anymap.spi.BackendRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Runs a page server in this process until it is stopped, or until it has been idle for the given
 * time. Prints {@code READY <pid>} on standard output once it accepts clients, which is what a
 * client that started it waits for.
 *
 * <p>It starts a keeper ({@code dev.anymap.keeper.KeeperMain}) that holds its regions; when the
 * server dies, the keeper starts another with {@code --adopt}, which takes the regions over.
 *
 * <pre>PageServerMain [--socket PATH] [--exit-when-idle MILLIS] [--allow-uid UID]... [--cache-limit BYTES]
 *     [--max-connections N] [--max-connections-per-process N] [--max-regions-per-process N]
 *     [--max-fetches-per-process N] [--max-prefetch-memory-per-process BYTES] [--max-cache-share PERCENT] [--adopt]</pre>
 */
public final class PageServerMain {
    /** What the server prints once it accepts clients. */
    public static final String READY = "READY";
    /**
     * The JVM options a page server runs with. The serial collector keeps a server that holds little heap
     * small, and a young generation of 32 MiB bounds what its garbage takes: sized from the machine, it
     * was a third of a 384 MiB initial heap, and a scan through the server grew its resident memory by
     * 130 to 160 MiB of garbage before the first collection, memory beside the page cache's budget.
     */
    public static final List<String> JVM_OPTIONS = List.of("-XX:+UseSerialGC", "-Xmn32m");

    /** The exit status when another server already holds the socket. */
    public static final int EXIT_ALREADY_RUNNING = 3;

    private PageServerMain() {}

    public static void main(String[] args) throws Exception {
        LogFormat.useMilliseconds();
        Path socket = null;
        Duration idle = null;
        Set<Integer> allowed = new HashSet<>();
        boolean takeOver = false;
        long cacheLimit = 0;
        ServerLimits limits = ServerLimits.DEFAULTS;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--adopt" -> {
                    takeOver = true;
                    continue;
                }
                case "--socket" -> socket = Path.of(required(args[i], value));
                case "--exit-when-idle" -> idle = Duration.ofMillis(Long.parseLong(required(args[i], value)));
                case "--allow-uid" -> allowed.add(Integer.parseInt(required(args[i], value)));
                case "--cache-limit" -> cacheLimit = Long.parseLong(required(args[i], value));
                case "--max-connections" -> limits = limits.withConnections(Integer.parseInt(required(args[i], value)));
                case "--max-connections-per-process" -> limits = limits.withConnectionsPerProcess(Integer.parseInt(required(args[i], value)));
                case "--max-regions-per-process" -> limits = limits.withRegionsPerProcess(Integer.parseInt(required(args[i], value)));
                case "--max-fetches-per-process" -> limits = limits.withFetchesPerProcess(Integer.parseInt(required(args[i], value)));
                case "--max-prefetch-memory-per-process" ->
                        limits = limits.withPrefetchMemoryPerProcess(Long.parseLong(required(args[i], value)));
                case "--max-cache-share" -> limits = limits.withCacheSharePercent(Integer.parseInt(required(args[i], value)));
                default -> {
                    System.err.println("unknown argument " + args[i]
                            + "; usage: [--socket PATH] [--exit-when-idle MILLIS] [--allow-uid UID]... [--cache-limit BYTES]"
                            + " [--max-connections N] [--max-connections-per-process N] [--max-regions-per-process N]"
                            + " [--max-fetches-per-process N] [--max-prefetch-memory-per-process BYTES] [--max-cache-share PERCENT] [--adopt]");
                    System.exit(2);
                }
            }
            i++;
        }
        if (socket == null) {
            // Only now: the default asks the kernel for this user's id, the first native call, which takes a cold JVM tens of ms.
            socket = ServerAddress.defaultSocket();
        }
        PageServer.keepNewFilesPrivate(allowed);
        ServerLog.capStandardError(socket.resolveSibling("server.log"));
        PageServer server;
        try {
            server = new PageServer(socket, idle, allowed, BackendRegistry.load(), cacheLimit, limits);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        try {
            server.start(restartCommand(args), takeOver);
        } catch (PageServer.AlreadyRunningException e) {
            System.err.println(e.getMessage());
            System.exit(EXIT_ALREADY_RUNNING);
        } catch (KeeperLink.NothingToTakeOverException e) {
            System.exit(0); // a standby whose keeper stopped
        }
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        ReadyLine.announce(READY + " " + ProcessHandle.current().pid());
        server.awaitStop();
        System.exit(0);
    }

    /** This process's own command line, less {@code --adopt}: what the keeper runs to start a server like this one. */
    private static List<String> restartCommand(String[] args) {
        ProcessHandle.Info self = ProcessHandle.current().info();
        if (self.command().isPresent() && self.arguments().isPresent()) {
            List<String> command = new ArrayList<>();
            command.add(self.command().get());
            Arrays.stream(self.arguments().get()).filter(argument -> !argument.equals("--adopt") && !AotCache.recordsOnly(argument))
                    .forEach(command::add);
            return command;
        }
        return JavaCommand.of(PageServerMain.class, JVM_OPTIONS,
                Arrays.stream(args).filter(argument -> !argument.equals("--adopt")).toList());
    }

    private static String required(String option, String value) {
        if (value == null) {
            System.err.println(option + " needs a value");
            System.exit(2);
        }
        return value;
    }
}
