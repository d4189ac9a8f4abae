package dev.anymap.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The machine's physical memory, as the kernel reports it in {@code /proc/meminfo}. */
final class PhysicalMemory {
    private static final long TOTAL = read();

    private PhysicalMemory() {}

    /** Bytes of physical memory; 0 if the kernel does not say, so that nothing is sized by it. */
    static long total() {
        return TOTAL;
    }

    private static long read() {
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
}
