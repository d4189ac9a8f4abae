package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * anymap on {@code mem:} against the C floor of userfaultfd paging on this machine
 * ({@code shared/tools/uffd-reference}, which builds and runs a C handler that reads fault messages
 * blocking, and then busy-polling), with the same size, chunk sizes and touch pattern: one
 * thread reads one byte of every 4 KiB page, in order, with no readahead, so every chunk is one
 * fault. The two alternate, run by run, and the medians are compared: on a shared machine the
 * speed of fresh memory alone varies several times over from one run to the next.
 *
 * <p>Beside it, the floor of the shared cache's own design ({@code benchmarks/native/shared-cache-floor.c}):
 * the same fill through a second mapping, and a region mapped private, which takes minor faults
 * for what the cache holds.
 *
 * <p>Also measures the time from {@code Anymap.open()} to the first byte of a small region, with a
 * page server started for it (and with one already running).
 *
 * <pre>FloorComparison PLOTS_DIR FLOOR_SCRIPT SHARED_CACHE_FLOOR_BINARY SIZE_MIB REPEATS CHUNK_BYTES...</pre>
 * Prints a Markdown report.
 */
public final class FloorComparison {
    private static final Pattern FLOOR_LINE = Pattern.compile("mode=(block|spin) kind=(\\S+) .*throughput=([0-9.]+) MB/s");

    private FloorComparison() {}

    public static void main(String[] args) throws Exception {
        Path plots = Path.of(args[0]);
        Path floor = Path.of(args[1]);
        Path designFloor = Path.of(args[2]);
        long sizeMib = Long.parseLong(args[3]);
        int repeats = Integer.parseInt(args[4]);
        List<Integer> chunks = new ArrayList<>();
        Map<String, List<double[]>> curves = new LinkedHashMap<>();
        for (int i = 5; i < args.length; i++) {
            chunks.add(Integer.parseInt(args[i]));
        }
        StringBuilder report = new StringBuilder();
        report.append(String.format(Locale.ROOT, "### Sequential scan of %d MiB on `mem:` against the C floor%n%n", sizeMib));
        report.append(String.format(Locale.ROOT, "One thread reads a byte of every 4 KiB page in order, no readahead: one fault per chunk. "
                + "The page server fills its shared page cache (a memfd per object, filled with UFFDIO_COPY through its own mapping, "
                + "which the application maps too), so the floor of the same kind is `shmem` (`KINDS=shmem %s`: UFFDIO_COPY "
                + "into a MAP_SHARED mapping of a memfd); `anon` (private anonymous memory, what the page server filled before) is "
                + "given for reference. The page server polls its userfaultfd briefly after a fault and then sleeps, so the target is "
                + "against the faster of the two `shmem` modes, blocking and busy poll. "
                + "Each run scans a new object; a page server of its own per chunk size, after one scan not counted. "
                + "MB/s, medians of %d alternating runs each (min-max). Runs here are bimodal: this machine is a virtual machine "
                + "whose freed memory goes back to its host, and a run that meets that churn is several times slower, for the C "
                + "floor and for anymap alike. A median of few runs lands in either mode, so the best run of each side is compared "
                + "too: the ceiling, which the host's churn can only lower. Target: anymap / faster `shmem` floor at least 0.8 at "
                + "every chunk size.%n%n"
                + "`shmem` fills the toucher's own shared mapping, which maps each page as it fills it. A read-only region cannot "
                + "map the cache that way: the kernel registers a shared mapping with userfaultfd only if it could be made "
                + "writable, so a read-only region maps the memfd private, and once its chunk is in the cache its thread maps "
                + "the pages with ordinary minor faults (about one per 64 KiB, the kernel's fault-around). *Design floor* is "
                + "that design in C (`benchmarks/native/shared-cache-floor.c`: the fill through a second mapping, a wake, a "
                + "private read-only region; the faster of blocking and busy poll), run alternately with the others; "
                + "anymap / design floor is what anymap's own code costs.%n%n", floor.getFileName(), repeats));
        Table table = new Table("chunk", "`shmem`, blocking", "`shmem`, busy poll", "anymap", "anymap / `shmem` blocking",
                "anymap / `shmem` busy poll", "best / best, faster `shmem`", "target", "design floor", "anymap / design floor",
                "`anon`, blocking", "`anon`, busy poll",
                "anymap / `anon` blocking", "anymap / `anon` busy poll");
        boolean met = true;
        int run = 0;
        for (int chunk : chunks) {
            // A page server per chunk size: each run scans a new object, and the cache keeps what it has filled (up to half
            // the machine by default); a new server frees the last one's. One scan first, not counted, for its JIT.
            try (Anymap anymap = Anymap.open(privateServer())) {
                scan(anymap, sizeMib << 20, MapOptions.defaults().withChunkSize(chunk), ++run);
                Map<String, List<Double>> floors = new LinkedHashMap<>();
                List<Double> anymapRuns = new ArrayList<>();
                for (int r = 0; r < repeats; r++) {
                    for (Map.Entry<String, double[]> kind : runFloor(floor, sizeMib, chunk, "shmem", "anon").entrySet()) {
                        floors.computeIfAbsent(kind.getKey() + " block", k -> new ArrayList<>()).add(kind.getValue()[0]);
                        floors.computeIfAbsent(kind.getKey() + " spin", k -> new ArrayList<>()).add(kind.getValue()[1]);
                    }
                    floors.computeIfAbsent("design", k -> new ArrayList<>()).add(runDesignFloor(designFloor, sizeMib, chunk));
                    anymapRuns.add(scan(anymap, sizeMib << 20, MapOptions.defaults().withChunkSize(chunk), ++run));
                }
                double anymapMedian = Stats.median(anymapRuns);
                double anymapBest = Collections.max(anymapRuns);
                for (Map.Entry<String, List<Double>> side : floors.entrySet()) {
                    curves.computeIfAbsent("C floor, " + side.getKey(), k -> new ArrayList<>())
                            .add(new double[] {chunk / 1024.0, Stats.median(side.getValue())});
                }
                curves.computeIfAbsent("anymap", k -> new ArrayList<>()).add(new double[] {chunk / 1024.0, anymapMedian});
                double shmemBlock = Stats.median(floors.get("shmem block"));
                double shmemSpin = Stats.median(floors.get("shmem spin"));
                double ratio = anymapMedian / Math.max(shmemBlock, shmemSpin);
                double bestRatio = anymapBest / Math.max(Collections.max(floors.get("shmem block")), Collections.max(floors.get("shmem spin")));
                met &= ratio >= 0.8;
                table.row(bytes(chunk), Stats.spread(floors.get("shmem block")), Stats.spread(floors.get("shmem spin")),
                        Stats.spread(anymapRuns), Stats.ratio(anymapMedian / shmemBlock), Stats.ratio(anymapMedian / shmemSpin),
                        Stats.ratio(bestRatio), "≥ 0.8: " + (ratio >= 0.8 ? "met" : "not met"), Stats.spread(floors.get("design")),
                        Stats.ratio(anymapMedian / Stats.median(floors.get("design"))), Stats.spread(floors.get("anon block")),
                        Stats.spread(floors.get("anon spin")), Stats.ratio(anymapMedian / Stats.median(floors.get("anon block"))),
                        Stats.ratio(anymapMedian / Stats.median(floors.get("anon spin"))));
                System.err.printf(Locale.ROOT, "chunk %s: floors %s, anymap %s%n", bytes(chunk), floors, anymapRuns);
            }
        }
        report.append(table).append('\n');
        report.append("Target at every chunk size: " + (met ? "met" : "not met") + ".\n");
        Map<String, double[][]> lines = new LinkedHashMap<>();
        curves.forEach((name, points) -> lines.put(name, points.toArray(double[][]::new)));
        Plots.lines(plots.resolve("floor.png"), "mem: page-by-page scan against the C floor (medians)", "chunk, KiB", "MB/s", true, false, lines);
        report.append("\n![mem: against the C floor](benchmarks/plots/floor.png)\n");
        List<Double> cold = new ArrayList<>();
        List<Double> warm = new ArrayList<>();
        for (int r = 0; r < repeats; r++) {
            AnymapConfig config = privateServer().withServerIdleExit(Duration.ofSeconds(5));
            cold.add(firstByteMillis(config));
            warm.add(firstByteMillis(config));
        }
        report.append(String.format(Locale.ROOT, "%n### Time to first byte of a 1 MiB `mem:` region%n%n"));
        report.append("From `Anymap.open()` to the first byte read; medians of " + repeats + " runs (min-max).\n\n");
        report.append("| page server | milliseconds |\n| --- | ---: |\n");
        report.append(String.format(Locale.ROOT, "| started for it (a new JVM) | %.0f (%.0f-%.0f) |%n", Stats.median(cold), Collections.min(cold), Collections.max(cold)));
        report.append(String.format(Locale.ROOT, "| already running | %.1f (%.1f-%.1f) |%n", Stats.median(warm), Collections.min(warm), Collections.max(warm)));
        System.out.print(report);
    }

    private static AnymapConfig privateServer() throws IOException {
        Path directory = Files.createTempDirectory("anymap-bench-");
        Files.delete(directory);
        return AnymapConfig.defaults().withSocket(directory.resolve("server.sock"));
    }

    /**
     * MB/s of the C floor of each kind given ({@code anon}, {@code shmem}, {@code cached}, ...; the KINDS
     * of the script), by kind: blocking, then busy polling.
     */
    static Map<String, double[]> runFloor(Path floor, long sizeMib, int chunk, String... kinds) throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(floor.toString(), Long.toString(sizeMib), Integer.toString(chunk));
        builder.environment().put("KINDS", String.join(" ", kinds));
        return throughputByKind(builder, kinds);
    }

    /** MB/s of the shared cache's design in C ({@code shared-cache-floor}), the faster of blocking and busy poll. */
    private static double runDesignFloor(Path binary, long sizeMib, int chunk) throws IOException, InterruptedException {
        double[] modes = throughputByKind(new ProcessBuilder(binary.toString(), Long.toString(sizeMib), Integer.toString(chunk), "split"),
                "split").get("split");
        return Math.max(modes[0], modes[1]);
    }

    /** Runs a floor that prints uffd-reference's lines, and reads its MB/s by kind: blocking, then busy polling. */
    private static Map<String, double[]> throughputByKind(ProcessBuilder builder, String... kinds) throws IOException, InterruptedException {
        Process process = builder.redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String floor = builder.command().getFirst();
        if (process.waitFor() != 0) {
            throw new IOException(floor + " failed: " + output);
        }
        Map<String, double[]> throughput = new LinkedHashMap<>();
        for (String kind : kinds) {
            throughput.put(kind, new double[] {Double.NaN, Double.NaN});
        }
        Matcher matcher = FLOOR_LINE.matcher(output);
        while (matcher.find()) {
            double[] modes = throughput.get(matcher.group(2));
            if (modes != null) {
                modes[matcher.group(1).equals("block") ? 0 : 1] = Double.parseDouble(matcher.group(3));
            }
        }
        for (Map.Entry<String, double[]> kind : throughput.entrySet()) {
            if (Double.isNaN(kind.getValue()[0]) || Double.isNaN(kind.getValue()[1])) {
                throw new IOException("no blocking and busy-poll throughput of kind " + kind.getKey() + " in the output of " + floor
                        + ": " + output);
            }
        }
        return throughput;
    }

    /** MB/s of a one-byte-per-page scan; a fresh seed per run, so no run finds the object warm. */
    private static double scan(Anymap anymap, long size, MapOptions options, int run) throws IOException {
        URI uri = URI.create("mem:scan?size=" + size + "&seed=" + run);
        try (MappedRegion region = anymap.map(uri, options)) {
            MemorySegment memory = region.segment();
            long started = System.nanoTime();
            long sum = 0;
            for (long offset = 0; offset < size; offset += 4096) {
                sum += memory.get(ValueLayout.JAVA_BYTE, offset);
            }
            double micros = (System.nanoTime() - started) / 1e3;
            if (region.stats().chunksFetched() != size / options.chunkSize()) {
                throw new IllegalStateException("expected every chunk fetched once (checksum " + sum + ")");
            }
            return size / micros;
        }
    }

    private static double firstByteMillis(AnymapConfig config) throws IOException {
        long started = System.nanoTime();
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(URI.create("mem:first?size=1048576&seed=1"))) {
            region.segment().get(ValueLayout.JAVA_BYTE, 0);
            return (System.nanoTime() - started) / 1e6;
        }
    }

    private static String bytes(int chunk) {
        return chunk >= 1 << 20 ? (chunk >> 20) + " MiB" : (chunk >> 10) + " KiB";
    }

}
