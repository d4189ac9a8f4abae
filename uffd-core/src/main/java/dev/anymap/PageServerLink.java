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
import java.util.Collection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

/**
 * This process's connection to its page server: requests and their replies, in order, and the
 * watch that notices the server die.
 *
 * <p>When the server dies, its keeper (a process of its own, see {@code dev.anymap.keeper.Keeper})
 * starts a new one and hands it every region with its userfaultfd; the new server wakes the threads
 * that were waiting on faults and serves them. Nothing of that runs here: this JVM may be stopped
 * at a safepoint that its faulting threads hold up. The link only connects again once it can, and
 * {@linkplain Message.Resume resumes} its regions there; requests made meanwhile wait for it. If
 * the keeper is gone too, no one will serve the regions: the link fails their missing pages.
 */
final class PageServerLink implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(PageServerLink.class.getName());
    private static final int TAKE_OVER_STARTS = 6;
    /** For {@link #call(Message, int, URI, int)}: whichever server serves the link. */
    static final int ANY_SERVER = -1;
    /** The server of a region that no server mapped: a local file this process mapped itself. */
    static final int NO_SERVER = -2;
    private static final java.time.Duration RECONNECT_PAUSE = java.time.Duration.ofMillis(20);
    /** How long a link with no keeper left waits for a server that may have been handed the regions just before. */
    private static final java.time.Duration KEEPERLESS_GRACE = java.time.Duration.ofSeconds(2);

    private final AnymapConfig config;
    private final Path socket;
    private final Supplier<Collection<ServerRegion>> liveRegions;
    private final AtomicLong nextRequest = new AtomicLong(1);
    private final Object lock = new Object();
    /**
     * The calls waiting for their replies, by request id: the server answers a request when it is
     * done, and a map or a flush that waits on storage is answered after requests sent after it.
     */
    private final java.util.Map<Long, CompletableFuture<Connection.Incoming>> pending = new java.util.HashMap<>();
    private Connection connection;
    private Thread reader;
    private volatile boolean closed;
    private long serverPid;
    /** No server serves this link's regions (none yet, or one died and none is coming): a request connects to a new one. */
    private boolean serverless;
    /** How many servers took this link's regions over from a dead one. */
    private int takeOvers;
    /** How many times the link was connected to another server, for whatever reason: the number of the one now. */
    private int server;

    private PageServerLink(AnymapConfig config, Path socket, Supplier<Collection<ServerRegion>> liveRegions) {
        this.config = config;
        this.socket = socket;
        this.liveRegions = liveRegions;
    }

    static PageServerLink open(AnymapConfig config, Supplier<Collection<ServerRegion>> liveRegions) throws IOException {
        Path socket = config.socket() != null ? config.socket().toAbsolutePath() : ServerAddress.defaultSocket();
        PageServerLink link = new PageServerLink(config, socket, liveRegions);
        synchronized (link.lock) {
            // Connected by the first request that needs a server: a process that maps only local files starts none.
            link.serverless = true;
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
        return call(request, passedFd, about, ANY_SERVER);
    }

    /**
     * As {@link #call(Message, int, URI)}, but only of the server numbered {@code server} ({@link
     * #server()} when the caller began): a region that one server answered a map for is unknown to
     * the server that takes over from it, which may even have given its number to another region.
     *
     * @throws ConnectionLostException if another server serves the link by now
     */
    Message call(Message request, int passedFd, URI about, int server) throws IOException {
        Connection.Incoming answer = exchange(request, passedFd, about, server);
        answer.closeDescriptors();
        return answer.message();
    }

    /**
     * As {@link #call(Message, int, URI, int)}, with the descriptors that came with the answer (a
     * region's memory, or a kernel-mapped region's file): the caller closes them.
     */
    Connection.Incoming exchange(Message request, int passedFd, URI about, int server) throws IOException {
        Connection.Incoming answer;
        while (true) {
            try {
                answer = send(request, passedFd, server);
                break;
            } catch (ConnectionLostException e) {
                // Asked again of the server that takes over, unless it made a region or is about one only the lost server had.
                if (server != ANY_SERVER || request instanceof Message.Map || request instanceof Message.Attach) {
                    throw e;
                }
            }
        }
        if (answer.message() instanceof Message.Failure failure) {
            answer.closeDescriptors();
            if (failure.kind() == Message.ErrorKind.INVALID_ARGUMENT || failure.kind() == Message.ErrorKind.UNKNOWN_SCHEME) {
                throw new IllegalArgumentException(failure.message());
            }
            throw toException(failure, about);
        }
        return answer;
    }

    private Connection.Incoming send(Message request, int passedFd, int server) throws IOException {
        long id = Message.requestId(request);
        CompletableFuture<Connection.Incoming> reply = new CompletableFuture<>();
        Connection current;
        synchronized (lock) {
            awaitConnection();
            if (server != ANY_SERVER && server != this.server) {
                throw new ConnectionLostException(socket, null);
            }
            current = connection;
            try {
                current.send(request, passedFd);
            } catch (IOException e) {
                // The server is gone (EPIPE, ECONNRESET) and its replies with it: the reader finds so too and reconnects.
                current.shutdown();
                long deadline = System.nanoTime() + takeOverBound();
                while (connection == current && !closed && System.nanoTime() - deadline < 0) {
                    try {
                        lock.wait(RECONNECT_PAUSE.toMillis());
                    } catch (InterruptedException interrupted) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException("interrupted while the page server was being replaced");
                    }
                }
                throw new ConnectionLostException(socket, e);
            }
            pending.put(id, reply);
        }
        try {
            return reply.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            synchronized (lock) {
                pending.remove(id);
            }
            reply.thenAccept(answer -> abandon(current, answer)); // if it came meanwhile; else the reader finds it is no one's
            throw new InterruptedIOException("interrupted while waiting for the page server");
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
    }

    /**
     * An answer that no call waits for (its thread was interrupted) is no one's: what came with it (a
     * region's memory, say) is closed, and a region made for it is unmapped, on the connection it came
     * by, with no one waiting for the server's answer. Not sent by the reader itself: a send that
     * waited for room would stop it reading the answers that make room.
     */
    private void abandon(Connection from, Connection.Incoming answer) {
        answer.closeDescriptors();
        if (answer.message() instanceof Message.Mapped mapped) {
            Thread.ofVirtual().name("anymap-unmap-abandoned").start(() -> {
                try {
                    from.send(new Message.Unmap(nextRequestId(), mapped.regionId()), -1);
                } catch (IOException gone) {
                    // The server's session ends with the connection, and closes the region with the others.
                    LOG.log(System.Logger.Level.DEBUG, "unmapping abandoned region " + mapped.regionId() + ": " + gone.getMessage());
                }
            });
        }
    }

    /** The page server went away before it answered; a server that takes over may answer it again. */
    static final class ConnectionLostException extends IOException {
        private static final long serialVersionUID = 1L;

        ConnectionLostException(Path socket, Throwable cause) {
            super("the connection to the page server at " + socket + " was lost", cause);
        }
    }

    /** A region's access order (or its resident chunks), fetched a packet at a time. */
    /** What the server has done for region {@code regionId} so far. */
    RegionStats stats(long regionId, URI about) throws IOException {
        Message reply = call(new Message.StatsRequest(nextRequestId(), regionId), -1, about);
        if (!(reply instanceof Message.Stats stats)) {
            throw new IOException("the page server answered a stats request with " + reply);
        }
        return RegionStats.of(stats);
    }

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

    /** Has the page server ({@code server}, or any) prefetch a region's chunks in this order, sent a packet at a time. */
    void prefetch(long regionId, int[] chunks, URI about, int server) throws IOException {
        for (int from = 0; from < chunks.length; from += MessageCodec.MAX_TRACE_CHUNKS) {
            int[] piece = java.util.Arrays.copyOfRange(chunks, from, Math.min(chunks.length, from + MessageCodec.MAX_TRACE_CHUNKS));
            call(new Message.PrefetchOrder(nextRequestId(), regionId, piece), -1, about, server);
        }
    }

    /** How many times a server took this link's regions over from a dead one since the link opened. */
    int takeOvers() {
        synchronized (lock) {
            return takeOvers;
        }
    }

    /**
     * The number of the server that serves the link, once one does: it changes with every new
     * server, so that requests about a region being made go only to the server that makes it.
     */
    int server() throws IOException {
        synchronized (lock) {
            awaitConnection();
            return server;
        }
    }

    /** Whether the server numbered {@code server} serves the link now; never waits, nor starts one. */
    boolean serves(int server) {
        synchronized (lock) {
            return connection != null && this.server == server;
        }
    }

    /**
     * How long to wait for a server to take over: a keeper gives up by itself, after a few servers
     * that each did not start within the start timeout.
     */
    private long takeOverBound() {
        return config.startTimeout().toNanos() * TAKE_OVER_STARTS;
    }

    /** Waits, holding the lock, while the link connects again to a server that took over. */
    private void awaitConnection() throws IOException {
        long deadline = System.nanoTime() + takeOverBound();
        while (connection == null && !closed) {
            if (serverless) {
                connection = connectAndGreet(true);
                serverless = false;
                server++;
                startReader(connection);
                break;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("no page server took over at " + socket + " in time; see server.log beside it");
            }
            try {
                lock.wait(TimeUnit.NANOSECONDS.toMillis(left) + 1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for a page server to take over");
            }
        }
        if (closed) {
            throw new IOException("this Anymap is closed");
        }
    }

    /**
     * Connects to the server (with {@code mayStart}, starting one if none listens) and shakes hands.
     * A server that retires when idle refuses new clients, and cuts those it had queued before their
     * handshake, as does one killed or stopped in the middle of a handshake: then this connects
     * again, to a new server if need be, until the start timeout.
     */
    private Connection connectAndGreet(boolean mayStart) throws IOException {
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
            Connection fresh = mayStart ? connectOrStart(deadline) : connectToServer();
            try {
                greet(fresh);
                return fresh;
            } catch (HandshakeCut e) {
                fresh.close();
                if (!mayStart) {
                    throw e;
                }
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
        if (!(welcome.message() instanceof Message.Welcome hello)) {
            throw new IOException("the page server at " + socket + " answered the handshake with " + welcome.message());
        }
        serverPid = hello.serverPid();
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
     * another was leaving the socket finds it still taken and exits: start one again. While a keeper
     * lives for the socket, a server that died is being replaced: wait for that one instead.
     */
    private Connection connectOrStart(long deadline) throws IOException {
        while (true) {
            try {
                return connectToServer();
            } catch (NativeException e) {
                if (e.errno() != Errno.ENOENT && e.errno() != Errno.ECONNREFUSED) {
                    throw e;
                }
                if (ServerAddress.keeperAlive(socket)) {
                    Connection takenOver = awaitTakeOver(e);
                    if (takenOver != null) {
                        return takenOver;
                    }
                    continue; // the keeper went without starting a server (its server had retired): start one
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

    /** The server that a live keeper starts; null if the keeper goes without one. */
    private Connection awaitTakeOver(NativeException refused) throws IOException {
        long deadline = System.nanoTime() + takeOverBound();
        while (ServerAddress.keeperAlive(socket)) {
            if (System.nanoTime() - deadline >= 0) {
                throw new IOException("no page server listens at " + socket + " (" + Errno.name(refused.errno()) + "), and the"
                        + " keeper there started none within " + TimeUnit.NANOSECONDS.toSeconds(takeOverBound()) + " s; see server.log"
                        + " beside it");
            }
            LockSupport.parkNanos(RECONNECT_PAUSE.toNanos());
            try {
                return connectToServer();
            } catch (NativeException e) {
                if (e.errno() != Errno.ENOENT && e.errno() != Errno.ECONNREFUSED) {
                    throw e;
                }
            }
        }
        return null;
    }

    private Connection connectToServer() throws IOException {
        // The server receives our userfaultfds, and with them the power to write our memory: only a
        // server of our own user in a directory of our own will do, or one of a user we trust with it.
        ServerAddress.prepareDirectory(socket, PageServerLink::trustedServer);
        int fd = UnixSockets.connect(socket);
        UnixSockets.PeerCredentials peer;
        try {
            peer = UnixSockets.peerCredentials(fd);
        } catch (NativeException e) {
            Libc.close(fd);
            throw e;
        }
        if (!trustedServer(peer.uid())) {
            Libc.close(fd);
            throw new IOException("the page server at " + socket + " runs as uid " + peer.uid() + ", not as this user (uid "
                    + Libc.getuid() + "); refusing to hand it this process's memory (set " + SERVER_UID_VARIABLE + "=" + peer.uid()
                    + " to trust that user with it)");
        }
        return new Connection(fd);
    }

    /**
     * Whether a page server of {@code uid} may be handed this process's memory: this user's own;
     * root's, which could write it anyway; or that of the user named by {@value #SERVER_UID_VARIABLE}
     * (a service account whose server serves this user with {@code --allow-uid}).
     */
    static boolean trustedServer(int uid) {
        if (uid == Libc.getuid() || uid == 0) {
            return true;
        }
        String trusted = System.getenv(SERVER_UID_VARIABLE);
        return trusted != null && trusted.strip().equals(Integer.toString(uid));
    }

    /** The environment variable that names one more user whose page server this process trusts. */
    static final String SERVER_UID_VARIABLE = "ANYMAP_SERVER_UID";

    private void startReader(Connection watched) {
        reader = Thread.ofPlatform().name("anymap-page-server-link").daemon().start(() -> readReplies(watched));
    }

    private void readReplies(Connection watched) {
        IOException ended = null;
        try {
            for (Connection.Incoming incoming; (incoming = watched.receive()) != null; ) {
                CompletableFuture<Connection.Incoming> waiting;
                synchronized (lock) {
                    waiting = pending.remove(Message.requestId(incoming.message()));
                }
                if (waiting != null) {
                    waiting.complete(incoming);
                } else {
                    abandon(watched, incoming);
                }
            }
        } catch (IOException e) {
            ended = e;
        } catch (RuntimeException | Error e) {
            // A defect, not the server's going: still, every call waiting on this reader must hear of it.
            LOG.log(System.Logger.Level.ERROR, "reading the replies of page server " + serverPid + " at " + socket + " failed", e);
            ended = new IOException("reading the page server's replies failed with " + e, e);
        }
        if (!closed) {
            reconnect(watched, ended);
        }
    }

    /**
     * The server went away: fail the calls in flight, then connect to the server its keeper starts
     * and resume the live regions there. With no keeper left, no one serves them: their missing pages
     * are failed here, and the next request starts a new server.
     */
    private void reconnect(Connection dead, IOException cause) {
        int regions;
        synchronized (lock) {
            IOException lost = new ConnectionLostException(socket, cause);
            pending.values().forEach(call -> call.completeExceptionally(lost));
            pending.clear();
            dead.close();
            connection = null;
            regions = liveRegions.get().size();
        }
        long died = System.nanoTime();
        if (regions > 0) {
            LOG.log(System.Logger.Level.WARNING, "page server " + serverPid + " at " + socket + " went away; waiting for the server"
                    + " its keeper hands this process's " + regions + " regions to");
        }
        long deadline = died + takeOverBound();
        String why = null;
        while (!closed) {
            try {
                Connection fresh = connectAndGreet(false);
                try {
                    resume(fresh);
                } catch (IOException | RuntimeException e) {
                    fresh.close();
                    throw e;
                }
                synchronized (lock) {
                    if (closed) {
                        fresh.close();
                        return;
                    }
                    connection = fresh;
                    takeOvers++;
                    server++;
                    startReader(fresh);
                    lock.notifyAll();
                }
                LOG.log(regions > 0 ? System.Logger.Level.WARNING : System.Logger.Level.INFO, "page server " + serverPid
                        + " took over this process's " + regions + " regions, " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - died)
                        + " ms after the last one went away");
                return;
            } catch (IOException e) {
                if (!ServerAddress.keeperAlive(socket)) {
                    // The keeper may have just handed over, to a server still starting: give it a moment.
                    why = why == null ? "its keeper is gone too (" + e.getMessage() + ")" : why;
                    if (regions == 0 || System.nanoTime() - died > KEEPERLESS_GRACE.toNanos()) {
                        break;
                    }
                }
                if (System.nanoTime() > deadline) {
                    why = "no page server took over within " + TimeUnit.NANOSECONDS.toSeconds(deadline - died) + " s (" + e.getMessage() + ")";
                    break;
                }
                LockSupport.parkNanos(RECONNECT_PAUSE.toNanos());
            }
        }
        if (closed) {
            return;
        }
        Collection<ServerRegion> orphaned = liveRegions.get();
        if (orphaned.isEmpty()) {
            LOG.log(System.Logger.Level.INFO, "the page server at " + socket + " went away with nothing of this process's; the next"
                    + " request connects to, or starts, a new one");
        } else {
            LOG.log(System.Logger.Level.ERROR, "the page server at " + socket + " died and " + why + "; every page not yet fetched in"
                    + " this process's regions now raises an error when touched (see server.log beside the socket)");
            orphaned.forEach(region -> region.lose().run());
        }
        synchronized (lock) {
            serverless = true; // the next request connects to, or starts, a new server
            lock.notifyAll();
        }
    }

    /** Takes this process's regions back on a server that took over; those it does not hold fail their missing pages. */
    private void resume(Connection fresh) throws IOException {
        Collection<ServerRegion> regions = liveRegions.get();
        java.util.Map<Long, ServerRegion> byId = new java.util.HashMap<>();
        regions.forEach(region -> {
            long id = region.serverRegionId().getAsLong();
            if (id >= 0) {
                byId.put(id, region);
            }
        });
        long[] ids = byId.keySet().stream().mapToLong(Long::longValue).toArray();
        for (int from = 0; from < ids.length || from == 0; from += MessageCodec.MAX_REGION_IDS) {
            long[] part = java.util.Arrays.copyOfRange(ids, from, Math.min(ids.length, from + MessageCodec.MAX_REGION_IDS));
            fresh.send(new Message.Resume(nextRequestId(), part));
            Connection.Incoming answer = fresh.receive();
            if (answer == null || !(answer.message() instanceof Message.Resumed resumed)) {
                throw new IOException("the page server at " + socket + " answered a resume with " + (answer == null ? "nothing" : answer.message()));
            }
            for (long lost : resumed.lost()) {
                ServerRegion region = byId.get(lost);
                if (region.closed().getAsBoolean()) {
                    continue; // the dead server had unmapped it
                }
                LOG.log(System.Logger.Level.ERROR, "the page server that took over does not hold " + Redaction.uri(region.uri())
                        + " (region " + lost + "); its pages not yet fetched now raise an error when touched");
                region.lose().run();
            }
        }
    }

    private static IOException toException(Message.Failure failure, URI about) {
        String message = failure.message();
        String subject = about == null ? null : Redaction.uri(about);
        // The exception names its subject itself: the server's message, which names it too, is its reason.
        String reason = subject != null && message.startsWith(subject + ": ") ? message.substring(subject.length() + 2) : message;
        return switch (failure.kind()) {
            case NO_SUCH_OBJECT -> new NoSuchFileException(subject, null, reason);
            case ACCESS_DENIED -> new AccessDeniedException(subject, null, reason);
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
            lock.notifyAll();
            stopping = reader;
            last = connection;
            if (last == null) {
                return;
            }
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
