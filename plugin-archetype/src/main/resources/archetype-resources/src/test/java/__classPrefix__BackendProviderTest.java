package ${package};

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the kit does not check: how the plugin is found, and its errors. */
class ${classPrefix}BackendProviderTest {
    @TempDir
    Path storage;

    @Test
    void serviceLoaderFindsThisProviderForItsSchemeAndItReadsTheObject() throws Exception {
        byte[] content = {1, 2, 3, 4, 5};
        URI uri = ${classPrefix}BackendContractTest.uriOf(Files.write(storage.resolve("found"), content));
        BackendRegistry registry = BackendRegistry.load();
        assertInstanceOf(${classPrefix}BackendProvider.class, registry.provider(uri),
                "the provider of " + uri + " (META-INF/services/dev.anymap.spi.BackendProvider)");
        try (StorageBackend backend = registry.open(uri, Map.of())) {
            byte[] read = new byte[content.length];
            backend.read(0, MemorySegment.ofArray(read));
            assertArrayEquals(content, read);
        }
    }

    @Test
    void aMissingObjectFailsAtOpenNamingTheUri() {
        URI uri = ${classPrefix}BackendContractTest.uriOf(storage.resolve("missing"));
        NoSuchFileException failure = assertThrows(NoSuchFileException.class,
                () -> new ${classPrefix}BackendProvider().open(uri, Map.of()));
        assertTrue(failure.getMessage().contains(uri.toString()), failure.getMessage());
    }

    @Test
    void aUriOfAnotherFormIsRefusedSayingWhichFormToWrite() {
        URI uri = URI.create(${classPrefix}BackendProvider.SCHEME + "://host/file");
        IllegalArgumentException failure = assertThrows(IllegalArgumentException.class,
                () -> new ${classPrefix}BackendProvider().open(uri, Map.of()));
        assertTrue(failure.getMessage().contains(${classPrefix}BackendProvider.SCHEME + ":/ABSOLUTE/PATH"), failure.getMessage());
    }

    @Test
    void anObjectChangedAfterOpenFailsTheReadInsteadOfMixingVersions() throws Exception {
        Path file = Files.write(storage.resolve("changed"), new byte[] {1, 2, 3});
        try (StorageBackend backend = new ${classPrefix}BackendProvider().open(${classPrefix}BackendContractTest.uriOf(file), Map.of())) {
            Files.write(file, new byte[] {7, 8, 9, 10});
            Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(60)));
            assertThrows(ObjectChangedException.class, () -> backend.read(0, MemorySegment.ofArray(new byte[3])));
            assertEquals(3, backend.size(), "the size fixed at open");
        }
    }
}
