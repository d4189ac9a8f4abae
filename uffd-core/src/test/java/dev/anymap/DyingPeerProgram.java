package dev.anymap;

import dev.anymap.testbackend.ReferenceContent;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A client process of {@link HostilePeersPastLimitsTest} that works a page server up to its limits
 * per process, to be killed (SIGKILL) at any point: it prints {@code CONNECTED}, {@code MAPPED} and
 * {@code READ} as it gets there, every byte it reads checked against {@link ReferenceContent}, and
 * then holds its regions until a line comes on standard input, so that a kill after {@code READ}
 * still hits a live process with its regions mapped.
 *
 * <pre>DyingPeerProgram SOCKET MODE SEED</pre>
 * MODE: {@code fault} (three regions of a slow object, four threads faulting in each, many more
 * fetches than it may have in flight), {@code pull} (background pulls of two slow objects, far
 * beyond its prefetch memory, and the read), {@code scan} (one object larger than the cache, read
 * through), {@code map} (slow objects mapped, touched and closed one after another).
 */
public final class DyingPeerProgram {
    private static final long MIB = 1 << 20;

    private DyingPeerProgram() {}

    public static void main(String[] args) throws Exception {
        String mode = args[1];
        long seed = Long.parseLong(args[2]);
        MapOptions options = MapOptions.defaults().withAutoPull(false).withBackgroundPull(mode.equals("pull"));
        try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(Path.of(args[0])).withAutoStart(false))) {
            System.out.println("CONNECTED");
            switch (mode) {
                case "fault" -> read(anymap, options, 3, 4, 16 * MIB, seed, "&slowfrom=0&delay=30");
                case "pull" -> read(anymap, options, 2, 1, 48 * MIB, seed, "&slowfrom=0&delay=2");
                case "scan" -> read(anymap, options, 1, 2, 192 * MIB, seed, "");
                case "map" -> {
                    for (int i = 0; i < 12; i++) {
                        URI uri = URI.create("faulty:dying-map?size=" + 16 * MIB + "&seed=" + (seed + i) + "&slowfrom=0&delay=20");
                        try (MappedRegion region = anymap.map(uri, options)) {
                            System.out.println("MAPPED");
                            check(region.segment(), 16 * MIB, seed + i, (i * 997L % 256) * 64 * 1024, 64 * 1024);
                        }
                    }
                    System.out.println("READ");
                }
                default -> throw new IllegalArgumentException("no mode " + mode);
            }
            System.in.read();
        }
        System.exit(0);
    }

    /** Maps {@code regions} objects and reads each through with {@code threads} threads, its blocks dealt out among them. */
    private static void read(Anymap anymap, MapOptions options, int regions, int threads, long size, long seed, String parameters)
            throws Exception {
        List<MappedRegion> mapped = new ArrayList<>();
        for (int i = 0; i < regions; i++) {
            mapped.add(anymap.map(URI.create("faulty:dying-" + i + "?size=" + size + "&seed=" + (seed + i) + parameters), options));
        }
        System.out.println("MAPPED");
        ExecutorService readers = Executors.newFixedThreadPool(regions * threads);
        List<Future<?>> reads = new ArrayList<>();
        int block = 64 << 10;
        for (int i = 0; i < regions; i++) {
            MemorySegment memory = mapped.get(i).segment();
            long regionSeed = seed + i;
            for (int t = 0; t < threads; t++) {
                int first = t;
                reads.add(readers.submit(() -> {
                    for (long b = first; b < size / block; b += threads) {
                        check(memory, size, regionSeed, b * block, block);
                    }
                    return null;
                }));
            }
        }
        for (Future<?> read : reads) {
            read.get();
        }
        readers.shutdown();
        System.out.println("READ");
    }

    private static void check(MemorySegment memory, long size, long seed, long offset, int length) throws java.io.IOException {
        byte[] read = new byte[length];
        MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, offset, read, 0, length);
        if (!Arrays.equals(read, ReferenceContent.bytes(size, seed, offset, length))) {
            throw new IllegalStateException("wrong bytes at " + offset + " of the object of seed " + seed);
        }
    }
}
