package dev.anymap.samples.environment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.s3server.S3ServerProcess;
import dev.anymap.spi.BackendProvider;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Several processes, each with an environment and a class path of its own, on one page server that
 * the first of them started: each is served exactly as its own credentials and plugins allow. The
 * clients are real JVMs ({@link EnvironmentClient}), the store a real S3 server in another process.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class OwnEnvironmentTest {
    private static final String BUCKET = "own-environment";
    private static final String KEY = "object.bin";
    private static final String URI = "s3://" + BUCKET + "/" + KEY;

    @TempDir
    static Path directory;
    private static S3ServerProcess s3;
    private static String reference;
    private static Path pluginVersion1;
    private static Path pluginVersion2;

    private final List<Process> clients = new ArrayList<>();
    private Path socket;

    @BeforeAll
    static void startTheStoreAndBuildThePlugins() throws Exception {
        s3 = S3ServerProcess.start();
        byte[] content = new byte[3 << 20];
        new Random(19).nextBytes(content);
        try (S3Client client = s3.newClient()) {
            client.createBucket(b -> b.bucket(BUCKET));
            client.putObject(b -> b.bucket(BUCKET).key(KEY), RequestBody.fromBytes(content));
        }
        reference = sha256(content);
        pluginVersion1 = StampPlugin.build(directory.resolve("plugin-1"), 1);
        pluginVersion2 = StampPlugin.build(directory.resolve("plugin-2"), 2);
    }

    @AfterAll
    static void stopTheStore() throws IOException {
        if (s3 != null) {
            s3.close();
        }
    }

    @AfterEach
    void endTheClients() throws Exception {
        for (Process client : clients) {
            client.getOutputStream().close();
        }
        for (Process client : clients) {
            if (!client.waitFor(30, TimeUnit.SECONDS)) {
                client.destroyForcibly();
            }
        }
    }

    @Test
    void eachProcessReadsAsItsOwnCredentialsAllowWhicheverStartedTheServer() throws Exception {
        for (boolean rightFirst : new boolean[] {true, false}) {
            socket = Files.createTempDirectory(directory, "server-").resolve("server.sock");
            String first = start(credentials(rightFirst ? s3.secretKey() : "a-wrong-secret-key"), List.of(), URI, storeOptions());
            long server = serverPid();
            String second = start(credentials(rightFirst ? "a-wrong-secret-key" : s3.secretKey()), List.of(), URI, storeOptions());
            String right = rightFirst ? first : second;
            String wrong = rightFirst ? second : first;
            assertEquals("SHA256 " + reference, right, "the process with the right secret, " + (rightFirst ? "first" : "second"));
            assertTrue(wrong.startsWith("DENIED "), "the process with a wrong secret, " + (rightFirst ? "second" : "first") + ": " + wrong);
            assertEquals(server, serverPid(), "one page server served both");
            try (Anymap status = Anymap.open(AnymapConfig.defaults().withSocket(socket).withAutoStart(false))) {
                String shown = status.serverStatus().toString();
                assertTrue(shown.contains(BUCKET), shown);
                assertFalse(shown.contains(s3.secretKey()), "the status shows no secret");
            }
            endTheClients();
            Path log = socket.resolveSibling("server.log");
            assertFalse(Files.exists(log) && Files.readString(log).contains(s3.secretKey()), "the page server logs no secret");
            clients.clear();
        }
    }

    @Test
    void theServerNeverLendsItsOwnCredentialsUnlessARegionAsksForThem() throws Exception {
        socket = directory.resolve("lend").resolve("server.sock");
        String starter = start(credentials(s3.secretKey()), List.of(), URI, storeOptions());
        assertEquals("SHA256 " + reference, starter);

        String none = start(noCredentials(), List.of(), URI, storeOptions());
        assertTrue(none.startsWith("DENIED ") && none.contains("no S3 credentials") && none.contains("AWS_ACCESS_KEY_ID"), none);
        assertTrue(none.length() < 400, "one short line: " + none);

        // A request that brings no credentials (as if from a client that resolved nothing) is refused by the server itself.
        try (Connection raw = new Connection(UnixSockets.connect(socket))) {
            raw.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
            raw.receive();
            raw.send(new Message.Map(1, URI, storeOptions(), 1 << 18, 1,
                    new Message.Prefetching(0, false, false, Long.MAX_VALUE, Long.MAX_VALUE), "", Message.Assumed.NONE, 60_000));
            Message answer = raw.receive().message();
            assertTrue(answer instanceof Message.Failure f && f.kind() == Message.ErrorKind.ACCESS_DENIED
                    && f.message().contains("page server does not use its own"), answer.toString());
        }

        Map<String, String> asked = new java.util.HashMap<>(storeOptions());
        asked.put("credentials", "page-server");
        assertEquals("SHA256 " + reference, start(noCredentials(), List.of(), URI, asked),
                "a region that asks for the page server's own credentials gets them");
    }

    @Test
    void aPluginOnOneProcessClassPathServesItAndTwoVersionsEachServeTheirOwn() throws Exception {
        socket = directory.resolve("plugins").resolve("server.sock");
        String starter = start(noCredentials(), List.of(), "mem:starter?size=65536&seed=3", Map.of());
        assertTrue(starter.startsWith("SHA256 "), starter);
        long server = serverPid();
        int size = 1_000_003;
        assertEquals("SHA256 " + sha256(StampPlugin.content(size, 1)), start(noCredentials(), List.of(pluginVersion1),
                "stamp:" + size, Map.of()), "version 1, only on this client's class path");
        assertEquals("SHA256 " + sha256(StampPlugin.content(size, 2)), start(noCredentials(), List.of(pluginVersion2),
                "stamp:" + size, Map.of()), "version 2, in another client");
        assertEquals("SHA256 " + sha256(StampPlugin.content(size, 1)), start(noCredentials(), List.of(pluginVersion1),
                "stamp:" + size, Map.of()), "version 1 again, from its cached loader");
        assertEquals(server, serverPid(), "one page server served them all");
        String without = start(noCredentials(), List.of(), "stamp:" + size, Map.of());
        assertTrue(without.startsWith("FAILED ") && without.contains("stamp"), "a client without the plugin: " + without);
    }

    @Test
    void aJarThatIsGoneIsNamed() throws Exception {
        socket = directory.resolve("gone").resolve("server.sock");
        assertTrue(start(noCredentials(), List.of(), "mem:starter?size=4096", Map.of()).startsWith("SHA256 "));
        Path copy = Files.copy(pluginVersion1, directory.resolve("plugin-gone.jar"));
        Message.PathEntry entry = new Message.PathEntry(copy.toString(), Files.size(copy), Files.getLastModifiedTime(copy).toMillis());
        Files.delete(copy);
        try (Connection raw = new Connection(UnixSockets.connect(socket))) {
            raw.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
            raw.receive();
            raw.send(new Message.Map(1, "stamp:100", Map.of(), 1 << 18, 1,
                    new Message.Prefetching(0, false, false, Long.MAX_VALUE, Long.MAX_VALUE), "", Message.Assumed.NONE, 60_000,
                    new Message.CodePath(List.of(entry), List.of())));
            Message answer = raw.receive().message();
            assertTrue(answer instanceof Message.Failure f && f.message().contains(copy.toString()) && f.message().contains("no longer exists"),
                    answer.toString());
        }
    }

    /** Starts a client and returns the line it prints once it has mapped and read. */
    private String start(Map<String, String> environment, List<Path> extraClassPath, String uri, Map<String, String> options)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xshare:auto", "-cp", classPath(extraClassPath),
                EnvironmentClient.class.getName(), socket.toString(), uri));
        options.forEach((key, value) -> command.add(key + "=" + value));
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
        builder.environment().keySet().removeIf(name -> name.startsWith("AWS_"));
        builder.environment().putAll(environment);
        // Never ask an instance metadata service; never read a developer's own AWS files.
        builder.environment().put("AWS_EC2_METADATA_DISABLED", "true");
        builder.environment().put("AWS_CONFIG_FILE", directory.resolve("no-aws-config").toString());
        builder.environment().put("AWS_SHARED_CREDENTIALS_FILE", directory.resolve("no-aws-credentials").toString());
        Process client = builder.start();
        clients.add(client);
        String line = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8)).readLine();
        return line == null ? "(the client exited with " + client.waitFor() + ")" : line;
    }

    private long serverPid() throws IOException {
        try (Anymap status = Anymap.open(AnymapConfig.defaults().withSocket(socket).withAutoStart(false))) {
            return status.serverStatus().serverPid();
        }
    }

    private static Map<String, String> storeOptions() {
        return Map.of("endpoint", s3.endpoint().toString(), "region", s3.region());
    }

    private static Map<String, String> credentials(String secret) {
        return Map.of("AWS_ACCESS_KEY_ID", s3.accessKey(), "AWS_SECRET_ACCESS_KEY", secret);
    }

    private static Map<String, String> noCredentials() {
        return Map.of();
    }

    private static String classPath(List<Path> extra) {
        return Stream.concat(Stream.of(System.getProperty("java.class.path"), System.getProperty("jdk.module.path")),
                        extra.stream().map(Path::toString))
                .filter(path -> path != null && !path.isEmpty())
                .collect(Collectors.joining(File.pathSeparator));
    }

    static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    /** A backend plugin as a third party builds one, against anymap-spi alone, compiled and packed here. */
    static final class StampPlugin {
        private StampPlugin() {}

        /** The bytes of {@code stamp:SIZE} in version {@code version} of the plugin. */
        static byte[] content(int size, int version) {
            byte[] bytes = new byte[size];
            for (int i = 0; i < size; i++) {
                bytes[i] = (byte) (version * 31 + i % 251);
            }
            return bytes;
        }

        static Path build(Path work, int version) throws Exception {
            Path sources = Files.createDirectories(work.resolve("src/plugintest"));
            Path classes = Files.createDirectories(work.resolve("classes"));
            Files.writeString(sources.resolve("StampProvider.java"), """
                    package plugintest;

                    import dev.anymap.spi.BackendProvider;
                    import dev.anymap.spi.ObjectVersion;
                    import dev.anymap.spi.OutOfRangeException;
                    import dev.anymap.spi.StorageBackend;
                    import java.lang.foreign.MemorySegment;
                    import java.lang.foreign.ValueLayout;
                    import java.net.URI;
                    import java.util.Map;
                    import java.util.Set;

                    public final class StampProvider implements BackendProvider {
                        static final int VERSION = %d;

                        public String name() { return "stamp"; }

                        public Set<String> schemes() { return Set.of("stamp"); }

                        public StorageBackend open(URI uri, Map<String, String> options) {
                            long size = Long.parseLong(uri.getSchemeSpecificPart());
                            return new StorageBackend() {
                                public URI uri() { return uri; }
                                public long size() { return size; }
                                public ObjectVersion version() { return ObjectVersion.generation(VERSION); }
                                public void read(long offset, MemorySegment target) throws OutOfRangeException {
                                    OutOfRangeException.check(uri, offset, target.byteSize(), size);
                                    for (long i = 0; i < target.byteSize(); i++) {
                                        target.set(ValueLayout.JAVA_BYTE, i, (byte) (VERSION * 31 + (offset + i) %% 251));
                                    }
                                }
                                public void close() {}
                            };
                        }
                    }
                    """.formatted(version));
            String spi = Path.of(BackendProvider.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
            Process javac = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "javac").toString(),
                    "--release", "25", "-cp", spi, "-d", classes.toString(), sources.resolve("StampProvider.java").toString())
                    .redirectErrorStream(true).start();
            String output = new String(javac.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, javac.waitFor(), "javac: " + output);
            Path jar = work.resolve("stamp-plugin-" + version + ".jar");
            try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
                out.putNextEntry(new JarEntry("META-INF/services/dev.anymap.spi.BackendProvider"));
                out.write("plugintest.StampProvider\n".getBytes(StandardCharsets.UTF_8));
                try (Stream<Path> files = Files.walk(classes)) {
                    for (Path file : files.filter(Files::isRegularFile).toList()) {
                        out.putNextEntry(new JarEntry(classes.relativize(file).toString().replace(File.separatorChar, '/')));
                        out.write(Files.readAllBytes(file));
                    }
                }
            }
            return jar;
        }
    }
}
