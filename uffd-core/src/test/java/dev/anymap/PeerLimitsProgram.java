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
 * A client process of {@link PeerLimitsTest}: maps {@code faulty:} objects from the page server at
 * SOCKET and reads every byte of them through memory, checked against {@link ReferenceContent}.
 * Prints {@code READ} once it has, and for {@code hold} then waits for a line on standard input and
 * prints how many bytes of its region the cache still holds.
 *
 * <pre>PeerLimitsProgram SOCKET MODE REGIONS SIZE SEED [URI-PARAMETERS]</pre>
 * MODE: {@code read} (a thread per region, each reading its region in pages spread over it, so that
 * every region faults at once), {@code pull} (background pulls of every region, then the read),
 * {@code hold} (the read, then the wait).
 */
public final class PeerLimitsProgram {
    private PeerLimitsProgram() {}

    public static void main(String[] args) throws Exception {
        String mode = args[1];
        int regions = Integer.parseInt(args[2]);
        long size = Long.parseLong(args[3]);
        long seed = Long.parseLong(args[4]);
        String parameters = args.length > 5 ? "&" + args[5] : "";
        MapOptions options = MapOptions.defaults().withAutoPull(false).withBackgroundPull(mode.equals("pull"));
        try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(Path.of(args[0])).withAutoStart(false))) {
            List<MappedRegion> mapped = new ArrayList<>();
            for (int i = 0; i < regions; i++) {
                mapped.add(anymap.map(URI.create("faulty:" + mode + i + "-" + ProcessHandle.current().pid() + "?size=" + size + "&seed="
                        + (seed + i) + parameters), options));
            }
            ExecutorService readers = Executors.newFixedThreadPool(regions);
            List<Future<?>> reads = new ArrayList<>();
            for (int i = 0; i < regions; i++) {
                MemorySegment memory = mapped.get(i).segment();
                long regionSeed = seed + i;
                reads.add(readers.submit(() -> {
                    readAll(memory, size, regionSeed);
                    return null;
                }));
            }
            for (Future<?> read : reads) {
                read.get();
            }
            readers.shutdown();
            System.out.println("READ");
            if (mode.equals("hold")) {
                System.in.read();
                System.out.println("CACHED " + mapped.getFirst().stats().cachedBytes());
            }
            for (MappedRegion region : mapped) {
                region.close();
            }
        }
        System.exit(0);
    }

    /** Reads the region a 64 KiB block at a time, the blocks in a stride that spreads the first ones over it. */
    private static void readAll(MemorySegment memory, long size, long seed) throws java.io.IOException {
        int block = 64 << 10;
        int blocks = (int) (size / block);
        byte[] read = new byte[block];
        for (int stride = 0; stride < 8; stride++) {
            for (int b = stride; b < blocks; b += 8) {
                long offset = (long) b * block;
                MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, offset, read, 0, block);
                if (!Arrays.equals(read, ReferenceContent.bytes(size, seed, offset, block))) {
                    throw new IllegalStateException("wrong bytes at " + offset + " of the object of seed " + seed);
                }
            }
        }
    }
}
