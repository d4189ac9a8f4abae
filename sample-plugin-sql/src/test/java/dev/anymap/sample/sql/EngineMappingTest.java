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
        withPageServer(config -> mapAndCompare(config, server.uri(table, "model"), content));
    }

    /** Writes to a writable mapping reach the row at flush, and at close; a created row starts as zeros. */
    @Test
    void writesToAMappedRowAreInTheTableAfterFlushAndClose() throws Exception {
        byte[] model = TestContent.random(49, (4 << 20) + 321);
        String table = Tables.create(server, "written");
        Tables.put(server, table, "record", model);
        withPageServer(config -> {
            MapOptions writable = MapOptions.defaults().withBackendOptions(server.login()).withWritable(true);
            try (Anymap anymap = Anymap.open(config)) {
                try (MappedRegion region = anymap.map(server.uri(table, "record"), writable)) {
                    var before = region.version();
                    for (long offset : new long[] {0, 4095, 256 << 10, (4 << 20) + 320}) {
                        byte value = (byte) (offset * 31 + 7);
                        region.segment().set(ValueLayout.JAVA_BYTE, offset, value);
                        model[(int) offset] = value;
                    }
                    var flushed = region.flush();
                    assertTrue(!flushed.equals(before), flushed + " after " + before);
                    assertEquals(-1, java.util.Arrays.mismatch(model, Tables.get(server, table, "record")), "first differing byte");
                    region.segment().set(ValueLayout.JAVA_BYTE, 100, (byte) 1);
                    model[100] = 1;
                }
                assertEquals(-1, java.util.Arrays.mismatch(model, Tables.get(server, table, "record")), "after close");

                int size = 300_000;
                try (MappedRegion created = anymap.create(server.uri(table, "new"), size, writable)) {
                    created.segment().set(ValueLayout.JAVA_BYTE, size - 1, (byte) 9);
                }
                byte[] expected = new byte[size];
                expected[size - 1] = 9;
                assertEquals(-1, java.util.Arrays.mismatch(expected, Tables.get(server, table, "new")), "the created row");
            }
        });
    }

    @FunctionalInterface
    private interface WithConfig {
        void run(AnymapConfig config) throws Exception;
    }

    private static void withPageServer(WithConfig test) throws Exception {
        Path directory = Files.createTempDirectory("pgblob-anymap-");
        Files.delete(directory); // the page server makes it, with mode 0700
        AnymapConfig config = AnymapConfig.defaults().withSocket(directory.resolve("server.sock"))
                .withServerIdleExit(Duration.ofSeconds(1));
        try {
            test.run(config);
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
