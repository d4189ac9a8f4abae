package dev.anymap;

import dev.anymap.spi.StorageBackend;
import dev.anymap.testbackend.ReferenceContent;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Run in a JVM of its own by {@link GcStormTest}: four threads scan a mapped object, checking every
 * byte, while another thread calls System.gc() without pause. Prints {@code OK} when every byte was
 * right. A JVM that served its own faults would freeze here for good.
 *
 * <pre>GcStormProgram SOCKET SIZE_BYTES</pre>
 */
public final class GcStormProgram {
    public static void main(String[] args) throws Exception {
        long size = Long.parseLong(args[1]);
        long seed = 21;
        int block = 64 * 1024;
        StorageBackend reference = ReferenceContent.of(size, seed);
        AnymapConfig config = AnymapConfig.defaults().withSocket(Path.of(args[0]));
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(URI.create("mem:storm?size=" + size + "&seed=" + seed),
                     MapOptions.defaults().withChunkSize(block))) {
            AtomicBoolean scanning = new AtomicBoolean(true);
            Thread collector = Thread.ofPlatform().name("gc-storm").start(() -> {
                while (scanning.get()) {
                    System.gc();
                }
            });
            List<Thread> scanners = new ArrayList<>();
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            long quarter = size / 4;
            for (int t = 0; t < 4; t++) {
                long from = t * quarter;
                long to = t == 3 ? size : from + quarter;
                scanners.add(Thread.ofPlatform().name("scanner-" + t).start(() -> {
                    try {
                        byte[] want = new byte[block];
                        byte[] got = new byte[block];
                        for (long offset = from; offset < to; offset += block) {
                            int length = (int) Math.min(block, to - offset);
                            reference.read(offset, MemorySegment.ofArray(want).asSlice(0, length));
                            MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, got, 0, length);
                            if (!Arrays.equals(want, 0, length, got, 0, length)) {
                                throw new AssertionError("wrong bytes at offset " + offset);
                            }
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            for (Thread scanner : scanners) {
                scanner.join();
            }
            scanning.set(false);
            collector.join();
            if (!failures.isEmpty()) {
                failures.getFirst().printStackTrace();
                System.exit(1);
            }
        }
        System.out.println("OK");
    }
}
