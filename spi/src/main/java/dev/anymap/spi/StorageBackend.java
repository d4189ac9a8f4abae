package dev.anymap.spi;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * One stored object, opened by a {@link BackendProvider}: a fixed size, a version, and positional
 * reads.
 *
 * <p>Implementations are safe for concurrent reads from many threads; the page server reads
 * different chunks of one object from several fetch workers at once. A read either fills the whole
 * target with the object's bytes or throws: it never returns short, and never fills a target with
 * anything but the object's bytes. Once {@link #close()} has been called, reads in flight may finish
 * or fail with an {@link IOException}, and later reads fail with a {@link BackendClosedException}.
 */
public interface StorageBackend extends AutoCloseable {
    /** The pieces in which the default {@link #stream} reads. */
    int STREAM_PIECE = 1 << 20;

    /** The URI this object was opened from, for error messages; it carries no secrets. */
    URI uri();

    /** The object's size in bytes, as seen when it was opened. */
    long size();

    /**
     * The version of the object that this backend reads, as seen when it was opened. Two backends
     * with equal versions read the same bytes; caches key on it.
     */
    ObjectVersion version();

    /** What this backend can do beyond reading; empty for a read-only backend. */
    default Set<Capability> capabilities() {
        return Set.of();
    }

    /**
     * Reads {@code target.byteSize()} bytes at {@code offset} into {@code target}.
     *
     * <p>The target is often native memory (the page server's staging buffer): read straight into
     * it rather than through a heap array where the underlying API allows.
     *
     * @throws OutOfRangeException if the range reaches past {@link #size()}
     * @throws ObjectChangedException if the object changed since it was opened
     * @throws BackendClosedException if the backend was closed
     * @throws IOException if the storage fails, after whatever retries the backend makes
     * @throws IllegalArgumentException if {@code offset} is negative
     */
    void read(long offset, MemorySegment target) throws IOException;

    /**
     * Reads {@code target.remaining()} bytes at {@code offset} into {@code target}, and advances its
     * position past them. Same contract as {@link #read(long, MemorySegment)}.
     */
    default void read(long offset, ByteBuffer target) throws IOException {
        int length = target.remaining();
        read(offset, MemorySegment.ofBuffer(target));
        target.position(target.position() + length);
    }

    /**
     * Passes {@code length} bytes at {@code offset} to {@code sink}, in order, each byte once, as they
     * arrive. The page server streams its prefetch reads through here: it uses the first chunks of a
     * read of many MiB before the last arrive, and holds no more of it than a chunk.
     *
     * <p>Same failures as {@link #read(long, MemorySegment)}, and no retries beyond its own: a read
     * that fails part-way throws after the sink has taken some of the bytes, and those are the
     * object's bytes, of the version opened. The default reads pieces of {@value #STREAM_PIECE} bytes
     * with {@link #read(long, MemorySegment)}; a backend that fetches over a network overrides it
     * with one request for the whole range.
     */
    default void stream(long offset, long length, ByteSink sink) throws IOException {
        OutOfRangeException.check(uri(), offset, length, size());
        if (length == 0) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment piece = arena.allocate(Math.min(length, STREAM_PIECE));
            for (long done = 0; done < length; ) {
                MemorySegment bytes = piece.asSlice(0, Math.min(piece.byteSize(), length - done));
                read(offset + done, bytes);
                sink.accept(bytes);
                done += bytes.byteSize();
            }
        }
    }

    /**
     * The object's bytes as memory that this process already holds (an in-memory object, a file the
     * backend has mapped), for the page server to fill pages straight from, with no copy through a
     * staging buffer. Empty, the default, for backends that must fetch. The segment is read-only,
     * exactly {@link #size()} bytes long, and valid until {@link #close()}.
     */
    default Optional<MemorySegment> view() {
        return Optional.empty();
    }

    /**
     * A local regular file that holds exactly this object's bytes, for the kernel to map in place of
     * reads: the page server then hands the region that file, opened read-only, and serves none of its
     * faults. Empty, the default, for backends that have no such file.
     *
     * <p>The file is exactly {@link #size()} bytes long and its bytes are those that {@link #read}
     * returns, from the moment this is called until {@link #close()}; a caller that needs them
     * for longer opens the file before then (an open descriptor keeps the bytes of a file that
     * {@code close()} deletes). Offer a file only where that holds:
     * <ul>
     *   <li>a copy the backend made and alone writes (a spooled archive entry, a whole download)
     *       never changes while the backend is open, and may be deleted by close;</li>
     *   <li>a file that <em>is</em> the object ({@code file:}) changes when the object changes: a
     *       kernel mapping of it then shows the change, as {@link java.nio.channels.FileChannel#map}
     *       does, rather than failing as reads do with {@link ObjectChangedException}, and a file
     *       truncated under a mapping fails the access past its end with SIGBUS. Only a backend
     *       whose object is a local file may offer one so.</li>
     * </ul>
     */
    default Optional<Path> localFile() {
        return Optional.empty();
    }

    /**
     * Writes {@code changes} to storage as one new version of the object, as atomically as the
     * storage allows, and returns that version; available when {@link #capabilities()} contains
     * {@link Capability#WRITE}, that is, on a backend {@linkplain BackendProvider#openForWriting opened
     * for writing}. From then on {@link #version()} is the new version and reads read it.
     *
     * <p>The commit applies only to the version {@code changes} were made on, {@link Changes#base()}:
     * if the object is at another (a writer changed it meanwhile), it fails with
     * {@link ObjectChangedException} and changes nothing, where the storage can check (S3's
     * conditional writes, a row version); where it cannot, the backend says so in its documentation.
     * It returns once the storage holds the new version durably. A commit that fails leaves the object
     * at its old version where the storage allows it, and leaves nothing behind (an S3 multipart
     * upload is aborted); a backend that writes in place (a file) documents what a failure in the
     * middle leaves. Commits of one backend are not concurrent: the caller makes one at a time.
     *
     * @throws ObjectChangedException if the object is no longer at {@code changes.base()}
     * @throws java.nio.file.AccessDeniedException if the storage refuses the write
     * @throws IOException if the storage fails otherwise (full, unreachable), after the backend's retries
     * @throws UnsupportedOperationException if the backend was not opened for writing
     */
    default ObjectVersion commit(Changes changes) throws IOException {
        throw new UnsupportedOperationException(Redaction.uri(uri()) + " was not opened for writing: its backend has no WRITE capability");
    }

    /**
     * The {@linkplain Changes#token() token} of the commit that made the version this backend opened,
     * where the storage keeps one with the object; empty, the default, where it keeps none or the
     * version was made otherwise.
     */
    default Optional<String> lastCommit() {
        return Optional.empty();
    }

    /** Releases what the backend holds. Idempotent. */
    @Override
    void close() throws IOException;
}
