package dev.anymap.backend.http;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP/1.1 server on 127.0.0.1 written straight onto sockets, for the failures a proper server
 * will not commit: a body cut off before its Content-Length, a body that stops mid-way, a connection
 * dropped without an answer. Each request goes to a script, which writes the raw answer.
 */
final class RawServer implements AutoCloseable {

    /** A request head; header names in lower case. {@code number} counts from 1 across connections. */
    record RawRequest(int number, String method, String target, Map<String, String> headers) {
        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    /** Answers one request; returns false to close the connection after it. */
    @FunctionalInterface
    interface Script {
        boolean answer(RawRequest request, OutputStream out) throws Exception;
    }

    final List<RawRequest> requests = new CopyOnWriteArrayList<>();
    private final ServerSocket socket;
    private final Script script;
    private final AtomicInteger count = new AtomicInteger();
    private final Set<Socket> connections = ConcurrentHashMap.newKeySet();
    private final CountDownLatch closing = new CountDownLatch(1);
    private final Thread acceptor;

    RawServer(Script script) throws IOException {
        this.socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.script = script;
        this.acceptor = Thread.ofVirtual().name("raw-server-accept").start(this::accept);
    }

    URI uri(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + socket.getLocalPort() + pathAndQuery);
    }

    /** Blocks a script (a body that stalls) until the server closes: no timer, only the client's own timeout ends it. */
    void hold() throws InterruptedException {
        closing.await();
    }

    private void accept() {
        while (!socket.isClosed()) {
            try {
                Socket connection = socket.accept();
                connections.add(connection);
                Thread.ofVirtual().name("raw-server-connection").start(() -> serve(connection));
            } catch (IOException closed) {
                return;
            }
        }
    }

    private void serve(Socket connection) {
        try (connection) {
            InputStream in = connection.getInputStream();
            OutputStream out = connection.getOutputStream();
            while (true) {
                String head = readHead(in);
                if (head == null) {
                    return;
                }
                String[] lines = head.split("\r\n");
                String[] requestLine = lines[0].split(" ");
                Map<String, String> headers = new HashMap<>();
                for (int i = 1; i < lines.length; i++) {
                    int colon = lines[i].indexOf(':');
                    headers.put(lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).strip());
                }
                RawRequest request = new RawRequest(count.incrementAndGet(), requestLine[0], requestLine[1], headers);
                requests.add(request);
                if (!script.answer(request, out)) {
                    return;
                }
                out.flush();
            }
        } catch (Exception dropped) {
            // The client went away, or the script ended the connection its own way.
        } finally {
            connections.remove(connection);
        }
    }

    /** The request line and headers, or null at the end of the connection. The tests' requests have no body. */
    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        for (int b; (b = in.read()) >= 0; ) {
            head.write(b);
            matched = (b == '\r' && (matched == 0 || matched == 2)) || (b == '\n' && (matched == 1 || matched == 3)) ? matched + 1 : 0;
            if (matched == 4) {
                return head.toString(StandardCharsets.ISO_8859_1);
            }
        }
        return null;
    }

    /** Writes a status line and headers, ending the head. */
    static void head(OutputStream out, String status, String... headers) throws IOException {
        StringBuilder text = new StringBuilder("HTTP/1.1 ").append(status).append("\r\n");
        for (String header : headers) {
            text.append(header).append("\r\n");
        }
        out.write(text.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
    }

    @Override
    public void close() throws IOException {
        closing.countDown();
        socket.close();
        for (Socket connection : connections) {
            connection.close();
        }
        try {
            acceptor.join();
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while stopping the raw server", interrupted);
        }
    }
}
