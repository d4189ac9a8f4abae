package dev.anymap.backend.http;

import java.nio.ByteBuffer;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * One version of a resource, and how a well-behaved server serves it: HEAD, single byte ranges,
 * {@code If-Match} and {@code If-Unmodified-Since}. The tests of misbehaving servers start from this
 * and change one thing.
 *
 * @param content the bytes
 * @param etag the ETag, quotes included, or null to send none
 * @param lastModified the modification time, or null to send no Last-Modified
 */
record Served(byte[] content, String etag, Instant lastModified) {
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d*)");

    static Served strong(byte[] content, String tag) {
        return new Served(content, "\"" + tag + "\"", null);
    }

    static Served modified(byte[] content, Instant lastModified) {
        return new Served(content, null, lastModified);
    }

    String lastModifiedHeader() {
        return lastModified == null ? null : DateTimeFormatter.RFC_1123_DATE_TIME.format(ZonedDateTime.ofInstant(lastModified, ZoneOffset.UTC));
    }

    /** The requested range as {first, last}, or null for a request without one. */
    long[] range(Request request) {
        String header = request.getHeaders().get(HttpHeader.RANGE);
        if (header == null) {
            return null;
        }
        Matcher matcher = RANGE.matcher(header);
        if (!matcher.matches()) {
            throw new IllegalArgumentException("the tests ask for single ranges only, not " + header);
        }
        long first = Long.parseLong(matcher.group(1));
        long last = matcher.group(2).isEmpty() ? content.length - 1 : Math.min(Long.parseLong(matcher.group(2)), content.length - 1);
        return new long[] {first, last};
    }

    /** Sets the validator and Accept-Ranges headers. */
    void validators(Response response) {
        if (etag != null) {
            response.getHeaders().put(HttpHeader.ETAG, etag);
        }
        if (lastModified != null) {
            response.getHeaders().put(HttpHeader.LAST_MODIFIED, lastModifiedHeader());
        }
        response.getHeaders().put(HttpHeader.ACCEPT_RANGES, "bytes");
    }

    /** Whether the request's preconditions fail against this version. */
    boolean preconditionFails(Request request) {
        String ifMatch = request.getHeaders().get(HttpHeader.IF_MATCH);
        if (ifMatch != null && (etag == null || etag.startsWith("W/") || !ifMatch.strip().equals(etag))) {
            return true;
        }
        String ifUnmodifiedSince = request.getHeaders().get(HttpHeader.IF_UNMODIFIED_SINCE);
        if (ifUnmodifiedSince != null && lastModified != null) {
            try {
                Instant since = ZonedDateTime.parse(ifUnmodifiedSince, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
                return lastModified.getEpochSecond() > since.getEpochSecond();
            } catch (DateTimeParseException malformed) {
                return false;
            }
        }
        return false;
    }

    /** Serves this version as a correct server would. */
    boolean serve(Request request, Response response, Callback callback) {
        validators(response);
        if (preconditionFails(request)) {
            response.setStatus(412);
            callback.succeeded();
            return true;
        }
        long[] range = range(request);
        if (range != null && range[0] >= content.length) {
            response.setStatus(416);
            response.getHeaders().put(HttpHeader.CONTENT_RANGE, "bytes */" + content.length);
            callback.succeeded();
            return true;
        }
        if (range != null) {
            return send(request, response, callback, 206, range[0], range[1]);
        }
        return send(request, response, callback, 200, 0, content.length - 1);
    }

    /** Sends bytes {@code first..last} with {@code status}, and a Content-Range on a 206. */
    boolean send(Request request, Response response, Callback callback, int status, long first, long last) {
        return send(request, response, callback, status, first, last,
                status == 206 ? "bytes " + first + "-" + last + "/" + content.length : null);
    }

    /** Sends bytes {@code first..last} with {@code status} and {@code contentRange} (none if null). */
    boolean send(Request request, Response response, Callback callback, int status, long first, long last, String contentRange) {
        response.setStatus(status);
        if (contentRange != null) {
            response.getHeaders().put(HttpHeader.CONTENT_RANGE, contentRange);
        }
        int length = (int) (last - first + 1);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, length);
        if (request.getMethod().equals("HEAD")) {
            callback.succeeded();
        } else {
            response.write(true, ByteBuffer.wrap(content, (int) first, length), callback);
        }
        return true;
    }
}
