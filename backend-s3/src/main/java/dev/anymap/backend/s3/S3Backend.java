package dev.anymap.backend.s3;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.ByteSink;
import dev.anymap.spi.Capability;
import dev.anymap.spi.Changes;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.Abortable;
import software.amazon.awssdk.http.SdkHttpResponse;
import software.amazon.awssdk.retries.api.BackoffStrategy;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * One S3 object, read with ranged GETs that all carry {@code If-Match} with the ETag seen at open.
 *
 * <p>A read goes to a presigned URL of the object first ({@link PresignedRanges}), a quarter of the
 * SDK's CPU per request; whatever that does not answer with the range goes through the SDK, which
 * retries a request until its response headers arrive (throttling, 5xx, connection failures) and
 * explains what still fails. The body is this class's business: a body that breaks off, stalls
 * past the read timeout, or ends early is resumed from the first byte not yet read, with the same
 * backoff and the same attempt budget, so a read either fills the whole target with bytes of the
 * one version it opened or throws.
 *
 * <p>Open is one ranged GET of the object's first bytes rather than a HEAD: its {@code Content-Range}
 * gives the size and its ETag the version, as a HEAD's would, and the bytes come in the same round
 * trip, so that the first touch of a mapped object at its start costs no second one.
 */
final class S3Backend implements StorageBackend {
    /** How much of the object's start the GET at open brings: a chunk of the engine's default size. */
    static final int OPENING_BYTES = 256 * 1024;
    /** Bytes go from the socket to a sink through this much heap at a time. */
    private static final int STAGING = 64 * 1024;
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");
    private static final BackoffStrategy BODY_BACKOFF =
            BackoffStrategy.exponentialDelay(Duration.ofMillis(50), Duration.ofSeconds(5));

    private final URI uri;
    private final S3Location location;
    private final S3Clients.Lease lease;
    private final long size;
    private final boolean writable;
    private final S3Failures failures;
    private final PresignedRanges presignedRanges;
    // A commit moves these three to the new version, with the reads that follow it.
    private volatile String etag;
    private volatile ObjectVersion version;
    private volatile byte[] opening;
    private volatile Optional<String> lastCommit;
    private volatile S3Commit.Result lastResult;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Requests waiting for their response, and bodies being read: aborted when the backend closes. */
    private final Set<Abortable> inFlight = ConcurrentHashMap.newKeySet();

    private S3Backend(URI uri, S3Location location, S3Clients.Lease lease, Opening opening, S3Failures failures, boolean writable) {
        this.uri = uri;
        this.location = location;
        this.lease = lease;
        this.size = opening.size();
        this.writable = writable;
        this.etag = opening.etag();
        this.version = ObjectVersion.etag(etag);
        this.failures = failures;
        this.presignedRanges = new PresignedRanges(lease.presigner(), lease.http(), location);
        this.opening = opening.bytes();
        this.lastCommit = Optional.ofNullable(opening.commit());
    }

    /**
     * What open learnt: the size, the ETag, the object's first bytes (fewer, or none, if its body broke
     * off) and the token of the commit that made this version, if one did.
     */
    private record Opening(long size, String etag, byte[] bytes, String commit) {}

    /**
     * Opens the object with a GET of its first bytes; the lease is the backend's from here, closed
     * with it or, if the open fails, before this throws.
     */
    static S3Backend open(URI uri, S3Location location, S3Clients.Lease lease, boolean writable) throws IOException {
        S3Failures failures = new S3Failures(uri, location, lease.settings());
        try {
            Opening opening;
            try {
                opening = openWithGet(uri, location, lease);
            } catch (S3Exception e) {
                if (e.statusCode() != 416) {
                    throw failures.atOpen(e, lease.client());
                }
                // An empty object has no first byte to ask for.
                opening = openWithHead(uri, location, lease, failures);
            } catch (SdkException e) {
                throw failures.atOpen(e, lease.client());
            }
            return new S3Backend(uri, location, lease, opening, failures, writable);
        } catch (IOException | RuntimeException | Error e) {
            lease.close();
            throw e;
        }
    }

    /** The object as {@code size} bytes at {@code etag}, taken on trust: the If-Match of every read checks it. */
    static S3Backend at(URI uri, S3Location location, S3Clients.Lease lease, long size, String etag, boolean writable) {
        return new S3Backend(uri, location, lease, new Opening(size, etag, new byte[0], null),
                new S3Failures(uri, location, lease.settings()), writable);
    }

    /**
     * Creates an object of {@code size} zero bytes where none exists ({@code If-None-Match: *}) and
     * opens it for writing at the ETag the storage gave it; the lease is the backend's from here.
     */
    static S3Backend create(URI uri, S3Location location, S3Clients.Lease lease, long size) throws IOException {
        try {
            S3Failures failures = new S3Failures(uri, location, lease.settings());
            S3Commit.Result created = S3Commit.create(uri, location, lease.client(), failures, size);
            return new S3Backend(uri, location, lease, new Opening(size, created.etag(), new byte[0], null), failures, true);
        } catch (IOException | RuntimeException | Error e) {
            lease.close();
            throw e;
        }
    }

    private static Opening openWithGet(URI uri, S3Location location, S3Clients.Lease lease) throws IOException {
        GetObjectRequest request = GetObjectRequest.builder()
                .bucket(location.bucket())
                .key(location.key())
                .range("bytes=0-" + (OPENING_BYTES - 1))
                .build();
        try (ResponseInputStream<GetObjectResponse> body = lease.client().getObject(request)) {
            GetObjectResponse response = body.response();
            long size = sizeOf(uri, response);
            String etag = validator(uri, response.eTag());
            byte[] bytes;
            try {
                bytes = body.readNBytes((int) Math.min(size, OPENING_BYTES));
            } catch (IOException brokenOff) {
                bytes = new byte[0]; // every byte is read again on demand
            }
            if (bytes.length < Math.min(size, OPENING_BYTES)) {
                bytes = new byte[0];
            }
            if (size > OPENING_BYTES && response.contentRange() == null) {
                body.abort(); // a server that ignored the range: drop the connection rather than drain the object
            }
            return new Opening(size, etag, bytes, response.metadata().get(S3Commit.TOKEN_METADATA));
        }
    }

    private static Opening openWithHead(URI uri, S3Location location, S3Clients.Lease lease, S3Failures failures) throws IOException {
        HeadObjectResponse head;
        try {
            head = lease.client().headObject(b -> b.bucket(location.bucket()).key(location.key()));
        } catch (SdkException e) {
            throw failures.atOpen(e, lease.client());
        }
        if (head.contentLength() == null || head.contentLength() < 0) {
            throw new IOException(Redaction.uri(uri) + ": the S3 server sent no object size (Content-Length) for it");
        }
        return new Opening(head.contentLength(), validator(uri, head.eTag()), new byte[0], head.metadata().get(S3Commit.TOKEN_METADATA));
    }

    /** The object's size, from the total of a Content-Range, or the length of a response that ignored the range. */
    private static long sizeOf(URI uri, GetObjectResponse response) throws IOException {
        String contentRange = response.contentRange();
        if (contentRange != null) {
            Matcher matcher = CONTENT_RANGE.matcher(contentRange.strip());
            if (matcher.matches() && !matcher.group(3).equals("*") && Long.parseLong(matcher.group(1)) == 0) {
                return Long.parseLong(matcher.group(3));
            }
            throw new IOException(Redaction.uri(uri) + ": the S3 server sent Content-Range '" + contentRange
                    + "' for a request of its first bytes, with no object size in it");
        }
        if (response.contentLength() == null || response.contentLength() < 0) {
            throw new IOException(Redaction.uri(uri) + ": the S3 server sent no object size (Content-Range or Content-Length) for it");
        }
        return response.contentLength();
    }

    private static String validator(URI uri, String etag) throws IOException {
        if (etag == null || etag.isBlank()) {
            // Without a validator there is no If-Match, and a replaced object could be read as a mix of
            // two versions: refuse rather than risk it.
            throw new IOException(Redaction.uri(uri) + ": the S3 server sent no ETag for it, so reads could not be "
                    + "pinned to one version of the object");
        }
        return etag;
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
     * Stores {@code changes} as a new version of the whole object, conditional on {@code changes.base()}
     * (see {@link S3Commit}); reads then read the new version, with If-Match on its ETag.
     */
    @Override
    public synchronized ObjectVersion commit(Changes changes) throws IOException {
        if (!writable) {
            return StorageBackend.super.commit(changes);
        }
        ensureOpen();
        if (changes.size() != size) {
            throw new IllegalArgumentException(Redaction.uri(uri) + ": changes of an object of " + changes.size()
                    + " bytes, but it has " + size + " (a commit never changes the size)");
        }
        if (changes.base().kind() != ObjectVersion.Kind.ETAG) {
            throw new IllegalArgumentException(Redaction.uri(uri) + ": changes made on " + changes.base()
                    + ", but an S3 object's versions are ETags");
        }
        S3Commit.Result result = S3Commit.commit(uri, location, lease.client(), failures, changes);
        lastResult = result;
        if (changes.dirty().isEmpty()) {
            return version; // nothing written: still the version opened, with its token
        }
        opening = new byte[0];
        etag = result.etag();
        version = ObjectVersion.etag(result.etag());
        lastCommit = Optional.of(changes.token());
        return version;
    }

    @Override
    public Optional<String> lastCommit() {
        return lastCommit;
    }

    /** What the last commit through this backend sent: for tests that check that only dirty parts travel. */
    S3Commit.Result lastResult() {
        return lastResult;
    }

    @Override
    public void read(long offset, MemorySegment target) throws IOException {
        stream(offset, target.byteSize(), ByteSink.into(target));
    }

    /** One ranged GET for the whole range, passed on as it arrives; bytes that came with the open are not asked for again. */
    @Override
    public void stream(long offset, long length, ByteSink sink) throws IOException {
        OutOfRangeException.check(uri, offset, length, size);
        ensureOpen();
        Progress progress = new Progress();
        byte[] opening = this.opening;
        if (offset < opening.length && length > 0) {
            progress.done = Math.min(length, opening.length - offset);
            sink.accept(MemorySegment.ofArray(opening).asSlice(offset, progress.done).asReadOnly());
        }
        // Each attempt is one GET for what is still missing; the SDK's own retries happen inside one through it.
        for (int attempt = 1; progress.done < length; attempt++) {
            try {
                fetch(offset, length, sink, progress);
            } catch (AttemptFailure failure) {
                ensureOpen();
                if (attempt >= lease.settings().maxAttempts()) {
                    throw new IOException("read of " + length + " bytes at offset " + offset + " of " + Redaction.uri(uri)
                            + " failed after " + attempt + " attempts, " + progress.done + " bytes in: "
                            + failures.describe(failure), failures.safeCause(failure));
                }
                backOff(attempt);
            }
        }
    }

    /**
     * One ranged GET for what of the read is still missing, copied into {@code target} as it arrives:
     * to a presigned URL where the store takes one, else through the SDK. A failure of the body, and a
     * presigned request throttled or failed by the server, is an {@link AttemptFailure}, to be tried
     * again; every other failure is final.
     */
    private void fetch(long offset, long length, ByteSink sink, Progress progress) throws IOException {
        String etag = this.etag;
        ObjectVersion version = this.version;
        long first = offset + progress.done;
        long last = offset + length - 1;
        PresignedRanges.Response presigned = presignedRanges.get(first, last, etag, inFlight);
        Ranged response;
        if (presigned != null && presigned.partialContent()) {
            // A 206 names its range; its length matters only to a 200 of the whole object, which is the SDK's to take.
            SdkHttpResponse headers = presigned.headers();
            response = new Ranged(headers.firstMatchingHeader("ETag").orElse(null), headers.firstMatchingHeader("Content-Range").orElse(null),
                    null, presigned.body(), presigned.body());
        } else if (presigned != null && presigned.retryable()) {
            // An attempt, as the SDK would count it: retried here, in the read's budget of attempts.
            throw new AttemptFailure("HTTP " + presigned.status() + " from " + lease.settings().describeEndpoint(), null);
        } else {
            ensureOpen();
            response = throughSdk(first, last, etag, version);
        }
        inFlight.add(response.abort());
        boolean complete = false;
        try {
            ensureOpen();
            boolean wholeObject = check(response, first, last, etag, version);
            long expected = last - first + 1;
            long copied;
            try {
                copied = copy(response.body(), sink, progress, expected);
            } catch (IOException e) {
                ensureOpen();
                throw new AttemptFailure(e.getMessage(), e);
            }
            if (copied < expected) {
                throw new AttemptFailure("the response body ended after " + copied + " of " + expected + " bytes", null);
            }
            // A server that ignored the range sends the object from its start: the rest of it is not read.
            complete = !wholeObject || last == size - 1;
        } finally {
            inFlight.remove(response.abort());
            if (complete) {
                closeQuietly(response.body());
            } else {
                // Drops the connection instead of draining a body nobody will read.
                response.abort().abort();
            }
        }
    }

    /** A response to a ranged GET, through the SDK or not: the headers that {@link #check} reads, and the body. */
    private record Ranged(String etag, String contentRange, Long contentLength, InputStream body, Abortable abort) {}

    private Ranged throughSdk(long first, long last, String etag, ObjectVersion version) throws IOException {
        GetObjectRequest request = GetObjectRequest.builder()
                .bucket(location.bucket())
                .key(location.key())
                .range("bytes=" + first + "-" + last)
                .ifMatch(etag)
                .build();
        ResponseInputStream<GetObjectResponse> body;
        try {
            body = lease.client().getObject(request);
        } catch (SdkException e) {
            ensureOpen();
            throw failures.onRead(e, version, first, last - first + 1);
        }
        GetObjectResponse response = body.response();
        return new Ranged(response.eTag(), response.contentRange(), response.contentLength(), body, body);
    }

    /**
     * Checks that a response is the range asked for, of the version opened; returns whether it is the
     * whole object instead, from a server that ignored the Range header.
     */
    private boolean check(Ranged response, long first, long last, String etag, ObjectVersion version) throws IOException {
        if (response.etag() != null && !sameEtag(response.etag(), etag)) {
            // If-Match should have made this a 412; a store that ignores it is caught here.
            throw new ObjectChangedException(uri, version, "a read got ETag " + response.etag());
        }
        String contentRange = response.contentRange();
        if (contentRange == null) {
            if (first == 0 && response.contentLength() != null && response.contentLength() == size) {
                return true;
            }
            throw new IOException(Redaction.uri(uri) + ": the S3 server answered a ranged GET for bytes " + first + "-"
                    + last + " without a Content-Range");
        }
        Matcher matcher = CONTENT_RANGE.matcher(contentRange.strip());
        if (!matcher.matches() || Long.parseLong(matcher.group(1)) != first || Long.parseLong(matcher.group(2)) != last) {
            throw new IOException(Redaction.uri(uri) + ": the S3 server sent Content-Range '" + contentRange
                    + "' for a request of bytes " + first + "-" + last);
        }
        if (!matcher.group(3).equals("*") && Long.parseLong(matcher.group(3)) != size) {
            throw new ObjectChangedException(uri, version, "its size is now " + matcher.group(3) + " bytes, not " + size);
        }
        return false;
    }

    private static boolean sameEtag(String a, String b) {
        return unquoted(a).equals(unquoted(b));
    }

    private static String unquoted(String etag) {
        String value = etag.strip();
        if (value.startsWith("W/")) {
            value = value.substring(2);
        }
        return value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"") ? value.substring(1, value.length() - 1) : value;
    }

    /**
     * Passes up to {@code expected} bytes of {@code body} to the sink, counting them in {@code progress};
     * returns how many it passed before the body ended.
     */
    private static long copy(InputStream body, ByteSink sink, Progress progress, long expected) throws IOException {
        byte[] staging = new byte[(int) Math.min(STAGING, expected)];
        MemorySegment bytes = MemorySegment.ofArray(staging);
        long copied = 0;
        while (copied < expected) {
            int n = body.read(staging, 0, (int) Math.min(staging.length, expected - copied));
            if (n < 0) {
                break;
            }
            sink.accept(bytes.asSlice(0, n));
            progress.done += n;
            copied += n;
        }
        return copied;
    }

    private void backOff(int attempt) throws IOException {
        try {
            Thread.sleep(BODY_BACKOFF.computeDelay(attempt));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to retry a read of " + Redaction.uri(uri));
        }
        ensureOpen();
    }

    private void ensureOpen() throws BackendClosedException {
        if (closed.get()) {
            throw new BackendClosedException(uri);
        }
    }

    private static void closeQuietly(InputStream body) {
        try {
            body.close();
        } catch (IOException | RuntimeException ignored) {
            // the bytes are in; only the connection's reuse is lost
        }
    }

    /** Aborts the reads in flight, which then fail with a {@link BackendClosedException}, and gives up the client. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            for (Abortable request : inFlight) {
                request.abort();
            }
            lease.close();
        }
    }

    @Override
    public String toString() {
        return "S3Backend[" + Redaction.uri(uri) + ", " + size + " bytes, " + version + "]";
    }

    /** How much of one read is in the target. */
    private static final class Progress {
        long done;
    }

    /**
     * An attempt worth making again: a response body that broke off, stalled or ended early, resumed
     * where it stopped; or a request throttled or failed by the server.
     */
    private static final class AttemptFailure extends IOException {
        private static final long serialVersionUID = 1L;

        AttemptFailure(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
