package dev.anymap.backend.s3;

import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Turns what the SDK throws into the {@link IOException}s anymap promises: {@link NoSuchFileException}
 * for a missing bucket or key, {@link AccessDeniedException} for a 403, {@link ObjectChangedException}
 * for a 412, a plain {@link IOException} for the rest, each naming the URI and the cause.
 *
 * <p>No secret reaches a message: every text from the SDK or the server passes through
 * {@link S3Settings#scrub}, and an SDK exception is kept as the cause only if none of its messages
 * holds a secret.
 */
final class S3Failures {
    private final URI uri;
    private final String uriText;
    private final S3Location location;
    private final S3Settings settings;

    S3Failures(URI uri, S3Location location, S3Settings settings) {
        this.uri = uri;
        this.uriText = Redaction.uri(uri);
        this.location = location;
        this.settings = settings;
    }

    /** The failure of the request at open, made clear; may ask the server once more what went wrong. */
    IOException atOpen(SdkException failure, S3Client client) {
        if (failure instanceof S3Exception s3) {
            return switch (s3.statusCode()) {
                case 404 -> withCause(missing(client), failure);
                case 403 -> withCause(new AccessDeniedException(uriText, null, "access denied by "
                        + settings.describeEndpoint() + " (HTTP 403" + deniedBecause(client)
                        + "); check the credentials, and that they may read the object (S3 also answers 403 for a "
                        + "missing key when they may not list the bucket)"), failure);
                case 301, 307 -> withCause(new IOException(uriText + ": bucket '" + location.bucket()
                        + "' is in another region than the client's; give it with the option 'region'"), failure);
                default -> withCause(new IOException(uriText + ": open failed: " + describe(failure)), failure);
            };
        }
        return unreachable("open", failure);
    }

    /** The failure of a ranged GET before its body: the SDK has already retried what it could. */
    IOException onRead(SdkException failure, ObjectVersion version, long offset, long length) {
        String range = "bytes " + offset + "-" + (offset + length - 1);
        if (failure instanceof S3Exception s3) {
            return switch (s3.statusCode()) {
                case 412 -> withCause(new ObjectChangedException(uri, version,
                        "a ranged GET with If-Match was answered 412 Precondition Failed"), failure);
                case 404 -> withCause(new ObjectChangedException(uri, version, "it is gone (HTTP 404" + code(s3) + ")"), failure);
                case 416 -> withCause(new ObjectChangedException(uri, version,
                        "it is now shorter than " + (offset + length) + " bytes (HTTP 416)"), failure);
                case 403 -> withCause(new AccessDeniedException(uriText, null, "read of " + range + " denied by "
                        + settings.describeEndpoint() + " (HTTP 403" + code(s3) + ")"), failure);
                default -> withCause(new IOException(uriText + ": GET of " + range + " failed: " + describe(failure)), failure);
            };
        }
        return unreachable("GET of " + range, failure);
    }

    /** The failure of one request of a commit on {@code base}: the SDK has already retried what it could. */
    IOException onCommit(SdkException failure, ObjectVersion base, String what) {
        if (failure instanceof S3Exception s3) {
            return switch (s3.statusCode()) {
                case 412 -> withCause(new ObjectChangedException(uri, base, "another writer stored a new version before this "
                        + "commit (the " + what + " conditional on " + base.value() + " was answered 412 Precondition Failed); "
                        + "nothing of this commit was stored"), failure);
                case 404 -> withCause(s3.awsErrorDetails() != null && "NoSuchUpload".equals(s3.awsErrorDetails().errorCode())
                        ? new IOException(uriText + ": " + what + " failed: the multipart upload of this commit is gone (HTTP 404"
                                + code(s3) + "); nothing of this commit was stored")
                        : new ObjectChangedException(uri, base, "it was deleted before this commit (the " + what
                                + " was answered HTTP 404" + code(s3) + "); nothing of this commit was stored"), failure);
                case 403 -> withCause(new AccessDeniedException(uriText, null, what + " denied by " + settings.describeEndpoint()
                        + " (HTTP 403" + code(s3) + "); check that the credentials may write the object (s3:PutObject)"), failure);
                default -> withCause(new IOException(uriText + ": commit failed at the " + what + ": " + describe(failure)), failure);
            };
        }
        return unreachable("commit (" + what + ")", failure);
    }

    /** The failure of one request that creates a new object where none may exist yet. */
    IOException onCreate(SdkException failure, String what) {
        if (failure instanceof S3Exception s3) {
            return switch (s3.statusCode()) {
                case 412 -> withCause(new FileAlreadyExistsException(uriText, null, "an object already exists there (the "
                        + what + " with If-None-Match: * was answered 412 Precondition Failed) and is left as it was; open it "
                        + "for writing instead, or delete it first"), failure);
                case 404 -> withCause(new NoSuchFileException(uriText, null, what + " answered HTTP 404" + code(s3)
                        + ": the bucket '" + location.bucket() + "' does not exist at " + settings.describeEndpoint()), failure);
                case 403 -> withCause(new AccessDeniedException(uriText, null, what + " denied by " + settings.describeEndpoint()
                        + " (HTTP 403" + code(s3) + "); check that the credentials may write the object (s3:PutObject)"), failure);
                default -> withCause(new IOException(uriText + ": create failed at the " + what + ": " + describe(failure)), failure);
            };
        }
        return unreachable("create (" + what + ")", failure);
    }

    private IOException unreachable(String what, SdkException failure) {
        if (failure instanceof AbortedException || Thread.currentThread().isInterrupted()) {
            return withCause(new InterruptedIOException(uriText + ": " + what + " interrupted"), failure);
        }
        if (failure instanceof ApiCallAttemptTimeoutException) {
            return withCause(new IOException(uriText + ": " + what + " got no response from " + settings.describeEndpoint()
                    + " within " + settings.attemptTimeout().toMillis() + " ms, " + settings.maxAttempts()
                    + " times: " + describe(failure)), failure);
        }
        if (noCredentials(failure)) {
            return noCredentials(uriText);
        }
        // Connection refused, unknown host, TLS: the cause says which.
        return withCause(new IOException(uriText + ": " + what + " failed before " + settings.describeEndpoint()
                + " answered: " + describe(failure)), failure);
    }

    /**
     * No credentials anywhere: one line naming the ways to give them, in place of the SDK's account
     * of every provider it tried. Access denied, since that is what it comes to.
     */
    static AccessDeniedException noCredentials(String uriText) {
        return new AccessDeniedException(uriText, null, "no S3 credentials found; give them with AWS_ACCESS_KEY_ID and "
                + "AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE, or the option profile), the options access-key-id and "
                + "secret-access-key, or an instance role; or read a public bucket with the option anonymous=true");
    }

    /** The SDK says so only in words: every provider of its chain failed to load credentials. */
    private static boolean noCredentials(SdkException failure) {
        for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
            if (cause instanceof SdkClientException && cause.getMessage() != null
                    && cause.getMessage().startsWith("Unable to load credentials")) {
                return true;
            }
        }
        return false;
    }

    private IOException missing(S3Client client) {
        Boolean bucketExists;
        try {
            client.headBucket(b -> b.bucket(location.bucket()));
            bucketExists = true;
        } catch (S3Exception e) {
            bucketExists = e.statusCode() == 404 ? Boolean.FALSE : null;
        } catch (SdkException e) {
            bucketExists = null;
        }
        if (Boolean.FALSE.equals(bucketExists)) {
            return new NoSuchFileException(uriText, null, "the bucket '" + location.bucket() + "' does not exist at "
                    + settings.describeEndpoint());
        }
        return new NoSuchFileException(uriText, null, "no object with key '" + location.key() + "' in bucket '"
                + location.bucket() + "'" + (bucketExists == null ? " (or no such bucket)" : "") + " at "
                + settings.describeEndpoint());
    }

    /**
     * Why a HEAD was refused. A HEAD response has no body, so no error code; a one-byte GET of the
     * same object gets one ({@code InvalidAccessKeyId}, {@code SignatureDoesNotMatch}, ...).
     */
    private String deniedBecause(S3Client client) {
        try {
            client.getObject(b -> b.bucket(location.bucket()).key(location.key()).range("bytes=0-0")).abort();
            return "";
        } catch (S3Exception e) {
            AwsErrorDetails details = e.awsErrorDetails();
            if (details == null || details.errorCode() == null) {
                return "";
            }
            String message = details.errorMessage() == null ? "" : ": " + settings.scrub(details.errorMessage());
            return " " + settings.scrub(details.errorCode()) + message;
        } catch (SdkException e) {
            return "";
        }
    }

    private String code(S3Exception failure) {
        AwsErrorDetails details = failure.awsErrorDetails();
        return details == null || details.errorCode() == null ? "" : " " + settings.scrub(details.errorCode());
    }

    /** The messages of {@code failure} and its causes, scrubbed, each said once, joined by ": ". */
    String describe(Throwable failure) {
        return Redaction.describe(failure, settings::scrub);
    }

    /** {@code failure}, fit to be a cause: null if a secret appears anywhere in it. */
    Throwable safeCause(Throwable failure) {
        return failure == null || settings.leaksInto(failure) ? null : failure;
    }

    private <E extends IOException> E withCause(E exception, Throwable cause) {
        Throwable safe = safeCause(cause);
        if (safe != null && exception.getCause() == null) {
            exception.initCause(safe);
        }
        return exception;
    }
}
