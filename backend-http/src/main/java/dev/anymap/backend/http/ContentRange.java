package dev.anymap.backend.http;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code Content-Range} header: {@code bytes FIRST-LAST/TOTAL}, or {@code bytes *}{@code /TOTAL}
 * on a 416.
 *
 * @param first the first byte sent, or -1 for an unsatisfied range
 * @param last the last byte sent, inclusive, or -1 for an unsatisfied range
 * @param total the complete length, or -1 if the server gave {@code *}
 */
record ContentRange(long first, long last, long total) {
    private static final Pattern FORM = Pattern.compile("bytes\\s+(?:(\\d{1,19})-(\\d{1,19})|\\*)/(\\d{1,19}|\\*)");

    /** The header parsed, or null if it is not one of the two forms. */
    static ContentRange parse(String header) {
        if (header == null) {
            return null;
        }
        Matcher matcher = FORM.matcher(header.strip().toLowerCase(Locale.ROOT));
        if (!matcher.matches()) {
            return null;
        }
        try {
            long total = matcher.group(3).equals("*") ? -1 : Long.parseLong(matcher.group(3));
            if (matcher.group(1) == null) {
                return new ContentRange(-1, -1, total);
            }
            long first = Long.parseLong(matcher.group(1));
            long last = Long.parseLong(matcher.group(2));
            if (last < first || (total >= 0 && last >= total)) {
                return null;
            }
            return new ContentRange(first, last, total);
        } catch (NumberFormatException tooLong) {
            return null;
        }
    }

    long length() {
        return last - first + 1;
    }
}
