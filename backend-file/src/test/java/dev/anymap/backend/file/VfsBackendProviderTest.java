package dev.anymap.backend.file;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.apache.commons.vfs2.impl.StandardFileSystemManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VfsBackendProviderTest {
    private final BackendRegistry registry = BackendRegistry.load();
    private final BackendProvider vfs = new VfsBackendProvider();

    @TempDir
    Path dir;

    private static byte[] readAll(StorageBackend backend) throws IOException {
        byte[] bytes = new byte[Math.toIntExact(backend.size())];
        backend.read(0, MemorySegment.ofArray(bytes));
        return bytes;
    }

    private static List<Path> filesIn(Path directory) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            return files.toList();
        }
    }

    @Test
    void claimsTheSchemesVfsRegistersExceptTheOnesOtherBackendsOwn() throws Exception {
        StandardFileSystemManager manager = new StandardFileSystemManager();
        manager.init();
        Set<String> registered = new TreeSet<>(Arrays.asList(manager.getSchemes()));
        manager.close();

        Set<String> expected = new TreeSet<>(registered);
        expected.retainAll(VfsSchemes.claimed());
        assertEquals(expected, new TreeSet<>(vfs.schemes()), "claimed only where VFS has a provider");
        assertEquals(VfsSchemes.claimed(), new TreeSet<>(vfs.schemes()), "with this module's dependencies, every claim is served");
        for (String owned : List.of("file", "http", "https", "tmp")) {
            assertFalse(vfs.schemes().contains(owned), owned);
        }
        for (String common : List.of("sftp", "ftp", "ftps", "zip", "jar", "tar", "tgz", "tbz2", "gz", "bz2", "ram", "res")) {
            assertTrue(vfs.schemes().contains(common), common);
        }
    }

    @Test
    void isTheFallbackForItsSchemes() {
        assertEquals(-100, vfs.priority());
        assertEquals("vfs", registry.provider(URI.create("sftp://host/x")).name());
        assertEquals("vfs", registry.provider(URI.create("zip:file:///a.zip!/x")).name());
    }

    @Test
    void declaresItsSecretOptionsAndMasksThem() {
        assertTrue(vfs.supportedOptions().containsAll(vfs.secretOptions()));
        assertEquals(Set.of("sftp.password", "sftp.private-key-passphrase", "ftp.password"), vfs.secretOptions());
        assertEquals("****", vfs.redact(Map.of("sftp.password", "hunter2")).get("sftp.password"));
    }

    @Test
    void badOptionsAreRefusedByName() throws Exception {
        Path zip = Archives.zip(dir.resolve("a.zip"), Map.of("x.bin", new byte[1]));
        URI uri = Archives.entryUri("zip", zip, "x.bin");
        for (Map<String, String> bad : List.of(Map.of("sftp.pasword", "x"), Map.of("vfs.readers", "0"),
                Map.of("sftp.strict-host-key-checking", "maybe"), Map.of("ftp.passive", "yes"))) {
            String key = bad.keySet().iterator().next();
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> vfs.open(uri, bad));
            assertTrue(error.getMessage().contains(key), error.getMessage());
        }
    }

    @Test
    void anArchiveAndEntryWithSpacesPercentSignsAndBracketsOpen() throws Exception {
        byte[] content = TestContent.random(41, 30_000);
        String entry = "sub dir/a b%20c [1].bin";
        Path zip = Archives.zip(dir.resolve("x y%20z [2].zip"), Archives.withNeighbours(Map.of(entry, content)));
        URI uri = Archives.entryUri("zip", zip, entry);
        assertTrue(uri.toString().endsWith("x%20y%2520z%20%5B2%5D.zip!/sub%20dir/a%20b%2520c%20%5B1%5D.bin"), uri.toString());
        try (StorageBackend backend = registry.open(uri)) {
            assertArrayEquals(content, readAll(backend));
        }
    }

    @Test
    void aMissingEntryOrArchiveIsNoSuchFileNamingTheUri() throws Exception {
        Path zip = Archives.zip(dir.resolve("a.zip"), Map.of("x.bin", new byte[1]));
        for (URI missing : List.of(Archives.entryUri("zip", zip, "y.bin"), Archives.entryUri("zip", dir.resolve("none.zip"), "x.bin"),
                URI.create("res:no/such/resource.bin"), URI.create("ram:///no/such/file"))) {
            NoSuchFileException error = assertThrows(NoSuchFileException.class, () -> registry.open(missing));
            assertTrue(error.getMessage().startsWith(missing.toString()), error.getMessage());
        }
    }

    @Test
    void aDirectoryInAnArchiveIsRefusedAndSaysHowToNameAnEntry() throws Exception {
        Path zip = Archives.zip(dir.resolve("a.zip"), Map.of("d/x.bin", new byte[1]));
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> registry.open(Archives.entryUri("zip", zip, "d")));
        assertTrue(error.getMessage().contains("is a directory") && error.getMessage().contains("!/path/in/archive"), error.getMessage());
    }

    @Test
    void aMalformedArchiveUriIsAClearError() throws Exception {
        Path zip = Archives.zip(dir.resolve("a.zip"), Map.of("x.bin", new byte[1]));
        for (String bad : List.of("zip:" + zip.toUri(), "zip:/no/inner/scheme.zip", "tar:relative.tar!/x")) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> registry.open(URI.create(bad)));
            assertTrue(error.getMessage().contains(bad) && error.getMessage().contains("!/path/in/archive"), error.getMessage());
        }
    }

    @Test
    void dataThatIsNotOfTheSchemesFormatIsAnErrorNamingTheUri() throws Exception {
        Path notGzip = Files.write(dir.resolve("plain.bin.gz"), TestContent.random(42, 1000));
        URI uri = URI.create("gz:" + notGzip.toUri());
        IOException error = assertThrows(IOException.class, () -> registry.open(uri));
        assertTrue(error.getMessage().contains(uri.toString()) && error.getMessage().contains("GZIP"), error.getMessage());
    }

    @Test
    void anEmptyEntryHasSizeZero() throws Exception {
        Path zip = Archives.zip(dir.resolve("a.zip"), Archives.withNeighbours(Map.of("empty.bin", new byte[0])));
        try (StorageBackend backend = registry.open(Archives.entryUri("zip", zip, "empty.bin"))) {
            assertEquals(0, backend.size());
        }
    }

    @Test
    void everyCompressionAndArchiveLayerServesItsContent() throws Exception {
        byte[] content = TestContent.random(43, 100_000);
        Map<String, byte[]> entries = Archives.withNeighbours(Map.of("in/x.bin", content));
        Path tar = Archives.tar(dir.resolve("a.tar"), entries);
        List<URI> uris = List.of(
                URI.create("bz2:" + Archives.bzip2(dir.resolve("x.bin.bz2"), content).toUri()),
                Archives.entryUri("tgz", Archives.gzip(dir.resolve("a.tgz"), Files.readAllBytes(tar)), "in/x.bin"),
                Archives.entryUri("tbz2", Archives.bzip2(dir.resolve("a.tbz2"), Files.readAllBytes(tar)), "in/x.bin"),
                Archives.entryUri("jar", Archives.zip(dir.resolve("a.jar"), entries), "in/x.bin"));
        for (URI uri : uris) {
            try (StorageBackend backend = registry.open(uri)) {
                assertArrayEquals(content, readAll(backend), uri.toString());
            }
        }
    }

    @Test
    void classPathResourcesAreServedFromDirectoriesAndFromJars() throws Exception {
        for (String resource : List.of("dev/anymap/backend/file/VfsBackendProviderTest.class", "org/apache/commons/vfs2/impl/providers.xml")) {
            byte[] expected;
            try (InputStream in = StandardFileSystemManager.class.getClassLoader().getResourceAsStream(resource)) {
                expected = in.readAllBytes();
            }
            try (StorageBackend backend = registry.open(URI.create("res:" + resource))) {
                assertArrayEquals(expected, readAll(backend), resource);
            }
        }
    }

    @Test
    void anEntryIsCopiedToAnOwnerOnlyFileThatCloseRemoves() throws Exception {
        byte[] content = TestContent.random(44, 50_000);
        Path zip = Archives.zip(dir.resolve("a.zip"), Archives.withNeighbours(Map.of("x.bin", content)));
        Path spoolDir = Files.createDirectory(dir.resolve("spool"));
        StorageBackend backend = registry.open(Archives.entryUri("zip", zip, "x.bin"), Map.of(VfsOptions.SPOOL_DIR, spoolDir.toString()));
        try {
            List<Path> copies = filesIn(spoolDir);
            assertEquals(1, copies.size());
            assertEquals(PosixFilePermissions.fromString("rw-------"), Files.getPosixFilePermissions(copies.getFirst()));
            assertArrayEquals(content, Files.readAllBytes(copies.getFirst()));
            assertArrayEquals(content, readAll(backend));
        } finally {
            backend.close();
        }
        assertEquals(List.of(), filesIn(spoolDir));
    }

    @Test
    void aFailedCopyLeavesNoFileBehind() throws Exception {
        Path notBzip2 = Files.write(dir.resolve("plain.bin.bz2"), TestContent.random(45, 1000));
        Path spoolDir = Files.createDirectory(dir.resolve("spool"));
        assertThrows(IOException.class,
                () -> registry.open(URI.create("bz2:" + notBzip2.toUri()), Map.of(VfsOptions.SPOOL_DIR, spoolDir.toString())));
        assertEquals(List.of(), filesIn(spoolDir));
    }

    @Test
    void theVersionOfAnEntryIsItsTimeAndSizeAndStaysTheSameAcrossOpens() throws Exception {
        Path zip = Archives.zip(dir.resolve("a.zip"), Map.of("x.bin", new byte[123]));
        URI uri = Archives.entryUri("zip", zip, "x.bin");
        StorageBackend first = registry.open(uri);
        StorageBackend second = registry.open(uri);
        try (first; second) {
            assertEquals(first.version(), second.version());
            assertTrue(first.version().toString().startsWith("modified:") && first.version().toString().endsWith("/123"),
                    first.version().toString());
        }
    }
}
