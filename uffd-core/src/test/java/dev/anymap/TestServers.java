package dev.anymap;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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
     * The live page server at {@code config}'s socket: a child of this JVM, or of the keeper that
     * started it to take over from a dead one.
     */
    static Optional<ProcessHandle> startedServer(AnymapConfig config) {
        return processWith(config, "dev.anymap.server.PageServerMain");
    }

    /** The live keeper of the page server at {@code config}'s socket. */
    static Optional<ProcessHandle> keeper(AnymapConfig config) {
        return processWith(config, "dev.anymap.keeper.KeeperMain");
    }

    private static Optional<ProcessHandle> processWith(AnymapConfig config, String mainClass) {
        String socket = config.socket().toString();
        return ProcessHandle.allProcesses()
                .filter(ProcessHandle::isAlive)
                .filter(process -> process.info().arguments().map(args -> {
                    // A keeper's arguments hold the server's command too: the first main class is the process's own.
                    List<String> list = List.of(args);
                    for (int i = 0; i < list.size(); i++) {
                        if (list.get(i).endsWith("server.PageServerMain") || list.get(i).endsWith("keeper.KeeperMain")) {
                            return list.get(i).endsWith(mainClass) && list.subList(i, list.size()).contains(socket);
                        }
                    }
                    return false;
                }).orElse(false))
                .findFirst();
    }
}
