package dev.anymap.spi;

import java.net.URI;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Makes URIs fit to print. A URI can carry a password ({@code sftp://user:secret@host/}) or a
 * presigned query ({@code ?X-Amz-Signature=...}); every message and log line that names a URI goes
 * through {@link #uri(URI)}.
 */
public final class Redaction {
    private static final String MASK = "****";
    private static final Set<String> SECRET_QUERY_WORDS =
            Set.of("signature", "sig", "token", "credential", "password", "secret", "key");
    private static final Pattern QUERY_PARAMETER = Pattern.compile("&");
    /** The password of any user info, also inside a nested URI such as {@code zip:sftp://u:pw@h/a.zip!/x}. */
    private static final Pattern USER_PASSWORD = Pattern.compile("(//[^/?#@:]*):[^/?#@]*@");

    private Redaction() {}

    /** {@code uri} as a string, with the password of its user info and secret query values masked. */
    public static String uri(URI uri) {
        if (uri == null) {
            return "null";
        }
        String text = USER_PASSWORD.matcher(uri.toString()).replaceAll("$1:" + MASK + "@");
        int question = text.indexOf('?');
        if (question < 0) {
            return text;
        }
        int hash = text.indexOf('#', question);
        String query = hash < 0 ? text.substring(question + 1) : text.substring(question + 1, hash);
        return text.substring(0, question + 1) + maskQuery(query) + (hash < 0 ? "" : text.substring(hash));
    }

    /**
     * The messages of {@code failure} and its causes (sixteen at most), each passed through
     * {@code scrub}, joined by ": ", leaving out any that only repeats the one before: one line that
     * says what went wrong, fit for an exception message.
     */
    public static String describe(Throwable failure, java.util.function.UnaryOperator<String> scrub) {
        StringBuilder description = new StringBuilder();
        String previous = null;
        int depth = 0;
        for (Throwable t = failure; t != null && depth < 16; t = t.getCause(), depth++) {
            String message = t.getMessage() == null ? t.getClass().getSimpleName() : scrub.apply(t.getMessage()).strip();
            if (message.endsWith(".")) {
                message = message.substring(0, message.length() - 1);
            }
            if (message.isEmpty() || (previous != null && previous.contains(message))) {
                continue;
            }
            if (!description.isEmpty()) {
                description.append(": ");
            }
            description.append(message);
            previous = message;
        }
        return description.toString();
    }

    private static String maskQuery(String query) {
        StringBuilder masked = new StringBuilder();
        for (String parameter : QUERY_PARAMETER.split(query, -1)) {
            if (!masked.isEmpty()) {
                masked.append('&');
            }
            int equals = parameter.indexOf('=');
            String name = equals < 0 ? parameter : parameter.substring(0, equals);
            masked.append(equals >= 0 && isSecret(name) ? name + "=" + MASK : parameter);
        }
        return masked.toString();
    }

    private static boolean isSecret(String parameterName) {
        String name = parameterName.toLowerCase(Locale.ROOT);
        for (String word : SECRET_QUERY_WORDS) {
            if (name.contains(word)) {
                return true;
            }
        }
        return false;
    }
}
