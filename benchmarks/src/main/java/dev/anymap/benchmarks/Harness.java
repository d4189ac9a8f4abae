package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MappedRegion;
import java.net.URI;
import dev.anymap.MapOptions;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** What every benchmark needs: a page server of its own, child processes, objects' bytes. */
final class Harness {
    static final String SERVER_CLASS_PATH = "anymap.benchmarks.server-class-path";

    private Harness() {}

    /** A page server of this benchmark's own, started on first use: its pid is in the server status. */
    static AnymapConfig privateServer() throws IOException {
        Path directory = Files.createTempDirectory("anymap-bench-");
        Files.delete(directory);
        return AnymapConfig.defaults().withSocket(directory.resolve("server.sock"));
    }

    /** The command that runs {@code main} in a child JVM on this JVM's class path. */
    static List<String> javaCommand(Class<?> main) {
        return javaCommand(main, System.getProperty("java.class.path"));
    }

    /**
     * The command that runs {@code main} in a child JVM on the S3 server's class path, which benchmarks/run
     * passes as the system property {@value #SERVER_CLASS_PATH}: it holds s3proxy, which the harness and its
     * page servers do without.
     */
    static List<String> serverCommand(Class<?> main) {
        String classPath = System.getProperty(SERVER_CLASS_PATH);
        if (classPath == null) {
            throw new IllegalStateException("no S3 server class path: run the benchmarks with benchmarks/run, which sets -D"
                    + SERVER_CLASS_PATH);
        }
        return javaCommand(main, classPath);
    }

    private static List<String> javaCommand(Class<?> main, String classPath) {
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", classPath, main.getName());
    }

    /** Writes {@code size} bytes generated from {@code seed}; returns their MD5. */
    static byte[] writeContent(Path file, long size, long seed) throws IOException {
        MessageDigest md5;
        try {
            md5 = MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JDK has no MD5", e);
        }
        Files.createDirectories(file.getParent());
        SplittableRandom random = new SplittableRandom(seed);
        ByteBuffer block = ByteBuffer.allocateDirect(8 << 20).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            for (long written = 0; written < size; ) {
                block.clear();
                while (block.remaining() >= 8) {
                    block.putLong(random.nextLong());
                }
                block.flip().limit((int) Math.min(block.capacity(), size - written));
                md5.update(block.duplicate());
                while (block.hasRemaining()) {
                    written += channel.write(block);
                }
            }
        }
        return md5.digest();
    }

    /**
     * The engine's mapping modes to compare: today the default options alone; with the engine's automatic
     * bulk pull on dense access ({@code MapOptions.withAutoPull}, coming), it on and off.
     */
    static Map<String, MapOptions> mappingModes() {
        Map<String, MapOptions> modes = new LinkedHashMap<>();
        try {
            Method autoPull = MapOptions.class.getMethod("withAutoPull", boolean.class);
            modes.put("anymap", (MapOptions) autoPull.invoke(MapOptions.defaults(), true));
            modes.put("anymap, no auto pull", (MapOptions) autoPull.invoke(MapOptions.defaults(), false));
        } catch (NoSuchMethodException e) {
            modes.put("anymap", MapOptions.defaults());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("MapOptions.withAutoPull failed", e);
        }
        return modes;
    }

    /**
     * Milliseconds from {@code map()} to the end of {@code workload} on a fresh mapping; the workload's
     * checksum is checked against {@code expectedSum} after the clock stops.
     */
    static double timeMapped(Anymap anymap, URI uri, MapOptions options, Workloads.Workload workload, long expectedSum)
            throws Exception {
        long started = System.nanoTime();
        try (MappedRegion region = anymap.map(uri, options)) {
            long sum = workload.run(region.segment());
            double millis = (System.nanoTime() - started) / 1e6;
            checkSum(sum, expectedSum);
            return millis;
        }
    }

    /** A file, read-only, through FileChannel.map: the independent source of an object's bytes. */
    static MemorySegment fileMemory(Path file, Arena arena) throws IOException {
        try (FileChannel channel = FileChannel.open(file)) {
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        }
    }

    static void check(MemorySegment mapped, MemorySegment expected) {
        long at = mapped.mismatch(expected);
        if (at != -1) {
            throw new IllegalStateException("the mapped bytes differ from the stored ones at " + at);
        }
    }

    static void checkSum(long got, long expected) {
        if (got != expected) {
            throw new IllegalStateException("the mapped bytes read differ from the stored ones (checksum " + got + ", expected " + expected + ")");
        }
    }
}
