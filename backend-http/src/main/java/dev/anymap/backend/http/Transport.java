package dev.anymap.backend.http;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.security.cert.CertificateException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * One backend's requests: the shared client it leases, the user's headers and where they may go,
 * redirects, retries with backoff, and close, which cancels whatever is in flight so that no reader
 * hangs on a backend that is gone.
 */
final class Transport implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Transport.class.getName());

    static final int MAX_REDIRECTS = 10;
    private static final Duration FIRST_BACKOFF = Duration.ofMillis(100);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(5);

    /**
     * Where a request goes.
     *
     * @param withUserHeaders whether the user's headers go along: only to the origin of the URI the
     *     user gave, never to another host a redirect leads to (a presigned URL there carries its own
     *     credential, and the user's must not leak to it)
     */
    record Target(URI uri, boolean withUserHeaders) {}

    /** A response whose headers have arrived; closing it gives up the rest of its body. */
    final class Response implements AutoCloseable {
        final Target target;
        final int status;
        final HttpHeaders headers;
        final BodyStream body;
        final HttpClient.Version version;

        private Response(Target target, HttpResponse.ResponseInfo info, BodyStream body) {
            this.target = target;
            this.status = info.statusCode();
            this.headers = info.headers();
            this.body = body;
            this.version = info.version();
        }

        @Override
        public void close() {
            bodies.remove(body);
            body.discard();
        }

        /**
         * Reads the rest of a small body, so that its connection stays open for the next request
         * rather than closing with the body unread; gives up on a body larger than {@code maxBytes}.
         */
        void drain(long maxBytes) throws IOException {
            long seen = 0;
            try {
                for (List<ByteBuffer> buffers; seen <= maxBytes && (buffers = body.next(options.readTimeout())) != null; ) {
                    for (ByteBuffer buffer : buffers) {
                        seen += buffer.remaining();
                    }
                }
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while reading from " + Redaction.uri(target.uri()));
            } catch (IOException ignored) {
                // The body is only being thrown away; close() below closes whatever is left of it.
                checkOpen();
            }
            close();
        }

        /** The Content-Encoding, if the server used one: ranges of an encoded body are not ranges of the resource. */
        void requireIdentityEncoding() throws IOException {
            String encoding = headers.firstValue("content-encoding").map(String::strip).orElse("identity");
            if (!encoding.isEmpty() && !encoding.equalsIgnoreCase("identity")) {
                throw new IOException(Redaction.uri(target.uri()) + " sent its body with Content-Encoding: " + encoding
                        + " although Accept-Encoding: identity asked for the stored bytes; byte ranges of an encoded "
                        + "body are not ranges of the resource");
            }
        }

        /** The error for an answer that is neither success nor one the caller handles itself. */
        IOException unexpected(String request) {
            String where = Redaction.uri(target.uri());
            if (Statuses.isTransient(status)) {
                return TransientFailure.status(status, headers);
            }
            return switch (status) {
                case 401 -> new AccessDeniedException(where, null, "answered " + Statuses.describe(status) + " to "
                        + request + (options.headers().isEmpty() ? "; give credentials with option authorization, "
                        + "bearer-token or headers" : "; the credentials given were refused"));
                case 403 -> new AccessDeniedException(where, null, "answered " + Statuses.describe(status) + " to "
                        + request + (target.uri().getRawQuery() != null ? " (a presigned URL may have expired)" : ""));
                case 404, 410 -> new NoSuchFileException(where, null, "answered " + Statuses.describe(status) + " to " + request);
                default -> new IOException(where + " answered " + Statuses.describe(status) + " to " + request);
            };
        }
    }

    @FunctionalInterface
    interface Attempt<T> {
        T run(int attempt) throws IOException;
    }

    private final URI uri;
    private final HttpOptions options;
    private final ClientPool.Lease lease;
    private final Secrets secrets;
    private final Set<CompletableFuture<?>> pending = ConcurrentHashMap.newKeySet();
    private final Set<BodyStream> bodies = ConcurrentHashMap.newKeySet();
    private final CountDownLatch closed = new CountDownLatch(1);

    private Transport(URI uri, HttpOptions options, ClientPool.Lease lease) {
        this.uri = uri;
        this.options = options;
        this.lease = lease;
        this.secrets = new Secrets(options.secretValues(), uri);
    }

    static Transport open(URI uri, HttpOptions options) throws IOException {
        return new Transport(uri, options, ClientPool.lease(new ClientPool.Config(options.connectTimeout(), options.trust())));
    }

    URI uri() {
        return uri;
    }

    HttpOptions options() {
        return options;
    }

    Secrets secrets() {
        return secrets;
    }

    HttpClient client() {
        return lease.client();
    }

    /** Where requests start: the URI as given, with the user's headers. */
    Target start() {
        return new Target(uri, true);
    }

    boolean isClosed() {
        return closed.getCount() == 0;
    }

    void checkOpen() throws BackendClosedException {
        if (isClosed()) {
            throw new BackendClosedException(uri);
        }
    }

    /**
     * Sends {@code method} to {@code target}, following redirects, and returns the first answer that
     * is not one. Failures of the exchange itself come as {@link TransientFailure} where another
     * attempt may fare better.
     */
    Response send(String method, Target target, Map<String, String> headers) throws IOException {
        Target current = target;
        for (int redirects = 0; ; redirects++) {
            Response response = exchange(method, current, headers);
            if (!Statuses.isRedirect(response.status)) {
                return response;
            }
            response.close();
            String location = response.headers.firstValue("location").orElse(null);
            if (location == null) {
                throw new IOException(Redaction.uri(current.uri()) + " answered " + Statuses.describe(response.status)
                        + " without a Location to go to");
            }
            if (redirects == MAX_REDIRECTS) {
                throw new IOException("more than " + MAX_REDIRECTS + " redirects, starting at " + Redaction.uri(target.uri())
                        + "; the last led to " + Redaction.uri(current.uri()) + " (a redirect loop?)");
            }
            current = redirect(current, location, response.status);
        }
    }

    private Target redirect(Target from, String location, int status) throws IOException {
        URI next;
        try {
            next = from.uri().resolve(new URI(location.strip()));
        } catch (URISyntaxException | IllegalArgumentException malformed) {
            // Not printed: a broken Location may still hold a signature.
            throw new IOException(Redaction.uri(from.uri()) + " answered " + Statuses.describe(status)
                    + " with a Location that is not a URI");
        }
        secrets.addUri(next);
        String scheme = next.getScheme() == null ? "" : next.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https") || next.getHost() == null) {
            throw new IOException(Redaction.uri(from.uri()) + " redirects to " + Redaction.uri(next)
                    + ", which is not an http: or https: URL");
        }
        if (from.uri().getScheme().equalsIgnoreCase("https") && scheme.equals("http")) {
            throw new IOException(Redaction.uri(from.uri()) + " redirects to " + Redaction.uri(next)
                    + ", from https to plain http; such a redirect is not followed");
        }
        return new Target(next, from.withUserHeaders() && sameOrigin(uri, next));
    }

    static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost().equalsIgnoreCase(b.getHost())
                && port(a) == port(b);
    }

    private static int port(URI uri) {
        return uri.getPort() >= 0 ? uri.getPort() : uri.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    private Response exchange(String method, Target target, Map<String, String> headers) throws IOException {
        checkOpen();
        HttpRequest.Builder builder = HttpRequest.newBuilder(requestUri(target.uri()))
                .method(method, HttpRequest.BodyPublishers.noBody())
                .timeout(options.readTimeout())
                .version(version(target.uri()))
                // Ranges then count the stored bytes, not those of some compressed form.
                .header("Accept-Encoding", "identity");
        if (target.withUserHeaders()) {
            options.headers().forEach(builder::header);
        }
        headers.forEach(builder::header);
        AtomicReference<Head> head = new AtomicReference<>();
        CompletableFuture<HttpResponse<BodyStream>> future = client().sendAsync(builder.build(), info -> {
            BodyStream body = new BodyStream();
            head.set(new Head(info, body));
            return body;
        });
        pending.add(future);
        Response answer;
        try {
            if (isClosed()) {
                future.cancel(true);
            }
            HttpResponse<BodyStream> response = future.get();
            answer = new Response(target, head.get().info(), response.body());
        } catch (InterruptedException interrupted) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for " + Redaction.uri(target.uri()));
        } catch (CancellationException cancelled) {
            checkOpen();
            throw new IOException("the request to " + Redaction.uri(target.uri()) + " was cancelled");
        } catch (ExecutionException failed) {
            checkOpen();
            IOException failure = classify(target, failed.getCause());
            Head started = head.get();
            if (started == null || !(failure instanceof TransientFailure)) {
                throw failure;
            }
            // The headers had come, and some of the body may have: the client can report a body cut
            // short here instead of through the body. Handing the response on keeps those bytes, so
            // that the next attempt resumes after them; its reader meets the failure after the bytes.
            started.body().cancel(failure);
            answer = new Response(target, started.info(), started.body());
        } finally {
            pending.remove(future);
        }
        bodies.add(answer.body);
        if (isClosed()) {
            answer.close();
            throw new BackendClosedException(uri);
        }
        return answer;
    }

    /** What the client had received of a response when it handed over the body. */
    private record Head(HttpResponse.ResponseInfo info, BodyStream body) {}

    /** The HTTP client takes no user info and no fragment; the user info went into an Authorization header. */
    private static URI requestUri(URI uri) {
        String authority = uri.getRawAuthority();
        authority = authority.substring(authority.lastIndexOf('@') + 1);
        String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
        return URI.create(uri.getScheme().toLowerCase(Locale.ROOT) + "://" + authority + path
                + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery()));
    }

    private HttpClient.Version version(URI target) {
        return switch (options.httpVersion()) {
            case HTTP_1_1 -> HttpClient.Version.HTTP_1_1;
            case HTTP_2 -> HttpClient.Version.HTTP_2;
            // ALPN makes HTTP/2 over TLS free to ask for; over plain TCP it takes an upgrade few servers do.
            case AUTO -> target.getScheme().equalsIgnoreCase("https") ? HttpClient.Version.HTTP_2 : HttpClient.Version.HTTP_1_1;
        };
    }

    private IOException classify(Target target, Throwable cause) {
        String where = Redaction.uri(target.uri());
        if (cause instanceof HttpConnectTimeoutException) {
            return new TransientFailure("cannot connect to " + where + " within " + options.connectTimeout().toMillis()
                    + " ms (option connect-timeout-ms)", secrets.scrub(cause));
        }
        if (cause instanceof HttpTimeoutException) {
            return new TransientFailure("no response from " + where + " within " + options.readTimeout().toMillis()
                    + " ms (option read-timeout-ms)", secrets.scrub(cause));
        }
        if (untrusted(cause)) {
            return new IOException("the TLS certificate of " + where + " is not trusted: " + secrets.scrub(cause.getMessage())
                    + " (a private CA goes in option trust-store, or in the javax.net.ssl.trustStore property)",
                    secrets.scrub(cause));
        }
        if (cause instanceof ConnectException) {
            return new TransientFailure("cannot connect to " + where + ": " + describe(cause), secrets.scrub(cause));
        }
        if (cause instanceof IOException) {
            return new TransientFailure("the exchange with " + where + " failed: " + describe(cause), secrets.scrub(cause));
        }
        return new IOException("the request to " + where + " failed: " + describe(cause), secrets.scrub(cause));
    }

    private static boolean untrusted(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof CertificateException || t instanceof SSLPeerUnverifiedException) {
                return true;
            }
        }
        return false;
    }

    /** A failure's message with secrets masked, or its class where it has none. */
    String describe(Throwable failure) {
        String message = failure.getMessage();
        return message == null ? failure.getClass().getSimpleName() : secrets.scrub(message);
    }

    /**
     * Runs {@code attempt} until it succeeds, fails for good, or has failed transiently
     * {@code max-attempts} times, waiting between attempts with exponential backoff and jitter, or
     * as long as a Retry-After asked.
     *
     * @param what the operation, for messages
     */
    <T> T withRetries(String what, Attempt<T> attempt) throws IOException {
        for (int n = 1; ; n++) {
            try {
                return attempt.run(n);
            } catch (TransientFailure failure) {
                checkOpen();
                if (n >= options.maxAttempts()) {
                    throw new IOException(what + " failed after " + n + (n == 1 ? " attempt" : " attempts")
                            + " (option max-attempts): " + failure.getMessage(), failure);
                }
                Duration retryAfter = failure.retryAfter();
                if (retryAfter != null && retryAfter.compareTo(TransientFailure.MAX_RETRY_AFTER) > 0) {
                    throw new IOException(what + " failed: " + failure.getMessage() + ", more than the "
                            + TransientFailure.MAX_RETRY_AFTER.toSeconds() + " s a read waits", failure);
                }
                Duration delay = retryAfter != null ? retryAfter : backoff(n);
                int next = n + 1;
                LOG.log(System.Logger.Level.DEBUG, () -> what + ": " + failure.getMessage() + "; attempt " + next + " of "
                        + options.maxAttempts() + " in " + delay.toMillis() + " ms");
                pause(delay);
            } catch (RuntimeException failure) {
                if (isClosed()) {
                    throw closedUnder(failure);
                }
                throw failure;
            }
        }
    }

    /**
     * What a read meets when {@link #close()} shut the shared client down under it: the client then
     * refuses work with a {@link java.util.concurrent.RejectedExecutionException} from whichever of its
     * calls came next. That is the close, and is reported as such.
     */
    private BackendClosedException closedUnder(RuntimeException failure) {
        BackendClosedException closedNow = new BackendClosedException(uri);
        closedNow.initCause(failure);
        return closedNow;
    }

    private static Duration backoff(int failedAttempts) {
        long ceiling = Math.min(MAX_BACKOFF.toMillis(), FIRST_BACKOFF.toMillis() << Math.min(failedAttempts - 1, 20));
        // Half fixed, half random, so that many readers failing together do not come back together.
        return Duration.ofMillis(ceiling / 2 + ThreadLocalRandom.current().nextLong(ceiling / 2 + 1));
    }

    private void pause(Duration delay) throws IOException {
        try {
            if (closed.await(delay.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new BackendClosedException(uri);
            }
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to retry " + Redaction.uri(uri));
        }
    }

    /** Cancels every request and body in flight, whose readers then fail with {@link BackendClosedException}. */
    @Override
    public void close() {
        if (isClosed()) {
            return;
        }
        closed.countDown();
        pending.forEach(future -> future.cancel(true));
        BackendClosedException reason = new BackendClosedException(uri);
        bodies.forEach(body -> body.cancel(reason));
        lease.close();
    }

    @Override
    public String toString() {
        return "Transport[" + Redaction.uri(uri) + ", " + options + "]";
    }
}
