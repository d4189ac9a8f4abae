package dev.anymap;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Run in a JVM of its own by {@link WriteUnderGcStormTest}: four threads write random bytes all over
 * a writable region of a file that the page server serves (their first writes to each chunk fault,
 * and wait on the page server), each into a model of its own stripe, while another thread calls
 * System.gc() without pause and another flushes again and again. Then the region is closed, which
 * flushes, and the file, read with plain file I/O, must equal the model. Prints the flushes made and
 * {@code OK}.
 *
 * <pre>WriteUnderGcStormProgram SOCKET FILE</pre>
 */
public final class WriteUnderGcStormProgram {
    private static final int THREADS = 4;
    private static final int WRITES = 20_000;

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[1]);
        byte[] model;
        try (FileChannel channel = FileChannel.open(file)) {
            model = new byte[(int) channel.size()];
            channel.read(ByteBuffer.wrap(model), 0);
        }
        int stripe = model.length / THREADS;
        AnymapConfig config = AnymapConfig.defaults().withSocket(Path.of(args[0]));
        AtomicInteger flushes = new AtomicInteger();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        try (Anymap anymap = Anymap.open(config)) {
            MappedRegion region = anymap.map(URI.create("servedfile:" + file), MapOptions.defaults().withChunkSize(64 << 10).withWritable(true));
            AtomicBoolean writing = new AtomicBoolean(true);
            Thread collector = Thread.ofPlatform().name("gc-storm").start(() -> {
                while (writing.get()) {
                    System.gc();
                }
            });
            Thread flusher = Thread.ofPlatform().name("flusher").start(() -> {
                try {
                    while (writing.get()) {
                        region.flush();
                        flushes.incrementAndGet();
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            });
            List<Thread> writers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int from = t * stripe;
                long seed = t;
                writers.add(Thread.ofPlatform().name("writer-" + t).start(() -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    MemorySegment memory = region.segment();
                    for (int i = 0; i < WRITES; i++) {
                        byte[] bytes = new byte[random.nextInt(1, 9000)];
                        random.nextBytes(bytes);
                        int at = from + random.nextInt(stripe - bytes.length);
                        MemorySegment.copy(bytes, 0, memory, ValueLayout.JAVA_BYTE, at, bytes.length);
                        System.arraycopy(bytes, 0, model, at, bytes.length); // each thread's stripe is its own
                    }
                }));
            }
            for (Thread writer : writers) {
                writer.join();
            }
            writing.set(false);
            flusher.join();
            collector.join();
            region.close(); // the last flush: what the writers wrote after the flusher's last one
        }
        if (!failures.isEmpty()) {
            failures.getFirst().printStackTrace();
            System.exit(1);
        }
        byte[] stored;
        try (FileChannel channel = FileChannel.open(file)) {
            stored = new byte[(int) channel.size()];
            channel.read(ByteBuffer.wrap(stored), 0);
        }
        int mismatch = Arrays.mismatch(model, stored);
        if (mismatch >= 0) {
            System.out.println("the file differs from the writes at offset " + mismatch);
            System.exit(1);
        }
        System.out.println(flushes.get() + " flushes");
        System.out.println("OK");
    }
}
