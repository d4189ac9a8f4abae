package dev.anymap;

import dev.anymap.protocol.ServerAddress;
import dev.anymap.server.JavaCommand;
import dev.anymap.server.PageServer;
import dev.anymap.server.PageServerMain;
import dev.anymap.spi.BackendRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Runs a page server in this process, for platform engineers who keep one running (under systemd,
 * say) rather than let each application start its own. Applications reach it with
 * {@link AnymapConfig#withSocket}.
 */
public final class AnymapServer {
    private AnymapServer() {}

    /**
     * Serves at {@code socket} (null for the per-user default) until the process is stopped, with
     * the backends that this thread's class loader sees.
     *
     * @param allowedUids users besides this one that may connect
     * @param cacheLimit the shared page cache's memory budget in bytes, or 0 for the default: half of the
     *     machine's memory or of the memory cgroup's limit, whichever is lower
     * @throws IllegalArgumentException if the budget, or the memory there is, is too small for a page server
     */
    public static void run(Path socket, Set<Integer> allowedUids, long cacheLimit) throws IOException, InterruptedException {
        run(socket, allowedUids, cacheLimit, ServerLimits.DEFAULTS);
    }

    /**
     * Serves as {@link #run(Path, Set, long)} does, with {@code limits} on what clients may hold.
     *
     * @throws IllegalArgumentException if the budget, or the memory there is, is too small for a page server
     */
    public static void run(Path socket, Set<Integer> allowedUids, long cacheLimit, ServerLimits limits)
            throws IOException, InterruptedException {
        Path at = socket != null ? socket : ServerAddress.defaultSocket();
        PageServer server = new PageServer(at, null, allowedUids, BackendRegistry.load(), cacheLimit, limits);
        // Should this process die, its keeper starts a page server of its own to take over, with the same socket and users.
        List<String> arguments = new ArrayList<>(List.of("--socket", at.toAbsolutePath().toString()));
        allowedUids.forEach(uid -> arguments.addAll(List.of("--allow-uid", uid.toString())));
        if (cacheLimit > 0) {
            arguments.addAll(List.of("--cache-limit", Long.toString(cacheLimit)));
        }
        arguments.addAll(limits.arguments());
        server.start(JavaCommand.of(PageServerMain.class, PageServerMain.JVM_OPTIONS, arguments), false);
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        server.awaitStop();
    }
}
