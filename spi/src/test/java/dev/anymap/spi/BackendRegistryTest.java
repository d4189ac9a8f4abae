package dev.anymap.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BackendRegistryTest {

    /** A provider that only records which one was picked; its objects are never read. */
    record NamedProvider(String name, Set<String> schemes, int priority, Set<String> supportedOptions) implements BackendProvider {
        NamedProvider(String name, String scheme, int priority) {
            this(name, Set.of(scheme), priority, Set.of("region", "secret-key"));
        }

        @Override
        public Set<String> secretOptions() {
            return Set.of("secret-key");
        }

        @Override
        public StorageBackend open(URI uri, Map<String, String> options) {
            return new StorageBackend() {
                @Override public URI uri() { return uri; }
                @Override public long size() { return 0; }
                @Override public ObjectVersion version() { return ObjectVersion.generation(0); }
                @Override public void read(long offset, MemorySegment target) throws IOException {
                    OutOfRangeException.check(uri, offset, target.byteSize(), 0);
                }
                @Override public void close() {}
            };
        }
    }

    @Test
    void findsProvidersThroughServiceLoaderOnTheClassPath() {
        BackendRegistry registry = BackendRegistry.load(getClass().getClassLoader());
        assertTrue(registry.schemes().contains("test"), registry.schemes().toString());
        assertEquals("service-loaded", registry.provider(URI.create("test:x")).name());
    }

    @Test
    void picksTheHighestPriorityAndHonoursAPreference() {
        var low = new NamedProvider("low", "s3", 0);
        var high = new NamedProvider("high", "s3", 10);
        BackendRegistry registry = BackendRegistry.of(List.of(low, high));
        assertSame(high, registry.provider(URI.create("s3://bucket/key")));
        assertSame(low, registry.prefer("s3", "low").provider(URI.create("S3://bucket/key")));
        var error = assertThrows(IllegalArgumentException.class,
                () -> registry.prefer("s3", "missing").provider(URI.create("s3://b/k")));
        assertTrue(error.getMessage().contains("missing") && error.getMessage().contains("low"), error.getMessage());
    }

    @Test
    void anUnknownSchemeListsTheAvailableSchemesAndWhereTheyCameFrom() {
        BackendRegistry registry = BackendRegistry.of(List.of(new NamedProvider("file", "file", 0)));
        var error = assertThrows(UnknownSchemeException.class, () -> registry.provider(URI.create("gopher://host/x")));
        assertTrue(error.getMessage().contains("gopher://host/x"), error.getMessage());
        assertTrue(error.getMessage().contains("file (file, from test-classes)"), error.getMessage());
    }

    @Test
    void refusesAnOptionTheProviderDoesNotUnderstand() {
        BackendRegistry registry = BackendRegistry.of(List.of(new NamedProvider("s3", "s3", 0)));
        var error = assertThrows(IllegalArgumentException.class,
                () -> registry.open(URI.create("s3://b/k"), Map.of("regoin", "eu-west-1")));
        assertTrue(error.getMessage().contains("regoin") && error.getMessage().contains("region"), error.getMessage());
    }

    @Test
    void redactsSecretOptions() {
        var provider = new NamedProvider("s3", "s3", 0);
        assertEquals(Map.of("region", "eu", "secret-key", "****"), provider.redact(Map.of("region", "eu", "secret-key", "hunter2")));
    }

    @Test
    void turnsPlainPathsIntoFileUrisAndKeepsUris() {
        assertEquals(URI.create("s3://bucket/a%20b"), BackendRegistry.toUri("s3://bucket/a%20b"));
        assertEquals(Path.of("/tmp/a b [1].bin").toUri(), BackendRegistry.toUri("/tmp/a b [1].bin"));
        assertEquals(Path.of("rel.bin").toAbsolutePath().toUri(), BackendRegistry.toUri("rel.bin"));
        assertEquals(Path.of("./data/x.bin").toAbsolutePath().toUri(), BackendRegistry.toUri("./data/x.bin"));
    }

    @Test
    void textThatStartsAsAUriButDoesNotParseIsABadUriNotAPath() {
        for (String[] bad : new String[][] {{"s3://", "character 6 (the end)"}, {"http://", "character 8 (the end)"},
                {"s3://bucket/my key.bin", "character 15 (' ')"}, {"mem:a b", "character 6 (' ')"}}) {
            var error = assertThrows(IllegalArgumentException.class, () -> BackendRegistry.toUri(bad[0]));
            assertTrue(error.getMessage().startsWith("'" + bad[0] + "' is not a valid URI") && error.getMessage().contains(bad[1])
                    && error.getMessage().contains("%20"), error.getMessage());
        }
    }
}
