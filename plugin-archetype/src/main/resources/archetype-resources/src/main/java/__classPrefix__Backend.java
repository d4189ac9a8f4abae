package ${package};

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * One object of {@code ${scheme}:}, opened by {@link ${classPrefix}BackendProvider}: its size and version are
 * fixed at {@link #open}, and every read checks that the object is still that version.
 */
final class ${classPrefix}Backend implements StorageBackend {
    /** At most this much per read call: a {@link ByteBuffer} holds up to 2 GiB. */
    private static final long PIECE = 1 << 30;

    private final URI uri;
    private final Path path;
    private final long size;
    private final ObjectVersion version;
    private volatile boolean closed;

    private ${classPrefix}Backend(URI uri, Path path, long size, ObjectVersion version) {
        this.uri = uri;
        this.path = path;
        this.size = size;
        this.version = version;
    }

    /**
     * Checks that the object exists and may be read, and fixes its size and version: what a user can get
     * wrong fails here, naming the URI, and not at the first page fault.
     */
    static ${classPrefix}Backend open(URI uri, Path path) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(Redaction.uri(uri), null, "no such file: " + path);
        }
        if (!attributes.isRegularFile()) {
            throw new IOException(Redaction.uri(uri) + ": " + path + " is not a regular file");
        }
        if (!Files.isReadable(path)) {
            throw new AccessDeniedException(Redaction.uri(uri), null, "this process may not read " + path);
        }
        return new ${classPrefix}Backend(uri, path, attributes.size(),
                ObjectVersion.modified(attributes.lastModifiedTime().toInstant(), attributes.size()));
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

    /**
     * Reads straight into {@code target}, often the page server's native staging memory. Each read opens
     * a channel of its own: many threads read at once, and a {@link FileChannel} is closed for all of
     * them when one reading thread is interrupted (the page server interrupts a read past its deadline).
     */
    @Override
    public void read(long offset, MemorySegment target) throws IOException {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset + " in " + Redaction.uri(uri));
        }
        if (closed) {
            throw new BackendClosedException(uri);
        }
        OutOfRangeException.check(uri, offset, target.byteSize(), size);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            ensureUnchanged(channel);
            for (long done = 0; done < target.byteSize(); done += PIECE) {
                ByteBuffer buffer = target.asSlice(done, Math.min(PIECE, target.byteSize() - done)).asByteBuffer();
                while (buffer.hasRemaining()) {
                    if (channel.read(buffer, offset + done + buffer.position()) < 0) {
                        throw new ObjectChangedException(uri, version, "the file ended before its size when opened, " + size);
                    }
                }
            }
        }
    }

    /** A read of another version would mix two versions' bytes in one mapping: it fails instead. */
    private void ensureUnchanged(FileChannel channel) throws IOException {
        long now = channel.size();
        ObjectVersion current = ObjectVersion.modified(Files.getLastModifiedTime(path).toInstant(), now);
        if (!current.equals(version)) {
            throw new ObjectChangedException(uri, version, "the file is now " + current);
        }
    }

    /** Reads in flight finish on their own channels; later ones throw {@link BackendClosedException}. */
    @Override
    public void close() {
        closed = true;
    }

    @Override
    public String toString() {
        return "${classPrefix}Backend[" + Redaction.uri(uri) + "]";
    }
}
