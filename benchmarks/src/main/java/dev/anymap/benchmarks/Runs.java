package dev.anymap.benchmarks;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs measurements side by side, alternating run by run (so that a slow spell of this shared
 * machine falls on every side alike), and records each run's peak resident memory of this process
 * and of the page server.
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

    private final int repeats;
    private final int warmups;
    private final long serverPid;
    private final long appPid = ProcessHandle.current().pid();

    /** Runs each side once, not counted, before the runs that are. */
    Runs(int repeats, long serverPid) {
        this(repeats, 1, serverPid);
    }

    Runs(int repeats, int warmups, long serverPid) {
        this.repeats = repeats;
        this.warmups = warmups;
        this.serverPid = serverPid;
    }

    int repeats() {
        return repeats;
    }

    Map<String, Result> alternate(String label, Map<String, Measurement> sides) throws Exception {
        Map<String, Result> results = new LinkedHashMap<>();
        sides.keySet().forEach(side -> results.put(side, new Result(new ArrayList<>(), new ArrayList<>(), new ArrayList<>())));
        // Runs of each side first, not counted: the page server's client for a new endpoint, the JIT, the connections.
        for (int r = 0; r < warmups; r++) {
            for (Measurement side : sides.values()) {
                side.run();
            }
        }
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
        StringBuilder log = new StringBuilder(label + ":");
        results.forEach((side, result) -> log.append(String.format(Locale.ROOT, " %s %s;", side, result.values())));
        System.err.println(log);
        return results;
    }

    private void resetPeaks() throws IOException {
        PeakRss.reset(appPid);
        PeakRss.reset(serverPid);
    }
}
