package dev.anymap.backend.file;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.jcraft.jsch.JSch;
import com.jcraft.jsch.KeyPair;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.MemorySegment;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SftpBackendTest {
    private static final String WRONG_PASSWORD = "wr0ng:p@ss w0rd";

    @TempDir
    static Path root;

    @TempDir
    Path local;

    private static SftpTestServer server;
    private final BackendRegistry registry = BackendRegistry.load();

    @BeforeAll
    static void startServer() throws Exception {
        server = SftpTestServer.start(root);
    }

    @AfterAll
    static void stopServer() throws Exception {
        server.close();
    }

    private static Map<String, String> options(String... more) {
        Map<String, String> options = new HashMap<>();
        options.put(VfsOptions.SFTP_STRICT_HOST_KEY_CHECKING, "no");
        for (int i = 0; i < more.length; i += 2) {
            options.put(more[i], more[i + 1]);
        }
        return options;
    }

    private static Map<String, String> withPassword() {
        return options(VfsOptions.SFTP_PASSWORD, SftpTestServer.PASSWORD);
    }

    private static byte[] read(StorageBackend backend, long offset, int length) throws IOException {
        byte[] bytes = new byte[length];
        backend.read(offset, MemorySegment.ofArray(bytes));
        return bytes;
    }

    private static String everythingPrinted(Throwable error) {
        StringWriter printed = new StringWriter();
        error.printStackTrace(new PrintWriter(printed));
        return printed.toString();
    }

    private static void assertNoPassword(String text, String password) {
        assertFalse(text.contains(password), "the password is in:\n" + text);
        assertFalse(text.contains(UriCredentials.percentDecode(password)), "the password is in:\n" + text);
        assertFalse(text.contains("p@ss") || text.contains("p%40ss"), "part of the password is in:\n" + text);
    }

    @Test
    void aWrongPasswordInTheUriIsAccessDeniedAndNoMessageHoldsIt() throws Exception {
        Files.write(root.resolve("auth.bin"), new byte[10]);
        URI uri = server.uri(SftpTestServer.USER + ":" + WRONG_PASSWORD, "auth.bin");
        AccessDeniedException error = assertThrows(AccessDeniedException.class, () -> registry.open(uri, options()));
        assertTrue(error.getMessage().contains("sftp://alice:****@127.0.0.1:" + server.port() + "/auth.bin"), error.getMessage());
        assertTrue(error.getMessage().contains("authentication failed"), error.getMessage());
        assertNoPassword(everythingPrinted(error), WRONG_PASSWORD);
        assertNoPassword(everythingPrinted(error), uri.getRawUserInfo().substring(SftpTestServer.USER.length() + 1));
    }

    @Test
    void aWrongPasswordOptionIsAccessDeniedAndNoMessageHoldsIt() throws Exception {
        Files.write(root.resolve("auth-option.bin"), new byte[10]);
        AccessDeniedException error = assertThrows(AccessDeniedException.class,
                () -> registry.open(server.uri("auth-option.bin"), options(VfsOptions.SFTP_PASSWORD, WRONG_PASSWORD)));
        assertTrue(error.getMessage().contains("authentication failed"), error.getMessage());
        assertNoPassword(everythingPrinted(error), WRONG_PASSWORD);
    }

    @Test
    void aPasswordInTheUriOpensAndTheBackendNamesTheUriWithoutIt() throws Exception {
        byte[] content = TestContent.random(31, 20_000);
        Files.write(root.resolve("in-uri.bin"), content);
        URI uri = server.uri(SftpTestServer.USER + ":" + SftpTestServer.PASSWORD, "in-uri.bin");
        try (StorageBackend backend = registry.open(uri, options())) {
            assertEquals(server.uri("in-uri.bin"), backend.uri());
            assertArrayEquals(content, read(backend, 0, content.length));
        }
    }

    @Test
    void aPasswordGivenTwiceIsRefusedWithoutSayingIt() {
        URI uri = server.uri(SftpTestServer.USER + ":" + SftpTestServer.PASSWORD, "twice.bin");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> registry.open(uri, withPassword()));
        assertTrue(error.getMessage().contains(VfsOptions.SFTP_PASSWORD), error.getMessage());
        assertNoPassword(everythingPrinted(error), SftpTestServer.PASSWORD);
    }

    @Test
    void aPrivateKeyFileWithAPassphraseAuthenticates() throws Exception {
        byte[] content = TestContent.random(35, 3000);
        Files.write(root.resolve("by-key.bin"), content);
        byte[] passphrase = "key phrase".getBytes(StandardCharsets.UTF_8);
        KeyPair key = KeyPair.genKeyPair(new JSch(), KeyPair.ECDSA, 256);
        Path keyFile = local.resolve("id_ecdsa");
        try (OutputStream out = Files.newOutputStream(keyFile)) {
            key.writePrivateKey(out, passphrase);
        }
        Map<String, String> byKey = options(VfsOptions.SFTP_PRIVATE_KEY_FILE, keyFile.toString(),
                VfsOptions.SFTP_PRIVATE_KEY_PASSPHRASE, "key phrase");
        AccessDeniedException refused = assertThrows(AccessDeniedException.class,
                () -> registry.open(server.uri("by-key.bin"), byKey), "not yet authorized");
        assertFalse(everythingPrinted(refused).contains("key phrase"), everythingPrinted(refused));

        server.authorize(key.getPublicKeyBlob());
        try (StorageBackend backend = registry.open(server.uri("by-key.bin"), byKey)) {
            assertArrayEquals(content, read(backend, 0, content.length));
        }
    }

    @Test
    void anUnknownHostKeyIsRefusedByDefaultAndTheMessageSaysWhatToDo() throws Exception {
        Files.write(root.resolve("host-key.bin"), new byte[10]);
        Path knownHosts = Files.createFile(local.resolve("known_hosts"));
        Map<String, String> strict = new HashMap<>(withPassword());
        strict.remove(VfsOptions.SFTP_STRICT_HOST_KEY_CHECKING);
        strict.put(VfsOptions.SFTP_KNOWN_HOSTS, knownHosts.toString());
        IOException error = assertThrows(IOException.class, () -> registry.open(server.uri("host-key.bin"), strict));
        assertTrue(error.getMessage().contains("host key") && error.getMessage().contains(knownHosts.toString())
                && error.getMessage().contains("sftp.strict-host-key-checking=no"), error.getMessage());

        Files.writeString(knownHosts, server.knownHostsLine() + "\n");
        try (StorageBackend backend = registry.open(server.uri("host-key.bin"), strict)) {
            assertEquals(10, backend.size());
        }
    }

    @Test
    void aMissingFileIsNoSuchFileNamingTheUri() {
        NoSuchFileException error = assertThrows(NoSuchFileException.class,
                () -> registry.open(server.uri("nothing/here.bin"), withPassword()));
        assertTrue(error.getMessage().contains(server.uri("nothing/here.bin").toString()), error.getMessage());
    }

    @Test
    void aDirectoryIsRefusedAtOpenAsABadArgument() throws Exception {
        Files.createDirectories(root.resolve("a-directory"));
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> registry.open(server.uri("a-directory"), withPassword()));
        assertTrue(error.getMessage().contains("is a directory"), error.getMessage());
    }

    @Test
    void aNameWithSpacesPercentSignsAndBracketsOpens() throws Exception {
        byte[] content = TestContent.random(32, 5000);
        Files.createDirectories(root.resolve("sub dir"));
        Files.write(root.resolve("sub dir/a b%20c [1].bin"), content);
        URI uri = server.uri("sub dir/a b%20c [1].bin");
        assertTrue(uri.getRawPath().endsWith("sub%20dir/a%20b%2520c%20%5B1%5D.bin"), uri.toString());
        try (StorageBackend backend = registry.open(uri, withPassword())) {
            assertArrayEquals(content, read(backend, 0, content.length));
        }
    }

    @Test
    void aMalformedSftpUriIsAClearError() {
        for (String bad : new String[] {"sftp:///no-host.bin", "sftp://127.0.0.1", "sftp:opaque.bin"}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> registry.open(URI.create(bad), withPassword()));
            assertTrue(error.getMessage().contains(bad) && error.getMessage().contains("sftp://[user@]host"), error.getMessage());
        }
    }

    @Test
    void aServerThatIsNotThereIsAnErrorNamingTheUri() throws Exception {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        URI uri = URI.create("sftp://alice@127.0.0.1:" + closedPort + "/x.bin");
        IOException error = assertThrows(IOException.class, () -> registry.open(uri, withPassword()));
        assertTrue(error.getMessage().contains(uri.toString()), error.getMessage());
        assertNoPassword(everythingPrinted(error), SftpTestServer.PASSWORD);
    }

    @Test
    void aFileThatShrankSinceItWasOpenedIsAChangedObject() throws Exception {
        byte[] content = TestContent.random(33, 50_000);
        Path file = Files.write(root.resolve("shrinks.bin"), content);
        try (StorageBackend backend = registry.open(server.uri("shrinks.bin"), withPassword())) {
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                channel.truncate(10_000);
            }
            assertArrayEquals(Arrays.copyOf(content, 5000), read(backend, 0, 5000));
            assertThrows(ObjectChangedException.class, () -> read(backend, 9000, 20_000));
        }
    }

    @Test
    void anArchiveOnTheServerIsReadThroughItsEntries() throws Exception {
        byte[] content = TestContent.random(34, 70_000);
        Archives.zip(root.resolve("remote.zip"), Archives.withNeighbours(Map.of("in/entry.bin", content)));
        URI uri = URI.create("zip:" + server.uri("remote.zip") + "!/in/entry.bin");
        try (StorageBackend backend = registry.open(uri, withPassword())) {
            assertEquals(content.length, backend.size());
            assertArrayEquals(Arrays.copyOfRange(content, 60_000, 70_000), read(backend, 60_000, 10_000));
        }
    }
}
