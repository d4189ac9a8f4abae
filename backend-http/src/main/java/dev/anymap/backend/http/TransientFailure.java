package dev.anymap.backend.http;

import java.io.IOException;
import java.net.http.HttpHeaders;
import java.time.Duration;
import java.time.Instant;

/** A failure worth another attempt: a 5xx, a 429, a dropped connection, a timeout, a body cut short. */
final class TransientFailure extends IOException {
    private static final long serialVersionUID = 1L;

    /** The longest Retry-After waited for: a page fault should fail rather than hang for minutes. */
    static final Duration MAX_RETRY_AFTER = Duration.ofSeconds(60);

    private final transient Duration retryAfter;

    TransientFailure(String message, Throwable cause) {
        this(message, cause, null);
    }

    private TransientFailure(String message, Throwable cause, Duration retryAfter) {
        super(message, cause);
        this.retryAfter = retryAfter;
    }

    /** A 408, 429 or 5xx answer, with the wait its Retry-After asks for, if any. */
    static TransientFailure status(int status, HttpHeaders headers) {
        Duration retryAfter = headers.firstValue("retry-after").map(TransientFailure::parseRetryAfter).orElse(null);
        return new TransientFailure("the server answered " + Statuses.describe(status)
                + (retryAfter == null ? "" : " (Retry-After " + retryAfter.toMillis() + " ms)"), null, retryAfter);
    }

    /** What the server asked to wait before the next attempt, or null if it did not say. */
    Duration retryAfter() {
        return retryAfter;
    }

    /** {@code Retry-After} as seconds or as an HTTP date; null if it is neither. */
    static Duration parseRetryAfter(String value) {
        String text = value.strip();
        if (text.matches("\\d{1,9}")) {
            return Duration.ofSeconds(Long.parseLong(text));
        }
        Instant when = Validator.instant(text);
        if (when == null) {
            return null;
        }
        Duration wait = Duration.between(Instant.now(), when);
        return wait.isNegative() ? Duration.ZERO : wait;
    }
}
