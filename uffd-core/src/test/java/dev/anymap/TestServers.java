package dev.anymap;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/** A page server of the tests' own, at a private socket, so that no test meets a user's server. */
final class TestServers {
    private TestServers() {}

    static AnymapConfig privateServer() throws IOException {
        Path directory = Files.createTempDirectory("anymap-test-");
        Files.delete(directory); // the server makes it, with mode 0700
        return AnymapConfig.defaults().withSocket(directory.resolve("server.sock")).withServerIdleExit(Duration.ofSeconds(1));
    }

    /** The page server that this JVM started, which is a child process of it. */
    static Optional<ProcessHandle> startedServer() {
        return ProcessHandle.current().children()
                .filter(child -> child.info().arguments().map(args -> String.join(" ", args).contains("PageServerMain")).orElse(false))
                .findFirst();
    }
}
