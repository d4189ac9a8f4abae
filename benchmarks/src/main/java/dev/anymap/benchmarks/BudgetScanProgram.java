package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.MappedRegion;
import dev.anymap.RegionStats;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.ValueLayout;
import java.net.URI;

/**
 * The application of {@link BudgetScan}, in a memory cgroup of its own with the page server it
 * starts: opens a page server with the given cache limit, maps a small object so that both JVMs are
 * up, prints {@code READY}, and on a line of standard input scans the object and prints
 * {@code DONE MILLIS BYTES_FETCHED EVICTIONS}.
 *
 * <pre>BudgetScanProgram CACHE_LIMIT_BYTES PORT SEED SIZE_BYTES</pre>
 */
public final class BudgetScanProgram {
    private BudgetScanProgram() {}

    public static void main(String[] args) throws Exception {
        long cacheLimit = Long.parseLong(args[0]);
        int port = Integer.parseInt(args[1]);
        long seed = Long.parseLong(args[2]);
        long size = Long.parseLong(args[3]);
        URI uri = GeneratedObjectServer.uri(port, seed, size);
        long expectedSum = Generated.scanSum(seed, size);
        try (Anymap anymap = Anymap.open(Harness.privateServer().withCacheLimit(cacheLimit))) {
            try (MappedRegion small = anymap.map(GeneratedObjectServer.uri(port, seed + 1, 1 << 20))) {
                small.segment().get(ValueLayout.JAVA_BYTE, 0);
            }
            System.out.println("READY");
            System.out.flush();
            if (new BufferedReader(new InputStreamReader(System.in)).readLine() == null) {
                return;
            }
            long started = System.nanoTime();
            try (MappedRegion region = anymap.map(uri)) {
                long sum = Workloads.scan(region.segment());
                double millis = (System.nanoTime() - started) / 1e6;
                Harness.checkSum(sum, expectedSum);
                Generated.checkPages(region.segment(), seed, 64, seed);
                RegionStats stats = region.stats();
                System.out.println("DONE " + millis + " " + stats.bytesFetched() + " " + stats.evictions());
                System.out.flush();
            }
        }
    }
}
