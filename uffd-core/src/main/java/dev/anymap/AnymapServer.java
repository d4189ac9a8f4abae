package dev.anymap;

import dev.anymap.protocol.ServerAddress;
import dev.anymap.server.PageServer;
import dev.anymap.spi.BackendRegistry;
import java.io.IOException;
import java.nio.file.Path;
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
     */
    public static void run(Path socket, Set<Integer> allowedUids) throws IOException, InterruptedException {
        PageServer server = new PageServer(socket != null ? socket : ServerAddress.defaultSocket(), null, allowedUids,
                BackendRegistry.load());
        server.start();
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        server.awaitStop();
    }
}
