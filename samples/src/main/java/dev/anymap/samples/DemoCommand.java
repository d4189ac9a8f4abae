package dev.anymap.samples;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.RegionStats;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.zip.CRC32C;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Maps an object, reads it through the MemorySegment, and checks every byte against the backend
 * read directly: the whole path a user's program takes, on an embedded default.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Map an object, checksum it through memory, check it against the backend, and print what was fetched.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--uri", paramLabel = "URI",
            description = "Object to map (default: a generated in-memory object of --size MiB).")
    private URI uri;

    @Option(names = "--size", paramLabel = "MIB", defaultValue = "256", description = "Size of the generated object (default: ${DEFAULT-VALUE}).")
    private long sizeMib;

    @Option(names = "--chunk", paramLabel = "BYTES", description = "Chunk size (default: " + MapOptions.DEFAULT_CHUNK_SIZE + ").")
    private Integer chunk;

    @Option(names = "--random-reads", paramLabel = "N", defaultValue = "10000", description = "Random reads to check (default: ${DEFAULT-VALUE}).")
    private int randomReads;

    @Option(names = "--socket", paramLabel = "PATH", description = "Page server socket (default: the user's page server).")
    private java.nio.file.Path socket;

    @Override
    public Integer call() throws Exception {
        URI target = uri != null ? uri : URI.create("mem:demo?size=" + (sizeMib << 20) + "&seed=" + System.nanoTime());
        MapOptions options = chunk == null ? MapOptions.defaults() : MapOptions.defaults().withChunkSize(chunk);
        long started = System.nanoTime();
        AnymapConfig config = socket == null ? AnymapConfig.defaults() : AnymapConfig.defaults().withSocket(socket);
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(target, options);
             StorageBackend direct = BackendRegistry.load().open(target)) {
            MemorySegment memory = region.segment();
            long size = memory.byteSize();
            if (size > 0) {
                memory.get(ValueLayout.JAVA_BYTE, 0);
            }
            double firstByteMs = (System.nanoTime() - started) / 1e6;
            System.out.printf("mapped %s: %,d bytes, version %s; first byte %.1f ms after Anymap.open() (%s)%n",
                    target, size, region.version(), firstByteMs,
                    uri == null ? "starting the page server and generating the object in it included" : "page server start included");

            long scanStarted = System.nanoTime();
            long mappedCrc = crc(memory);
            double scanSeconds = (System.nanoTime() - scanStarted) / 1e9;
            long directCrc = crc(direct);
            System.out.printf("checksum through memory: %08x in %.2f s (%.0f MB/s); through the backend: %08x%n",
                    mappedCrc, scanSeconds, size / scanSeconds / 1e6, directCrc);
            if (mappedCrc != directCrc) {
                System.out.println("MISMATCH: the mapped bytes differ from the backend's");
                return 1;
            }

            SplittableRandom random = new SplittableRandom(42);
            byte[] viaMemory = new byte[4096];
            byte[] viaBackend = new byte[4096];
            for (int i = 0; i < randomReads && size > 0; i++) {
                long offset = random.nextLong(size);
                int length = (int) Math.min(viaMemory.length, size - offset);
                MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, offset, viaMemory, 0, length);
                direct.read(offset, MemorySegment.ofArray(viaBackend).asSlice(0, length));
                if (!Arrays.equals(viaMemory, 0, length, viaBackend, 0, length)) {
                    System.out.printf("MISMATCH at offset %d%n", offset);
                    return 1;
                }
            }
            System.out.printf("%,d random reads match the backend%n", randomReads);
            RegionStats stats = region.stats();
            System.out.printf("page server: %,d faults, %,d chunks (%,d bytes) fetched; fetch time median %.3f ms, p99 %.3f ms, "
                    + "longest %.3f ms; %d failures%n", stats.faults(), stats.chunksFetched(), stats.bytesFetched(),
                    stats.fetchTimeP50().toNanos() / 1e6, stats.fetchTimeP99().toNanos() / 1e6, stats.fetchTimeMax().toNanos() / 1e6,
                    stats.failures());
            System.out.println("OK");
            return 0;
        }
    }

    private static long crc(MemorySegment memory) {
        CRC32C crc = new CRC32C();
        long block = 1 << 20;
        for (long offset = 0; offset < memory.byteSize(); offset += block) {
            crc.update(memory.asSlice(offset, Math.min(block, memory.byteSize() - offset)).asByteBuffer());
        }
        return crc.getValue();
    }

    private static long crc(StorageBackend backend) throws java.io.IOException {
        CRC32C crc = new CRC32C();
        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocateDirect(1 << 20);
        for (long offset = 0; offset < backend.size(); offset += buffer.capacity()) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), backend.size() - offset));
            backend.read(offset, buffer);
            crc.update(buffer.flip());
        }
        return crc.getValue();
    }
}
