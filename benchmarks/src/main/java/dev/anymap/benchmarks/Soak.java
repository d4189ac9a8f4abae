package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.backend.memory.MemoryObjects;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * The soak (benchmarks/soak): for a given time, reader threads of this process map generated
 * {@code mem:} objects, read every byte (half by plain touches, half by load-then-copy) and check
 * it against {@link MemoryObjects#generatedContent}, and close them; the page server is SIGKILLed
 * at random moments, and its keeper starts the one that takes over; a hostile peer
 * ({@code dev.anymap.HostilePeer}, from uffd-core's tests) works on the socket now and then, in a
 * process of its own. Every 5 seconds the page server's, the keeper's and this process's resident
 * memory, descriptors and threads are sampled. At the end: a CSV of the samples, a plot, and a
 * summary in markdown on standard output.
 *
 * <p>Arguments: minutes, the CSV, the plot, the class path of the hostile peer.
 */
public final class Soak {
    private static final int READERS = 3;
    private static final int BLOCK = 1 << 20;
    private static final Duration SAMPLE_EVERY = Duration.ofSeconds(5);

    private final AnymapConfig config;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicLong maps = new AtomicLong();
    private final AtomicLong bytesChecked = new AtomicLong();
    private final AtomicLong wrongBytes = new AtomicLong();
    private final AtomicLong mapFailures = new AtomicLong();
    private final AtomicLong readFailures = new AtomicLong();
    private final AtomicLong kills = new AtomicLong();
    private final AtomicLong recoveries = new AtomicLong();
    private final AtomicLong fuzzRuns = new AtomicLong();
    private final AtomicLong fuzzProblems = new AtomicLong();
    private final List<Double> recoveryMillis = new ArrayList<>();
    private final ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
    private final String secret = "soak-secret-" + Long.toHexString(new Random().nextLong());

    private Soak(AnymapConfig config) {
        this.config = config;
    }

    /** One sample: seconds since the start, then server, keeper and client usage. */
    private record Sample(double seconds, long serverPid, Usage server, Usage keeper, Usage client) {}

    private record Usage(long rssKib, int descriptors, int threads) {
        static final Usage NONE = new Usage(-1, -1, -1);

        static Usage of(long pid) {
            if (pid <= 0) {
                return NONE;
            }
            try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
                int descriptors = (int) fds.count();
                long rss = -1;
                int threads = -1;
                for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                    if (line.startsWith("VmRSS:")) {
                        rss = Long.parseLong(line.replaceAll("\\D", ""));
                    } else if (line.startsWith("Threads:")) {
                        threads = Integer.parseInt(line.replaceAll("\\D", ""));
                    }
                }
                return new Usage(rss, descriptors, threads);
            } catch (IOException | RuntimeException e) {
                return NONE; // gone between the look-up and the sample: a kill
            }
        }
    }

    public static void main(String[] args) throws Exception {
        double minutes = Double.parseDouble(args[0]);
        Path csv = Path.of(args[1]);
        Path png = Path.of(args[2]);
        String peerClassPath = args[3];
        Path directory = Files.createTempDirectory("anymap-soak-");
        Files.delete(directory);
        AnymapConfig config = AnymapConfig.defaults().withSocket(directory.resolve("server.sock")).withServerIdleExit(Duration.ofSeconds(5));
        new Soak(config).run(Duration.ofMillis((long) (minutes * 60_000)), csv, png, peerClassPath);
    }

    private void run(Duration duration, Path csv, Path png, String peerClassPath) throws Exception {
        long start = System.nanoTime();
        long end = start + duration.toNanos();
        List<Sample> samples = new ArrayList<>();
        Files.createDirectories(csv.toAbsolutePath().getParent());
        try (Anymap anymap = Anymap.open(config);
             PrintWriter out = new PrintWriter(Files.newBufferedWriter(csv, StandardCharsets.UTF_8), true)) {
            out.println("seconds,server_pid,server_rss_kib,server_fds,server_threads,keeper_rss_kib,keeper_fds,keeper_threads,"
                    + "client_rss_kib,client_fds,client_threads,maps,kills,recoveries,fuzz_runs,wrong_bytes");
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < READERS; i++) {
                int reader = i;
                threads.add(Thread.ofPlatform().name("soak-reader-" + i).start(() -> read(anymap, reader)));
            }
            threads.add(Thread.ofPlatform().name("soak-killer").start(() -> kill(end)));
            threads.add(Thread.ofPlatform().name("soak-fuzzer").start(() -> fuzz(end, peerClassPath)));
            long self = ProcessHandle.current().pid();
            while (System.nanoTime() < end) {
                long server = serverPid().orElse(-1L);
                Sample sample = new Sample((System.nanoTime() - start) / 1e9, server, Usage.of(server),
                        Usage.of(keeperPid().orElse(-1L)), Usage.of(self));
                samples.add(sample);
                out.printf("%.1f,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d%n", sample.seconds(), server, sample.server().rssKib(),
                        sample.server().descriptors(), sample.server().threads(), sample.keeper().rssKib(), sample.keeper().descriptors(),
                        sample.keeper().threads(), sample.client().rssKib(), sample.client().descriptors(), sample.client().threads(),
                        maps.get(), kills.get(), recoveries.get(), fuzzRuns.get(), wrongBytes.get());
                Thread.sleep(SAMPLE_EVERY.toMillis()); // the sampling period
            }
            running.set(false);
            for (Thread thread : threads) {
                thread.join(TimeUnit.MINUTES.toMillis(3));
                if (thread.isAlive()) {
                    failures.add(thread.getName() + " did not end within 3 minutes of the soak's end");
                }
            }
        }
        plot(png, samples);
        String log = Files.readString(config.socket().resolveSibling("server.log"), StandardCharsets.UTF_8);
        System.out.println(summary(duration, samples, log.contains(secret)));
    }

    /** Maps, reads every byte and checks it, closes; over and over. */
    private void read(Anymap anymap, int reader) {
        Random random = new Random(reader * 7919L + System.nanoTime());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment expected = arena.allocate(BLOCK);
            MemorySegment read = arena.allocate(BLOCK);
            for (long n = 0; running.get(); n++) {
                long size = (1L + random.nextInt(48)) << 20;
                long seed = random.nextLong();
                URI uri = MemoryObjects.generatedUri("soak-" + reader + "-" + n, size, seed);
                boolean load = reader % 2 == 0;
                MappedRegion region;
                try {
                    region = anymap.map(uri, MapOptions.defaults().withChunkSize(64 << 10 << random.nextInt(4)));
                } catch (IOException | RuntimeException e) {
                    mapFailures.incrementAndGet();
                    failures.add("map " + uri + ": " + e.getMessage());
                    continue;
                }
                maps.incrementAndGet();
                try (region) {
                    for (long offset = 0; offset < size && running.get(); offset += BLOCK) {
                        long length = Math.min(BLOCK, size - offset);
                        MemorySegment into = read.asSlice(0, length);
                        if (load) {
                            region.copyTo(offset, into);
                        } else {
                            MemorySegment.copy(region.segment(), offset, into, 0, length);
                        }
                        MemorySegment want = expected.asSlice(0, length);
                        MemoryObjects.generatedContent(seed).fill(offset, want);
                        long mismatch = into.mismatch(want);
                        if (mismatch >= 0) {
                            wrongBytes.incrementAndGet();
                            failures.add("wrong byte at " + (offset + mismatch) + " of " + uri);
                        }
                        bytesChecked.addAndGet(length);
                    }
                } catch (IOException | InternalError e) {
                    readFailures.incrementAndGet();
                    failures.add("read " + uri + ": " + e);
                }
            }
        }
    }

    /** SIGKILLs the page server every 20 to 80 seconds, and times the start of the one that takes over. */
    private void kill(long end) {
        Random random = new Random();
        while (running.get()) {
            long wait = TimeUnit.SECONDS.toNanos(20 + random.nextInt(60));
            if (System.nanoTime() + wait > end - TimeUnit.SECONDS.toNanos(10)) {
                return;
            }
            sleepNanos(wait);
            Optional<Long> server = serverPid();
            if (server.isEmpty()) {
                continue;
            }
            Optional<ProcessHandle> handle = ProcessHandle.of(server.get());
            if (handle.isEmpty()) {
                continue;
            }
            long killed = System.nanoTime();
            handle.get().destroyForcibly();
            kills.incrementAndGet();
            while (System.nanoTime() - killed < TimeUnit.SECONDS.toNanos(60)) {
                Optional<Long> now = serverPid();
                if (now.isPresent() && !now.get().equals(server.get())) {
                    recoveries.incrementAndGet();
                    synchronized (recoveryMillis) {
                        recoveryMillis.add((System.nanoTime() - killed) / 1e6);
                    }
                    break;
                }
                sleepNanos(TimeUnit.MILLISECONDS.toNanos(20));
            }
        }
    }

    /** A hostile peer for 5 seconds, in a process of its own, every 15 to 45 seconds. */
    private void fuzz(long end, String classPath) {
        Random random = new Random();
        while (running.get() && System.nanoTime() < end - TimeUnit.SECONDS.toNanos(20)) {
            sleepNanos(TimeUnit.SECONDS.toNanos(15 + random.nextInt(30)));
            try {
                Process peer = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "--enable-native-access=ALL-UNNAMED", "-Xmx64m", "-cp", classPath, "dev.anymap.HostilePeer",
                        config.socket().toString(), "5", Long.toString(random.nextLong()), secret)
                        .redirectErrorStream(true).start();
                String output = new String(peer.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
                peer.waitFor();
                fuzzRuns.incrementAndGet();
                if (peer.exitValue() != 0) {
                    fuzzProblems.incrementAndGet();
                    failures.add("hostile peer: " + output);
                }
            } catch (IOException e) {
                failures.add("starting the hostile peer: " + e.getMessage());
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private Optional<Long> serverPid() {
        try (Anymap observer = Anymap.open(config.withAutoStart(false))) {
            return Optional.of(observer.serverStatus().serverPid());
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // none listens: between a kill and the takeover
        }
    }

    /** The keeper of this soak's page server, found by its command line. */
    private Optional<Long> keeperPid() {
        String directory = config.socket().getParent().toString();
        return ProcessHandle.allProcesses().filter(process -> {
            try {
                String line = Files.readString(Path.of("/proc", Long.toString(process.pid()), "cmdline")).replace('\0', ' ');
                int main = line.indexOf("keeper.KeeperMain");
                return main >= 0 && !line.substring(0, main).contains("server.PageServerMain") && line.contains(directory);
            } catch (IOException | RuntimeException e) {
                return false;
            }
        }).map(ProcessHandle::pid).findFirst();
    }

    private static void sleepNanos(long nanos) {
        try {
            TimeUnit.NANOSECONDS.sleep(nanos); // the soak's pacing
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void plot(Path png, List<Sample> samples) throws IOException {
        Map<String, double[][]> series = new LinkedHashMap<>();
        series.put("page server RSS (MiB)", points(samples, s -> s.server().rssKib() / 1024.0));
        series.put("page server descriptors", points(samples, s -> s.server().descriptors()));
        series.put("keeper RSS (MiB)", points(samples, s -> s.keeper().rssKib() / 1024.0));
        series.put("keeper descriptors", points(samples, s -> s.keeper().descriptors()));
        series.put("client RSS (MiB)", points(samples, s -> s.client().rssKib() / 1024.0));
        series.put("client descriptors", points(samples, s -> s.client().descriptors()));
        Plots.lines(png, "Soak: maps, reads, closes, page server kills, hostile peers", "minutes", "MiB / descriptors", false, false, series);
    }

    private static double[][] points(List<Sample> samples, java.util.function.ToDoubleFunction<Sample> value) {
        return samples.stream().filter(s -> value.applyAsDouble(s) >= 0)
                .map(s -> new double[] {s.seconds() / 60, value.applyAsDouble(s)}).toArray(double[][]::new);
    }

    private String summary(Duration duration, List<Sample> samples, boolean secretLogged) {
        double minutes = duration.toMillis() / 60_000.0;
        double window = Math.min(5, minutes / 3);
        StringBuilder text = new StringBuilder();
        text.append("## Soak\n\n");
        text.append("From `benchmarks/soak --minutes ").append(String.format("%.0f", minutes)).append("`, ").append(LocalDate.now())
                .append(": ").append(READERS).append(" reader threads in one client process map generated `mem:` objects of 1 to 48 MiB "
                        + "(chunks of 64 to 512 KiB), read every byte (half by plain touches, half by `copyTo`) and check it against "
                        + "`MemoryObjects.generatedContent`, and close them; the page server is SIGKILLed every 20 to 80 s; a hostile peer "
                        + "(`HostilePeer`, the fuzz of uffd-core's `HostilePeerTest`) works on the socket for 5 s every 15 to 45 s. "
                        + "Sampled every 5 s; plot: `benchmarks/plots/soak.png`.\n\n");
        text.append("| | |\n|---|---|\n");
        text.append("| maps, read whole and checked | ").append(maps.get()).append(" (").append(bytesChecked.get() >> 30).append(" GiB) |\n");
        text.append("| wrong bytes | ").append(wrongBytes.get()).append(" |\n");
        text.append("| failed maps, failed reads | ").append(mapFailures.get()).append(", ").append(readFailures.get()).append(" |\n");
        text.append("| page server kills, takeovers seen | ").append(kills.get()).append(", ").append(recoveries.get()).append(" |\n");
        List<Double> recovery;
        synchronized (recoveryMillis) {
            recovery = recoveryMillis.stream().sorted().toList();
        }
        if (!recovery.isEmpty()) {
            text.append(String.format("| kill to a new server answering, p50 / max | %.0f / %.0f ms |%n", recovery.get(recovery.size() / 2),
                    recovery.getLast()));
        }
        text.append("| hostile peer runs, with problems | ").append(fuzzRuns.get()).append(", ").append(fuzzProblems.get()).append(" |\n");
        text.append("| the secret of the hostile peer's maps in server.log | ").append(secretLogged ? "**yes**" : "no").append(" |\n\n");
        text.append(String.format("Mean of the first %.0f minutes against the last %.0f:%n%n", window, window));
        text.append("| | first | last | moved |\n|---|---|---|---|\n");
        row(text, samples, window, minutes, "page server RSS (MiB)", s -> s.server().rssKib() / 1024.0);
        row(text, samples, window, minutes, "page server descriptors", s -> s.server().descriptors());
        row(text, samples, window, minutes, "page server threads", s -> s.server().threads());
        row(text, samples, window, minutes, "keeper RSS (MiB)", s -> s.keeper().rssKib() / 1024.0);
        row(text, samples, window, minutes, "keeper descriptors", s -> s.keeper().descriptors());
        row(text, samples, window, minutes, "client RSS (MiB)", s -> s.client().rssKib() / 1024.0);
        row(text, samples, window, minutes, "client descriptors", s -> s.client().descriptors());
        row(text, samples, window, minutes, "client threads", s -> s.client().threads());
        if (!failures.isEmpty()) {
            text.append("\nFailures (first 20 of ").append(failures.size()).append("):\n\n");
            failures.stream().limit(20).forEach(f -> text.append("- ").append(f).append('\n'));
        }
        return text.toString();
    }

    private static void row(StringBuilder text, List<Sample> samples, double window, double minutes, String name,
                            java.util.function.ToDoubleFunction<Sample> value) {
        double first = mean(samples, value, 0, window);
        double last = mean(samples, value, minutes - window, minutes);
        text.append(String.format("| %s | %.1f | %.1f | %+.1f%% |%n", name, first, last, 100 * (last - first) / first));
    }

    private static double mean(List<Sample> samples, java.util.function.ToDoubleFunction<Sample> value, double fromMinute, double toMinute) {
        return samples.stream().filter(s -> s.seconds() / 60 >= fromMinute && s.seconds() / 60 <= toMinute)
                .mapToDouble(value).filter(v -> v >= 0).average().orElse(Double.NaN);
    }
}
