package dev.anymap.backend.file;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.Capability;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A local file read with positional {@link FileChannel} reads straight into the target: one channel
 * for all threads, since positional reads are thread safe.
 *
 * <p>FileChannel is interruptible, and an interrupt closes it for every thread. Here a read by an
 * interrupted thread fails with {@link InterruptedIOException} (its interrupt status kept), as on
 * any interruptible channel, but without touching the channel: a stale interrupt of one fetch worker
 * costs the other readers nothing. An interrupt that lands inside a channel call still closes the
 * channel; the interrupted read fails, and the channel is replaced (see {@link ReopeningChannel}) for
 * the reads of the other threads, which go on.
 */
final class FileBackend implements StorageBackend {
    /**
     * Channel replacements in a row, with no byte moved between them, after which a read gives up
     * rather than chase a channel that interrupts of other threads keep closing.
     */
    private static final int MAX_REPLACEMENTS_WITHOUT_PROGRESS = 1000;

    private final URI uri;
    private final Path path;
    private final ReopeningChannel channel;
    private final long size;
    private final ObjectVersion version;
    private final boolean writable;
    private final Closeable afterClose;
    private final AtomicBoolean closing = new AtomicBoolean();

    private FileBackend(URI uri, Path path, ReopeningChannel channel, boolean writable, Closeable afterClose) {
        this.uri = uri;
        this.path = path;
        this.channel = channel;
        this.size = channel.identity().size();
        this.version = channel.version();
        this.writable = writable;
        this.afterClose = afterClose;
    }

    /** Opens the file at {@code path}, named {@code uri} in messages. */
    static FileBackend open(URI uri, Path path, boolean writable) throws IOException {
        return new FileBackend(uri, path, ReopeningChannel.open(uri, path, writable, null), writable, () -> {});
    }

    /**
     * Opens a local copy of another object, read-only: it reports that object's {@code uri} and
     * {@code version}, and runs {@code afterClose} (which removes the copy) once it is closed.
     */
    static FileBackend copyOf(URI uri, Path copy, ObjectVersion version, Closeable afterClose) throws IOException {
        return new FileBackend(uri, copy, ReopeningChannel.open(uri, copy, false, version), false, afterClose);
    }

    /** The shared channel, for tests that close it the way an interrupt of another reader would. */
    ReopeningChannel channel() {
        return channel;
    }

    @Override
    public URI uri() {
        return uri;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public ObjectVersion version() {
        return version;
    }

    @Override
    public Set<Capability> capabilities() {
        return writable ? Set.of(Capability.WRITE) : Set.of();
    }

    /**
     * The file itself: for {@code file:} the object is the file, so a kernel mapping of it sees its
     * later changes (as FileChannel.map does); a copy (a spooled archive entry) is this backend's
     * alone and never changes until close deletes it.
     */
    @Override
    public Optional<Path> localFile() {
        return Optional.of(path);
    }

    @Override
    public void read(long offset, MemorySegment target) throws IOException {
        OutOfRangeException.check(uri, offset, target.byteSize(), size);
        channel.current();
        SegmentPieces.fill(target, offset, (position, piece) -> transfer(position, piece, false));
    }

    @Override
    public void write(long offset, MemorySegment source) throws IOException {
        if (!writable) {
            StorageBackend.super.write(offset, source);
        }
        OutOfRangeException.check(uri, offset, source.byteSize(), size);
        channel.current();
        SegmentPieces.drain(source, offset, (position, piece) -> transfer(position, piece, true));
    }

    @Override
    public void flush() throws IOException {
        if (!writable) {
            return;
        }
        FileChannel current = channel.current();
        for (int replacements = 0; ; ) {
            checkNotInterrupted();
            try {
                current.force(false);
                return;
            } catch (ClosedByInterruptException interrupted) {
                throw interruptedInside(current, interrupted);
            } catch (ClosedChannelException closedUnderneath) {
                // fsync syncs the file, not the descriptor: one on a new descriptor covers writes made through the old.
                current = replace(current, closedUnderneath, ++replacements);
            }
        }
    }

    /** Reads or writes all of {@code piece} at {@code position}. */
    private void transfer(long position, ByteBuffer piece, boolean write) throws IOException {
        FileChannel current = channel.current();
        int replacements = 0;
        while (piece.hasRemaining()) {
            checkNotInterrupted();
            int moved;
            try {
                moved = write ? current.write(piece, position) : current.read(piece, position);
            } catch (ClosedByInterruptException interrupted) {
                throw interruptedInside(current, interrupted);
            } catch (ClosedChannelException closedUnderneath) {
                current = replace(current, closedUnderneath, ++replacements);
                continue;
            }
            if (moved < 0) {
                if (!current.isOpen()) {
                    current = replace(current, new ClosedChannelException(), ++replacements);
                    continue;
                }
                throw new ObjectChangedException(uri, version, "it ends at byte " + position
                        + " now, and had " + size + " bytes when it was opened");
            }
            if (moved > 0) {
                replacements = 0;
            }
            position += moved;
        }
    }

    /** A pending interrupt would make the next channel call close the channel for every reader. */
    private void checkNotInterrupted() throws InterruptedIOException {
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedIOException("interrupted before reading or writing " + Redaction.uri(uri)
                    + " (the interrupt status is kept)");
        }
    }

    /**
     * This thread was interrupted inside a channel call, which closed the channel: replace it now, so
     * that the other readers need not, and fail this call as an interruptible channel would.
     */
    private InterruptedIOException interruptedInside(FileChannel closed, ClosedByInterruptException why) {
        InterruptedIOException interrupted = new InterruptedIOException("interrupted while reading or writing " + Redaction.uri(uri)
                + " (the interrupt status is kept)");
        interrupted.initCause(why);
        try {
            channel.replace(closed);
        } catch (IOException | RuntimeException replacementFailed) {
            // The other readers meet the same failure when they replace the channel themselves.
            interrupted.addSuppressed(replacementFailed);
        }
        return interrupted;
    }

    private FileChannel replace(FileChannel failed, ClosedChannelException why, int replacements) throws IOException {
        if (channel.isClosed()) {
            BackendClosedException closed = new BackendClosedException(uri);
            closed.initCause(why);
            throw closed;
        }
        if (replacements > MAX_REPLACEMENTS_WITHOUT_PROGRESS) {
            throw new IOException("reading or writing " + Redaction.uri(uri) + " failed: its channel was closed " + replacements
                    + " times in a row by interrupts of other threads", why);
        }
        return channel.replace(failed);
    }

    @Override
    public void close() throws IOException {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        try {
            channel.close();
        } finally {
            afterClose.close();
        }
    }

    @Override
    public String toString() {
        return "FileBackend[" + Redaction.uri(uri) + ", " + size + " bytes]";
    }
}
