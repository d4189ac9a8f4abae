package dev.anymap.firecracker;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.ServedGuest;
import dev.anymap.linux.Libc;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Firecracker's page-fault handler: listens on the Unix socket that Firecracker is pointed at
 * ({@code PUT /snapshot/load} with {@code "mem_backend": {"backend_type": "Uffd", "backend_path":
 * PATH}}) and serves the snapshot memory of every microVM that connects, each with its own
 * userfaultfd, from the object at one URI, through {@link Anymap#serve(URI, MapOptions,
 * dev.anymap.GuestMemory, AccessTrace)}.
 *
 * <p>Each connection must come from this user (or an allowed one) and send Firecracker's one
 * handshake message, its regions as JSON with the userfaultfd attached, within the handshake
 * timeout. A connection that does not is logged naming its process and the cause, its descriptors
 * closed, and the handler serves the others on. A VM is served until its connection closes
 * (Firecracker exited), or the handler closes.
 *
 * <pre>{@code
 * try (Anymap anymap = Anymap.open();
 *      FirecrackerHandler handler = FirecrackerHandler.builder(anymap, socket, URI.create("s3://snapshots/vm.mem")).start()) {
 *     ... // resume VMs with PUT /snapshot/load
 * }
 * }</pre>
 */
public final class FirecrackerHandler implements AutoCloseable {
    static final System.Logger LOG = System.getLogger(FirecrackerHandler.class.getName());

    /** A microVM being served: Firecracker's process, the regions it sent, and what serves them. */
    public record Vm(long pid, List<GuestRegionMapping> regions, ServedGuest guest) {
        /** Copies the regions, so that the record's list never changes. */
        public Vm {
            regions = List.copyOf(regions);
        }

        /** The bytes of guest memory, over every region. */
        public long memoryBytes() {
            return regions.stream().mapToLong(GuestRegionMapping::size).sum();
        }
    }

    /**
     * What happens to the handler's VMs, as it happens; called from the handler's threads, so it
     * must not block for long. Each method has an empty default.
     */
    public interface Listener {
        /** A VM's memory is being served. */
        default void served(Vm vm) {}

        /** A VM's connection closed (Firecracker exited): called before its memory stops being served. */
        default void ended(Vm vm) {}

        /**
         * Something went wrong with the connection of Firecracker's process {@code pid}; {@code
         * message} names the process, the memory's URI and the cause, and says whether the VM is
         * still served. The same message is logged.
         */
        default void error(long pid, String message) {}
    }

    private final HandlerSocket socket;
    private final HandlerLoop loop;
    private final Thread thread;
    private boolean closed;

    private FirecrackerHandler(HandlerSocket socket, HandlerLoop loop) {
        this.socket = socket;
        this.loop = loop;
        this.thread = Thread.ofPlatform().name("anymap-firecracker").daemon().start(loop);
    }

    /** A handler that serves VMs at {@code socket} from the snapshot memory at {@code memory}, through {@code anymap}. */
    public static Builder builder(Anymap anymap, Path socket, URI memory) {
        return new Builder(anymap, socket, memory);
    }

    /** Where the handler listens. */
    public Path socket() {
        return socket.path();
    }

    /** The VMs served now. */
    public List<Vm> vms() {
        return loop.vms();
    }

    /**
     * Stops listening and serving: the socket is removed, every connection closed, and the memory
     * of every VM still connected no longer served (a VM that goes on running then waits in its
     * faults). With {@link Builder#record(Path)}, the recorded VM's trace is saved first. Idempotent.
     */
    @Override
    public void close() throws IOException {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        loop.stop();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            loop.closeAll();
        } finally {
            socket.close();
        }
    }

    /** How a handler is set up; {@link #start()} binds its socket and starts serving. */
    public static final class Builder {
        private final Anymap anymap;
        private final Path socket;
        private final URI memory;
        private MapOptions options = MapOptions.defaults();
        private AccessTrace trace;
        private Path record;
        private Set<Integer> allowedUids = Set.of();
        private Duration handshakeTimeout = Duration.ofSeconds(10);
        private Listener listener = new Listener() { };

        private Builder(Anymap anymap, Path socket, URI memory) {
            this.anymap = Objects.requireNonNull(anymap, "anymap");
            this.socket = Objects.requireNonNull(socket, "socket");
            this.memory = Objects.requireNonNull(memory, "memory");
        }

        /** How the memory is fetched (chunk size, readahead, backend options...); read-only. */
        public Builder options(MapOptions options) {
            this.options = Objects.requireNonNull(options, "options");
            return this;
        }

        /** A trace to replay on every VM from the moment its handshake arrives, as a recorded boot's. */
        public Builder trace(AccessTrace trace) {
            this.trace = trace;
            return this;
        }

        /** Saves the first VM's trace to {@code file} when it ends, or when the handler closes if it has not. */
        public Builder record(Path file) {
            this.record = file;
            return this;
        }

        /** Users besides this one whose Firecracker processes may connect (a jailer's uids). */
        public Builder allowUids(Set<Integer> uids) {
            this.allowedUids = Set.copyOf(uids);
            return this;
        }

        /** How long a process that connects has to send its handshake (default 10 s). */
        public Builder handshakeTimeout(Duration timeout) {
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("a handshake timeout must be above 0, not " + timeout);
            }
            this.handshakeTimeout = timeout;
            return this;
        }

        /** Who is told of each microVM served and ended (default: nobody). */
        public Builder listener(Listener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /**
         * Binds the socket and starts serving.
         *
         * @throws IOException if another handler listens at the socket, or its directory is not this user's alone
         * @throws IllegalArgumentException if the options are writable
         */
        public FirecrackerHandler start() throws IOException {
            if (options.writable()) {
                throw new IllegalArgumentException("guest memory is served read-only; Firecracker keeps the guest's writes in its own memory");
            }
            HandlerSocket bound = HandlerSocket.bind(socket);
            try {
                HandlerLoop loop = new HandlerLoop(bound.fd(), new VmServing(anymap, memory, options, trace, record == null ? null
                        : new TraceRecorder(record), listener), allowedUids, handshakeTimeout, listener);
                FirecrackerHandler handler = new FirecrackerHandler(bound, loop);
                LOG.log(System.Logger.Level.INFO, "Firecracker handler listening at " + bound.path() + ", serving "
                        + dev.anymap.spi.Redaction.uri(memory));
                return handler;
            } catch (IOException | RuntimeException e) {
                bound.close();
                throw e;
            }
        }
    }

    /** Closes descriptors that a peer sent and that are not (or no longer) needed. */
    static void closeAll(List<Integer> fds) {
        for (int fd : fds) {
            Libc.close(fd);
        }
    }
}
