package dev.anymap.s3server;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * An {@link EmbeddedS3} in a child JVM: the S3 server to map objects from, since a JVM must never
 * serve the objects it maps itself. The child runs on this JVM's class path and module path (as a
 * class path), gets its key pair through its environment, keeps its objects in a temporary
 * directory it deletes, and exits when this JVM closes it or dies.
 */
public final class S3ServerProcess implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(20);
    private static final int OUTPUT_LINES_KEPT = 40;
    /** s3proxy at DEBUG logs every byte it serves: gigabytes. */
    private static final String LOGGING = "dev/anymap/s3server/s3-server-logback.xml";

    private final Process process;
    private final URI endpoint;
    private final String accessKey;
    private final String secretKey;

    private S3ServerProcess(Process process, URI endpoint, String accessKey, String secretKey) {
        this.process = process;
        this.endpoint = endpoint;
        this.accessKey = accessKey;
        this.secretKey = secretKey;
    }

    /** Starts a server that keeps its objects under the temporary-file directory. */
    public static S3ServerProcess start() throws IOException {
        return start(Path.of(System.getProperty("java.io.tmpdir")));
    }

    /** Starts a server that keeps its objects in a new directory under {@code parent} (say, /dev/shm), deleted when it stops. */
    public static S3ServerProcess start(Path parent) throws IOException {
        String accessKey = S3Access.newAccessKey();
        String secretKey = S3Access.newSecretKey();
        ProcessBuilder builder = new ProcessBuilder(command(parent)).redirectErrorStream(true);
        builder.environment().put(S3ServerChild.ACCESS_KEY_VARIABLE, accessKey);
        builder.environment().put(S3ServerChild.SECRET_KEY_VARIABLE, secretKey);
        Process process = builder.start();
        Output output = new Output(process);
        try {
            String ready = output.ready.get(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (ready == null) {
                process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                throw new IOException("the S3 server process failed to start" + exit(process) + output.tail());
            }
            return new S3ServerProcess(process, URI.create(ready.substring(S3ServerChild.READY.length()).strip()), accessKey, secretKey);
        } catch (TimeoutException e) {
            process.destroyForcibly();
            throw new IOException("the S3 server process did not start within " + START_TIMEOUT + output.tail());
        } catch (ExecutionException e) {
            process.destroyForcibly();
            throw new IOException("reading the S3 server process's output", e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
            throw new InterruptedIOException("interrupted while the S3 server process started");
        } catch (IOException | RuntimeException e) {
            process.destroyForcibly();
            throw e;
        }
    }

    private static List<String> command(Path parent) {
        String classPath = Stream.of(System.getProperty("java.class.path"), System.getProperty("jdk.module.path"))
                .filter(path -> path != null && !path.isEmpty())
                .collect(Collectors.joining(File.pathSeparator));
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-XX:+UseSerialGC");
        command.add("-Xshare:auto");
        command.add("-Dlogback.configurationFile=" + LOGGING);
        command.add("-cp");
        command.add(classPath);
        command.add(S3ServerChild.class.getName());
        command.add(parent.toAbsolutePath().toString());
        return command;
    }

    private static String exit(Process process) {
        return process.isAlive() ? "" : " (exit code " + process.exitValue() + ")";
    }

    /** {@code http://127.0.0.1:PORT}; buckets are addressed path-style. */
    public URI endpoint() {
        return endpoint;
    }

    /** The region a client signs its requests for. */
    public String region() {
        return EmbeddedS3.REGION;
    }

    /** The access key this server accepts. */
    public String accessKey() {
        return accessKey;
    }

    /** The secret key this server accepts, which only a client of its own needs. */
    public String secretKey() {
        return secretKey;
    }

    /** The options with which the s3 backend reaches this server: {@code anymap.map(uri, MapOptions.defaults().withBackendOptions(...))}. */
    public Map<String, String> backendOptions() {
        return S3Access.backendOptions(endpoint, region(), accessKey, secretKey);
    }

    /** A new SDK client for this server, to create buckets and store objects; the caller closes it. */
    public S3Client newClient() {
        return S3Access.newClient(endpoint, region(), accessKey, secretKey);
    }

    /** The child's process id. */
    long pid() {
        return process.pid();
    }

    /** Stops the server: the end of its standard input tells it to, and it deletes its objects. */
    @Override
    public void close() throws IOException {
        process.getOutputStream().close();
        try {
            if (!process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
            throw new InterruptedIOException("interrupted while the S3 server process stopped");
        }
    }

    /** Drains the child's output for as long as it runs, so that it never blocks on a full pipe, keeping the last lines. */
    private static final class Output {
        final CompletableFuture<String> ready = new CompletableFuture<>();
        private final Deque<String> last = new ArrayDeque<>();

        Output(Process process) {
            BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            Thread.ofPlatform().daemon().name("anymap-s3-server-output").start(() -> {
                try (reader) {
                    for (String line; (line = reader.readLine()) != null; ) {
                        if (line.startsWith(S3ServerChild.READY)) {
                            ready.complete(line);
                        } else if (!ready.isDone()) {
                            keep(line);
                        }
                    }
                } catch (IOException e) {
                    // the child is gone; the exit code tells how
                } finally {
                    ready.complete(null);
                }
            });
        }

        private synchronized void keep(String line) {
            if (last.size() == OUTPUT_LINES_KEPT) {
                last.removeFirst();
            }
            last.addLast(line);
        }

        synchronized String tail() {
            return last.isEmpty() ? "; it printed nothing" : "; its output:\n  " + String.join("\n  ", last);
        }
    }
}
