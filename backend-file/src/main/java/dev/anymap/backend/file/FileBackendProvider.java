package dev.anymap.backend.file;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.net.URI;
import java.util.Map;
import java.util.Set;

/**
 * Serves {@code file:} URIs (and plain paths, which {@link dev.anymap.spi.BackendRegistry#toUri} turns
 * into them) with positional {@link java.nio.channels.FileChannel} reads straight into the target: the
 * fast path for local data.
 *
 * <p>Options: {@code writable=true} opens the file for reading and writing, and the backend then has
 * the {@link dev.anymap.spi.Capability#WRITE WRITE} capability; {@code flush()} forces the data to
 * the device.
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
    static final String WRITABLE = "writable";

    @Override
    public String name() {
        return "file";
    }

    @Override
    public Set<String> schemes() {
        return Set.of("file");
    }

    @Override
    public Set<String> supportedOptions() {
        return Set.of(WRITABLE);
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        for (String key : options.keySet()) {
            if (!key.equals(WRITABLE)) {
                throw new IllegalArgumentException("option '" + key + "' is not one the 'file' backend understands (for "
                        + Redaction.uri(uri) + "); it understands [" + WRITABLE + "]");
            }
        }
        String writable = options.getOrDefault(WRITABLE, "false");
        if (!writable.equals("true") && !writable.equals("false")) {
            throw new IllegalArgumentException("option writable is true or false, not '" + writable + "' (for "
                    + Redaction.uri(uri) + ")");
        }
        return FileBackend.open(uri, LocalFiles.toPath(uri), writable.equals("true"));
    }
}
