package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.spi.ObjectVersion;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompletedPart;

/**
 * Writable mappings written back to storage: {@code flush()} of a few dirty pages of an S3 object
 * against uploading the whole object again with the SDK, {@code flush()} of a writable {@code file:}
 * region against {@code force()} of a {@code FileChannel.map}, and what tracking the written pages
 * costs a workload that writes every page (in Java, and in C for both ways userfaultfd can track).
 *
 * <pre>WriteBack DIRTY_TRACKING_BINARY S3_MIB FILE_MIB TRACK_MIB REPEATS ROUND_TRIP_MS...</pre>
 * DIRTY_TRACKING_BINARY is benchmarks/native/dirty-tracking.c built with gcc (benchmarks/run builds it).
 * Prints a Markdown report.
 */
public final class WriteBack {
    private static final int PAGE = Workloads.PAGE;
    /** The backend's part size (S3Commit.PART) for objects up to 78 GiB, and the baseline's. */
    private static final long PART = 8L << 20;
    /** The backend's parts in flight at once (S3Commit.IN_FLIGHT), and the baseline's. */
    private static final int IN_FLIGHT = 8;
    private static final double DIRTY_FRACTION = 0.01;
    /** Pages in a run of the clustered case: one chunk of the default size. */
    private static final int CLUSTER = MapOptions.DEFAULT_CHUNK_SIZE / PAGE;
    private static final Pattern C_LINE = Pattern.compile(
            "mode=(\\d) protect ([\\d.]+) ms, first writes ([\\d.]+) ms, second ([\\d.]+) ms, scan (\\d+) pages ([\\d.]+) ms");

    private final Anymap anymap;
    private final Runs runs;
    private final StringBuilder report = new StringBuilder();

    private WriteBack(Anymap anymap, int repeats) throws IOException {
        this.anymap = anymap;
        this.runs = new Runs(repeats, anymap.serverStatus().serverPid());
    }

    public static void main(String[] args) throws Exception {
        Path dirtyTracking = Path.of(args[0]);
        long s3Size = Long.parseLong(args[1]) << 20;
        long fileSize = Long.parseLong(args[2]) << 20;
        long trackSize = Long.parseLong(args[3]) << 20;
        int repeats = Integer.parseInt(args[4]);
        long[] roundTrips = new long[args.length - 5];
        for (int i = 5; i < args.length; i++) {
            roundTrips[i - 5] = Long.parseLong(args[i]);
        }
        long[] withZero = roundTrips.length > 0 && roundTrips[0] == 0 ? roundTrips : prepend(0, roundTrips);
        try (S3Fixture s3 = new S3Fixture(withZero);
             Anymap anymap = Anymap.open(Harness.privateServer())) {
            WriteBack benchmark = new WriteBack(anymap, repeats);
            benchmark.tracking(s3, trackSize, dirtyTracking);
            benchmark.file(fileSize);
            benchmark.s3(s3, s3Size, roundTrips);
            System.out.print(benchmark.report);
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // S3: flush against a whole upload

    private void s3(S3Fixture s3, long size, long[] roundTrips) throws Exception {
        long parts = (size + PART - 1) / PART;
        report.append("### Write-back to S3: `flush()` of dirty pages of " + (size >> 20) + " MiB against uploading it whole\n\n");
        report.append("An object of " + (size >> 20) + " MiB in s3proxy (a child process, objects kept as files), through the latency "
                + "proxy. anymap maps it writable, writes 8 bytes at a random place in each of the pages of a case, and `flush()`es: "
                + "a multipart upload (" + (PART >> 20) + " MiB parts, " + parts + " of them, " + IN_FLIGHT + " at once) whose parts "
                + "with a dirty page are uploaded, their clean bytes read from S3 where the writes' faults did not fetch them, and "
                + "whose other parts are copied inside S3 (UploadPartCopy), conditional on the ETag mapped. The baseline has the "
                + "object in memory, makes the same writes, and uploads it whole with the same SDK (AWS SDK v2 `S3Client`, Apache 5 "
                + "HTTP client): CreateMultipartUpload, UploadPart of every " + (PART >> 20) + " MiB part from memory, " + IN_FLIGHT
                + " at once, as the backend's writer, then CompleteMultipartUpload. Timed: the flush, and the upload; the writes "
                + "apart (anymap's include the fetches of the chunks they fault in). Every run dirties new random pages of the "
                + "version the previous run stored, and the object stored after each run, read from s3proxy's file, is compared "
                + "with a model of every write. Cases: 1% of the pages at random; 1% of the pages in runs of " + CLUSTER + " pages "
                + "(" + CLUSTER * PAGE / 1024 + " KiB, a chunk), no target; a single page. Milliseconds, medians of "
                + runs.repeats() + " alternating runs (min-max); *upload / flush* of medians and of the best runs. Targets: "
                + "at least 5 at 1% and 20 for one page.\n\n");
        Table table = new Table("round trip", "dirty", "parts with a dirty page", "anymap flush", "multipart upload", "upload / flush",
                "best / best", "target", "anymap writes", "peak RSS app / server, anymap");
        Path stored = s3.put("written", size, 47);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment model = arena.allocate(size, PAGE);
            try (Arena read = Arena.ofConfined()) {
                model.copyFrom(Harness.fileMemory(stored, read));
            }
            Map<String, DirtyCase> cases = new LinkedHashMap<>();
            cases.put("1% of pages", seed -> Workloads.pages(size, DIRTY_FRACTION, 1, seed));
            cases.put("1% of pages, in runs of " + CLUSTER, seed -> Workloads.pages(size, DIRTY_FRACTION, CLUSTER, seed));
            cases.put("1 page", seed -> Workloads.pages(size, 0, 1, seed));
            long[] seeds = {1000};
            for (long roundTrip : roundTrips) {
                for (Map.Entry<String, DirtyCase> dirty : cases.entrySet()) {
                    MapOptions options = s3.options(MapOptions.defaults(), roundTrip).withWritable(true);
                    List<Double> writes = new ArrayList<>();
                    List<Long> dirtyParts = new ArrayList<>();
                    Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
                    sides.put("anymap", () -> {
                        long[] pages = dirty.getValue().pages(seeds[0]++);
                        dirtyParts.add(partsTouched(pages));
                        double millis;
                        try (MappedRegion region = anymap.map(S3Fixture.uri("written"), options)) {
                            ObjectVersion before = region.version();
                            long started = System.nanoTime();
                            write(pages, seeds[0], region.segment(), model);
                            writes.add((System.nanoTime() - started) / 1e6);
                            started = System.nanoTime();
                            ObjectVersion after = region.flush();
                            millis = (System.nanoTime() - started) / 1e6;
                            if (after.equals(before)) {
                                throw new IllegalStateException("the flush of " + pages.length + " dirty pages kept version " + before);
                            }
                        }
                        checkStored(s3, model);
                        return millis;
                    });
                    sides.put("upload", () -> {
                        long[] pages = dirty.getValue().pages(seeds[0]++);
                        write(pages, seeds[0], model, model);
                        long started = System.nanoTime();
                        uploadWhole(s3.client(roundTrip), "written", model);
                        double millis = (System.nanoTime() - started) / 1e6;
                        checkStored(s3, model);
                        return millis;
                    });
                    Map<String, Runs.Result> results = runs.alternate("write-back S3 " + dirty.getKey() + " " + roundTrip + " ms", sides);
                    Runs.Result flush = results.get("anymap");
                    Runs.Result upload = results.get("upload");
                    double ratio = upload.median() / flush.median();
                    double best = Collections.min(upload.values()) / Collections.min(flush.values());
                    String target = dirty.getKey().equals("1 page") ? "≥ 20" : dirty.getKey().equals("1% of pages") ? "≥ 5" : "";
                    if (!target.isEmpty()) {
                        target += ": " + (ratio >= Double.parseDouble(target.substring(2)) ? "met" : "not met");
                    }
                    table.row(roundTrip + " ms", dirty.getKey(), Stats.number(Stats.median(dirtyParts.stream().map(Long::doubleValue).toList()))
                            + " of " + parts, flush.spread(), upload.spread(), Stats.ratio(ratio), Stats.ratio(best), target,
                            Stats.spread(writes), flush.memory());
                }
            }
        }
        report.append(table).append('\n');
        partCosts(s3, roundTrips, size);
    }

    /**
     * What a flush saves is the upload of the clean parts, copied inside S3 instead: the time of one part
     * each way, on this S3 server, tells what it can save here.
     */
    private void partCosts(S3Fixture s3, long[] roundTrips, long size) throws Exception {
        report.append("For reference, what one part costs this S3 server: an UploadPart of " + (PART >> 20) + " MiB from memory "
                + "against an UploadPartCopy of " + (PART >> 20) + " MiB of the object, one at a time, each in a multipart upload "
                + "of its own, aborted afterwards. A flush saves the first and pays the second for each clean part. Milliseconds, "
                + "medians of " + runs.repeats() + " alternating runs (min-max).\n\n");
        Table table = new Table("round trip", "UploadPart", "UploadPartCopy", "copy / upload");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(PART, PAGE);
            bytes.fill((byte) 7);
            long[] next = {0};
            for (long roundTrip : roundTrips) {
                S3Client client = s3.client(roundTrip);
                Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
                sides.put("upload", () -> inUpload(client, uploadId -> client.uploadPart(b -> b.bucket(S3Fixture.BUCKET).key("written")
                        .uploadId(uploadId).partNumber(1).contentLength(PART), RequestBody.fromContentProvider(
                        () -> new SegmentStream(bytes), PART, "application/octet-stream"))));
                sides.put("copy", () -> {
                    long from = (next[0]++ % (size / PART)) * PART;
                    return inUpload(client, uploadId -> client.uploadPartCopy(b -> b.sourceBucket(S3Fixture.BUCKET).sourceKey("written")
                            .destinationBucket(S3Fixture.BUCKET).destinationKey("written").uploadId(uploadId).partNumber(1)
                            .copySourceRange("bytes=" + from + "-" + (from + PART - 1))));
                });
                Map<String, Runs.Result> results = runs.alternate("write-back S3 part " + roundTrip + " ms", sides);
                table.row(roundTrip + " ms", results.get("upload").spread(), results.get("copy").spread(),
                        Stats.ratio(results.get("copy").median() / results.get("upload").median()));
            }
        }
        report.append(table).append('\n');
    }

    /** Milliseconds of {@code part} alone, in a multipart upload of its own that is then aborted. */
    private static double inUpload(S3Client client, java.util.function.Consumer<String> part) {
        String uploadId = client.createMultipartUpload(b -> b.bucket(S3Fixture.BUCKET).key("written")).uploadId();
        try {
            long started = System.nanoTime();
            part.accept(uploadId);
            return (System.nanoTime() - started) / 1e6;
        } finally {
            client.abortMultipartUpload(b -> b.bucket(S3Fixture.BUCKET).key("written").uploadId(uploadId));
        }
    }

    /** The pages a case dirties in one run. */
    @FunctionalInterface
    private interface DirtyCase {
        long[] pages(long seed);
    }

    private static long partsTouched(long[] pages) {
        return java.util.Arrays.stream(pages).map(page -> page * PAGE / PART).distinct().count();
    }

    /** Writes 8 random bytes at a random place of each page into {@code memory}, and the same into {@code model}. */
    private static void write(long[] pages, long seed, MemorySegment memory, MemorySegment model) {
        SplittableRandom random = new SplittableRandom(seed);
        for (long page : pages) {
            long at = page * PAGE + random.nextInt(PAGE - 7);
            long value = random.nextLong();
            memory.set(ValueLayout.JAVA_LONG_UNALIGNED, at, value);
            model.set(ValueLayout.JAVA_LONG_UNALIGNED, at, value);
        }
    }

    /** The object as s3proxy stores it, read from its file, against the model of every write. */
    private static void checkStored(S3Fixture s3, MemorySegment model) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stored = Harness.fileMemory(s3.file("written"), arena);
            if (stored.byteSize() != model.byteSize()) {
                throw new IllegalStateException("S3 stores " + stored.byteSize() + " bytes, not " + model.byteSize());
            }
            long at = stored.mismatch(model);
            if (at != -1) {
                throw new IllegalStateException("the object S3 stores differs from the writes made at byte " + at);
            }
        }
    }

    /** The baseline: the whole object from memory, in a multipart upload of {@link #PART} parts, {@link #IN_FLIGHT} at once. */
    private static void uploadWhole(S3Client client, String key, MemorySegment memory) throws Exception {
        String uploadId = client.createMultipartUpload(b -> b.bucket(S3Fixture.BUCKET).key(key)).uploadId();
        long size = memory.byteSize();
        int count = (int) ((size + PART - 1) / PART);
        CompletedPart[] parts = new CompletedPart[count];
        List<Callable<Long>> uploads = new ArrayList<>();
        for (int index = 0; index < count; index++) {
            int number = index + 1;
            MemorySegment part = memory.asSlice(index * PART, Math.min(PART, size - index * PART));
            uploads.add(() -> {
                String etag = client.uploadPart(b -> b.bucket(S3Fixture.BUCKET).key(key).uploadId(uploadId).partNumber(number)
                        .contentLength(part.byteSize()), RequestBody.fromContentProvider(() -> new SegmentStream(part),
                        part.byteSize(), "application/octet-stream")).eTag();
                parts[number - 1] = CompletedPart.builder().partNumber(number).eTag(etag).build();
                return 0L;
            });
        }
        try {
            Workloads.sumAll(uploads, IN_FLIGHT);
        } catch (Exception e) {
            client.abortMultipartUpload(b -> b.bucket(S3Fixture.BUCKET).key(key).uploadId(uploadId));
            throw e;
        }
        client.completeMultipartUpload(b -> b.bucket(S3Fixture.BUCKET).key(key).uploadId(uploadId).multipartUpload(m -> m.parts(parts)));
    }

    /** A part's body straight from memory, with no copy to the heap of the whole part (as the backend's writer sends it). */
    private static final class SegmentStream extends InputStream {
        private final MemorySegment bytes;
        private long at;

        SegmentStream(MemorySegment bytes) {
            this.bytes = bytes;
        }

        @Override
        public int read() {
            return at < bytes.byteSize() ? bytes.get(ValueLayout.JAVA_BYTE, at++) & 0xff : -1;
        }

        @Override
        public int read(byte[] into, int offset, int length) {
            if (at >= bytes.byteSize()) {
                return -1;
            }
            int n = (int) Math.min(length, bytes.byteSize() - at);
            MemorySegment.copy(bytes, ValueLayout.JAVA_BYTE, at, into, offset, n);
            at += n;
            return n;
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // file: flush against force()

    private void file(long size) throws Exception {
        report.append("### Write-back to a `file:`: `flush()` of 1% dirty pages of " + (size >> 20) + " MiB against `force()`\n\n");
        report.append("A file of " + (size >> 20) + " MiB on this machine's disk. Before every run it is read whole (in the page "
                + "cache for both sides) and forced to the disk (no dirty page left from before). anymap maps it writable (the kernel "
                + "maps the file shared, no page server in the path) and the baseline maps it with `FileChannel.map(READ_WRITE)` (a "
                + "MemorySegment); both write 8 random bytes at a random place in 1% of the pages at random, the same offsets and "
                + "bytes for both in each pair of runs, and then flush: `region.flush()` against `force()` (both an `msync` of the "
                + "mapping). Timed: the flush. The written bytes are read back from the file with positional reads afterwards. "
                + "Milliseconds, medians of " + runs.repeats() + " alternating runs (min-max). Target: anymap / `force()` at most "
                + "1.5.\n\n");
        Table table = new Table("dirty", "anymap flush", "FileChannel.map, force()", "anymap / force()", "best / best", "target");
        Path directory = Files.createTempDirectory("anymap-bench-write-");
        Path file = directory.resolve("written");
        try {
            Harness.writeContent(file, size, 53);
            long[] runsOfSide = new long[2];
            Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
            sides.put("anymap", () -> {
                long[] pages = Workloads.pages(size, DIRTY_FRACTION, 1, runsOfSide[0]);
                settle(file);
                try (MappedRegion region = anymap.map(file.toUri(), MapOptions.defaults().withWritable(true))) {
                    if (!region.kernelMapped()) {
                        throw new IllegalStateException("file: was not mapped by the kernel: this benchmark measures that path");
                    }
                    write(pages, runsOfSide[0], region.segment(), region.segment());
                    long started = System.nanoTime();
                    region.flush();
                    double millis = (System.nanoTime() - started) / 1e6;
                    checkFile(file, pages, runsOfSide[0]++);
                    return millis;
                }
            });
            sides.put("force", () -> {
                long[] pages = Workloads.pages(size, DIRTY_FRACTION, 1, runsOfSide[1]);
                settle(file);
                try (Arena arena = Arena.ofShared();
                     FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    MemorySegment mapped = channel.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
                    write(pages, runsOfSide[1], mapped, mapped);
                    long started = System.nanoTime();
                    mapped.force();
                    double millis = (System.nanoTime() - started) / 1e6;
                    checkFile(file, pages, runsOfSide[1]++);
                    return millis;
                }
            });
            Map<String, Runs.Result> results = runs.alternate("write-back file", sides);
            Runs.Result flush = results.get("anymap");
            Runs.Result force = results.get("force");
            double ratio = flush.median() / force.median();
            table.row("1% of pages", flush.spread(), force.spread(), Stats.ratio(ratio),
                    Stats.ratio(Collections.min(flush.values()) / Collections.min(force.values())),
                    "≤ 1.5: " + (ratio <= 1.5 ? "met" : "not met"));
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(directory);
        }
        report.append(table).append('\n');
    }

    /** The same page cache state before every run: the file read whole, nothing dirty. */
    private static void settle(Path file) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocateDirect(8 << 20);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            channel.force(true);
            while (channel.read(buffer) > 0) {
                buffer.clear();
            }
        }
    }

    /** The bytes {@link #write} wrote, read back with positional reads (no mapping). */
    private static void checkFile(Path file, long[] pages, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        ByteBuffer buffer = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder());
        try (FileChannel channel = FileChannel.open(file)) {
            for (long page : pages) {
                long at = page * PAGE + random.nextInt(PAGE - 7);
                long value = random.nextLong();
                buffer.clear();
                while (buffer.hasRemaining() && channel.read(buffer, at + buffer.position()) > 0) {
                    // until the 8 bytes are in
                }
                if (buffer.getLong(0) != value) {
                    throw new IllegalStateException("the file holds other bytes at " + at + " than were written there");
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The cost of dirty tracking

    private void tracking(S3Fixture s3, long size, Path dirtyTracking) throws Exception {
        long pages = size / PAGE;
        report.append("### Write-back: what tracking written pages costs a write on every page of " + (size >> 20) + " MiB\n\n");
        report.append("A writable S3 region (s3proxy at 0 ms) whose pages are all loaded first (`region.load`), so that what is "
                + "timed is the first write of each page, which the kernel resolves for userfaultfd's asynchronous write protection "
                + "(WP_ASYNC: a minor fault, no message, no thread woken), marking the page written for the flush's PAGEMAP_SCAN. "
                + "One thread writes 8 bytes at the start of each of the " + pages + " pages, once. The baseline writes the same into "
                + "memory from `Arena.allocate`, touched beforehand. Each run of anymap maps the object anew (and closes without "
                + "flushing). Milliseconds, medians of " + runs.repeats() + " alternating runs (min-max); the ratio of times, no "
                + "target.\n\n");
        Table table = new Table("workload", "anymap, writable, loaded", "Arena.allocate, touched", "anymap / memory", "ns per page, anymap",
                "ns per page, memory");
        s3.put("tracked", size, 59);
        MapOptions options = s3.options(MapOptions.defaults(), 0).withWritable(true);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment memory = arena.allocate(size, PAGE);
            memory.fill((byte) 1);
            long[] value = {0};
            Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
            sides.put("anymap", () -> {
                MappedRegion region = anymap.map(S3Fixture.uri("tracked"), options);
                try {
                    region.load(0, size);
                    long written = ++value[0];
                    long started = System.nanoTime();
                    writeEveryPage(region.segment(), written);
                    double millis = (System.nanoTime() - started) / 1e6;
                    checkEveryPage(region.segment(), written);
                    return millis;
                } finally {
                    region.closeWithoutFlush();
                }
            });
            sides.put("memory", () -> {
                long written = ++value[0];
                long started = System.nanoTime();
                writeEveryPage(memory, written);
                double millis = (System.nanoTime() - started) / 1e6;
                checkEveryPage(memory, written);
                return millis;
            });
            Map<String, Runs.Result> results = runs.alternate("write-back tracking", sides);
            Runs.Result mapped = results.get("anymap");
            Runs.Result plain = results.get("memory");
            table.row("every page written once", mapped.spread(), plain.spread(), Stats.ratio(mapped.median() / plain.median()),
                    Stats.number(mapped.median() * 1e6 / pages), Stats.number(plain.median() * 1e6 / pages));
        }
        report.append(table).append('\n');
        dirtyTrackingInC(dirtyTracking, size);
    }

    private static void writeEveryPage(MemorySegment memory, long value) {
        for (long at = 0; at < memory.byteSize(); at += PAGE) {
            memory.set(ValueLayout.JAVA_LONG, at, value);
        }
    }

    private static void checkEveryPage(MemorySegment memory, long value) {
        for (long at = 0; at < memory.byteSize(); at += PAGE) {
            if (memory.get(ValueLayout.JAVA_LONG, at) != value) {
                throw new IllegalStateException("page " + at / PAGE + " does not hold what was written to it");
            }
        }
    }

    /** benchmarks/native/dirty-tracking.c: both ways of tracking, in C, with no JVM and no page server process. */
    private void dirtyTrackingInC(Path binary, long size) throws Exception {
        report.append("Why WP_ASYNC: `benchmarks/native/dirty-tracking.c`, the same in C on a memfd that a thread fills with UFFDIO_COPY, "
                + "mapped shared and registered with userfaultfd, every page present and write-protected before the writes; it "
                + "first checks that a scan finds exactly the pages written. Mode 0 does not track (MISSING only), mode 1 tracks "
                + "with WP_ASYNC and reads the written set with one PAGEMAP_SCAN (which also protects it again), mode 2 with "
                + "synchronous write protection, a fault message per page served by the thread, which unprotects it. One run each, "
                + "milliseconds for " + (size >> 20) + " MiB (" + size / PAGE + " pages).\n\n");
        Table table = new Table("mode", "protect", "first write of each page", "second write", "scan", "first writes / untracked");
        double untracked = Double.NaN;
        String[] names = {"0: untracked", "1: WP_ASYNC + PAGEMAP_SCAN", "2: synchronous WP"};
        for (int mode = 0; mode <= 2; mode++) {
            Process process = new ProcessBuilder(binary.toString(), Integer.toString(mode), Long.toString(size >> 20))
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String line;
            try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                line = out.readLine();
            }
            int exit = process.waitFor();
            Matcher m = line == null ? null : C_LINE.matcher(line);
            if (exit != 0 || m == null || !m.matches()) {
                throw new IOException(binary + " " + mode + " failed (exit " + exit + "): " + line);
            }
            System.err.println("dirty-tracking: " + line);
            double first = Double.parseDouble(m.group(3));
            if (mode == 0) {
                untracked = first;
            }
            table.row(names[mode], m.group(2), m.group(3), m.group(4),
                    mode == 1 ? m.group(5) + " pages, " + m.group(6) : "", Stats.ratio(first / untracked));
        }
        report.append(table).append('\n');
    }

    private static long[] prepend(long first, long[] rest) {
        long[] all = new long[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }
}
