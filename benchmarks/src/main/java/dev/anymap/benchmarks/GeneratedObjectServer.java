package dev.anymap.benchmarks;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.anymap.backend.memory.MemoryObjects;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An HTTP/1.1 server on loopback that serves objects larger than memory without holding them: the
 * object at {@code /SEED/SIZE} is the generated {@code mem:} content of that seed
 * ({@link MemoryObjects#generatedContent}), each range computed as it is sent. A {@code mem:} object
 * is materialised whole in the page server, which would put the object in the memory a budget is
 * meant to bound; a file would do without, but the kernel maps {@code file:} objects itself, with no
 * page server and no budget in the path. Byte ranges and a strong ETag make the HTTP backend fetch
 * it chunk by chunk, as it fetches from any web server.
 *
 * <p>It runs in a process of its own ({@link #main}), for the reason given in {@link RangeServer}.
 */
public final class GeneratedObjectServer implements AutoCloseable {
    private static final Pattern PATH = Pattern.compile("/(\\d+)/(\\d+)");
    private static final int BLOCK = 256 * 1024;

    private final HttpServer server;

    GeneratedObjectServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.createContext("/", this::serve);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.start();
    }

    /** The URI of the object of {@code size} bytes generated from {@code seed}, served at {@code port}. */
    static URI uri(int port, long seed, long size) {
        return URI.create("http://127.0.0.1:" + port + "/" + seed + "/" + size);
    }

    /**
     * Starts serving; prints {@code PORT n} on one line and runs until standard input closes.
     *
     * <pre>GeneratedObjectServer</pre>
     */
    public static void main(String[] args) throws Exception {
        try (GeneratedObjectServer server = new GeneratedObjectServer()) {
            System.out.println("PORT " + server.server.getAddress().getPort());
            System.out.flush();
            while (System.in.read() >= 0) {
                // Until the benchmark that started this process closes its end.
            }
        }
    }

    /** Starts one in a child process; {@link ChildServer#close} ends it. */
    static ChildServer start() throws IOException {
        Process process = new ProcessBuilder(Harness.javaCommand(GeneratedObjectServer.class))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String line = new java.io.BufferedReader(new java.io.InputStreamReader(process.getInputStream())).readLine();
        if (line == null || !line.startsWith("PORT ")) {
            process.destroyForcibly();
            throw new IOException("the generated object server did not start: it printed " + line);
        }
        return new ChildServer(process, Integer.parseInt(line.substring("PORT ".length())));
    }

    /** A server in a child process, ended by closing its standard input. */
    record ChildServer(Process process, int port) implements AutoCloseable {
        URI uri(long seed, long size) {
            return GeneratedObjectServer.uri(port, seed, size);
        }

        @Override
        public void close() throws IOException {
            process.getOutputStream().close();
            try {
                if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    private void serve(HttpExchange exchange) throws IOException {
        try (exchange) {
            Matcher path = PATH.matcher(exchange.getRequestURI().getPath());
            if (!path.matches()) {
                exchange.sendResponseHeaders(404, -1);
                return;
            }
            long seed = Long.parseLong(path.group(1));
            long size = Long.parseLong(path.group(2));
            RangeServer.Requested requested = RangeServer.requested(exchange, size);
            if (requested == null) {
                return;
            }
            long from = requested.from();
            long to = requested.to();
            int status = requested.status();
            exchange.getResponseHeaders().set("ETag", "\"" + seed + "-" + size + "\"");
            exchange.getResponseHeaders().set("Accept-Ranges", "bytes");
            if (exchange.getRequestMethod().equals("HEAD")) {
                exchange.getResponseHeaders().set("Content-Length", Long.toString(size));
                exchange.sendResponseHeaders(status, -1);
                return;
            }
            long length = to - from + 1;
            exchange.sendResponseHeaders(status, length);
            MemoryObjects.Generator content = MemoryObjects.generatedContent(seed);
            OutputStream body = exchange.getResponseBody();
            byte[] block = new byte[BLOCK];
            MemorySegment blockSegment = MemorySegment.ofArray(block);
            for (long done = 0; done < length; ) {
                int piece = (int) Math.min(BLOCK, length - done);
                content.fill(from + done, blockSegment.asSlice(0, piece));
                body.write(block, 0, piece);
                done += piece;
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
