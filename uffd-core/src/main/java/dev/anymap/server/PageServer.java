package dev.anymap.server;

import dev.anymap.ServerLimits;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.ConnectionPoller;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.MessageCodec;
import dev.anymap.protocol.ServerAddress;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The page server: listens on a Unix socket, takes applications' userfaultfds, and fills their
 * pages from storage backends. One server serves many clients, each with many regions.
 *
 * <p>Only one server runs per socket: it holds a lock on {@code <socket>.lock} beside the socket
 * while it listens, so a second one exits at once and a socket left by a dead one is replaced.
 *
 * <p>A server that exits when idle retires rather than stops: it unlinks its socket, shuts its
 * listener down and lets its keeper go in one step under the lock that admits clients, then cuts
 * the clients still queued before their handshake, and stops. A client that connects while it
 * retires is therefore either refused (ENOENT, ECONNREFUSED) or cut before its handshake, and
 * connects again, to a new server that it starts; never served by a server with no keeper, and
 * never cut off once welcomed.
 */
public final class PageServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(PageServer.class.getName());

    private final Path socket;
    private final Duration exitWhenIdle;
    private final Set<Integer> allowedUids;
    private final PeerWarnings refusals = new PeerWarnings(LOG, "uid");
    private final PeerWarnings limited = new PeerWarnings(LOG, "process");
    private final ServerLimits limits;
    /** Open connections by client pid, changed under the admission lock. */
    private final java.util.Map<Long, Integer> connectionsOf = new java.util.HashMap<>();
    /** Connections refused past a limit whose handshake is still being answered: a bound on what refusing costs. */
    private final java.util.concurrent.atomic.AtomicInteger refusing = new java.util.concurrent.atomic.AtomicInteger();
    private static final int MAX_REFUSING = 64;
    /** What each connected process holds of fetches, prefetch memory and the cache, across its connections; under the admission lock. */
    private final java.util.Map<Long, PeerBudget> budgets = new ConcurrentHashMap<>();
    private ConnectionPoller poller;
    private final BackendLoaders backendLoaders;
    private final StorageSpeeds storageSpeeds = new StorageSpeeds();
    private final PageCache cache;
    private final Set<ClientSession> sessions = ConcurrentHashMap.newKeySet();
    /** The sessions, by client pid, that hold regions taken over from a dead server until their clients resume them. */
    private final java.util.Map<Long, ClientSession> orphans = new ConcurrentHashMap<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    /** Held while deciding to retire and while admitting a client, so that neither misses the other. */
    private final Object admission = new Object();
    private final ScheduledExecutorService idleTimer = Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().name("anymap-idle-timer").daemon().unstarted(r));
    private FileChannel lockChannel;
    private KeeperLink keeper;
    private int listener = -1;
    private Thread acceptor;
    private volatile boolean closing;
    private boolean retiring;
    private boolean acceptorDone;
    private long idleSince = System.nanoTime();

    /** Another page server already holds the socket. */
    public static final class AlreadyRunningException extends IOException {
        private static final long serialVersionUID = 1L;

        AlreadyRunningException(Path socket) {
            super("a page server is already running at " + socket
                    + "; use it, stop it first, or give this one another socket (--socket)");
        }
    }

    /**
     * Refuses to start a page server where the memory there is (the machine's, or the memory cgroup's
     * limit, which a server started from here would share) cannot hold one: checked by a process
     * before it starts a server, so that the server's JVM never pushes the cgroup into the OOM killer.
     *
     * @throws IllegalArgumentException naming the limit and what a server needs
     */
    public static void requireMemoryForAServer() {
        PageCache.defaultLimit();
    }

    /**
     * @param exitWhenIdle stop this long after the last client leaves (or after start, if none
     *     comes); null to run until closed
     * @param allowedUids users besides the server's own that may connect
     * @param cacheLimit the shared page cache's memory budget in bytes, or 0 for {@linkplain PageCache#defaultLimit() the default}
     */
    public PageServer(Path socket, Duration exitWhenIdle, Set<Integer> allowedUids, BackendRegistry registry, long cacheLimit) {
        this(socket, exitWhenIdle, allowedUids, registry, cacheLimit, ServerLimits.DEFAULTS);
    }

    /** @param limits what the server takes from its clients */
    public PageServer(Path socket, Duration exitWhenIdle, Set<Integer> allowedUids, BackendRegistry registry, long cacheLimit,
                      ServerLimits limits) {
        this.limits = limits;
        this.socket = socket.toAbsolutePath();
        this.cache = new PageCache(cacheLimit > 0 ? cacheLimit : PageCache.defaultLimit());
        this.exitWhenIdle = exitWhenIdle;
        this.allowedUids = Set.copyOf(allowedUids);
        this.backendLoaders = new BackendLoaders(registry);
    }

    /**
     * Starts a keeper for this server, or with {@code takeOver} connects to the keeper that started
     * it and serves the regions of the server that died; then binds the socket and starts accepting
     * clients. From here on, this JVM's backends know that they open objects for other processes
     * ({@link BackendProvider#PAGE_SERVER_PROPERTY}), and never take what a region's options leave
     * out from this JVM's environment.
     *
     * @param restartCommand what the keeper runs to start a server that takes over from this one;
     *     null for a server with no keeper, whose death leaves its regions to their processes
     */
    public synchronized void start(java.util.List<String> restartCommand, boolean takeOver) throws IOException {
        System.setProperty(BackendProvider.PAGE_SERVER_PROPERTY, "true");
        boolean shared = !allowedUids.isEmpty();
        keepNewFilesPrivate(allowedUids);
        ServerAddress.prepareServerDirectory(socket, shared);
        keeper = restartCommand == null ? null : new KeeperLink(socket, restartCommand);
        if (keeper == null) {
            lock();
        } else if (takeOver) {
            new ClientSession(sessions().withoutKeeper(), null, new ClientSession.Peer(ProcessHandle.current().pid(), 0, PeerPolicy.OWNER),
                    ignored -> { }, ClientSession.NO_REGION_LIMIT).warmUp();
            // A standby waits here until its server dies; the lock is that server's until then. Regions
            // are taken over before the socket is bound: a client that connects must find them here.
            keeper.takeOver(this::adopt);
            lock();
            LOG.log(System.Logger.Level.INFO, "page server " + ProcessHandle.current().pid() + " took over the regions of "
                    + orphans.size() + " clients");
        } else {
            lock();
            keeper.start();
        }
        Files.deleteIfExists(socket);
        listener = UnixSockets.listen(socket, 64);
        // Another user connects only if it may write the socket; the uid check at accept still refuses every user not allowed.
        Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString(shared ? "rw-rw-rw-" : "rw-------"));
        synchronized (admission) {
            idleSince = System.nanoTime();
        }
        poller = new ConnectionPoller("anymap-connections");
        acceptor = Thread.ofPlatform().name("anymap-accept").start(this::acceptLoop);
        scheduleIdleCheck();
        idleTimer.scheduleWithFixedDelay(() -> {
            try {
                dropOrphansOfExitedClients();
            } catch (RuntimeException e) {
                // A periodic task that throws is never run again: the orphans of every later exit would be kept for good.
                LOG.log(System.Logger.Level.ERROR, "dropping the regions of clients that exited", e);
            }
        }, 1, 1, TimeUnit.SECONDS);
        LOG.log(System.Logger.Level.INFO, "page server " + ProcessHandle.current().pid() + " listening at " + socket);
    }

    /**
     * A server that serves other users ({@code --allow-uid}) has a socket directory they can pass
     * through (mode 0711): every file it, its keeper and its standby create there (logs, locks, the
     * keeper's socket) is then made for its own user alone (umask 077), so that no one can read a
     * log or hold a lock of it by name. Called before the first of them is created.
     */
    static void keepNewFilesPrivate(Set<Integer> allowedUids) {
        if (!allowedUids.isEmpty()) {
            Libc.umask(0077);
        }
    }

    private void lock() throws IOException {
        // One lock per socket: servers at two sockets of one directory are two servers.
        lockChannel = FileChannel.open(socket.resolveSibling(socket.getFileName() + ".lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = lockChannel.tryLock();
        } catch (java.nio.channels.OverlappingFileLockException inThisJvm) {
            lock = null; // a server of this JVM holds it
        }
        if (lock == null) {
            lockChannel.close();
            throw new AlreadyRunningException(socket);
        }
    }

    /** Blocks until the server has stopped. */
    public void awaitStop() throws InterruptedException {
        stopped.await();
    }

    private void acceptLoop() {
        try {
            while (!closing) {
                int client;
                try {
                    client = UnixSockets.accept(listener);
                } catch (NativeException e) {
                    if (closing || isRetiring()) {
                        return; // shut down, and every client that had connected before is accepted
                    }
                    limited.warn(0, "accept: " + e.getMessage());
                    // Out of descriptors, say: the connection waits in the queue, and retrying at once would spin.
                    java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
                    continue;
                }
                try {
                    if (!takeIn(client)) {
                        return;
                    }
                } catch (RuntimeException | Error e) {
                    // The acceptor must outlive any one client: without it, this server would never take in another.
                    LOG.log(System.Logger.Level.ERROR, "taking in a client failed; it is cut off", e);
                }
            }
        } finally {
            synchronized (admission) {
                acceptorDone = true;
                if (closing || sessions.isEmpty()) {
                    stopped.countDown();
                }
            }
        }
    }

    /**
     * Checks and admits one connected client, and starts its session; false if the server is
     * closing, and takes no one else. The client's descriptor is closed on every way out but a
     * session's, which owns it from then on.
     */
    private boolean takeIn(int client) {
        Connection connection = null;
        ClientSession admitted = null;
        try {
            UnixSockets.PeerCredentials peer;
            try {
                peer = UnixSockets.peerCredentials(client);
            } catch (NativeException e) {
                Libc.close(client);
                return true;
            }
            if (peer.uid() != Libc.getuid() && !allowedUids.contains(peer.uid())) {
                refusals.warn(peer.uid(), "refused process " + peer.pid() + " of uid " + peer.uid()
                        + ": this server serves uid " + Libc.getuid() + " and " + allowedUids);
                Libc.close(client);
                return true;
            }
            try {
                connection = new Connection(client, poller);
            } catch (NativeException e) {
                limited.warn(peer.pid(), "client " + peer.pid() + ": " + e.getMessage());
                Libc.close(client);
                return true;
            }
            String refusal;
            ClientSession session = new ClientSession(sessions(), connection, new ClientSession.Peer(peer.pid(),
                    ClientSession.startOf(peer.pid()), PeerPolicy.of(peer.uid(), Libc.getuid())), this::sessionEnded, peerLimits);
            synchronized (admission) {
                if (closing) {
                    connection.close();
                    return false;
                }
                if (retiring) {
                    // Queued before this server decided to retire, and so to let its keeper go: cut before its handshake,
                    // the client connects again, to a server with a keeper (starting one, as none listens here now).
                    connection.close();
                    return true;
                }
                refusal = admit(peer.pid());
                if (refusal == null) {
                    sessions.add(session);
                    admitted = session;
                }
            }
            if (refusal != null) {
                refuse(connection, peer.pid(), refusal);
                return true;
            }
            // Virtual: an idle client costs a parked thread, no platform thread; its connection never blocks in a native call.
            Thread.ofVirtual().name("anymap-client-" + peer.pid()).start(session);
            return true;
        } catch (RuntimeException | Error e) {
            if (connection != null) {
                connection.close();
            } else {
                Libc.close(client);
            }
            if (admitted != null) {
                sessionEnded(admitted); // counted in, never to run
            }
            throw e;
        }
    }

    /** Counts a connection of process {@code pid} in, under the admission lock; null, or why it is refused. */
    private String admit(long pid) {
        if (sessions.size() >= limits.connections()) {
            return "this page server holds " + sessions.size() + " connections, the most it takes (--max-connections "
                    + limits.connections() + " of anymap serve raises it)";
        }
        int of = connectionsOf.getOrDefault(pid, 0);
        if (of >= limits.connectionsPerProcess()) {
            return "process " + pid + " holds " + of + " connections to this page server, the most it takes of one process "
                    + "(--max-connections-per-process " + limits.connectionsPerProcess() + " of anymap serve raises it)";
        }
        connectionsOf.put(pid, of + 1);
        return null;
    }

    /**
     * Answers the handshake of a connection past a limit with the reason, on a thread of its own: the
     * client reads it as its error. One that sends nothing is closed after a second, and past
     * {@value #MAX_REFUSING} of them at once, connections are closed unanswered.
     */
    private void refuse(Connection connection, long pid, String reason) {
        limited.warn(pid, "refused a connection of process " + pid + ": " + reason);
        if (refusing.incrementAndGet() > MAX_REFUSING) {
            refusing.decrementAndGet();
            connection.close();
            return;
        }
        Thread.ofVirtual().name("anymap-refuse-" + pid).start(() -> {
            try (connection) {
                Connection.Incoming hello = connection.receive(System.nanoTime() + TimeUnit.SECONDS.toNanos(1));
                if (hello != null) {
                    hello.closeDescriptors();
                    connection.send(new Message.Failure(0, Message.ErrorKind.IO, reason));
                }
            } catch (java.io.IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "refusing process " + pid + ": " + e);
            } finally {
                refusing.decrementAndGet();
            }
        });
    }

    /** The limits of each process: regions refused past its limit, and its fetches, prefetching and cache share kept to theirs. */
    private final ClientSession.RegionLimit peerLimits = new ClientSession.RegionLimit() {
        @Override
        public void check(long pid) throws IOException {
            checkRegionLimit(pid);
        }

        @Override
        public PeerBudget budget(long pid) {
            synchronized (admission) {
                return budgets.computeIfAbsent(pid, ignored -> new PeerBudget(pid, limits.fetchesPerProcess(),
                        limits.prefetchMemoryPerProcess() == 0 ? Long.MAX_VALUE : limits.prefetchMemoryPerProcess(),
                        cache.limit() / 100 * limits.cacheSharePercent()));
            }
        }
    };

    /** Refuses a new region to process {@code pid} that holds as many as it may. */
    private void checkRegionLimit(long pid) throws IOException {
        int held = 0;
        for (ClientSession session : sessions) {
            if (session.peerPid() == pid) {
                held += session.regionCount();
            }
        }
        if (held >= limits.regionsPerProcess()) {
            throw new IOException("process " + pid + " holds " + held + " regions of this page server, the most it serves one process "
                    + "(--max-regions-per-process " + limits.regionsPerProcess() + " of anymap serve raises it)");
        }
    }

    private boolean isRetiring() {
        synchronized (admission) {
            return retiring;
        }
    }

    /** What this server holds: its clients and (up to a packet's worth of) their regions. */
    private Message status(long requestId) {
        List<Message.RegionStatus> regions = new ArrayList<>();
        for (ClientSession session : sessions) {
            regions.addAll(session.regionStatuses());
        }
        for (ClientSession orphan : orphans.values()) {
            regions.addAll(orphan.regionStatuses());
        }
        int count = regions.size();
        return new Message.Status(requestId, ProcessHandle.current().pid(), sessions.size(), count,
                List.copyOf(regions.subList(0, Math.min(count, MessageCodec.MAX_REGIONS))),
                new Message.Cache(cache.limit(), cache.residentBytes(), cache.evictions()),
                budgets.values().stream().limit(MessageCodec.MAX_PEERS).map(peer -> new Message.PeerUsage(peer.pid(), peer.fetchesInFlight(),
                        peer.mostFetchesInFlight(), peer.prefetchHeld(), peer.mostPrefetchHeld(), peer.cachedBytes, peer.mostCachedBytes))
                        .toList());
    }

    private RegionServer region(long regionId) {
        for (ClientSession session : orphans.values()) {
            RegionServer region = session.region(regionId);
            if (region != null) {
                return region;
            }
        }
        for (ClientSession session : sessions) {
            RegionServer region = session.region(regionId);
            if (region != null) {
                return region;
            }
        }
        return null;
    }

    /** Serves a region of a dead server, for its client to resume. */
    private void adopt(Message.Keep kept, int userfaultfd, int memfd) {
        orphans.computeIfAbsent(kept.clientPid(), pid -> new ClientSession(sessions(), null, new ClientSession.Peer(pid, kept.clientStart(),
                PeerPolicy.OWNER), ignored -> { }, ClientSession.NO_REGION_LIMIT)).adopt(kept, userfaultfd, memfd);
    }

    /** What the sessions of this server share; its keeper once {@link #start} made it. */
    private ClientSession.Server sessions() {
        return new ClientSession.Server(backendLoaders, storageSpeeds, cache, keeper, this::claim, this::status, this::region);
    }

    private ClientSession.Handed claim(long pid, long regionId) {
        ClientSession orphan = orphans.get(pid);
        if (orphan == null) {
            return null;
        }
        ClientSession.Handed handed = orphan.release(regionId);
        if (orphan.isEmpty()) {
            orphans.remove(pid, orphan);
        }
        return handed;
    }

    /** A client that exited while its server was dead never resumes its regions: they are closed. */
    private void dropOrphansOfExitedClients() {
        boolean dropped = orphans.values().removeIf(orphan -> {
            if (orphan.peerAlive() && !orphan.isEmpty()) {
                return false;
            }
            orphan.closeAll();
            return true;
        });
        if (dropped) {
            synchronized (admission) {
                if (!orphans.isEmpty() || !sessions.isEmpty()) {
                    return;
                }
                idleSince = System.nanoTime();
            }
            scheduleIdleCheck();
        }
    }

    private void sessionEnded(ClientSession session) {
        synchronized (admission) {
            if (sessions.remove(session)) {
                if (connectionsOf.computeIfPresent(session.peerPid(), (pid, count) -> count > 1 ? count - 1 : null) == null) {
                    budgets.remove(session.peerPid()); // its chunks in the cache stay counted to it until they leave
                }
            }
            if (!sessions.isEmpty() || !orphans.isEmpty()) {
                return;
            }
            if (retiring && acceptorDone) {
                stopped.countDown();
                return;
            }
            idleSince = System.nanoTime();
        }
        scheduleIdleCheck();
    }

    private void scheduleIdleCheck() {
        scheduleIdleCheck(exitWhenIdle == null ? 0 : exitWhenIdle.toNanos());
    }

    private void scheduleIdleCheck(long delayNanos) {
        if (exitWhenIdle == null || closing) {
            return;
        }
        try {
            idleTimer.schedule(this::retireIfIdle, delayNanos, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            // closed meanwhile: nothing left to retire
        }
    }

    /**
     * Retires the server if it has had no client for the whole idle time: one that left a moment
     * ago restarts the count, whatever check was scheduled before.
     */
    private void retireIfIdle() {
        synchronized (admission) {
            if (closing || retiring || !sessions.isEmpty() || !orphans.isEmpty()) {
                return;
            }
            long idleFor = System.nanoTime() - idleSince;
            if (idleFor < exitWhenIdle.toNanos()) {
                scheduleIdleCheck(exitWhenIdle.toNanos() - idleFor);
                return;
            }
            LOG.log(System.Logger.Level.INFO, "no clients for " + exitWhenIdle + "; stopping");
            retiring = true;
            // Under the admission lock, so that no client is admitted after the decision unseen:
            // from here a connect fails, and the acceptor cuts the clients already queued.
            stopListening();
            if (keeper != null) {
                // It keeps nothing now, and exits: a new server at the socket starts a keeper of its own.
                keeper.close();
            }
            if (acceptorDone) {
                stopped.countDown(); // the acceptor had failed before: nothing is left to drain
            }
        }
    }

    /** Unlinks the socket, shuts the listener down, and frees the socket for a new server. */
    private void stopListening() {
        // Unlink first: a client that starts now must not connect to a server on its way out.
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "removing " + socket + ": " + e.getMessage());
        }
        // Shut down to wake the acceptor; closed once it has stopped, so its number is not reused under it.
        UnixSockets.shutdown(listener);
        // The socket is no longer ours: a new server may take it while this one serves its last clients.
        try {
            lockChannel.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "releasing the lock: " + e.getMessage());
        }
    }

    /**
     * Stops at once: lets the keeper go first (one that still keeps regions then hands them to a
     * server that takes over), stops listening if it still does, and ends every client's connection;
     * their processes resume their regions on the server that takes over.
     */
    @Override
    public synchronized void close() {
        boolean listening;
        synchronized (admission) {
            if (closing) {
                return;
            }
            closing = true;
            listening = listener >= 0 && !retiring;
        }
        idleTimer.shutdownNow();
        cache.close();
        if (keeper != null) {
            // First: with regions left (a signal, not idleness, stopped it), the keeper starts a server that takes them over.
            keeper.close();
        }
        if (listening) {
            stopListening();
        }
        sessions.forEach(ClientSession::shutdown);
        if (listener >= 0) {
            if (acceptor != Thread.currentThread()) {
                try {
                    acceptor.join(TimeUnit.SECONDS.toMillis(10));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            Libc.close(listener);
        }
        if (poller != null) {
            poller.close();
        }
        try {
            if (lockChannel != null) {
                lockChannel.close();
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "releasing the lock: " + e.getMessage());
        }
        stopped.countDown();
    }
}
