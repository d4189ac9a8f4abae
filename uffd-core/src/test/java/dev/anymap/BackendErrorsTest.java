package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.testbackend.FaultyBackendProvider;
import dev.anymap.testbackend.ReferenceContent;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A backend plugin that throws an Error (a class missing from its jar, an allocation refused) or a
 * message longer than a packet, or a map that the server cannot hold, fails the request it was
 * serving, with its cause named: nothing waits for ever, and the page server serves on. The timeouts end a test that would hang instead,
 * on a thread of their own, since a thread waiting on a page fault cannot be interrupted.
 */
class BackendErrorsTest extends WithPageServer {
    private static final int CHUNK = 64 * 1024;
    private static final MapOptions OPTIONS = MapOptions.defaults().withChunkSize(CHUNK);

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void anErrorThrownByAnOpenFailsTheMapAndLaterMapsAreStillAnswered() throws Exception {
        URI broken = URI.create("faulty:error-at-open?size=1048576&seed=11&openerror=1");
        // More than a client's maps at once: a failed map that kept its place would leave none for the last.
        for (int i = 0; i < 20; i++) {
            IOException failure = assertThrows(IOException.class, () -> anymap.map(broken, OPTIONS));
            assertTrue(failure.getMessage().contains("NoClassDefFoundError: " + FaultyBackendProvider.MISSING_CLASS),
                    failure.getMessage());
        }
        try (MappedRegion region = anymap.map(URI.create("faulty:after-errors?size=1048576&seed=12"), OPTIONS)) {
            assertArrayEquals(ReferenceContent.bytes(1 << 20, 12, 0, 4096), actual(region.segment(), 0, 4096));
        }
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void anErrorThrownByAReadFailsItsChunkAndLeavesTheRestReadable() throws Exception {
        long size = 4 << 20;
        long bad = 1 << 20;
        URI uri = URI.create("faulty:error-at-read?size=" + size + "&seed=13&error=" + bad);
        try (MappedRegion region = anymap.map(uri, OPTIONS)) {
            IOException failure = assertThrows(IOException.class, () -> region.load(bad, 4096));
            assertTrue(failure.getMessage().contains("NoClassDefFoundError: " + FaultyBackendProvider.MISSING_CLASS),
                    failure.getMessage());
            assertThrows(InternalError.class, () -> region.segment().get(ValueLayout.JAVA_BYTE, bad + 7),
                    "a touch of the failed chunk from Java");
            assertArrayEquals(ReferenceContent.bytes(size, 13, bad + CHUNK, 4096), actual(region.segment(), bad + CHUNK, 4096));
            assertArrayEquals(ReferenceContent.bytes(size, 13, 0, 4096), actual(region.segment(), 0, 4096));
        }
    }

    /**
     * A backend's message may hold a whole HTTP error page: the map's answer, and the region's last
     * failure that a failed load asks for, are cut to fit a packet. Refused, the map's answer never
     * came, and the stats answer ended the connection, and with it every region of the process.
     */
    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void failuresWithMessagesLongerThanAPacketAreAnsweredCut() throws Exception {
        IOException mapFailure = assertThrows(IOException.class,
                () -> anymap.map(URI.create("faulty:long-open-error?size=1048576&seed=16&openerror=1&pad=40000"), OPTIONS));
        assertTrue(mapFailure.getMessage().contains(FaultyBackendProvider.MISSING_CLASS) && mapFailure.getMessage().endsWith("..."),
                mapFailure.getMessage().length() + " characters");
        long size = 4 << 20;
        long bad = 2 << 20;
        try (MappedRegion region = anymap.map(URI.create("faulty:long-read-error?size=" + size + "&seed=17&fail=" + bad + "&pad=40000"),
                OPTIONS)) {
            IOException loadFailure = assertThrows(IOException.class, () -> region.load(bad, 4096));
            assertTrue(loadFailure.getMessage().contains("injected failure"), loadFailure.getMessage().length() + " characters");
            assertTrue(region.stats().lastFailure().endsWith("..."));
            assertArrayEquals(ReferenceContent.bytes(size, 17, bad + CHUNK, 4096), actual(region.segment(), bad + CHUNK, 4096));
        }
    }

    /**
     * An object of more chunks than a page server keeps a table for (2^31 chunks of 4 KiB here) fails
     * its map with the chunk size that would do, and leaves none of the memory made for it open; the
     * server serves on.
     */
    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void anObjectOfTooManyChunksFailsItsMapNamingAChunkSizeThatServesItAndLeavesNoMemoryOpen() throws Exception {
        long size = 1L << 43;
        URI uri = URI.create("faulty:huge?size=" + size + "&seed=14");
        try (Anymap own = Anymap.open(TestServers.privateServer())) {
            long server = own.serverStatus().serverPid();
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                    () -> own.map(uri, MapOptions.defaults().withChunkSize(4096)));
            assertTrue(refused.getMessage().contains("chunks of at least 131072 bytes"), refused.getMessage());
            assertEquals(List.of(), memoryFiles(server), "memory files the page server holds after the refused map");
            try (MappedRegion region = own.map(URI.create("faulty:after-huge?size=1048576&seed=15"), OPTIONS)) {
                assertArrayEquals(ReferenceContent.bytes(1 << 20, 15, 4096, 4096), actual(region.segment(), 4096, 4096));
            }
        }
    }

    /** The memory files of page server {@code pid}'s cache that it holds open. */
    private static List<String> memoryFiles(long pid) throws IOException {
        try (var descriptors = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return descriptors.map(descriptor -> {
                try {
                    return Files.readSymbolicLink(descriptor).toString();
                } catch (IOException closedMeanwhile) {
                    return "";
                }
            }).filter(target -> target.startsWith("/memfd:anymap-")).toList();
        }
    }
}
