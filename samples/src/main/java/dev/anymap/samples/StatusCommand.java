package dev.anymap.samples;

import dev.anymap.Anymap;
import dev.anymap.ServerStatus;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Shows what a running page server holds; never starts one. */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Show what a running page server holds: its clients and regions, bytes resident, faults, fetch latency.")
final class StatusCommand implements Callable<Integer> {
    @Mixin
    private RunningServer server;

    @Override
    public Integer call() throws Exception {
        try (Anymap anymap = server.attach()) {
            ServerStatus status = anymap.serverStatus();
            // This command is a client too; it holds no regions.
            System.out.printf(Locale.ROOT, "page server %d: %d other clients, %d regions; page cache %s of %s, %d chunks evicted%n",
                    status.serverPid(), status.clients() - 1, status.regionCount(), bytes(status.cachedBytes()), bytes(status.cacheLimit()),
                    status.evictions());
            if (!status.regions().isEmpty()) {
                System.out.printf(Locale.ROOT, "%7s %8s %11s %9s %9s %10s %10s %10s %9s %9s %9s %8s  %s%n", "region", "client", "size",
                        "chunk", "resident", "faults", "fetched", "cache hits", "evicted", "p50 ms", "p99 ms", "failures", "object");
            }
            for (ServerStatus.Region region : status.regions()) {
                var stats = region.stats();
                System.out.printf(Locale.ROOT, "%7d %8d %11s %9s %8.1f%% %10d %10s %10d %9d %9.3f %9.3f %8d  %s%n", region.regionId(),
                        region.clientPid(),
                        bytes(region.size()), bytes(region.chunkSize()), 100.0 * region.residentBytes() / Math.max(1, region.size()),
                        stats.faults(), bytes(stats.bytesFetched()), stats.cacheHits(), stats.evictions(), stats.fetchTimeP50().toNanos() / 1e6,
                        stats.fetchTimeP99().toNanos() / 1e6, stats.failures(),
                        region.kernelMapped() ? region.uri() + " (mapped by the kernel from a local file: no faults to serve)"
                                : region.writable() ? region.uri() + " (writable: its pages stay in memory until it closes)"
                                : region.guest() ? region.uri() + " (guest memory of process " + region.clientPid() + "'s VM, copied into it)"
                                : region.uri());
            }
            if (status.regionCount() > status.regions().size()) {
                System.out.printf("... and %d more regions%n", status.regionCount() - status.regions().size());
            }
            System.out.println("(file: objects that applications map are mapped by each process itself, with no page server: none lists them)");
        }
        return 0;
    }

    private static String bytes(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
    }
}
