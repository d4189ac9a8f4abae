package dev.anymap.firecracker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.backend.memory.MemoryObjects;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.Writer;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * "Firecracker" in processes of its own ({@link FirecrackerProgram}) resumed through the handler's
 * socket ({@link FirecrackerHandler}), as a platform runs it: several VMs at once, each with
 * several regions, every byte each reads the memory file's, and a balloon's range zeros.
 */
// A separate thread: a read from a VM that waits for ever must not hold the test past its time.
@Timeout(value = 4, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FirecrackerSocketEndToEndTest {
    private static final long MIB = 1L << 20;
    private final List<Process> guests = new ArrayList<>();

    @AfterEach
    void endTheGuests() {
        guests.forEach(Process::destroyForcibly);
    }

    private Process firecracker(Path socket, long seed) throws Exception {
        Process guest = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xmx64m", "-cp", System.getProperty("java.class.path"),
                FirecrackerProgram.class.getName(), socket.toString(), "4096", (8 * MIB) + "," + (8 * MIB), (8 * MIB) + ",0",
                "seed:" + seed).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        guests.add(guest);
        return guest;
    }

    private static String ask(Process process, BufferedReader answers, String command) throws Exception {
        Writer commands = new java.io.OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        commands.write(command + "\n");
        commands.flush();
        return answers.readLine();
    }

    @Test
    void severalVmsResumeThroughTheHandlersSocketAndReadEveryByte() throws Exception {
        long seed = 81;
        URI uri = MemoryObjects.generatedUri("fc-socket", 16 * MIB, seed);
        Path socket = Files.createTempDirectory("anymap-fc-").resolve("uffd.sock");
        try (Anymap anymap = Anymap.open(TestServers.privateServer());
             FirecrackerHandler handler = FirecrackerHandler.builder(anymap, socket, uri)
                     .options(MapOptions.defaults().withChunkSize(64 * 1024)).start()) {
            List<Process> vms = List.of(firecracker(socket, seed), firecracker(socket, seed));
            List<BufferedReader> answers = new ArrayList<>();
            for (Process vm : vms) {
                BufferedReader lines = new BufferedReader(new InputStreamReader(vm.getInputStream(), StandardCharsets.UTF_8));
                assertEquals("HANDED", lines.readLine());
                answers.add(lines);
            }
            for (int i = 0; i < vms.size(); i++) {
                assertEquals("CHECKED " + 16 * MIB, ask(vms.get(i), answers.get(i), "CHECK 3"), "VM " + i);
            }
            assertEquals("BALLOONED", ask(vms.get(0), answers.get(0), "BALLOON " + 2 * MIB + " " + MIB));
            // The ballooned range now reads zeros, not the snapshot's bytes: READ compares with the snapshot and fails.
            assertEquals("WRONG at " + 2 * MIB, ask(vms.get(0), answers.get(0), "READ " + 2 * MIB + " 4096"));
            assertEquals(1, vms.get(0).waitFor());
            assertEquals("READ OK", ask(vms.get(1), answers.get(1), "READ " + 2 * MIB + " 4096"), "the other VM keeps its bytes");
            ask(vms.get(1), answers.get(1), "EXIT");
            assertEquals(0, vms.get(1).waitFor());
        }
    }

    /** What Java reports as the exit status of a process that a signal killed: 128 + SIGBUS. */
    private static final int KILLED_BY_SIGBUS = 128 + 7;

    @Test
    void aVmStillRunningWhenItsHandlerStopsGetsAMemoryErrorNotAWaitForEver() throws Exception {
        long seed = 82;
        URI uri = MemoryObjects.generatedUri("fc-abandoned", 16 * MIB, seed);
        Path socket = Files.createTempDirectory("anymap-fc-").resolve("uffd.sock");
        try (Anymap anymap = Anymap.open(TestServers.privateServer())) {
            Process vm;
            BufferedReader answers;
            try (FirecrackerHandler handler = FirecrackerHandler.builder(anymap, socket, uri)
                    .options(MapOptions.defaults().withChunkSize(64 * 1024).withReadahead(0).withAutoPull(false)).start()) {
                vm = firecracker(socket, seed);
                answers = new BufferedReader(new InputStreamReader(vm.getInputStream(), StandardCharsets.UTF_8));
                assertEquals("HANDED", answers.readLine());
                assertEquals("READ OK", ask(vm, answers, "READ 0 4096"));
                assertEquals("DEFAULT", ask(vm, answers, "SIGBUS-DEFAULT"));
            }
            assertEquals("READ OK", ask(vm, answers, "READ 0 4096"), "a page it had stays");
            org.junit.jupiter.api.Assertions.assertNull(ask(vm, answers, "READ " + 4 * MIB + " 4096"), "read a page nothing served");
            assertEquals(KILLED_BY_SIGBUS, vm.waitFor(), "the VM died of a memory error");
        }
    }

    @Test
    void aVmThatCannotBeServedGetsAMemoryErrorAtItsFirstTouch() throws Exception {
        long seed = 83;
        // 8 MiB, where the VM's regions hold 16: a memory file cut short, refused at the handshake.
        URI uri = MemoryObjects.generatedUri("fc-short", 8 * MIB, seed);
        Path socket = Files.createTempDirectory("anymap-fc-").resolve("uffd.sock");
        try (Anymap anymap = Anymap.open(TestServers.privateServer());
             FirecrackerHandler handler = FirecrackerHandler.builder(anymap, socket, uri).start()) {
            Process vm = firecracker(socket, seed);
            BufferedReader answers = new BufferedReader(new InputStreamReader(vm.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("HANDED", answers.readLine());
            assertEquals("DEFAULT", ask(vm, answers, "SIGBUS-DEFAULT"));
            org.junit.jupiter.api.Assertions.assertNull(ask(vm, answers, "READ 0 4096"), "read memory that was never served");
            assertEquals(KILLED_BY_SIGBUS, vm.waitFor(), "the VM died of a memory error");
        }
    }
}
