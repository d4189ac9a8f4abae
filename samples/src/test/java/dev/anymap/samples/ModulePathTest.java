package dev.anymap.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * anymap as named modules: the demo runs with every jar on the module path, finds its backends
 * through {@code provides} in their module descriptors, and starts its page server as a module (and
 * its S3 server, s3proxy being no module, on the class path).
 */
class ModulePathTest {
    private static final List<String> TEST_ONLY = List.of("junit", "opentest4j", "apiguardian", "surefire", "test-classes");

    @ParameterizedTest
    @ValueSource(strings = {"s3", "file"})
    void theDemoRunsOnTheModulePath(String scheme, @TempDir Path directory) throws Exception {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        // s3proxy and what it brings are no modules (or split packages): they go on the class path, which the
        // S3 server's child JVM runs on (with the module path).
        Set<String> s3proxyJars = s3proxyJars(Path.of("target", "dependency-tree.tgf"));
        Map<Boolean, String> paths = Arrays.stream(classPath.split(File.pathSeparator))
                .filter(entry -> TEST_ONLY.stream().noneMatch(entry::contains))
                .collect(Collectors.partitioningBy(entry -> !s3proxyJars.contains(Path.of(entry).getFileName().toString()),
                        Collectors.joining(File.pathSeparator)));
        String modulePath = paths.get(true);
        Path socket = directory.resolve("run").resolve("server.sock");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=dev.anymap.core", "--module-path", modulePath, "--class-path", paths.get(false), "--add-modules", "ALL-MODULE-PATH",
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

    /** The file names of s3proxy's jar and of the jars only it brings, from the build's dependency tree (TGF). */
    private static Set<String> s3proxyJars(Path tree) throws java.io.IOException {
        List<String> lines = Files.readAllLines(tree);
        int separator = lines.indexOf("#");
        Map<String, String> artifacts = new HashMap<>();
        lines.subList(0, separator).forEach(line -> artifacts.put(line.substring(0, line.indexOf(' ')), line.substring(line.indexOf(' ') + 1)));
        Map<String, List<String>> children = new HashMap<>();
        lines.subList(separator + 1, lines.size()).stream().map(line -> line.split(" "))
                .forEach(edge -> children.computeIfAbsent(edge[0], parent -> new ArrayList<>()).add(edge[1]));
        Deque<String> pending = artifacts.entrySet().stream().filter(a -> a.getValue().startsWith("org.gaul:s3proxy:"))
                .map(Map.Entry::getKey).collect(Collectors.toCollection(ArrayDeque::new));
        Set<String> jars = new HashSet<>();
        while (!pending.isEmpty()) {
            String id = pending.pop();
            String[] coordinates = artifacts.get(id).split(":"); // group:artifact:type[:classifier]:version:scope
            if (artifacts.get(id).startsWith("org.slf4j:slf4j-api:")) {
                continue; // s3proxy brings it nearest, but backend-s3 and logback require it on the module path too
            }
            String version = coordinates[coordinates.length - 2];
            String classifier = coordinates.length == 6 ? "-" + coordinates[3] : "";
            jars.add(coordinates[1] + "-" + version + classifier + ".jar");
            pending.addAll(children.getOrDefault(id, List.of()));
        }
        assertFalse(jars.isEmpty(), "s3proxy is in " + tree);
        return jars;
    }
}
