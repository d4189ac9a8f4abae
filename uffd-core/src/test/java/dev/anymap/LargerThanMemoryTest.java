package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An application in a memory cgroup, with the page server it starts, maps an object three times the
 * cgroup's limit and reads it through: the page server holds its cache within a budget taken from
 * the limit, and nothing is OOM-killed. Too little memory for the page server, or a cache limit
 * below one chunk, is a clear error at start.
 */
class LargerThanMemoryTest {
    private static final long MIB = 1L << 20;
    private static final long GIB = 1L << 30;
    private static final long OBJECT = 3 * GIB;
    private static final int RANDOM_PAGES = 8192;
    // The budget is the page server's: the application's own heap is kept small so that the rest of the limit is for the JVMs.
    private static final String APPLICATION_HEAP = "-Xmx128m";
    private static final Duration TIMEOUT = Duration.ofMinutes(3);

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void anObjectThreeTimesTheMemoryLimitIsReadInOrderAndAtRandomWithEveryByteRightAndNothingKilled() throws Exception {
        // The default budget: half of the cgroup's limit, which is lower than the machine's memory.
        assertReadThrough(readInCgroup(GIB, List.of(APPLICATION_HEAP), OBJECT, List.of()), OBJECT);
    }

    @ParameterizedTest
    @ValueSource(strings = {"-XX:+UseG1GC", "-XX:+UseZGC"})
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void anObjectThreeTimesTheMemoryLimitIsReadThroughUnderAGcStorm(String collector) throws Exception {
        Path gcLog = Files.createTempFile("larger-than-memory-gc", ".log");
        try {
            // A budget set for the server through AnymapConfig, well within the limit.
            ProgramInCgroup.Outcome outcome = readInCgroup(GIB, List.of(collector, APPLICATION_HEAP, "-Xlog:gc:file=" + gcLog), OBJECT,
                    List.of("--gc-storm", "--cache-limit", Long.toString(256 * MIB)));
            assertReadThrough(outcome, OBJECT);
            long collections = Files.readAllLines(gcLog).stream().filter(line -> line.contains("Pause") || line.contains("GC(")).count();
            assertTrue(collections > 0, "no garbage was collected\n" + outcome.describe());
        } finally {
            Files.deleteIfExists(gcLog);
        }
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aCgroupTooSmallForThePageServerFailsAtStartNamingTheMemoryLimit() throws Exception {
        long limit = 64 * MIB;
        ProgramInCgroup.Outcome outcome = readInCgroup(limit, List.of("-Xmx16m", "-XX:+UseSerialGC"), 16 * MIB, List.of());
        String failure = assertFailedAtStart(outcome, "open", "map");
        assertTrue(failure.toLowerCase(Locale.ROOT).contains("memory") && namesBytes(failure, limit),
                "the error does not name the memory limit of " + limit + " bytes\n" + outcome.describe());
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void aCacheLimitBelowOneChunkFailsAtStartNamingIt() throws Exception {
        long cacheLimit = 128 << 10; // half of the default chunk, 256 KiB
        ProgramInCgroup.Outcome outcome = readInCgroup(GIB, List.of(APPLICATION_HEAP), 16 * MIB,
                List.of("--cache-limit", Long.toString(cacheLimit)));
        String failure = assertFailedAtStart(outcome, "config", "open", "map");
        assertTrue(failure.toLowerCase(Locale.ROOT).contains("cache") && namesBytes(failure, cacheLimit),
                "the error does not name the cache limit of " + cacheLimit + " bytes\n" + outcome.describe());
    }

    /** {@link LargerThanMemoryProgram} on a new private page server, in a new cgroup limited to {@code limit}. */
    static ProgramInCgroup.Outcome readInCgroup(long limit, List<String> jvmOptions, long size, List<String> options) throws Exception {
        Path socket = TestServers.privateServer().socket();
        List<String> arguments = new ArrayList<>(List.of(socket.toString(), Long.toString(size), Long.toString(System.nanoTime() & 0xFFFF),
                "--random-pages", Integer.toString(RANDOM_PAGES)));
        arguments.addAll(options);
        return ProgramInCgroup.run(limit, jvmOptions, LargerThanMemoryProgram.class, arguments, socket, TIMEOUT);
    }

    /** Read through: in order and at random, every byte right, no OOM kill, exit 0. */
    static void assertReadThrough(ProgramInCgroup.Outcome outcome, long size) {
        assertFalse(outcome.hung(), outcome.describe());
        assertEquals(0, outcome.usage().oomKills(), "the OOM killer acted: " + outcome.describe());
        assertEquals(0, outcome.exitStatus(), outcome.describe());
        Map<String, String> summary = outcome.fields("OK");
        assertEquals(Long.toString(size), summary.get("scanned"), "no summary of a whole scan\n" + outcome.describe());
        assertEquals(Integer.toString(RANDOM_PAGES), summary.get("pages"), outcome.describe());
        System.out.println(outcome.line("OK").orElseThrow() + "; " + outcome.usage() + " of " + MemoryCgroup.mib(outcome.limitBytes()));
    }

    /** The program failed, with no OOM kill and no hang, at one of {@code steps}, and printed why: that message. */
    private static String assertFailedAtStart(ProgramInCgroup.Outcome outcome, String... steps) {
        assertFalse(outcome.hung(), outcome.describe());
        assertEquals(0, outcome.usage().oomKills(), "the OOM killer acted instead of a clear error: " + outcome.describe());
        assertEquals(LargerThanMemoryProgram.FAILED, outcome.exitStatus(), "no clear failure: " + outcome.describe());
        String failed = outcome.line("FAILED").orElseThrow(() -> new AssertionError("no FAILED line\n" + outcome.describe()));
        assertTrue(List.of(steps).stream().anyMatch(step -> failed.startsWith("FAILED " + step + ":")),
                "it failed, but not at " + String.join(" or ", steps) + "\n" + outcome.describe());
        // The message may go on over several lines (a page server's log quoted).
        return outcome.printed().substring(outcome.printed().lastIndexOf("FAILED "));
    }

    /** Whether {@code message} gives {@code bytes} as a number of bytes, KiB or MiB, the way people write them. */
    static boolean namesBytes(String message, long bytes) {
        List<String> forms = new ArrayList<>(List.of(Long.toString(bytes), String.format(Locale.ROOT, "%,d", bytes)));
        if (bytes % (1 << 10) == 0) {
            long kib = bytes >> 10;
            forms.addAll(List.of(kib + " KiB", kib + "KiB", kib + " KB", kib + "K", kib + " kB"));
        }
        if (bytes % (1 << 20) == 0) {
            long mib = bytes >> 20;
            forms.addAll(List.of(mib + " MiB", mib + "MiB", mib + " MB", mib + "M"));
        }
        return forms.stream().anyMatch(message::contains);
    }
}
