package dev.anymap.benchmarks;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import dev.anymap.GuestMemory;
import dev.anymap.MapOptions;
import dev.anymap.ServedGuest;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.Userfaultfd;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A Firecracker microVM's resume from a snapshot whose memory file is on S3, and the page-fault
 * latency of guest memory served from a local memory file against the C floor. The guest is
 * what Firecracker makes: private anonymous memory registered for missing pages with a userfaultfd
 * ({@code UFFD_FEATURE_EVENT_REMOVE}); its "boot" is one vCPU thread that touches a fixed working
 * set with memcpy (native code, as a vCPU runs), in clusters with compute between, the shape of
 * {@link TraceReplay}'s boot. Handlers: anymap ({@link Anymap#serve}) cold, and replaying a
 * trace recorded on an earlier boot; and Firecracker's two example strategies, written here as
 * minimal handlers: a ranged GET of the page and UFFDIO_COPY at each fault, and the whole file
 * downloaded at the first fault, then copied in.
 *
 * <pre>FirecrackerResume FLOOR SIZE_MIB REPEATS PAGES LATENCY_MIB ROUND_TRIP_MS...</pre>
 * Prints a Markdown report.
 */
public final class FirecrackerResume {
    private static final int PAGE = 4096;
    private static final int CLUSTER = 8;
    private static final long COMPUTE_NANOS = 20_000;
    private static final int TRACE_CHUNK = 32 << 10;
    private static final long FEATURE_EVENT_REMOVE = 1L << 3;
    private static final int PROT_NONE = 0;

    private FirecrackerResume() {}

    public static void main(String[] args) throws Exception {
        Path floor = Path.of(args[0]);
        long size = Long.parseLong(args[1]) << 20;
        int repeats = Integer.parseInt(args[2]);
        int pageCount = Integer.parseInt(args[3]);
        long latencySize = Long.parseLong(args[4]) << 20;
        long[] roundTrips = Arrays.stream(args, 5, args.length).mapToLong(Long::parseLong).toArray();
        long[] pages = Workloads.pages(size, (double) pageCount * PAGE / size, CLUSTER, 53);
        StringBuilder report = new StringBuilder("### Firecracker: resume of a " + (size >> 20) + " MiB snapshot on S3\n\n");
        report.append("A microVM's guest memory as Firecracker makes it (private anonymous memory, registered for missing pages with a "
                + "userfaultfd with `UFFD_FEATURE_EVENT_REMOVE`), its memory file an object in s3proxy through the latency proxy. "
                + "The boot: one vCPU thread touches " + pages.length + " pages (" + String.format(Locale.ROOT, "%.1f",
                100.0 * pages.length * PAGE / size) + "% of the memory) in clusters of " + CLUSTER + " at fixed pseudo-random places, "
                + "with " + COMPUTE_NANOS / 1000 + " us of compute after each cluster, through memcpy (native code, as a vCPU runs); the "
                + "bytes it reads are summed and checked. Handlers: anymap (`Anymap.serve`, default options: "
                + (MapOptions.DEFAULT_CHUNK_SIZE >> 10) + " KiB chunks, readahead, automatic pull), cold; anymap replaying the boot's "
                + "trace (recorded once on " + (TRACE_CHUNK >> 10) + " KiB chunks, replayed with `serve(uri, options, memory, trace)` "
                + "on " + (TRACE_CHUNK >> 10) + " KiB chunks); Firecracker's example strategies as minimal handlers in the harness: "
                + "*one page per fault* (a ranged GET of the 4 KiB page, then UFFDIO_COPY) and *whole file on the first fault* (one "
                + "GetObject of the whole file into memory, then UFFDIO_COPY of all of it). Each run resumes a new VM on a new version of "
                + "the object (a new ETag, the same bytes), which anymap's shared cache does not hold. Time from the handshake (the "
                + "handler given the userfaultfd) to the boot's end, ms, medians of " + repeats + " alternating runs (min-max). Targets: "
                + "trace / cold at least 3 times faster at 20 ms; cold at least as fast as the faster example strategy.\n\n");
        Table table = new Table("round trip", "anymap cold", "anymap, trace replayed", "cold / replayed", "target",
                "one page per fault", "whole file on first fault", "faster example / cold", "target");
        Path traceFile = Files.createTempDirectory("anymap-bench-fc-").resolve("boot.trace");
        StringBuilder latency = new StringBuilder();
        try (S3Fixture s3 = new S3Fixture(roundTrips);
             Anymap anymap = Anymap.open(Harness.privateServer().withCacheLimit(Math.max(4 * size, 128L << 20)))) {
            long sumOfPages = 0;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment expected = Harness.fileMemory(s3.put("vm.mem", size, 59), arena);
                for (long page : pages) {
                    sumOfPages += expected.get(ValueLayout.JAVA_BYTE, offsetIn(page));
                }
            }
            long expectedSum = sumOfPages;
            try (Guest guest = Guest.create(size);
                 ServedGuest served = anymap.serve(S3Fixture.uri("vm.mem"),
                         s3.options(MapOptions.defaults().withAutoPull(false).withChunkSize(TRACE_CHUNK), 0), guest.memory())) {
                Harness.checkSum(boot(guest, pages), expectedSum);
                served.trace().save(traceFile);
            }
            String recordedEtag = s3.etag("vm.mem");
            Runs runs = new Runs(repeats, anymap.serverStatus().serverPid());
            for (long roundTrip : roundTrips) {
                Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
                sides.put("cold", () -> timeAnymap(s3, anymap, s3.options(MapOptions.defaults(), roundTrip), pages, null, null, size,
                        expectedSum));
                sides.put("trace", () -> timeAnymap(s3, anymap, s3.options(MapOptions.defaults().withChunkSize(TRACE_CHUNK), roundTrip),
                        pages, traceFile, recordedEtag, size, expectedSum));
                sides.put("page", () -> timeExample(s3, roundTrip, false, pages, size, expectedSum));
                sides.put("whole", () -> timeExample(s3, roundTrip, true, pages, size, expectedSum));
                Map<String, Runs.Result> results = runs.alternate("firecracker resume " + roundTrip + " ms", sides);
                double cold = results.get("cold").median();
                double faster = Math.min(results.get("page").median(), results.get("whole").median());
                table.row(roundTrip + " ms", results.get("cold").spread(), results.get("trace").spread(),
                        Stats.ratio(cold / results.get("trace").median()), roundTrip == 20 ? "≥ 3" : "", results.get("page").spread(),
                        results.get("whole").spread(), Stats.ratio(faster / cold), "≥ 1");
            }
            latency.append(faultLatency(floor, anymap, latencySize, repeats));
        } finally {
            Files.deleteIfExists(traceFile);
            Files.deleteIfExists(traceFile.getParent());
        }
        report.append(table).append('\n').append(latency);
        System.out.print(report);
    }

    private static long offsetIn(long page) {
        return page * PAGE + (page % 61) * 67;
    }

    /** The boot: the pages touched in order through memcpy, compute after each cluster. */
    private static long boot(Guest guest, long[] pages) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(1);
            long sum = 0;
            for (int i = 0; i < pages.length; i++) {
                Libc.memcpy(one, guest.address + offsetIn(pages[i]), 1);
                sum += one.get(ValueLayout.JAVA_BYTE, 0);
                if (i % CLUSTER == CLUSTER - 1) {
                    long until = System.nanoTime() + COMPUTE_NANOS;
                    while (System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                }
            }
            return sum;
        }
    }

    private static double timeAnymap(S3Fixture s3, Anymap anymap, MapOptions options, long[] pages, Path traceFile, String recordedEtag,
                                     long size, long expectedSum) throws Exception {
        s3.newVersion("vm.mem");
        AccessTrace trace = null;
        if (traceFile != null) {
            AccessTrace recorded = AccessTrace.load(traceFile);
            trace = new AccessTrace(recorded.objectSize(), recorded.objectVersion().replace(recordedEtag, s3.etag("vm.mem")),
                    recorded.chunkSize(), recorded.chunks());
        }
        try (Guest guest = Guest.create(size)) {
            long started = System.nanoTime();
            try (ServedGuest served = trace == null ? anymap.serve(S3Fixture.uri("vm.mem"), options, guest.memory())
                    : anymap.serve(S3Fixture.uri("vm.mem"), options, guest.memory(), trace)) {
                long sum = boot(guest, pages);
                double millis = (System.nanoTime() - started) / 1e6;
                Harness.checkSum(sum, expectedSum);
                return millis;
            }
        }
    }

    private static double timeExample(S3Fixture s3, long roundTrip, boolean wholeFile, long[] pages, long size, long expectedSum)
            throws Exception {
        s3.newVersion("vm.mem");
        try (Guest guest = Guest.create(size)) {
            long started = System.nanoTime();
            try (ExampleHandler handler = new ExampleHandler(s3, roundTrip, guest, wholeFile)) {
                long sum = boot(guest, pages);
                double millis = (System.nanoTime() - started) / 1e6;
                handler.check();
                Harness.checkSum(sum, expectedSum);
                return millis;
            }
        }
    }

    /**
     * Page-fault latency of guest memory served from a local memory file: the guest's pages touched
     * in order, 4 KiB chunks, no readahead, against the C floor of private anonymous memory filled
     * with UFFDIO_COPY ({@code uffd-reference}, kind {@code anon}).
     */
    private static String faultLatency(Path floor, Anymap anymap, long size, int repeats) throws Exception {
        Path file = Files.createTempDirectory("anymap-bench-fc-").resolve("local.mem");
        try {
            Harness.writeContent(file, size, 61);
            long expectedSum = 0;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment expected = Harness.fileMemory(file, arena);
                for (long offset = 0; offset < size; offset += PAGE) {
                    expectedSum += expected.get(ValueLayout.JAVA_BYTE, offset);
                }
            }
            long sum = expectedSum;
            MapOptions options = MapOptions.defaults().withChunkSize(PAGE).withReadahead(0).withAutoPull(false);
            Runs runs = new Runs(repeats, anymap.serverStatus().serverPid());
            long[] version = {0};
            Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
            sides.put("anymap", () -> {
                // A new modification time: a new version of the file, which the shared cache does not hold.
                Files.setLastModifiedTime(file, FileTime.fromMillis(1_000_000_000_000L + 1000 * version[0]++));
                try (Guest guest = Guest.create(size);
                     ServedGuest served = anymap.serve(file.toUri(), options, guest.memory());
                     Arena arena = Arena.ofConfined()) {
                    {
                        MemorySegment one = arena.allocate(1);
                        long got = 0;
                        long started = System.nanoTime();
                        for (long offset = 0; offset < size; offset += PAGE) {
                            Libc.memcpy(one, guest.address + offset, 1);
                            got += one.get(ValueLayout.JAVA_BYTE, 0);
                        }
                        double seconds = (System.nanoTime() - started) / 1e9;
                        Harness.checkSum(got, sum);
                        return size / seconds / 1e6;
                    }
                }
            });
            double[] spin = new double[1];
            sides.put("floor", () -> {
                double[] modes = FloorComparison.runFloor(floor, size >> 20, PAGE, "anon").get("anon");
                spin[0] = Math.max(spin[0], modes[1]);
                return Math.max(modes[0], modes[1]);
            });
            Map<String, Runs.Result> results = runs.alternate("fault latency", sides);
            double anymapMbs = results.get("anymap").median();
            double floorMbs = results.get("floor").median();
            double ratio = anymapMbs / floorMbs;
            Table table = new Table("", "C floor, `anon` (faster of blocking and busy poll)", "anymap, local memory file", "anymap / floor",
                    "target");
            table.row("MB/s", results.get("floor").spread(), results.get("anymap").spread(), Stats.ratio(ratio),
                    "≥ 0.8: " + (ratio >= 0.8 ? "met" : "not met"));
            table.row("us per fault", String.format(Locale.ROOT, "%.1f", PAGE / floorMbs), String.format(Locale.ROOT, "%.1f", PAGE / anymapMbs),
                    "", "");
            return "#### Page-fault latency of guest memory from a local memory file\n\nA guest of " + (size >> 20) + " MiB (private "
                    + "anonymous memory, as Firecracker's) served with `Anymap.serve` from a local file of that size (a new "
                    + "modification time each run: a version the cache does not hold), 4 KiB chunks, no readahead, no pull; one thread "
                    + "touches a byte of every page in order through memcpy, one fault per page, timed from the first touch to the last, as the floor times its own. "
                    + "The floor: `uffd-reference` kind `anon` (a C thread fills private anonymous memory from memory with "
                    + "UFFDIO_COPY), the faster of its blocking and busy-poll modes. Medians of " + repeats + " alternating runs (min-max)."
                    + "\n\n" + table;
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(file.getParent());
        }
    }

    /** Guest memory as Firecracker makes it: a guard page on each side, a userfaultfd with EVENT_REMOVE, registered MISSING. */
    record Guest(long reservation, long address, long size, int userfaultfd) implements AutoCloseable {
        static Guest create(long size) throws Exception {
            long reservation = Libc.check(Libc.mmap(0, size + 2L * PAGE, PROT_NONE,
                    Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0), "mmap");
            long address = reservation + PAGE;
            Libc.check(Libc.mmap(address, size, Libc.PROT_READ | Libc.PROT_WRITE,
                    Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE | 0x10 /* MAP_FIXED */, -1, 0), "mmap(MAP_FIXED)");
            int userfaultfd = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
            Userfaultfd.enable(userfaultfd, FEATURE_EVENT_REMOVE);
            Userfaultfd.register(userfaultfd, address, size, Userfaultfd.REGISTER_MODE_MISSING);
            return new Guest(reservation, address, size, userfaultfd);
        }

        GuestMemory memory() {
            return new GuestMemory(userfaultfd, List.of(new GuestMemory.Range(address, size, 0, PAGE)));
        }

        @Override
        public void close() {
            Libc.close(userfaultfd);
            Libc.munmap(reservation, size + 2L * PAGE);
        }
    }

    /**
     * Firecracker's example handlers, the least each does: a thread reads the userfaultfd's fault
     * messages and fills each with UFFDIO_COPY: the faulting page, fetched then with a ranged GET;
     * or, at the first fault, the whole memory file, fetched then with one GET.
     */
    private static final class ExampleHandler implements AutoCloseable {
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;
        private volatile Throwable failure;

        ExampleHandler(S3Fixture s3, long roundTrip, Guest guest, boolean wholeFile) {
            thread = Thread.ofPlatform().name("example-handler").start(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    serve(s3, roundTrip, guest, wholeFile, arena);
                } catch (Throwable e) {
                    failure = e;
                }
            });
        }

        private void serve(S3Fixture s3, long roundTrip, Guest guest, boolean wholeFile, Arena arena) throws Exception {
            MemorySegment messages = arena.allocate(Userfaultfd.MESSAGE_SIZE * 16L, 8);
            MemorySegment pollfd = arena.allocate(Libc.POLLFD_SIZE, 8);
            Libc.setPollFd(pollfd, 0, guest.userfaultfd(), Libc.POLLIN);
            MemorySegment page = arena.allocate(PAGE, PAGE);
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            boolean copiedAll = false;
            while (running.get()) {
                if (Libc.poll(pollfd, 1, 50) <= 0) {
                    continue;
                }
                long read = Libc.read(guest.userfaultfd(), messages, messages.byteSize());
                for (int i = 0; i < read / Userfaultfd.MESSAGE_SIZE; i++) {
                    if (Userfaultfd.event(messages, i) != Userfaultfd.EVENT_PAGEFAULT) {
                        continue;
                    }
                    long address = Userfaultfd.pagefaultAddress(messages, i) & -PAGE;
                    if (wholeFile) {
                        if (!copiedAll) {
                            copyAll(s3, roundTrip, guest, fill);
                            copiedAll = true;
                        }
                        continue;
                    }
                    long offset = address - guest.address();
                    byte[] bytes = s3.client(roundTrip).getObjectAsBytes(request -> request.bucket(S3Fixture.BUCKET).key("vm.mem")
                            .range("bytes=" + offset + "-" + (offset + PAGE - 1))).asByteArray();
                    MemorySegment.copy(bytes, 0, page, ValueLayout.JAVA_BYTE, 0, PAGE);
                    int result = fill.fillRange(guest.userfaultfd(), address, page.address(), PAGE);
                    if (result != 0) {
                        throw new NativeException("ioctl(UFFDIO_COPY)", -result);
                    }
                }
            }
        }

        private static void copyAll(S3Fixture s3, long roundTrip, Guest guest, Userfaultfd.FillRequest fill) throws Exception {
            long buffer = Libc.check(Libc.mmap(0, guest.size(), Libc.PROT_READ | Libc.PROT_WRITE,
                    Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0), "mmap");
            try {
                MemorySegment file = MemorySegment.ofAddress(buffer).reinterpret(guest.size());
                try (InputStream in = s3.client(roundTrip).getObject(request -> request.bucket(S3Fixture.BUCKET).key("vm.mem"))) {
                    byte[] block = new byte[1 << 20];
                    long at = 0;
                    for (int n; (n = in.read(block)) > 0; at += n) {
                        MemorySegment.copy(block, 0, file, ValueLayout.JAVA_BYTE, at, n);
                    }
                }
                int result = fill.fillRange(guest.userfaultfd(), guest.address(), buffer, guest.size());
                if (result != 0) {
                    throw new NativeException("ioctl(UFFDIO_COPY)", -result);
                }
            } finally {
                Libc.munmap(buffer, guest.size());
            }
        }

        void check() {
            if (failure != null) {
                throw new IllegalStateException("the example handler failed", failure);
            }
        }

        @Override
        public void close() throws InterruptedException {
            running.set(false);
            thread.join();
        }
    }
}
