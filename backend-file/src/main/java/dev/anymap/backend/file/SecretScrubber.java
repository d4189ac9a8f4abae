package dev.anymap.backend.file;

import dev.anymap.spi.Redaction;
import dev.anymap.spi.ScrubbedException;
import java.net.URI;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;

/**
 * Keeps secrets out of what VFS and JSch say. Their messages can hold a URI with its password (a VFS
 * file name prints as its full URI), so no exception of theirs is passed on: each is replaced by a
 * {@link ScrubbedException} with the same class name, message and stack trace, minus the secrets.
 */
final class SecretScrubber {
    private static final String MASK = "****";

    private final List<String> secrets;

    SecretScrubber(Collection<String> secrets) {
        // Longest first, so that a secret containing another is masked whole.
        this.secrets = secrets.stream()
                .filter(Objects::nonNull)
                .filter(secret -> !secret.isEmpty())
                .distinct()
                .sorted(Comparator.comparingInt(String::length).reversed())
                .toList();
    }

    /** {@code uri} fit to print: {@link Redaction#uri}, and the passwords of nested URIs masked too. */
    String uri(URI uri) {
        return text(Redaction.uri(uri));
    }

    /** {@code text} with every secret, and every password in a URI's user info, masked. */
    String text(String text) {
        if (text == null) {
            return null;
        }
        String scrubbed = text;
        for (String secret : secrets) {
            scrubbed = scrubbed.replace(secret, MASK);
        }
        return UriCredentials.USER_INFO_WITH_PASSWORD.matcher(scrubbed)
                .replaceAll(match -> Matcher.quoteReplacement(match.group(1) + ":" + MASK + "@"));
    }

    /** A copy of {@code failure} and its causes, scrubbed, or null for null. */
    ScrubbedException chain(Throwable failure) {
        return ScrubbedException.of(failure, this::text);
    }

    /** The messages of {@code failure} and its causes, scrubbed, each said once, joined by ": ". */
    String describe(Throwable failure) {
        return Redaction.describe(failure, this::text);
    }
}
