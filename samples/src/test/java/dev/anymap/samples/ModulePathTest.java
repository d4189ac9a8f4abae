package dev.anymap.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * anymap as named modules: the demo runs with every jar on the module path, finds its backends
 * through {@code provides} in their module descriptors, and starts its page server as a module.
 */
class ModulePathTest {
    private static final List<String> TEST_ONLY = List.of("junit", "opentest4j", "apiguardian", "surefire", "test-classes");

    @ParameterizedTest
    @ValueSource(strings = {"mem", "file"})
    void theDemoRunsOnTheModulePath(String scheme, @TempDir Path directory) throws Exception {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String modulePath = Arrays.stream(classPath.split(File.pathSeparator))
                .filter(entry -> TEST_ONLY.stream().noneMatch(entry::contains))
                .collect(Collectors.joining(File.pathSeparator));
        Path socket = directory.resolve("run").resolve("server.sock");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=dev.anymap.core", "--module-path", modulePath, "--add-modules", "ALL-MODULE-PATH",
                "--module", "dev.anymap.samples/dev.anymap.samples.AnymapCommand",
                "demo", "--size", "8", "--random-reads", "200", "--socket", socket.toString()));
        if (scheme.equals("file")) {
            Path file = Files.write(directory.resolve("data 1.bin"), new java.util.Random(5).ints(3_000_001).collect(
                    java.io.ByteArrayOutputStream::new, (out, i) -> out.write(i), (a, b) -> a.writeBytes(b.toByteArray())).toByteArray());
            command.addAll(List.of("--uri", file.toUri().toString()));
        }
        Process demo = new ProcessBuilder(command).redirectErrorStream(true).start();
        String printed = new String(demo.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(demo.waitFor(2, TimeUnit.MINUTES));
        assertEquals(0, demo.exitValue(), printed);
        assertTrue(printed.lines().anyMatch("OK"::equals), printed);
    }
}
