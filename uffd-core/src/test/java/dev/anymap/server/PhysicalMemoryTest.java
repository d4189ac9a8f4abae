package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import org.junit.jupiter.api.Test;

class PhysicalMemoryTest {
    @Test
    void isPositiveAndNoMoreThanTheMachineHas() throws IOException, InterruptedException {
        long machine = getconf("_PHYS_PAGES") * getconf("PAGE_SIZE");
        long total = PhysicalMemory.total();
        assertTrue(total > 0 && total <= machine, total + " bytes, on a machine of " + machine);
    }

    private static long getconf(String name) throws IOException, InterruptedException {
        Process process = new ProcessBuilder("getconf", name).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes()).strip();
        assertTrue(process.waitFor() == 0, "getconf " + name + ": " + out);
        return Long.parseLong(out);
    }
}
