package dev.anymap.sample.sql;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * A real PostgreSQL server for the tests of this module: one per test run, started on first use in
 * a temporary directory on a free loopback port, and stopped and deleted when the run ends, passed
 * or failed. postgres refuses to run as root, so as root it runs as the {@code postgres} user. Where
 * it cannot start (no server binaries, no user to run it as), the tests that need it are skipped
 * with the reason, printed and reported, never passed.
 *
 * <p>The binaries are looked for in {@code -Dpgblob.test.postgres-bin=DIR}, else the newest
 * {@code /usr/lib/postgresql/N/bin}.
 */
public final class TestPostgres implements BeforeAllCallback, ParameterResolver {
    static final String USER = "anymap";
    static final String PASSWORD = "Pg-test-secret-5417";
    static final String DATABASE = "blobs";

    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(TestPostgres.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        Started started = context.getRoot().getStore(NAMESPACE).getOrComputeIfAbsent(Started.class, k -> Started.start(),
                Started.class);
        if (started.server == null) {
            System.out.println("SKIPPED " + context.getDisplayName() + ": " + started.whyNot);
            Assumptions.abort("no PostgreSQL server for the test: " + started.whyNot);
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == Server.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        return context.getRoot().getStore(NAMESPACE).get(Started.class, Started.class).server;
    }

    /** The outcome of the one attempt to start a server: a server, or why there is none. Closed when the run ends. */
    private record Started(Server server, String whyNot) implements AutoCloseable {
        static Started start() {
            try {
                return new Started(Server.start(), null);
            } catch (Unavailable e) {
                return new Started(null, e.getMessage());
            } catch (IOException e) {
                throw new IllegalStateException("PostgreSQL failed to start", e);
            }
        }

        @Override
        public void close() throws IOException {
            if (server != null) {
                server.close();
            }
        }
    }

    /** The server cannot run on this machine: a reason to skip, not a failure. */
    static final class Unavailable extends Exception {
        private static final long serialVersionUID = 1L;

        Unavailable(String message) {
            super(message);
        }
    }

    /** A running server with database {@value #DATABASE}, owned by {@value #USER}, who logs in over TCP with a password. */
    public static final class Server implements AutoCloseable {
        private static final long START_DEADLINE_NANOS = TimeUnit.SECONDS.toNanos(60);

        private final Path bin;
        private final Path directory;
        private final List<String> asOwner;
        private final Process process;
        private final int port;
        private final Thread stopOnExit;

        private Server(Path bin, Path directory, List<String> asOwner, Process process, int port) {
            this.bin = bin;
            this.directory = directory;
            this.asOwner = asOwner;
            this.process = process;
            this.port = port;
            this.stopOnExit = new Thread(process::destroyForcibly, "stop-test-postgres");
            Runtime.getRuntime().addShutdownHook(stopOnExit);
        }

        int port() {
            return port;
        }

        String jdbcUrl() {
            return "jdbc:postgresql://127.0.0.1:" + port + "/" + DATABASE;
        }

        /** The URI of a row, without credentials. */
        java.net.URI uri(String table, String key) {
            return java.net.URI.create("pgblob://127.0.0.1:" + port + "/" + DATABASE + "/" + table + "/" + key);
        }

        /** The options that log in. */
        java.util.Map<String, String> login() {
            return java.util.Map.of("user", USER, "password", PASSWORD);
        }

        Connection connect() throws SQLException {
            Properties properties = new Properties();
            properties.setProperty("user", USER);
            properties.setProperty("password", PASSWORD);
            return DriverManager.getConnection(jdbcUrl(), properties);
        }

        static Server start() throws Unavailable, IOException {
            Path bin = binaries();
            List<String> asOwner = asOwner();
            Path directory = Files.createTempDirectory("pgblob-test-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            try {
                giveToOwner(directory, asOwner);
                Path passwordFile = giveToOwner(Files.writeString(directory.resolve("password"), PASSWORD + "\n"), asOwner);
                run(directory, asOwner, bin.resolve("initdb").toString(), "-D", directory.resolve("data").toString(),
                        "-U", USER, "--pwfile=" + passwordFile, "--auth-local=trust", "--auth-host=scram-sha-256",
                        "-E", "UTF8", "--locale=C", "--no-sync");
                Files.delete(passwordFile);
                giveToOwner(Files.createDirectory(directory.resolve("socket")), asOwner);
                IOException last = null;
                for (int attempt = 0; attempt < 3; attempt++) {
                    // A free port can be taken between the probe and postgres's bind: then try another.
                    int port = freePort();
                    List<String> command = new ArrayList<>(asOwner);
                    command.addAll(List.of(bin.resolve("postgres").toString(), "-D", directory.resolve("data").toString(),
                            "-k", directory.resolve("socket").toString(), "-h", "127.0.0.1", "-p", Integer.toString(port),
                            "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
                            "-c", "max_connections=100", "-c", "shared_buffers=64MB"));
                    Process process = new ProcessBuilder(command)
                            .redirectErrorStream(true)
                            .redirectOutput(directory.resolve("server.log").toFile())
                            .start();
                    Server server = new Server(bin, directory, asOwner, process, port);
                    try {
                        server.awaitReady();
                        server.createDatabase();
                        return server;
                    } catch (IOException e) {
                        last = e;
                        server.stopProcess();
                    }
                }
                throw last;
            } catch (IOException | RuntimeException e) {
                deleteTree(directory);
                throw e;
            }
        }

        private void awaitReady() throws IOException {
            long deadline = System.nanoTime() + START_DEADLINE_NANOS;
            SQLException last = null;
            while (System.nanoTime() < deadline) {
                if (!process.isAlive()) {
                    throw new IOException("postgres exited with " + process.exitValue() + ": " + log());
                }
                Properties properties = new Properties();
                properties.setProperty("user", USER);
                properties.setProperty("password", PASSWORD);
                properties.setProperty("connectTimeout", "2");
                try (Connection ignored = DriverManager.getConnection(
                        "jdbc:postgresql://127.0.0.1:" + port + "/postgres", properties)) {
                    return;
                } catch (SQLException notYet) {
                    last = notYet;
                }
                try {
                    // Polling with a deadline: postgres has no readiness signal that a child process can wait on.
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while PostgreSQL started");
                }
            }
            throw new IOException("PostgreSQL did not accept connections within 60 s (" + last + "): " + log());
        }

        private void createDatabase() throws IOException {
            Properties properties = new Properties();
            properties.setProperty("user", USER);
            properties.setProperty("password", PASSWORD);
            try (Connection connection = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres", properties);
                    var statement = connection.createStatement()) {
                statement.execute("CREATE DATABASE " + DATABASE);
            } catch (SQLException e) {
                throw new IOException("creating the test database", e);
            }
        }

        private String log() {
            try {
                return Files.readString(directory.resolve("server.log"), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "(no log: " + e.getMessage() + ")";
            }
        }

        private void stopProcess() {
            try {
                // Fast shutdown: a smart one (SIGTERM, Process.destroy) would wait for every client to leave.
                List<String> stop = new ArrayList<>(asOwner);
                stop.addAll(List.of(bin.resolve("pg_ctl").toString(), "-D", directory.resolve("data").toString(),
                        "-m", "fast", "-w", "-t", "30", "stop"));
                new ProcessBuilder(stop).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .start().waitFor(40, TimeUnit.SECONDS);
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (IOException e) {
                process.destroyForcibly();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }

        @Override
        public void close() throws IOException {
            stopProcess();
            try {
                Runtime.getRuntime().removeShutdownHook(stopOnExit);
            } catch (IllegalStateException exiting) {
                // The JVM is shutting down already; the hook runs anyway.
            }
            deleteTree(directory);
        }

        private static Path binaries() throws Unavailable {
            String configured = System.getProperty("pgblob.test.postgres-bin");
            if (configured != null) {
                Path bin = Path.of(configured);
                if (!Files.isExecutable(bin.resolve("postgres")) || !Files.isExecutable(bin.resolve("initdb"))) {
                    throw new Unavailable("-Dpgblob.test.postgres-bin=" + configured + " holds no postgres and initdb");
                }
                return bin;
            }
            try (Stream<Path> versions = Files.list(Path.of("/usr/lib/postgresql"))) {
                return versions.map(version -> version.resolve("bin"))
                        .filter(bin -> Files.isExecutable(bin.resolve("postgres")) && Files.isExecutable(bin.resolve("initdb")))
                        .max(Comparator.comparingInt(bin -> parseVersion(bin.getParent().getFileName().toString())))
                        .orElseThrow(() -> new Unavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin "
                                + "(apt-get install postgresql, or -Dpgblob.test.postgres-bin=DIR)"));
            } catch (IOException e) {
                throw new Unavailable("no PostgreSQL server binaries: /usr/lib/postgresql cannot be listed (" + e.getMessage()
                        + "); apt-get install postgresql, or -Dpgblob.test.postgres-bin=DIR");
            }
        }

        private static int parseVersion(String name) {
            try {
                return Integer.parseInt(name);
            } catch (NumberFormatException e) {
                return -1;
            }
        }

        /** The command prefix that runs a program as the server's owner: none for a user other than root. */
        private static List<String> asOwner() throws Unavailable, IOException {
            int uid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
            if (uid != 0) {
                return List.of();
            }
            Path setpriv = Stream.of("/usr/bin/setpriv", "/bin/setpriv").map(Path::of).filter(Files::isExecutable)
                    .findFirst().orElseThrow(() -> new Unavailable("running as root, and setpriv (util-linux) is missing "
                            + "to run postgres as another user"));
            try {
                Path.of("/").getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("postgres");
            } catch (IOException noUser) {
                throw new Unavailable("running as root, and there is no 'postgres' user to run the server as "
                        + "(postgres refuses to run as root)");
            }
            // setpriv execs postgres in place, so the process this JVM holds is postgres itself.
            return List.of(setpriv.toString(), "--reuid=postgres", "--regid=postgres", "--init-groups", "--");
        }

        /** Makes {@code path} the server owner's, where the server runs as another user. */
        private static Path giveToOwner(Path path, List<String> asOwner) throws IOException {
            if (!asOwner.isEmpty()) {
                UserPrincipalLookupService users = path.getFileSystem().getUserPrincipalLookupService();
                Files.setOwner(path, users.lookupPrincipalByName("postgres"));
            }
            return path;
        }

        private static void run(Path directory, List<String> asOwner, String... program) throws IOException {
            List<String> command = new ArrayList<>(asOwner);
            command.addAll(List.of(program));
            Path log = directory.resolve(Path.of(program[0]).getFileName() + ".log");
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                if (!process.waitFor(120, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    throw new IOException(String.join(" ", program) + " did not finish within 120 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
                throw new IOException("interrupted");
            }
            if (process.exitValue() != 0) {
                throw new IOException(program[0] + " failed with " + process.exitValue() + ": " + Files.readString(log));
            }
        }

        private static int freePort() throws IOException {
            try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                return probe.getLocalPort();
            }
        }

        private static void deleteTree(Path directory) throws IOException {
            if (!Files.exists(directory)) {
                return;
            }
            try (Stream<Path> paths = Files.walk(directory)) {
                for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(path);
                }
            }
        }
    }
}
