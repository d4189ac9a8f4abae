package dev.anymap.protocol;

import dev.anymap.linux.Epoll;
import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One platform thread that watches every connection of a page server (epoll, edge-triggered) and
 * wakes the threads that wait to read or write one. With it, a connection's reader can be a virtual
 * thread that tries its socket without blocking and, when nothing is there, waits here, parked,
 * holding no platform thread: a blocking recvmsg through FFM would hold its carrier for as long as
 * the client stays idle.
 */
public final class ConnectionPoller implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ConnectionPoller.class.getName());
    private static final int BATCH = 256;
    private static final long WAKE = -1;
    private static final int READ_EVENTS = Epoll.EPOLLIN | Epoll.EPOLLRDHUP | Epoll.EPOLLHUP | Epoll.EPOLLERR;
    private static final int WRITE_EVENTS = Epoll.EPOLLOUT | Epoll.EPOLLHUP | Epoll.EPOLLERR;

    private final int epoll;
    private final int wake;
    private final Map<Integer, Readiness> watched = new ConcurrentHashMap<>();
    private final Thread thread;
    /** Set under {@link #descriptors}: from then on no connection touches the epoll set, which close then closes. */
    private volatile boolean closed;
    /**
     * Held to add to or remove from the epoll set, and to close it: a connection that ends after
     * {@link #close} must not touch the number, which may by then be another descriptor's.
     */
    private final Object descriptors = new Object();

    /**
     * How often a connection has become readable and writable: a thread reads the count, tries its
     * socket, and if it would block, waits for the count to move, so an event between its try and
     * its wait is never missed.
     */
    static final class Readiness {
        private long readable;
        private long writable;
        private boolean gone;

        synchronized long readable() {
            return readable;
        }

        synchronized long writable() {
            return writable;
        }

        synchronized void signal(int events) {
            if ((events & READ_EVENTS) != 0) {
                readable++;
            }
            if ((events & WRITE_EVENTS) != 0) {
                writable++;
            }
            notifyAll();
        }

        synchronized boolean gone() {
            return gone;
        }

        synchronized void end() {
            gone = true;
            notifyAll();
        }

        /** Waits until readable (or writable) has moved past {@code seen}, or until {@code deadline} (System.nanoTime()); false at the deadline. */
        synchronized boolean await(boolean write, long seen, long deadline) throws java.io.InterruptedIOException {
            while ((write ? writable : readable) == seen && !gone) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted while waiting on a connection");
                }
            }
            return true;
        }
    }

    public ConnectionPoller(String name) throws NativeException {
        epoll = Epoll.create();
        wake = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (wake < 0) {
            Libc.close(epoll);
            throw new NativeException("eventfd", -wake);
        }
        Epoll.add(epoll, wake, Epoll.EPOLLIN, WAKE);
        thread = Thread.ofPlatform().name(name).daemon().start(this::run);
    }

    /** Watches {@code fd} until {@link #forget}. */
    Readiness watch(int fd) throws NativeException {
        Readiness readiness = new Readiness();
        synchronized (descriptors) {
            if (closed) {
                throw new NativeException("epoll_ctl(EPOLL_CTL_ADD) on a closed connection poller", Errno.EBADF);
            }
            watched.put(fd, readiness);
            try {
                Epoll.add(epoll, fd, READ_EVENTS | WRITE_EVENTS | Epoll.EPOLLET, fd);
            } catch (NativeException e) {
                watched.remove(fd, readiness);
                throw e;
            }
        }
        return readiness;
    }

    /** Stops watching {@code fd}: before it is closed, so that its number, once reused, is not watched for the wrong connection. */
    void forget(int fd, Readiness readiness) {
        synchronized (descriptors) {
            if (!closed) {
                Epoll.remove(epoll, fd);
            }
        }
        watched.remove(fd, readiness);
        readiness.end();
    }

    /** The epoll descriptor's number, for a test that puts another descriptor there once it is closed. */
    int descriptor() {
        return epoll;
    }

    private void run() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment events = arena.allocate(Epoll.EVENT_SIZE * BATCH, 8);
            while (!closed) {
                int count = Epoll.await(epoll, events, BATCH, -1);
                if (count < 0) {
                    if (count == -dev.anymap.linux.Errno.EINTR) {
                        continue;
                    }
                    LOG.log(System.Logger.Level.ERROR, "epoll_wait: " + new NativeException("epoll_wait", -count).getMessage());
                    // Nothing signals readiness from here on: no connection may wait for it, now or later.
                    synchronized (descriptors) {
                        closed = true;
                    }
                    watched.values().forEach(Readiness::end);
                    return;
                }
                for (int i = 0; i < count; i++) {
                    long data = Epoll.data(events, i);
                    Readiness readiness = data == WAKE ? null : watched.get((int) data);
                    if (readiness != null) {
                        readiness.signal(Epoll.events(events, i));
                    }
                }
            }
        }
    }

    /** Stops the thread; the connections it watched wait no more for it (close them first). */
    @Override
    public void close() {
        synchronized (descriptors) {
            closed = true; // an add or remove under way ends first
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(java.lang.foreign.ValueLayout.JAVA_LONG);
            one.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 1);
            Libc.write(wake, one, 8);
        }
        try {
            thread.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        watched.values().forEach(Readiness::end);
        synchronized (descriptors) {
            Libc.close(wake);
            Libc.close(epoll);
        }
    }
}
