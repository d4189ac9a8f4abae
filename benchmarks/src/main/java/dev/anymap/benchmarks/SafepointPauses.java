package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.io.IOException;
import java.io.Writer;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Time to safepoint: an application ({@link SafepointReader}, a JVM of its own with
 * {@code -Xlog:safepoint}) has 16 threads read random records of an S3 object at a round trip of
 * latency while a thread allocates garbage, once with plain touches of the segment and once loading
 * each record first with {@code region.load}; every safepoint of the application is parsed from its log
 * (time to reach it, and the whole pause). Then the cost of the pattern on resident memory:
 * {@code region.copyTo} against {@code MemorySegment.copy}, and {@code region.load} of what is resident.
 *
 * <pre>SafepointPauses SIZE_MIB REPEATS SECONDS ROUND_TRIP_MS</pre>
 * Prints a Markdown report.
 */
public final class SafepointPauses {
    private static final int THREADS = 16;
    private static final int CHUNK = 64 << 10;
    private static final int RECORD = 4096;
    private static final Pattern SAFEPOINT = Pattern.compile("Safepoint \"([^\"]+)\".*Reaching safepoint: (\\d+) ns.*Total: (\\d+) ns");
    private static final List<String> MODES = List.of("touch", "load");

    private SafepointPauses() {}

    /** One safepoint of the application: what it was for, ns to reach it, ns the application stood still. */
    private record Pause(String operation, long reachingNanos, long totalNanos) {}

    public static void main(String[] args) throws Exception {
        long size = Long.parseLong(args[0]) << 20;
        int repeats = Integer.parseInt(args[1]);
        int seconds = Integer.parseInt(args[2]);
        long roundTrip = Long.parseLong(args[3]);
        AnymapConfig config = Harness.privateServer();
        Map<String, List<Pause>> pauses = new LinkedHashMap<>();
        Map<String, Long> reads = new LinkedHashMap<>();
        MODES.forEach(mode -> {
            pauses.put(mode, new ArrayList<>());
            reads.put(mode, 0L);
        });
        StringBuilder report = new StringBuilder("### Time to safepoint while threads wait on S3\n\n");
        report.append("An application in a JVM of its own (G1, `-Xmx512m -Xmn32m`, `-Xlog:safepoint`) maps a " + (size >> 20)
                + " MiB object in s3proxy at " + roundTrip + " ms round trip (" + (CHUNK >> 10) + " KiB chunks, no readahead, no "
                + "automatic pull: every record a fetch) and has " + THREADS + " threads read random " + (RECORD >> 10) + " KiB records "
                + "of it for " + seconds + " s, each checked against the stored file, while another thread allocates about 256 MB/s of "
                + "garbage. *touch* reads each record from the segment, so a thread waits on S3 in a fault, in Java code; *load* calls "
                + "`region.load(offset, length)` first, which waits in `madvise(MADV_POPULATE_READ)`, in native code, then reads it. "
                + "Every safepoint of the application's " + repeats + " alternating runs per side, from its log, after one run per side "
                + "not counted: time to reach it, and the whole pause (reaching it included), in ms. Target for load: p99 of the pause "
                + "under 5 ms.\n\n");
        Table table = new Table("reads", "records read", "safepoints (GCs)", "time to safepoint p50 / p99 / max", "pause p50 / p99 / max",
                "target");
        try (S3Fixture s3 = new S3Fixture(0, roundTrip); // the direct port too, which put checks the object through
             Anymap anymap = Anymap.open(config)) {
            // This JVM's link keeps the page server up, and warm, between the applications' runs.
            anymap.serverStatus();
            Path stored = s3.put("safepoints", size, 61);
            Map<String, String> options = s3.backendOptions(roundTrip);
            for (String mode : MODES) {
                runApplication(config, stored, mode, Math.max(2, Math.min(10, (int) Runs.FIRST_WARM_UP.toSeconds())), options);
            }
            for (int r = 0; r < repeats; r++) {
                for (String mode : MODES) {
                    Result result = runApplication(config, stored, mode, seconds, options);
                    pauses.get(mode).addAll(result.pauses());
                    reads.merge(mode, result.reads(), Long::sum);
                }
            }
            for (String mode : MODES) {
                List<Pause> all = pauses.get(mode);
                long collections = all.stream().filter(p -> p.operation().contains("Collect")).count();
                table.row(mode.equals("touch") ? "plain touches" : "load, then read", reads.get(mode), all.size() + " (" + collections + ")",
                        percentiles(all.stream().map(Pause::reachingNanos).toList()),
                        percentiles(all.stream().map(Pause::totalNanos).toList()), mode.equals("load") ? "p99 < 5" : "");
                System.err.println("safepoints, " + mode + ": " + all.size() + " over " + reads.get(mode) + " reads");
            }
            report.append(table).append('\n');
            report.append(copyCost(anymap));
        }
        System.out.print(report);
    }

    private record Result(List<Pause> pauses, long reads) {}

    private static Result runApplication(AnymapConfig config, Path stored, String mode, int seconds, Map<String, String> options)
            throws IOException, InterruptedException {
        Path log = Files.createTempFile("anymap-bench-safepoints-", ".log");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseG1GC", "-Xmx512m", "-Xms512m", "-Xmn32m", "-Xlog:safepoint:file=" + log,
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), SafepointReader.class.getName(),
                config.socket().toString(), S3Fixture.uri("safepoints").toString(), stored.toString(), mode, Integer.toString(seconds),
                Integer.toString(THREADS), Integer.toString(CHUNK), Integer.toString(RECORD)));
        Process application = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            try (Writer input = new java.io.OutputStreamWriter(application.getOutputStream(), StandardCharsets.UTF_8)) {
                for (Map.Entry<String, String> option : options.entrySet()) {
                    input.write(option.getKey() + "=" + option.getValue() + "\n");
                }
                input.write("\n");
            }
            String printed = new String(application.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!application.waitFor(seconds + 120L, TimeUnit.SECONDS) || application.exitValue() != 0 || !printed.startsWith("OK ")) {
                throw new IOException("the application (" + mode + ") failed: it printed " + printed);
            }
            List<Pause> pauses = new ArrayList<>();
            for (String line : Files.readAllLines(log)) {
                Matcher matcher = SAFEPOINT.matcher(line);
                if (matcher.find()) {
                    pauses.add(new Pause(matcher.group(1), Long.parseLong(matcher.group(2)), Long.parseLong(matcher.group(3))));
                }
            }
            return new Result(pauses, Long.parseLong(printed.substring(3)));
        } finally {
            application.destroyForcibly();
            Files.deleteIfExists(log);
        }
    }

    private static String percentiles(List<Long> nanos) {
        if (nanos.isEmpty()) {
            return "none";
        }
        List<Long> sorted = nanos.stream().sorted().toList();
        return Stats.number(at(sorted, 0.5) / 1e6) + " / " + Stats.number(at(sorted, 0.99) / 1e6) + " / "
                + Stats.number(sorted.getLast() / 1e6);
    }

    private static long at(List<Long> sorted, double quantile) {
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(quantile * sorted.size()) - 1));
    }

    /**
     * What the pattern costs where nothing is to be fetched: a 256 MiB {@code mem:} object, loaded
     * once, copied into native memory by {@code copyTo} and by {@code MemorySegment.copy}, and loaded
     * again, GB/s, alternating.
     */
    private static String copyCost(Anymap anymap) throws Exception {
        long size = 256L << 20;
        try (MappedRegion region = anymap.map(URI.create("mem:safepoints-copy?size=" + size + "&seed=5"), MapOptions.defaults());
             Arena arena = Arena.ofShared()) {
            MemorySegment target = arena.allocate(size, 4096);
            target.fill((byte) 0);
            region.load(0, size);
            Runs runs = new Runs(9, anymap.serverStatus().serverPid());
            Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
            sides.put("MemorySegment.copy", () -> gigabytesPerSecond(size, () -> MemorySegment.copy(region.segment(), 0, target, 0, size)));
            sides.put("copyTo", () -> gigabytesPerSecond(size, () -> region.copyTo(0, target)));
            sides.put("load", () -> gigabytesPerSecond(size, () -> region.load(0, size)));
            Map<String, Runs.Result> results = runs.alternate("copy of resident memory", sides);
            if (target.mismatch(region.segment()) != -1) {
                throw new IllegalStateException("copyTo copied other bytes than the mapped ones");
            }
            double copy = results.get("MemorySegment.copy").median();
            Table table = new Table("resident 256 MiB, GB/s", "MemorySegment.copy", "region.copyTo", "copyTo / copy", "region.load alone");
            table.row("median (min-max) of " + runs.repeats(), results.get("MemorySegment.copy").spread(), results.get("copyTo").spread(),
                    Stats.ratio(results.get("copyTo").median() / copy), results.get("load").spread());
            return "\nThe cost where nothing is fetched: a 256 MiB `mem:` object, resident, copied into native memory by "
                    + "`region.copyTo` (2 MiB at a time, a load and then a copy of present pages) and by `MemorySegment.copy`, and loaded "
                    + "again (`madvise` over pages already present), in GB/s, alternating.\n\n" + table;
        }
    }

    private interface Work {
        void run() throws Exception;
    }

    private static double gigabytesPerSecond(long bytes, Work work) throws Exception {
        long started = System.nanoTime();
        work.run();
        return bytes / (double) (System.nanoTime() - started);
    }
}
