package dev.anymap.benchmarks;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs measurements side by side, alternating run by run (so that a slow spell of this shared
 * machine falls on every side alike), after runs not counted, and records each run's peak resident
 * memory of this process and of the page server.
 */
final class Runs {
    /** One run: returns the figure measured (seconds, MB/s, ...). */
    interface Measurement {
        double run() throws Exception;
    }

    /** The runs of one side, with the peak RSS (MiB) of this process and of the page server in each. */
    record Result(List<Double> values, List<Double> appMib, List<Double> serverMib) {
        double median() {
            return Stats.median(values);
        }

        String spread() {
            return Stats.spread(values);
        }

        /** {@code "app / server"} medians, MiB. */
        String memory() {
            return Stats.number(Stats.median(appMib)) + " / " + Stats.number(Stats.median(serverMib));
        }
    }

    /**
     * How long a benchmark's first row runs its sides, not counted, before anything is: the page
     * server, the store and the harness are each a new JVM, where those of a platform run for long.
     * Measured on the trace replay at 0 ms, a boot fell from 450 ms to about 90 over its first 60
     * while the JIT compiled the S3 client's request path: counted from the fifth boot, as it was, the
     * replay measured the JIT.
     */
    static final Duration FIRST_WARM_UP = Duration.ofSeconds(Long.getLong("anymap.benchmarks.warm-up-seconds", 30));

    private final int repeats;
    private final long serverPid;
    private final long appPid = ProcessHandle.current().pid();
    private boolean warm;

    Runs(int repeats, long serverPid) {
        this.repeats = repeats;
        this.serverPid = serverPid;
    }

    int repeats() {
        return repeats;
    }

    Map<String, Result> alternate(String label, Map<String, Measurement> sides) throws Exception {
        Map<String, Result> results = new LinkedHashMap<>();
        sides.keySet().forEach(side -> results.put(side, new Result(new ArrayList<>(), new ArrayList<>(), new ArrayList<>())));
        // Not counted: a new endpoint's client and connections, and before the first row, the JITs of three JVMs.
        long warmUntil = System.nanoTime() + (warm ? 0 : FIRST_WARM_UP.toNanos());
        int warmUps = 0;
        do {
            for (Measurement side : sides.values()) {
                side.run();
            }
            warmUps++;
        } while (System.nanoTime() < warmUntil);
        warm = true;
        for (int r = 0; r < repeats; r++) {
            for (Map.Entry<String, Measurement> side : sides.entrySet()) {
                System.gc();
                resetPeaks();
                double value = side.getValue().run();
                Result result = results.get(side.getKey());
                result.values().add(value);
                result.appMib().add(PeakRss.read(appPid));
                result.serverMib().add(PeakRss.read(serverPid));
            }
        }
        StringBuilder log = new StringBuilder(label + " (" + warmUps + " warm-ups):");
        results.forEach((side, result) -> log.append(String.format(Locale.ROOT, " %s %s;", side, result.values())));
        System.err.println(log);
        return results;
    }

    /** Runs each side {@code times} times, alternating, counting nothing. */
    static void uncounted(int times, Map<String, Measurement> sides) throws Exception {
        for (int i = 0; i < times; i++) {
            for (Measurement side : sides.values()) {
                side.run();
            }
        }
    }

    /**
     * Each side's figures in {@code repeats} runs, alternating, each after a full GC as counted runs
     * are, and with no warm-up: what a side costs as it is now, compiled or not.
     */
    static Map<String, List<Double>> afterFullGcs(int repeats, Map<String, Measurement> sides) throws Exception {
        Map<String, List<Double>> values = new LinkedHashMap<>();
        sides.keySet().forEach(side -> values.put(side, new ArrayList<>()));
        for (int r = 0; r < repeats; r++) {
            for (Map.Entry<String, Measurement> side : sides.entrySet()) {
                System.gc();
                values.get(side.getKey()).add(side.getValue().run());
            }
        }
        return values;
    }

    private void resetPeaks() throws IOException {
        PeakRss.reset(appPid);
        PeakRss.reset(serverPid);
    }
}
