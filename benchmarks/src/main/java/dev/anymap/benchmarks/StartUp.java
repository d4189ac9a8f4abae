package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MappedRegion;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Start-up with the JDK's AOT caches against without them, alternated run by run: the first byte of
 * a 1 MiB {@code mem:} region when a page server must start for it (from {@code Anymap.open()}, in
 * this JVM), and {@code ./anymap cat} of a 64 KiB local file, end to end (a new JVM each run). The
 * caches are recorded first, in this run: the page server's (and its keeper's) in a directory of the
 * run's own, the command line's by the script.
 *
 * <pre>StartUp ANYMAP_SCRIPT REPEATS</pre>
 * Prints a Markdown report.
 */
public final class StartUp {
    private static final double FIRST_BYTE_TARGET_MS = 150;
    private static final double CAT_TARGET_MS = 300;

    private StartUp() {}

    public static void main(String[] args) throws Exception {
        Path script = Path.of(args[0]).toAbsolutePath();
        int repeats = Integer.parseInt(args[1]);
        Path caches = Files.createTempDirectory("anymap-aot-bench-");
        System.setProperty("anymap.aot.dir", caches.toString());
        Path small = Files.createTempFile("anymap-start-", ".bin");
        byte[] content = new byte[64 << 10];
        new Random(7).nextBytes(content);
        Files.write(small, content);

        // Recorded now: a server that records exits when idle, writing its cache, and the next start takes it up.
        firstByteMillis(true);
        awaitRecorders(caches);
        catMillis(script, small, content, true);

        Map<String, List<Double>> firstByte = new LinkedHashMap<>();
        Map<String, List<Double>> cat = new LinkedHashMap<>();
        for (String side : List.of("without", "with")) {
            firstByte.put(side, new ArrayList<>());
            cat.put(side, new ArrayList<>());
        }
        // Apart, the command line first: a page server that lingers after a first byte would share the cores with it.
        for (int run = 0; run < repeats; run++) {
            for (String side : List.of("without", "with")) {
                cat.get(side).add(catMillis(script, small, content, side.equals("with")));
            }
        }
        for (int run = 0; run < repeats; run++) {
            for (String side : List.of("without", "with")) {
                firstByte.get(side).add(firstByteMillis(side.equals("with")));
            }
        }
        long cacheBytes = sizes(caches);
        long cliBytes;
        try (Stream<Path> files = Files.list(script.resolveSibling("samples").resolve("target"))) {
            cliBytes = files.filter(file -> file.getFileName().toString().matches("anymap-cli-.*\\.aot")).findFirst()
                    .orElseThrow(() -> new IOException("./anymap made no AOT cache in samples/target")).toFile().length();
        }

        StringBuilder report = new StringBuilder("### Start-up with the JDK's AOT caches\n\n");
        report.append("The first byte of a 1 MiB `mem:` region when a page server must start for it, from `Anymap.open()` in a JVM "
                + "already running (the server's JVM, and its keeper's, are new); and `./anymap cat` of a 64 KiB local file, a new "
                + "JVM from the shell to the last byte (the kernel maps a local file: no page server). Without: `ANYMAP_AOT=off`, "
                + "as before the caches. The caches are recorded in the same run, before the runs. Milliseconds, medians of "
                + repeats + " alternating runs (min-max).\n\n");
        Table table = new Table("start", "without", "with", "ratio", "target (with)");
        row(table, "first byte, page server started", firstByte, FIRST_BYTE_TARGET_MS);
        row(table, "`./anymap cat`, 64 KiB file", cat, CAT_TARGET_MS);
        report.append(table);
        report.append(String.format(Locale.ROOT, "%nOn disk: the page server's and keeper's caches %.0f MiB (one per class path, JDK and "
                + "options), the command line's %.0f MiB.%n", cacheBytes / 1048576.0, cliBytes / 1048576.0));
        System.out.print(report);
    }

    private static void row(Table table, String label, Map<String, List<Double>> results, double target) {
        double without = Stats.median(results.get("without"));
        double with = Stats.median(results.get("with"));
        table.row(label, spread(results.get("without")), spread(results.get("with")), Stats.ratio(without / with),
                String.format(Locale.ROOT, "under %.0f: %s", target, with < target ? "met" : "not met"));
        System.err.printf(Locale.ROOT, "StartUp %s: without %.0f ms, with %.0f ms%n", label, without, with);
    }

    private static String spread(List<Double> values) {
        return String.format(Locale.ROOT, "%.0f (%.0f-%.0f)", Stats.median(values), values.stream().mapToDouble(d -> d).min().orElse(0),
                values.stream().mapToDouble(d -> d).max().orElse(0));
    }

    /** The first byte through a page server started for it; returns once that server and its keeper have exited. */
    private static double firstByteMillis(boolean aot) throws Exception {
        System.setProperty("anymap.aot", aot ? "on" : "off");
        AnymapConfig config = Harness.privateServer();
        double millis;
        List<ProcessHandle> started = new ArrayList<>();
        long start = System.nanoTime();
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(URI.create("mem:first?size=1048576&seed=1"))) {
            byte first = region.segment().get(ValueLayout.JAVA_BYTE, 0);
            millis = (System.nanoTime() - start) / 1e6;
            if (first != Generated.byteAt(1, 0)) {
                throw new IllegalStateException("the first byte read is not the object's");
            }
            ProcessHandle.of(anymap.serverStatus().serverPid()).ifPresent(server -> {
                started.add(server);
                server.descendants().forEach(started::add);
            });
        }
        for (ProcessHandle process : started) {
            process.onExit().get(1, TimeUnit.MINUTES);
        }
        return millis;
    }

    private static double catMillis(Path script, Path file, byte[] content, boolean aot) throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(script.toString(), "cat", file.toString()).redirectError(ProcessBuilder.Redirect.INHERIT);
        if (!aot) {
            builder.environment().put("ANYMAP_AOT", "off");
        }
        long started = System.nanoTime();
        Process cat = builder.start();
        byte[] out = cat.getInputStream().readAllBytes();
        if (cat.waitFor() != 0 || !Arrays.equals(out, content)) {
            throw new IOException("./anymap cat " + file + " failed (exit " + cat.exitValue() + ", " + out.length + " bytes)");
        }
        return (System.nanoTime() - started) / 1e6;
    }

    /** Waits for every JVM recording a cache in {@code caches} to exit, its cache written. */
    private static void awaitRecorders(Path caches) throws Exception {
        List<Path> markers;
        try (Stream<Path> files = Files.list(caches)) {
            markers = files.filter(file -> file.toString().endsWith(".recording")).toList();
        }
        for (Path marker : markers) {
            String pid = Files.readString(marker, StandardCharsets.US_ASCII).strip();
            if (!pid.isEmpty()) {
                ProcessHandle.of(Long.parseLong(pid)).ifPresent(recorder -> {
                    try {
                        recorder.onExit().get(5, TimeUnit.MINUTES);
                    } catch (Exception e) {
                        throw new IllegalStateException("the JVM recording " + marker + " did not exit", e);
                    }
                });
            }
        }
    }

    private static long sizes(Path directory) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            long total = 0;
            for (Path file : files.filter(file -> file.toString().endsWith(".aot")).toList()) {
                total += Files.size(file);
            }
            return total;
        }
    }
}
