package dev.anymap.benchmarks;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A scan of an object four times the page server's memory budget against the same scan with a budget
 * larger than the object, and the memory both take. The object comes from a
 * {@link GeneratedObjectServer}, which holds none of it. Each run is a new application JVM
 * ({@link BudgetScanProgram}) in a new memory cgroup, where it starts its own page server and keeper
 * (no standby: {@code ANYMAP_STANDBY=0}); the cgroup's peak is reset once both JVMs are up and have
 * mapped a 1 MiB object, and read when the scan is done.
 *
 * <pre>BudgetScan BUDGET_MIB OBJECT_MIB REPEATS</pre>
 * Prints a Markdown report.
 */
public final class BudgetScan {
    private BudgetScan() {}

    /** One run: scan MB/s, the cgroup's peak and its usage before the map, bytes. */
    private record Run(double mbPerSecond, long peak, long before, long fetched, long evictions, long rss, long shmem,
                       Map<String, Double> peakRssMib) {
        long growth() {
            return peak - before;
        }
    }

    public static void main(String[] args) throws Exception {
        long budget = Long.parseLong(args[0]) << 20;
        long size = Long.parseLong(args[1]) << 20;
        int repeats = Integer.parseInt(args[2]);
        Map<String, Long> limits = new LinkedHashMap<>();
        limits.put("budget", budget);
        limits.put("no budget", size + budget);
        Map<String, List<Run>> runs = new LinkedHashMap<>();
        limits.keySet().forEach(side -> runs.put(side, new ArrayList<>()));
        long seed = 1000;
        try (GeneratedObjectServer.ChildServer server = GeneratedObjectServer.start()) {
            for (int r = 0; r < repeats; r++) {
                for (Map.Entry<String, Long> side : limits.entrySet()) {
                    Run run = run(server.port(), side.getValue(), seed += 10, size, side.getKey().replace(' ', '-') + "-" + r);
                    runs.get(side.getKey()).add(run);
                    System.err.printf(Locale.ROOT, "budget scan, %s: %s%n", side.getKey(), run);
                }
            }
        }
        double ratio = median(runs.get("budget"), Run::mbPerSecond) / median(runs.get("no budget"), Run::mbPerSecond);
        double bestRatio = max(runs.get("budget"), Run::mbPerSecond) / max(runs.get("no budget"), Run::mbPerSecond);
        double worstGrowth = max(runs.get("budget"), run -> (double) run.growth());
        long allowed = budget + (64L << 20);
        StringBuilder report = new StringBuilder("### A scan of " + (size >> 20) + " MiB through a page cache budget of "
                + (budget >> 20) + " MiB\n\n");
        report.append("The object is served over HTTP with byte ranges by a process that generates its bytes as it sends them "
                + "and holds none (a `mem:` object would sit whole in the page server, and the kernel maps a `file:` object with no "
                + "page server and no budget in the path). An application maps it (default options) and copies every byte out, "
                + "a MiB at a time, with the page server's cache limited to " + (budget >> 20) + " MiB (`AnymapConfig.withCacheLimit`), "
                + "and with a limit of " + ((size + budget) >> 20) + " MiB, larger than the object. Every run is a new application JVM "
                + "in a new cgroup v1 memory cgroup, where it starts its own page server and keeper (`ANYMAP_STANDBY=0`: no standby), "
                + "both sides cold alike; the runs alternate. Memory is the cgroup's `memory.max_usage_in_bytes` during the scan, "
                + "reset once the application, page server and keeper are up and have mapped a 1 MiB object: it counts all three "
                + "processes' private memory, the cache's shared memory once, and the files they read first. *Before* is the cgroup's "
                + "usage then, the JVMs themselves, not counted against the budget; *growth* is peak minus before. For where it went: "
                + "the cgroup's `rss` (private memory) and `shmem` (the cache) from memory.stat when the scan is done, and each "
                + "process's peak RSS (VmHWM, reset with the cgroup's peak; a process's RSS counts the cache pages it maps). MB/s and MiB, "
                + "medians of " + repeats + " runs (min-max). Targets: budget / no budget at least 0.8; growth with the budget at most "
                + "the budget plus 64 MiB (" + (allowed >> 20) + " MiB) in every run.\n\n");
        Table table = new Table("cache limit", "scan MB/s", "cgroup peak", "before", "growth", "rss / shmem at the end",
                "peak RSS app / page server / keeper", "fetched", "evictions");
        for (Map.Entry<String, Long> side : limits.entrySet()) {
            List<Run> sideRuns = runs.get(side.getKey());
            table.row((side.getValue() >> 20) + " MiB (" + side.getKey() + ")", spread(sideRuns, Run::mbPerSecond),
                    spread(sideRuns, run -> run.peak() / 1048576.0), spread(sideRuns, run -> run.before() / 1048576.0),
                    spread(sideRuns, run -> run.growth() / 1048576.0),
                    Stats.number(median(sideRuns, run -> run.rss() / 1048576.0)) + " / "
                            + Stats.number(median(sideRuns, run -> run.shmem() / 1048576.0)),
                    Stats.number(median(sideRuns, run -> run.peakRssMib().getOrDefault("application", 0.0))) + " / "
                            + Stats.number(median(sideRuns, run -> run.peakRssMib().getOrDefault("page server", 0.0))) + " / "
                            + Stats.number(median(sideRuns, run -> run.peakRssMib().getOrDefault("keeper", 0.0))),
                    spread(sideRuns, run -> run.fetched() / 1048576.0),
                    spread(sideRuns, run -> (double) run.evictions()));
        }
        report.append(table).append('\n');
        report.append(String.format(Locale.ROOT, "Budget / no budget: %s (best / best %s); target at least 0.8: %s. "
                        + "Largest growth with the budget: %s MiB; target at most %d MiB: %s.%n", Stats.ratio(ratio),
                Stats.ratio(bestRatio), ratio >= 0.8 ? "met" : "not met", Stats.number(worstGrowth / 1048576.0), allowed >> 20,
                worstGrowth <= allowed ? "met" : "not met"));
        System.out.print(report);
    }

    private static Run run(int port, long cacheLimit, long seed, long size, String name) throws Exception {
        try (MemoryCgroup cgroup = MemoryCgroup.create(name)) {
            List<String> command = new ArrayList<>(Harness.javaCommand(BudgetScanProgram.class));
            command.addAll(1, List.of("--enable-native-access=ALL-UNNAMED"));
            command.addAll(List.of(Long.toString(cacheLimit), Integer.toString(port), Long.toString(seed), Long.toString(size)));
            Process program = cgroup.start(command, Map.of("ANYMAP_STANDBY", "0"));
            try {
                BufferedReader out = new BufferedReader(new InputStreamReader(program.getInputStream(), StandardCharsets.UTF_8));
                expect(out.readLine(), "READY", program);
                long before = cgroup.usage();
                cgroup.resetPeak();
                for (long pid : cgroup.pids()) {
                    PeakRss.reset(pid);
                }
                OutputStream in = program.getOutputStream();
                in.write("GO\n".getBytes(StandardCharsets.UTF_8));
                in.flush();
                String[] done = expect(out.readLine(), "DONE", program).split(" ");
                long peak = cgroup.peak();
                Map<String, Double> peakRss = new java.util.TreeMap<>();
                for (long pid : cgroup.pids()) {
                    peakRss.merge(role(pid), PeakRss.read(pid), Double::sum);
                }
                long rss = cgroup.stat("rss");
                long shmem = cgroup.stat("shmem");
                double millis = Double.parseDouble(done[1]);
                in.close();
                program.waitFor();
                return new Run(size / (millis * 1e3), peak, before, Long.parseLong(done[2]), Long.parseLong(done[3]),
                        rss, shmem, peakRss);
            } finally {
                program.destroyForcibly();
            }
        }
    }

    /** What a process of the cgroup is, by its main class. */
    private static String role(long pid) throws IOException {
        String commandLine = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", Long.toString(pid), "cmdline"));
        // The keeper's command line holds the page server's, which it runs again if the server dies.
        return commandLine.contains("KeeperMain") ? "keeper" : commandLine.contains("PageServerMain") ? "page server"
                : commandLine.contains(BudgetScanProgram.class.getSimpleName()) ? "application" : "other";
    }

    private static String expect(String line, String word, Process program) throws IOException {
        if (line == null || !line.startsWith(word)) {
            throw new IOException("the scan program (process " + program.pid() + ") printed " + line + " where " + word + " was due");
        }
        return line;
    }

    private static double median(List<Run> runs, java.util.function.ToDoubleFunction<Run> figure) {
        return Stats.median(runs.stream().map(run -> figure.applyAsDouble(run)).toList());
    }

    private static double max(List<Run> runs, java.util.function.ToDoubleFunction<Run> figure) {
        return runs.stream().mapToDouble(figure).max().orElseThrow();
    }

    private static String spread(List<Run> runs, java.util.function.ToDoubleFunction<Run> figure) {
        return Stats.spread(runs.stream().map(run -> figure.applyAsDouble(run)).toList());
    }
}
