package dev.anymap.sample.sql;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.spi.testkit.TestContent;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A row mapped through the engine, as a user would: the page server is a child JVM started on this
 * JVM's class path, which holds the plugin and the JDBC driver, and its faults are served by
 * substring reads of the row.
 */
@ExtendWith(TestPostgres.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class EngineMappingTest {
    private final TestPostgres.Server server;

    EngineMappingTest(TestPostgres.Server server) {
        this.server = server;
    }

    @Test
    void aMappedRowReadsAsTheBytesThatWereInserted() throws Exception {
        int size = 48 << 20;
        byte[] content = TestContent.random(48, size + 1234);
        String table = Tables.create(server, "mapped");
        Tables.put(server, table, "model", content);

        Path directory = Files.createTempDirectory("pgblob-anymap-");
        Files.delete(directory); // the page server makes it, with mode 0700
        AnymapConfig config = AnymapConfig.defaults().withSocket(directory.resolve("server.sock"))
                .withServerIdleExit(Duration.ofSeconds(1));
        try {
            mapAndCompare(config, server.uri(table, "model"), content);
        } finally {
            // The page server's socket and log; the server itself exits a second after its last client.
            try (var files = Files.walk(directory)) {
                for (Path file : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(file);
                }
            }
        }
    }

    private void mapAndCompare(AnymapConfig config, java.net.URI uri, byte[] content) throws Exception {
        try (Anymap anymap = Anymap.open(config);
                MappedRegion region = anymap.map(uri,
                        MapOptions.defaults().withBackendOptions(server.login()))) {
            MemorySegment memory = region.segment();
            assertEquals(content.length, memory.byteSize());
            // Touch the end first, then the whole row in order: demand faults and readahead alike.
            assertEquals(content[content.length - 1], memory.get(ValueLayout.JAVA_BYTE, content.length - 1));
            byte[] mapped = memory.toArray(ValueLayout.JAVA_BYTE);
            int firstDifference = java.util.Arrays.mismatch(content, mapped);
            assertEquals(-1, firstDifference, "first differing byte");
            assertTrue(region.version().toString().startsWith("generation:xmin:"), region.version().toString());
            assertTrue(region.stats().bytesFetched() >= content.length, region.stats().toString());
        }
    }
}
