package dev.anymap.firecracker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.ServedGuest;
import dev.anymap.linux.Libc;
import dev.anymap.s3server.S3ServerProcess;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * A snapshot's memory file on S3 (s3proxy in a process of its own), served to "Firecracker" in a
 * JVM of its own ({@link FirecrackerProgram}), which hands its guest memory over on a socket as
 * Firecracker does; this test takes the handshake and calls {@link Anymap#serve}. Every byte is
 * checked against the file's bytes kept here; a fetch that fails kills the guest's process by SIGBUS
 * at the read, never handing it wrong bytes.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class S3SnapshotEndToEndTest {
    private static final String BUCKET = "snapshots";
    private static final long MIB = 1L << 20;
    /** What Java reports as the exit status of a process that a signal killed: 128 + SIGBUS. */
    private static final int KILLED_BY_SIGBUS = 128 + 7;

    @TempDir
    static Path directory;
    private static S3ServerProcess s3;
    private static S3Client client;
    private static Anymap anymap;
    private final List<Process> guests = new ArrayList<>();

    @BeforeAll
    static void startTheStoreAndAPageServer() throws Exception {
        s3 = S3ServerProcess.start();
        client = s3.newClient();
        client.createBucket(b -> b.bucket(BUCKET));
        AnymapConfig config = TestServers.privateServer();
        anymap = Anymap.open(config);
    }

    @AfterAll
    static void stop() throws Exception {
        anymap.close();
        client.close();
        s3.close();
    }

    @AfterEach
    void endTheGuests() {
        guests.forEach(Process::destroyForcibly);
    }

    /** A memory file of {@code size} random bytes in S3 and, as the independent copy, in a local file. */
    private static Path snapshot(String key, long size, long seed) throws IOException {
        byte[] content = new byte[(int) size];
        new Random(seed).nextBytes(content);
        client.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromBytes(content));
        Path copy = directory.resolve(key);
        Files.write(copy, content);
        return copy;
    }

    private Process firecracker(Path socket, long[] sizes, long[] offsets, Path copy) throws IOException {
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xmx64m", "-cp", System.getProperty("java.class.path"),
                FirecrackerProgram.class.getName(), socket.toString(), "4096", join(sizes), join(offsets), "file:" + copy);
        Process guest = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        guests.add(guest);
        return guest;
    }

    private static String join(long[] values) {
        return LongStream.of(values).mapToObj(Long::toString).collect(Collectors.joining(","));
    }

    private static BufferedReader lines(Process process) {
        return new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    private static String ask(Process process, BufferedReader answers, String command) throws IOException {
        Writer commands = new java.io.OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        commands.write(command + "\n");
        commands.flush();
        return answers.readLine();
    }

    private static MapOptions options() {
        return MapOptions.defaults().withChunkSize(64 * 1024).withBackendOptions(s3.backendOptions());
    }

    @Test
    void aGuestInAnotherProcessReadsEveryByteOfItsMemoryFileOnS3() throws Exception {
        Path copy = snapshot("vm.mem", 24 * MIB, 1);
        Path socket = Files.createTempDirectory(directory, "vm-").resolve("uffd.sock");
        int listener = Handshake.listen(socket);
        try {
            Process guest = firecracker(socket, new long[] {16 * MIB, 8 * MIB}, new long[] {8 * MIB, 0}, copy);
            BufferedReader answers = lines(guest);
            try (Handshake handshake = Handshake.accept(listener);
                 ServedGuest served = anymap.serve(URI.create("s3://" + BUCKET + "/vm.mem"), options(), handshake.memory())) {
                assertEquals("HANDED", answers.readLine());
                assertEquals("CHECKED " + 24 * MIB, ask(guest, answers, "CHECK 4"));
                assertTrue(served.stats().bytesFetched() >= 24 * MIB, "fetched from S3");
                ask(guest, answers, "EXIT");
                assertEquals(0, guest.waitFor());
            }
        } finally {
            Libc.close(listener);
        }
    }

    @Test
    void aFetchThatFailsKillsTheGuestBySigbusNeverWithWrongBytes() throws Exception {
        Path copy = snapshot("deleted.mem", 8 * MIB, 2);
        Path socket = Files.createTempDirectory(directory, "vm-").resolve("uffd.sock");
        int listener = Handshake.listen(socket);
        try {
            Process guest = firecracker(socket, new long[] {8 * MIB}, new long[] {0}, copy);
            BufferedReader answers = lines(guest);
            MapOptions options = options().withAutoPull(false).withReadahead(0).withFetchDeadline(Duration.ofSeconds(20));
            try (Handshake handshake = Handshake.accept(listener);
                 ServedGuest served = anymap.serve(URI.create("s3://" + BUCKET + "/deleted.mem"), options, handshake.memory())) {
                assertEquals("HANDED", answers.readLine());
                assertEquals("READ OK", ask(guest, answers, "READ 0 65536"));
                client.deleteObject(b -> b.bucket(BUCKET).key("deleted.mem"));
                assertEquals("DEFAULT", ask(guest, answers, "SIGBUS-DEFAULT"));
                // A chunk never fetched: its fetch fails now, and the read must not return.
                assertNull(ask(guest, answers, "READ " + 4 * MIB + " 4096"), "the guest read a chunk whose fetch failed");
                assertTrue(guest.waitFor(60, TimeUnit.SECONDS));
                assertEquals(KILLED_BY_SIGBUS, guest.exitValue(), "the guest died of SIGBUS");
                assertTrue(served.stats().failures() > 0, "the failure is counted: " + served.stats().lastFailure());
            }
        } finally {
            Libc.close(listener);
        }
    }
}
