package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.RegionStats;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.Locale;

/**
 * The touch pattern of {@code shared/tools/uffd-reference}, through anymap: one thread reads one
 * byte of every 4 KiB page of a generated {@code mem:} object, in order, with no readahead, so
 * every chunk costs one fault. Prints one line per chunk size in the reference's format.
 *
 * <pre>SequentialScan SIZE_MIB CHUNK_BYTES [CHUNK_BYTES...]</pre>
 */
public final class SequentialScan {
    private SequentialScan() {}

    public static void main(String[] args) throws Exception {
        long size = Long.parseLong(args[0]) << 20;
        try (Anymap anymap = Anymap.open()) {
            for (int i = 1; i < args.length; i++) {
                int chunk = Integer.parseInt(args[i]);
                // A fresh seed per run: the page server cannot serve a second scan from a warm object.
                URI uri = URI.create("mem:scan?size=" + size + "&seed=" + (chunk + i));
                try (MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(chunk))) {
                    MemorySegment memory = region.segment();
                    long started = System.nanoTime();
                    long sum = 0;
                    for (long offset = 0; offset < size; offset += 4096) {
                        sum += memory.get(ValueLayout.JAVA_BYTE, offset);
                    }
                    double micros = (System.nanoTime() - started) / 1e3;
                    RegionStats stats = region.stats();
                    System.out.printf(Locale.ROOT, "chunk=%d mode=anymap faults=%d throughput=%.1f MB/s per_fault=%.2f us (checksum %d)%n",
                            chunk, stats.chunksFetched(), size / micros, micros / (size / chunk), sum);
                }
            }
        }
    }
}
