package dev.anymap.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * JDK AOT caches (JEP 483 and 514) for the JVMs that anymap starts: a page server and its keeper,
 * whose start is on the path to an application's first byte.
 *
 * <p>A cache fits one JDK, one set of JVM options and one class path, so each combination has a
 * cache of its own, named by a digest of them and of the size and time of every jar. The first JVM
 * started for a combination with no cache records one ({@code -XX:AOTCacheOutput}); it writes the
 * cache when it exits, having seen what a real server loads, and later JVMs load it
 * ({@code -XX:AOTCache}, in the JVM's default mode, where a cache that does not fit is ignored).
 * One JVM records at a time: a marker beside the cache holds its pid, and the cache it wrote is
 * taken up by the first start after it has exited. A class path with a directory in it (a build's
 * classes) gets no cache: the JVM archives classes from jars only.
 *
 * <p>Where: {@code $ANYMAP_AOT_DIR}, or {@code anymap/aot} under {@code $XDG_CACHE_HOME} or
 * {@code ~/.cache}, a directory of this user's alone (a cache is code the JVM runs); each cache is
 * about 20 MiB, and one not used for 30 days is deleted when another is made. {@code ANYMAP_AOT=off}
 * (or {@code -Danymap.aot=off}) turns them off.
 */
public final class AotCache {
    private static final System.Logger LOG = System.getLogger(AotCache.class.getName());
    /** Caches not used for this long are deleted when a new one is made. */
    private static final Duration UNUSED = Duration.ofDays(30);
    /** A marker whose recorder never wrote its pid: its launcher died in between. */
    private static final Duration ORPHANED_MARKER = Duration.ofMinutes(1);

    private final Path directory;

    private AotCache(Path directory) {
        this.directory = directory;
    }

    /**
     * What a JVM started now with {@code jvmOptions}, this JVM's JDK and its class path adds to its
     * options: the cache's, or the recording of one, or nothing.
     */
    public static Launch launch(List<String> jvmOptions) {
        return of().map(caches -> caches.launch(jvmOptions, System.getProperty("java.class.path", ""),
                System.getProperty("jdk.module.path", ""))).orElse(Launch.NONE);
    }

    /** Passes this JVM's choice (on or off, and where) to a JVM it starts, for the JVMs that one starts. */
    public static void passOn(java.util.Map<String, String> environment) {
        Optional<AotCache> caches = of();
        environment.put("ANYMAP_AOT", caches.isPresent() ? "on" : "off");
        caches.ifPresent(chosen -> environment.put("ANYMAP_AOT_DIR", chosen.directory.toString()));
    }

    /** The caches of this user, or none if turned off. */
    static Optional<AotCache> of() {
        String setting = System.getProperty("anymap.aot", System.getenv("ANYMAP_AOT"));
        if (setting != null && setting.toLowerCase(Locale.ROOT).equals("off")) {
            return Optional.empty();
        }
        String configured = System.getProperty("anymap.aot.dir", System.getenv("ANYMAP_AOT_DIR"));
        if (configured != null && !configured.isBlank()) {
            return Optional.of(new AotCache(Path.of(configured)));
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return Optional.of(new AotCache(base.resolve("anymap").resolve("aot")));
    }

    Launch launch(List<String> jvmOptions, String classPath, String modulePath) {
        if (jvmOptions.stream().anyMatch(AotCache::choosesSharing)) {
            return Launch.NONE; // the caller chose its own archive, or none; the JVM refuses two
        }
        try {
            Optional<String> key = key(jvmOptions, classPath, modulePath);
            if (key.isEmpty()) {
                return Launch.NONE;
            }
            // A cache is code the JVM runs: only this user may write it.
            dev.anymap.protocol.ServerAddress.preparePrivateDirectory(directory);
            Path cache = directory.resolve(key.get() + ".aot");
            Path recorded = directory.resolve(key.get() + ".aot.recorded");
            Path marker = directory.resolve(key.get() + ".recording");
            takeUpRecorded(marker, recorded, cache);
            if (Files.isRegularFile(cache)) {
                Files.setLastModifiedTime(cache, FileTime.from(Instant.now())); // in use: not deleted as unused
                return new Launch(List.of("-XX:AOTCache=" + cache), null);
            }
            try {
                Files.createFile(marker);
            } catch (FileAlreadyExistsException another) {
                return Launch.NONE; // another JVM records it
            }
            return new Launch(List.of("-XX:AOTCacheOutput=" + recorded), marker);
        } catch (IOException | UncheckedIOException e) {
            // A cache is only ever faster: without one, the JVM starts as it always did.
            LOG.log(System.Logger.Level.DEBUG, "no AOT cache in " + directory + ": " + e);
            return Launch.NONE;
        }
    }

    /** A cache whose recorder has exited becomes the cache; one that died without writing it is recorded again. */
    private void takeUpRecorded(Path marker, Path recorded, Path cache) throws IOException {
        Optional<BasicFileAttributes> attributes = attributes(marker);
        if (attributes.isEmpty()) {
            return;
        }
        String pid = new String(Files.readAllBytes(marker), StandardCharsets.US_ASCII).strip();
        if (pid.isEmpty()) {
            if (attributes.get().lastModifiedTime().toInstant().isAfter(Instant.now().minus(ORPHANED_MARKER))) {
                return; // being started
            }
        } else if (ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false)) {
            return; // recording, or writing the cache at its exit
        }
        if (Files.isRegularFile(recorded) && Files.size(recorded) > 0) {
            Files.move(recorded, cache, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            LOG.log(System.Logger.Level.INFO, "AOT cache " + cache + " made (" + Files.size(cache) / (1 << 20) + " MiB)");
            deleteUnused(cache);
        } else {
            Files.deleteIfExists(recorded);
        }
        Files.deleteIfExists(marker);
    }

    private void deleteUnused(Path kept) throws IOException {
        Instant before = Instant.now().minus(UNUSED);
        try (DirectoryStream<Path> caches = Files.newDirectoryStream(directory, "*.aot")) {
            for (Path cache : caches) {
                if (!cache.equals(kept) && Files.getLastModifiedTime(cache).toInstant().isBefore(before)) {
                    Files.deleteIfExists(cache);
                }
            }
        }
    }

    private static Optional<BasicFileAttributes> attributes(Path path) throws IOException {
        try {
            return Optional.of(Files.readAttributes(path, BasicFileAttributes.class));
        } catch (java.nio.file.NoSuchFileException e) {
            return Optional.empty();
        }
    }

    /**
     * The digest that names the cache of a combination, or none if it can have no cache: a class
     * path with a directory or a missing entry in it, or a JDK before 25.
     */
    static Optional<String> key(List<String> jvmOptions, String classPath, String modulePath) throws IOException {
        if (Runtime.version().feature() < 25 || classPath.isEmpty()) {
            return Optional.empty();
        }
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
        List<String> parts = new ArrayList<>(List.of(System.getProperty("java.home"), System.getProperty("java.vm.version"),
                String.join(" ", jvmOptions), classPath, modulePath));
        for (String path : (classPath + java.io.File.pathSeparator + modulePath).split(java.io.File.pathSeparator)) {
            if (path.isEmpty()) {
                continue;
            }
            Optional<BasicFileAttributes> entry = attributes(Path.of(path));
            if (entry.isEmpty() || !entry.get().isRegularFile()) {
                return Optional.empty();
            }
            parts.add(path + " " + entry.get().size() + " " + entry.get().lastModifiedTime().toMillis());
        }
        for (String part : parts) {
            digest.update(part.getBytes(StandardCharsets.UTF_8));
            digest.update((byte) 0);
        }
        return Optional.of(HexFormat.of().formatHex(digest.digest(), 0, 16));
    }

    /** The options that a JVM about to be started adds, and, if it records the cache, the marker its pid goes in. */
    public record Launch(List<String> options, Path marker) {
        static final Launch NONE = new Launch(List.of(), null);

        /** Starts the JVM that {@code builder} holds, these options among its own, and notes it if it records. */
        public Process start(ProcessBuilder builder) throws IOException {
            Process process;
            try {
                process = builder.start();
            } catch (IOException | RuntimeException e) {
                notStarted();
                throw e;
            }
            started(process);
            return process;
        }

        /** Notes the JVM started with these options: the one recording, if it records. */
        void started(Process process) {
            if (marker == null) {
                return;
            }
            try {
                Files.writeString(marker, Long.toString(process.pid()), StandardCharsets.US_ASCII, StandardOpenOption.TRUNCATE_EXISTING);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "could not note the JVM recording " + marker + ": " + e);
            }
        }

        /** Notes that the JVM did not start: another may record. */
        void notStarted() {
            if (marker != null) {
                try {
                    Files.deleteIfExists(marker);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.DEBUG, "could not delete " + marker + ": " + e);
                }
            }
        }
    }

    private static boolean choosesSharing(String jvmOption) {
        return jvmOption.startsWith("-Xshare") || jvmOption.startsWith("-XX:AOT") || jvmOption.contains("SharedArchiveFile")
                || jvmOption.contains("SharedClassListFile") || jvmOption.contains("DumpLoadedClassList");
    }

    /** The options of a JVM's own command line that a JVM started in its place must not repeat: recording is once. */
    public static boolean recordsOnly(String jvmOption) {
        return jvmOption.startsWith("-XX:AOTCacheOutput=") || jvmOption.startsWith("-XX:AOTConfiguration=")
                || jvmOption.startsWith("-XX:AOTMode=");
    }
}
