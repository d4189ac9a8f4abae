package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** What a process holds: open descriptors, threads, resident memory; for tests that a server is left as it was. */
record ProcessUsage(int descriptors, int threads, long rss) {
    /** After a full collection in the process, so that the heap's garbage does not count. */
    static ProcessUsage of(long pid) throws Exception {
        collect(pid);
        return uncollected(pid);
    }

    private static ProcessUsage uncollected(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            int descriptors = (int) fds.count();
            Map<String, Long> status = status(pid);
            return new ProcessUsage(descriptors, status.get("Threads").intValue(), status.get("VmRSS") << 10);
        }
    }

    /**
     * The usage once the server has finished closing what its last clients left: sessions end on
     * their own threads. Taken when it is back within {@code slack} of {@code before}, or after 30 s.
     */
    static ProcessUsage settled(long pid, ProcessUsage before, int slack) throws Exception {
        return settled(pid, before, slack, Duration.ofSeconds(30));
    }

    /** As {@link #settled(long, ProcessUsage, int)}, waiting up to {@code within}: a pool's idle threads end after a while. */
    static ProcessUsage settled(long pid, ProcessUsage before, int slack, Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        ProcessUsage now;
        while ((now = uncollected(pid)).descriptors() > before.descriptors() + slack || now.threads() > before.threads() + slack) {
            if (System.nanoTime() > deadline) {
                break;
            }
            Thread.sleep(200);
        }
        return of(pid);
    }

    /** The names of the process's threads (as the kernel keeps them, 15 characters), sorted: what a count left behind is made of. */
    static java.util.List<String> threadNames(long pid) throws IOException {
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            return tasks.map(task -> {
                try {
                    return Files.readString(task.resolve("comm")).strip();
                } catch (IOException e) {
                    return "(ended)";
                }
            }).sorted().toList();
        }
    }

    /** What the process's descriptors are (as /proc names them), sorted: what a count left behind is made of. */
    static java.util.List<String> descriptorNames(long pid) throws IOException {
        try (Stream<Path> descriptors = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return descriptors.map(descriptor -> {
                try {
                    return Files.readSymbolicLink(descriptor).toString().replaceAll("\\[[0-9]+\\]$", "[]");
                } catch (IOException e) {
                    return "(closed)";
                }
            }).sorted().toList();
        }
    }

    @Override
    public String toString() {
        return descriptors + " descriptors, " + threads + " threads, " + (rss >> 20) + " MiB resident";
    }

    private static void collect(long pid) throws Exception {
        Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(), Long.toString(pid), "GC.run")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assertTrue(jcmd.waitFor(60, TimeUnit.SECONDS), "jcmd GC.run did not end");
    }

    private static Map<String, Long> status(long pid) throws IOException {
        var values = new java.util.HashMap<String, Long>();
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            String[] parts = line.split(":\\s+");
            if (parts.length == 2 && parts[1].split("\\s")[0].matches("\\d+")) {
                values.put(parts[0], Long.parseLong(parts[1].split("\\s")[0]));
            }
        }
        return values;
    }

    /** CPU seconds the process spends over {@code window}. */
    static double cpuSeconds(long pid, Duration window) throws Exception {
        long start = cpuTicks(pid);
        Thread.sleep(window.toMillis()); // a measuring window, not a wait for anything
        return (cpuTicks(pid) - start) / 100.0;
    }

    private static long cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // utime, stime (fields 14, 15), in USER_HZ = 100
    }
}
