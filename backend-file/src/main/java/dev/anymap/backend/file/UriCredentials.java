package dev.anymap.backend.file;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A URI split into the same URI without passwords, and the passwords its user infos held, nested ones
 * included ({@code zip:sftp://alice:pw@host/a.zip!/x}).
 *
 * <p>VFS is given the URI without passwords, and the password through an authenticator: its file
 * names print the full URI in their messages and {@code toString()}, and would otherwise carry the
 * password into every exception about the file.
 *
 * @param withoutPassword the URI with {@code :password} removed from every user info
 * @param password the first password, percent-decoded, or null if there is none
 * @param secrets every password, both as written in the URI and decoded, for scrubbing messages
 */
record UriCredentials(URI withoutPassword, String password, List<String> secrets) {
    /** A user info with a password, after the {@code //} of an authority: user, then password. */
    static final Pattern USER_INFO_WITH_PASSWORD = Pattern.compile("(?<=//)([^/?#@:]*):([^/?#@]*)@");

    static UriCredentials of(URI uri) {
        Matcher matcher = USER_INFO_WITH_PASSWORD.matcher(uri.toString());
        List<String> secrets = new ArrayList<>();
        String password = null;
        StringBuilder stripped = new StringBuilder();
        while (matcher.find()) {
            String raw = matcher.group(2);
            String decoded = percentDecode(raw);
            if (password == null) {
                password = decoded;
            }
            secrets.add(raw);
            secrets.add(decoded);
            matcher.appendReplacement(stripped, Matcher.quoteReplacement(matcher.group(1) + "@"));
        }
        matcher.appendTail(stripped);
        return new UriCredentials(URI.create(stripped.toString()), password, List.copyOf(secrets));
    }

    /** Decodes %XX escapes as UTF-8; '+' stays '+', as in any URI component but a form's query. */
    static String percentDecode(String raw) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int i = 0;
        while (i < raw.length()) {
            if (raw.charAt(i) == '%' && i + 2 < raw.length()
                    && Character.digit(raw.charAt(i + 1), 16) >= 0 && Character.digit(raw.charAt(i + 2), 16) >= 0) {
                bytes.write(Integer.parseInt(raw, i + 1, i + 3, 16));
                i += 3;
            } else {
                int codePoint = raw.codePointAt(i);
                bytes.writeBytes(Character.toString(codePoint).getBytes(StandardCharsets.UTF_8));
                i += Character.charCount(codePoint);
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }
}
