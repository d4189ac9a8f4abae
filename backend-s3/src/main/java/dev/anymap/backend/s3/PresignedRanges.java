package dev.anymap.backend.s3;

import java.io.IOException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.Abortable;
import software.amazon.awssdk.http.AbortableInputStream;
import software.amazon.awssdk.http.ExecutableHttpRequest;
import software.amazon.awssdk.http.HttpExecuteRequest;
import software.amazon.awssdk.http.HttpExecuteResponse;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.SdkHttpResponse;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

/**
 * Ranged GETs of one object sent as plain HTTP requests to a presigned URL of it, on the S3 client's
 * own connection pool. A ranged GET through the SDK's request pipeline (endpoint rules, auth scheme
 * resolution, signing, interceptors, unmarshalling) costs about 250 us of CPU; the same GET to a
 * presigned URL about 60 us, and it answers in half the time (measured on s3proxy on loopback, 32 KiB
 * ranges, one thread). A sandbox resume or a Lucene search makes thousands of small GETs, where that
 * CPU is most of the page server's.
 *
 * <p>A presigned URL signs the host alone, so that one URL serves every range, each request with its
 * own {@code Range} and {@code If-Match}. It is signed again every {@link #RESIGN_AFTER}, well within
 * its validity, so that credentials that rotate are picked up.
 *
 * <p>Only a {@code 206 Partial Content} is taken. Anything else, and any failure before a response,
 * is left to the SDK, which asks again and has the retries, the redirects and the error details that
 * {@link S3Failures} makes its messages from: a 412 is reported as the SDK reports it, never from
 * here. A URL that the store refuses outright (a redirect to the bucket's region, a 400, 403s over and
 * over) turns this off for the object, and every read goes through the SDK as before.
 */
final class PresignedRanges {
    private static final Duration VALIDITY = Duration.ofMinutes(15);
    private static final long RESIGN_AFTER_NANOS = Duration.ofMinutes(5).toNanos();
    /** 403s in a row, each on a URL signed anew, after which the store is taken to refuse presigned reads. */
    private static final int REFUSALS = 3;

    private final S3Presigner presigner;
    private final SdkHttpClient http;
    private final S3Location location;
    private volatile Signed signed;
    private volatile boolean off;
    private final AtomicInteger refusals = new AtomicInteger();

    private record Signed(SdkHttpRequest request, long signedAt) {}

    /**
     * The answer to a ranged GET: with a 206, the headers and the body, to be read, then closed or
     * aborted; with anything else, the status alone, the body dropped.
     */
    record Response(int status, SdkHttpResponse headers, AbortableInputStream body) {
        boolean partialContent() {
            return body != null;
        }

        /** Throttled or a server error: a request the SDK would have retried, and counted as an attempt. */
        boolean retryable() {
            return status == 429 || status >= 500;
        }
    }

    /** @param presigner null where reads cannot be presigned (anonymous reads): every read goes through the SDK */
    PresignedRanges(S3Presigner presigner, SdkHttpClient http, S3Location location) {
        this.presigner = presigner;
        this.http = http;
        this.location = location;
        this.off = presigner == null;
    }

    /**
     * GETs bytes {@code first} to {@code last} if the object's ETag is still {@code etag}; null where
     * no request was answered (none was made, or it failed before a response): the SDK is to make it.
     * While the request waits for its response it is in {@code inFlight}, so that closing the backend
     * aborts it; the caller takes the body from there.
     */
    Response get(long first, long last, String etag, Set<Abortable> inFlight) {
        if (off) {
            return null;
        }
        SdkHttpRequest url = url();
        if (url == null) {
            return null;
        }
        ExecutableHttpRequest call = http.prepareRequest(HttpExecuteRequest.builder()
                .request(url.toBuilder()
                        .putHeader("Range", "bytes=" + first + "-" + last)
                        .putHeader("If-Match", etag)
                        .build())
                .build());
        HttpExecuteResponse response;
        inFlight.add(call);
        try {
            response = call.call();
        } catch (IOException | RuntimeException e) {
            return null; // refused, reset, timed out: the SDK retries, and says what went wrong if it still does
        } finally {
            inFlight.remove(call);
        }
        int status = response.httpResponse().statusCode();
        if (status == 206 && response.responseBody().isPresent()) {
            refusals.set(0);
            return new Response(status, response.httpResponse(), response.responseBody().get());
        }
        response.responseBody().ifPresent(AbortableInputStream::abort);
        refused(status);
        return new Response(status, response.httpResponse(), null);
    }

    private void refused(int status) {
        switch (status) {
            // The object's own state, and the store's load: the SDK's request meets them too and reports them.
            case 404, 412, 416, 429, 500, 502, 503, 504 -> { }
            case 403 -> {
                signed = null; // expired with the credentials it was signed with, perhaps: signed anew next time
                if (refusals.incrementAndGet() >= REFUSALS) {
                    off = true;
                }
            }
            // A bucket in another region, a store that takes no presigned URLs or ignores ranges.
            default -> off = true;
        }
    }

    private SdkHttpRequest url() {
        Signed current = signed;
        long now = System.nanoTime();
        if (current != null && now - current.signedAt() < RESIGN_AFTER_NANOS) {
            return current.request();
        }
        try {
            SdkHttpRequest request = presigner.presignGetObject(b -> b
                    .signatureDuration(VALIDITY)
                    .getObjectRequest(get -> get.bucket(location.bucket()).key(location.key()))).httpRequest();
            signed = new Signed(request, now);
            return request;
        } catch (SdkException e) {
            off = true; // no credentials to sign with here, or a bucket the presigner cannot address
            return null;
        }
    }
}
