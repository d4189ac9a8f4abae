package dev.anymap.s3server;

import java.io.InputStream;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import org.gaul.s3proxy.blobstore.BlobStore;
import org.gaul.s3proxy.blobstore.ForwardingBlobStore;
import org.gaul.s3proxy.blobstore.S3Exceptions;
import org.gaul.s3proxy.blobstore.domain.MultipartUpload;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadResponse;
import software.amazon.awssdk.services.s3.model.CopyObjectRequest;
import software.amazon.awssdk.services.s3.model.CopyObjectResponse;
import software.amazon.awssdk.services.s3.model.DeleteObjectRequest;
import software.amazon.awssdk.services.s3.model.DeleteObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.Part;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.PutObjectResponse;

/**
 * Makes s3proxy's conditional writes atomic, as S3's are. s3proxy 4.1 answers {@code If-Match} and
 * {@code If-None-Match} on PutObject and CompleteMultipartUpload, but its filesystem store checks
 * {@code If-Match} in the request handler, before it stores the body: two writers that both read
 * version A and both PUT with {@code If-Match: A} can both pass the check, and the second silently
 * replaces the first's version (check, then act). Here every write of a key holds that key's lock
 * from the check of its condition to the end of the store's write, so that of such writers exactly
 * one wins and the others get 412, and unconditional writes cannot slip in between.
 *
 * <p>Every write reaches s3proxy's store through this one object in one process, so a lock here is
 * enough. The store's own checks still run after this one and agree with it.
 *
 * <p>CompleteMultipartUpload is harder: for its filesystem store s3proxy checks the conditions of a
 * complete in its request handler, against the metadata it asks the store for, and passes none of
 * them on. Its handler first lists the upload's parts, then (for a conditional complete only) asks
 * for the key's metadata on the same thread, and completes later, on another thread. So this notes,
 * per upload, what the store answered about the key right after that listing, and under the key's
 * lock refuses the complete with 412 if the key is no longer as the handler saw it when it checked:
 * the handler's check passed on what it saw, so the condition holds exactly when that is still so.
 * This leans on s3proxy 4.1's order of calls; {@code ConditionalWritesTest} fails if that changes.
 */
final class ConditionalWrites extends ForwardingBlobStore {
    private static final int STRIPES = 64;

    private final ReentrantLock[] locks = new ReentrantLock[STRIPES];
    /** The upload whose parts this thread listed last, until the key's metadata is asked for. */
    private final ThreadLocal<MultipartUpload> listed = new ThreadLocal<>();
    /** Per upload id, what the handler saw of its key when it checked the complete's conditions: an ETag or {@link #ABSENT}. */
    private final Map<String, String> seenAtCheck = new ConcurrentHashMap<>();
    private static final String ABSENT = "";

    ConditionalWrites(BlobStore store) {
        super(store);
        for (int i = 0; i < STRIPES; i++) {
            locks[i] = new ReentrantLock();
        }
    }

    @Override
    public PutObjectResponse putBlob(PutObjectRequest request, InputStream payload) {
        ReentrantLock lock = lock(request.bucket(), request.key());
        try {
            check(request.bucket(), request.key(), request.ifMatch(), request.ifNoneMatch());
            return super.putBlob(request, payload);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<Part> listMultipartUpload(MultipartUpload upload) {
        // A complete begins (or a listing of parts).
        listed.set(upload);
        seenAtCheck.remove(upload.id());
        return super.listMultipartUpload(upload);
    }

    @Override
    public HeadObjectResponse blobMetadataIfPresent(String bucket, String key) {
        HeadObjectResponse metadata = super.blobMetadataIfPresent(bucket, key);
        MultipartUpload upload = listed.get();
        if (upload != null && upload.containerName().equals(bucket) && upload.blobName().equals(key)) {
            listed.remove();
            seenAtCheck.put(upload.id(), metadata == null || metadata.eTag() == null ? ABSENT : unquoted(metadata.eTag()));
        }
        return metadata;
    }

    @Override
    public CompleteMultipartUploadResponse completeMultipartUpload(MultipartUpload upload, CompleteMultipartUploadRequest request) {
        String bucket = upload.containerName();
        String key = upload.blobName();
        String handlerSaw = seenAtCheck.remove(upload.id());
        ReentrantLock lock = lock(bucket, key);
        try {
            check(bucket, key, request.ifMatch(), request.ifNoneMatch());
            if (handlerSaw != null) {
                HeadObjectResponse current = delegate().blobMetadataIfPresent(bucket, key);
                String now = current == null || current.eTag() == null ? ABSENT : unquoted(current.eTag());
                if (!now.equals(handlerSaw)) {
                    throw S3Exceptions.preconditionFailed(null);
                }
            }
            return super.completeMultipartUpload(upload, request);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public CopyObjectResponse copyBlob(CopyObjectRequest request) {
        ReentrantLock lock = lock(request.destinationBucket(), request.destinationKey());
        try {
            return super.copyBlob(request);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public DeleteObjectResponse removeBlob(DeleteObjectRequest request) {
        ReentrantLock lock = lock(request.bucket(), request.key());
        try {
            return super.removeBlob(request);
        } finally {
            lock.unlock();
        }
    }

    private ReentrantLock lock(String bucket, String key) {
        ReentrantLock lock = locks[Math.floorMod(name(bucket, key).hashCode(), STRIPES)];
        lock.lock();
        return lock;
    }

    private static String name(String bucket, String key) {
        return bucket + "/" + key;
    }

    /** S3's rules: If-Match on a missing key is 404, on another ETag 412; If-None-Match on a key present (or that ETag) 412. */
    private void check(String bucket, String key, String ifMatch, String ifNoneMatch) {
        if (ifMatch == null && ifNoneMatch == null) {
            return;
        }
        HeadObjectResponse current = delegate().blobMetadataIfPresent(bucket, key);
        if (ifMatch != null) {
            if (current == null) {
                throw S3Exceptions.noSuchKey(bucket, key, null);
            }
            if (!ifMatch.strip().equals("*") && !unquoted(ifMatch).equals(unquoted(current.eTag()))) {
                throw S3Exceptions.preconditionFailed(null);
            }
        }
        if (ifNoneMatch != null && current != null
                && (ifNoneMatch.strip().equals("*") || unquoted(ifNoneMatch).equals(unquoted(current.eTag())))) {
            throw S3Exceptions.preconditionFailed(null);
        }
    }

    private static String unquoted(String etag) {
        if (etag == null) {
            return "";
        }
        String value = etag.strip();
        return value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"") ? value.substring(1, value.length() - 1) : value;
    }
}
