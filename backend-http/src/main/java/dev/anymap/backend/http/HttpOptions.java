package dev.anymap.backend.http;

import dev.anymap.spi.Redaction;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The backend options of one {@code open}, checked and parsed.
 *
 * @param headers the user's request headers (names as given), sent only to the origin they were given for
 * @param connectTimeout how long a TCP and TLS connect may take
 * @param readTimeout how long a request may wait for its response headers, and a body for its next bytes
 * @param maxAttempts tries per request, the first included
 * @param httpVersion which HTTP version requests ask for
 * @param allowFullDownload whether a server that ignores ranges is downloaded whole instead of refused
 * @param trust where server certificates are checked against, or null for the JDK's default
 */
record HttpOptions(Map<String, String> headers, Duration connectTimeout, Duration readTimeout, int maxAttempts,
        HttpVersion httpVersion, boolean allowFullDownload, TrustStore trust) {

    static final String AUTHORIZATION = "authorization";
    static final String BEARER_TOKEN = "bearer-token";
    static final String HEADERS = "headers";
    static final String CONNECT_TIMEOUT_MS = "connect-timeout-ms";
    static final String READ_TIMEOUT_MS = "read-timeout-ms";
    static final String MAX_ATTEMPTS = "max-attempts";
    static final String HTTP_VERSION = "http-version";
    static final String ALLOW_FULL_DOWNLOAD = "allow-full-download";
    static final String TRUST_STORE = "trust-store";
    static final String TRUST_STORE_PASSWORD = "trust-store-password";

    static final Set<String> SUPPORTED = Set.of(AUTHORIZATION, BEARER_TOKEN, HEADERS, CONNECT_TIMEOUT_MS,
            READ_TIMEOUT_MS, MAX_ATTEMPTS, HTTP_VERSION, ALLOW_FULL_DOWNLOAD, TRUST_STORE, TRUST_STORE_PASSWORD);
    /** Every option that can carry a credential; {@code headers} whole, since any header may be one. */
    static final Set<String> SECRET = Set.of(AUTHORIZATION, BEARER_TOKEN, HEADERS, TRUST_STORE_PASSWORD);

    static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
    static final Duration DEFAULT_READ_TIMEOUT = Duration.ofSeconds(30);
    static final int DEFAULT_MAX_ATTEMPTS = 5;

    /**
     * Headers that this backend sets itself to keep ranges exact and versions unmixed, or that the
     * HTTP client owns; a user value for one would silently break either.
     */
    private static final Set<String> RESERVED_HEADERS = Set.of("range", "if-match", "if-none-match",
            "if-modified-since", "if-unmodified-since", "if-range", "accept-encoding", "host", "connection",
            "content-length", "expect", "upgrade", "te", "transfer-encoding", "keep-alive", "http2-settings");

    /** Which HTTP version requests ask for. */
    enum HttpVersion {
        /** HTTP/2 where TLS can negotiate it (falling back to 1.1), HTTP/1.1 over plain TCP. */
        AUTO,
        HTTP_1_1,
        /** HTTP/2 everywhere: through ALPN over TLS, through an h2c upgrade over plain TCP. */
        HTTP_2
    }

    /**
     * A trust store for server certificates.
     *
     * @param path the key store file (PKCS12 or JKS)
     * @param password its password, or null to read its certificates without checking its integrity
     */
    record TrustStore(Path path, String password) {
        @Override
        public String toString() {
            return "TrustStore[" + path + (password == null ? "" : ", password ****") + "]";
        }
    }

    /**
     * Checks and parses {@code options} for {@code uri}.
     *
     * @throws IllegalArgumentException naming the option (never a secret value) when one is unknown or malformed
     */
    static HttpOptions parse(URI uri, Map<String, String> options) {
        for (String key : options.keySet()) {
            if (!SUPPORTED.contains(key)) {
                throw new IllegalArgumentException("option '" + key + "' is not one the 'http' backend understands (for "
                        + Redaction.uri(uri) + "); it understands " + new TreeSet<>(SUPPORTED));
            }
        }
        Map<String, String> headers = new LinkedHashMap<>();
        String rawHeaders = options.get(HEADERS);
        if (rawHeaders != null) {
            for (String line : rawHeaders.split("\r?\n")) {
                if (line.isBlank()) {
                    continue;
                }
                int colon = line.indexOf(':');
                if (colon <= 0) {
                    // The line is not quoted: it may be a credential with its name mistyped.
                    throw new IllegalArgumentException("option headers: a line is not 'Name: value' (for " + Redaction.uri(uri)
                            + "); headers are given one per line");
                }
                addHeader(uri, headers, line.substring(0, colon).strip(), line.substring(colon + 1).strip());
            }
        }
        String authorization = options.get(AUTHORIZATION);
        String bearer = options.get(BEARER_TOKEN);
        if (authorization != null && bearer != null) {
            throw new IllegalArgumentException("options authorization and bearer-token both set an Authorization header (for "
                    + Redaction.uri(uri) + "); give one");
        }
        if (bearer != null) {
            authorization = "Bearer " + bearer.strip();
        }
        String userInfo = uri.getUserInfo();
        if (authorization == null && userInfo != null && !hasHeader(headers, "authorization")) {
            // Basic credentials are always user:password, with an empty password where the URI gives none.
            String credentials = userInfo.contains(":") ? userInfo : userInfo + ":";
            authorization = "Basic " + Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8));
        }
        if (authorization != null) {
            if (hasHeader(headers, "authorization")) {
                throw new IllegalArgumentException("an Authorization header is given twice, in option headers and in "
                        + (options.containsKey(AUTHORIZATION) ? AUTHORIZATION : BEARER_TOKEN) + " (for " + Redaction.uri(uri) + ")");
            }
            addHeader(uri, headers, "Authorization", authorization.strip());
        }

        String version = options.getOrDefault(HTTP_VERSION, "auto").strip().toLowerCase(Locale.ROOT);
        HttpVersion httpVersion = switch (version) {
            case "auto" -> HttpVersion.AUTO;
            case "1.1", "http/1.1" -> HttpVersion.HTTP_1_1;
            case "2", "http/2", "h2" -> HttpVersion.HTTP_2;
            default -> throw new IllegalArgumentException("option http-version is auto, 1.1 or 2, not '" + version
                    + "' (for " + Redaction.uri(uri) + ")");
        };
        String fullDownload = options.getOrDefault(ALLOW_FULL_DOWNLOAD, "false");
        if (!fullDownload.equals("true") && !fullDownload.equals("false")) {
            throw new IllegalArgumentException("option allow-full-download is true or false, not '" + fullDownload
                    + "' (for " + Redaction.uri(uri) + ")");
        }
        String trustStore = options.get(TRUST_STORE);
        String trustPassword = options.get(TRUST_STORE_PASSWORD);
        if (trustStore == null && trustPassword != null) {
            throw new IllegalArgumentException("option trust-store-password is given without trust-store (for "
                    + Redaction.uri(uri) + ")");
        }
        return new HttpOptions(Map.copyOf(headers),
                Duration.ofMillis(positive(uri, options, CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT.toMillis())),
                Duration.ofMillis(positive(uri, options, READ_TIMEOUT_MS, DEFAULT_READ_TIMEOUT.toMillis())),
                Math.toIntExact(Math.min(1000, positive(uri, options, MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS))),
                httpVersion, fullDownload.equals("true"),
                trustStore == null ? null : new TrustStore(Path.of(trustStore).toAbsolutePath(), trustPassword));
    }

    /** The values that must never be printed: every header the user gave may be a credential. */
    List<String> secretValues() {
        List<String> secrets = new ArrayList<>();
        for (String value : headers.values()) {
            secrets.add(value);
            // "Bearer TOKEN", "Basic BASE64": the credential may be printed without its scheme.
            int space = value.indexOf(' ');
            if (space > 0) {
                secrets.add(value.substring(space + 1).strip());
            }
        }
        if (trust != null && trust.password() != null) {
            secrets.add(trust.password());
        }
        return secrets;
    }

    @Override
    public String toString() {
        return "HttpOptions[headers " + headers.keySet() + " (values ****), connect timeout " + connectTimeout
                + ", read timeout " + readTimeout + ", max attempts " + maxAttempts + ", " + httpVersion
                + (allowFullDownload ? ", full download allowed" : "") + (trust == null ? "" : ", " + trust) + "]";
    }

    private static void addHeader(URI uri, Map<String, String> headers, String name, String value) {
        if (name.isEmpty() || !name.chars().allMatch(HttpOptions::isTokenChar)) {
            throw new IllegalArgumentException("option headers: '" + name + "' is not a valid header name (for "
                    + Redaction.uri(uri) + ")");
        }
        if (RESERVED_HEADERS.contains(name.toLowerCase(Locale.ROOT))) {
            throw new IllegalArgumentException("header " + name + " is set by the http backend itself, so that ranges and "
                    + "versions stay exact; it cannot be given as an option (for " + Redaction.uri(uri) + ")");
        }
        if (!value.chars().allMatch(c -> c == '\t' || (c >= 0x20 && c != 0x7f))) {
            // The value itself is never quoted: it may be a credential.
            throw new IllegalArgumentException("header " + name + " has a value with control characters (for "
                    + Redaction.uri(uri) + ")");
        }
        if (hasHeader(headers, name)) {
            throw new IllegalArgumentException("header " + name + " is given twice (for " + Redaction.uri(uri) + ")");
        }
        headers.put(name, value);
    }

    private static boolean hasHeader(Map<String, String> headers, String name) {
        return headers.keySet().stream().anyMatch(existing -> existing.equalsIgnoreCase(name));
    }

    private static boolean isTokenChar(int c) {
        return c > 0x20 && c < 0x7f && "\"(),/:;<=>?@[\\]{}".indexOf(c) < 0;
    }

    private static long positive(URI uri, Map<String, String> options, String key, long fallback) {
        String value = options.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            long parsed = Long.parseLong(value.strip());
            if (parsed > 0) {
                return parsed;
            }
        } catch (NumberFormatException notANumber) {
            // Reported below, with the same message as a number out of range.
        }
        throw new IllegalArgumentException("option " + key + " is a whole number above 0, not '" + value + "' (for "
                + Redaction.uri(uri) + ")");
    }
}
