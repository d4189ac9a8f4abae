package dev.anymap.backend.file;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileBackendProviderTest {
    private final BackendRegistry registry = BackendRegistry.load();

    @TempDir
    Path dir;

    private static byte[] read(StorageBackend backend, long offset, int length) throws IOException {
        byte[] bytes = new byte[length];
        backend.read(offset, MemorySegment.ofArray(bytes));
        return bytes;
    }

    @Test
    void fileUrisGoToTheFileBackendAheadOfTheVfsFallback() {
        assertEquals("file", registry.provider(URI.create("file:///x")).name());
        assertTrue(registry.providers().stream().anyMatch(p -> p.name().equals("vfs")), "vfs is on the class path too");
    }

    @Test
    void aNameWithSpacesPercentSignsAndBracketsOpensAsAPlainPathAndAsAUri() throws Exception {
        byte[] content = TestContent.random(11, 10_000);
        Path file = Files.write(dir.resolve("a b%20c [1].bin"), content);
        URI fromPlainPath = BackendRegistry.toUri(file.toString());
        assertTrue(fromPlainPath.getRawPath().endsWith("a%20b%2520c%20%5B1%5D.bin"), fromPlainPath.toString());
        for (URI uri : new URI[] {fromPlainPath, file.toUri(), URI.create("file://localhost" + file.toUri().getRawPath())}) {
            try (StorageBackend backend = registry.open(uri)) {
                assertEquals(content.length, backend.size(), uri.toString());
                assertArrayEquals(content, read(backend, 0, content.length), uri.toString());
            }
        }
    }

    @Test
    void aMissingFileIsNoSuchFileNamingTheUri() {
        URI uri = dir.resolve("not here.bin").toUri();
        NoSuchFileException error = assertThrows(NoSuchFileException.class, () -> registry.open(uri));
        assertTrue(error.getMessage().contains(uri.toString()) && error.getMessage().contains("no such file"), error.getMessage());
    }

    @Test
    void aDirectoryIsRefusedAtOpenAsABadArgument() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> registry.open(dir.toUri()));
        assertTrue(error.getMessage().contains(dir.toUri().toString()) && error.getMessage().contains("is a directory"), error.getMessage());
    }

    @Test
    void anUnreadableFileIsAccessDeniedAtOpen() throws Exception {
        Path file = Files.write(dir.resolve("secret.bin"), new byte[10]);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("---------"));
        if (Files.isReadable(file)) {
            // root (CAP_DAC_OVERRIDE) reads whatever the permission bits say, so no file can be unreadable.
            String reason = "permission bits are not enforced for this user (root?): " + file + " is still readable";
            System.out.println("skipped anUnreadableFileIsAccessDeniedAtOpen: " + reason);
            Assumptions.abort(reason);
        }
        AccessDeniedException error = assertThrows(AccessDeniedException.class, () -> registry.open(file.toUri()));
        assertTrue(error.getMessage().contains(file.toUri().toString()), error.getMessage());
    }

    @Test
    void aUriThatIsNoLocalFileIsAClearError() {
        for (String bad : new String[] {"file://fileserver/share/x.bin", "file:relative/x.bin", "file:///tmp/x.bin?version=2"}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> registry.open(URI.create(bad)));
            assertTrue(error.getMessage().contains(bad) && error.getMessage().contains("file:///"), error.getMessage());
        }
    }

    @Test
    void theLocalFileNamedWithoutOpeningIsTheOneABackendOffersAndBadUrisAndOptionsAreRefusedAlike() throws Exception {
        Path file = Files.write(dir.resolve("named b%20.bin"), new byte[10]);
        try (StorageBackend backend = registry.open(file.toUri())) {
            assertEquals(backend.localFile(), registry.provider(file.toUri()).localFile(file.toUri(), Map.of()));
        }
        assertEquals(Path.of("/not/there.bin"), registry.provider(URI.create("file:///not/there.bin"))
                .localFile(URI.create("file:///not/there.bin"), Map.of()).orElseThrow(), "a path: nothing is opened to name it");
        for (String bad : new String[] {"file://fileserver/share/x.bin", "file:relative/x.bin", "file:///tmp/x.bin?version=2"}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> registry.provider(URI.create(bad)).localFile(URI.create(bad), Map.of()));
            assertTrue(error.getMessage().contains(bad), error.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> registry.provider(file.toUri()).localFile(file.toUri(), Map.of("colour", "red")));
    }

    @Test
    void anEmptyFileHasSizeZero() throws Exception {
        Path empty = Files.createFile(dir.resolve("empty.bin"));
        try (StorageBackend backend = registry.open(empty.toUri())) {
            assertEquals(0, backend.size());
            assertThrows(OutOfRangeException.class, () -> read(backend, 0, 1));
        }
    }

    @Test
    void theVersionIsTheModificationTimeAndSize() throws Exception {
        Path file = Files.write(dir.resolve("versioned.bin"), new byte[100]);
        Files.setLastModifiedTime(file, FileTime.from(Instant.parse("2024-05-06T07:08:09.123Z")));
        StorageBackend first = registry.open(file.toUri());
        StorageBackend second = registry.open(file.toUri());
        try (first; second) {
            assertEquals(first.version(), second.version());
            assertEquals("modified:2024-05-06T07:08:09.123Z/100", first.version().toString());
        }
        Files.setLastModifiedTime(file, FileTime.from(Instant.parse("2024-05-06T07:08:10Z")));
        try (StorageBackend third = registry.open(file.toUri())) {
            assertNotEquals(first.version(), third.version());
        }
    }

    @Test
    void aFileThatShrankSinceItWasOpenedIsAChangedObject() throws Exception {
        byte[] content = TestContent.random(12, 3 * 4096);
        Path file = Files.write(dir.resolve("shrinks.bin"), content);
        try (StorageBackend backend = registry.open(file.toUri())) {
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                channel.truncate(4096);
            }
            assertArrayEquals(Arrays.copyOf(content, 4096), read(backend, 0, 4096));
            ObjectChangedException error = assertThrows(ObjectChangedException.class, () -> read(backend, 4000, 200));
            assertTrue(error.getMessage().contains(file.toUri().toString()), error.getMessage());
        }
    }

    @Test
    void readsIntoAnyKindOfSegmentAndPastOneHeapPiece() throws Exception {
        byte[] content = TestContent.random(13, 3 * 1024 * 1024 + 5);
        Path file = Files.write(dir.resolve("large.bin"), content);
        try (StorageBackend backend = registry.open(file.toUri()); Arena arena = Arena.ofConfined()) {
            assertArrayEquals(content, read(backend, 0, content.length));

            MemorySegment nativeTarget = arena.allocate(content.length - 3);
            backend.read(3, nativeTarget);
            assertArrayEquals(Arrays.copyOfRange(content, 3, content.length), nativeTarget.toArray(ValueLayout.JAVA_BYTE));

            long[] longs = new long[(content.length - 5) / 8];
            backend.read(5, MemorySegment.ofArray(longs));
            byte[] viaLongs = MemorySegment.ofArray(longs).toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(Arrays.copyOfRange(content, 5, 5 + viaLongs.length), viaLongs);
        }
    }

    @Test
    void aFileThatMayNotBeWrittenIsAccessDeniedAtOpenForWritingNamingWhatToFix() throws Exception {
        byte[] content = TestContent.random(14, 10_000);
        Path file = Files.write(dir.resolve("read-only.bin"), content);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("r--r--r--"));
        boolean immutable = false;
        try {
            if (Files.isWritable(file)) {
                // root (CAP_DAC_OVERRIDE) writes whatever the permission bits say; an immutable file stops root too.
                immutable = run("chattr", "+i", file.toString());
                if (!immutable) {
                    String reason = "permission bits are not enforced for this user (root?) and chattr +i failed on " + file;
                    System.out.println("skipped aFileThatMayNotBeWrittenIsAccessDeniedAtOpenForWriting: " + reason);
                    Assumptions.abort(reason);
                }
            }
            assertTrue(registry.open(file.toUri()).capabilities().isEmpty(), "it still opens to read");
            AccessDeniedException error = assertThrows(AccessDeniedException.class,
                    () -> registry.openForWriting(file.toUri(), Map.of()));
            assertTrue(error.getMessage().contains(file.toUri().toString()) && error.getMessage().contains("chmod")
                    && error.getMessage().contains("chattr -i"), error.getMessage());
            assertArrayEquals(content, Files.readAllBytes(file));
        } finally {
            if (immutable) {
                assertTrue(run("chattr", "-i", file.toString()), "chattr -i " + file);
            }
        }
    }

    private static boolean run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        return process.waitFor() == 0;
    }

    @Test
    void aFileOpenedToReadOffersNoWriteAndRefusesCommits() throws Exception {
        Path file = Files.write(dir.resolve("opened-to-read.bin"), new byte[10]);
        try (StorageBackend backend = registry.open(file.toUri())) {
            assertFalse(backend.capabilities().contains(Capability.WRITE));
            UnsupportedOperationException error = assertThrows(UnsupportedOperationException.class, () -> backend.commit(
                    Changes.of(backend.version(), List.of(new ByteRange(0, 1)), MemorySegment.ofArray(new byte[] {1, 0, 0, 0, 0, 0, 0, 0, 0, 0}), "t")));
            assertTrue(error.getMessage().contains(file.toUri().toString()), error.getMessage());
        }
        assertArrayEquals(new byte[10], Files.readAllBytes(file));
    }

    @Test
    void createMakesASparseFileAndRefusesOneThatExists() throws Exception {
        Path file = dir.resolve("created.bin");
        long size = 1L << 30;
        try (StorageBackend backend = registry.create(file.toUri(), size, Map.of())) {
            assertEquals(size, backend.size());
            assertEquals(size, Files.size(file));
        }
        // The JDK does not report allocated blocks; stat(1) does, in units of 512 bytes (%B).
        Process stat = new ProcessBuilder("stat", "-c", "%b", file.toString()).start();
        long allocated = Long.parseLong(new String(stat.getInputStream().readAllBytes()).trim()) * 512;
        assertEquals(0, stat.waitFor(), "stat " + file);
        assertTrue(allocated < 1 << 20, "a created GiB file allocates " + allocated + " bytes");
        FileAlreadyExistsException exists = assertThrows(FileAlreadyExistsException.class,
                () -> registry.create(file.toUri(), 10, Map.of()));
        assertTrue(exists.getMessage().contains(file.toUri().toString()), exists.getMessage());
        assertEquals(size, Files.size(file));
    }

    @Test
    void badOptionsAreRefusedByName() throws Exception {
        Path file = Files.write(dir.resolve("options.bin"), new byte[10]);
        IllegalArgumentException writable = assertThrows(IllegalArgumentException.class,
                () -> new FileBackendProvider().open(file.toUri(), Map.of("writable", "true")));
        assertTrue(writable.getMessage().contains("writable"), writable.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> new FileBackendProvider().openForWriting(file.toUri(), Map.of("writeable", "true")));
        assertTrue(unknown.getMessage().contains("writeable"), unknown.getMessage());
    }

    @Test
    void closeIsIdempotentAndLaterReadsFail() throws Exception {
        Path file = Files.write(dir.resolve("closed.bin"), new byte[10]);
        StorageBackend backend = registry.open(file.toUri());
        backend.close();
        backend.close();
        IOException error = assertThrows(IOException.class, () -> read(backend, 0, 1));
        assertInstanceOf(dev.anymap.spi.BackendClosedException.class, error);
    }
}
