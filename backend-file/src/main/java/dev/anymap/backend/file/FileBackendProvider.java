package dev.anymap.backend.file;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Serves {@code file:} URIs (and plain paths, which {@link dev.anymap.spi.BackendRegistry#toUri} turns
 * into them) with positional {@link java.nio.channels.FileChannel} reads straight into the target: the
 * fast path for local data.
 *
 * <p>{@link #openForWriting} opens the file for reading and writing, and its backend
 * {@linkplain StorageBackend#commit commits} with positional writes and {@code fdatasync}; {@link
 * #create} makes a new sparse file of zeros, exclusively. The backend takes no options.
 *
 * <p>Opening fails with {@link java.nio.file.NoSuchFileException}, {@link
 * java.nio.file.AccessDeniedException} or another {@link java.nio.file.FileSystemException} naming the
 * URI for a file that is missing or unreadable, and with {@link IllegalArgumentException} for a
 * directory, something that is not a regular file, or a URI that is no local file URI
 * ({@code file://host/x}, {@code file:relative}, a query). An empty file opens, with size 0.
 *
 * <p>The version is the file's modification time and size; a read that finds the file shorter than
 * it was fails with {@link dev.anymap.spi.ObjectChangedException}.
 */
public final class FileBackendProvider implements BackendProvider {
    /** The provider that {@link java.util.ServiceLoader} finds. */
    public FileBackendProvider() {}

    @Override
    public String name() {
        return "file";
    }

    @Override
    public Set<String> schemes() {
        return Set.of("file");
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        checkNoOptions(uri, options);
        return FileBackend.open(uri, LocalFiles.toPath(uri), false);
    }

    /** The file the URI names: a {@code file:} object is its file. */
    @Override
    public Optional<Path> localFile(URI uri, Map<String, String> options) {
        checkNoOptions(uri, options);
        return Optional.of(LocalFiles.toPath(uri));
    }

    /**
     * Opens the file for reading and writing.
     *
     * @throws AccessDeniedException if this process may not write it (permissions, a read-only
     *     mount, an immutable file), naming the URI and what to change
     */
    @Override
    public StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
        checkNoOptions(uri, options);
        Path path = LocalFiles.toPath(uri);
        try {
            return FileBackend.open(uri, path, true);
        } catch (FileSystemException e) {
            throw notWritable(uri, path, e);
        }
    }

    /**
     * Creates the file, which must not exist, as {@code size} zero bytes (sparse: no block is written
     * but the last), forces it to the device, and opens it for writing.
     *
     * @throws FileAlreadyExistsException if a file (or anything else) exists at the path
     */
    @Override
    public StorageBackend create(URI uri, long size, Map<String, String> options) throws IOException {
        checkNoOptions(uri, options);
        if (size < 0) {
            throw new IllegalArgumentException("cannot create " + Redaction.uri(uri) + " of " + size + " bytes: a size is 0 or more");
        }
        Path path = LocalFiles.toPath(uri);
        try (FileChannel created = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                StandardOpenOption.SPARSE)) {
            if (size > 0) {
                // One zero byte at the end sets the size and leaves a hole before it.
                created.write(ByteBuffer.allocate(1), size - 1);
            }
            created.force(true);
        } catch (FileAlreadyExistsException exists) {
            if (Files.isDirectory(path)) {
                throw new IllegalArgumentException("cannot create " + Redaction.uri(uri) + ": it is a directory; name a file in it", exists);
            }
            FileAlreadyExistsException named = new FileAlreadyExistsException(Redaction.uri(uri), null,
                    "something exists there already; remove it or choose another name");
            named.initCause(exists);
            throw named;
        } catch (NoSuchFileException missing) {
            NoSuchFileException named = new NoSuchFileException(Redaction.uri(uri), null, "its directory "
                    + (path.getParent() == null ? "" : path.getParent() + " ") + "does not exist; make it first");
            named.initCause(missing);
            throw named;
        } catch (FileSystemException e) {
            throw notWritable(uri, path.getParent() != null ? path.getParent() : path, e);
        }
        return openForWriting(uri, options);
    }

    /**
     * {@code e} as an {@link AccessDeniedException} saying what to change where the file system refused
     * writing (permissions, a read-only mount, an immutable file), else as it is with the URI named.
     */
    private static IOException notWritable(URI uri, Path path, FileSystemException e) {
        boolean denied = e instanceof AccessDeniedException
                || (!(e instanceof NoSuchFileException) && Files.exists(path) && !Files.isWritable(path));
        if (!denied) {
            return e.getFile() != null && e.getFile().equals(Redaction.uri(uri)) ? e : LocalFiles.translate(uri, e);
        }
        AccessDeniedException refused = new AccessDeniedException(Redaction.uri(uri), null,
                "this process may not write " + path + " (" + (e.getReason() != null ? e.getReason() : e.getClass().getSimpleName())
                        + "): make it writable (chmod u+w, or chown to this user), remount its file system"
                        + " read-write, or clear its immutable flag (chattr -i); or map it read-only");
        refused.initCause(e);
        return refused;
    }

    private static void checkNoOptions(URI uri, Map<String, String> options) {
        if (!options.isEmpty()) {
            throw new IllegalArgumentException("option '" + options.keySet().iterator().next()
                    + "' is not one the 'file' backend understands (for " + Redaction.uri(uri) + "); it takes no options"
                    + " (to write a file, map it writable: 'writable' is no longer an option)");
        }
    }
}
