package dev.anymap.firecracker;

import dev.anymap.AnymapConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/** A page server of the tests' own, at a private socket, so that no test meets a user's server (as uffd-core's tests have it). */
final class TestServers {
    private TestServers() {}

    static AnymapConfig privateServer() throws IOException {
        Path directory = Files.createTempDirectory("anymap-test-");
        Files.delete(directory); // the server makes it, with mode 0700
        return AnymapConfig.defaults().withSocket(directory.resolve("server.sock")).withServerIdleExit(Duration.ofSeconds(1));
    }

    /**
     * The live page server at {@code config}'s socket: a child of this JVM, or of the keeper that
     * started it to take over from a dead one.
     */
    static Optional<ProcessHandle> startedServer(AnymapConfig config) {
        return processWith("dev.anymap.server.PageServerMain", config.socket().toString());
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
