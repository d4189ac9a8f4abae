package dev.anymap.backend.http;

import java.io.IOException;
import java.net.ProxySelector;
import java.net.http.HttpClient;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The HTTP clients of this JVM, one per distinct configuration, shared by every backend opened with
 * it: a client holds a selector thread and a connection pool, and thousands of mappings of one
 * server should share those rather than each open their own connections. A client is shut down when
 * the last backend using it closes.
 */
final class ClientPool {
    /**
     * What makes two clients differ. Everything else (headers, HTTP version, timeouts of a request) is
     * set per request, so that it does not split the pool.
     */
    record Config(Duration connectTimeout, HttpOptions.TrustStore trust) {}

    private static final Map<Config, Shared> CLIENTS = new HashMap<>();

    private ClientPool() {}

    private static final class Shared {
        final HttpClient client;
        final ExecutorService executor;
        int leases;

        Shared(HttpClient client, ExecutorService executor) {
            this.client = client;
            this.executor = executor;
        }
    }

    /** One backend's use of a shared client; {@link #close()} gives it back. */
    static final class Lease implements AutoCloseable {
        private final Config config;
        private final Shared shared;
        private final AtomicBoolean released = new AtomicBoolean();

        private Lease(Config config, Shared shared) {
            this.config = config;
            this.shared = shared;
        }

        HttpClient client() {
            return shared.client;
        }

        @Override
        public void close() {
            if (!released.compareAndSet(false, true)) {
                return;
            }
            synchronized (CLIENTS) {
                if (--shared.leases == 0) {
                    CLIENTS.remove(config, shared);
                    // Not close(): that waits for exchanges to end, and the backend has cancelled its own already.
                    shared.client.shutdown();
                    shared.executor.shutdown();
                }
            }
        }
    }

    /**
     * The shared client for {@code config}, built if no open backend uses one.
     *
     * @throws IOException if the trust store cannot be read
     */
    static Lease lease(Config config) throws IOException {
        synchronized (CLIENTS) {
            Shared shared = CLIENTS.get(config);
            if (shared == null) {
                // Virtual threads for the client's own tasks: with the default pool, a page server reading a
                // scan ahead held 36 platform threads for it, and their memory, beside the fetch workers.
                ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
                try {
                    shared = new Shared(build(config, executor), executor);
                } catch (IOException | RuntimeException e) {
                    executor.shutdown();
                    throw e;
                }
                CLIENTS.put(config, shared);
            }
            shared.leases++;
            return new Lease(config, shared);
        }
    }

    private static HttpClient build(Config config, ExecutorService executor) throws IOException {
        HttpClient.Builder builder = HttpClient.newBuilder()
                // Followed by hand: the final URL is remembered, and credentials stay with their origin.
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(config.connectTimeout())
                .executor(executor);
        // The selector that honours http.proxyHost, https.proxyHost, http.nonProxyHosts and friends.
        ProxySelector proxies = ProxySelector.getDefault();
        if (proxies != null) {
            builder.proxy(proxies);
        }
        if (config.trust() != null) {
            builder.sslContext(sslContext(config.trust()));
        }
        // Without a trust store option the client takes SSLContext.getDefault(), and so javax.net.ssl.trustStore.
        return builder.build();
    }

    private static SSLContext sslContext(HttpOptions.TrustStore trust) throws IOException {
        try {
            char[] password = trust.password() == null ? null : trust.password().toCharArray();
            KeyStore store = KeyStore.getInstance(trust.path().toFile(), password);
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, factory.getTrustManagers(), null);
            return context;
        } catch (IOException | GeneralSecurityException | IllegalArgumentException e) {
            // The key store's messages name the file and the failure, never the password.
            throw new IOException("cannot use trust store " + trust.path() + " (option trust-store): " + e.getMessage(), e);
        }
    }
}
