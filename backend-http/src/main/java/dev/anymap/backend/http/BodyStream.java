package dev.anymap.backend.http;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A response body handed from the HTTP client's threads to the thread that asked for it.
 *
 * <p>The bytes are copied by the reading thread, not by the client's: the target is often a
 * segment of a confined arena that only its owner may touch. The reading thread waits for each
 * next piece with a deadline, which is what turns a stalled body into an error instead of a hang.
 * Only a few pieces are asked for ahead, so a body is never buffered whole in memory.
 */
final class BodyStream implements HttpResponse.BodySubscriber<BodyStream> {
    private static final int PREFETCH = 4;
    private static final Object END = new Object();

    private record Failure(Throwable cause) {}

    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private Flow.Subscription subscription;
    private boolean cancelled;
    // Touched by the reading thread only.
    private boolean ended;
    private IOException failed;

    /** No byte of the body came within the read timeout: this exchange is stuck, and a new one may not be. */
    static final class StallException extends IOException {
        private static final long serialVersionUID = 1L;

        StallException(Duration stall) {
            super("no bytes of the body arrived for " + stall.toMillis() + " ms (option read-timeout-ms)");
        }
    }

    @Override
    public void onSubscribe(Flow.Subscription subscription) {
        boolean cancelNow;
        synchronized (this) {
            this.subscription = subscription;
            cancelNow = cancelled;
        }
        if (cancelNow) {
            subscription.cancel();
        } else {
            subscription.request(PREFETCH);
        }
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        queue.add(item);
    }

    @Override
    public void onError(Throwable throwable) {
        queue.add(new Failure(throwable));
    }

    @Override
    public void onComplete() {
        queue.add(END);
    }

    @Override
    public CompletionStage<BodyStream> getBody() {
        return CompletableFuture.completedStage(this);
    }

    /**
     * The next pieces of the body, or null at its end.
     *
     * @throws StallException if nothing came within {@code stall}
     * @throws IOException the client's failure (a dropped connection, a body shorter than its
     *     Content-Length), or the reason given to {@link #cancel}
     */
    List<ByteBuffer> next(Duration stall) throws IOException, InterruptedException {
        if (failed != null) {
            throw failed;
        }
        if (ended) {
            return null;
        }
        Object item = queue.poll(stall.toNanos(), TimeUnit.NANOSECONDS);
        if (item == null) {
            failed = new StallException(stall);
            cancel(failed);
            throw failed;
        }
        if (item == END) {
            ended = true;
            return null;
        }
        if (item instanceof Failure failure) {
            failed = failure.cause() instanceof IOException io ? io : new IOException(failure.cause().getMessage(), failure.cause());
            throw failed;
        }
        Flow.Subscription current;
        synchronized (this) {
            current = subscription;
        }
        current.request(1);
        @SuppressWarnings("unchecked")
        List<ByteBuffer> buffers = (List<ByteBuffer>) item;
        return buffers;
    }

    /** Gives up on the rest of the body, unless it has all arrived (which leaves its connection reusable). */
    void discard() {
        if (!ended) {
            cancel(null);
        }
    }

    /**
     * Stops the body: the connection under an HTTP/1.1 body is closed, an HTTP/2 stream reset. The
     * reader, if it is waiting, fails with {@code reason} (unless the body already ended); with a
     * null reason it is only told the body is gone.
     */
    void cancel(IOException reason) {
        Flow.Subscription current;
        synchronized (this) {
            if (cancelled) {
                return;
            }
            cancelled = true;
            current = subscription;
        }
        if (current != null) {
            current.cancel();
        }
        queue.add(new Failure(reason != null ? reason : new IOException("the response body was abandoned")));
    }
}
