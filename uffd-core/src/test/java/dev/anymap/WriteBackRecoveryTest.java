package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A page server killed at a random moment of a flush: the flush completes, or fails and a retry
 * completes, and either way the file holds every write that was made before it, read back with plain
 * file I/O against a model of the writes.
 */
class WriteBackRecoveryTest {
    private static final int CHUNK = 64 << 10;
    private static final int RUNS = 10;
    /** How long the storage takes to start a commit: the kills fall before, within and after it. */
    private static final int COMMIT_MILLIS = 100;

    @TempDir
    Path directory;

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void aPageServerKilledInTheMiddleOfAFlushLosesNoWriteThatTheFlushOrItsRetryCovers() throws Exception {
        SplittableRandom random = new SplittableRandom(41);
        int completed = 0;
        for (int run = 0; run < RUNS; run++) {
            byte[] model = new byte[16 * CHUNK + 321];
            random.nextBytes(model);
            Path file = directory.resolve("run-" + run + ".bin");
            Files.write(file, model);
            URI uri = URI.create("servedfile:" + file + "?slow=" + COMMIT_MILLIS);
            AnymapConfig config = TestServers.privateServer();
            try (Anymap anymap = Anymap.open(config);
                 MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(CHUNK).withWritable(true))) {
                for (int write = 0; write < 40; write++) {
                    int offset = random.nextInt(model.length - 10);
                    byte[] bytes = new byte[random.nextInt(1, 10)];
                    random.nextBytes(bytes);
                    MemorySegment.copy(bytes, 0, region.segment(), ValueLayout.JAVA_BYTE, offset, bytes.length);
                    System.arraycopy(bytes, 0, model, offset, bytes.length);
                }
                ProcessHandle server = TestServers.startedServer(config).orElseThrow();
                CompletableFuture<Void> flush = CompletableFuture.runAsync(() -> {
                    try {
                        region.flush();
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                // The moment of the kill, not a synchronisation: anywhere from before the commit starts to after it ends.
                Thread.sleep(random.nextInt(0, 2 * COMMIT_MILLIS));
                server.destroyForcibly();
                server.onExit().get(30, TimeUnit.SECONDS);
                try {
                    flush.get(2, TimeUnit.MINUTES);
                    completed++;
                } catch (ExecutionException failed) {
                    region.flush(); // the retry, on the server that took over
                }
                assertArrayEquals(model, Files.readAllBytes(file), "run " + run + ": the file after the flush");
                assertArrayEquals(model, WithPageServer.actual(region.segment(), 0, model.length), "run " + run + ": the region");
            }
        }
        assertTrue(completed > 0, "no flush outlived its page server's kill in " + RUNS + " runs: the kills all fell elsewhere");
    }
}
