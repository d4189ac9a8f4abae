package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MappedRegion;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Path;

/**
 * The second process of {@link CacheSharing}: attaches to a running page server and, for each URI on
 * a line of standard input, maps it, reads a byte of every 4 KiB page in order, and prints
 * {@code SCANNED MB_PER_S MAP_MILLIS BYTES_FETCHED CHECKSUM}, the MB/s counting the {@code map()} call:
 * it may map what the cache holds before it returns.
 *
 * <pre>CachedScanProgram SOCKET</pre>
 */
public final class CachedScanProgram {
    private CachedScanProgram() {}

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(Path.of(args[0])).withAutoStart(false))) {
            for (String line; (line = in.readLine()) != null; ) {
                long started = System.nanoTime();
                try (MappedRegion region = anymap.map(URI.create(line))) {
                    MemorySegment memory = region.segment();
                    long size = memory.byteSize();
                    long mapped = System.nanoTime();
                    long sum = 0;
                    for (long offset = 0; offset < size; offset += Workloads.PAGE) {
                        sum += memory.get(ValueLayout.JAVA_BYTE, offset);
                    }
                    long micros = (System.nanoTime() - started) / 1000;
                    System.out.println("SCANNED " + (double) size / micros + " " + (mapped - started) / 1e6 + " "
                            + region.stats().bytesFetched() + " " + sum);
                    System.out.flush();
                }
            }
        }
    }
}
