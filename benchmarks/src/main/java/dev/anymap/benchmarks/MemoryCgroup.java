package dev.anymap.benchmarks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A cgroup v1 memory cgroup of a benchmark's own, with no limit: it only counts. A process started in
 * it is in it from its first instruction, and so is every process it starts (its page server and
 * keeper), so that {@code memory.max_usage_in_bytes} is the peak of all their memory at once: private
 * pages, the page cache's shared memory, charged once however many map it, and the files they read
 * first. {@link #close} kills whatever is left in it and removes it.
 */
final class MemoryCgroup implements AutoCloseable {
    private static final Path HIERARCHY = Path.of("/sys/fs/cgroup/memory");

    private final Path directory;

    private MemoryCgroup(Path directory) {
        this.directory = directory;
    }

    static MemoryCgroup create(String name) throws IOException {
        if (!Files.isWritable(HIERARCHY.resolve("cgroup.procs")) || !Files.exists(HIERARCHY.resolve("memory.max_usage_in_bytes"))) {
            throw new IOException("no writable cgroup v1 memory hierarchy at " + HIERARCHY + ": this benchmark counts memory with "
                    + "one; run it as root on a machine with the cgroup v1 memory controller mounted there");
        }
        Path directory = HIERARCHY.resolve("anymap-bench-" + ProcessHandle.current().pid() + "-" + name);
        Files.createDirectory(directory);
        return new MemoryCgroup(directory);
    }

    /**
     * Starts {@code command} in this cgroup, with {@code environment} added: a shell puts itself in and
     * then becomes the command. Its standard error is this process's.
     */
    Process start(List<String> command, Map<String, String> environment) throws IOException {
        List<String> wrapped = new ArrayList<>(List.of("sh", "-c", "echo $$ > \"$0\" && exec \"$@\"",
                directory.resolve("cgroup.procs").toString()));
        wrapped.addAll(command);
        ProcessBuilder builder = new ProcessBuilder(wrapped).redirectError(ProcessBuilder.Redirect.INHERIT);
        builder.environment().putAll(environment);
        return builder.start();
    }

    /** Bytes charged to the cgroup now. */
    long usage() throws IOException {
        return read("memory.usage_in_bytes");
    }

    /** The most bytes charged at once since the cgroup was made or {@link #resetPeak}. */
    long peak() throws IOException {
        return read("memory.max_usage_in_bytes");
    }

    void resetPeak() throws IOException {
        Files.writeString(directory.resolve("memory.max_usage_in_bytes"), "0", StandardCharsets.US_ASCII);
    }

    @Override
    public void close() throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (List<Long> left = pids(); !left.isEmpty(); left = pids()) {
            for (long pid : left) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            for (long pid : left) {
                ProcessHandle.of(pid).ifPresent(process -> process.onExit().join());
            }
            if (System.nanoTime() > deadline) {
                throw new IOException(directory + " still holds processes " + pids() + " after 30 s of SIGKILLs");
            }
        }
        Files.deleteIfExists(directory);
    }

    /** A counter of memory.stat ({@code rss}, {@code shmem}, ...) now, bytes. */
    long stat(String name) throws IOException {
        for (String line : Files.readAllLines(directory.resolve("memory.stat"))) {
            if (line.startsWith(name + " ")) {
                return Long.parseLong(line.substring(name.length() + 1).trim());
            }
        }
        throw new IOException("no " + name + " in " + directory.resolve("memory.stat"));
    }

    /** The processes in the cgroup now. */
    List<Long> pids() throws IOException {
        return Files.readAllLines(directory.resolve("cgroup.procs")).stream()
                .filter(line -> !line.isBlank()).map(line -> Long.parseLong(line.trim())).toList();
    }

    private long read(String file) throws IOException {
        return Long.parseLong(Files.readString(directory.resolve(file), StandardCharsets.US_ASCII).trim());
    }
}
