package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * anymap on {@code s3://} (s3proxy in a child process, through a latency proxy) against the same SDK
 * client used directly: the first byte and one cold touch against one ranged GET of a chunk, a full scan
 * against the faster of a single GetObject stream and a HEAD followed by {@value S3Downloads#PARTS}
 * parallel ranged GETs, random touches against download-then-touch and a naive one-GET-per-fault
 * loop, and 16 threads reading 100 records of a large object against downloading it.
 *
 * <p>The page server's shared cache holds an object mapped before, keyed by its version: every run of
 * anymap maps a new version of its object ({@link S3Fixture#newVersion}), so that it fetches from S3
 * as a first mapping does.
 *
 * <pre>S3Comparison PLOTS_DIR SIZE_MIB BIG_MIB REPEATS TOUCHES ROUND_TRIP_MS...</pre>
 * Prints a Markdown report. Random touches and the large object run at the round trips up to 20 ms.
 */
public final class S3Comparison {
    private static final int CHUNK = MapOptions.DEFAULT_CHUNK_SIZE;
    private static final int COLD_TOUCHES = 5;
    private static final int RECORDS = 100;
    private static final int RECORD_THREADS = 16;

    private final S3Fixture s3;
    private final Anymap anymap;
    private final Runs runs;
    private final StringBuilder report = new StringBuilder();
    private final Map<String, Map<String, Double>> ratios = new LinkedHashMap<>();

    private S3Comparison(S3Fixture s3, Anymap anymap, int repeats) throws Exception {
        this.s3 = s3;
        this.anymap = anymap;
        this.runs = new Runs(repeats, anymap.serverStatus().serverPid());
    }

    public static void main(String[] args) throws Exception {
        Path plots = Path.of(args[0]);
        long size = Long.parseLong(args[1]) << 20;
        long bigSize = Long.parseLong(args[2]) << 20;
        int repeats = Integer.parseInt(args[3]);
        int touches = Integer.parseInt(args[4]);
        long[] roundTrips = new long[args.length - 5];
        for (int i = 5; i < args.length; i++) {
            roundTrips[i - 5] = Long.parseLong(args[i]);
        }
        try (S3Fixture s3 = new S3Fixture(roundTrips);
             // Every mapping is of a new version (S3Fixture.newVersion), which the shared cache does not hold: a limit of four
             // objects drops the old versions' chunks as new ones come, where the default (half the machine) would keep them.
             Anymap anymap = Anymap.open(Harness.privateServer().withCacheLimit(Math.max(4 * size, 128L << 20)));
             Arena arena = Arena.ofShared()) {
            S3Comparison comparison = new S3Comparison(s3, anymap, repeats);
            MemorySegment expected = Harness.fileMemory(s3.put("object", size, 31), arena);
            comparison.firstByteAndColdTouch(roundTrips, size);
            comparison.scan(roundTrips, expected);
            comparison.randomTouches(roundTrips, expected, touches);
            MemorySegment big = Harness.fileMemory(s3.put("big", bigSize, 37), arena);
            comparison.records(roundTrips, big);
            Plots.ratios(plots.resolve("s3.png"), "S3: anymap's time / the SDK baseline's (below 1: anymap faster)", "ratio of times", comparison.ratios,
                    Double.NaN);
            comparison.report.append("\n![S3 ratios](benchmarks/plots/s3.png)\n");
            System.out.print(comparison.report);
        }
    }

    private void ratio(String workload, long roundTrip, double value) {
        ratios.computeIfAbsent(roundTrip + " ms", k -> new LinkedHashMap<>()).put(workload, value);
    }

    private void firstByteAndColdTouch(long[] roundTrips, long size) throws Exception {
        report.append("### S3: first byte and one cold touch against one ranged GET\n\n");
        report.append("In every S3 section, each run of anymap maps a new version of its object (a new ETag, the same bytes): "
                + "the page server's shared cache, keyed by version, holds none of it, as for a first mapping. "
                + "First byte: from `map()` (one GET of the object's first 256 KiB at open, which serves the first fault) to the first byte read, the page server already running, "
                + "against one ranged GET of one chunk (" + CHUNK / 1024 + " KiB) with the same SDK client. Cold touch: one byte of a page "
                + "not yet fetched, at random, in a region already mapped (mean of " + COLD_TOUCHES + " per run), against one ranged GET "
                + "of a chunk at a random place. Milliseconds, medians of " + runs.repeats() + " alternating runs (min-max); ratios of times, "
                + "targets 1.5 and 1.2 at most.\n\n");
        Table table = new Table("round trip", "first byte", "ranged GET", "ratio", "target", "cold touch", "ranged GET", "ratio", "target");
        for (long roundTrip : roundTrips) {
            MapOptions options = s3.options(MapOptions.defaults(), roundTrip);
            Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
            sides.put("first byte", () -> {
                s3.newVersion("object");
                long started = System.nanoTime();
                try (MappedRegion region = anymap.map(S3Fixture.uri("object"), options)) {
                    region.segment().get(ValueLayout.JAVA_BYTE, 0);
                    return (System.nanoTime() - started) / 1e6;
                }
            });
            sides.put("ranged GET", () -> {
                long started = System.nanoTime();
                S3Downloads.rangedGet(s3.client(roundTrip), "object", 0, CHUNK);
                return (System.nanoTime() - started) / 1e6;
            });
            SplittableRandom random = new SplittableRandom(roundTrip);
            sides.put("cold touch", () -> {
                s3.newVersion("object");
                try (MappedRegion region = anymap.map(S3Fixture.uri("object"), options)) {
                    long[] chunks = random.longs(COLD_TOUCHES, 0, size / CHUNK).toArray();
                    long total = 0;
                    for (long chunk : chunks) {
                        long started = System.nanoTime();
                        region.segment().get(ValueLayout.JAVA_BYTE, chunk * CHUNK + random.nextInt(CHUNK / 4096) * 4096L);
                        total += System.nanoTime() - started;
                    }
                    return total / 1e6 / COLD_TOUCHES;
                }
            });
            sides.put("chunk GET", () -> {
                long total = 0;
                for (int i = 0; i < COLD_TOUCHES; i++) {
                    long started = System.nanoTime();
                    S3Downloads.rangedGet(s3.client(roundTrip), "object", random.nextLong(size / CHUNK) * CHUNK, CHUNK);
                    total += System.nanoTime() - started;
                }
                return total / 1e6 / COLD_TOUCHES;
            });
            Map<String, Runs.Result> results = runs.alternate("S3 first byte " + roundTrip + " ms", sides);
            double first = results.get("first byte").median() / results.get("ranged GET").median();
            double touch = results.get("cold touch").median() / results.get("chunk GET").median();
            table.row(roundTrip + " ms", results.get("first byte").spread(), results.get("ranged GET").spread(), Stats.ratio(first),
                    "≤ 1.5", results.get("cold touch").spread(), results.get("chunk GET").spread(), Stats.ratio(touch), "≤ 1.2");
            ratio("first byte", roundTrip, first);
            ratio("cold touch", roundTrip, touch);
        }
        report.append(table).append('\n');
    }

    private void scan(long[] roundTrips, MemorySegment expected) throws Exception {
        long size = expected.byteSize();
        report.append("### S3: full scan of " + (size >> 20) + " MiB against the SDK's fastest download\n\n");
        report.append("anymap maps the object (default options) and copies every byte out of the segment; each run maps a new "
                + "version of it (a new ETag, the same bytes), which the page server's shared cache does not hold, and the cache is "
                + "limited to four objects' size, so that old versions' chunks are dropped as a long-running page server drops them. The baselines download it "
                + "with one GetObject stream, and with " + S3Downloads.PARALLEL_RANGES + ", into new memory (anonymous pages "
                + "from mmap, allocated as the bytes first land in them, as anymap's pages are), and then run the same scan; the faster "
                + "is the baseline. The last two columns are for reference: the same parallel ranges into memory that "
                + "is already resident, reused run after run, with no scan, the least a download can cost. MB/s, medians of "
                + runs.repeats() + " alternating runs (min-max); peak RSS of the application and of the page server in MiB (medians). "
                + "Target: anymap / faster at least 0.9. The wire's own speed is measured in the same runs: the object in one GET, "
                + "and in " + S3Downloads.PARTS + " ranged GETs at once, each body read into a 1 MiB buffer and thrown away, with "
                + "no copy into memory; target at 0 ms: anymap at least 0.7 of the faster of the two.\n\n");
        Table table = new Table("round trip", "one stream, then scan", "parallel ranges, then scan", "anymap scan", "anymap / faster",
                "target", "peak RSS app / server, anymap", "peak RSS app, parallel ranges", "parallel ranges into resident memory",
                "anymap / that", "wire: one GET, thrown away", "wire: " + S3Downloads.PARTS + " ranged GETs, thrown away",
                "anymap / faster wire", "target");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment resident = arena.allocate(size, 4096);
            for (long roundTrip : roundTrips) {
                MapOptions options = s3.options(MapOptions.defaults(), roundTrip);
                Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
                // MB/s: bytes per microsecond.
                sides.put("one stream", () -> size / (S3Downloads.timeDownloaded(S3Downloads::stream, s3.client(roundTrip), "object",
                        size, Workloads::scan) * 1e3));
                sides.put("parallel ranges", () -> size / (S3Downloads.timeDownloaded(S3Downloads::parallelRanges,
                        s3.client(roundTrip), "object", size, Workloads::scan) * 1e3));
                sides.put("anymap", () -> {
                    s3.newVersion("object");
                    long started = System.nanoTime();
                    try (MappedRegion region = anymap.map(S3Fixture.uri("object"), options)) {
                        Workloads.scan(region.segment());
                        double rate = size / ((System.nanoTime() - started) / 1e3);
                        Harness.check(region.segment(), expected);
                        return rate;
                    }
                });
                sides.put("resident", () -> {
                    long started = System.nanoTime();
                    S3Downloads.parallelRanges(s3.client(roundTrip), "object", resident);
                    return size / ((System.nanoTime() - started) / 1e3);
                });
                sides.put("wire, one GET", () -> S3Downloads.wire(s3.client(roundTrip), "object", size, 1));
                sides.put("wire, ranges", () -> S3Downloads.wire(s3.client(roundTrip), "object", size, S3Downloads.PARTS));
                Map<String, Runs.Result> results = runs.alternate("S3 scan " + roundTrip + " ms", sides);
                double wire = Math.max(results.get("wire, one GET").median(), results.get("wire, ranges").median());
                double ofWire = results.get("anymap").median() / wire;
                double faster = Math.max(results.get("one stream").median(), results.get("parallel ranges").median());
                double ratio = results.get("anymap").median() / faster;
                table.row(roundTrip + " ms", results.get("one stream").spread(), results.get("parallel ranges").spread(),
                        results.get("anymap").spread(), Stats.ratio(ratio), "≥ 0.9", results.get("anymap").memory(),
                        Stats.number(Stats.median(results.get("parallel ranges").appMib())), results.get("resident").spread(),
                        Stats.ratio(results.get("anymap").median() / results.get("resident").median()),
                        results.get("wire, one GET").spread(), results.get("wire, ranges").spread(), Stats.ratio(ofWire),
                        roundTrip == 0 ? "≥ 0.7: " + (ofWire >= 0.7 ? "met" : "not met") : "");
                ratio("scan", roundTrip, 1 / ratio);
            }
        }
        report.append(table).append('\n');
    }

    private void randomTouches(long[] roundTrips, MemorySegment expected, int touches) throws Exception {
        long size = expected.byteSize();
        report.append("### S3: " + touches + " random page touches against download-then-touch and a naive loop\n\n");
        report.append("One thread reads a byte of " + touches + " distinct random pages of the " + (size >> 20) + " MiB object. "
                + "Download-then-touch: " + S3Downloads.PARALLEL_RANGES + " into new memory, then the touches. Naive loop: one ranged "
                + "GET of the " + CHUNK / 1024 + " KiB chunk around each touched page not fetched before. Time to done in ms, "
                + "medians of " + runs.repeats() + " alternating runs (min-max); ratios of times.\n\n");
        Table table = new Table("round trip", "anymap", "download, then touch", "naive loop", "anymap / download", "anymap / naive",
                "peak RSS app / server, anymap");
        long[] pages = Workloads.pages(size, (double) touches * 4096 / size, 1, 41);
        for (long roundTrip : roundTrips) {
            if (roundTrip > 20) {
                continue;
            }
            MapOptions options = s3.options(MapOptions.defaults(), roundTrip);
            Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
            long expectedSum = Workloads.touch(expected, pages);
            sides.put("anymap", () -> {
                s3.newVersion("object");
                return Harness.timeMapped(anymap, S3Fixture.uri("object"), options, memory -> Workloads.touch(memory, pages), expectedSum);
            });
            sides.put("download", () -> S3Downloads.timeDownloaded(S3Downloads::parallelRanges, s3.client(roundTrip), "object", size,
                    memory -> Workloads.touch(memory, pages)));
            sides.put("naive", () -> {
                long started = System.nanoTime();
                Set<Long> fetched = new HashSet<>();
                for (long page : pages) {
                    long chunk = page * 4096 / CHUNK;
                    if (fetched.add(chunk)) {
                        S3Downloads.rangedGet(s3.client(roundTrip), "object", chunk * CHUNK, CHUNK);
                    }
                }
                return (System.nanoTime() - started) / 1e6;
            });
            Map<String, Runs.Result> results = runs.alternate("S3 touches " + roundTrip + " ms", sides);
            double download = results.get("anymap").median() / results.get("download").median();
            double naive = results.get("anymap").median() / results.get("naive").median();
            table.row(roundTrip + " ms", results.get("anymap").spread(), results.get("download").spread(),
                    results.get("naive").spread(), Stats.ratio(download), Stats.ratio(naive), results.get("anymap").memory());
            ratio(touches + " touches, against download", roundTrip, download);
            ratio(touches + " touches, against naive loop", roundTrip, naive);
        }
        report.append(table).append('\n');
    }

    private void records(long[] roundTrips, MemorySegment expected) throws Exception {
        long size = expected.byteSize();
        report.append("### S3: " + RECORDS + " random 4 KiB records of a " + (size >> 20) + " MiB object, " + RECORD_THREADS
                + " threads, against downloading it\n\n");
        report.append("The object is written straight into s3proxy's store (its size and ETag checked through the S3 API). anymap "
                + "maps it and " + RECORD_THREADS + " threads copy out " + RECORDS + " records at random, " + RECORDS / RECORD_THREADS
                + " or so each; the baseline downloads the whole object into new memory with " + S3Downloads.PARALLEL_RANGES + " "
                + "and reads the same records. Time to done in ms, medians of " + runs.repeats() + " alternating runs (min-max); "
                + "target at 20 ms: anymap at least 10 times faster.\n\n");
        Table table = new Table("round trip", "anymap", "download", "download / anymap", "target", "peak RSS app / server, anymap",
                "peak RSS app, download");
        long[] pages = Workloads.pages(size, (double) RECORDS * 4096 / size, 1, 43);
        for (long roundTrip : roundTrips) {
            if (roundTrip > 20) {
                continue;
            }
            MapOptions options = s3.options(MapOptions.defaults(), roundTrip);
            Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
            long expectedSum = Workloads.readRecords(expected, pages, RECORD_THREADS);
            sides.put("anymap", () -> {
                s3.newVersion("big");
                return Harness.timeMapped(anymap, S3Fixture.uri("big"), options,
                        memory -> Workloads.readRecords(memory, pages, RECORD_THREADS), expectedSum);
            });
            sides.put("download", () -> S3Downloads.timeDownloaded(S3Downloads::parallelRanges, s3.client(roundTrip), "big", size,
                    memory -> Workloads.readRecords(memory, pages, RECORD_THREADS)));
            Map<String, Runs.Result> results = runs.alternate("S3 records " + roundTrip + " ms", sides);
            double speedup = results.get("download").median() / results.get("anymap").median();
            table.row(roundTrip + " ms", results.get("anymap").spread(), results.get("download").spread(), Stats.ratio(speedup),
                    roundTrip == 20 ? "≥ 10" : "", results.get("anymap").memory(), Stats.number(Stats.median(results.get("download").appMib())));
            ratio(RECORDS + " records", roundTrip, 1 / speedup);
        }
        report.append(table).append('\n');
    }
}
