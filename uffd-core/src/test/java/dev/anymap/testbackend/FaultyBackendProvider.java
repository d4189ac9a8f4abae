package dev.anymap.testbackend;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A storage backend for the engine's failure tests, loaded by the page server from the test class
 * path. {@code faulty:NAME?size=BYTES&seed=N} holds the same bytes as
 * {@code mem:NAME?size=BYTES&seed=N}, and misbehaves where the URI says:
 * {@code fail=OFFSET} fails every read that covers that offset; {@code error=OFFSET} throws an Error
 * from every such read, and {@code openerror=1} from the open, as a plugin missing a class does;
 * {@code pad=N} makes the message of each of those failures N characters longer, as one that holds an HTTP body; {@code slow=OFFSET&delay=MILLIS}
 * delays such reads; {@code slowfrom=OFFSET} delays every read that reaches past that offset, and
 * {@code slowto=OFFSET} limits that to reads that start before it; {@code slowabove=BYTES} delays
 * every read longer than that (the page server's multi-chunk reads, not its single-chunk ones);
 * {@code together=N} holds every read until N are in progress at once, and fails those that wait
 * 10 seconds for it; {@code opentogether=N} does the same with the opens of that NAME; {@code openafter=N} holds the open until N reads of that NAME have ended, and
 * fails it after 10 seconds; {@code release=PORT} holds every read until a byte arrives on a connection
 * that the read makes to that port on loopback (the test's latch, across processes), and fails it
 * after {@code holdfor=MILLIS} (default 30 s) without one. {@code hang=OFFSET} holds every read that covers that offset, and
 * {@code hangfrom=OFFSET} every read that reaches past it, until the backend is closed (or the read
 * interrupted, unless {@code deaf=1}): a storage that never answers, with no timeouts of its own.
 * A read after close fails with a {@link BackendClosedException}. The version is the seed's generation, and {@link #openAt} reads as
 * any size and generation asked for, failing every read if they are not the URI's.
 */
public final class FaultyBackendProvider implements BackendProvider {
    /** What {@code error} and {@code openerror} say is missing. */
    public static final String MISSING_CLASS = "dev/example/plugin/MissingDependency";

    @Override
    public String name() {
        return "faulty";
    }

    @Override
    public Set<String> schemes() {
        return Set.of("faulty");
    }

    /** {@code token}: a secret that changes nothing, for the tests that look for secrets where none may be. */
    @Override
    public Set<String> supportedOptions() {
        return Set.of("token");
    }

    @Override
    public Set<String> secretOptions() {
        return Set.of("token");
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        Map<String, Long> parameters = parameters(uri);
        if (parameters.containsKey("openerror")) {
            throw new NoClassDefFoundError(MISSING_CLASS + padding(parameters));
        }
        if (parameters.containsKey("openafter")) {
            ReadsDone.await(name(uri), parameters.get("openafter"));
        }
        if (parameters.containsKey("opentogether")) {
            OPENS.computeIfAbsent(name(uri), name -> new Gathering(parameters.get("opentogether"), "opens")).await();
        }
        return backend(uri, parameters, parameters.get("size"), ObjectVersion.generation(parameters.getOrDefault("seed", 0L)));
    }

    @Override
    public Optional<StorageBackend> openAt(URI uri, Map<String, String> options, long size, ObjectVersion version) {
        return Optional.of(backend(uri, parameters(uri), size, version));
    }

    private static FaultyBackend backend(URI uri, Map<String, Long> parameters, long size, ObjectVersion version) {
        long seed = parameters.getOrDefault("seed", 0L);
        boolean asIs = size == parameters.get("size") && version.equals(ObjectVersion.generation(seed));
        return new FaultyBackend(uri, size, seed, version, asIs, parameters.getOrDefault("fail", -1L),
                parameters.getOrDefault("error", -1L), padding(parameters), parameters.getOrDefault("slow", -1L),
                parameters.getOrDefault("slowfrom", Long.MAX_VALUE), parameters.getOrDefault("slowto", Long.MAX_VALUE),
                parameters.getOrDefault("slowabove", Long.MAX_VALUE), parameters.getOrDefault("delay", 0L),
                new Gathering(parameters.getOrDefault("together", 1L), "reads"), parameters.getOrDefault("release", -1L).intValue(),
                parameters.getOrDefault("holdfor", 30_000L).intValue(), parameters.getOrDefault("hang", -1L),
                parameters.getOrDefault("hangfrom", Long.MAX_VALUE), parameters.getOrDefault("deaf", 0L) == 1, new CountDownLatch(1));
    }

    private static String padding(Map<String, Long> parameters) {
        return " " + "<p>server error</p>".repeat((int) (parameters.getOrDefault("pad", 0L) / 19));
    }

    private static Map<String, Long> parameters(URI uri) {
        String spec = uri.getSchemeSpecificPart();
        Map<String, Long> parameters = new HashMap<>();
        for (String parameter : spec.substring(spec.indexOf('?') + 1).split("&")) {
            String[] pair = parameter.split("=", 2);
            parameters.put(pair[0], Long.parseLong(pair[1]));
        }
        return parameters;
    }

    private static String name(URI uri) {
        String spec = uri.getSchemeSpecificPart();
        return spec.substring(0, spec.indexOf('?'));
    }

    /** The reads that have ended, by object name, in this page server. */
    private static final class ReadsDone {
        private static final Map<String, Long> COUNTS = new HashMap<>();

        static synchronized void ended(String name) {
            COUNTS.merge(name, 1L, Long::sum);
            ReadsDone.class.notifyAll();
        }

        static synchronized void await(String name, long count) throws IOException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (COUNTS.getOrDefault(name, 0L) < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IOException("only " + COUNTS.getOrDefault(name, 0L) + " of " + count + " reads of " + name
                            + " ended before its open");
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(ReadsDone.class, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while opening " + name);
                }
            }
        }
    }

    /** Holds reads until enough are in progress at once; from then on, lets every read through. */
    /** The opens of each NAME gathering, in this page server. */
    private static final Map<String, Gathering> OPENS = new java.util.concurrent.ConcurrentHashMap<>();

    private static final class Gathering {
        private static final long PATIENCE_NANOS = TimeUnit.SECONDS.toNanos(10);
        private final long count;
        private final String what;
        private long arrived;

        Gathering(long count, String what) {
            this.count = count;
            this.what = what;
        }

        synchronized void await() throws IOException {
            arrived++;
            notifyAll();
            long deadline = System.nanoTime() + PATIENCE_NANOS;
            while (arrived < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    arrived--;
                    throw new IOException("only " + (arrived + 1) + " of " + count + " " + what + " came at once");
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(this, left);
                } catch (InterruptedException e) {
                    arrived--;
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("closed while gathering");
                }
            }
        }
    }

    private record FaultyBackend(URI uri, long size, long seed, ObjectVersion version, boolean asIs, long failAt, long errorAt, String padding, long slowAt,
                                 long slowFrom, long slowTo, long slowAbove, long delayMillis, Gathering gathering,
                                 int releasePort, int holdMillis, long hangAt, long hangFrom, boolean deaf, CountDownLatch closed)
            implements StorageBackend {
        @Override
        public void read(long offset, MemorySegment target) throws IOException {
            OutOfRangeException.check(uri, offset, target.byteSize(), size);
            if (closed.getCount() == 0) {
                throw new BackendClosedException(uri);
            }
            if (!asIs) {
                throw new ObjectChangedException(uri, version, "it is generation " + seed);
            }
            long end = offset + target.byteSize();
            if (failAt >= offset && failAt < end) {
                throw new IOException("injected failure for the read at " + offset + padding);
            }
            if (errorAt >= offset && errorAt < end) {
                throw new NoClassDefFoundError(MISSING_CLASS + padding);
            }
            gathering.await();
            if (releasePort > 0) {
                awaitRelease(offset);
            }
            if ((hangAt >= offset && hangAt < end) || end > hangFrom) {
                hang();
            }
            if ((slowAt >= offset && slowAt < end) || (end > slowFrom && offset < slowTo) || target.byteSize() > slowAbove) {
                try {
                    Thread.sleep(delayMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("closed while slow");
                }
            }
            ReferenceContent.fill(size, seed, offset, target);
            ReadsDone.ended(name(uri));
        }

        private void awaitRelease(long offset) throws IOException {
            try (Socket latch = new Socket(InetAddress.getLoopbackAddress(), releasePort)) {
                latch.setSoTimeout(holdMillis);
                if (latch.getInputStream().read() < 0) {
                    throw new IOException("the read at " + offset + " was let go without a release");
                }
            } catch (SocketTimeoutException e) {
                throw new IOException("the read at " + offset + " was held " + holdMillis + " ms and never released");
            }
        }

        /** Waits until the backend is closed, as a read whose connection has gone silent, then fails as one cut off by close. */
        private void hang() throws IOException {
            boolean interrupted = false;
            while (true) {
                try {
                    closed.await();
                    break;
                } catch (InterruptedException e) {
                    if (!deaf) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException("interrupted while hanging");
                    }
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            throw new BackendClosedException(uri);
        }

        @Override
        public void close() {
            closed.countDown();
        }
    }
}
