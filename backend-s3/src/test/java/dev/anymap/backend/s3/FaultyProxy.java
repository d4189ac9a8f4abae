package dev.anymap.backend.s3;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An HTTP/1.1 proxy on 127.0.0.1 in front of an S3 server that misbehaves on request: it answers 503
 * SlowDown, drops the connection halfway through a body, ends a body early with a Content-Length to
 * match, or stalls halfway through a body. Requests pass through byte for byte (their SigV4 signatures
 * stay valid, since the Host they were signed for is the one they arrive with); each is sent upstream
 * on a connection of its own, and each response closes the connection to the client.
 *
 * <p>It records the head of every request and the status of every response, so that tests can check
 * what the backend sent and what the server answered.
 */
final class FaultyProxy implements AutoCloseable {

    enum Fault {
        /** {@code 503 Slow Down} with S3's error body, as S3 answers when throttling. */
        SLOW_DOWN,
        /** Half of the body, then a TCP reset. */
        RESET_MID_BODY,
        /** Half of the body under a Content-Length that says so, then a clean close: a short body. */
        SHORT_BODY,
        /** Half of the body, then silence until the client gives up on the connection. */
        STALL_MID_BODY
    }

    private static final Pattern CONTENT_LENGTH = Pattern.compile("(?im)^content-length:\\s*(\\d+)\\s*$");
    private static final Pattern CONNECTION = Pattern.compile("(?im)^connection:[^\\r\\n]*\\r\\n");

    private final InetSocketAddress upstream;
    private final ServerSocket listener;
    private final Thread acceptor;
    private final Deque<Planned> plan = new ArrayDeque<>();
    private final List<String> requests = new ArrayList<>();
    private final List<Integer> statuses = new ArrayList<>();
    private final AtomicInteger faultsServed = new AtomicInteger();
    private volatile boolean denyPresigned;
    private int requestsAtOpen;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();

    private record Planned(String method, Fault fault) {}

    FaultyProxy(URI upstream) throws IOException {
        this.upstream = new InetSocketAddress(upstream.getHost(), upstream.getPort());
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = Thread.ofPlatform().daemon().name("faulty-proxy-accept").start(this::accept);
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + listener.getLocalPort());
    }

    /** The next {@code times} requests with this method (GET, HEAD) get {@code fault}, after those planned before. */
    synchronized FaultyProxy inject(String method, Fault fault, int times) {
        for (int i = 0; i < times; i++) {
            plan.add(new Planned(method, fault));
        }
        return this;
    }

    /**
     * Whether to answer every request signed in its query string (a presigned URL) 403 AccessDenied, as
     * S3 does under a bucket policy that denies {@code s3:authType REST-QUERY-STRING}.
     */
    FaultyProxy denyPresigned(boolean deny) {
        denyPresigned = deny;
        return this;
    }

    /**
     * Opens {@code uri} through this proxy, with {@code server}'s options and {@code extraOptions}
     * (name, value, ...); {@link #getsSinceOpen} lists the GETs that follow.
     */
    StorageBackend open(S3TestServer server, URI uri, String... extraOptions) throws IOException {
        Map<String, String> options = new HashMap<>(server.options(endpoint()));
        for (int i = 0; i < extraOptions.length; i += 2) {
            options.put(extraOptions[i], extraOptions[i + 1]);
        }
        StorageBackend backend = BackendRegistry.load().open(uri, options);
        synchronized (this) {
            requestsAtOpen = requests.size();
        }
        return backend;
    }

    /** The GETs since the last {@link #open} (request line and headers), in the order they came. */
    synchronized List<String> getsSinceOpen() {
        return requests.subList(requestsAtOpen, requests.size()).stream().filter(request -> request.startsWith("GET ")).toList();
    }

    /** The heads of every request so far (request line and headers), in the order they came. */
    synchronized List<String> requests() {
        return List.copyOf(requests);
    }

    /** The status of every response sent so far, the injected ones included. */
    synchronized List<Integer> statuses() {
        return List.copyOf(statuses);
    }

    int faultsServed() {
        return faultsServed.get();
    }

    private synchronized Fault next(String method) {
        for (var it = plan.iterator(); it.hasNext(); ) {
            Planned planned = it.next();
            if (planned.method.equals(method)) {
                it.remove();
                return planned.fault;
            }
        }
        return null;
    }

    private synchronized void record(String head) {
        requests.add(head);
    }

    private synchronized void recordStatus(int status) {
        statuses.add(status);
    }

    private void accept() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                open.add(client);
                Thread.ofVirtual().name("faulty-proxy-connection").start(() -> serve(client));
            } catch (IOException stopped) {
                return;
            }
        }
    }

    private void serve(Socket client) {
        try (client) {
            InputStream fromClient = client.getInputStream();
            byte[] head = readHead(fromClient);
            if (head == null) {
                return;
            }
            String headText = new String(head, StandardCharsets.ISO_8859_1);
            int bodyLength = contentLength(headText);
            byte[] body = fromClient.readNBytes(Math.max(bodyLength, 0));
            record(headText);
            String method = headText.substring(0, headText.indexOf(' '));
            Fault fault = next(method);
            OutputStream toClient = client.getOutputStream();
            if (fault == Fault.SLOW_DOWN) {
                faultsServed.incrementAndGet();
                slowDown(toClient, method.equals("HEAD"));
                return;
            }
            if (denyPresigned && headText.substring(0, headText.indexOf('\r')).contains("X-Amz-Signature=")) {
                if (fault != null) {
                    inject(method, fault, 1); // for the request that gets through
                }
                error(toClient, 403, "Forbidden", "AccessDenied", "Access Denied", method.equals("HEAD"));
                return;
            }
            try (Socket server = new Socket()) {
                open.add(server);
                server.connect(upstream);
                OutputStream toServer = server.getOutputStream();
                toServer.write(withConnectionClose(headText).getBytes(StandardCharsets.ISO_8859_1));
                toServer.write(body);
                toServer.flush();
                InputStream fromServer = server.getInputStream();
                byte[] responseHead = readHead(fromServer);
                if (responseHead == null) {
                    return;
                }
                String responseText = new String(responseHead, StandardCharsets.ISO_8859_1);
                recordStatus(Integer.parseInt(responseText.substring(9, 12)));
                int length = contentLength(responseText);
                if (fault != null && length > 1 && !method.equals("HEAD")) {
                    faultsServed.incrementAndGet();
                    misbehave(fault, client, toClient, fromServer, responseText, length / 2);
                    return;
                }
                if (fault != null) {
                    // Nothing to break in a response without a body: the fault waits for the next request.
                    inject(method, fault, 1);
                }
                toClient.write(withConnectionClose(responseText).getBytes(StandardCharsets.ISO_8859_1));
                fromServer.transferTo(toClient);
                toClient.flush();
            } finally {
                open.removeIf(Socket::isClosed);
            }
        } catch (IOException broken) {
            // The client gave up or the proxy closed: nothing more to serve on this connection.
        }
    }

    private void misbehave(Fault fault, Socket client, OutputStream toClient, InputStream fromServer, String head,
            int half) throws IOException {
        String sentHead = withConnectionClose(head);
        if (fault == Fault.SHORT_BODY) {
            sentHead = CONTENT_LENGTH.matcher(sentHead).replaceFirst("Content-Length: " + half);
        }
        toClient.write(sentHead.getBytes(StandardCharsets.ISO_8859_1));
        toClient.write(fromServer.readNBytes(half));
        toClient.flush();
        switch (fault) {
            case RESET_MID_BODY -> client.setSoLinger(true, 0);
            case STALL_MID_BODY -> {
                // Silence until the client closes its end (its read timeout) or the proxy closes.
                try {
                    while (client.getInputStream().read() >= 0) {
                        // a client does not send on a connection that awaits a response
                    }
                } catch (SocketException closedMeanwhile) {
                    // either end closed
                }
            }
            default -> { }
        }
    }

    private void slowDown(OutputStream toClient, boolean head) throws IOException {
        error(toClient, 503, "Slow Down", "SlowDown", "Please reduce your request rate.", head);
    }

    private void error(OutputStream toClient, int status, String reason, String code, String message, boolean head) throws IOException {
        byte[] body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code>"
                + "<Message>" + message + "</Message><RequestId>faulty-proxy</RequestId></Error>")
                .getBytes(StandardCharsets.UTF_8);
        String response = "HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: application/xml\r\nContent-Length: " + body.length
                + "\r\nConnection: close\r\n\r\n";
        recordStatus(status);
        toClient.write(response.getBytes(StandardCharsets.ISO_8859_1));
        if (!head) {
            toClient.write(body);
        }
        toClient.flush();
    }

    /** {@code head} with any Connection header replaced by {@code Connection: close}. */
    private static String withConnectionClose(String head) {
        String without = CONNECTION.matcher(head).replaceAll("");
        return without.substring(0, without.length() - 2) + "Connection: close\r\n\r\n";
    }

    private static int contentLength(String head) {
        Matcher matcher = CONTENT_LENGTH.matcher(head);
        return matcher.find() ? Integer.parseInt(matcher.group(1)) : -1;
    }

    /** The bytes up to and including the blank line that ends a head, or null at end of stream. */
    private static byte[] readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            head.write(b);
            matched = (b == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toByteArray();
    }

    static String header(String head, String name) {
        Matcher matcher = Pattern.compile("(?im)^" + Pattern.quote(name.toLowerCase(Locale.ROOT)) + ":\\s*([^\\r\\n]*)").matcher(head);
        return matcher.find() ? matcher.group(1).strip() : null;
    }

    @Override
    public void close() throws IOException {
        listener.close();
        for (Socket socket : open) {
            socket.close();
        }
        try {
            acceptor.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
