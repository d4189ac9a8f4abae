package dev.anymap;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * A cgroup v1 memory cgroup of the tests' own, under {@code /sys/fs/cgroup/memory}, with a memory
 * limit, for programs that must run as an application with a memory limit runs: a child started in
 * it is in it from its first instruction, and so is every process it starts (its page server, keeper
 * and standby). {@link #close} kills whatever is left in it and removes it.
 *
 * <p>Where there is no writable memory cgroup hierarchy, {@link #create} aborts the test (a JUnit
 * assumption) and prints why.
 */
final class MemoryCgroup implements AutoCloseable {
    static final Path HIERARCHY = Path.of("/sys/fs/cgroup/memory");
    private static final String PREFIX = "anymap-test-";
    private static final AtomicInteger CREATED = new AtomicInteger();

    private final Path directory;
    private final long limitBytes;
    private final boolean swapLimited;

    private MemoryCgroup(Path directory, long limitBytes, boolean swapLimited) {
        this.directory = directory;
        this.limitBytes = limitBytes;
        this.swapLimited = swapLimited;
    }

    /** A new cgroup whose processes may hold at most {@code limitBytes} of memory, swap included. */
    static MemoryCgroup create(long limitBytes) throws IOException {
        if (!Files.isWritable(HIERARCHY.resolve("cgroup.procs")) || !Files.exists(HIERARCHY.resolve("memory.limit_in_bytes"))) {
            skip("no writable cgroup v1 memory hierarchy at " + HIERARCHY + " (the test needs root and a cgroup v1 memory controller)");
        }
        removeLeftovers();
        Path directory = HIERARCHY.resolve(PREFIX + ProcessHandle.current().pid() + "-" + CREATED.incrementAndGet());
        try {
            Files.createDirectory(directory);
        } catch (IOException e) {
            skip("cannot create a memory cgroup at " + directory + ": " + e);
        }
        MemoryCgroup cgroup = new MemoryCgroup(directory, limitBytes, Files.exists(directory.resolve("memory.memsw.limit_in_bytes")));
        try {
            cgroup.write("memory.limit_in_bytes", limitBytes);
            if (cgroup.swapLimited) {
                // Memory and swap together: a breach that swap took up would otherwise pass unseen.
                cgroup.write("memory.memsw.limit_in_bytes", limitBytes);
            } else if (swapInUse()) {
                // No swap accounting: keep this cgroup's pages out of swap instead.
                cgroup.write("memory.swappiness", 0);
            }
            return cgroup;
        } catch (IOException | RuntimeException e) {
            cgroup.close();
            throw e;
        }
    }

    long limitBytes() {
        return limitBytes;
    }

    Path directory() {
        return directory;
    }

    /**
     * Starts {@code command} in this cgroup: a shell puts itself in and then becomes the command, so
     * that nothing of the command runs outside. Its standard output and error go to {@code output}.
     */
    Process start(List<String> command, Path output) throws IOException {
        List<String> wrapped = new ArrayList<>(List.of("sh", "-c", "echo $$ > \"$0\" && exec \"$@\"",
                directory.resolve("cgroup.procs").toString()));
        wrapped.addAll(command);
        return new ProcessBuilder(wrapped)
                .redirectErrorStream(true)
                .redirectOutput(output.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
    }

    /** The processes in the cgroup now. */
    List<Long> processes() throws IOException {
        return pids(directory);
    }

    /** What the cgroup's counters say now. */
    Usage usage() throws IOException {
        long oomKills = 0;
        for (String line : Files.readAllLines(directory.resolve("memory.oom_control"))) {
            if (line.startsWith("oom_kill ")) {
                oomKills = Long.parseLong(line.substring("oom_kill ".length()).trim());
            }
        }
        // With swap limited too, a charge over the limit fails on memory and swap's counter first, and counts there.
        long failures = read("memory.failcnt") + (swapLimited ? read("memory.memsw.failcnt") : 0);
        return new Usage(read("memory.max_usage_in_bytes"), failures, oomKills);
    }

    /**
     * @param peakBytes the most memory the cgroup's processes held at once (memory.max_usage_in_bytes)
     * @param failures how often a charge hit the limit (memory.failcnt, plus memory.memsw.failcnt where swap is limited)
     * @param oomKills processes the OOM killer killed in it (oom_kill of memory.oom_control)
     */
    record Usage(long peakBytes, long failures, long oomKills) {
        @Override
        public String toString() {
            // failcnt by its name: some kernels (6.18 here) leave it at 0 even as the OOM killer acts.
            return "peak usage " + mib(peakBytes) + ", failcnt " + failures + ", "
                    + (oomKills == 0 ? "no OOM kill" : oomKills + " process(es) OOM-killed");
        }
    }

    static String mib(long bytes) {
        return String.format("%.1f MiB", bytes / 1048576.0);
    }

    /** Kills every process left in the cgroup, waits for them to end, and removes it. */
    @Override
    public void close() throws IOException {
        killAll(directory);
        remove(directory);
    }

    private static void killAll(Path directory) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        // Again until none is left: a process may start another while the first are killed.
        for (List<Long> left = pids(directory); !left.isEmpty(); left = pids(directory)) {
            List<ProcessHandle> killed = new ArrayList<>();
            for (long pid : left) {
                ProcessHandle.of(pid).ifPresent(process -> {
                    process.destroyForcibly();
                    killed.add(process);
                });
            }
            for (ProcessHandle process : killed) {
                try {
                    process.onExit().get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    throw new IOException("process " + process.pid() + " of " + directory + " did not end within 30 s of SIGKILL");
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while emptying " + directory);
                } catch (ExecutionException e) {
                    throw new IOException(e);
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IOException(directory + " still holds processes " + pids(directory) + " after 30 s of SIGKILLs");
            }
        }
    }

    private static void remove(Path directory) throws IOException {
        if (Files.exists(directory)) {
            Files.delete(directory); // rmdir: the kernel drops the control files with it
        }
    }

    /** Cgroups that earlier test JVMs, since killed, left behind. */
    private static void removeLeftovers() throws IOException {
        List<Path> leftovers;
        try (Stream<Path> all = Files.list(HIERARCHY)) {
            leftovers = all.filter(path -> path.getFileName().toString().startsWith(PREFIX))
                    .filter(path -> ownerPid(path) > 0 && ProcessHandle.of(ownerPid(path)).isEmpty())
                    .toList();
        }
        for (Path leftover : leftovers) {
            try {
                killAll(leftover);
                remove(leftover);
            } catch (IOException e) {
                // Another test JVM clearing it at the same moment, or a process that will not die: not this test's concern.
                System.err.println("could not remove the leftover cgroup " + leftover + ": " + e);
            }
        }
    }

    private static long ownerPid(Path cgroup) {
        String name = cgroup.getFileName().toString().substring(PREFIX.length());
        try {
            return Long.parseLong(name.substring(0, name.indexOf('-')));
        } catch (RuntimeException e) {
            return -1; // not of our names' form: left alone
        }
    }

    private static List<Long> pids(Path directory) throws IOException {
        if (!Files.exists(directory)) {
            return List.of();
        }
        return Files.readAllLines(directory.resolve("cgroup.procs")).stream()
                .filter(line -> !line.isBlank()).map(line -> Long.parseLong(line.trim())).toList();
    }

    private static boolean swapInUse() throws IOException {
        // The header, then a line per swap area.
        return Files.readAllLines(Path.of("/proc/swaps")).size() > 1;
    }

    private long read(String file) throws IOException {
        return Long.parseLong(Files.readString(directory.resolve(file), StandardCharsets.US_ASCII).trim());
    }

    private void write(String file, long value) throws IOException {
        Files.writeString(directory.resolve(file), Long.toString(value), StandardCharsets.US_ASCII);
    }

    private static void skip(String reason) {
        System.err.println("Skipped: " + reason);
        Assumptions.abort(reason);
    }
}
