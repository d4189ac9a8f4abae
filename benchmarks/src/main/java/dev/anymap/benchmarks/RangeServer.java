package dev.anymap.benchmarks;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.SplittableRandom;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An HTTP/1.1 server on loopback that serves one object from memory, with an ETag and byte ranges:
 * the far end of the HTTP benchmarks, for anymap and its baseline alike.
 *
 * <p>It runs in a process of its own ({@link #main}), never in the JVM that maps what it serves: a
 * thread of that JVM stopped in a fault would wait on the page server, the page server on this
 * server, and this server's threads on the safepoint that the faulting thread holds up.
 */
public final class RangeServer implements AutoCloseable {
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");
    private static final String ETAG = "\"benchmark-object\"";

    private final HttpServer server;
    private final MemorySegment object;
    private final Arena arena = Arena.ofShared();

    RangeServer(long size) throws IOException {
        object = content(arena, size);
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.createContext("/object", this::serve);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.start();
    }

    /** The object's bytes: the same in every process, so the one that maps it can check them. */
    static MemorySegment content(Arena arena, long size) {
        MemorySegment bytes = arena.allocate(size, 4096);
        SplittableRandom random = new SplittableRandom(17);
        for (long offset = 0; offset + 8 <= size; offset += 8) {
            bytes.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, offset, random.nextLong());
        }
        return bytes;
    }

    /**
     * Serves an object of SIZE_MIB MiB, plain and, for each round trip given, through a
     * {@link LatencyProxy}; prints the ports on one line ({@code PORTS plain proxied...}) and runs
     * until standard input closes.
     *
     * <pre>RangeServer SIZE_MIB [ROUND_TRIP_MS...]</pre>
     */
    public static void main(String[] args) throws Exception {
        try (RangeServer server = new RangeServer(Long.parseLong(args[0]) << 20)) {
            StringBuilder ports = new StringBuilder("PORTS " + server.port());
            java.util.List<LatencyProxy> proxies = new java.util.ArrayList<>();
            for (int i = 1; i < args.length; i++) {
                LatencyProxy proxy = new LatencyProxy(server.port(), Long.parseLong(args[i]));
                proxies.add(proxy);
                ports.append(' ').append(proxy.port());
            }
            System.out.println(ports);
            System.out.flush();
            while (System.in.read() >= 0) {
                // Until the benchmark that started this process closes its end.
            }
            for (LatencyProxy proxy : proxies) {
                proxy.close();
            }
        }
    }

    int port() {
        return server.getAddress().getPort();
    }

    /** The bytes a request asks of an object of some size: all of it (200), or its Range (206). */
    record Requested(long from, long to, int status) {}

    /**
     * The bytes {@code exchange} asks of an object of {@code size} bytes, with Content-Range set for a
     * range; null once a 416 is sent for a range it cannot serve.
     */
    static Requested requested(HttpExchange exchange, long size) throws IOException {
        String range = exchange.getRequestHeaders().getFirst("Range");
        if (range == null) {
            return new Requested(0, size - 1, 200);
        }
        Matcher matcher = RANGE.matcher(range);
        if (!matcher.matches() || Long.parseLong(matcher.group(1)) >= size) {
            exchange.sendResponseHeaders(416, -1);
            return null;
        }
        long from = Long.parseLong(matcher.group(1));
        long to = Math.min(Long.parseLong(matcher.group(2)), size - 1);
        exchange.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + to + "/" + size);
        return new Requested(from, to, 206);
    }

    private void serve(HttpExchange exchange) throws IOException {
        try (exchange) {
            long size = object.byteSize();
            Requested requested = requested(exchange, size);
            if (requested == null) {
                return;
            }
            long from = requested.from();
            long to = requested.to();
            int status = requested.status();
            exchange.getResponseHeaders().set("ETag", ETAG);
            exchange.getResponseHeaders().set("Accept-Ranges", "bytes");
            long length = to - from + 1;
            if (exchange.getRequestMethod().equals("HEAD")) {
                exchange.getResponseHeaders().set("Content-Length", Long.toString(size));
                exchange.sendResponseHeaders(status, -1);
                return;
            }
            exchange.sendResponseHeaders(status, length);
            OutputStream body = exchange.getResponseBody();
            byte[] block = new byte[256 * 1024];
            for (long done = 0; done < length; ) {
                int piece = (int) Math.min(block.length, length - done);
                MemorySegment.copy(object, java.lang.foreign.ValueLayout.JAVA_BYTE, from + done, block, 0, piece);
                body.write(block, 0, piece);
                done += piece;
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        arena.close();
    }
}
