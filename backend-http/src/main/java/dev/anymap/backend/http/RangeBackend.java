package dev.anymap.backend.http;

import dev.anymap.spi.ByteSink;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.OutOfRangeException;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A resource read with one ranged GET per read, straight into the target.
 *
 * <p>Every GET names the version that was opened ({@code If-Match}, else
 * {@code If-Unmodified-Since}) and every answer is checked against what was asked: the status, the
 * exact {@code Content-Range}, the complete length, the validators, and the number of bytes that
 * arrive. A read fills its target with bytes of the opened version or fails; a body cut short is
 * asked for again from where it stopped.
 */
final class RangeBackend implements StorageBackend {
    private final Transport transport;
    private final Transport.Target target;
    private final long size;
    private final Validator validator;
    private final ObjectVersion version;

    /**
     * @param target the URL that answered at open, after redirects: reads go there directly
     */
    RangeBackend(Transport transport, Transport.Target target, long size, Validator validator) {
        this.transport = transport;
        this.target = target;
        this.size = size;
        this.validator = validator;
        this.version = validator.version(size);
    }

    @Override
    public URI uri() {
        return transport.uri();
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public ObjectVersion version() {
        return version;
    }

    /** Where reads go, for tests. */
    URI location() {
        return target.uri();
    }

    Transport transport() {
        return transport;
    }

    @Override
    public void read(long offset, MemorySegment destination) throws IOException {
        stream(offset, destination.byteSize(), ByteSink.into(destination));
    }

    /** One ranged GET for the whole range, passed on as it arrives. */
    @Override
    public void stream(long offset, long length, ByteSink sink) throws IOException {
        OutOfRangeException.check(uri(), offset, length, size);
        transport.checkOpen();
        if (length == 0) {
            return;
        }
        long[] done = {0};
        transport.withRetries("GET bytes " + offset + "-" + (offset + length - 1) + " of " + Redaction.uri(uri()), attempt -> {
            fetch(offset, length, sink, done);
            return null;
        });
    }

    /** One attempt at the bytes from {@code offset + done[0]} on; {@code done[0]} counts those that arrived. */
    private void fetch(long offset, long length, ByteSink sink, long[] done) throws IOException {
        long first = offset + done[0];
        long last = offset + length - 1;
        Map<String, String> headers = new LinkedHashMap<>(validator.conditions());
        headers.put("Range", "bytes=" + first + "-" + last);
        try (Transport.Response response = transport.send("GET", target, headers)) {
            check(response, first, last);
            copy(response, length, sink, done);
        }
    }

    private void check(Transport.Response response, long first, long last) throws IOException {
        String request = "GET bytes " + first + "-" + last;
        switch (response.status) {
            case 206 -> {
                String header = response.headers.firstValue("content-range").orElse(null);
                ContentRange range = ContentRange.parse(header);
                if (range == null || range.first() < 0) {
                    throw new IOException(Redaction.uri(uri()) + " answered 206 Partial Content to " + request
                            + (header == null ? " without a Content-Range" : " with Content-Range '" + header + "'")
                            + ", not the single range asked for");
                }
                if (range.total() >= 0 && range.total() != size) {
                    throw changed("its size is now " + range.total() + " bytes, not " + size);
                }
                if (range.first() != first || range.last() != last) {
                    throw new IOException(Redaction.uri(uri()) + " answered " + request + " with bytes " + range.first()
                            + "-" + range.last() + " (Content-Range '" + header + "'), not the range asked for");
                }
            }
            case 200 -> {
                // The whole resource is a fine answer to a request for the whole resource, and to no other.
                if (first != 0 || last != size - 1) {
                    throw new IOException(Redaction.uri(uri()) + " ignored the Range header: it answered 200 OK, with the "
                            + "whole resource, to " + request + ". It served ranges when it was opened; now it does not, "
                            + "so it cannot be read lazily");
                }
                long declared = response.headers.firstValueAsLong("content-length").orElse(size);
                if (declared != size) {
                    throw changed("its size is now " + declared + " bytes, not " + size);
                }
            }
            case 412 -> throw changed("it answered 412 Precondition Failed to " + request + " with "
                    + validator.describeConditions());
            case 416 -> {
                String header = response.headers.firstValue("content-range").orElse(null);
                ContentRange range = ContentRange.parse(header);
                if (range != null && range.total() >= 0 && range.total() != size) {
                    throw changed("its size is now " + range.total() + " bytes, not " + size);
                }
                throw new IOException(Redaction.uri(uri()) + " answered 416 Range Not Satisfiable to " + request
                        + ", although the resource had " + size + " bytes when it was opened"
                        + (header == null ? "" : " (its Content-Range: '" + header + "')"));
            }
            case 404, 410 -> throw changed("it answered " + Statuses.describe(response.status) + " to " + request);
            default -> throw response.unexpected(request);
        }
        response.requireIdentityEncoding();
        String difference = validator.differenceTo(response.headers);
        if (difference != null) {
            throw changed(difference);
        }
    }

    private ObjectChangedException changed(String detail) {
        return new ObjectChangedException(uri(), version, detail);
    }

    private void copy(Transport.Response response, long length, ByteSink sink, long[] done) throws IOException {
        while (true) {
            List<ByteBuffer> buffers;
            try {
                buffers = response.body.next(transport.options().readTimeout());
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while reading " + Redaction.uri(uri()));
            } catch (BodyStream.StallException stalled) {
                throw new TransientFailure("the body stalled after " + done[0] + " of " + length + " bytes: "
                        + stalled.getMessage(), stalled);
            } catch (IOException broken) {
                transport.checkOpen();
                throw new TransientFailure("the body broke off after " + done[0] + " of " + length + " bytes: "
                        + transport.describe(broken), transport.secrets().scrub(broken));
            }
            if (buffers == null) {
                break;
            }
            for (ByteBuffer buffer : buffers) {
                int n = buffer.remaining();
                if (n > length - done[0]) {
                    throw new IOException(Redaction.uri(uri()) + " sent more bytes than the range it announced");
                }
                sink.accept(MemorySegment.ofBuffer(buffer).asReadOnly());
                done[0] += n;
            }
        }
        if (done[0] < length) {
            throw new TransientFailure("the body ended after " + done[0] + " of the " + length + " bytes asked for", null);
        }
    }

    @Override
    public void close() {
        transport.close();
    }

    @Override
    public String toString() {
        return "RangeBackend[" + Redaction.uri(uri()) + ", " + size + " bytes, " + version + "]";
    }
}
