package dev.anymap;

import dev.anymap.testbackend.ReferenceContent;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Run in a JVM of its own by {@link SharedPageCacheTest}: maps an object of generated content at a
 * page server's socket, prints {@code MAPPED}, reads the whole object in order from Java, checking
 * every byte against the generator, and prints {@code STATS chunksFetched bytesFetched cacheHits}.
 * Exits 1 on a wrong byte.
 *
 * <pre>CacheReaderProgram SOCKET URI SIZE SEED [--wait] [--hold] [--no-prefetch]</pre>
 * {@code --wait} reads a line from standard input before reading the object, {@code --hold} sleeps
 * after it until killed, and {@code --no-prefetch} maps with no readahead or pull, so that every
 * chunk is fetched for a fault.
 */
public final class CacheReaderProgram {
    private static final int BLOCK = 1 << 20;

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        URI uri = URI.create(args[1]);
        long size = Long.parseLong(args[2]);
        long seed = Long.parseLong(args[3]);
        var flags = Arrays.asList(args).subList(4, args.length);
        MapOptions options = MapOptions.defaults();
        if (flags.contains("--no-prefetch")) {
            options = options.withReadahead(0).withAutoPull(false);
        }
        Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(socket));
        MappedRegion region = anymap.map(uri, options);
        System.out.println("MAPPED");
        System.out.flush();
        if (flags.contains("--wait")) {
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment expected = arena.allocate(BLOCK);
            for (long offset = 0; offset < size; offset += BLOCK) {
                int length = (int) Math.min(BLOCK, size - offset);
                MemorySegment want = expected.asSlice(0, length);
                ReferenceContent.fill(size, seed, offset, want);
                long mismatch = region.segment().asSlice(offset, length).mismatch(want);
                if (mismatch >= 0) {
                    System.out.println("WRONG byte at " + (offset + mismatch));
                    System.exit(1);
                }
            }
        }
        RegionStats stats = region.stats();
        System.out.println("STATS " + stats.chunksFetched() + " " + stats.bytesFetched() + " " + stats.cacheHits());
        System.out.flush();
        if (flags.contains("--hold")) {
            Thread.sleep(Long.MAX_VALUE);
        }
        region.close();
        anymap.close();
    }
}
