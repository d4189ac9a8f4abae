package dev.anymap.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.StringWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code anymap firecracker} as a platform would run it: in a process of its own, stopped with SIGTERM. */
class FirecrackerCommandTest {
    @Test
    void withoutAMemoryFileItIsABadUsage() {
        StringWriter err = new StringWriter();
        var commandLine = AnymapCommand.commandLine();
        commandLine.setErr(new java.io.PrintWriter(err, true));
        assertEquals(2, commandLine.execute("firecracker", "--socket", "/tmp/x.sock"));
        assertTrue(err.toString().contains("--memory"), err.toString());
    }

    @Test
    void itListensLogsABadPeerAndRemovesItsSocketOnSigterm(@TempDir Path directory) throws Exception {
        Path memory = Files.write(directory.resolve("vm.mem"), new byte[1 << 20]);
        Path socket = directory.resolve("fc").resolve("uffd.sock");
        Path server = directory.resolve("server").resolve("server.sock");
        Process handler = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                "dev.anymap.samples.AnymapCommand", "firecracker", "--socket", socket.toString(), "--memory", memory.toString(),
                "--server-socket", server.toString())).redirectErrorStream(true).start();
        // Should a line never come, the process is ended, and reading its output with it: the test fails instead of hanging.
        java.util.concurrent.CompletableFuture.delayedExecutor(2, TimeUnit.MINUTES).execute(handler::destroyForcibly);
        try (BufferedReader output = new BufferedReader(new InputStreamReader(handler.getInputStream(), StandardCharsets.UTF_8))) {
            assertNotNull(lineWith(output, "Ctrl-C stops it"), "the handler started");
            assertTrue(Files.exists(socket));
            try (SocketChannel peer = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                peer.connect(UnixDomainSocketAddress.of(socket));
                peer.write(ByteBuffer.wrap("no JSON here".getBytes(StandardCharsets.UTF_8)));
                String error = lineWith(output, "not JSON");
                assertNotNull(error, "the bad peer is logged");
                assertTrue(error.contains("Firecracker process " + ProcessHandle.current().pid()), error);
                assertTrue(error.contains(memory.toUri().toString()), error);
            }
            handler.destroy(); // SIGTERM
            assertTrue(handler.waitFor(1, TimeUnit.MINUTES));
        } finally {
            handler.destroyForcibly();
        }
        assertFalse(Files.exists(socket), "the socket is removed");
    }

    /** The first line of the process's output that holds {@code text}, or null if it ends first. */
    private static String lineWith(BufferedReader output, String text) throws java.io.IOException {
        for (String line; (line = output.readLine()) != null; ) {
            if (line.contains(text)) {
                return line;
            }
        }
        return null;
    }
}
