package dev.anymap.server;

import dev.anymap.keeper.KeeperMain;
import dev.anymap.linux.Libc;
import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.MessageCodec;
import dev.anymap.protocol.ProtocolException;
import dev.anymap.protocol.ServerAddress;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A page server's link to its keeper (see {@code dev.anymap.keeper.Keeper}): every region the
 * server serves is sent there with its userfaultfd before the client hears that it is served, and
 * forgotten there before the server lets go of it. If the keeper dies, the server starts another
 * and sends it every region again.
 */
final class KeeperLink implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(KeeperLink.class.getName());
    private static final Duration KEEPER_START_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration RETRY_PAUSE = Duration.ofMillis(200);
    private static final Duration MAX_RETRY_PAUSE = Duration.ofSeconds(10);
    private static final List<String> KEEPER_JVM_OPTIONS = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Xmx32m", "-XX:-UsePerfData");

    private final Path socket;
    private final List<String> restartCommand;
    private final Map<Long, Kept> kept = new LinkedHashMap<>();
    private Connection connection;
    /** A keeper is being started: regions kept meanwhile go to it when it connects. */
    private boolean connecting;
    /** The last start of a keeper failed: regions are not held up waiting for the next. */
    private boolean startFailed;
    private Thread watcher;
    private boolean closed;

    private record Kept(Message.Keep keep, int userfaultfd, int memfd) {}

    /** Takes over one region that the keeper hands over, with its userfaultfd and its cache's memory file. */
    @FunctionalInterface
    interface Adopter {
        void adopt(Message.Keep keep, int userfaultfd, int memfd);
    }

    /** The keeper of a server that retired from this socket holds its lock still, on its way out. */
    private static final class PreviousKeeperLeaving extends IOException {
        private static final long serialVersionUID = 1L;

        PreviousKeeperLeaving() {
            super("the keeper of the server before is still leaving");
        }
    }

    /** The keeper stopped before it handed over anything: the standby it kept is not needed. */
    static final class NothingToTakeOverException extends IOException {
        private static final long serialVersionUID = 1L;

        NothingToTakeOverException() {
            super("the keeper stopped with nothing to take over");
        }
    }

    /**
     * A link, not yet connected, for the page server at {@code socket}.
     *
     * @param restartCommand what starts a server that takes over from this one (the keeper adds {@code --adopt})
     */
    KeeperLink(Path socket, List<String> restartCommand) {
        this.socket = socket;
        this.restartCommand = List.copyOf(restartCommand);
    }

    /**
     * Starts a keeper for this server, and connects to it, in the background: the keeper's JVM starts
     * while this server does, and {@link #keep} waits for it.
     */
    synchronized void start() {
        connecting = true;
        Thread.ofPlatform().name("anymap-keeper-start").daemon().start(() -> connectKeeper(false));
    }

    /**
     * Connects to the keeper that started this server to take over from a dead one, and hands each
     * region it keeps to {@code adopt}, with its userfaultfd, before it returns. What {@code adopt}
     * {@linkplain #keep keeps} is only noted: the keeper has it.
     */
    void takeOver(Adopter adopt) throws IOException {
        Connection keeper = connect(ServerAddress.keeperSocket(socket));
        List<Long> handed = new java.util.ArrayList<>();
        try {
            int received = 0;
            while (true) {
                Connection.Incoming incoming;
                try {
                    incoming = keeper.receive();
                } catch (IOException e) {
                    if (received == 0 && !(e instanceof ProtocolException)) {
                        throw new NothingToTakeOverException();
                    }
                    throw e;
                }
                if (incoming == null) {
                    if (received == 0) {
                        throw new NothingToTakeOverException();
                    }
                    throw new IOException("the keeper at " + ServerAddress.keeperSocket(socket) + " closed the connection before it"
                            + " had handed over every region");
                }
                if (incoming.message() instanceof Message.KeptAll all) {
                    if (all.regions() != received) {
                        throw new ProtocolException("the keeper handed over " + received + " regions of " + all.regions());
                    }
                    break;
                }
                if (!(incoming.message() instanceof Message.Keep keep) || incoming.fds().length != 2) {
                    incoming.closeDescriptors();
                    throw new ProtocolException("the keeper sent " + incoming.message() + " while handing over regions");
                }
                received++;
                handed.add(keep.regionId());
                adopt.adopt(keep, incoming.fd(), incoming.secondFd());
            }
        } catch (IOException | RuntimeException e) {
            keeper.close();
            throw e;
        }
        synchronized (this) {
            // One that could not be taken over is closed: the keeper lets it go too, or it would hand it to every server after this one.
            for (long regionId : handed) {
                if (!kept.containsKey(regionId)) {
                    keeper.send(new Message.Forget(regionId));
                }
            }
            connection = keeper;
            watch(keeper);
        }
    }

    /**
     * Sends a region to the keeper, waiting for one that is starting; the server keeps its own
     * {@code userfaultfd} and {@code memfd} open until {@link #forget}.
     */
    synchronized void keep(Message.Keep keep, int userfaultfd, int memfd) throws IOException {
        Kept region = new Kept(keep, userfaultfd, memfd);
        kept.put(keep.regionId(), region);
        if (connecting) {
            long deadline = System.nanoTime() + KEEPER_START_TIMEOUT.toNanos();
            while (connecting && !startFailed && !closed) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    LOG.log(System.Logger.Level.ERROR, "no keeper holds region " + keep.regionId() + " yet: should this server die"
                            + " before one starts, its faults go unserved");
                    return;
                }
                try {
                    wait(TimeUnit.NANOSECONDS.toMillis(left) + 1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted while waiting for the keeper");
                }
            }
            return; // the keeper that connected was sent every region kept by then, this one too
        }
        send(region);
    }

    /**
     * The request that a server taking the region over is to map it with has changed (a commit of its
     * writes is under way, or made a new version): the keeper gets it, with the descriptors again.
     */
    synchronized void update(long regionId, Message.Map request) throws IOException {
        Kept was = kept.get(regionId);
        if (was == null) {
            return;
        }
        Message.Keep keep = was.keep();
        Kept now = new Kept(new Message.Keep(regionId, keep.clientPid(), keep.clientStart(), keep.address(), keep.length(), request,
                keep.removals()),
                was.userfaultfd(), was.memfd());
        try {
            MessageCodec.encode(now.keep());
        } catch (IllegalArgumentException tooLong) {
            // Kept as it was: a keep that no keeper can receive would stop every keeper after this one from starting.
            throw new IOException("region " + regionId + "'s request to map it again is too long to keep: " + tooLong.getMessage()
                    + "; a server that takes it over maps it as it was mapped", tooLong);
        }
        kept.put(regionId, now);
        send(now);
    }

    /**
     * A guest gave memory back: the keeper gets the ranges given back so far, with the descriptors
     * again, before any fault there is served, so that a server taking over serves them as zeros too.
     */
    synchronized void removed(long regionId, Message.GuestRemovals removals) throws IOException {
        Kept was = kept.get(regionId);
        if (was == null) {
            return;
        }
        Kept now = new Kept(was.keep().withRemovals(removals), was.userfaultfd(), was.memfd());
        kept.put(regionId, now);
        send(now);
    }

    /**
     * Sends a region to the keeper, if one is connected: none is once this link is closed, as the
     * server stops (an attach under way then is the last).
     */
    private void send(Kept region) throws IOException {
        if (connection != null && !closed) {
            connection.send(region.keep(), region.userfaultfd(), region.memfd());
        }
    }

    /** The region is about to be closed: the keeper lets go of it first, so that it never hands over a closed one. */
    synchronized void forget(long regionId) {
        if (kept.remove(regionId) == null || connection == null) {
            return;
        }
        try {
            connection.send(new Message.Forget(regionId));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "telling the keeper to forget region " + regionId + ": " + e.getMessage());
        }
    }

    private void watch(Connection keeper) {
        watcher = Thread.ofPlatform().name("anymap-keeper-link").daemon().start(() -> {
            try {
                while (keeper.receive() instanceof Connection.Incoming stray) {
                    stray.closeDescriptors();
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "the keeper link: " + e.getMessage());
            }
            replaceKeeper(keeper);
        });
    }

    /** The keeper died: start another. */
    private void replaceKeeper(Connection dead) {
        synchronized (this) {
            if (closed || connection != dead) {
                return;
            }
            dead.close();
            connection = null;
            connecting = true;
        }
        LOG.log(System.Logger.Level.WARNING, "the keeper of the page server at " + socket + " died; starting another");
        connectKeeper(true);
    }

    /** Starts a keeper and sends it every region, trying again until it works or the server closes. */
    private void connectKeeper(boolean replacing) {
        Duration pause = RETRY_PAUSE;
        while (true) {
            try {
                Connection fresh = startKeeper();
                int regions;
                synchronized (this) {
                    if (closed) {
                        fresh.close();
                        return;
                    }
                    for (Kept region : kept.values()) {
                        fresh.send(region.keep(), region.userfaultfd(), region.memfd());
                    }
                    regions = kept.size();
                    connection = fresh;
                    connecting = false;
                    startFailed = false;
                    notifyAll();
                    watch(fresh);
                }
                LOG.log(replacing ? System.Logger.Level.INFO : System.Logger.Level.DEBUG, "a new keeper holds the " + regions
                        + " regions of the page server at " + socket);
                return;
            } catch (PreviousKeeperLeaving e) {
                LOG.log(System.Logger.Level.DEBUG, "the keeper of the server that retired from " + socket + " is still leaving");
            } catch (IOException | RuntimeException e) {
                String why = e instanceof IOException ? e.getMessage() : e.toString();
                LOG.log(System.Logger.Level.ERROR, "starting a keeper for the page server at " + socket + ": " + why
                        + "; until one runs, this server's death would leave its regions unserved");
                synchronized (this) {
                    startFailed = true; // faults are served meanwhile, not held up for a keeper that may never come
                    notifyAll();
                }
                pause = pause.multipliedBy(2).compareTo(MAX_RETRY_PAUSE) < 0 ? pause.multipliedBy(2) : MAX_RETRY_PAUSE;
            }
            synchronized (this) {
                if (closed) {
                    return;
                }
            }
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private Connection startKeeper() throws IOException {
        Path listen = ServerAddress.keeperSocket(socket);
        List<String> arguments = new java.util.ArrayList<>(List.of("--listen", listen.toString(), "--lock",
                ServerAddress.keeperLock(socket).toString(), "--server-pid", Long.toString(ProcessHandle.current().pid()), "--"));
        arguments.addAll(restartCommand);
        AotCache.Launch aot = AotCache.launch(KEEPER_JVM_OPTIONS);
        List<String> jvmOptions = new java.util.ArrayList<>(KEEPER_JVM_OPTIONS);
        jvmOptions.addAll(aot.options());
        Process keeper = aot.start(new ProcessBuilder(JavaCommand.of(KeeperMain.class, jvmOptions, arguments))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.INHERIT));
        String ready;
        try {
            ready = ReadyLine.await(keeper, KeeperMain.READY, KEEPER_START_TIMEOUT);
        } catch (java.util.concurrent.TimeoutException e) {
            ready = null;
        }
        if (ready == null) {
            if (!keeper.isAlive() && keeper.exitValue() == KeeperMain.EXIT_ALREADY_RUNNING) {
                throw new PreviousKeeperLeaving();
            }
            String why = keeper.isAlive() ? " within " + KEEPER_START_TIMEOUT.toSeconds() + " s" : " (exit status " + keeper.exitValue() + ")";
            keeper.destroyForcibly();
            throw new IOException("the keeper did not start" + why);
        }
        return connect(listen);
    }

    private static Connection connect(Path keeperSocket) throws IOException {
        int fd = UnixSockets.connect(keeperSocket);
        try {
            UnixSockets.PeerCredentials peer = UnixSockets.peerCredentials(fd);
            if (peer.uid() != Libc.getuid()) {
                throw new IOException("the keeper at " + keeperSocket + " runs as uid " + peer.uid() + ", not as this user");
            }
        } catch (IOException | RuntimeException e) {
            Libc.close(fd);
            throw e;
        }
        return new Connection(fd);
    }

    /**
     * Leaves the keeper, which then exits if it keeps nothing: called when this server stops with
     * no regions. A server that stops with regions (killed, or stopped by a signal) leaves them to the keeper.
     */
    @Override
    public void close() {
        Thread stopping;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            connecting = false;
            notifyAll();
            stopping = watcher;
            if (connection != null) {
                connection.shutdown();
            }
        }
        if (stopping != null) {
            try {
                stopping.join(TimeUnit.SECONDS.toMillis(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (this) {
            if (connection != null) {
                connection.close();
                connection = null;
            }
        }
    }
}
