package dev.anymap;

import dev.anymap.protocol.ServerAddress;
import dev.anymap.server.AotCache;
import dev.anymap.server.JavaCommand;
import dev.anymap.server.PageServer;
import dev.anymap.server.PageServerMain;
import dev.anymap.server.ReadyLine;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Starts a page server as a child JVM with this JVM's class path and module path, so it has the
 * same backends, and waits until it accepts clients. Its standard error goes to
 * {@code server.log} beside the socket.
 */
final class ServerLauncher {
    private static final int LOG_TAIL_LINES = 20;

    private ServerLauncher() {}

    static void start(AnymapConfig config, Path socket) throws IOException {
        try {
            PageServer.requireMemoryForAServer();
        } catch (IllegalArgumentException e) {
            throw new IOException("no page server was started at " + socket + ": " + e.getMessage(), e);
        }
        ServerAddress.prepareDirectory(socket);
        Path log = socket.resolveSibling("server.log");
        AotCache.Launch aot = AotCache.launch(serverJvmOptions(config));
        ProcessBuilder builder = new ProcessBuilder(command(config, socket, aot))
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        // Regions come and go with their threads; without a cap, glibc gives each new thread's
        // allocations an arena of its own and the server's resident memory creeps up.
        builder.environment().putIfAbsent("MALLOC_ARENA_MAX", "2");
        AotCache.passOn(builder.environment());
        long logBefore = Files.exists(log) ? Files.size(log) : 0;
        Process server = aot.start(builder);
        String line;
        try {
            line = ReadyLine.await(server, PageServerMain.READY, config.startTimeout());
        } catch (TimeoutException e) {
            server.destroyForcibly();
            throw new IOException("the page server did not start within " + config.startTimeout() + tail(log, logBefore));
        } catch (IOException e) {
            server.destroyForcibly();
            throw e;
        }
        if (line != null) {
            return;
        }
        String how = "";
        try {
            if (server.waitFor(config.startTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
                if (server.exitValue() == PageServerMain.EXIT_ALREADY_RUNNING) {
                    return; // another client started one first: use it
                }
                // 128 + N is how a JVM reports a death by signal N (9: killed).
                how = server.exitValue() > 128 ? " (killed by signal " + (server.exitValue() - 128) + ")"
                        : " (exit status " + server.exitValue() + ")";
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        server.destroyForcibly();
        throw new IOException("the page server (process " + server.pid() + ") failed to start" + how + tail(log, logBefore));
    }

    private static List<String> serverJvmOptions(AnymapConfig config) {
        List<String> jvmOptions = new ArrayList<>(PageServerMain.JVM_OPTIONS);
        jvmOptions.addAll(config.serverJvmOptions());
        return jvmOptions;
    }

    private static List<String> command(AnymapConfig config, Path socket, AotCache.Launch aot) {
        List<String> jvmOptions = serverJvmOptions(config);
        jvmOptions.addAll(aot.options());
        List<String> arguments = new ArrayList<>(List.of("--socket", socket.toString(), "--exit-when-idle",
                Long.toString(config.serverIdleExit().toMillis())));
        if (config.cacheLimit() > 0) {
            arguments.addAll(List.of("--cache-limit", Long.toString(config.cacheLimit())));
        }
        return JavaCommand.of(PageServerMain.class, jvmOptions, arguments);
    }

    /** What the server wrote to its log since {@code from}, its last lines. */
    private static String tail(Path log, long from) {
        try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(log.toFile(), "r")) {
            file.seek(Math.min(from, file.length()));
            byte[] written = new byte[(int) Math.min(file.length() - file.getFilePointer(), 1 << 20)];
            file.readFully(written);
            List<String> lines = new String(written, StandardCharsets.UTF_8).lines().toList();
            if (lines.isEmpty()) {
                return "; it wrote nothing to " + log;
            }
            return "; the end of what it wrote to " + log + ":\n  "
                    + String.join("\n  ", lines.subList(Math.max(0, lines.size() - LOG_TAIL_LINES), lines.size()));
        } catch (IOException e) {
            return "; see " + log;
        }
    }
}
