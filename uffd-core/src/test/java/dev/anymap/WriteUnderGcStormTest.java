package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Writes to a writable region, and flushes of it, while the application's JVM collects garbage
 * without pause: the writes' faults wait on the page server with a safepoint pending, flushes run
 * between them, and every write reaches the file.
 */
class WriteUnderGcStormTest {
    private static final int SIZE = 128 << 20;

    @TempDir
    Path directory;

    @Test
    void writesAndFlushesUnderAGcStormLoseNothing() throws Exception {
        Path file = directory.resolve("storm.bin");
        byte[] content = new byte[SIZE];
        new SplittableRandom(61).nextBytes(content);
        Files.write(file, content);
        Path socket = TestServers.privateServer().socket();
        Path output = directory.resolve("program.log");
        Process program = new ProcessBuilder(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseG1GC", "-Xmx512m", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"),
                WriteUnderGcStormProgram.class.getName(), socket.toString(), file.toString()))
                .redirectErrorStream(true)
                .redirectOutput(output.toFile())
                .start();
        try {
            boolean finished = program.waitFor(5, TimeUnit.MINUTES);
            String printed = Files.readString(output, StandardCharsets.UTF_8);
            assertTrue(finished, "the writes under a GC storm froze; the program printed:\n" + printed);
            assertEquals(0, program.exitValue(), printed);
            assertTrue(printed.lines().anyMatch("OK"::equals), printed);
            assertTrue(printed.lines().anyMatch(line -> line.matches("[1-9][0-9]* flushes")), "no flush ran among the writes: " + printed);
        } finally {
            program.destroyForcibly();
        }
    }
}
