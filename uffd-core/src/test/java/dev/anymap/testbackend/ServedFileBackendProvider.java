package dev.anymap.testbackend;

import dev.anymap.backend.file.FileBackendProvider;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.ByteSink;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A local file that the page server serves through faults, as it serves remote storage, for the
 * write-back tests: {@code servedfile:/PATH} is the file {@code PATH}, read and committed by the
 * file backend, which offers no local file here, so that nothing maps it but the page server's
 * layer. {@code ?refuse=/MARKER} refuses every commit while the file MARKER exists, as a storage that
 * denies writes; {@code ?slow=MILLIS} makes a commit take that long before it writes, so that a test
 * can kill a process in the middle of one.
 */
public final class ServedFileBackendProvider implements BackendProvider {
    private final FileBackendProvider files = new FileBackendProvider();

    @Override
    public String name() {
        return "servedfile";
    }

    @Override
    public Set<String> schemes() {
        return Set.of("servedfile");
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        return new Served(uri, files.open(file(uri), Map.of()));
    }

    @Override
    public StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
        return new Served(uri, files.openForWriting(file(uri), Map.of()));
    }

    @Override
    public StorageBackend create(URI uri, long size, Map<String, String> options) throws IOException {
        return new Served(uri, files.create(file(uri), size, Map.of()));
    }

    private static URI file(URI uri) {
        return Path.of(uri.getSchemeSpecificPart().replaceFirst("\\?.*", "")).toUri();
    }

    private static Map<String, String> parameters(URI uri) {
        Map<String, String> parameters = new HashMap<>();
        String spec = uri.getSchemeSpecificPart();
        if (spec.contains("?")) {
            for (String parameter : spec.substring(spec.indexOf('?') + 1).split("&")) {
                String[] pair = parameter.split("=", 2);
                parameters.put(pair[0], pair[1]);
            }
        }
        return parameters;
    }

    private static final class Served implements StorageBackend {
        private final URI uri;
        private final StorageBackend file;
        private final Map<String, String> parameters;

        Served(URI uri, StorageBackend file) {
            this.uri = uri;
            this.file = file;
            this.parameters = parameters(uri);
        }

        @Override
        public URI uri() {
            return uri;
        }

        @Override
        public long size() {
            return file.size();
        }

        @Override
        public ObjectVersion version() {
            return file.version();
        }

        @Override
        public Set<Capability> capabilities() {
            return file.capabilities();
        }

        @Override
        public void read(long offset, MemorySegment target) throws IOException {
            file.read(offset, target);
        }

        @Override
        public void stream(long offset, long length, ByteSink sink) throws IOException {
            file.stream(offset, length, sink);
        }

        @Override
        public ObjectVersion commit(Changes changes) throws IOException {
            String refuse = parameters.get("refuse");
            if (refuse != null && Files.exists(Path.of(refuse))) {
                throw new AccessDeniedException(uri.toString(), null, "writes refused while " + refuse + " exists");
            }
            if (parameters.containsKey("slow")) {
                try {
                    Thread.sleep(Long.parseLong(parameters.get("slow")));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while committing to " + uri);
                }
            }
            return file.commit(changes);
        }

        @Override
        public Optional<String> lastCommit() {
            return file.lastCommit();
        }

        @Override
        public void close() throws IOException {
            file.close();
        }
    }
}
