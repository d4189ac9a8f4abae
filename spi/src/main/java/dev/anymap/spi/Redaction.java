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

    private Redaction() {}

    /** {@code uri} as a string, with the password of its user info and secret query values masked. */
    public static String uri(URI uri) {
        if (uri == null) {
            return "null";
        }
        if (uri.isOpaque()) {
            return uri.getRawQuery() == null ? uri.toString() : withQuery(uri.toString(), uri.getRawQuery());
        }
        String text = uri.toString();
        String userInfo = uri.getRawUserInfo();
        if (userInfo != null && userInfo.indexOf(':') >= 0) {
            String user = userInfo.substring(0, userInfo.indexOf(':'));
            text = text.replace(userInfo + "@", user + ":" + MASK + "@");
        }
        String query = uri.getRawQuery();
        return query == null ? text : withQuery(text, query);
    }

    private static String withQuery(String text, String rawQuery) {
        StringBuilder masked = new StringBuilder();
        for (String parameter : QUERY_PARAMETER.split(rawQuery, -1)) {
            if (!masked.isEmpty()) {
                masked.append('&');
            }
            int equals = parameter.indexOf('=');
            String name = equals < 0 ? parameter : parameter.substring(0, equals);
            masked.append(equals >= 0 && isSecret(name) ? name + "=" + MASK : parameter);
        }
        int at = text.lastIndexOf("?" + rawQuery);
        return text.substring(0, at + 1) + masked + text.substring(at + 1 + rawQuery.length());
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
