package dev.anymap;

import dev.anymap.protocol.ServerAddress;
import dev.anymap.server.JavaCommand;
import dev.anymap.server.PageServerMain;
import dev.anymap.server.ReadyLine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** A page server of the tests' own, at a private socket, so that no test meets a user's server. */
final class TestServers {
    private TestServers() {}

    static AnymapConfig privateServer() throws IOException {
        Path directory = Files.createTempDirectory("anymap-test-");
        Files.delete(directory); // the server makes it, with mode 0700
        return AnymapConfig.defaults().withSocket(directory.resolve("server.sock")).withServerIdleExit(Duration.ofSeconds(1));
    }

    /**
     * A page server started as its own process at {@code socket}, with {@code options} of
     * {@code PageServerMain} (limits, say), that a client reaches with auto-start off; its log is
     * {@code server.log} beside the socket.
     */
    static Process startServerProcess(Path socket, String... options) throws Exception {
        Files.createDirectories(socket.getParent(), java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        List<String> arguments = new ArrayList<>(List.of("--socket", socket.toString(), "--exit-when-idle", "60000"));
        arguments.addAll(List.of(options));
        Process server = new ProcessBuilder(JavaCommand.of(PageServerMain.class, PageServerMain.JVM_OPTIONS, arguments))
                .redirectError(ProcessBuilder.Redirect.appendTo(socket.resolveSibling("server.log").toFile())).start();
        org.junit.jupiter.api.Assertions.assertNotNull(ReadyLine.await(server, PageServerMain.READY, Duration.ofSeconds(60)),
                "the page server did not start");
        return server;
    }

    /**
     * The live page server at {@code config}'s socket: a child of this JVM, or of the keeper that
     * started it to take over from a dead one.
     */
    static Optional<ProcessHandle> startedServer(AnymapConfig config) {
        return processWith("dev.anymap.server.PageServerMain", config.socket().toString());
    }

    /** The live keeper of the page server at {@code config}'s socket. */
    static Optional<ProcessHandle> keeper(AnymapConfig config) {
        return processWith("dev.anymap.keeper.KeeperMain", ServerAddress.keeperSocket(config.socket()).toString());
    }

    private static Optional<ProcessHandle> processWith(String mainClass, String socket) {
        return ProcessHandle.allProcesses()
                .filter(ProcessHandle::isAlive)
                .filter(process -> {
                    // From /proc: ProcessHandle.Info leaves out the arguments of some processes (seen with the keeper's).
                    List<String> arguments = commandLine(process.pid());
                    for (int i = 0; i < arguments.size(); i++) {
                        // A keeper's arguments hold the server's command too: the first main class is the process's own.
                        if (arguments.get(i).endsWith("server.PageServerMain") || arguments.get(i).endsWith("keeper.KeeperMain")) {
                            return arguments.get(i).endsWith(mainClass) && arguments.subList(i, arguments.size()).contains(socket);
                        }
                    }
                    return false;
                })
                .findFirst();
    }

    private static List<String> commandLine(long pid) {
        try {
            String all = new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), java.nio.charset.StandardCharsets.UTF_8);
            return List.of(all.split("\0"));
        } catch (IOException e) {
            return List.of(); // gone, or not ours to read
        }
    }
}
