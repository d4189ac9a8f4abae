package dev.anymap.backend.http;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.net.URI;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Serves {@code http:} and {@code https:} URIs of resources that support byte ranges (a file on a
 * web server, a CDN object, a presigned S3 URL) through {@link java.net.http.HttpClient}.
 *
 * <p>{@code open} learns the size, the validator and the final URL (after redirects) from a HEAD, or
 * from a {@code GET} of {@code bytes=0-0} where HEAD is refused; every read is then one ranged GET to
 * that final URL, preconditioned on the opened version ({@code If-Match} with a strong ETag, else
 * {@code If-Unmodified-Since}), so bytes of two versions are never mixed: a changed resource fails
 * the read with {@link dev.anymap.spi.ObjectChangedException}. Every request asks for
 * {@code Accept-Encoding: identity}. 5xx, 429 (after its Retry-After), 408, timeouts and dropped
 * connections are retried with backoff.
 *
 * <p>Options:
 * <ul>
 *   <li>{@code authorization} (secret): the value of an Authorization header, such as
 *       {@code Basic dXNlcjpwYXNz}. User info in the URI ({@code https://user:pass@host/}) is sent as
 *       Basic authorization when this is not given.
 *   <li>{@code bearer-token} (secret): shorthand for {@code authorization=Bearer TOKEN}.
 *   <li>{@code headers} (secret, as any header may hold a credential): more request headers, one
 *       {@code Name: value} per line. Range, conditional, encoding and connection headers are the
 *       backend's own and refused here.
 *   <li>{@code connect-timeout-ms} (default 10000), {@code read-timeout-ms} (default 30000: the
 *       longest wait for response headers, and for the next bytes of a body).
 *   <li>{@code max-attempts} (default 5): tries per request, the first included.
 *   <li>{@code http-version}: {@code auto} (default: HTTP/2 over TLS where the server offers it,
 *       HTTP/1.1 over plain TCP), {@code 1.1}, or {@code 2} (also over plain TCP, by h2c upgrade).
 *   <li>{@code allow-full-download} (default false): a server that ignores ranges is downloaded
 *       whole at open into a temporary file only the user can read, instead of refused.
 *   <li>{@code trust-store}, {@code trust-store-password} (secret): a PKCS12 or JKS file of trusted
 *       certificates, for a server with a private CA; without it the JDK's default trust applies,
 *       including the {@code javax.net.ssl.trustStore} properties.
 * </ul>
 *
 * <p>The user's headers go only to the origin of the URI they were given for; a redirect to another
 * host (a CDN, a presigned URL) is followed without them. Proxies come from the JDK's standard
 * properties ({@code https.proxyHost}, {@code http.nonProxyHosts}, ...). Clients are shared by every
 * backend with the same connect timeout and trust store.
 */
public final class HttpBackendProvider implements BackendProvider {
    /** The provider that {@link java.util.ServiceLoader} finds. */
    public HttpBackendProvider() {}


    @Override
    public String name() {
        return "http";
    }

    @Override
    public Set<String> schemes() {
        return Set.of("http", "https");
    }

    @Override
    public Set<String> supportedOptions() {
        return HttpOptions.SUPPORTED;
    }

    @Override
    public Set<String> secretOptions() {
        return HttpOptions.SECRET;
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new IllegalArgumentException(Redaction.uri(uri) + " is not an http: or https: URL");
        }
        if (uri.isOpaque() || uri.getHost() == null) {
            throw new IllegalArgumentException(Redaction.uri(uri) + " has no host; an http URL is http://HOST[:PORT]/PATH");
        }
        Transport transport = Transport.open(uri, HttpOptions.parse(uri, options));
        try {
            return Opener.open(transport);
        } catch (IOException | RuntimeException e) {
            transport.close();
            throw e;
        }
    }
}
