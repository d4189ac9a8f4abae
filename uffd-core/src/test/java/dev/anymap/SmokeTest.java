package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void readsAGeneratedObject() throws Exception {
        URI uri = URI.create("mem:smoke?size=10000000&seed=5");
        byte[] expected = new byte[10_000_000];
        try (StorageBackend local = BackendRegistry.load().open(uri)) {
            local.read(0, MemorySegment.ofArray(expected));
        }
        long t0 = System.nanoTime();
        try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(java.nio.file.Path.of("/tmp/anymap-smoke/s.sock")));
             MappedRegion region = anymap.map(uri)) {
            System.out.println("open+map " + (System.nanoTime() - t0) / 1e6 + " ms");
            byte[] actual = new byte[10_000_000];
            MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, 0, actual, 0, actual.length);
            assertEquals(java.util.Arrays.hashCode(expected), java.util.Arrays.hashCode(actual));
            System.out.println(region.stats());
        }
    }
}
