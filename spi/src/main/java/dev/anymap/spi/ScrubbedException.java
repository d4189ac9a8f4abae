package dev.anymap.spi;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * A library's exception, with the secrets masked out of its message, printed under the original
 * class name and carrying the original stack trace. Backends pass these on as causes instead of
 * the exceptions of clients that were not written with passwords, tokens and presigned URLs in
 * mind.
 */
public final class ScrubbedException extends IOException {
    private static final long serialVersionUID = 1L;
    private static final int MAX_DEPTH = 16;

    private final String originalClass;

    private ScrubbedException(String originalClass, String message, Throwable cause) {
        super(message, cause);
        this.originalClass = originalClass;
    }

    /**
     * A copy of {@code failure} and its causes (sixteen at most), each message passed through
     * {@code scrub}; null for null.
     */
    public static ScrubbedException of(Throwable failure, UnaryOperator<String> scrub) {
        List<Throwable> chain = new ArrayList<>();
        for (Throwable t = failure; t != null && chain.size() < MAX_DEPTH && !chain.contains(t); t = t.getCause()) {
            chain.add(t);
        }
        ScrubbedException copy = null;
        for (Throwable t : chain.reversed()) {
            ScrubbedException next = new ScrubbedException(t.getClass().getName(),
                    t.getMessage() == null ? null : scrub.apply(t.getMessage()), copy);
            next.setStackTrace(t.getStackTrace());
            copy = next;
        }
        return copy;
    }

    /** The class of the exception this is a copy of. */
    public String originalClass() {
        return originalClass;
    }

    @Override
    public String toString() {
        return getMessage() == null ? originalClass : originalClass + ": " + getMessage();
    }
}
