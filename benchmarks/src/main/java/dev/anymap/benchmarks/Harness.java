package dev.anymap.benchmarks;

import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
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
    private Harness() {}

    /** A page server of this benchmark's own, started on first use: its pid is in the server status. */
    static AnymapConfig privateServer() throws IOException {
        Path directory = Files.createTempDirectory("anymap-bench-");
        Files.delete(directory);
        return AnymapConfig.defaults().withSocket(directory.resolve("server.sock"));
    }

    /** The command that runs {@code main} in a child JVM on this JVM's class path. */
    static List<String> javaCommand(Class<?> main) {
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), main.getName());
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
}
