package dev.anymap.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code anymap} script with a backend plugin that is on no class path of the project: a jar
 * this test compiles, serving a scheme of its own, named with {@code --plugin-path} or {@code
 * ANYMAP_PLUGIN_PATH}. The script runs as a user runs it, from a copy whose build is this test's
 * class path, so that it builds nothing.
 */
class PluginPathTest {
    private static final String PROVIDER = """
            package org.example.constant;

            import dev.anymap.spi.BackendProvider;
            import dev.anymap.spi.ObjectVersion;
            import dev.anymap.spi.StorageBackend;
            import java.lang.foreign.MemorySegment;
            import java.net.URI;
            import java.util.Map;
            import java.util.Set;

            /** const:NAME?size=N&byte=B: N bytes of value B. */
            public final class ConstantBackendProvider implements BackendProvider {
                public String name() { return "constant"; }
                public Set<String> schemes() { return Set.of("const"); }
                public StorageBackend open(URI uri, Map<String, String> options) {
                    Map<String, String> query = new java.util.HashMap<>();
                    String part = uri.getRawSchemeSpecificPart();
                    for (String pair : part.substring(part.indexOf('?') + 1).split("&")) {
                        query.put(pair.substring(0, pair.indexOf('=')), pair.substring(pair.indexOf('=') + 1));
                    }
                    long size = Long.parseLong(query.get("size"));
                    byte value = (byte) Integer.parseInt(query.get("byte"));
                    return new StorageBackend() {
                        public URI uri() { return uri; }
                        public long size() { return size; }
                        public ObjectVersion version() { return ObjectVersion.generation(value); }
                        public void read(long offset, MemorySegment target) { target.fill(value); }
                        public void close() {}
                    };
                }
            }
            """;

    @TempDir
    static Path directory;
    private static Path plugin;
    private static Path script;
    private static String socket;

    @BeforeAll
    static void buildThePluginAndTheScriptsCopy() throws Exception {
        plugin = compilePlugin(directory.resolve("plugin"));
        Path root = Path.of("..").toAbsolutePath().normalize();
        Path copy = Files.createDirectories(directory.resolve("anymap-copy"));
        script = Files.copy(root.resolve("anymap"), copy.resolve("anymap"));
        Files.createDirectories(copy.resolve(".mvn"));
        Files.copy(root.resolve(".mvn/jdk.sh"), copy.resolve(".mvn/jdk.sh"));
        Path target = Files.createDirectories(copy.resolve("samples/target"));
        Files.writeString(target.resolve("classpath.txt"), System.getProperty("java.class.path"));
        try (JarOutputStream empty = new JarOutputStream(Files.newOutputStream(target.resolve("anymap-samples-0.1.0-SNAPSHOT.jar")))) {
            empty.putNextEntry(new JarEntry("META-INF/"));
        }
        Path sockets = Files.createTempDirectory("anymap-plugin-test-");
        Files.delete(sockets); // the page server makes it, with mode 0700
        socket = sockets.resolve("server.sock").toString();
    }

    @Test
    void aPluginNamedWithPluginPathServesItsSchemeInTheCommandAndInThePageServer() throws Exception {
        Result cat = run(Map.of(), "--plugin-path", plugin.toString(), "cat", "--socket", socket, "const:a?size=100000&byte=7");
        assertEquals(0, cat.exitCode(), cat.err());
        byte[] sevens = new byte[100_000];
        Arrays.fill(sevens, (byte) 7);
        assertArrayEquals(sevens, cat.out());
    }

    @Test
    void aDirectoryInAnymapPluginPathStandsForItsJars() throws Exception {
        Result stat = run(Map.of("ANYMAP_PLUGIN_PATH", plugin.getParent().toString()), "stat", "const:b?size=4096&byte=1");
        assertEquals(0, stat.exitCode(), stat.err());
        assertTrue(new String(stat.out(), StandardCharsets.UTF_8).contains("4096"), new String(stat.out(), StandardCharsets.UTF_8));
    }

    @Test
    void withoutThePluginTheSchemeIsUnknownAndAMissingEntryIsNamed() throws Exception {
        Result unknown = run(Map.of(), "stat", "const:c?size=1&byte=1");
        assertNotEquals(0, unknown.exitCode());
        assertTrue(unknown.err().contains("const"), unknown.err());
        Result missing = run(Map.of(), "--plugin-path", directory.resolve("nowhere.jar").toString(), "stat", "const:c?size=1&byte=1");
        assertEquals(2, missing.exitCode());
        assertTrue(missing.err().contains("nowhere.jar"), missing.err());
    }

    private record Result(int exitCode, byte[] out, String err) {}

    private static Result run(Map<String, String> environment, String... arguments) throws Exception {
        List<String> command = new ArrayList<>(List.of("bash", script.toString()));
        command.addAll(List.of(arguments));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().remove("ANYMAP_PLUGIN_PATH");
        builder.environment().putAll(environment);
        Process process = builder.start();
        process.getOutputStream().close();
        CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> readAll(process.getInputStream()));
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
        if (!process.waitFor(2, TimeUnit.MINUTES)) {
            process.destroyForcibly();
            throw new AssertionError("anymap " + String.join(" ", arguments) + " did not end within 2 minutes");
        }
        return new Result(process.exitValue(), out.get(), new String(err.get(), StandardCharsets.UTF_8));
    }

    private static byte[] readAll(InputStream in) {
        try (in) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Compiles the provider against this test's class path (which holds the SPI) into a jar in {@code into}. */
    private static Path compilePlugin(Path into) throws Exception {
        Path sources = Files.createDirectories(into.resolve("src/org/example/constant"));
        Path classes = Files.createDirectories(into.resolve("classes"));
        Path source = Files.writeString(sources.resolve("ConstantBackendProvider.java"), PROVIDER);
        // javac of this JDK, as a plugin's author would run it.
        Process javac = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "javac").toString(), "-d", classes.toString(),
                "-cp", System.getProperty("java.class.path"), source.toString()).redirectErrorStream(true).start();
        byte[] diagnostics = readAll(javac.getInputStream());
        assertEquals(0, javac.waitFor(), new String(diagnostics, StandardCharsets.UTF_8));
        Path jars = Files.createDirectories(into.resolve("jars"));
        Path jar = jars.resolve("constant-backend.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            out.putNextEntry(new JarEntry("META-INF/services/dev.anymap.spi.BackendProvider"));
            out.write("org.example.constant.ConstantBackendProvider\n".getBytes(StandardCharsets.UTF_8));
            try (var files = Files.walk(classes)) {
                for (Path file : files.filter(Files::isRegularFile).toList()) {
                    out.putNextEntry(new JarEntry(classes.relativize(file).toString()));
                    out.write(Files.readAllBytes(file));
                }
            }
        }
        return jar;
    }
}
