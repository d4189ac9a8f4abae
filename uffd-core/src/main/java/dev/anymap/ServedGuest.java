package dev.anymap;

import dev.anymap.linux.Libc;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Message;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.URI;

/**
 * Another process's memory served from a stored object by the page server: what {@link
 * Anymap#serve(URI, MapOptions, GuestMemory)} returns. The page server fills each page the process
 * touches, a chunk at a time, and a page the process gave back with {@code madvise(MADV_DONTNEED)}
 * (a balloon, virtio-mem) reads as zeros from then on. A chunk that cannot be fetched is poisoned:
 * the process gets SIGBUS (a guest, a memory error), never wrong bytes.
 *
 * <p>Should the page server die, the one that takes over serves the memory on, as it does a
 * {@link MappedRegion}; the process's threads wait in their faults meanwhile. {@link #close()} when
 * the process is gone, or no longer needs the memory served.
 */
public final class ServedGuest implements AutoCloseable {
    private static final long LOST = -1;
    private final Anymap owner;
    private final URI uri;
    private final MapOptions options;
    private final long size;
    private final ObjectVersion version;
    private final GuestMemory memory;
    /** This object's own duplicate of the userfaultfd: to fail the memory's missing pages if no server is left to serve them. */
    private final int userfaultfd;
    private volatile long serverRegionId;
    private volatile boolean closed;

    ServedGuest(Anymap owner, URI uri, MapOptions options, long size, ObjectVersion version, GuestMemory memory, int userfaultfd,
                long serverRegionId) {
        this.owner = owner;
        this.uri = uri;
        this.options = options;
        this.size = size;
        this.version = version;
        this.memory = memory;
        this.userfaultfd = userfaultfd;
        this.serverRegionId = serverRegionId;
    }

    /** The object the memory is served from. */
    public URI uri() {
        return uri;
    }

    /** The size of the object that the memory is served from. */
    public long size() {
        return size;
    }

    /** The object's version that the memory reads, whatever the object becomes meanwhile. */
    public ObjectVersion version() {
        return version;
    }

    /** The memory served, as it was handed over. */
    public GuestMemory memory() {
        return memory;
    }

    /** What the page server has done for this memory so far. */
    public RegionStats stats() throws IOException {
        checkOpen();
        return owner.link().stats(onServer(), uri);
    }

    /**
     * The order in which the process first touched the object's chunks so far, as {@link
     * MappedRegion#trace()}: recorded on one boot of a virtual machine, replayed on the next with
     * {@link Anymap#serve(URI, MapOptions, GuestMemory, AccessTrace)}.
     */
    public AccessTrace trace() throws IOException {
        checkOpen();
        return new AccessTrace(size, version.toString(), options.chunkSize(), owner.link().chunks(onServer(), false, uri));
    }

    /** This memory as the link to the page server resumes or fails it. */
    ServerRegion asServerRegion() {
        return new ServerRegion(uri, () -> serverRegionId, () -> closed, this::lose);
    }

    private void lose() {
        serverRegionId = LOST;
        // Under the lock that close takes to mark it closed: after that, the userfaultfd's number may be another's.
        synchronized (this) {
            if (!closed) {
                try (Arena call = Arena.ofConfined()) {
                    Userfaultfd.FillRequest poison = new Userfaultfd.FillRequest(call);
                    memory.ranges().forEach(range -> poison.poisonAbandoned(userfaultfd, range.address(), range.size(), range.pageSize()));
                }
            }
        }
    }

    /**
     * Fails every page the process has not been given yet, then stops serving, as {@link #close()}:
     * for a process that goes on running, which would otherwise wait for ever at its next touch of
     * such a page, and now gets SIGBUS there (a guest, a memory error).
     */
    public void abandon() throws IOException {
        if (!closed) {
            lose();
        }
        close();
    }

    /** Stops serving the memory and lets the page server free what it held for it. Idempotent. */
    @Override
    public void close() throws IOException {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        try {
            if (serverRegionId != LOST) {
                owner.link().call(new Message.Unmap(owner.link().nextRequestId(), serverRegionId), -1, uri);
            }
        } catch (IllegalArgumentException unknown) {
            // The server had let it go already (the process exited), or took over from one that had.
        } finally {
            owner.forget(this);
            Libc.close(userfaultfd);
        }
    }

    private long onServer() throws IOException {
        long id = serverRegionId;
        if (id == LOST) {
            throw new IOException("the page server that served " + Redaction.uri(uri) + " died and none took it over; serve it again");
        }
        return id;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the guest memory served from " + Redaction.uri(uri) + " is closed");
        }
    }
}
