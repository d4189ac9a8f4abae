package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.protocol.Message;
import dev.anymap.protocol.MessageCodec;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A process whose class path makes its map requests as long as a keeper holds: its region is kept,
 * and taken over when its page server is killed; a class path one entry longer fails the map at
 * once, naming it.
 */
class LongMapRequestTest {
    /** Each entry adds about 230 bytes to a map request: 400 are more than it may hold. */
    private static final int ENTRIES = 400;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void theLongestMapRequestIsTakenOverAfterAKillAndOneEntryMoreIsRefusedNamingTheClassPath(@TempDir Path directories)
            throws Exception {
        String own = System.getProperty("java.class.path");
        List<String> extra = new ArrayList<>();
        for (int i = 0; i < ENTRIES; i++) {
            extra.add(Files.createDirectory(directories.resolve(i + "-" + "d".repeat(200))).toString());
        }
        int longest = longestAccepted(own, extra);

        AnymapConfig config = TestServers.privateServer();
        Process kept = start(config, own, extra.subList(0, longest));
        try {
            BufferedReader said = new BufferedReader(new InputStreamReader(kept.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("MAPPED", said.readLine());
            // At a moment no one chose, most often while the program reads.
            Thread.sleep(ThreadLocalRandom.current().nextInt(300));
            ProcessHandle server = TestServers.startedServer(config).orElseThrow();
            server.destroyForcibly();
            server.onExit().get(30, TimeUnit.SECONDS);
            assertEquals("RIGHT", said.readLine(), "the region was not taken over whole");
            // A keeper that held nothing would have exited, starting no server.
            assertTrue(awaitServerOtherThan(config, server.pid()), "no server took the region over");
            new PrintStream(kept.getOutputStream(), true, StandardCharsets.UTF_8).println("DONE");
            assertTrue(kept.waitFor(60, TimeUnit.SECONDS) && kept.exitValue() == 0, "the program did not end well");
        } finally {
            kept.destroyForcibly();
        }

        Process refused = start(config, own, extra.subList(0, longest + 1));
        try {
            String answer = new BufferedReader(new InputStreamReader(refused.getInputStream(), StandardCharsets.UTF_8)).readLine();
            assertNotNull(answer, "the program said nothing");
            int entries = LocalBackends.entries(classPath(own, extra.subList(0, longest + 1))).size();
            assertTrue(answer.startsWith("REFUSED") && answer.contains(entries + " class path"), answer);
            assertTrue(refused.waitFor(60, TimeUnit.SECONDS), "the program did not end");
        } finally {
            refused.destroyForcibly();
        }
    }

    private static boolean awaitServerOtherThan(AnymapConfig config, long killed) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (TestServers.startedServer(config).filter(now -> now.pid() != killed).isPresent()) {
                return true;
            }
            Thread.sleep(50); // polled: nothing tells this JVM when the keeper has started one
        }
        return false;
    }

    /** The most of {@code extra}, after {@code own}, with which the program's map request can be sent. */
    private static int longestAccepted(String own, List<String> extra) {
        Message.Map request = MapOptions.defaults().request(1, URI.create(LongClassPathProgram.URI_), "", Message.Assumed.NONE, false);
        for (int n = 0; n <= extra.size(); n++) {
            Message.CodePath codePath = new Message.CodePath(LocalBackends.entries(classPath(own, extra.subList(0, n))), List.of());
            try {
                MessageCodec.encode(new Message.Map(request.requestId(), request.uri(), request.options(), request.chunkSize(),
                        request.fetchWorkers(), request.prefetching(), request.expectedVersion(), request.assumed(),
                        request.fetchDeadlineMillis(), codePath, request.writing()));
            } catch (IllegalArgumentException tooLong) {
                assertTrue(n > 0, "the tests' own class path is too long for a map request");
                return n - 1;
            }
        }
        throw new AssertionError(extra.size() + " more entries still fit a map request: the test proves nothing");
    }

    private static String classPath(String own, List<String> extra) {
        return extra.isEmpty() ? own : own + File.pathSeparator + String.join(File.pathSeparator, extra);
    }

    private static Process start(AnymapConfig config, String own, List<String> extra) throws Exception {
        return new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED",
                "-cp", classPath(own, extra), LongClassPathProgram.class.getName(), config.socket().toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }
}
