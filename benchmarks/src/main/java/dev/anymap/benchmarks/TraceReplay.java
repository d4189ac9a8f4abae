package dev.anymap.benchmarks;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A recorded access trace replayed as prefetch on {@code s3://}: a "sandbox boot" touches a few thousand
 * pages of a snapshot in a fixed pseudo-random order, in clusters of {@value #CLUSTER} pages with a
 * little compute between; its trace, recorded once with {@code region.trace()} on a mapping of
 * {@value #TRACE_CHUNK}-byte chunks and saved, is replayed with {@code anymap.map(uri, options, trace)} on a
 * fresh mapping of that chunk size and on one of the default, against the same boot on a fresh mapping
 * with the default options, cold.
 *
 * <pre>TraceReplay PLOTS_DIR SIZE_MIB REPEATS PAGES ROUND_TRIP_MS...</pre>
 * Prints a Markdown report.
 */
public final class TraceReplay {
    private static final int CLUSTER = 8;
    private static final long COMPUTE_NANOS = 20_000;
    /**
     * The chunk size of the recording and of the replay: a chunk a little larger than a cluster, so
     * that the replay fetches about what the boot touches, where the default chunk fetches eight times more.
     */
    private static final int TRACE_CHUNK = 32 << 10;
    private TraceReplay() {}

    public static void main(String[] args) throws Exception {
        Path plots = Path.of(args[0]);
        long size = Long.parseLong(args[1]) << 20;
        int repeats = Integer.parseInt(args[2]);
        int pageCount = Integer.parseInt(args[3]);
        long[] roundTrips = new long[args.length - 4];
        for (int i = 4; i < args.length; i++) {
            roundTrips[i - 4] = Long.parseLong(args[i]);
        }
        long[] pages = Workloads.pages(size, (double) pageCount * Workloads.PAGE / size, CLUSTER, 53);
        StringBuilder report = new StringBuilder("### Replay of a recorded access trace on S3\n\n");
        report.append("A sandbox boot on a " + (size >> 20) + " MiB snapshot in s3proxy: " + pages.length + " pages in clusters of "
                + CLUSTER + ", in a fixed pseudo-random order, with " + COMPUTE_NANOS / 1000 + " us of compute after each cluster. Its "
                + "trace is recorded once (`region.trace()`) on a mapping of " + (TRACE_CHUNK >> 10) + " KiB chunks and saved. Then "
                + "the boot runs on a fresh mapping with the default options (" + (MapOptions.DEFAULT_CHUNK_SIZE >> 10) + " KiB "
                + "chunks, automatic pull), cold; on a fresh mapping of " + (TRACE_CHUNK >> 10) + " KiB chunks mapped with "
                + "`anymap.map(uri, options, AccessTrace.load(file))`, which reads the trace's chunks while it opens the "
                + "object; and on a fresh mapping of the default chunks, mapped the same way, which "
                + "fetches whole " + (MapOptions.DEFAULT_CHUNK_SIZE >> 10) + " KiB chunks for the pages the trace names. Time from "
                + "`map()` to the boot's end in ms, each boot on a new version of the snapshot (a new ETag, the same bytes; the trace's "
                + "version set to it), which the page server's shared cache does not hold; medians of " + repeats + " alternating runs (min-max). Target at 20 ms: at least 3 "
                + "times less time with the trace.\n\n");
        Table table = new Table("round trip", "cold", "replayed, " + (TRACE_CHUNK >> 10) + " KiB chunks", "cold / replayed", "target",
                "replayed, default chunks", "cold / replayed, default chunks", "peak RSS app / server, replayed");
        Map<String, Double> speedups = new LinkedHashMap<>();
        Path traceFile = Files.createTempDirectory("anymap-bench-trace-").resolve("boot.trace");
        try (S3Fixture s3 = new S3Fixture(roundTrips);
             // Every boot maps a new version (see timeBoot): a limit of four snapshots drops the old ones' chunks.
             Anymap anymap = Anymap.open(Harness.privateServer().withCacheLimit(Math.max(4 * size, 128L << 20)));
             Arena arena = Arena.ofShared()) {
            MemorySegment expected = Harness.fileMemory(s3.put("snapshot", size, 47), arena);
            long expectedSum = boot(expected, pages);
            // Recorded without the automatic pull: chunks it brings in are never faulted on, so never in the trace.
            try (MappedRegion region = anymap.map(S3Fixture.uri("snapshot"),
                    s3.options(MapOptions.defaults().withAutoPull(false).withChunkSize(TRACE_CHUNK), 0))) {
                boot(region.segment(), pages);
                region.trace().save(traceFile);
            }
            RECORDED_ETAGS.put(traceFile, s3.etag("snapshot"));
            Runs runs = new Runs(repeats, anymap.serverStatus().serverPid());
            for (long roundTrip : roundTrips) {
                MapOptions options = s3.options(MapOptions.defaults(), roundTrip);
                MapOptions traceChunks = s3.options(MapOptions.defaults().withChunkSize(TRACE_CHUNK), roundTrip);
                Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
                sides.put("cold", () -> timeBoot(s3, anymap, options, pages, null, expectedSum));
                sides.put("replayed", () -> timeBoot(s3, anymap, traceChunks, pages, traceFile, expectedSum));
                sides.put("replayed, default chunks", () -> timeBoot(s3, anymap, options, pages, traceFile, expectedSum));
                Map<String, Runs.Result> results = runs.alternate("trace replay " + roundTrip + " ms", sides);
                double cold = results.get("cold").median();
                double speedup = cold / results.get("replayed").median();
                table.row(roundTrip + " ms", results.get("cold").spread(), results.get("replayed").spread(), Stats.ratio(speedup),
                        roundTrip == 20 ? "≥ 3" : "", results.get("replayed, default chunks").spread(),
                        Stats.ratio(cold / results.get("replayed, default chunks").median()), results.get("replayed").memory());
                speedups.put(roundTrip + " ms", speedup);
            }
        } finally {
            Files.deleteIfExists(traceFile);
            Files.deleteIfExists(traceFile.getParent());
        }
        Plots.ratios(plots.resolve("trace.png"), "Sandbox boot on S3: cold / trace replayed (time)", "speedup",
                Map.of("cold / replayed", speedups), 3);
        report.append(table).append("\n![trace replay](benchmarks/plots/trace.png)\n");
        System.out.print(report);
    }

    /** The snapshot's ETag when each trace was recorded, which its version holds. */
    private static final Map<Path, String> RECORDED_ETAGS = new java.util.HashMap<>();

    /**
     * Milliseconds of a boot on a new version of the snapshot (its bytes unchanged), which the page server's shared cache
     * does not hold, as a first boot finds it; the trace is the recorded one, as recorded on that version.
     */
    private static double timeBoot(S3Fixture s3, Anymap anymap, MapOptions options, long[] pages, Path trace, long expectedSum)
            throws Exception {
        AccessTrace replayed = null;
        if (trace != null) {
            AccessTrace recorded = AccessTrace.load(trace);
            String recordedEtag = RECORDED_ETAGS.get(trace);
            s3.newVersion("snapshot");
            String version = recorded.objectVersion().replace(recordedEtag, s3.etag("snapshot"));
            if (version.equals(recorded.objectVersion())) {
                throw new IllegalStateException("the trace's version " + recorded.objectVersion() + " does not hold the ETag " + recordedEtag);
            }
            replayed = new AccessTrace(recorded.objectSize(), version, recorded.chunkSize(), recorded.chunks());
        } else {
            s3.newVersion("snapshot");
        }
        long started = System.nanoTime();
        try (MappedRegion region = replayed == null ? anymap.map(S3Fixture.uri("snapshot"), options)
                : anymap.map(S3Fixture.uri("snapshot"), options, replayed)) {
            long sum = boot(region.segment(), pages);
            double millis = (System.nanoTime() - started) / 1e6;
            Harness.checkSum(sum, expectedSum);
            return millis;
        }
    }

    /** Touches the pages in order, computing a little after each cluster, as a booting sandbox would. */
    private static long boot(MemorySegment memory, long[] pages) {
        long sum = 0;
        for (int i = 0; i < pages.length; i += CLUSTER) {
            sum += Workloads.touch(memory, Arrays.copyOfRange(pages, i, Math.min(pages.length, i + CLUSTER)));
            long until = System.nanoTime() + COMPUTE_NANOS;
            while (System.nanoTime() < until) {
                Thread.onSpinWait();
            }
        }
        return sum;
    }
}
