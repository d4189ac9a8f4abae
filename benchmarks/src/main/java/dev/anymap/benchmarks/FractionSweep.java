package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * "Never worse than downloading", on {@code s3://}: time to done against the fraction of an object's pages
 * touched, at random and in clusters, for mapping and for download-then-touch (the SDK, {@value
 * S3Downloads#PARTS} ranged GETs at once after a HEAD).
 *
 * <pre>FractionSweep PLOTS_DIR SIZE_MIB REPEATS ROUND_TRIP_MS...</pre>
 * Prints a Markdown report.
 */
public final class FractionSweep {
    private static final double[] FRACTIONS = {0.0001, 0.001, 0.01, 0.1, 1.0};
    /** A clustered touch reads runs of this many pages: 256 KiB, the default chunk. */
    private static final int CLUSTER = 64;
    private static final double TARGET = 1.1;

    private FractionSweep() {}

    public static void main(String[] args) throws Exception {
        Path plots = Path.of(args[0]);
        long size = Long.parseLong(args[1]) << 20;
        int repeats = Integer.parseInt(args[2]);
        long[] roundTrips = new long[args.length - 3];
        for (int i = 3; i < args.length; i++) {
            roundTrips[i - 3] = Long.parseLong(args[i]);
        }
        Map<String, MapOptions> modes = Harness.mappingModes();
        StringBuilder report = new StringBuilder("### Never worse than downloading: time to done against the fraction touched, on S3\n\n");
        report.append("One thread touches a fraction of the pages of a " + (size >> 20) + " MiB object in s3proxy: distinct pages at "
                + "random, or distinct runs of " + CLUSTER + " pages (" + CLUSTER * 4 + " KiB) at random places. Mapping (default options"
                + (modes.size() > 1 ? ", with the automatic bulk pull on and off" : "; the engine has no automatic bulk pull yet") + ") "
                + "against downloading the whole object (" + S3Downloads.PARALLEL_RANGES + ", into new memory) and then touching the same "
                + "pages. Each mapping is of a new version of the object (a new ETag, the same bytes), which the page server's shared "
                + "cache does not hold. Time to done in ms, medians of " + repeats + " alternating runs (min-max); the ratio is mapping / download; "
                + "target: mapping at most " + TARGET + " times the download.\n\n");
        List<String> header = new ArrayList<>(List.of("round trip", "pattern", "fraction (pages)", "download, then touch"));
        for (String mode : modes.keySet()) {
            header.add(mode);
            header.add(mode + " / download");
        }
        header.add("target");
        header.add("peak RSS app / server, " + modes.keySet().iterator().next());
        Table table = new Table(header.toArray(String[]::new));
        try (S3Fixture s3 = new S3Fixture(roundTrips);
             Anymap anymap = Anymap.open(Harness.privateServer().withCacheLimit(Math.max(4 * size, 128L << 20)));
             Arena arena = Arena.ofShared()) {
            MemorySegment expected = Harness.fileMemory(s3.put("sweep", size, 59), arena);
            Runs runs = new Runs(repeats, anymap.serverStatus().serverPid());
            for (long roundTrip : roundTrips) {
                Map<String, double[][]> curves = new LinkedHashMap<>();
                for (int cluster : new int[] {1, CLUSTER}) {
                    String pattern = cluster == 1 ? "random" : "clustered";
                    List<double[]> download = new ArrayList<>();
                    Map<String, List<double[]>> mapped = new LinkedHashMap<>();
                    for (double fraction : FRACTIONS) {
                        long[] pages = Workloads.pages(size, fraction, cluster, 61);
                        long expectedSum = Workloads.touch(expected, pages);
                        Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
                        sides.put("download", () -> S3Downloads.timeDownloaded(S3Downloads::parallelRanges, s3.client(roundTrip), "sweep",
                                size, memory -> Workloads.touch(memory, pages)));
                        modes.forEach((mode, options) -> sides.put(mode, () -> {
                            s3.newVersion("sweep"); // a version the shared cache does not hold: see S3Comparison
                            return Harness.timeMapped(anymap, S3Fixture.uri("sweep"), s3.options(options, roundTrip),
                                    memory -> Workloads.touch(memory, pages), expectedSum);
                        }));
                        Map<String, Runs.Result> results = runs.alternate(String.format(Locale.ROOT, "sweep %d ms %s %s", roundTrip,
                                pattern, fraction), sides);
                        double downloadMillis = results.get("download").median();
                        List<Object> row = new ArrayList<>(List.of(roundTrip + " ms", pattern, percent(fraction) + " (" + pages.length + ")",
                                results.get("download").spread()));
                        for (String mode : modes.keySet()) {
                            row.add(results.get(mode).spread());
                            row.add(Stats.ratio(results.get(mode).median() / downloadMillis));
                            mapped.computeIfAbsent(mode, k -> new ArrayList<>()).add(new double[] {fraction * 100, results.get(mode).median()});
                        }
                        double first = results.get(modes.keySet().iterator().next()).median() / downloadMillis;
                        row.add(first <= TARGET ? "≤ 1.1: met" : "≤ 1.1: not met");
                        row.add(results.get(modes.keySet().iterator().next()).memory());
                        table.row(row.toArray());
                        download.add(new double[] {fraction * 100, downloadMillis});
                    }
                    curves.put("download, " + pattern, download.toArray(double[][]::new));
                    mapped.forEach((mode, points) -> curves.put(mode + ", " + pattern, points.toArray(double[][]::new)));
                }
                String name = "sweep-" + roundTrip + "ms.png";
                Plots.lines(plots.resolve(name), "S3, " + roundTrip + " ms round trip: time to done against the fraction touched",
                        "pages touched, % of the object", "ms", true, true, curves);
                report.append("![sweep at ").append(roundTrip).append(" ms](benchmarks/plots/").append(name).append(")\n");
            }
        }
        report.insert(report.indexOf("!["), table + "\n");
        System.out.print(report);
    }

    private static String percent(double fraction) {
        return Stats.number(fraction * 100) + "%";
    }
}
