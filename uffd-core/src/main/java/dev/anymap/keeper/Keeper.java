package dev.anymap.keeper;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.ProtocolException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Keeps a page server's regions alive across its death. The server sends its keeper every region
 * it serves, with a duplicate of the region's userfaultfd; when the server dies, the keeper starts
 * another and hands it every region, while the applications' threads simply wait in their faults.
 *
 * <p>It has to be a process of its own: a thread of an application whose threads wait on faults
 * that no one serves cannot run, since those threads hold every safepoint of their JVM. The keeper
 * touches no mapped memory, so none of its threads ever waits on a fault.
 *
 * <p>So that a takeover need not wait for a JVM to start, the keeper keeps a standby: a server
 * started ahead, connected and waiting for regions, from the time the first region is kept. A
 * standby that is gone when needed is replaced by a server started then. With
 * {@code ANYMAP_STANDBY=0} in the environment there is no standby: a takeover starts a server, which
 * takes a JVM's start longer and saves the standby's memory.
 *
 * <p>A server that dies again and again is given up on: when {@link #MAX_QUICK_DEATHS} servers in a
 * row die within {@link #QUICK_DEATH} of taking over (or never connect, within {@link
 * #CONNECT_TIMEOUT}), every page not yet fetched in every region is poisoned, so that the threads
 * waiting on them fail instead of hanging.
 */
final class Keeper {
    private static final System.Logger LOG = System.getLogger(Keeper.class.getName());
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30);
    static final int MAX_QUICK_DEATHS = 8;
    static final Duration QUICK_DEATH = Duration.ofSeconds(1);
    private static final int POLL_SLICE_MILLIS = 100;
    /**
     * How long after the first region is kept the standby is started: not while the server serves its
     * first faults. After a takeover it is started at once, since the next death may come soon.
     */
    static final Duration STANDBY_DELAY = Duration.ofSeconds(1);

    /** A region as its server described it, and this keeper's duplicates of its userfaultfd and of the cache's memory file it maps. */
    private record Kept(Message.Keep keep, int userfaultfd, int memfd) {
        void close() {
            Libc.close(userfaultfd);
            Libc.close(memfd);
        }
    }

    private final int listener;
    private final boolean withStandby;
    private final List<String> serverCommand;
    private final Map<Long, Kept> regions = new LinkedHashMap<>();
    /** Servers in a row that died soon after they started to serve, and when the one serving now started. */
    private int quickDeaths;
    private long tookOver;
    private Process standby;
    /** The standby that the takeover under way was handed, if it was. */
    private Process lastStandby;
    private boolean standbyDue;
    private boolean stopping;

    Keeper(int listener, List<String> serverCommand, boolean withStandby) {
        this.listener = listener;
        this.withStandby = withStandby;
        this.serverCommand = List.copyOf(serverCommand);
    }

    /** Follows the server that started this keeper, and each that takes over after it, until one exits with nothing to keep. */
    void run(long firstServerPid) throws IOException {
        Connection server = awaitServer(firstServerPid, null);
        if (server == null) {
            LOG.log(System.Logger.Level.ERROR, "page server " + firstServerPid + " did not connect to its keeper within "
                    + CONNECT_TIMEOUT.toSeconds() + " s, or died first");
            return;
        }
        tookOver = System.nanoTime();
        try {
            while (true) {
                follow(server);
                if (regions.isEmpty()) {
                    return;
                }
                try {
                    server = takeOver();
                } catch (RuntimeException | Error e) {
                    // The server is dead and none will take over: a thread that waits on a page must not wait for ever.
                    // (A failure while following a live server needs nothing: that server starts a keeper in this one's place.)
                    giveUp("taking over failed (" + e + ")");
                    throw e;
                }
                if (server == null) {
                    return;
                }
            }
        } finally {
            synchronized (this) {
                if (standby != null) {
                    standby.destroy();
                }
                stopping = true;
            }
        }
    }

    /** Takes in what the server says until it is gone. */
    private void follow(Connection server) {
        try (server) {
            while (true) {
                Connection.Incoming incoming;
                try {
                    incoming = server.receive();
                } catch (ProtocolException e) {
                    LOG.log(System.Logger.Level.WARNING, "the page server sent its keeper an invalid message: " + e.getMessage());
                    continue;
                }
                if (incoming == null) {
                    return;
                }
                switch (incoming.message()) {
                    case Message.Keep keep when incoming.fds().length == 2 -> {
                        Kept previous = regions.put(keep.regionId(), new Kept(keep, incoming.fd(), incoming.secondFd()));
                        if (previous != null) {
                            previous.close();
                        }
                        prepareStandby(STANDBY_DELAY);
                    }
                    case Message.Forget forget -> {
                        Kept gone = regions.remove(forget.regionId());
                        if (gone != null) {
                            gone.close();
                        }
                    }
                    default -> {
                        LOG.log(System.Logger.Level.WARNING, "the page server sent its keeper " + incoming.message() + "; ignored");
                        incoming.closeDescriptors();
                    }
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "the page server's link to its keeper broke: " + e.getMessage());
        }
    }

    /** Starts a new server and hands it every region; null, after poisoning them all, when none will take over. */
    private Connection takeOver() {
        LOG.log(System.Logger.Level.WARNING, "the page server died; handing its " + regions.size() + " regions to a server that takes over");
        quickDeaths = System.nanoTime() - tookOver < QUICK_DEATH.toNanos() ? quickDeaths + 1 : 0;
        while (true) {
            if (quickDeaths >= MAX_QUICK_DEATHS) {
                giveUp(quickDeaths + " page servers in a row died within " + QUICK_DEATH.toSeconds() + " s of starting");
                return null;
            }
            Process process;
            try {
                process = takeStandby();
            } catch (IOException e) {
                giveUp("a new page server could not be started: " + e.getMessage());
                return null;
            }
            Connection server = awaitServer(process.pid(), process);
            if (server == null) {
                LOG.log(System.Logger.Level.WARNING, "page server " + process.pid() + (process.isAlive()
                        ? " did not connect within " + CONNECT_TIMEOUT.toSeconds() + " s" : " exited with status " + process.exitValue()));
                process.destroyForcibly();
                quickDeaths++;
                continue;
            }
            try {
                for (Kept kept : regions.values()) {
                    server.send(kept.keep(), kept.userfaultfd(), kept.memfd());
                }
                server.send(new Message.KeptAll(regions.size()));
                LOG.log(System.Logger.Level.INFO, "page server " + process.pid() + (process == lastStandby ? " (the standby)" : " (started now)")
                        + " takes over " + regions.size() + " regions");
                tookOver = System.nanoTime();
                prepareStandby(Duration.ZERO);
                return server;
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "handing the regions to page server " + process.pid() + ": " + e.getMessage());
                server.close();
                process.destroyForcibly();
                quickDeaths++;
            }
        }
    }

    /** Starts a standby after {@code delay}, unless one runs or is due. */
    private synchronized void prepareStandby(Duration delay) {
        if (!withStandby || stopping || standbyDue || (standby != null && standby.isAlive())) {
            return;
        }
        standbyDue = true;
        Thread.ofVirtual().name("anymap-standby").start(() -> {
            try {
                Thread.sleep(delay);
                Process started = start();
                synchronized (this) {
                    if (standby == null && standbyDue && !stopping) {
                        standby = started;
                        standbyDue = false;
                        return;
                    }
                }
                started.destroy(); // the keeper is stopping, or took one started in the meantime
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "starting a standby page server: " + e.getMessage());
                synchronized (this) {
                    standbyDue = false;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /** The standby, if it is alive, or a server started now. */
    private Process takeStandby() throws IOException {
        Process ready;
        synchronized (this) {
            ready = standby;
            standby = null;
            standbyDue = false;
        }
        lastStandby = ready != null && ready.isAlive() ? ready : null;
        return lastStandby != null ? lastStandby : start();
    }

    private Process start() throws IOException {
        List<String> command = new ArrayList<>(serverCommand);
        command.add("--adopt");
        return new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
    }

    /**
     * The connection of server {@code pid}, of this user; null if none comes within
     * {@link #CONNECT_TIMEOUT}, or if {@code process} exits first. Any other peer is turned away.
     */
    private Connection awaitServer(long pid, Process process) {
        long deadline = System.nanoTime() + CONNECT_TIMEOUT.toNanos();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pollfd = arena.allocate(Libc.POLLFD_SIZE);
            while (System.nanoTime() < deadline) {
                Libc.setPollFd(pollfd, 0, listener, Libc.POLLIN);
                if (Libc.poll(pollfd, 1, POLL_SLICE_MILLIS) <= 0) {
                    // A server that died after it connected is still accepted: what it sent is there to read.
                    if (process != null ? !process.isAlive() : ProcessHandle.of(pid).filter(ProcessHandle::isAlive).isEmpty()) {
                        return null;
                    }
                    continue;
                }
                int fd;
                try {
                    fd = UnixSockets.accept(listener);
                } catch (NativeException e) {
                    LOG.log(System.Logger.Level.WARNING, "accept: " + e.getMessage());
                    continue;
                }
                try {
                    UnixSockets.PeerCredentials peer = UnixSockets.peerCredentials(fd);
                    if (peer.uid() == Libc.getuid() && peer.pid() == pid) {
                        return new Connection(fd);
                    }
                    LOG.log(System.Logger.Level.WARNING, "refused process " + peer.pid() + " of uid " + peer.uid()
                            + ": this keeper waits for page server " + pid);
                } catch (NativeException e) {
                    LOG.log(System.Logger.Level.WARNING, "reading a peer's credentials: " + e.getMessage());
                }
                Libc.close(fd);
            }
            return null;
        }
    }

    /** Fails every page not yet fetched, in every region: their threads get an error, never a hang. */
    private void giveUp(String why) {
        LOG.log(System.Logger.Level.ERROR, why + "; every page not yet fetched in the " + regions.size()
                + " regions it served now raises an error when touched");
        try (Arena arena = Arena.ofConfined()) {
            Userfaultfd.FillRequest poison = new Userfaultfd.FillRequest(arena);
            for (Kept kept : regions.values()) {
                int result = 0;
                if (kept.keep().map().isGuest()) {
                    for (Message.GuestRange range : kept.keep().map().guest()) {
                        result = poison.poisonAbandoned(kept.userfaultfd(), range.address(), range.size(), range.pageSize());
                    }
                } else {
                    result = poison.fillRange(kept.userfaultfd(), kept.keep().address(), 0, kept.keep().length());
                }
                if (result != 0) {
                    LOG.log(System.Logger.Level.DEBUG, "poisoning region " + kept.keep().regionId() + ": errno " + -result);
                }
                kept.close();
            }
        }
        regions.clear();
    }
}
