package dev.anymap.samples.writeback;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.s3server.S3ServerProcess;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Writable mappings of S3 objects, written back through a real page server to a real S3 server in
 * another process, by applications in JVMs of their own ({@link S3WriterProgram}) that are killed at
 * random moments of their flushes, and by a page server killed in the middle of one. What is stored is
 * read with the plain AWS SDK and compared with models of what was written.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class S3WriteBackTest {
    private static final String BUCKET = "write-back";
    /** Three parts of the writer's 8 MiB, the last one short. */
    private static final int SIZE = 20 << 20;
    private static final int RUNS = 20;

    @TempDir
    static Path directory;
    private static S3ServerProcess s3;
    private static S3Client client;
    private final List<Process> writers = new ArrayList<>();

    @BeforeAll
    static void startTheStore() throws IOException {
        s3 = S3ServerProcess.start();
        client = s3.newClient();
        client.createBucket(b -> b.bucket(BUCKET));
    }

    @AfterAll
    static void stopTheStore() throws IOException {
        client.close();
        s3.close();
    }

    @AfterEach
    void endTheWriters() {
        writers.forEach(Process::destroyForcibly);
    }

    private static URI put(String key, byte[] content) {
        client.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromBytes(content));
        return URI.create("s3://" + BUCKET + "/" + key);
    }

    private static byte[] stored(String key) {
        return client.getObjectAsBytes(b -> b.bucket(BUCKET).key(key)).asByteArray();
    }

    private static byte[] filled(byte value) {
        byte[] content = new byte[SIZE];
        Arrays.fill(content, value);
        return content;
    }

    private Process writer(Path socket, URI uri, String... action) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                S3WriterProgram.class.getName(), socket.toString(), uri.toString()));
        command.addAll(List.of(action));
        s3.backendOptions().forEach((key, value) -> command.add(key + "=" + value));
        Process writer = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        writers.add(writer);
        return writer;
    }

    private static BufferedReader lines(Process process) {
        return new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    @Test
    void anApplicationKilledInTheMiddleOfAFlushLeavesTheOldVersionOrTheNewNeverAMix() throws Exception {
        Path socket = Files.createTempDirectory(directory, "kill-").resolve("server.sock");
        SplittableRandom random = new SplittableRandom(51);
        String key = "killed-writer.bin";
        byte current = 1;
        URI uri = put(key, filled(current));
        int old = 0;
        int completed = 0;
        for (int run = 0; run < RUNS; run++) {
            byte next = (byte) (current + 1);
            Process writer = writer(socket, uri, "fill", Byte.toString(next));
            BufferedReader out = lines(writer);
            assertEquals("FLUSHING", out.readLine(), "run " + run);
            // The moment of the kill, not a synchronisation: from the flush's start to past its end.
            Thread.sleep(random.nextInt(0, 400));
            writer.destroyForcibly();
            assertTrue(writer.waitFor(30, TimeUnit.SECONDS));
            awaitRegionsGone(socket, writer.pid()); // the page server ends the commit under way before it lets the region go
            byte[] stored = stored(key);
            boolean isOld = Arrays.equals(stored, filled(current));
            boolean isNew = Arrays.equals(stored, filled(next));
            assertTrue(isOld || isNew, "run " + run + ": the stored object is neither the old version nor the new");
            old += isOld ? 1 : 0;
            completed += isNew ? 1 : 0;
            current = isNew ? next : current;
            try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(socket));
                 MappedRegion region = anymap.map(uri, MapOptions.defaults().withBackendOptions(s3.backendOptions()))) {
                assertArrayEquals(stored, region.segment().toArray(ValueLayout.JAVA_BYTE), "run " + run + ": a new mapping");
            }
        }
        System.out.println("writers killed mid-flush: " + old + " left the old version, " + completed + " the new");
        assertTrue(client.listMultipartUploads(b -> b.bucket(BUCKET)).uploads().isEmpty(), "no upload left behind");
    }

    /** Waits until the page server lists no region of {@code pid}: it has seen the client die, and ended its flush. */
    private static void awaitRegionsGone(Path socket, long pid) throws IOException {
        try (Anymap status = Anymap.open(AnymapConfig.defaults().withSocket(socket).withAutoStart(false))) {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
            while (status.serverStatus().regions().stream().anyMatch(region -> region.clientPid() == pid)) {
                assertTrue(System.nanoTime() < deadline, "the page server still lists the regions of killed writer " + pid);
                Thread.onSpinWait();
            }
        }
    }

    @Test
    void ofTwoWritersOfOneObjectOneWinsAndTheOtherFailsOverwritingNothing() throws Exception {
        Path socket = Files.createTempDirectory(directory, "two-").resolve("server.sock");
        byte[] original = new byte[SIZE];
        new SplittableRandom(52).nextBytes(original);
        URI uri = put("two-writers.bin", original);
        Process first = writer(socket, uri, "poke", "100", "7");
        Process second = writer(socket, uri, "poke", Long.toString(SIZE - 100L), "9");
        BufferedReader firstOut = lines(first);
        BufferedReader secondOut = lines(second);
        assertEquals("WRITTEN", firstOut.readLine());
        assertEquals("WRITTEN", secondOut.readLine());
        go(first);
        assertEquals("FLUSHING", firstOut.readLine());
        assertTrue(firstOut.readLine().startsWith("FLUSHED "), "the first flush wins");
        go(second);
        assertEquals("FLUSHING", secondOut.readLine());
        String lost = secondOut.readLine();
        assertTrue(lost.startsWith("CHANGED ") && lost.contains(uri.toString()), lost);
        byte[] winner = original.clone();
        winner[100] = 7;
        assertArrayEquals(winner, stored("two-writers.bin"), "exactly the winner's bytes");
    }

    private static void go(Process writer) throws IOException {
        Writer in = new java.io.OutputStreamWriter(writer.getOutputStream(), StandardCharsets.UTF_8);
        in.write("go\n");
        in.flush();
    }

    @Test
    void aPageServerKilledInTheMiddleOfAFlushLosesNoWriteThatTheFlushOrItsRetryCovers() throws Exception {
        SplittableRandom random = new SplittableRandom(53);
        int completed = 0;
        AnymapConfig config = AnymapConfig.defaults().withSocket(Files.createTempDirectory(directory, "server-").resolve("server.sock"));
        try (Anymap anymap = Anymap.open(config)) {
            for (int run = 0; run < RUNS; run++) {
                byte[] model = new byte[SIZE];
                random.nextBytes(model);
                String key = "killed-server-" + run + ".bin";
                URI uri = put(key, model);
                try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withBackendOptions(s3.backendOptions()).withWritable(true))) {
                    MemorySegment memory = region.segment();
                    for (int write = 0; write < 30; write++) { // in every part
                        int offset = random.nextInt(SIZE - 5000);
                        byte[] bytes = new byte[random.nextInt(1, 5000)];
                        random.nextBytes(bytes);
                        MemorySegment.copy(bytes, 0, memory, ValueLayout.JAVA_BYTE, offset, bytes.length);
                        System.arraycopy(bytes, 0, model, offset, bytes.length);
                    }
                    long server = anymap.serverStatus().serverPid();
                    CompletableFuture<Void> flush = CompletableFuture.runAsync(() -> {
                        try {
                            region.flush();
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    });
                    Thread.sleep(random.nextInt(0, 300)); // the moment of the kill
                    ProcessHandle.of(server).ifPresent(ProcessHandle::destroyForcibly);
                    try {
                        flush.get(2, TimeUnit.MINUTES);
                        completed++;
                    } catch (ExecutionException failed) {
                        region.flush();
                    }
                    assertArrayEquals(model, stored(key), "run " + run + ": the stored object");
                }
            }
        }
        assertTrue(completed > 0, "no flush outlived its page server's kill in " + RUNS + " runs");
    }
}
