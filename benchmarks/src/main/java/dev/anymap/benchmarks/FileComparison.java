package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import java.lang.foreign.Arena;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * anymap on {@code file:} against {@code FileChannel.map} of the same file, in the page cache: the
 * kernel's own paging of a file, the best any mapping of it can do.
 *
 * <pre>FileComparison PLOTS_DIR SIZE_MIB REPEATS</pre>
 * Prints a Markdown report.
 */
public final class FileComparison {
    private static final int ROW_WARM_UPS = 10;
    /**
     * How often each side opens and maps the file, uncounted, before the rows: as a program that maps
     * files often has, for the JIT to have compiled both paths. Each counted run follows a full GC,
     * after which compiled code resolves its calls anew, and code not yet compiled pays far more for
     * that: in a run of a few milliseconds, this fixed cost, not the paging, set the ratio. The table's
     * last two rows show it before and after.
     */
    private static final int OPEN_WARM_UPS = 20_000;
    /** How often each side has opened and mapped the file when the first of the two last rows is measured. */
    private static final int FEW_OPENS = 300;

    private FileComparison() {}

    public static void main(String[] args) throws Exception {
        Path plots = Path.of(args[0]);
        long size = Long.parseLong(args[1]) << 20;
        int repeats = Integer.parseInt(args[2]);
        Path directory = Files.createTempDirectory("anymap-bench-file-");
        Path file = directory.resolve("object");
        StringBuilder report = new StringBuilder("### `file:` in the page cache against `FileChannel.map`\n\n");
        report.append("A file of " + (size >> 20) + " MiB, read once beforehand so that it is in the page cache. anymap maps it with "
                + "the default options, and the kernel maps it (the application opens the file itself and maps it: no page server in "
                + "the path); the baseline maps it with `FileChannel.map` (a MemorySegment). "
                + "Target: at least 0.95 of `FileChannel.map`'s speed for scans and random pages, a ratio of times of at most 1.05. "
                + "Each workload runs on a fresh "
                + "mapping, timed from opening the file or calling `map()` to done. Milliseconds, medians of " + repeats
                + " alternating runs (min-max); the ratio is of times (below 1: anymap faster); peak RSS of the application and "
                + "of the page server in MiB (medians). Every counted run follows a full GC (`System.gc()`), after which the JIT's "
                + "compiled code resolves its calls anew; before the rows, each side opens and maps the file "
                + String.format(Locale.ROOT, "%,d", OPEN_WARM_UPS) + " times, uncounted, as a program that maps files often has. "
                + "The last two rows time the opening and mapping alone, no reads, after a full GC: first when each side has run "
                + FEW_OPENS + " times, then after all. They are the fixed cost in each workload's time; no target.\n\n");
        Table table = new Table("workload", "anymap", "FileChannel.map", "anymap / FileChannel.map", "peak RSS app / server, anymap",
                "peak RSS app, FileChannel.map");
        Map<String, Double> ratios = new LinkedHashMap<>();
        try (Anymap anymap = Anymap.open(Harness.privateServer())) {
            Harness.writeContent(file, size, 23);
            warm(file);
            try (dev.anymap.MappedRegion probe = anymap.map(file.toUri())) {
                if (!probe.kernelMapped()) {
                    throw new IllegalStateException("file: was not mapped by the kernel: this benchmark measures that path");
                }
            }
            Runs runs = new Runs(repeats, anymap.serverStatus().serverPid());
            URI uri = file.toUri();
            // Opening and mapping alone: the sides of a workload that reads nothing.
            Map<String, Runs.Measurement> mapAlone = sides(anymap, uri, file, memory -> 0L, 0L);
            Runs.uncounted(FEW_OPENS, mapAlone);
            Map<String, List<Double>> fewOpens = Runs.afterFullGcs(repeats, mapAlone);
            Runs.uncounted(OPEN_WARM_UPS - FEW_OPENS, mapAlone);
            for (Map.Entry<String, Workloads.Workload> workload : Workloads.standard(size).entrySet()) {
                long expectedSum;
                try (Arena arena = Arena.ofShared()) {
                    expectedSum = workload.getValue().run(Harness.fileMemory(file, arena));
                }
                Map<String, Runs.Measurement> sides = sides(anymap, uri, file, workload.getValue(), expectedSum);
                // Each row's sides run a few times uncounted first: a row takes milliseconds, and the JIT, which sees two
                // kinds of segment here, recompiles the workload during the first runs of each.
                Runs.uncounted(ROW_WARM_UPS, sides);
                Map<String, Runs.Result> results = runs.alternate("file " + workload.getKey(), sides);
                double ratio = results.get("anymap").median() / results.get("mmap").median();
                table.row(workload.getKey(), results.get("anymap").spread(), results.get("mmap").spread(), Stats.ratio(ratio),
                        results.get("anymap").memory(), Stats.number(Stats.median(results.get("mmap").appMib())));
                ratios.put(workload.getKey(), ratio);
            }
            mapRow(table, String.format(Locale.ROOT, "open and map alone, after %,d", FEW_OPENS), fewOpens);
            mapRow(table, String.format(Locale.ROOT, "open and map alone, after %,d", OPEN_WARM_UPS), Runs.afterFullGcs(repeats, mapAlone));
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(directory);
        }
        Plots.ratios(plots.resolve("file.png"), "file: in the page cache, anymap / FileChannel.map (time)", "ratio of times",
                Map.of("anymap / FileChannel.map", ratios), Double.NaN);
        report.append(table).append("\n![file: ratios](benchmarks/plots/file.png)\n");
        System.out.print(report);
    }

    /** anymap and {@code FileChannel.map}, each timed from the map to the end of {@code workload} on a fresh mapping. */
    private static Map<String, Runs.Measurement> sides(Anymap anymap, URI uri, Path file, Workloads.Workload workload, long expectedSum) {
        Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
        sides.put("anymap", () -> Harness.timeMapped(anymap, uri, MapOptions.defaults(), workload, expectedSum));
        sides.put("mmap", () -> {
            long started = System.nanoTime();
            try (Arena arena = Arena.ofShared()) {
                workload.run(Harness.fileMemory(file, arena));
                return (System.nanoTime() - started) / 1e6;
            }
        });
        return sides;
    }

    private static void mapRow(Table table, String label, Map<String, List<Double>> times) {
        table.row(label, Stats.spread(times.get("anymap")), Stats.spread(times.get("mmap")),
                Stats.ratio(Stats.median(times.get("anymap")) / Stats.median(times.get("mmap"))), "", "");
    }

    private static void warm(Path file) throws java.io.IOException {
        ByteBuffer buffer = ByteBuffer.allocateDirect(8 << 20);
        try (FileChannel channel = FileChannel.open(file)) {
            while (channel.read(buffer) > 0) {
                buffer.clear();
            }
        }
    }
}
