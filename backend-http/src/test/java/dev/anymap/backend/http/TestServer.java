package dev.anymap.backend.http;

import java.io.IOException;
import java.net.URI;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.http2.server.HTTP2ServerConnectionFactory;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * A Jetty 12 server on 127.0.0.1 for one test class, speaking one of the four ways the backend must
 * work over, and recording every request it was sent.
 */
final class TestServer implements AutoCloseable {

    /** How the server talks. */
    enum Mode {
        HTTP_1_1(false, "1.1", "HTTP/1.1"),
        /** HTTP/2 over plain TCP, reached by the client through an h2c upgrade. */
        H2C(false, "2", "HTTP/2.0"),
        HTTPS_1_1(true, "1.1", "HTTP/1.1"),
        /** HTTP/2 over TLS, chosen through ALPN. */
        HTTPS_2(true, "2", "HTTP/2.0");

        final boolean tls;
        final String clientVersion;
        final String serverVersion;

        Mode(boolean tls, String clientVersion, String serverVersion) {
            this.tls = tls;
            this.clientVersion = clientVersion;
            this.serverVersion = serverVersion;
        }
    }

    /** A request as it reached the server; header names in lower case. */
    record Seen(String method, String target, Map<String, String> headers, String version) {
        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    /** What a test serves; true if it handled the request (else 404). */
    @FunctionalInterface
    interface Script {
        boolean handle(Request request, Response response, Callback callback) throws Exception;
    }

    final Mode mode;
    final List<Seen> requests = new CopyOnWriteArrayList<>();
    private final Server server;
    private final ServerConnector connector;

    private TestServer(Mode mode, Server server, ServerConnector connector) {
        this.mode = mode;
        this.server = server;
        this.connector = connector;
    }

    static TestServer start(Mode mode, Script script) throws Exception {
        Handler.Abstract handler = new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                return script.handle(request, response, callback);
            }
        };
        return start(mode, handler);
    }

    static TestServer start(Mode mode, Handler handler) throws Exception {
        QueuedThreadPool threads = new QueuedThreadPool(32, 4);
        threads.setName("test-server");
        Server server = new Server(threads);
        HttpConfiguration config = new HttpConfiguration();
        config.setSendServerVersion(false);
        HttpConnectionFactory http1 = new HttpConnectionFactory(config);
        ConnectionFactory[] factories;
        switch (mode) {
            case HTTP_1_1 -> factories = new ConnectionFactory[] {http1};
            case H2C -> factories = new ConnectionFactory[] {http1, new HTTP2CServerConnectionFactory(config)};
            case HTTPS_1_1 -> {
                config.addCustomizer(new SecureRequestCustomizer(false));
                factories = new ConnectionFactory[] {new SslConnectionFactory(tls(), "http/1.1"), http1};
            }
            case HTTPS_2 -> {
                config.addCustomizer(new SecureRequestCustomizer(false));
                ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory();
                alpn.setDefaultProtocol("http/1.1");
                factories = new ConnectionFactory[] {new SslConnectionFactory(tls(), alpn.getProtocol()), alpn,
                        new HTTP2ServerConnectionFactory(config), http1};
            }
            default -> throw new IllegalArgumentException(mode.toString());
        }
        ServerConnector connector = new ServerConnector(server, factories);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        TestServer testServer = new TestServer(mode, server, connector);
        server.setHandler(new Handler.Wrapper(handler) {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                Map<String, String> headers = new HashMap<>();
                request.getHeaders().forEach(field -> headers.merge(field.getLowerCaseName(), field.getValue(), (a, b) -> a + ", " + b));
                testServer.requests.add(new Seen(request.getMethod(), request.getHttpURI().getPathQuery(), headers,
                        request.getConnectionMetaData().getHttpVersion().asString()));
                return super.handle(request, response, callback);
            }
        });
        server.start();
        return testServer;
    }

    private static SslContextFactory.Server tls() throws IOException {
        SslContextFactory.Server tls = new SslContextFactory.Server();
        tls.setKeyStorePath(TestCertificates.keyStore().toString());
        tls.setKeyStorePassword(TestCertificates.PASSWORD);
        tls.setKeyStoreType("PKCS12");
        return tls;
    }

    int port() {
        return connector.getLocalPort();
    }

    URI uri(String pathAndQuery) {
        return URI.create((mode.tls ? "https" : "http") + "://127.0.0.1:" + port() + pathAndQuery);
    }

    /** The options that let a client reach this server the way it talks: its HTTP version, and trust in its certificate. */
    Map<String, String> clientOptions() throws IOException {
        Map<String, String> options = new HashMap<>();
        options.put(HttpOptions.HTTP_VERSION, mode.clientVersion);
        if (mode.tls) {
            options.put(HttpOptions.TRUST_STORE, TestCertificates.trustStore().toString());
            options.put(HttpOptions.TRUST_STORE_PASSWORD, TestCertificates.PASSWORD);
        }
        return options;
    }

    /** The requests sent with {@code method}. */
    List<Seen> requests(String method) {
        return requests.stream().filter(seen -> seen.method().equals(method)).toList();
    }

    @Override
    public void close() throws IOException {
        try {
            server.stop();
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while stopping the test server", interrupted);
        } catch (Exception e) {
            throw new IOException("cannot stop the test server", e);
        }
    }
}
