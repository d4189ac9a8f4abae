package dev.anymap.backend.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.Capability;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class MemoryBackendTest {
    private final BackendRegistry registry = BackendRegistry.load();

    private static byte[] read(StorageBackend backend, long offset, int length) throws Exception {
        byte[] bytes = new byte[length];
        backend.read(offset, MemorySegment.ofArray(bytes));
        return bytes;
    }

    @Test
    void aGeneratedObjectHasTheSameBytesWhicheverRangeBuildsThem() throws Exception {
        URI uri = MemoryObjects.generatedUri("gen", 100_003, 42);
        try (StorageBackend backend = registry.open(uri)) {
            assertEquals(100_003, backend.size());
            byte[] whole = read(backend, 0, 100_003);
            byte[] rebuilt = new byte[100_003];
            // The same content rebuilt piecewise at odd offsets, straight from the generator.
            for (int offset = 0; offset < rebuilt.length; offset += 997) {
                int length = Math.min(997, rebuilt.length - offset);
                byte[] piece = new byte[length];
                GeneratedContent.random(42).fill(offset, MemorySegment.ofArray(piece));
                System.arraycopy(piece, 0, rebuilt, offset, length);
            }
            assertArrayEquals(rebuilt, whole);
            assertNotEquals(0, Arrays.hashCode(whole));
        }
        try (StorageBackend other = registry.open(MemoryObjects.generatedUri("gen", 100_003, 43))) {
            assertFalse(Arrays.equals(read(other, 0, 64), read(registry.open(uri), 0, 64)), "seeds differ");
        }
    }

    @Test
    void aZeroFilledGeneratedObjectIsZero() throws Exception {
        try (StorageBackend backend = registry.open(URI.create("mem:z?size=5000&fill=zero"))) {
            assertArrayEquals(new byte[5000], read(backend, 0, 5000));
        }
    }

    @Test
    void badGeneratedUrisAreClearErrors() {
        for (String bad : new String[] {"mem:x?size=abc", "mem:x?seed=1", "mem:x?size=10&colour=red", "mem:x?size=10&fill=ones"}) {
            var error = assertThrows(IllegalArgumentException.class, () -> registry.open(URI.create(bad)));
            assertTrue(error.getMessage().startsWith(bad) && error.getMessage().contains("size"), error.getMessage());
        }
    }

    @Test
    void aMissingNamedObjectSaysHowToMakeOne() {
        var error = assertThrows(NoSuchFileException.class, () -> registry.open(URI.create("mem:nothing-here")));
        assertTrue(error.getMessage().contains("mem:nothing-here?size="), error.getMessage());
    }

    @Test
    void aWritableObjectTakesWritesAndAReadOnlyOneRefusesThem() throws Exception {
        URI uri = MemoryObjects.createWritable("writable", 8192);
        try (StorageBackend backend = registry.open(uri)) {
            assertTrue(backend.capabilities().contains(Capability.WRITE));
            backend.write(4090, MemorySegment.ofArray(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
            assertArrayEquals(new byte[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0}, read(backend, 4089, 12));
        }
        try (StorageBackend readOnly = registry.open(MemoryObjects.put("read-only", new byte[10]))) {
            assertThrows(UnsupportedOperationException.class, () -> readOnly.write(0, MemorySegment.ofArray(new byte[1])));
        }
    }

    @Test
    void aRemovedObjectStaysReadableThroughBackendsAlreadyOpen() throws Exception {
        byte[] content = {9, 8, 7};
        URI uri = MemoryObjects.put("removed", content);
        try (StorageBackend backend = registry.open(uri)) {
            assertTrue(MemoryObjects.remove("removed"));
            assertArrayEquals(content, read(backend, 0, 3));
            assertThrows(NoSuchFileException.class, () -> registry.open(uri));
        }
    }
}
