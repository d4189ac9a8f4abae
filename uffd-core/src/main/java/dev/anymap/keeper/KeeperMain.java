package dev.anymap.keeper;

import dev.anymap.linux.Libc;
import dev.anymap.server.LogFormat;
import dev.anymap.server.ReadyLine;
import dev.anymap.server.ServerLog;
import dev.anymap.linux.UnixSockets;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;

/**
 * Runs a {@link Keeper}. A page server starts it, waits for {@code READY} on its standard output,
 * and connects to it at {@code --listen}; the command after {@code --} starts a server that takes
 * over (the keeper adds {@code --adopt}).
 *
 * <pre>KeeperMain --listen PATH --lock PATH --server-pid PID -- COMMAND...</pre>
 */
public final class KeeperMain {
    /** What the keeper prints once the server may connect. */
    public static final String READY = "KEEPER-READY";
    /** The exit status when another keeper already holds the lock. */
    public static final int EXIT_ALREADY_RUNNING = 3;

    private KeeperMain() {}

    public static void main(String[] args) throws Exception {
        LogFormat.useMilliseconds();
        int separator = Arrays.asList(args).indexOf("--");
        if (separator != 6 || !"--listen".equals(args[0]) || !"--lock".equals(args[2]) || !"--server-pid".equals(args[4])
                || separator == args.length - 1) {
            System.err.println("usage: KeeperMain --listen PATH --lock PATH --server-pid PID -- COMMAND...");
            System.exit(2);
        }
        Path listen = Path.of(args[1]);
        long serverPid = Long.parseLong(args[5]);
        List<String> serverCommand = List.of(args).subList(separator + 1, args.length);
        // Out of the group of the process that started the server, whose Ctrl-C must not end the keeper.
        Libc.setsid();
        try (FileChannel lockChannel = FileChannel.open(Path.of(args[3]), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            FileLock lock = lockChannel.tryLock();
            if (lock == null) {
                System.err.println("a keeper is already running for " + listen);
                System.exit(EXIT_ALREADY_RUNNING);
            }
            Files.deleteIfExists(listen);
            int listener = UnixSockets.listen(listen, 4);
            try {
                Files.setPosixFilePermissions(listen, PosixFilePermissions.fromString("rw-------"));
                ReadyLine.announce(READY + " " + ProcessHandle.current().pid());
                // After the announcement: its server's first region waits for it, and setting up logging takes a cold JVM
                // about 100 ms. Nothing is logged before.
                ServerLog.capStandardError(listen.resolveSibling("server.log"));
                new Keeper(listener, serverCommand, !"0".equals(System.getenv("ANYMAP_STANDBY"))).run(serverPid);
            } finally {
                deleteQuietly(listen);
                Libc.close(listener);
            }
        }
        System.exit(0);
    }

    private static void deleteQuietly(Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            // A later keeper replaces it.
        }
    }
}
