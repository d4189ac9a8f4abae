package dev.anymap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Objects whose backend has a local file ({@code file:}, an archive entry spooled by VFS, an HTTP
 * resource downloaded whole) are mapped by the kernel: nothing is fetched, and the bytes are the
 * file's. A {@code file:} object is opened by the mapping process itself, with no page server; a
 * spool or a download is the page server's, which hands over its file and serves no fault.
 */
class KernelMappingTest extends WithPageServer {
    private static final int SIZE = 3 * (1 << 20) + 12_345;

    @TempDir
    Path dir;

    private static byte[] content(long seed, int size) {
        byte[] bytes = new byte[size];
        new SplittableRandom(seed).nextBytes(bytes);
        return bytes;
    }

    private Path file(String name, byte[] content) throws IOException {
        Path file = dir.resolve(name);
        Files.write(file, content);
        return file;
    }

    /** Every byte of the region, read through Java accesses of the segment. */
    private static byte[] all(MappedRegion region) {
        return actual(region.segment(), 0, (int) region.size());
    }

    private static void assertNothingFetched(MappedRegion region) throws IOException {
        RegionStats stats = region.stats();
        assertEquals(0, stats.faults(), "faults the page server served");
        assertEquals(0, stats.bytesFetched(), "bytes the page server fetched");
    }

    @Test
    void aLocalFileIsMappedByTheKernelWithNoFaultServedAndReadsAsTheFile() throws Exception {
        Path file = file("local.bin", content(1, SIZE));
        try (MappedRegion region = anymap.map(file.toUri())) {
            assertTrue(region.kernelMapped(), "a file: region is mapped by the kernel");
            assertTrue(region.segment().isReadOnly());
            assertArrayEquals(Files.readAllBytes(file), all(region));
            assertNothingFetched(region);
            assertEquals(0, region.trace().chunks().length, "no page server sees an access to record");
        }
    }

    @Test
    void aFileIsMappedByThisProcessWithNoPageServerStartedNorAsked() throws Exception {
        byte[] original = content(11, SIZE);
        Path file = file("serverless.bin", original);
        AnymapConfig own = TestServers.privateServer();
        try (Anymap mine = Anymap.open(own); MappedRegion region = mine.map(file.toUri())) {
            assertTrue(region.kernelMapped());
            assertArrayEquals(original, all(region));
            assertNothingFetched(region);
            assertTrue(TestServers.startedServer(own).isEmpty(), "no page server was started for a file");
            assertFalse(Files.exists(own.socket()), "nothing listens, nor was asked to, at " + own.socket());
        }
        // With no server to reach at all, a file still maps; what needs a server says it is missing.
        AnymapConfig nobody = TestServers.privateServer().withAutoStart(false);
        try (Anymap mine = Anymap.open(nobody); MappedRegion region = mine.map(file.toUri())) {
            assertArrayEquals(original, all(region));
            IOException needsServer = assertThrows(IOException.class, () -> mine.map(URI.create("mem:needs-a-server?size=4096")));
            assertTrue(needsServer.getMessage().contains("no page server listens at " + nobody.socket()), needsServer.getMessage());
        }
    }

    @Test
    void aFileThisProcessMappedIsInNoServersStatus() throws Exception {
        Path file = file("unlisted.bin", content(12, SIZE));
        try (MappedRegion region = anymap.map(file.toUri())) {
            assertTrue(region.kernelMapped());
            assertTrue(anymap.serverStatus().regions().stream().noneMatch(r -> r.uri().contains("unlisted.bin")),
                    "the page server never heard of it");
            region.segment().get(ValueLayout.JAVA_BYTE, SIZE - 1);
        }
    }

    @Test
    void anEmptyFileMapsToAnEmptySegmentWithNoPageServer() throws Exception {
        Path file = file("empty.bin", new byte[0]);
        AnymapConfig nobody = TestServers.privateServer().withAutoStart(false);
        try (Anymap mine = Anymap.open(nobody); MappedRegion region = mine.map(file.toUri())) {
            assertEquals(0, region.size());
            assertTrue(region.kernelMapped());
            region.load(0, 0);
            assertNothingFetched(region);
        }
    }

    @Test
    void aMissingFileOrADirectoryFailsTheMapAsThePageServerWouldHaveAnswered() throws Exception {
        AnymapConfig own = TestServers.privateServer();
        try (Anymap mine = Anymap.open(own)) {
            URI missing = dir.resolve("missing.bin").toUri();
            NoSuchFileException direct = assertThrows(NoSuchFileException.class, () -> dev.anymap.spi.BackendRegistry.load().open(missing));
            NoSuchFileException mapped = assertThrows(NoSuchFileException.class, () -> mine.map(missing));
            // A page server's failure reaches the client as a NoSuchFileException on the URI, with the backend's message, the URI once.
            assertEquals(direct.getMessage(), mapped.getMessage());
            Files.createDirectory(dir.resolve("a directory"));
            IllegalArgumentException directory = assertThrows(IllegalArgumentException.class,
                    () -> mine.map(dir.resolve("a directory").toUri()));
            assertTrue(directory.getMessage().contains("is a directory, not a file"), directory.getMessage());
            IllegalArgumentException option = assertThrows(IllegalArgumentException.class,
                    () -> mine.map(file("option.bin", new byte[10]).toUri(), MapOptions.defaults().withBackendOptions(Map.of("colour", "red"))));
            assertTrue(option.getMessage().contains("option 'colour' is not one the 'file' backend understands"), option.getMessage());
            assertTrue(TestServers.startedServer(own).isEmpty(), "no page server was started to find that out");
        }
    }

    @Test
    void aFileMapsAtTheVersionItsBackendReportsToTheNanosecond() throws Exception {
        Path file = file("versioned.bin", content(14, SIZE));
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.from(java.time.Instant.parse("2026-01-02T03:04:05.123456789Z")));
        try (MappedRegion region = anymap.map(file.toUri());
                dev.anymap.spi.StorageBackend backend = dev.anymap.spi.BackendRegistry.load().open(file.toUri())) {
            assertTrue(region.kernelMapped());
            assertEquals(backend.version(), region.version());
            assertEquals(backend.size(), region.size());
        }
    }

    /** The version is made only when asked, from what the map saw: a file touched since does not move it. */
    @Test
    void aFileRegionsVersionIsTheOneAtMapTimeWhenAskedAfterTheFileChanged() throws Exception {
        Path file = file("touched.bin", content(15, SIZE));
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.from(java.time.Instant.parse("2026-01-02T03:04:05Z")));
        dev.anymap.spi.ObjectVersion atMap;
        try (dev.anymap.spi.StorageBackend backend = dev.anymap.spi.BackendRegistry.load().open(file.toUri())) {
            atMap = backend.version();
        }
        try (MappedRegion region = anymap.map(file.toUri())) {
            Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.from(java.time.Instant.parse("2026-06-07T08:09:10Z")));
            assertEquals(atMap, region.version());
            assertEquals(atMap.toString(), region.trace().objectVersion());
        }
    }

    @Test
    void aFifoOrAFileThisProcessMayNotWriteFailsTheMapAndNothingWaits() throws Exception {
        Path fifo = dir.resolve("fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
        // No writer ever opens the FIFO: an open that waited for one would hang the map.
        IllegalArgumentException notAFile = assertTimeoutPreemptively(java.time.Duration.ofSeconds(30),
                () -> assertThrows(IllegalArgumentException.class, () -> anymap.map(fifo.toUri())));
        assertTrue(notAFile.getMessage().contains(fifo.toUri().toString()), notAFile.getMessage());
        // Immutable, which even root may not write, where the file system has the flag (ext4, xfs, btrfs).
        Path immutable = file("immutable.bin", content(15, 1000));
        org.junit.jupiter.api.Assumptions.assumeTrue(new ProcessBuilder("chattr", "+i", immutable.toString()).inheritIO().start().waitFor() == 0,
                "chattr +i works on " + dir);
        try {
            java.nio.file.AccessDeniedException denied = assertThrows(java.nio.file.AccessDeniedException.class,
                    () -> anymap.map(immutable.toUri(), MapOptions.defaults().withWritable(true)));
            assertTrue(denied.getMessage().contains("may not write") && denied.getMessage().contains("chattr -i"), denied.getMessage());
        } finally {
            new ProcessBuilder("chattr", "-i", immutable.toString()).inheritIO().start().waitFor();
        }
    }

    @Test
    void aFileThisProcessMayNotReadIsAccessDenied() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.anymap.linux.Libc.getuid() == 0, "root reads every file");
        Path file = file("unreadable.bin", content(13, 1000));
        Files.setPosixFilePermissions(file, java.util.Set.of());
        java.nio.file.AccessDeniedException denied = assertThrows(java.nio.file.AccessDeniedException.class, () -> anymap.map(file.toUri()));
        assertTrue(denied.getMessage().contains(file.toUri().toString()) && denied.getMessage().contains("permission denied"),
                denied.getMessage());
    }

    /** A zip archive in the test's directory holding {@code entry} at dir/entry.bin, and the URI of that entry. */
    private URI zipEntry(String name, byte[] entry) throws IOException {
        Path zip = dir.resolve(name);
        try (ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(zip))) {
            out.putNextEntry(new ZipEntry("dir/entry.bin"));
            out.write(entry);
            out.closeEntry();
        }
        return URI.create("zip:" + zip.toUri() + "!/dir/entry.bin");
    }

    @Test
    void anArchiveEntryIsMappedByTheKernelFromItsSpooledCopy() throws Exception {
        byte[] entry = content(2, SIZE);
        try (MappedRegion region = anymap.map(zipEntry("archive.zip", entry))) {
            assertTrue(region.kernelMapped(), "an archive entry is mapped by the kernel");
            assertArrayEquals(entry, all(region));
            assertNothingFetched(region);
        }
    }

    @Test
    void anHttpResourceDownloadedWholeIsMappedByTheKernel() throws Exception {
        byte[] body = content(3, SIZE);
        AtomicInteger gets = new AtomicInteger();
        // A server that ignores Range (it answers every GET with the whole body): the backend downloads it whole when allowed to.
        ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().start(() -> {
            while (!server.isClosed()) {
                try (Socket client = server.accept()) {
                    BufferedReader in = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.ISO_8859_1));
                    String method = in.readLine().split(" ")[0];
                    while (!in.readLine().isEmpty()) {
                        // the headers, Range among them, are ignored
                    }
                    OutputStream out = client.getOutputStream();
                    out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\nETag: \"v1\"\r\n"
                            + "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                    if (method.equals("GET")) {
                        gets.incrementAndGet();
                        out.write(body);
                    }
                    out.flush();
                } catch (IOException | RuntimeException closed) {
                    // the test has ended, or a client went away
                }
            }
        });
        try {
            URI uri = URI.create("http://127.0.0.1:" + server.getLocalPort() + "/whole.bin");
            MapOptions options = MapOptions.defaults().withBackendOptions(Map.of("allow-full-download", "true"));
            try (MappedRegion region = anymap.map(uri, options)) {
                assertTrue(region.kernelMapped(), "a whole download is mapped by the kernel");
                assertArrayEquals(body, all(region));
                assertNothingFetched(region);
                assertEquals(1, gets.get(), "one download, at map; no read after it");
            }
        } finally {
            server.close();
        }
    }

    @Test
    void aWritableRegionIsTheFileItselfAsFileChannelMapsItForWriting() throws Exception {
        byte[] original = content(4, SIZE);
        Path file = file("writable.bin", original);
        byte[] written = new byte[100_000];
        Arrays.fill(written, (byte) 0x5A);
        byte[] expected = original.clone();
        System.arraycopy(written, 0, expected, 1_000_000, written.length);
        expected[SIZE - 1] = (byte) ~original[SIZE - 1];
        try (MappedRegion writable = anymap.map(file.toUri(), MapOptions.defaults().withWritable(true));
                MappedRegion readOnly = anymap.map(file.toUri())) {
            assertTrue(writable.kernelMapped());
            assertFalse(writable.segment().isReadOnly());
            MemorySegment.copy(written, 0, writable.segment(), ValueLayout.JAVA_BYTE, 1_000_000, written.length);
            writable.segment().set(ValueLayout.JAVA_BYTE, SIZE - 1, (byte) ~original[SIZE - 1]);
            assertArrayEquals(expected, all(writable), "the region reads its own writes");
            assertArrayEquals(expected, all(readOnly), "another region of the file shares its pages, as two MAP_SHARED mappings do");
            writable.flush();
            assertArrayEquals(expected, Files.readAllBytes(file), "the file after the flush");
        }
        assertArrayEquals(expected, Files.readAllBytes(file), "and after close");
    }

    @Test
    void aFileTruncatedUnderTheMappingFailsTheAccessPastItsEndAndTheLoadSaysWhy() throws Exception {
        Path file = file("truncated.bin", content(5, SIZE));
        try (MappedRegion region = anymap.map(file.toUri())) {
            assertTrue(region.kernelMapped());
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                channel.truncate(1 << 20);
            }
            assertEquals(Files.readAllBytes(file)[1000], region.segment().get(ValueLayout.JAVA_BYTE, 1000), "before the new end");
            assertThrows(InternalError.class, () -> region.segment().get(ValueLayout.JAVA_BYTE, 2L << 20));
            IOException failed = assertThrows(IOException.class, () -> region.load(0, region.size()));
            assertTrue(failed.getMessage().contains("truncated"), failed.getMessage());
        }
    }

    @Test
    void loadCopyToAndPrefetchWorkOnAKernelMappedRegion() throws Exception {
        byte[] original = content(6, SIZE);
        Path file = file("load.bin", original);
        try (MappedRegion region = anymap.map(file.toUri()); Arena arena = Arena.ofConfined()) {
            assertTrue(region.kernelMapped());
            region.prefetch(new AccessTrace(region.size(), region.version().toString(), 1 << 16, new int[] {3, 1, 40}));
            region.load(0, region.size());
            MemorySegment copy = arena.allocate(SIZE - 7);
            region.copyTo(7, copy);
            assertArrayEquals(Arrays.copyOfRange(original, 7, SIZE), copy.toArray(ValueLayout.JAVA_BYTE));
            assertNothingFetched(region);
        }
    }

    @Test
    void theServerListsAKernelMappedRegionOfItsOwnSpoolAsSuchUntilItIsClosed() throws Exception {
        URI entry = zipEntry("status.zip", content(7, SIZE));
        long regionId;
        try (MappedRegion region = anymap.map(entry)) {
            regionId = region.serverRegionId();
            ServerStatus.Region listed = anymap.serverStatus().regions().stream().filter(r -> r.regionId() == regionId)
                    .findFirst().orElseThrow();
            assertTrue(listed.kernelMapped(), "listed as mapped by the kernel");
            assertEquals(ProcessHandle.current().pid(), listed.clientPid());
            assertEquals(SIZE, listed.size());
            assertEquals(region.version().toString(), listed.version());
            assertEquals(0, listed.stats().bytesFetched());
            assertEquals(0, anymap.trace(regionId).chunks().length);
            assertThrows(IllegalArgumentException.class, () -> anymap.residentChunks(regionId));
        }
        assertTrue(anymap.serverStatus().regions().stream().noneMatch(r -> r.regionId() == regionId), "gone once closed");
    }

    @Test
    void aKernelMappedRegionReadsOnThroughTheDeathOfItsPageServer() throws Exception {
        byte[] original = content(8, SIZE);
        // An archive entry: the page server spools it and hands the spool over (a file: object never reaches a server).
        URI entry = zipEntry("kill.zip", original);
        AnymapConfig own = TestServers.privateServer();
        try (Anymap mine = Anymap.open(own)) {
            for (int i = 0; i < 4; i++) {
                mine.map(entry).close(); // so that the region's number is one a server that takes over gives again
            }
            MappedRegion region = mine.map(entry);
            assertTrue(region.kernelMapped());
            ProcessHandle server = ProcessHandle.of(mine.serverStatus().serverPid()).orElseThrow();
            assertTrue(server.destroyForcibly());
            server.onExit().get(30, TimeUnit.SECONDS);

            assertArrayEquals(original, all(region), "read after the server's death");
            assertNothingFetched(region);
            // The server that takes over serves the link; it never knew the region, and may give its number to another.
            long newServer = mine.serverStatus().serverPid();
            assertTrue(newServer != server.pid());
            java.util.List<MappedRegion> others = new java.util.ArrayList<>();
            try {
                MappedRegion sameNumber = null;
                for (int i = 0; i < 16 && sameNumber == null; i++) {
                    MappedRegion other = mine.map(URI.create("mem:after-kill-" + i + "?size=1048576&seed=9"));
                    others.add(other);
                    sameNumber = other.serverRegionId() == region.serverRegionId() ? other : null;
                }
                assertTrue(sameNumber != null, "the server that took over gave the kernel-mapped region's number to a region of its own");
                region.close(); // must not unmap the new server's region of the same number
                assertEquals(0, sameNumber.stats().failures(), "the new server still serves the region mapped on it");
                sameNumber.segment().get(ValueLayout.JAVA_BYTE, 123);
            } finally {
                for (MappedRegion other : others) {
                    other.close();
                }
            }
            assertThrows(IllegalStateException.class, () -> region.segment().get(ValueLayout.JAVA_BYTE, 0));
        }
    }
}
