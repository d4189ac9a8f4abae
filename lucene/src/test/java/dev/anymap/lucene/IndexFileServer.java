package dev.anymap.lucene;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An HTTP/1.1 server of the files of one directory under {@code /index/}, with ETags and byte ranges,
 * as a static file server or a CDN serves an index. It runs in a process of its own ({@link #start}),
 * never in the JVM that maps what it serves (see README: a fault would wait on a safepoint it holds up).
 */
public final class IndexFileServer {
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-(\\d+)");

    private IndexFileServer() {}

    /** Serves DIR; prints {@code PORT n}; runs until standard input closes. */
    public static void main(String[] args) throws Exception {
        Path directory = Path.of(args[0]);
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.createContext("/index/", exchange -> serve(directory, exchange));
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.start();
        System.out.println("PORT " + server.getAddress().getPort());
        System.out.flush();
        while (System.in.read() >= 0) {
            // until the parent closes our standard input, or dies
        }
        server.stop(0);
    }

    /** Starts a server of {@code directory} in a child JVM on this JVM's class path; returns it and its port. */
    static Child start(Path directory) throws IOException {
        Process process = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), IndexFileServer.class.getName(), directory.toString()))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String line = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)).readLine();
        if (line == null || !line.startsWith("PORT ")) {
            process.destroyForcibly();
            throw new IOException("the index file server did not start (it printed " + line + ")");
        }
        return new Child(process, Integer.parseInt(line.substring(5)));
    }

    record Child(Process process, int port) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            process.getOutputStream().close();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }
    }

    private static void serve(Path directory, HttpExchange exchange) throws IOException {
        try (exchange) {
            String name = exchange.getRequestURI().getPath().substring("/index/".length());
            Path file = directory.resolve(name);
            if (name.isEmpty() || name.contains("/") || !Files.isRegularFile(file)) {
                exchange.sendResponseHeaders(404, -1);
                return;
            }
            byte[] bytes = Files.readAllBytes(file);
            String etag = "\"" + HexFormat.of().toHexDigits(java.util.Arrays.hashCode(bytes)) + "-" + bytes.length + "\"";
            exchange.getResponseHeaders().set("ETag", etag);
            exchange.getResponseHeaders().set("Accept-Ranges", "bytes");
            String ifMatch = exchange.getRequestHeaders().getFirst("If-Match");
            if (ifMatch != null && !ifMatch.equals(etag)) {
                exchange.sendResponseHeaders(412, -1);
                return;
            }
            boolean head = exchange.getRequestMethod().equals("HEAD");
            String range = exchange.getRequestHeaders().getFirst("Range");
            if (range == null) {
                exchange.getResponseHeaders().set("Content-Length", Integer.toString(bytes.length));
                exchange.sendResponseHeaders(200, head ? -1 : bytes.length);
                if (!head) {
                    try (OutputStream body = exchange.getResponseBody()) {
                        body.write(bytes);
                    }
                }
                return;
            }
            Matcher matcher = RANGE.matcher(range);
            if (!matcher.matches() || Long.parseLong(matcher.group(1)) >= bytes.length) {
                exchange.getResponseHeaders().set("Content-Range", "bytes */" + bytes.length);
                exchange.sendResponseHeaders(416, -1);
                return;
            }
            int first = Integer.parseInt(matcher.group(1));
            int last = (int) Math.min(Long.parseLong(matcher.group(2)), bytes.length - 1);
            exchange.getResponseHeaders().set("Content-Range", "bytes " + first + "-" + last + "/" + bytes.length);
            exchange.sendResponseHeaders(206, head ? -1 : last - first + 1);
            if (!head) {
                try (OutputStream body = exchange.getResponseBody()) {
                    body.write(bytes, first, last - first + 1);
                }
            }
        }
    }
}
