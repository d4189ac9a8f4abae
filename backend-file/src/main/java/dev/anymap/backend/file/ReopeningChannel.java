package dev.anymap.backend.file;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import java.io.Closeable;
import java.io.IOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Set;

/**
 * The one {@link FileChannel} that all readers of a file share, opened again when something other
 * than {@link #close()} closed it.
 *
 * <p>FileChannel is interruptible: a thread interrupted during a read closes the channel for every
 * thread (ClosedByInterruptException for it, AsynchronousCloseException or ClosedChannelException for
 * the others). A page server that cancels one fetch with an interrupt must not fail every other read of
 * the object, so a channel closed that way is replaced by a new one on the same path, but only if the
 * path still leads to the same, unchanged file; otherwise the read fails with
 * {@link ObjectChangedException} rather than serve another file's bytes.
 */
final class ReopeningChannel implements Closeable {
    private final URI uri;
    private final Path path;
    private final Set<OpenOption> options;
    private final FileIdentity identity;
    private final ObjectVersion version;
    private final boolean writable;
    private final Object lock = new Object();
    private volatile FileChannel channel;
    private volatile boolean closed;

    private ReopeningChannel(URI uri, Path path, Set<OpenOption> options, FileChannel channel, FileIdentity identity,
            ObjectVersion version, boolean writable) {
        this.uri = uri;
        this.path = path;
        this.options = options;
        this.channel = channel;
        this.identity = identity;
        this.version = version;
        this.writable = writable;
    }

    /**
     * Opens the regular file at {@code path}; errors name {@code uri}, and {@code version} (null for
     * the file's own) as the version that was opened.
     */
    static ReopeningChannel open(URI uri, Path path, boolean writable, ObjectVersion version) throws IOException {
        LocalFiles.regularFile(uri, path);
        Set<OpenOption> options = writable
                ? Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE)
                : Set.of(StandardOpenOption.READ);
        FileChannel channel = LocalFiles.open(uri, path, options);
        try {
            // Read after opening, so that size and time describe the file the channel has.
            FileIdentity identity = FileIdentity.of(LocalFiles.regularFile(uri, path));
            return new ReopeningChannel(uri, path, options, channel, identity,
                    version != null ? version : identity.version(), writable);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    FileIdentity identity() {
        return identity;
    }

    ObjectVersion version() {
        return version;
    }

    /** The channel to use now. */
    FileChannel current() throws BackendClosedException {
        if (closed) {
            throw new BackendClosedException(uri);
        }
        return channel;
    }

    boolean isClosed() {
        return closed;
    }

    /**
     * A channel to use instead of {@code failed}, which was found closed: the one another thread
     * already opened in its place, or a new one.
     *
     * @throws BackendClosedException if this backend was closed
     * @throws ObjectChangedException if the path no longer leads to the file that was opened
     */
    FileChannel replace(FileChannel failed) throws IOException {
        synchronized (lock) {
            if (closed) {
                throw new BackendClosedException(uri);
            }
            if (channel != failed && channel.isOpen()) {
                return channel;
            }
            FileChannel fresh;
            try {
                fresh = FileChannel.open(path, options);
            } catch (NoSuchFileException gone) {
                throw new ObjectChangedException(uri, version, "it was deleted or moved away");
            } catch (IOException e) {
                throw LocalFiles.translate(uri, e);
            }
            try {
                String difference = identity.differenceTo(
                        FileIdentity.of(Files.readAttributes(path, BasicFileAttributes.class)), writable);
                if (difference != null) {
                    throw new ObjectChangedException(uri, version, difference);
                }
            } catch (IOException | RuntimeException e) {
                fresh.close();
                throw e;
            }
            channel = fresh;
            return fresh;
        }
    }

    @Override
    public void close() throws IOException {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            channel.close();
        }
    }
}
