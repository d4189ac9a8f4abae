package dev.anymap.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The memory the page server may use: the machine's, as {@code /proc/meminfo} gives it, or its cgroup's
 * limit where that is lower, as in a container ({@code memory.max} under cgroup v2,
 * {@code memory.limit_in_bytes} under v1).
 */
final class PhysicalMemory {
    private static final long TOTAL = read();

    private PhysicalMemory() {}

    /** Bytes of memory; 0 if the kernel does not say, so that nothing is sized by it. */
    static long total() {
        return TOTAL;
    }

    private static long read() {
        long machine = machine();
        long cgroup = cgroupLimit();
        return cgroup > 0 && (machine == 0 || cgroup < machine) ? cgroup : machine;
    }

    private static long machine() {
        try (var lines = Files.lines(Path.of("/proc/meminfo"))) {
            // "MemTotal:       24596012 kB"
            return lines.filter(line -> line.startsWith("MemTotal:"))
                    .map(line -> line.replaceAll("[^0-9]", ""))
                    .mapToLong(kib -> Long.parseLong(kib) * 1024)
                    .findFirst().orElse(0);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** This process's cgroup memory limit in bytes, or 0 if there is none or none can be read. */
    private static long cgroupLimit() {
        try (var lines = Files.lines(Path.of("/proc/self/cgroup"))) {
            // "0::/a/b" under cgroup v2, "4:memory:/a/b" under v1
            for (String line : lines.toList()) {
                String[] fields = line.split(":", 3);
                Path limit = fields[1].isEmpty() ? Path.of("/sys/fs/cgroup", fields[2], "memory.max")
                        : fields[1].equals("memory") ? Path.of("/sys/fs/cgroup/memory", fields[2], "memory.limit_in_bytes") : null;
                if (limit != null && Files.isReadable(limit)) {
                    String value = Files.readString(limit).strip();
                    // v1 says "no limit" with a number near Long.MAX_VALUE, v2 with "max"
                    long bytes = value.equals("max") ? 0 : Long.parseLong(value);
                    return bytes >= Long.MAX_VALUE / 2 ? 0 : bytes;
                }
            }
            return 0;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }
}
