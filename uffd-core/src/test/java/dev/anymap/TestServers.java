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

    /** The live page server that this JVM started for {@code config}, which is a child process of it. */
    static Optional<ProcessHandle> startedServer(AnymapConfig config) {
        String socket = config.socket().toString();
        return ProcessHandle.current().children()
                .filter(ProcessHandle::isAlive)
                .filter(child -> child.info().arguments().map(args -> List.of(args).contains(socket)).orElse(false))
                .findFirst();
    }
}
