package dev.anymap.firecracker;

import dev.anymap.AnymapConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** A page server of the tests' own, at a private socket, so that no test meets a user's server (as uffd-core's tests have it). */
final class TestServers {
    private TestServers() {}

    static AnymapConfig privateServer() throws IOException {
        Path directory = Files.createTempDirectory("anymap-test-");
        Files.delete(directory); // the server makes it, with mode 0700
        return AnymapConfig.defaults().withSocket(directory.resolve("server.sock")).withServerIdleExit(Duration.ofSeconds(1));
    }
}
