package dev.anymap.server;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.MessageCodec;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.net.URI;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A region that the kernel maps from a local file of its object (see {@link
 * StorageBackend#localFile()}): the server opened the file, handed the client its descriptor, and
 * serves none of its faults. What is left here is the record that {@code anymap status} lists and a
 * stats request answers: nothing is ever fetched for it.
 *
 * <p>Such a region needs no server once mapped, so it is not sent to the keeper, and a server that
 * takes over never hears of it: the client's mapping goes on reading whatever happens to servers.
 */
final class KernelMappedRegion {
    private static final System.Logger LOG = System.getLogger(KernelMappedRegion.class.getName());
    private static final Message.Stats NOTHING_FETCHED = new Message.Stats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, 0, 0);

    private final long id;
    private final String printableUri;
    private final String version;
    private final long size;
    private final int chunkSize;
    /** The descriptor of the file, until the answer to the map hands it to the client; -1 then. */
    private final AtomicInteger file;

    KernelMappedRegion(long id, URI uri, String version, long size, int chunkSize, int file) {
        this.id = id;
        this.printableUri = Redaction.uri(uri);
        this.version = version;
        this.size = size;
        this.chunkSize = chunkSize;
        this.file = new AtomicInteger(file);
    }

    /** The descriptor of the file, for the answer to the map to send, once; the caller closes it. -1 after. */
    int handOver() {
        return file.getAndSet(-1);
    }

    /** Closes the descriptor if no answer took it: the client went away first. */
    void close() {
        int unsent = file.getAndSet(-1);
        if (unsent >= 0) {
            Libc.close(unsent);
        }
    }

    /**
     * A read-only descriptor of the backend's local file, opened while the backend is open (so that
     * the bytes stay for the descriptor even if closing the backend deletes the file), or -1 where
     * the backend offers none, or where the file is not the size the backend opened: then the region
     * is served by faults, whose reads see the change as the backend reports it.
     */
    static int open(StorageBackend backend) {
        if (backend.size() == 0) {
            return -1;
        }
        Optional<Path> file;
        try {
            file = backend.localFile();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "the local file of " + Redaction.uri(backend.uri()) + ": " + e);
            return -1;
        }
        if (file.isEmpty()) {
            return -1;
        }
        int fd = Libc.open(file.get().toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0) {
            LOG.log(System.Logger.Level.DEBUG, "cannot open the local file of " + Redaction.uri(backend.uri()) + ": " + Errno.name(-fd)
                    + "; its faults are served instead");
            return -1;
        }
        long length = Libc.lseek(fd, 0, Libc.SEEK_END);
        if (length != backend.size()) {
            LOG.log(System.Logger.Level.DEBUG, "the local file of " + Redaction.uri(backend.uri()) + " has " + length + " bytes, not the "
                    + backend.size() + " opened; its faults are served instead");
            Libc.close(fd);
            return -1;
        }
        return fd;
    }

    Message.Stats stats(long requestId) {
        return new Message.Stats(requestId, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, 0, 0);
    }

    Message.RegionStatus status(long clientPid) {
        return new Message.RegionStatus(clientPid, id, MessageCodec.truncate(printableUri, MessageCodec.MAX_STATUS_URI),
                MessageCodec.truncate(version, MessageCodec.MAX_STATUS_URI), size, chunkSize, 0, NOTHING_FETCHED, true);
    }
}
