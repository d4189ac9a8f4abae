package dev.anymap;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.MessageCodec;
import dev.anymap.protocol.ServerAddress;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * This process's connection to its page server: requests and their replies, in order, and the
 * watch that notices the server die.
 *
 * <p>When the server dies, the link connects to (or starts) a new one, maps every live region there
 * again and hands it the region's userfaultfd; the new server wakes the threads that were waiting
 * on faults the dead one had taken, and they fault again. The recovery runs on the link's reader
 * thread and allocates little: a garbage collection that starts while threads wait on faults that
 * no server serves cannot finish until the new server is up.
 */
final class PageServerLink implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(PageServerLink.class.getName());

    private final AnymapConfig config;
    private final Path socket;
    private final Supplier<Collection<MappedRegion>> liveRegions;
    private final AtomicLong nextRequest = new AtomicLong(1);
    private final Object lock = new Object();
    private final Deque<CompletableFuture<Connection.Incoming>> pending = new ArrayDeque<>();
    private Connection connection;
    private Thread reader;
    private volatile boolean closed;

    private PageServerLink(AnymapConfig config, Path socket, Supplier<Collection<MappedRegion>> liveRegions) {
        this.config = config;
        this.socket = socket;
        this.liveRegions = liveRegions;
    }

    static PageServerLink open(AnymapConfig config, Supplier<Collection<MappedRegion>> liveRegions) throws IOException {
        Path socket = config.socket() != null ? config.socket().toAbsolutePath() : ServerAddress.defaultSocket();
        PageServerLink link = new PageServerLink(config, socket, liveRegions);
        synchronized (link.lock) {
            link.connection = link.connectAndGreet();
            link.startReader(link.connection);
        }
        return link;
    }

    long nextRequestId() {
        return nextRequest.getAndIncrement();
    }

    /**
     * Sends a request and waits for its reply; a {@link Message.Failure} is thrown as the matching
     * exception: IllegalArgumentException for a bad URI or option, NoSuchFileException,
     * AccessDeniedException, or IOException.
     */
    Message call(Message request, int passedFd, URI about) throws IOException {
        CompletableFuture<Connection.Incoming> reply = new CompletableFuture<>();
        synchronized (lock) {
            if (closed) {
                throw new IOException("this Anymap is closed");
            }
            connection.send(request, passedFd);
            pending.addLast(reply);
        }
        Message answer;
        try {
            answer = reply.get().message();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for the page server");
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
        if (answer instanceof Message.Failure failure) {
            if (failure.kind() == Message.ErrorKind.INVALID_ARGUMENT || failure.kind() == Message.ErrorKind.UNKNOWN_SCHEME) {
                throw new IllegalArgumentException(failure.message());
            }
            throw toException(failure, about);
        }
        return answer;
    }

    /** A region's access order (or its resident chunks), fetched a packet at a time. */
    int[] chunks(long regionId, boolean resident, URI about) throws IOException {
        java.util.List<int[]> pieces = new java.util.ArrayList<>();
        int have = 0;
        while (true) {
            Message reply = call(new Message.TraceRequest(nextRequestId(), regionId, have, resident), -1, about);
            if (!(reply instanceof Message.Trace trace)) {
                throw new IOException("the page server answered a trace request with " + reply);
            }
            pieces.add(trace.chunks());
            have += trace.chunks().length;
            if (trace.chunks().length == 0 || have >= trace.total()) {
                return pieces.stream().flatMapToInt(java.util.Arrays::stream).toArray();
            }
        }
    }

    /** Has the page server prefetch a region's chunks in this order, sent a packet at a time. */
    void prefetch(long regionId, int[] chunks, URI about) throws IOException {
        for (int from = 0; from < chunks.length; from += MessageCodec.MAX_TRACE_CHUNKS) {
            int[] piece = java.util.Arrays.copyOfRange(chunks, from, Math.min(chunks.length, from + MessageCodec.MAX_TRACE_CHUNKS));
            call(new Message.PrefetchOrder(nextRequestId(), regionId, piece), -1, about);
        }
    }

    /**
     * Connects to the server (starting one if none listens) and shakes hands. A server that retires
     * when idle refuses new clients before it decides to go, but one killed or stopped in the middle
     * of a handshake cuts it: then this connects again, to a new server if need be, until the start
     * timeout.
     */
    private Connection connectAndGreet() throws IOException {
        long deadline = System.nanoTime() + config.startTimeout().toNanos();
        for (int cuts = 0; ; cuts++) {
            if (cuts > 1) {
                // A server that keeps cutting handshakes is broken, not leaving: do not spin on it.
                try {
                    Thread.sleep(Math.min(100, 10L * cuts));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while connecting to the page server at " + socket);
                }
            }
            Connection fresh = connectOrStart(deadline);
            try {
                greet(fresh);
                return fresh;
            } catch (HandshakeCut e) {
                fresh.close();
                if (System.nanoTime() - deadline >= 0) {
                    throw new IOException("the page server at " + socket + " closed the connection during the handshake, "
                            + "and so did every one after it for " + config.startTimeout() + "; see server.log beside it", e);
                }
                LOG.log(System.Logger.Level.DEBUG, "the page server at " + socket + " left during the handshake; connecting again");
            } catch (IOException e) {
                fresh.close();
                throw e;
            }
        }
    }

    private void greet(Connection fresh) throws IOException {
        Connection.Incoming welcome;
        try {
            fresh.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
            welcome = fresh.receive();
        } catch (NativeException e) {
            if (e.errno() == Errno.EPIPE || e.errno() == Errno.ECONNRESET) {
                throw new HandshakeCut(e);
            }
            throw e;
        }
        if (welcome == null) {
            throw new HandshakeCut(null);
        }
        if (welcome.message() instanceof Message.Failure failure) {
            throw new IOException(failure.message());
        }
        if (!(welcome.message() instanceof Message.Welcome)) {
            throw new IOException("the page server at " + socket + " answered the handshake with " + welcome.message());
        }
    }

    /** The server closed the connection before it answered the handshake. */
    private static final class HandshakeCut extends IOException {
        private static final long serialVersionUID = 1L;

        HandshakeCut(Throwable cause) {
            super("the connection was closed during the handshake", cause);
        }
    }

    /**
     * A connection to the server at the socket, started if none listens. A server started while
     * another was leaving the socket finds it still taken and exits: start one again.
     */
    private Connection connectOrStart(long deadline) throws IOException {
        while (true) {
            try {
                return connectToServer();
            } catch (NativeException e) {
                if (e.errno() != Errno.ENOENT && e.errno() != Errno.ECONNREFUSED) {
                    throw e;
                }
                if (!config.autoStart()) {
                    throw new IOException("no page server listens at " + socket + " (" + Errno.name(e.errno())
                            + "); start one (anymap serve) or open Anymap with auto-start on");
                }
                if (System.nanoTime() - deadline >= 0) {
                    throw new IOException("no page server listens at " + socket + " (" + Errno.name(e.errno())
                            + ") though one was started; see server.log beside it");
                }
            }
            ServerLauncher.start(config, socket);
        }
    }

    private Connection connectToServer() throws IOException {
        // The server receives our userfaultfds, and with them the power to write our memory: only
        // a server of our own user in a directory of our own will do.
        ServerAddress.prepareDirectory(socket);
        int fd = UnixSockets.connect(socket);
        UnixSockets.PeerCredentials peer = UnixSockets.peerCredentials(fd);
        if (peer.uid() != Libc.getuid()) {
            Libc.close(fd);
            throw new IOException("the page server at " + socket + " runs as uid " + peer.uid() + ", not as this user (uid "
                    + Libc.getuid() + "); refusing to hand it this process's memory");
        }
        return new Connection(fd);
    }

    private void startReader(Connection watched) {
        reader = Thread.ofPlatform().name("anymap-page-server-link").daemon().start(() -> readReplies(watched));
    }

    private void readReplies(Connection watched) {
        IOException ended = null;
        try {
            for (Connection.Incoming incoming; (incoming = watched.receive()) != null; ) {
                CompletableFuture<Connection.Incoming> waiting;
                synchronized (lock) {
                    waiting = pending.pollFirst();
                }
                if (waiting != null) {
                    waiting.complete(incoming);
                }
            }
        } catch (IOException e) {
            ended = e;
        }
        if (!closed) {
            recover(watched, ended);
        }
    }

    /** The server went away: fail the calls in flight, and move every live region to a new server. */
    private void recover(Connection dead, IOException cause) {
        synchronized (lock) {
            IOException lost = new IOException("the page server connection was lost", cause);
            pending.forEach(call -> call.completeExceptionally(lost));
            pending.clear();
            dead.close();
            if (closed) {
                return;
            }
            LOG.log(System.Logger.Level.WARNING, "the page server at " + socket + " went away; moving "
                    + liveRegions.get().size() + " regions to a new one");
            long deadline = System.nanoTime() + config.startTimeout().toNanos();
            IOException last = null;
            while (System.nanoTime() < deadline) {
                try {
                    Connection fresh = connectAndGreet();
                    for (MappedRegion region : liveRegions.get()) {
                        region.moveTo(fresh, nextRequestId());
                    }
                    connection = fresh;
                    startReader(fresh);
                    LOG.log(System.Logger.Level.INFO, "regions moved to the page server at " + socket);
                    return;
                } catch (IOException e) {
                    last = e;
                    LOG.log(System.Logger.Level.WARNING, "moving regions to a new page server: " + e.getMessage());
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException interrupted) {
                        break;
                    }
                }
            }
            // No server: fail the waiting threads rather than leave them waiting for ever.
            LOG.log(System.Logger.Level.ERROR, "no page server could take over at " + socket
                    + "; every page not yet fetched now raises an error when touched", last);
            liveRegions.get().forEach(MappedRegion::poisonMissingPages);
            closed = true;
        }
    }

    private static IOException toException(Message.Failure failure, URI about) {
        String message = failure.message();
        String subject = about == null ? null : Redaction.uri(about);
        return switch (failure.kind()) {
            case NO_SUCH_OBJECT -> new NoSuchFileException(subject, null, message);
            case ACCESS_DENIED -> new AccessDeniedException(subject, null, message);
            case OBJECT_CHANGED -> new ObjectChangedException(message);
            default -> new IOException(message);
        };
    }

    /**
     * Leaves the page server. The socket is shut down first, which wakes the reader thread, and its
     * descriptor closed only once that thread has stopped: closed any earlier, the number could be
     * reused by a new connection that the old reader would then read from.
     */
    @Override
    public void close() {
        Thread stopping;
        Connection last;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            stopping = reader;
            last = connection;
            last.shutdown();
        }
        if (stopping != null && stopping != Thread.currentThread()) {
            try {
                stopping.join(TimeUnit.SECONDS.toMillis(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (stopping == null || !stopping.isAlive()) {
            last.close();
        }
    }
}
