package dev.anymap.firecracker;

import static java.lang.System.Logger.Level.ERROR;
import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

import dev.anymap.ServedGuest;
import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import dev.anymap.linux.Userfaultfd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The handler's one thread of connections: a poll(2) over the listening socket and every
 * connection, so that a process that connects and sends nothing costs no thread. It accepts, checks
 * credentials, reads handshakes, and watches served VMs' connections for their end; what takes a
 * page server's round trips (serving a VM, letting it go) runs on worker threads, which hand their
 * outcome back to this loop.
 */
final class HandlerLoop implements Runnable {
    private static final System.Logger LOG = FirecrackerHandler.LOG;
    private static final int RECEIVE_BUFFER = 16 * 1024;
    /** Second messages logged per VM; a peer that floods its socket is not given the log too. */
    private static final int LATER_MESSAGES_LOGGED = 3;

    private final int listener;
    private final VmServing serving;
    private final Set<Integer> allowedUids;
    private final long handshakeNanos;
    private final FirecrackerHandler.Listener events;
    private final int wake;
    private final List<VmConnection> connections = new ArrayList<>();
    /** The VMs served, for other threads to read. */
    private final Set<FirecrackerHandler.Vm> served = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final Queue<Runnable> fromWorkers = new ConcurrentLinkedQueue<>();
    private final ExecutorService workers = Executors.newCachedThreadPool(
            Thread.ofPlatform().name("anymap-firecracker-vm-", 0).daemon().factory());
    private boolean stopped;

    HandlerLoop(int listener, VmServing serving, Set<Integer> allowedUids, Duration handshakeTimeout, FirecrackerHandler.Listener events)
            throws NativeException {
        this.listener = listener;
        this.serving = serving;
        this.allowedUids = Set.copyOf(allowedUids);
        this.handshakeNanos = handshakeTimeout.toNanos();
        this.events = events;
        this.wake = (int) Libc.check(Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC), "eventfd");
    }

    @Override
    public void run() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(RECEIVE_BUFFER);
            MemorySegment pollfds = arena.allocate(Libc.POLLFD_SIZE * 64, 8);
            while (true) {
                synchronized (this) {
                    if (stopped) {
                        return;
                    }
                }
                for (Runnable outcome; (outcome = fromWorkers.poll()) != null; ) {
                    outcome.run();
                }
                List<VmConnection> watched = connections.stream().filter(c -> c.state != VmConnection.State.STARTING).toList();
                if (pollfds.byteSize() < Libc.POLLFD_SIZE * (2 + watched.size())) {
                    pollfds = arena.allocate(Libc.POLLFD_SIZE * 2 * (2 + watched.size()), 8);
                }
                Libc.setPollFd(pollfds, 0, wake, Libc.POLLIN);
                Libc.setPollFd(pollfds, 1, listener, Libc.POLLIN);
                for (int i = 0; i < watched.size(); i++) {
                    Libc.setPollFd(pollfds, 2 + i, watched.get(i).fd, Libc.POLLIN);
                }
                int ready = Libc.poll(pollfds, 2 + watched.size(), timeoutMillis());
                if (ready == -Errno.EINTR) {
                    continue;
                }
                if (ready < 0) {
                    LOG.log(ERROR, "poll failed: " + Errno.name(-ready) + "; the Firecracker handler stops serving");
                    return;
                }
                if (Libc.pollRevents(pollfds, 0) != 0) {
                    try (Arena call = Arena.ofConfined()) {
                        Libc.read(wake, call.allocate(8), 8);
                    }
                }
                if (Libc.pollRevents(pollfds, 1) != 0) {
                    accept();
                }
                for (int i = 0; i < watched.size(); i++) {
                    if (Libc.pollRevents(pollfds, 2 + i) != 0) {
                        readable(watched.get(i), buffer);
                    }
                }
                expireHandshakes();
            }
        } catch (RuntimeException | Error e) {
            LOG.log(ERROR, "the Firecracker handler's loop failed; it stops serving", e);
            throw e;
        }
    }

    /** Until the next handshake is due, or for ever. */
    private int timeoutMillis() {
        long now = System.nanoTime();
        long first = Long.MAX_VALUE;
        for (VmConnection connection : connections) {
            if (connection.state == VmConnection.State.HANDSHAKE) {
                first = Math.min(first, Math.max(0, connection.deadlineNanos - now));
            }
        }
        return first == Long.MAX_VALUE ? -1 : (int) Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(first) + 1);
    }

    private void accept() {
        int fd;
        try {
            fd = UnixSockets.accept(listener);
        } catch (NativeException e) {
            LOG.log(WARNING, "accept: " + e.getMessage());
            return;
        }
        UnixSockets.PeerCredentials peer;
        try {
            peer = UnixSockets.peerCredentials(fd);
        } catch (NativeException e) {
            Libc.close(fd);
            LOG.log(WARNING, "a process connected whose credentials cannot be read (" + e.getMessage() + "); its connection is closed");
            return;
        }
        if (peer.uid() != Libc.getuid() && !allowedUids.contains(peer.uid())) {
            Libc.close(fd);
            error(peer.pid(), serving.about(peer.pid()) + " of uid " + peer.uid() + " refused: this handler serves uid " + Libc.getuid()
                    + (allowedUids.isEmpty() ? "" : " and " + allowedUids) + " (allow another with --allow-uid)");
            return;
        }
        connections.add(new VmConnection(fd, peer.pid(), System.nanoTime() + handshakeNanos));
    }

    private void readable(VmConnection connection, MemorySegment buffer) {
        UnixSockets.Received received;
        try {
            received = UnixSockets.receive(connection.fd, buffer);
        } catch (NativeException e) {
            received = null;
            if (connection.state == VmConnection.State.HANDSHAKE) {
                fail(connection, "reading its handshake failed: " + e.getMessage());
            } else {
                ended(connection, " (its connection failed: " + e.getMessage() + ")");
            }
        }
        if (received == null) {
            return;
        }
        if (connection.state == VmConnection.State.SERVED) {
            if (received.length() == 0 && received.fds().length == 0) {
                ended(connection, "");
            } else {
                laterMessage(connection, received);
            }
            return;
        }
        for (int fd : received.fds()) {
            connection.fds.add(fd);
        }
        if (received.length() == 0) {
            fail(connection, connection.length() == 0 ? "closed its connection without sending its handshake"
                    : "closed its connection halfway through its handshake, after " + connection.length() + " bytes");
            return;
        }
        if (!connection.append(buffer.asSlice(0, received.length()))) {
            fail(connection, "sent a handshake longer than " + VmConnection.MAX_HANDSHAKE + " bytes; Firecracker's is a short JSON array");
            return;
        }
        Optional<List<GuestRegionMapping>> regions;
        try {
            regions = HandshakeJson.parse(connection.handshake(), connection.length());
        } catch (IllegalArgumentException e) {
            fail(connection, "sent a handshake that Firecracker would not send: " + e.getMessage());
            return;
        }
        regions.ifPresent(parsed -> handshake(connection, parsed));
    }

    private void handshake(VmConnection connection, List<GuestRegionMapping> regions) {
        if (connection.fds.size() != 1) {
            fail(connection, connection.fds.isEmpty() ? "sent its handshake without a userfaultfd (SCM_RIGHTS)"
                    : "sent " + connection.fds.size() + " descriptors with its handshake; Firecracker sends one, its userfaultfd");
            return;
        }
        int userfaultfd = connection.fds.getFirst();
        if (!Userfaultfd.isUserfaultfd(userfaultfd)) {
            fail(connection, "sent a descriptor that is not a userfaultfd but " + Userfaultfd.describe(userfaultfd));
            return;
        }
        connection.state = VmConnection.State.STARTING;
        connection.fds.clear(); // the worker's to close from here on
        workers.execute(() -> {
            ServedGuest guest = null;
            Exception failure = null;
            try {
                guest = serving.serve(connection.pid, regions, userfaultfd);
            } catch (Exception e) {
                failure = e;
                serving.failUnserved(regions, userfaultfd);
            } finally {
                Libc.close(userfaultfd); // the page server and the ServedGuest hold duplicates of their own
            }
            FirecrackerHandler.Vm vm = guest == null ? null : new FirecrackerHandler.Vm(connection.pid, regions, guest);
            Exception failed = failure;
            if (!fromWorker(() -> started(connection, vm, failed)) && vm != null) {
                serving.abandon(vm); // the handler closed meanwhile, with the VM running
                Libc.close(connection.fd);
            }
        });
    }

    private void started(VmConnection connection, FirecrackerHandler.Vm vm, Exception failure) {
        if (vm == null) {
            String cause = failure.getMessage() == null ? failure.toString() : failure.getMessage();
            if (!(failure instanceof IllegalArgumentException || failure instanceof java.io.IOException)) {
                LOG.log(ERROR, serving.about(connection.pid) + ": serving failed", failure);
            }
            fail(connection, "could not be served: " + cause + "; its memory raises an error at the VM's first touch");
            return;
        }
        connection.vm = vm;
        connection.state = VmConnection.State.SERVED;
        served.add(vm);
        LOG.log(INFO, serving.about(connection.pid) + " served: " + vm.regions().size() + " regions, " + vm.memoryBytes() + " bytes");
        try {
            events.served(vm);
        } catch (RuntimeException e) {
            LOG.log(WARNING, "the handler's listener failed: " + e);
        }
    }

    private void laterMessage(VmConnection connection, UnixSockets.Received received) {
        for (int fd : received.fds()) {
            Libc.close(fd);
        }
        connection.laterMessages++;
        if (connection.laterMessages <= LATER_MESSAGES_LOGGED) {
            error(connection.pid, serving.about(connection.pid) + " sent " + received.length() + " more bytes and " + received.fds().length
                    + " descriptors after its handshake, where Firecracker sends nothing more; ignored (descriptors closed),"
                    + " and the VM is still served" + (connection.laterMessages == LATER_MESSAGES_LOGGED ? "; more will not be logged" : ""));
        }
    }

    private void ended(VmConnection connection, String how) {
        connections.remove(connection);
        Libc.close(connection.fd);
        FirecrackerHandler.Vm vm = connection.vm;
        served.remove(vm);
        LOG.log(INFO, serving.about(connection.pid) + " closed its connection" + how);
        workers.execute(() -> serving.end(vm));
    }

    private void expireHandshakes() {
        long now = System.nanoTime();
        for (VmConnection connection : List.copyOf(connections)) {
            if (connection.state == VmConnection.State.HANDSHAKE && now - connection.deadlineNanos >= 0) {
                fail(connection, "sent no complete handshake within " + Duration.ofNanos(handshakeNanos).toMillis() + " ms ("
                        + connection.length() + " bytes came)");
            }
        }
    }

    /** Drops a connection that is not served, closing every descriptor it sent. */
    private void fail(VmConnection connection, String cause) {
        // A VM that handed over a descriptor and is refused waits at its first touch of memory that nothing serves.
        boolean handedOver = !connection.fds.isEmpty();
        connections.remove(connection);
        FirecrackerHandler.closeAll(connection.fds);
        connection.fds.clear();
        Libc.close(connection.fd);
        error(connection.pid, serving.about(connection.pid) + " " + cause + "; its connection is closed"
                + (handedOver ? ", and the VM waits at its first touch of memory that nothing serves: stop it" : ""));
    }

    private void error(long pid, String message) {
        LOG.log(ERROR, message);
        try {
            events.error(pid, message);
        } catch (RuntimeException e) {
            LOG.log(WARNING, "the handler's listener failed: " + e);
        }
    }

    /** Hands a worker's outcome to the loop; false if the loop has stopped, and the worker must clean up. */
    private synchronized boolean fromWorker(Runnable outcome) {
        if (stopped) {
            return false;
        }
        fromWorkers.add(outcome);
        signal();
        return true;
    }

    private void signal() {
        try (Arena call = Arena.ofConfined()) {
            MemorySegment one = call.allocate(ValueLayout.JAVA_LONG);
            one.set(ValueLayout.JAVA_LONG, 0, 1);
            Libc.write(wake, one, 8);
        }
    }

    synchronized void stop() {
        stopped = true;
        signal();
    }

    /** The VMs served now. */
    List<FirecrackerHandler.Vm> vms() {
        return List.copyOf(served);
    }

    /**
     * After the loop has stopped: lets every VM go and closes every connection, then waits for the
     * workers (whose VMs, served meanwhile, they let go themselves).
     */
    void closeAll() {
        // Outcomes that workers handed over before the loop stopped: VMs served, to let go below.
        for (Runnable outcome; (outcome = fromWorkers.poll()) != null; ) {
            outcome.run();
        }
        for (VmConnection connection : List.copyOf(connections)) {
            FirecrackerHandler.closeAll(connection.fds);
            if (connection.state == VmConnection.State.SERVED) {
                served.remove(connection.vm);
                serving.abandon(connection.vm);
            }
            if (connection.state != VmConnection.State.STARTING) {
                Libc.close(connection.fd);
            }
        }
        connections.clear();
        workers.shutdown();
        try {
            if (!workers.awaitTermination(1, TimeUnit.MINUTES)) {
                LOG.log(WARNING, "VMs still being handed to the page server a minute after the handler closed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Libc.close(wake);
    }
}
