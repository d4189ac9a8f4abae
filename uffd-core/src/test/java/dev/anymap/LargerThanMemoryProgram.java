package dev.anymap;

import dev.anymap.testbackend.ReferenceContent;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Run in a memory cgroup of its own by {@link LargerThanMemoryTest}: opens a page server of its own
 * (auto-started, so a child in the same cgroup), maps a generated {@code faulty:} object, which the
 * page server computes chunk by chunk and never holds whole, reads it all in order and then
 * {@code --random-pages} random 4 KiB pages from four threads, and checks every byte read against the
 * generator computed here. With {@code --gc-storm}, another thread allocates garbage and calls
 * System.gc() without pause all along.
 *
 * <p>It prints {@code OPENED server=PID server-cgroup=PATH}, {@code MAPPED URI}, then {@code OK size=... scanned=...
 * pages=... faults=... bytes-fetched=... scan-ms=... random-ms=...} and exits 0; at a wrong
 * byte {@code WRONG ...} and exits 3; when a step fails, {@code FAILED step: exception} (step is
 * config, open, map, scan or random) and exits 2.
 *
 * <pre>LargerThanMemoryProgram SOCKET SIZE_BYTES SEED [--cache-limit BYTES] [--random-pages N] [--gc-storm]</pre>
 */
public final class LargerThanMemoryProgram {
    static final int FAILED = 2;
    static final int WRONG = 3; // not 1, an uncaught exception's
    private static final int BLOCK = 1 << 20;
    private static final int PAGE = 4096;
    private static final int RANDOM_READERS = 4;

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        long size = Long.parseLong(args[1]);
        long seed = Long.parseLong(args[2]);
        long cacheLimit = -1;
        int randomPages = 8192;
        boolean gcStorm = false;
        for (int i = 3; i < args.length; i++) {
            switch (args[i]) {
                case "--cache-limit" -> cacheLimit = Long.parseLong(args[++i]);
                case "--random-pages" -> randomPages = Integer.parseInt(args[++i]);
                case "--gc-storm" -> gcStorm = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        AnymapConfig config = AnymapConfig.defaults().withSocket(socket).withServerIdleExit(java.time.Duration.ofSeconds(1));
        if (cacheLimit >= 0) {
            config = step("config", config, cacheLimit, AnymapConfig::withCacheLimit);
        }
        try (Anymap anymap = step("open", config, 0, (c, unused) -> Anymap.open(c))) {
            long server = step("open", anymap, 0, (a, unused) -> a.serverStatus().serverPid());
            System.out.println("OPENED server=" + server + " server-cgroup=" + memoryCgroup(server));
            System.out.flush(); // before an OOM kill can take it
            URI uri = URI.create("faulty:larger-than-memory?size=" + size + "&seed=" + seed);
            try (MappedRegion region = step("map", anymap, 0, (a, unused) -> a.map(uri))) {
                System.out.println("MAPPED " + uri);
                // From here, not from the start: on two cores a storm slows the page server's start by seconds, which tells nothing.
                AtomicBoolean storming = new AtomicBoolean(gcStorm);
                Thread storm = Thread.ofPlatform().daemon().name("gc-storm").start(() -> storm(storming));
                long start = System.nanoTime();
                long scanned = step("scan", region, 0, (r, unused) -> scan(r.segment(), size, seed));
                long scanNanos = System.nanoTime() - start;
                start = System.nanoTime();
                int pages = step("random", region, randomPages, (r, count) -> readAtRandom(r.segment(), size, seed, (int) count));
                long randomNanos = System.nanoTime() - start;
                storming.set(false);
                storm.join();
                RegionStats stats = region.stats();
                System.out.println("OK size=" + size + " scanned=" + scanned + " pages=" + pages + " faults=" + stats.faults()
                        + " bytes-fetched=" + stats.bytesFetched() + " scan-ms=" + scanNanos / 1_000_000
                        + " random-ms=" + randomNanos / 1_000_000);
            }
        }
    }

    /** Reads the object from start to end a MiB at a time, as one thread; the bytes checked. */
    private static long scan(MemorySegment memory, long size, long seed) {
        MemorySegment want = MemorySegment.ofArray(new byte[BLOCK]);
        for (long offset = 0; offset < size; offset += BLOCK) {
            check(memory, size, seed, offset, want.asSlice(0, Math.min(BLOCK, size - offset)));
        }
        return size;
    }

    /** Reads {@code count} pages at random offsets, from several threads at once; the bytes checked. */
    private static int readAtRandom(MemorySegment memory, long size, long seed, int count) throws InterruptedException {
        long pages = size / PAGE;
        long randomSeed = System.nanoTime();
        List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
        List<Thread> readers = new ArrayList<>();
        for (int t = 0; t < RANDOM_READERS; t++) {
            Random random = new Random(randomSeed + t);
            int share = count / RANDOM_READERS + (t < count % RANDOM_READERS ? 1 : 0);
            readers.add(Thread.ofPlatform().name("random-" + t).start(() -> {
                try {
                    MemorySegment want = MemorySegment.ofArray(new byte[PAGE]);
                    for (int i = 0; i < share; i++) {
                        check(memory, size, seed, random.nextLong(pages) * PAGE, want);
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        for (Thread reader : readers) {
            reader.join();
        }
        if (!failures.isEmpty()) {
            Throwable first = failures.getFirst();
            if (first instanceof WrongBytes wrong) {
                throw wrong;
            }
            throw new IllegalStateException("a random reader failed (random seed " + randomSeed + ")", first);
        }
        return count;
    }

    private static void check(MemorySegment memory, long size, long seed, long offset, MemorySegment want) {
        ReferenceContent.fill(size, seed, offset, want);
        long at = MemorySegment.mismatch(memory, offset, offset + want.byteSize(), want, 0, want.byteSize());
        if (at >= 0) {
            throw new WrongBytes("wrong byte at offset " + (offset + at) + " of " + size);
        }
    }

    private static final class WrongBytes extends RuntimeException {
        WrongBytes(String message) {
            super(message);
        }
    }

    /** Garbage made and collected without pause, while the readers' threads wait on faults. */
    private static void storm(AtomicBoolean storming) {
        Object[] live = new Object[64];
        for (int i = 0; storming.get(); i++) {
            live[i & 63] = new byte[64 << 10];
            if ((i & 15) == 0) {
                System.gc();
            }
        }
    }

    /** The memory cgroup {@code pid} is in, from /proc: where the page server this program started runs. */
    private static String memoryCgroup(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "cgroup"))) {
                String[] fields = line.split(":", 3);
                if (fields.length == 3 && List.of(fields[1].split(",")).contains("memory")) {
                    return fields[2];
                }
            }
            return "none";
        } catch (java.io.IOException e) {
            return "unknown (" + e + ")";
        }
    }

    private interface Step<T, R> {
        R run(T input, long argument) throws Exception;
    }

    /** Runs one step; ends the program, saying which step and why, if it fails. */
    private static <T, R> R step(String name, T input, long argument, Step<T, R> step) {
        try {
            return step.run(input, argument);
        } catch (WrongBytes e) {
            System.out.println("WRONG " + e.getMessage());
            System.out.flush();
            Runtime.getRuntime().halt(WRONG);
        } catch (Throwable e) {
            e.printStackTrace(System.out);
            System.out.println("FAILED " + name + ": " + e);
            System.out.flush();
            Runtime.getRuntime().halt(FAILED);
        }
        throw new AssertionError("unreachable");
    }
}
