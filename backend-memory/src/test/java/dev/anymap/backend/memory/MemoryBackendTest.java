package dev.anymap.backend.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
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
    void aGeneratedObjectCannotBeWrittenOrCreatedAndSaysWhatCan() throws Exception {
        URI generated = MemoryObjects.generatedUri("generated-read-only", 8192, 3);
        UnsupportedOperationException write = assertThrows(UnsupportedOperationException.class,
                () -> registry.openForWriting(generated, Map.of()));
        assertTrue(write.getMessage().contains(generated.toString()) && write.getMessage().contains("mem:NAME"), write.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> registry.create(generated, 8192, Map.of()));
        try (StorageBackend backend = registry.open(generated)) {
            assertFalse(backend.capabilities().contains(Capability.WRITE));
            byte[] expected = new byte[8192];
            MemoryObjects.generatedContent(3).fill(0, MemorySegment.ofArray(expected));
            assertArrayEquals(expected, read(backend, 0, 8192), "a generated object's bytes, unwritten");
        }
    }

    @Test
    void aBackendOpenOnTheOldVersionKeepsReadingItAfterACommit() throws Exception {
        byte[] content = {1, 2, 3, 4};
        URI uri = MemoryObjects.put("versions", content);
        try (StorageBackend reader = registry.open(uri); StorageBackend writer = registry.openForWriting(uri, Map.of())) {
            MemorySegment view = reader.view().orElseThrow();
            byte[] next = {1, 9, 9, 4};
            writer.commit(Changes.of(writer.version(), List.of(new ByteRange(1, 2)), MemorySegment.ofArray(next), "t"));
            assertArrayEquals(content, read(reader, 0, 4), "the old version's reads");
            assertArrayEquals(content, view.toArray(ValueLayout.JAVA_BYTE), "the old version's view");
            assertArrayEquals(next, MemoryObjects.storedBytes("versions"), "the stored bytes");
            assertNotEquals(reader.version(), writer.version());
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
