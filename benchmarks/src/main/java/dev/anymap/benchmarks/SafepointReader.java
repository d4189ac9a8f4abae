package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The application of {@link SafepointPauses}, in a JVM of its own whose safepoints are logged: THREADS
 * threads read random records of a fresh mapping for SECONDS, each record checked against the stored
 * file, while one more thread allocates garbage so that collections keep coming. MODE {@code touch}
 * reads each record straight from the segment (a fault stops a thread in Java code); {@code load}
 * calls {@code region.load} on it first (the fault is taken in native code), then reads it.
 *
 * <pre>SafepointReader SOCKET URI STORED_FILE MODE SECONDS THREADS CHUNK_BYTES RECORD_BYTES</pre>
 * Reads the backend options as KEY=VALUE lines from standard input (they hold a secret); prints
 * {@code OK READS}.
 */
public final class SafepointReader {
    private SafepointReader() {}

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        URI uri = URI.create(args[1]);
        Path stored = Path.of(args[2]);
        boolean load = switch (args[3]) {
            case "load" -> true;
            case "touch" -> false;
            default -> throw new IllegalArgumentException("mode " + args[3] + " is neither touch nor load");
        };
        long seconds = Long.parseLong(args[4]);
        int threads = Integer.parseInt(args[5]);
        int chunk = Integer.parseInt(args[6]);
        int record = Integer.parseInt(args[7]);
        Map<String, String> backendOptions = new HashMap<>();
        BufferedReader input = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = input.readLine()) != null && !line.isEmpty(); ) {
            int equals = line.indexOf('=');
            backendOptions.put(line.substring(0, equals), line.substring(equals + 1));
        }
        MapOptions options = MapOptions.defaults().withChunkSize(chunk).withReadahead(0).withAutoPull(false)
                .withBackendOptions(backendOptions);
        AtomicLong reads = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(socket));
             MappedRegion region = anymap.map(uri, options);
             Arena arena = Arena.ofShared()) {
            MemorySegment expected = Harness.fileMemory(stored, arena);
            MemorySegment memory = region.segment();
            long records = region.size() / record;
            long deadline = System.nanoTime() + seconds * 1_000_000_000L;
            CountDownLatch started = new CountDownLatch(threads);
            List<Thread> readers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long seed = t;
                readers.add(Thread.ofPlatform().name("reader-" + t).start(() -> {
                    SplittableRandom random = new SplittableRandom(seed * 7919 + System.nanoTime());
                    started.countDown();
                    try {
                        started.await();
                        while (System.nanoTime() < deadline && failure.get() == null) {
                            long offset = random.nextLong(records) * record;
                            if (load) {
                                region.load(offset, record);
                            }
                            long at = MemorySegment.mismatch(memory, offset, offset + record, expected, offset, offset + record);
                            if (at != -1) {
                                throw new IllegalStateException("the mapped bytes differ from the stored ones at " + (offset + at));
                            }
                            reads.incrementAndGet();
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            Thread garbage = Thread.ofPlatform().daemon().name("garbage").start(SafepointReader::allocate);
            for (Thread reader : readers) {
                reader.join();
            }
            garbage.interrupt();
        }
        if (failure.get() != null) {
            failure.get().printStackTrace();
            System.exit(1);
        }
        System.out.println("OK " + reads.get());
    }

    /**
     * Short-lived garbage, with a little (about 0.5 MiB) kept a while, as an application's requests make: about 256 MB/s,
     * which with the young generation that {@link SafepointPauses} gives makes several young collections a second.
     */
    private static void allocate() {
        Object[] kept = new Object[64];
        SplittableRandom random = new SplittableRandom(1);
        long allocated = 0;
        for (long i = 0; !Thread.currentThread().isInterrupted(); i++) {
            byte[] bytes = new byte[random.nextInt(64, 16 * 1024)];
            bytes[0] = (byte) i;
            kept[(int) (i & 63)] = bytes;
            allocated += bytes.length;
            if (allocated >= 256 * 1024) {
                allocated = 0;
                LockSupport.parkNanos(1_000_000);
            }
        }
    }
}
