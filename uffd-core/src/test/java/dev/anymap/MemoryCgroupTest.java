package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The harness of {@link LargerThanMemoryTest}: a program in a {@link MemoryCgroup} is in it with all
 * it starts, what outgrows the limit is seen OOM-killed, and nothing is left behind.
 */
class MemoryCgroupTest {
    private static final long MIB = 1L << 20;

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void aProgramThatOutgrowsItsLimitIsSeenOomKilledAndNothingIsLeftBehind() throws Exception {
        ProgramInCgroup.Outcome outcome = ProgramInCgroup.run(64 * MIB, List.of("-Xmx16m", "-XX:+UseSerialGC"), MemoryHog.class,
                List.of(Long.toString(256 * MIB)), Path.of("/nonexistent/server.sock"), Duration.ofMinutes(1));
        Path cgroup = MemoryCgroup.HIERARCHY.resolve(outcome.cgroup());
        assertFalse(outcome.hung(), outcome.describe());
        assertEquals(128 + 9, outcome.exitStatus(), outcome.describe());
        assertTrue(outcome.usage().oomKills() >= 1, outcome.describe());
        assertTrue(outcome.usage().peakBytes() <= 64 * MIB, outcome.describe());
        // Killed for what it allocated, not for its JVM's start.
        assertTrue(outcome.line("STARTED").isPresent() && outcome.line("TOUCHED").isEmpty(), outcome.describe());
        assertFalse(Files.exists(cgroup), cgroup + " was not removed");
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void anObjectWellWithinTheLimitIsReadWithThePageServerInTheSameCgroup() throws Exception {
        long size = 256 * MIB;
        ProgramInCgroup.Outcome outcome = LargerThanMemoryTest.readInCgroup(1L << 30, List.of("-Xmx128m"), size, List.of());
        LargerThanMemoryTest.assertReadThrough(outcome, size);
        String opened = outcome.line("OPENED").orElseThrow();
        assertTrue(opened.endsWith("server-cgroup=/" + outcome.cgroup()), "the page server ran elsewhere: " + opened);
        long server = Long.parseLong(outcome.fields("OPENED").get("server"));
        assertTrue(outcome.usage().peakBytes() > 0 && outcome.usage().peakBytes() <= 1L << 30, outcome.describe());
        assertFalse(ProcessHandle.of(server).map(ProcessHandle::isAlive).orElse(false), "page server " + server + " outlived its cgroup");
        assertFalse(Files.exists(MemoryCgroup.HIERARCHY.resolve(outcome.cgroup())), outcome.cgroup() + " was not removed");
    }

    /** Prints {@code STARTED}, touches every page of the native memory it allocates, then prints {@code TOUCHED}. <pre>MemoryHog BYTES</pre> */
    public static final class MemoryHog {
        public static void main(String[] args) {
            System.out.println("STARTED");
            System.out.flush();
            long size = Long.parseLong(args[0]);
            MemorySegment memory = Arena.global().allocate(size, 4096);
            for (long offset = 0; offset < size; offset += 4096) {
                memory.set(ValueLayout.JAVA_BYTE, offset, (byte) 1);
            }
            System.out.println("TOUCHED");
        }
    }
}
