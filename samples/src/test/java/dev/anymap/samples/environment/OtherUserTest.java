package dev.anymap.samples.environment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.anymap.linux.Libc;
import dev.anymap.s3server.S3ServerProcess;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * A page server of root that also serves a second user ({@code --allow-uid}), created here for the
 * test, whose clients are real JVMs run as that user ({@code setpriv}): it maps what it may read
 * itself, and nothing with root's rights, credentials or plugins. The server holds working S3
 * credentials in its own environment throughout, which the owner's region shows.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class OtherUserTest {
    private static final String BUCKET = "other-user";
    private static final String KEY = "object.bin";
    private static final String S3_URI = "s3://" + BUCKET + "/" + KEY;

    private static String user;
    private static int uid;
    private static int gid;
    /** Root's, mode 0711: the other user passes through it to what it may read there, as to the socket. */
    private static Path shared;
    private static Path socket;
    private static String classPath;
    private static S3ServerProcess s3;
    private static String reference;
    private static Process server;
    private static final List<Process> clients = new ArrayList<>();

    @BeforeAll
    static void createTheUserAndStartTheServer() throws Exception {
        assumeTrue(Libc.getuid() == 0, "runs as root only: it creates a user and runs processes as that user");
        assumeTrue(Stream.of("/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/bin/setpriv").allMatch(tool -> Files.isExecutable(Path.of(tool))),
                "needs useradd, userdel and setpriv to create a user and run as it");
        user = "anymap-test-" + Integer.toString(ThreadLocalRandom.current().nextInt(1 << 20), 36);
        assertEquals(0, run("/usr/sbin/useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user), "useradd " + user);
        uid = Integer.parseInt(output("id", "-u", user));
        gid = Integer.parseInt(output("id", "-g", user));

        shared = Files.createTempDirectory(Path.of("/tmp"), "anymap-other-user-");
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwx--x--x"));
        socket = shared.resolve("server").resolve("server.sock");
        classPath = readableClassPath(Files.createDirectory(shared.resolve("lib")));

        s3 = S3ServerProcess.start(shared);
        byte[] content = new byte[2 << 20];
        new Random(23).nextBytes(content);
        try (S3Client client = s3.newClient()) {
            client.createBucket(b -> b.bucket(BUCKET));
            client.putObject(b -> b.bucket(BUCKET).key(KEY), RequestBody.fromBytes(content));
        }
        reference = OwnEnvironmentTest.sha256(content);

        // Root's page server, with root's working S3 credentials in its environment.
        ProcessBuilder builder = new ProcessBuilder(java(), "--enable-native-access=ALL-UNNAMED", "-cp", classPath,
                "dev.anymap.server.PageServerMain", "--socket", socket.toString(), "--allow-uid", Integer.toString(uid))
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        awsFiles(builder.environment());
        builder.environment().put("AWS_ACCESS_KEY_ID", s3.accessKey());
        builder.environment().put("AWS_SECRET_ACCESS_KEY", s3.secretKey());
        builder.environment().put("ANYMAP_STANDBY", "0");
        server = builder.start();
        String ready = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8)).readLine();
        assertTrue(ready != null && ready.startsWith("READY"), "the page server started: " + ready);
    }

    @AfterAll
    static void stopAndRemoveTheUser() throws Exception {
        for (Process client : clients) {
            client.getOutputStream().close();
        }
        for (Process client : clients) {
            if (!client.waitFor(30, TimeUnit.SECONDS)) {
                client.destroyForcibly();
            }
        }
        if (server != null) {
            server.destroy();
            if (!server.waitFor(30, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
        }
        if (s3 != null) {
            s3.close();
        }
        if (user != null) {
            run("/usr/sbin/userdel", user);
        }
        if (shared != null) {
            try (Stream<Path> files = Files.walk(shared)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
    }

    @Test
    void theOtherUserReachesTheSocketAndNoOneCanListOrChangeItsDirectory() throws Exception {
        assertEquals("rwx--x--x", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket.getParent())));
        assertEquals("rw-rw-rw-", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
        Path log = socket.resolveSibling("server.log");
        if (Files.exists(log)) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(log)), "the server's log is its own");
        }
    }

    @Test
    void theOtherUserMapsAMemObjectRight() throws Exception {
        String uri = "mem:other-user?size=3000017&seed=41";
        byte[] expected;
        try (StorageBackend backend = BackendRegistry.load().open(URI.create(uri), Map.of()); Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(backend.size());
            backend.read(0, bytes);
            expected = bytes.toArray(ValueLayout.JAVA_BYTE);
        }
        assertEquals("SHA256 " + OwnEnvironmentTest.sha256(expected), asOtherUser(Map.of(), List.of(), uri, Map.of()));
    }

    @Test
    void theOtherUserMapsOnlyTheFilesItMayReadItself() throws Exception {
        byte[] secret = new byte[300_000];
        new Random(5).nextBytes(secret);
        Path secretFile = shared.resolve("secret.bin");
        Files.write(secretFile, secret);
        Files.setPosixFilePermissions(secretFile, PosixFilePermissions.fromString("rw-------"));
        Path secretGz = shared.resolve("secret.bin.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(secretGz))) {
            out.write(secret);
        }
        Files.setPosixFilePermissions(secretGz, PosixFilePermissions.fromString("rw-------"));
        byte[] open = new byte[200_003];
        new Random(6).nextBytes(open);
        Path openFile = shared.resolve("open.bin");
        Files.write(openFile, open);
        Files.setPosixFilePermissions(openFile, PosixFilePermissions.fromString("rw-r--r--"));

        String direct = asOtherUser(Map.of(), List.of(), secretFile.toUri().toString(), Map.of());
        assertTrue(direct.startsWith("DENIED ") && direct.contains("secret.bin"), "a file: URI it may not read: " + direct);

        // The page server, root, could read it: a gz: over it would be opened there, and is refused.
        String throughServer = asOtherUser(Map.of(), List.of(), "gz:" + secretGz.toUri(), Map.of());
        assertTrue(throughServer.startsWith("DENIED ") && throughServer.contains("secret.bin.gz")
                && throughServer.contains("uid " + uid) && throughServer.contains("local file"), throughServer);
        assertFalse(throughServer.contains(OwnEnvironmentTest.sha256(secret)), throughServer);
        assertEquals("SHA256 " + OwnEnvironmentTest.sha256(secret), asOwner(Map.of(), "gz:" + secretGz.toUri(), Map.of()),
                "root's own client reads it through the same server");

        assertEquals("SHA256 " + OwnEnvironmentTest.sha256(open), asOtherUser(Map.of(), List.of(), openFile.toUri().toString(), Map.of()),
                "a file it may read");
    }

    @Test
    void theOtherUserReadsS3WithItsOwnCredentialsOnlyNeverTheServers() throws Exception {
        assertEquals("SHA256 " + reference, asOwner(Map.of(), S3_URI, withOptions("credentials", "page-server")),
                "the server's own credentials work, for its own user");

        String none = asOtherUser(Map.of(), List.of(), S3_URI, storeOptions());
        assertTrue(none.startsWith("DENIED ") && none.contains("no S3 credentials"), none);
        String lent = asOtherUser(Map.of(), List.of(), S3_URI, withOptions("credentials", "page-server"));
        assertTrue(lent.startsWith("DENIED ") && lent.contains("uid " + uid) && lent.contains("credentials=page-server")
                && lent.contains(BUCKET), lent);
        String wrong = asOtherUser(credentials("a-wrong-secret-key"), List.of(), S3_URI, storeOptions());
        assertTrue(wrong.startsWith("DENIED "), "its own wrong secret is used, not the server's right one: " + wrong);

        assertEquals("SHA256 " + reference, asOtherUser(credentials(s3.secretKey()), List.of(), S3_URI, storeOptions()),
                "its own credentials, from its own environment");
        Path log = socket.resolveSibling("server.log");
        assertFalse(Files.exists(log) && Files.readString(log).contains(s3.secretKey()), "the page server logs no secret");
    }

    @Test
    void aPluginOnTheOtherUsersClassPathIsNeverLoadedInTheServer() throws Exception {
        Path plugin = OwnEnvironmentTest.StampPlugin.build(Files.createDirectory(shared.resolve("plugin")), 1);
        try (Stream<Path> files = Files.walk(plugin.getParent())) {
            for (Path file : files.toList()) {
                Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(Files.isDirectory(file) ? "rwxr-xr-x" : "rw-r--r--"));
            }
        }
        String answer = asOtherUser(Map.of(), List.of(plugin), "stamp:4096", Map.of());
        assertTrue(answer.startsWith("FAILED ") && answer.contains("never loads the plugins of uid " + uid), answer);
        assertEquals("SHA256 " + OwnEnvironmentTest.sha256(OwnEnvironmentTest.StampPlugin.content(4096, 1)),
                asOwner(List.of(plugin), "stamp:4096", Map.of()), "root's own client is served with it");
    }

    /** Runs {@link EnvironmentClient} as the other user, with only {@code environment} of AWS, and returns its line. */
    private static String asOtherUser(Map<String, String> environment, List<Path> extraClassPath, String uri, Map<String, String> options)
            throws IOException {
        Path home = Files.createTempDirectory(shared, "home-");
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx------"));
        run("chown", uid + ":" + gid, home.toString());
        // CAP_SYS_PTRACE only for a userfaultfd, which this machine gives no other user (vm.unprivileged_userfaultfd=0, and
        // /dev/userfaultfd is root's); it overrides no file permission, so the client reads what the user may, no more.
        List<String> command = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups",
                "--inh-caps=+sys_ptrace", "--ambient-caps=+sys_ptrace", "--"));
        command.addAll(clientCommand(extraClassPath, uri, options, home));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().put("HOME", home.toString());
        builder.environment().remove("XDG_RUNTIME_DIR");
        return start(builder, environment);
    }

    private static String asOwner(Map<String, String> environment, String uri, Map<String, String> options) throws IOException {
        return start(new ProcessBuilder(clientCommand(List.of(), uri, options, null)), environment);
    }

    private static String asOwner(List<Path> extraClassPath, String uri, Map<String, String> options) throws IOException {
        return start(new ProcessBuilder(clientCommand(extraClassPath, uri, options, null)), Map.of());
    }

    private static List<String> clientCommand(List<Path> extraClassPath, String uri, Map<String, String> options, Path temp) {
        String path = Stream.concat(Stream.of(classPath), extraClassPath.stream().map(Path::toString))
                .collect(Collectors.joining(File.pathSeparator));
        List<String> command = new ArrayList<>(List.of(java(), "--enable-native-access=ALL-UNNAMED", "-Xshare:auto", "-cp", path));
        if (temp != null) {
            command.add("-Djava.io.tmpdir=" + temp);
        }
        command.addAll(List.of(EnvironmentClient.class.getName(), socket.toString(), uri));
        options.forEach((key, value) -> command.add(key + "=" + value));
        return command;
    }

    private static String start(ProcessBuilder builder, Map<String, String> environment) throws IOException {
        builder.redirectError(ProcessBuilder.Redirect.INHERIT);
        builder.environment().keySet().removeIf(name -> name.startsWith("AWS_"));
        awsFiles(builder.environment());
        builder.environment().putAll(environment);
        Process client = builder.start();
        clients.add(client);
        String line = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8)).readLine();
        return line == null ? "(the client exited)" : line;
    }

    /** Never an instance metadata service, never anyone's own AWS files. */
    private static void awsFiles(Map<String, String> environment) {
        environment.put("AWS_EC2_METADATA_DISABLED", "true");
        environment.put("AWS_CONFIG_FILE", shared.resolve("no-aws-config").toString());
        environment.put("AWS_SHARED_CREDENTIALS_FILE", shared.resolve("no-aws-credentials").toString());
    }

    /**
     * This JVM's class path, its jars copied where the other user may read them (root's Maven
     * repository is not), its directories (this worktree's target/) as they are.
     */
    private static String readableClassPath(Path lib) throws IOException {
        List<String> entries = new ArrayList<>();
        int i = 0;
        for (String entry : (System.getProperty("java.class.path") + File.pathSeparator + System.getProperty("jdk.module.path", ""))
                .split(File.pathSeparator)) {
            Path path = Path.of(entry);
            if (entry.isEmpty() || !Files.exists(path)) {
                continue;
            }
            if (Files.isRegularFile(path)) {
                Path copy = Files.copy(path, lib.resolve((i++) + "-" + path.getFileName()));
                Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rw-r--r--"));
                entries.add(copy.toString());
            } else {
                entries.add(path.toAbsolutePath().toString());
            }
        }
        Files.setPosixFilePermissions(lib, PosixFilePermissions.fromString("rwxr-xr-x"));
        return String.join(File.pathSeparator, entries);
    }

    private static Map<String, String> storeOptions() {
        return Map.of("endpoint", s3.endpoint().toString(), "region", s3.region());
    }

    private static Map<String, String> withOptions(String key, String value) {
        Map<String, String> options = new HashMap<>(storeOptions());
        options.put(key, value);
        return options;
    }

    private static Map<String, String> credentials(String secret) {
        return Map.of("AWS_ACCESS_KEY_ID", s3.accessKey(), "AWS_SECRET_ACCESS_KEY", secret);
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private static int run(String... command) throws IOException {
        try {
            return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    private static String output(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, process.waitFor(), String.join(" ", command) + ": " + output);
        return output;
    }
}
