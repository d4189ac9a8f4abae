package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A page server in a container that has reached its process limit (a cgroup's {@code pids.max})
 * cannot start a thread for a fetch. The faults wait while it tries again, and are served, with the
 * object's bytes, once the limit lets it; the fault loop that queued the fetch never stops serving.
 */
class ProcessLimitTest {
    private static final Path HIERARCHY = Path.of("/sys/fs/cgroup/pids");
    private static final long SIZE = 4 << 20;
    private static final MapOptions OPTIONS = MapOptions.defaults().withChunkSize(64 * 1024);

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aFetchThatCannotStartAThreadIsServedOnceTheProcessLimitLetsIt() throws Exception {
        assumeTrue(Files.isWritable(HIERARCHY.resolve("cgroup.procs")),
                "no writable cgroup v1 pids hierarchy at " + HIERARCHY + " (the test needs root and a pids controller)");
        Path cgroup = Files.createDirectory(HIERARCHY.resolve("anymap-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime()));
        AnymapConfig config = TestServers.privateServer();
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(URI.create("faulty:limited?size=" + SIZE + "&seed=21"), OPTIONS)) {
            long server = anymap.serverStatus().serverPid();
            // Moved in with all its threads, past the limit: it starts none from here on.
            Files.writeString(cgroup.resolve("pids.max"), "1");
            Files.writeString(cgroup.resolve("cgroup.procs"), Long.toString(server));
            CompletableFuture<Void> loaded = new CompletableFuture<>();
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    region.load(0, SIZE);
                    loaded.complete(null);
                } catch (Throwable e) {
                    loaded.completeExceptionally(e);
                }
            });
            Path log = config.socket().resolveSibling("server.log");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.readString(log).contains("no thread could be started for a fetch")) {
                assertTrue(System.nanoTime() < deadline, "the page server never found itself at its limit; its log:\n" + Files.readString(log));
                Thread.onSpinWait();
            }
            Files.writeString(cgroup.resolve("pids.max"), "max");
            loaded.get(60, TimeUnit.SECONDS);
            assertArrayEquals(ReferenceContent.bytes(SIZE, 21, 0, (int) SIZE), WithPageServer.actual(region.segment(), 0, (int) SIZE));
        } finally {
            release(cgroup);
        }
    }

    /** Moves what is left in {@code cgroup} back to the root, and removes it; a process that exits meanwhile needs no move. */
    private static void release(Path cgroup) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (List<String> left; !(left = Files.readAllLines(cgroup.resolve("cgroup.procs"))).isEmpty(); ) {
            assertTrue(System.nanoTime() < deadline, "processes still in " + cgroup + ": " + left);
            for (String process : left) {
                try {
                    Files.writeString(HIERARCHY.resolve("cgroup.procs"), process);
                } catch (IOException exited) {
                    // gone since the list was read
                }
            }
        }
        Files.delete(cgroup);
    }
}
