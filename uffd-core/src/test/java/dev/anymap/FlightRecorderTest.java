package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FlightRecorderTest {

    @Test
    void thePageServerRecordsItsFaultsAndFetches(@TempDir Path directory) throws Exception {
        Path recording = directory.resolve("server.jfr");
        AnymapConfig config = TestServers.privateServer()
                .withServerJvmOptions(List.of("-XX:StartFlightRecording:filename=" + recording + ",dumponexit=true"));
        long size = 8 << 20;
        URI uri = URI.create("faulty:recorded?size=" + size + "&seed=5&fail=" + (7 << 20));
        ProcessHandle server;
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(uri, MapOptions.defaults().withChunkSize(256 * 1024))) {
            server = TestServers.startedServer(config).orElseThrow();
            for (long offset = 0; offset < (6 << 20); offset += 4096) {
                region.segment().get(ValueLayout.JAVA_BYTE, offset);
            }
        }
        server.onExit().get(30, TimeUnit.SECONDS);

        List<RecordedEvent> events = RecordingFile.readAllEvents(recording);
        List<RecordedEvent> fetches = events.stream().filter(e -> e.getEventType().getName().equals("dev.anymap.Fetch")).toList();
        List<RecordedEvent> faults = events.stream().filter(e -> e.getEventType().getName().equals("dev.anymap.Fault")).toList();
        assertTrue(fetches.stream().anyMatch(e -> !e.getBoolean("prefetch")), "demand fetches");
        // A readahead's read, or the demand read that took it over when the scan got there first.
        assertTrue(fetches.stream().anyMatch(e -> e.getInt("chunks") > 1), "coalesced reads");
        assertTrue(fetches.stream().allMatch(e -> e.getString("uri").equals(uri.toString()) && e.getString("backend").equals("faulty")));
        // A read that fails part-way counts the chunks it brought before it failed.
        long fetched = fetches.stream().mapToLong(e -> e.getLong("bytes")).sum();
        assertTrue(fetched >= 6 << 20, "fetched " + fetched + " bytes for 6 MiB read");
        assertTrue(!faults.isEmpty() && faults.stream().allMatch(e -> List.of("fetch", "merged", "held", "present")
                .contains(e.getString("outcome"))), faults.size() + " faults");
        assertEquals(0, fetches.stream().filter(e -> e.getDuration().isNegative()).count());
    }
}
