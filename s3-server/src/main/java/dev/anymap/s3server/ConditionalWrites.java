package dev.anymap.s3server;

import java.io.InputStream;
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
 * <p>Not covered: CompleteMultipartUpload. For its filesystem store s3proxy checks the conditions of a
 * complete in its request handler and passes none of them on to the store, so they cannot be checked
 * again here; a complete still holds the key's lock, but its check stays s3proxy's, check then act.
 */
final class ConditionalWrites extends ForwardingBlobStore {
    private static final int STRIPES = 64;

    private final ReentrantLock[] locks = new ReentrantLock[STRIPES];

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
    public CompleteMultipartUploadResponse completeMultipartUpload(MultipartUpload upload, CompleteMultipartUploadRequest request) {
        ReentrantLock lock = lock(upload.containerName(), upload.blobName());
        try {
            check(upload.containerName(), upload.blobName(), request.ifMatch(), request.ifNoneMatch());
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
        ReentrantLock lock = locks[Math.floorMod((bucket + "/" + key).hashCode(), STRIPES)];
        lock.lock();
        return lock;
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
