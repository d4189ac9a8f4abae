package dev.anymap.backend.s3;

import dev.anymap.spi.ByteRange;
import dev.anymap.spi.Changes;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Writes one new version of a whole S3 object, conditional on the version it replaces: one PutObject
 * for an object of one part, else a multipart upload whose parts without a dirty byte are copied
 * inside S3 (UploadPartCopy, itself conditional on the base ETag) and whose dirty parts are uploaded,
 * so that only dirty parts travel. The condition is {@code If-Match} with the base ETag on the
 * PutObject or the CompleteMultipartUpload, or {@code If-None-Match: *} for an object being created.
 *
 * <p>A multipart upload that fails at any step is aborted before the failure is thrown: no part is
 * left behind (the storage keeps, and bills, the parts of an upload nobody completes or aborts).
 *
 * <p>The bytes of a dirty part are read from the {@link Changes} on the committing thread, one part
 * after another, into native buffers (at most {@link #BUFFERS} parts of memory), and each is uploaded
 * from there by a worker; no part is ever copied to the heap whole. {@link #IN_FLIGHT} requests at
 * most are outstanding at once.
 */
final class S3Commit {
    /** S3's smallest part but the last. */
    static final long MIN_PART = 5L << 20;
    /** The part size, doubled as often as an object needs to fit in {@link #MAX_PARTS}. */
    static final long PART = 8L << 20;
    static final int MAX_PARTS = 10_000;
    static final int IN_FLIGHT = 8;
    static final int BUFFERS = 4;
    /** The user metadata (x-amz-meta-anymap-commit) that holds the token of the commit that made a version. */
    static final String TOKEN_METADATA = "anymap-commit";

    /** What a commit made: the new ETag, and how many parts were uploaded and how many copied inside S3. */
    record Result(String etag, int uploaded, int copied) {}

    private final URI uri;
    private final S3Location location;
    private final S3Client client;
    private final S3Failures failures;
    private final Changes changes;
    /** The base ETag, or null for a create (If-None-Match: *). */
    private final String base;
    private final AtomicInteger uploaded = new AtomicInteger();
    private final AtomicInteger copied = new AtomicInteger();

    private S3Commit(URI uri, S3Location location, S3Client client, S3Failures failures, Changes changes, String base) {
        this.uri = uri;
        this.location = location;
        this.client = client;
        this.failures = failures;
        this.changes = changes;
        this.base = base;
    }

    /** Writes {@code changes} as the object's new version, if it is still at {@code changes.base()} (an ETag). */
    static Result commit(URI uri, S3Location location, S3Client client, S3Failures failures, Changes changes) throws IOException {
        return new S3Commit(uri, location, client, failures, changes, changes.base().value()).run();
    }

    /** Stores {@code size} zero bytes as a new object, if no object exists at the key yet. */
    static Result create(URI uri, S3Location location, S3Client client, S3Failures failures, long size) throws IOException {
        return new S3Commit(uri, location, client, failures, new Zeros(size), null).run();
    }

    /** The part size for an object of {@code size} bytes: {@link #PART}, doubled until {@link #MAX_PARTS} parts hold it. */
    static long partSize(long size) {
        long part = PART;
        while ((size + part - 1) / part > MAX_PARTS) {
            part *= 2;
        }
        return part;
    }

    private Result run() throws IOException {
        long size = changes.size();
        long part = partSize(size);
        return size <= part ? put(size) : multipart(size, part);
    }

    private Result put(long size) throws IOException {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment bytes = arena.allocate(size);
            changes.read(0, bytes);
            try {
                String etag = client.putObject(b -> {
                    b.bucket(location.bucket()).key(location.key()).contentLength(size).metadata(metadata());
                    if (base == null) {
                        b.ifNoneMatch("*");
                    } else {
                        b.ifMatch(base);
                    }
                }, body(bytes)).eTag();
                uploaded.incrementAndGet();
                return result(etag);
            } catch (SdkException e) {
                return landedAnyway(e, "PUT");
            }
        }
    }

    private Result multipart(long size, long part) throws IOException {
        String uploadId;
        try {
            uploadId = client.createMultipartUpload(b -> b.bucket(location.bucket()).key(location.key()).metadata(metadata()))
                    .uploadId();
        } catch (SdkException e) {
            throw failure(e, "CreateMultipartUpload");
        }
        try {
            CompletedPart[] parts = parts(uploadId, size, part);
            try {
                String etag = client.completeMultipartUpload(b -> {
                    b.bucket(location.bucket()).key(location.key()).uploadId(uploadId).multipartUpload(m -> m.parts(parts));
                    if (base == null) {
                        b.ifNoneMatch("*");
                    } else {
                        b.ifMatch(base);
                    }
                }).eTag();
                return result(etag);
            } catch (SdkException e) {
                return landedAnyway(e, "CompleteMultipartUpload");
            }
        } catch (IOException | RuntimeException | Error e) {
            abort(uploadId, e);
            throw e;
        }
    }

    /** Uploads the dirty parts and copies the others; every part is done, or this throws once none is in flight. */
    private CompletedPart[] parts(String uploadId, long size, long part) throws IOException {
        int count = (int) ((size + part - 1) / part);
        CompletedPart[] done = new CompletedPart[count];
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Semaphore slots = new Semaphore(IN_FLIGHT);
        List<ByteRange> dirty = changes.dirty();
        int nextDirty = 0;
        // Declared before the workers, so closed after them: no upload reads a buffer freed under it.
        try (Arena arena = Arena.ofShared()) {
            Buffers buffers = new Buffers(arena, part);
            try (ExecutorService workers = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int index = 0; index < count && failed.get() == null; index++) {
                    long offset = index * part;
                    long length = Math.min(part, size - offset);
                    while (nextDirty < dirty.size() && dirty.get(nextDirty).end() <= offset) {
                        nextDirty++;
                    }
                    boolean isDirty = base == null || (nextDirty < dirty.size() && dirty.get(nextDirty).offset() < offset + length);
                    int number = index + 1;
                    try {
                        slots.acquire();
                        if (isDirty) {
                            MemorySegment buffer = buffers.take();
                            MemorySegment bytes = buffer.asSlice(0, length);
                            try {
                                changes.read(offset, bytes);
                            } catch (IOException | RuntimeException e) {
                                buffers.give(buffer);
                                slots.release();
                                throw e;
                            }
                            workers.submit(() -> {
                                try {
                                    done[number - 1] = upload(uploadId, number, bytes);
                                } catch (Throwable e) {
                                    failed.compareAndSet(null, e);
                                } finally {
                                    buffers.give(buffer);
                                    slots.release();
                                }
                            });
                        } else {
                            workers.submit(() -> {
                                try {
                                    done[number - 1] = copy(uploadId, number, offset, length);
                                } catch (Throwable e) {
                                    failed.compareAndSet(null, e);
                                } finally {
                                    slots.release();
                                }
                            });
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        failed.compareAndSet(null, new InterruptedIOException(Redaction.uri(uri) + ": commit interrupted"));
                    } catch (IOException | RuntimeException e) {
                        failed.compareAndSet(null, e);
                    }
                }
            }
        }
        Throwable failure = failed.get();
        switch (failure) {
            case null -> {
                return done;
            }
            case IOException e -> throw e;
            case RuntimeException e -> throw e;
            case Error e -> throw e;
            default -> throw new IOException(Redaction.uri(uri) + ": commit failed: " + failures.describe(failure),
                    failures.safeCause(failure));
        }
    }

    private CompletedPart upload(String uploadId, int number, MemorySegment bytes) throws IOException {
        try {
            String etag = client.uploadPart(b -> b.bucket(location.bucket()).key(location.key()).uploadId(uploadId)
                    .partNumber(number).contentLength(bytes.byteSize()), body(bytes)).eTag();
            uploaded.incrementAndGet();
            return CompletedPart.builder().partNumber(number).eTag(etag).build();
        } catch (SdkException e) {
            throw failure(e, "upload of part " + number);
        }
    }

    private CompletedPart copy(String uploadId, int number, long offset, long length) throws IOException {
        try {
            String etag = client.uploadPartCopy(b -> b.sourceBucket(location.bucket()).sourceKey(location.key())
                    .destinationBucket(location.bucket()).destinationKey(location.key()).uploadId(uploadId)
                    .partNumber(number).copySourceIfMatch(base)
                    .copySourceRange("bytes=" + offset + "-" + (offset + length - 1))).copyPartResult().eTag();
            copied.incrementAndGet();
            return CompletedPart.builder().partNumber(number).eTag(etag).build();
        } catch (SdkException e) {
            throw failure(e, "copy of part " + number + " (bytes " + offset + "-" + (offset + length - 1) + ")");
        }
    }

    private void abort(String uploadId, Throwable failure) {
        try {
            client.abortMultipartUpload(b -> b.bucket(location.bucket()).key(location.key()).uploadId(uploadId));
        } catch (SdkException e) {
            failure.addSuppressed(new IOException(Redaction.uri(uri) + ": the multipart upload " + uploadId
                    + " could not be aborted either, and its parts stay until an abort or a lifecycle rule removes them: "
                    + failures.describe(e)));
        }
    }

    /**
     * A refused PUT or CompleteMultipartUpload that may be this very commit's, landed by an attempt
     * whose response was lost and refused on the SDK's retry (the object is no longer at the base):
     * it succeeded if the object now carries this commit's token.
     */
    private Result landedAnyway(SdkException refusal, String what) throws IOException {
        if (base != null && refusal instanceof S3Exception s3 && s3.statusCode() == 412) {
            try {
                HeadObjectResponse head = client.headObject(b -> b.bucket(location.bucket()).key(location.key()));
                if (changes.token().equals(head.metadata().get(TOKEN_METADATA)) && head.eTag() != null) {
                    return result(head.eTag());
                }
            } catch (SdkException ignored) {
                // the refusal stands
            }
        }
        throw failure(refusal, what);
    }

    private IOException failure(SdkException e, String what) {
        return base == null ? failures.onCreate(e, what) : failures.onCommit(e, changes.base(), what);
    }

    private Map<String, String> metadata() {
        return base == null ? Map.of() : Map.of(TOKEN_METADATA, changes.token());
    }

    private Result result(String etag) throws IOException {
        if (etag == null || etag.isBlank()) {
            throw new IOException(Redaction.uri(uri) + ": the S3 server stored the new version but sent no ETag for it");
        }
        return new Result(etag, uploaded.get(), copied.get());
    }

    /** A body the SDK may read more than once (a retry asks for a new stream), straight from native memory. */
    private static RequestBody body(MemorySegment bytes) {
        return RequestBody.fromContentProvider(() -> new SegmentInputStream(bytes), bytes.byteSize(), "application/octet-stream");
    }

    /** Native buffers of one part each, made as needed up to {@link #BUFFERS}; the committing thread waits for one to come back. */
    private static final class Buffers {
        private final Arena arena;
        private final long size;
        private final Deque<MemorySegment> free = new ArrayDeque<>();
        private int made;

        Buffers(Arena arena, long size) {
            this.arena = arena;
            this.size = size;
        }

        synchronized MemorySegment take() throws InterruptedException {
            while (free.isEmpty() && made >= BUFFERS) {
                wait();
            }
            if (!free.isEmpty()) {
                return free.pop();
            }
            made++;
            return arena.allocate(size, 4096);
        }

        synchronized void give(MemorySegment buffer) {
            free.push(buffer);
            notifyAll();
        }
    }

    /** The content of a new object: zeros. */
    private record Zeros(long size) implements Changes {
        @Override
        public dev.anymap.spi.ObjectVersion base() {
            throw new UnsupportedOperationException("a new object has no base version");
        }

        @Override
        public List<ByteRange> dirty() {
            return size == 0 ? List.of() : List.of(new ByteRange(0, size));
        }

        @Override
        public void read(long offset, MemorySegment target) {
            target.fill((byte) 0);
        }

        @Override
        public String token() {
            return "";
        }
    }
}
