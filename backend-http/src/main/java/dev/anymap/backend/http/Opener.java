package dev.anymap.backend.http;

import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code open} learns before the first read: the size, the validator, the final URL after
 * redirects, and whether the server serves ranges at all.
 *
 * <p>A HEAD tells all of that cheaply when the server answers it with a Content-Length and
 * {@code Accept-Ranges: bytes}. Otherwise (HEAD refused, as presigned URLs signed for GET do; no
 * length; no promise of ranges) a {@code GET} of {@code bytes=0-0} asks the question directly: a 206
 * answers it, and a 200 means the server ignores ranges, which is an error here unless the user
 * allowed a whole download, which then starts from that very response.
 */
final class Opener {
    /** A body smaller than this is read to its end rather than cut off, to keep its connection. */
    private static final long DRAIN_LIMIT = 64 * 1024;

    private Opener() {}

    private record Head(Transport.Target target, long size, boolean promisesRanges, Validator validator) {}

    static StorageBackend open(Transport transport) throws IOException {
        String where = Redaction.uri(transport.uri());
        Head head = transport.withRetries("HEAD " + where, attempt -> head(transport));
        if (head != null && head.size() >= 0 && head.promisesRanges()) {
            return new RangeBackend(transport, head.target(), head.size(), head.validator());
        }
        Transport.Target start = head != null ? head.target() : transport.start();
        return transport.withRetries("GET bytes 0-0 of " + where, attempt -> probe(transport, start, head));
    }

    /** The HEAD's answer, or null where HEAD is refused and a GET must tell. */
    private static Head head(Transport transport) throws IOException {
        try (Transport.Response response = transport.send("HEAD", transport.start(), Map.of())) {
            switch (response.status) {
                case 200 -> {
                    response.requireIdentityEncoding();
                    String ranges = response.headers.firstValue("accept-ranges").orElse("").toLowerCase(Locale.ROOT);
                    return new Head(response.target, response.headers.firstValueAsLong("content-length").orElse(-1),
                            ranges.contains("bytes"), Validator.of(response.headers));
                }
                // Not allowed, not implemented, or (for a URL presigned for GET alone) forbidden.
                case 400, 403, 405, 501 -> {
                    return null;
                }
                default -> throw response.unexpected("HEAD");
            }
        }
    }

    private static StorageBackend probe(Transport transport, Transport.Target start, Head head) throws IOException {
        Transport.Response response = transport.send("GET", start, Map.of("Range", "bytes=0-0"));
        boolean handedOver = false;
        try {
            switch (response.status) {
                case 206 -> {
                    response.requireIdentityEncoding();
                    String header = response.headers.firstValue("content-range").orElse(null);
                    ContentRange range = ContentRange.parse(header);
                    if (range == null || range.first() != 0 || range.last() != 0) {
                        throw new IOException(Redaction.uri(response.target.uri()) + " answered GET bytes 0-0 with "
                                + (header == null ? "no Content-Range" : "Content-Range '" + header + "'")
                                + ", not the range asked for");
                    }
                    if (range.total() < 0) {
                        throw new IOException(Redaction.uri(response.target.uri()) + " does not say how large it is "
                                + "(Content-Range '" + header + "'), so it cannot be mapped");
                    }
                    Validator validator = Validator.of(response.headers);
                    response.drain(DRAIN_LIMIT);
                    return new RangeBackend(transport, response.target, range.total(), validator);
                }
                case 416 -> {
                    // bytes=0-0 is unsatisfiable only for an empty resource.
                    ContentRange range = ContentRange.parse(response.headers.firstValue("content-range").orElse(null));
                    if ((range != null && range.total() == 0) || (range == null && head != null && head.size() == 0)) {
                        Validator validator = Validator.of(response.headers);
                        response.drain(DRAIN_LIMIT);
                        return new RangeBackend(transport, response.target, 0, validator);
                    }
                    throw new IOException(Redaction.uri(response.target.uri()) + " answered 416 Range Not Satisfiable to "
                            + "GET bytes 0-0, as if it were empty, but does not say its size is 0");
                }
                case 200 -> {
                    response.requireIdentityEncoding();
                    long size = response.headers.firstValueAsLong("content-length").orElse(-1);
                    if (size == 0) {
                        Validator validator = Validator.of(response.headers);
                        response.drain(DRAIN_LIMIT);
                        return new RangeBackend(transport, response.target, 0, validator);
                    }
                    if (!transport.options().allowFullDownload()) {
                        throw new IOException(Redaction.uri(response.target.uri()) + " ignores byte ranges: it answered "
                                + "200 OK with the whole resource" + (size > 0 ? " (" + size + " bytes)" : "")
                                + " to GET bytes 0-0, so it cannot be mapped lazily. Option "
                                + HttpOptions.ALLOW_FULL_DOWNLOAD + "=true downloads it whole at open instead, "
                                + "into a temporary file only you can read");
                    }
                    handedOver = true;
                    return DownloadedBackend.download(transport, response, size);
                }
                default -> throw response.unexpected("GET bytes 0-0");
            }
        } finally {
            if (!handedOver) {
                response.close();
            }
        }
    }
}
