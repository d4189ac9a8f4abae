package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The measured fact the engine is built on: a scan of mapped memory under a storm of garbage
 * collections finishes, with every byte right, because the faults are served out of process.
 */
class GcStormTest {
    private static final long SIZE = 1L << 30;

    @ParameterizedTest
    @ValueSource(strings = {"-XX:+UseG1GC", "-XX:+UseZGC"})
    void aScanUnderAGcStormFinishesWithEveryByteRight(String collector) throws Exception {
        Path socket = TestServers.privateServer().socket();
        Path output = Files.createTempFile("gc-storm", ".log");
        Process program = new ProcessBuilder(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                collector, "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"),
                GcStormProgram.class.getName(), socket.toString(), Long.toString(SIZE)))
                .redirectErrorStream(true)
                .redirectOutput(output.toFile())
                .start();
        try {
            boolean finished = program.waitFor(5, TimeUnit.MINUTES);
            String printed = Files.readString(output, StandardCharsets.UTF_8);
            assertTrue(finished, "the scan under " + collector + " froze; it printed:\n" + printed);
            assertEquals(0, program.exitValue(), printed);
            assertTrue(printed.lines().anyMatch("OK"::equals), printed);
        } finally {
            program.destroyForcibly();
            Files.deleteIfExists(output);
        }
    }
}
