package dev.anymap.backend.file;

import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.net.URI;

/**
 * Commits of one sftp object, written in place: each dirty range at its offset, through a buffer of
 * at most {@value #BUFFER} bytes, after checking that the object is still at the version the changes
 * were made on.
 *
 * <p>Not atomic: SFTP has no transaction and no conditional write. The check reads the size and the
 * modification time, to the second, just before the writes, so a writer that changes the object
 * within the second of that version, or between the check and the writes, is not seen. A commit that
 * fails in the middle (the connection lost, the disk full), or a process killed in it, leaves the
 * object with some ranges new and the others old. Such a commit may be made again: the object's
 * version after the failure is remembered as this backend's own, so that the next commit of the
 * same changes is not refused as another writer's change, and writes them all.
 */
final class InPlaceCommits implements Closeable {
    private static final int BUFFER = 1 << 20;

    private final URI uri;
    private final String name;
    private final long size;
    private final SftpWriter writer;
    /** The version a failed commit left, which only this backend wrote, or null. */
    private ObjectVersion partial;

    /**
     * @param uri the URI without passwords
     * @param name the URI as it may be printed
     */
    InPlaceCommits(URI uri, String name, long size, SftpWriter writer) {
        this.uri = uri;
        this.name = name;
        this.size = size;
        this.writer = writer;
    }

    /** Writes {@code changes} onto the object read at {@code opened}, and returns its new version. */
    ObjectVersion commit(ObjectVersion opened, Changes changes) throws IOException {
        if (changes.size() != size) {
            throw new IllegalArgumentException(name + ": the changes are for an object of " + changes.size()
                    + " bytes, and it has " + size + "; a commit never changes the size");
        }
        if (!changes.base().equals(opened)) {
            throw new ObjectChangedException(uri, opened, "the changes were made on version " + changes.base());
        }
        ObjectVersion now = writer.versionReconnecting();
        if (!now.equals(opened) && !now.equals(partial)) {
            throw new ObjectChangedException(uri, opened, "it is at " + now + " now: another writer changed it; nothing was written");
        }
        if (changes.dirty().isEmpty() && now.equals(opened)) {
            return opened;
        }
        long largest = changes.dirty().stream().mapToLong(ByteRange::length).max().orElse(1);
        byte[] buffer = new byte[(int) Math.min(BUFFER, largest)];
        try {
            for (ByteRange range : changes.dirty()) {
                write(range, changes, buffer);
            }
            ObjectVersion committed = writer.committed(opened);
            partial = null;
            return committed;
        } catch (IOException | RuntimeException failure) {
            try {
                partial = writer.version();
            } catch (IOException | RuntimeException unknown) {
                // The next commit finds another version than the base, and fails rather than guess.
                partial = null;
            }
            throw failure;
        }
    }

    private void write(ByteRange range, Changes changes, byte[] buffer) throws IOException {
        MemorySegment staging = MemorySegment.ofArray(buffer);
        OutputStream out = writer.at(range.offset(), size);
        boolean written = false;
        try {
            for (long done = 0; done < range.length(); ) {
                int piece = (int) Math.min(buffer.length, range.length() - done);
                // A failure to read the new bytes (of the base, from storage) is passed on as it is.
                changes.read(range.offset() + done, staging.asSlice(0, piece));
                try {
                    out.write(buffer, 0, piece);
                } catch (IOException failure) {
                    throw failed(range, failure);
                }
                done += piece;
            }
            written = true;
        } finally {
            try {
                out.close();
            } catch (IOException failure) {
                if (written) {
                    throw failed(range, failure);
                }
            }
        }
    }

    private IOException failed(ByteRange range, IOException failure) {
        IOException translated = writer.translate(failure, "writing " + range.length() + " bytes at offset " + range.offset());
        return new IOException(translated.getMessage() + "; sftp writes in place, so the object may hold some ranges of "
                + "this commit and not others: commit again to write them all", translated.getCause());
    }

    @Override
    public void close() {
        writer.close();
    }
}
