package dev.anymap.backend.file;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
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

    /** The native buffer through which a commit takes the new bytes of a dirty range from its changes. */
    private static final long STAGING = 1 << 20;

    private static final String COMMIT_ATTRIBUTE_NAME = "anymap.commit";
    private static final String COMMIT_ATTRIBUTE = "user:" + COMMIT_ATTRIBUTE_NAME;
    /** The steps by which a commit moves the modification time, for file systems that keep ns, ms, s or 2 s. */
    private static final List<Duration> TIME_STEPS =
            List.of(Duration.ofNanos(1000), Duration.ofMillis(1), Duration.ofSeconds(1), Duration.ofSeconds(2));

    private final URI uri;
    private final Path path;
    private final ReopeningChannel channel;
    private final long size;
    private final boolean writable;
    private final Object commitLock = new Object();
    private volatile ObjectVersion version;
    private FailedCommit failedCommit;
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

    /**
     * Writes the dirty ranges in place with positional writes, then forces the data to the device
     * ({@code fdatasync}), and returns the file's new version.
     *
     * <p>A file cannot check its base atomically: the base is compared with the file's size and
     * modification time just before the writes, and a writer that changes the file between that check
     * and the writes is not detected (its bytes in the dirty ranges are overwritten); nor is a change
     * at the same size within the file system's time resolution. anymap's own writers of one file
     * commit one at a time, through one page server.
     *
     * <p>The writes go in place, in the order of the ranges. A commit that fails in the middle (a full
     * disk, a crash) leaves some ranges written and the others not, and the range it was writing in
     * part; no page is torn beyond what the file system itself does on a crash. The bytes that were to
     * be written are still in {@code changes}: a retry of the same changes on this backend is accepted
     * as long as nothing else changed the file since the failure. The modification time that makes the
     * version is not forced to the device with the data: after a crash of the machine the file may show
     * the time of an earlier version.
     */
    @Override
    public ObjectVersion commit(Changes changes) throws IOException {
        if (!writable) {
            return StorageBackend.super.commit(changes);
        }
        if (changes.size() != size) {
            throw new IllegalArgumentException("changes of " + changes.size() + " bytes for " + Redaction.uri(uri)
                    + ", which has " + size + " bytes: a commit never changes the size");
        }
        synchronized (commitLock) {
            FileIdentity before = identityNow();
            ObjectVersion now = before.version();
            boolean retryOfFailed = failedCommit != null && failedCommit.base().equals(changes.base())
                    && failedCommit.left().equals(now);
            if (!now.equals(changes.base()) && !retryOfFailed) {
                throw new ObjectChangedException(uri, changes.base(), "it is at " + now + " now");
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment staging = changes.dirty().isEmpty() ? null : arena.allocate(STAGING, 4096);
                for (ByteRange range : changes.dirty()) {
                    for (long done = 0; done < range.length(); ) {
                        MemorySegment piece = staging.asSlice(0, Math.min(STAGING, range.length() - done));
                        changes.read(range.offset() + done, piece);
                        long position = range.offset() + done;
                        SegmentPieces.drain(piece, position, (at, buffer) -> transfer(at, buffer, true));
                        done += piece.byteSize();
                    }
                }
                if (!changes.dirty().isEmpty()) {
                    recordCommit(changes.token());
                    moveModifiedPast(new HashSet<>(List.of(changes.base(), now)), before.modified().toInstant());
                    force();
                }
            } catch (IOException | RuntimeException failed) {
                try {
                    failedCommit = new FailedCommit(changes.base(), identityNow().version());
                } catch (IOException | RuntimeException unknown) {
                    failed.addSuppressed(unknown);
                }
                throw failed;
            }
            failedCommit = null;
            version = identityNow().version();
            return version;
        }
    }

    /**
     * Keeps the commit's token with the file, in an extended attribute, once its ranges are written:
     * a page server that takes over from one that died before it could answer learns from it that the
     * commit happened. A file system without user attributes keeps none, and {@link #lastCommit()} is
     * then empty.
     */
    private void recordCommit(String token) {
        try {
            Files.setAttribute(path, COMMIT_ATTRIBUTE, ByteBuffer.wrap(token.getBytes(StandardCharsets.UTF_8)));
        } catch (IOException | UnsupportedOperationException noAttributes) {
            // Nothing to learn from, then: a takeover after such a commit sees the file as changed by another writer.
        }
    }

    @Override
    public Optional<String> lastCommit() {
        try {
            UserDefinedFileAttributeView attributes = Files.getFileAttributeView(path, UserDefinedFileAttributeView.class);
            if (attributes == null || !attributes.list().contains(COMMIT_ATTRIBUTE_NAME)) {
                return Optional.empty();
            }
            ByteBuffer token = ByteBuffer.allocate(attributes.size(COMMIT_ATTRIBUTE_NAME));
            attributes.read(COMMIT_ATTRIBUTE_NAME, token);
            return Optional.of(new String(token.array(), 0, token.position(), StandardCharsets.UTF_8));
        } catch (IOException | UnsupportedOperationException noAttributes) {
            return Optional.empty();
        }
    }

    /**
     * The version is the modification time and size, and a commit keeps the size: its version must
     * differ by the time, which the file system takes from a clock that moves in ticks of several
     * milliseconds. Set it past {@code old}, in the smallest step the file system keeps, until the
     * version is none of {@code earlier}.
     */
    private void moveModifiedPast(Set<ObjectVersion> earlier, Instant old) throws IOException {
        for (Duration step : TIME_STEPS) {
            if (!earlier.contains(identityNow().version())) {
                return;
            }
            Instant later = old.plus(step);
            Instant clock = Instant.now();
            Files.setLastModifiedTime(path, FileTime.from(clock.isAfter(later) ? clock : later));
        }
        if (earlier.contains(identityNow().version())) {
            throw new IOException("the modification time of " + Redaction.uri(uri) + " does not move past " + old
                    + ", so a new version of it could not be told from the old");
        }
    }

    private FileIdentity identityNow() throws IOException {
        FileIdentity now;
        try {
            now = FileIdentity.of(Files.readAttributes(path, BasicFileAttributes.class));
        } catch (NoSuchFileException gone) {
            throw new ObjectChangedException(uri, version, "it was deleted or moved away");
        } catch (IOException e) {
            throw LocalFiles.translate(uri, e);
        }
        String difference = channel.identity().differenceTo(now, true);
        if (difference != null) {
            throw new ObjectChangedException(uri, version, difference);
        }
        return now;
    }

    private void force() throws IOException {
        FileChannel current = channel.current();
        for (int replacements = 0; ; ) {
            checkNotInterrupted();
            try {
                current.force(false);
                return;
            } catch (ClosedByInterruptException interrupted) {
                throw interruptedInside(current, interrupted);
            } catch (ClosedChannelException closedUnderneath) {
                // fdatasync syncs the file, not the descriptor: one on a new descriptor covers writes made through the old.
                current = replace(current, closedUnderneath, ++replacements);
            }
        }
    }

    /** A commit that failed in the middle: its base, and the version of the file it left. */
    private record FailedCommit(ObjectVersion base, ObjectVersion left) {}

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
