package dev.anymap.backend.http;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A resource from a server that ignores byte ranges, downloaded whole once at open (with option
 * {@code allow-full-download=true}) and then read from a private memory-mapped copy.
 *
 * <p>The copy is a temporary file readable by its owner alone, since the resource may be private,
 * and it is offered as the backend's {@linkplain #localFile() local file}, for the kernel to map. It
 * is removed when the backend closes (a JVM that dies first leaves it behind, named
 * {@code anymap-http-*.download}); the page cache holds the bytes, not the heap.
 */
final class DownloadedBackend implements StorageBackend {
    private final URI uri;
    private final long size;
    private final ObjectVersion version;
    private final Arena arena;
    private final MemorySegment bytes;
    private final Path file;
    private final AtomicBoolean closed = new AtomicBoolean();

    private DownloadedBackend(URI uri, ObjectVersion version, Arena arena, MemorySegment bytes, Path file) {
        this.uri = uri;
        this.size = bytes.byteSize();
        this.version = version;
        this.arena = arena;
        this.bytes = bytes;
        this.file = file;
    }

    /**
     * Downloads the resource, starting with the body of {@code first}, a 200 to a ranged GET, and
     * asking again (with the opened version as precondition) if that body breaks off.
     *
     * @param declaredSize the Content-Length of {@code first}, or -1 if it gave none
     */
    static DownloadedBackend download(Transport transport, Transport.Response first, long declaredSize) throws IOException {
        Validator validator = Validator.of(first.headers);
        ObjectVersion opened = validator.version(declaredSize);
        Transport.Target target = first.target;
        Path file = Files.createTempFile("anymap-http-", ".download", ownerOnly());
        try {
            long size;
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
                size = transport.withRetries("download of " + Redaction.uri(transport.uri()), attempt -> {
                    try (Transport.Response response = attempt == 1 ? first
                            : transport.send("GET", target, validator.conditions())) {
                        long expected = attempt == 1 ? declaredSize : checkAgain(transport, response, validator, opened);
                        channel.truncate(0);
                        channel.position(0);
                        return copy(transport, response, channel, expected);
                    }
                });
            }
            Arena arena = Arena.ofShared();
            MemorySegment bytes;
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                bytes = size == 0 ? arena.allocate(0) : channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
            // Kept until close, not unlinked now: the page server hands it to the kernel to map.
            return new DownloadedBackend(transport.uri(), declaredSize == size ? opened : validator.version(size), arena, bytes,
                    file);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(file);
            throw e;
        } finally {
            first.close();
            // The copy is all that reads need from here on; the client goes back to the pool.
            transport.close();
        }
    }

    /** Checks the answer to a repeated download request; returns its Content-Length, or -1. */
    private static long checkAgain(Transport transport, Transport.Response response, Validator validator, ObjectVersion opened)
            throws IOException {
        if (response.status == 412) {
            throw new ObjectChangedException(transport.uri(), opened,
                    "it answered 412 Precondition Failed with " + validator.describeConditions() + " while it was downloaded");
        }
        if (response.status != 200) {
            throw response.unexpected("GET of the whole resource");
        }
        response.requireIdentityEncoding();
        String difference = validator.differenceTo(response.headers);
        if (difference != null) {
            throw new ObjectChangedException(transport.uri(), opened, difference + " while it was downloaded");
        }
        return response.headers.firstValueAsLong("content-length").orElse(-1);
    }

    private static long copy(Transport transport, Transport.Response response, FileChannel channel, long expected)
            throws IOException {
        long done = 0;
        while (true) {
            List<ByteBuffer> buffers;
            try {
                buffers = response.body.next(transport.options().readTimeout());
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while downloading " + Redaction.uri(transport.uri()));
            } catch (BodyStream.StallException stalled) {
                throw new TransientFailure("the download stalled after " + done + " bytes: " + stalled.getMessage(), stalled);
            } catch (IOException broken) {
                transport.checkOpen();
                throw new TransientFailure("the download broke off after " + done + " bytes: " + transport.describe(broken),
                        transport.secrets().scrub(broken));
            }
            if (buffers == null) {
                break;
            }
            for (ByteBuffer buffer : buffers) {
                done += buffer.remaining();
                if (expected >= 0 && done > expected) {
                    throw new IOException(Redaction.uri(transport.uri()) + " sent more than the " + expected
                            + " bytes of its Content-Length");
                }
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
            }
        }
        if (expected >= 0 && done < expected) {
            throw new TransientFailure("the download ended after " + done + " of " + expected + " bytes", null);
        }
        return done;
    }

    private static FileAttribute<?>[] ownerOnly() {
        if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            return new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))};
        }
        // Elsewhere (Windows) a new temporary file inherits its directory's ACL, which is the user's own.
        return new FileAttribute<?>[0];
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
    public Optional<MemorySegment> view() {
        return Optional.of(bytes.asReadOnly());
    }

    /** The download, which nothing writes once it is complete, until close deletes it. */
    @Override
    public Optional<Path> localFile() {
        return Optional.of(file);
    }

    @Override
    public void read(long offset, MemorySegment target) throws IOException {
        OutOfRangeException.check(uri, offset, target.byteSize(), size);
        if (closed.get()) {
            throw new BackendClosedException(uri);
        }
        try {
            MemorySegment.copy(bytes, offset, target, 0, target.byteSize());
        } catch (IllegalStateException unmapped) {
            // close() unmapped the copy while this read ran.
            if (closed.get()) {
                throw new BackendClosedException(uri);
            }
            throw unmapped;
        }
    }

    @Override
    public void close() throws IOException {
        if (closed.compareAndSet(false, true)) {
            arena.close();
            Files.deleteIfExists(file);
        }
    }

    @Override
    public String toString() {
        return "DownloadedBackend[" + Redaction.uri(uri) + ", " + size + " bytes, " + version + "]";
    }
}
