package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MappedRegion;
import dev.anymap.testbackend.ReferenceContent;
import java.io.File;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Constructor;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AotCacheTest {
    private static final List<String> OPTIONS = List.of("-XX:+UseSerialGC");

    @TempDir
    Path directory;

    @Test
    void aClassPathWithADirectoryOrAMissingJarHasNoCache() throws IOException {
        Path jar = Files.write(directory.resolve("a.jar"), new byte[] {1});
        assertTrue(AotCache.key(OPTIONS, jar.toString(), "").isPresent());
        assertTrue(AotCache.key(OPTIONS, jar + File.pathSeparator + directory, "").isEmpty(), "a directory");
        assertTrue(AotCache.key(OPTIONS, jar + File.pathSeparator + directory.resolve("gone.jar"), "").isEmpty(), "a missing jar");
        assertTrue(AotCache.key(OPTIONS, "", "").isEmpty(), "no class path");
    }

    @Test
    void optionsThatChooseTheirOwnArchiveGetNoCache() throws Exception {
        Path jar = Files.write(directory.resolve("a.jar"), new byte[] {1});
        AotCache caches = caches(directory.resolve("aot"));
        for (String chosen : List.of("-Xshare:auto", "-Xshare:off", "-XX:AOTCache=/x.aot", "-XX:SharedArchiveFile=/x.jsa")) {
            assertEquals(List.of(), caches.launch(List.of("-XX:+UseSerialGC", chosen), jar.toString(), "").options(), chosen);
        }
        assertEquals(1, caches.launch(OPTIONS, jar.toString(), "").options().size(), "and without them, one");
    }

    @Test
    void theCacheIsNamedByTheOptionsTheClassPathAndEveryJarsSizeAndTime() throws IOException {
        Path jar = Files.write(directory.resolve("a.jar"), new byte[] {1});
        String first = AotCache.key(OPTIONS, jar.toString(), "").orElseThrow();
        assertEquals(first, AotCache.key(OPTIONS, jar.toString(), "").orElseThrow());
        assertNotEquals(first, AotCache.key(List.of("-XX:+UseG1GC"), jar.toString(), "").orElseThrow(), "other options");
        Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis() - 60_000));
        String rebuilt = AotCache.key(OPTIONS, jar.toString(), "").orElseThrow();
        assertNotEquals(first, rebuilt, "a jar rebuilt");
        Files.write(jar, new byte[] {1, 2});
        Files.setLastModifiedTime(jar, FileTime.fromMillis(Files.getLastModifiedTime(jar).toMillis()));
        assertNotEquals(rebuilt, AotCache.key(OPTIONS, jar.toString(), "").orElseThrow(), "a jar of another size");
    }

    @Test
    void oneJvmRecordsAtATimeAndOneThatDiedWithoutWritingIsRecordedAgain() throws Exception {
        Path jar = Files.write(directory.resolve("a.jar"), new byte[] {1});
        AotCache caches = caches(directory.resolve("aot"));
        AotCache.Launch recording = caches.launch(OPTIONS, jar.toString(), "");
        assertTrue(recording.options().getFirst().startsWith("-XX:AOTCacheOutput="), recording.toString());
        assertEquals(List.of(), caches.launch(OPTIONS, jar.toString(), "").options(), "while the marker is being written");

        Process alive = new ProcessBuilder("sleep", "60").start();
        try {
            recording.started(alive);
            assertEquals(List.of(), caches.launch(OPTIONS, jar.toString(), "").options(), "while the recorder lives");
        } finally {
            alive.destroyForcibly().waitFor();
        }
        AotCache.Launch again = caches.launch(OPTIONS, jar.toString(), "");
        assertTrue(again.options().getFirst().startsWith("-XX:AOTCacheOutput="), "its recorder died without a cache: " + again);
        again.notStarted();
        assertTrue(caches.launch(OPTIONS, jar.toString(), "").options().getFirst().startsWith("-XX:AOTCacheOutput="),
                "a JVM that did not start leaves the recording to the next");
    }

    /**
     * A page server of jars records its cache while it serves a client and writes it when it exits
     * idle; the next server starts with it in the JVM's strict mode, where a cache it cannot load
     * stops it, and serves the same bytes.
     */
    @Test
    void aServerRecordsItsCacheAndTheNextOneStartsWithIt() throws Exception {
        String classPath = jarredClassPath();
        AotCache caches = caches(directory.resolve("aot"));
        List<String> options = new ArrayList<>(PageServerMain.JVM_OPTIONS);

        AotCache.Launch recording = caches.launch(options, classPath, "");
        assertTrue(recording.options().getFirst().startsWith("-XX:AOTCacheOutput="), recording.toString());
        Process recorder = startServer(options, recording, classPath, directory.resolve("one"));
        readAMemObject(directory.resolve("one"));
        assertTrue(recorder.waitFor(2, TimeUnit.MINUTES), "the recorder exits when idle, once its cache is written");
        assertEquals(0, recorder.exitValue());

        AotCache.Launch production = caches.launch(options, classPath, "");
        assertEquals(1, production.options().size(), production.toString());
        assertTrue(production.options().getFirst().startsWith("-XX:AOTCache="), production.toString());
        Path cache = Path.of(production.options().getFirst().substring("-XX:AOTCache=".length()));
        assertTrue(Files.size(cache) > 1 << 20, cache + " holds classes");
        try (Stream<Path> left = Files.list(directory.resolve("aot"))) {
            assertEquals(List.of(cache), left.toList(), "the recording's marker is gone");
        }
        List<String> strict = new ArrayList<>(options);
        strict.add("-XX:AOTMode=on");
        Process server = startServer(strict, production, classPath, directory.resolve("two"));
        readAMemObject(directory.resolve("two"));
        assertTrue(server.waitFor(1, TimeUnit.MINUTES));
        assertEquals(0, server.exitValue(), "started with the cache");
    }

    private static AotCache caches(Path at) throws ReflectiveOperationException {
        Constructor<AotCache> constructor = AotCache.class.getDeclaredConstructor(Path.class);
        constructor.setAccessible(true);
        return constructor.newInstance(at);
    }

    private Process startServer(List<String> options, AotCache.Launch aot, String classPath, Path socketDirectory) throws Exception {
        Files.createDirectories(socketDirectory);
        Files.setPosixFilePermissions(socketDirectory, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(options);
        command.addAll(aot.options());
        command.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-cp", classPath, PageServerMain.class.getName(),
                "--socket", socketDirectory.resolve("server.sock").toString(), "--exit-when-idle", "3000"));
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(socketDirectory.resolve("stderr.txt").toFile());
        builder.environment().put("ANYMAP_STANDBY", "0");
        builder.environment().put("ANYMAP_AOT", "off"); // its keeper: this test is about the server's cache
        Process server = aot.start(builder);
        String ready = ReadyLine.await(server, PageServerMain.READY, Duration.ofMinutes(1));
        assertNotNull(ready, () -> "the server did not start: " + read(socketDirectory.resolve("stderr.txt")));
        return server;
    }

    private static void readAMemObject(Path socketDirectory) throws IOException {
        URI uri = URI.create("mem:aot?size=300000&seed=4");
        AnymapConfig config = AnymapConfig.defaults().withSocket(socketDirectory.resolve("server.sock")).withAutoStart(false);
        try (Anymap anymap = Anymap.open(config); MappedRegion region = anymap.map(uri)) {
            byte[] read = region.segment().toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(ReferenceContent.bytes(300_000, 4, 0, 300_000), read);
        }
    }

    /** This JVM's class path with each directory of classes made a jar: the JVM archives classes from jars only. */
    private String jarredClassPath() throws IOException {
        List<String> entries = new ArrayList<>();
        int n = 0;
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path path = Path.of(entry);
            if (Files.isDirectory(path)) {
                Path jar = directory.resolve("classes-" + n++ + ".jar");
                jar(path, jar);
                entries.add(jar.toString());
            } else if (Files.isRegularFile(path)) {
                entries.add(entry);
            }
        }
        return String.join(File.pathSeparator, entries);
    }

    private static void jar(Path classes, Path jar) throws IOException {
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar)); Stream<Path> files = Files.walk(classes)) {
            for (Path file : files.filter(Files::isRegularFile).toList()) {
                out.putNextEntry(new JarEntry(classes.relativize(file).toString().replace(File.separatorChar, '/')));
                Files.copy(file, out);
                out.closeEntry();
            }
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return e.toString();
        }
    }
}
