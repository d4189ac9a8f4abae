package dev.anymap.backend.s3;

import dev.anymap.spi.Redaction;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * The client configuration one set of backend options asks for. Equal settings share one S3 client
 * (see {@link S3Clients}), so this is also the key of that cache: it holds the options as given, and
 * what the SDK finds in its standard places (environment, system properties, profiles) is looked up
 * when the client is built.
 *
 * <p>{@link #toString()} masks the secrets; {@link #scrub} masks them in any text.
 */
record S3Settings(
        URI endpoint,
        String region,
        boolean pathStyle,
        String profile,
        String accessKeyId,
        String secretAccessKey,
        String sessionToken,
        boolean anonymous,
        boolean pageServerCredentials,
        int maxConnections,
        Duration connectTimeout,
        Duration readTimeout,
        Duration attemptTimeout,
        int maxAttempts) {

    static final String ENDPOINT = "endpoint";
    static final String REGION = "region";
    static final String PATH_STYLE = "path-style";
    static final String PROFILE = "profile";
    static final String ACCESS_KEY_ID = "access-key-id";
    static final String SECRET_ACCESS_KEY = "secret-access-key";
    static final String SESSION_TOKEN = "session-token";
    static final String ANONYMOUS = "anonymous";
    /** {@code mapping-process} (the default) or {@code page-server}: whose environment gives credentials not given as options. */
    static final String CREDENTIALS = "credentials";
    static final String FROM_MAPPING_PROCESS = "mapping-process";
    static final String FROM_PAGE_SERVER = "page-server";
    static final String MAX_CONNECTIONS = "max-connections";
    static final String CONNECT_TIMEOUT_MS = "connect-timeout-ms";
    static final String READ_TIMEOUT_MS = "read-timeout-ms";
    static final String ATTEMPT_TIMEOUT_MS = "attempt-timeout-ms";
    static final String MAX_ATTEMPTS = "max-attempts";

    static final Set<String> OPTIONS = Set.of(ENDPOINT, REGION, PATH_STYLE, PROFILE, ACCESS_KEY_ID, SECRET_ACCESS_KEY,
            SESSION_TOKEN, ANONYMOUS, CREDENTIALS, MAX_CONNECTIONS, CONNECT_TIMEOUT_MS, READ_TIMEOUT_MS, ATTEMPT_TIMEOUT_MS, MAX_ATTEMPTS);
    static final Set<String> SECRETS = Set.of(SECRET_ACCESS_KEY, SESSION_TOKEN);

    /** More connections than the page server reads on at once by default (its demand and prefetch workers), so no read waits for one. */
    static final int DEFAULT_MAX_CONNECTIONS = 256;
    /** A connect to S3 takes milliseconds; seconds mean a dead or unreachable endpoint. */
    static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(3);
    /**
     * The longest silence on a socket before a response counts as stalled. A page fault waits for it,
     * so it is well below the SDK's 30 s, and still far above S3's time to first byte.
     */
    static final Duration DEFAULT_READ_TIMEOUT = Duration.ofSeconds(10);
    /** Bounds one attempt of a HEAD or GET up to its response headers, whatever the socket does. */
    static final Duration DEFAULT_ATTEMPT_TIMEOUT = Duration.ofSeconds(30);
    /** The SDK's standard retry strategy makes 3; a fault has no other way to succeed, so one more. */
    static final int DEFAULT_MAX_ATTEMPTS = 4;

    private static final String MASK = "****";
    private static final int MIN_SCRUBBED_LENGTH = 6;

    S3Settings {
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(readTimeout, "readTimeout");
        Objects.requireNonNull(attemptTimeout, "attemptTimeout");
    }

    /**
     * The settings {@code options} ask for.
     *
     * @throws IllegalArgumentException for an unknown option, a value that is not of its kind, or
     *     options that contradict each other; the message names the option and {@code uri}, and never
     *     a secret value
     */
    static S3Settings from(URI uri, Map<String, String> options) {
        for (String key : options.keySet()) {
            if (!OPTIONS.contains(key)) {
                throw new IllegalArgumentException("option '" + key + "' is not one the 's3' backend understands (for "
                        + Redaction.uri(uri) + "); it understands " + new TreeSet<>(OPTIONS));
            }
        }
        URI endpoint = endpoint(uri, options.get(ENDPOINT));
        String accessKeyId = blankToNull(options.get(ACCESS_KEY_ID));
        String secretAccessKey = blankToNull(options.get(SECRET_ACCESS_KEY));
        String sessionToken = blankToNull(options.get(SESSION_TOKEN));
        boolean anonymous = bool(uri, options, ANONYMOUS, false);
        String profile = blankToNull(options.get(PROFILE));
        boolean pageServerCredentials = pageServerCredentials(uri, options.get(CREDENTIALS));
        if (pageServerCredentials && (anonymous || accessKeyId != null || profile != null)) {
            throw new IllegalArgumentException("option " + CREDENTIALS + "=" + FROM_PAGE_SERVER + " takes the page server's own "
                    + "credentials, so it cannot go with " + ANONYMOUS + ", " + ACCESS_KEY_ID + " or " + PROFILE + " (for "
                    + Redaction.uri(uri) + ")");
        }
        if ((accessKeyId == null) != (secretAccessKey == null)) {
            throw new IllegalArgumentException("options " + ACCESS_KEY_ID + " and " + SECRET_ACCESS_KEY
                    + " go together: give both or neither (for " + Redaction.uri(uri) + ")");
        }
        if (sessionToken != null && accessKeyId == null) {
            throw new IllegalArgumentException("option " + SESSION_TOKEN + " needs " + ACCESS_KEY_ID + " and "
                    + SECRET_ACCESS_KEY + " (for " + Redaction.uri(uri) + ")");
        }
        if (anonymous && (accessKeyId != null || profile != null)) {
            throw new IllegalArgumentException("option " + ANONYMOUS + "=true sends no credentials, so it cannot go with "
                    + ACCESS_KEY_ID + " or " + PROFILE + " (for " + Redaction.uri(uri) + ")");
        }
        // Stores other than AWS are seldom set up for virtual-hosted buckets (bucket.host), so an
        // endpoint of one's own means path-style unless said otherwise.
        boolean pathStyle = bool(uri, options, PATH_STYLE, endpoint != null || StandardEndpoint.configured());
        return new S3Settings(
                endpoint,
                blankToNull(options.get(REGION)),
                pathStyle,
                profile,
                accessKeyId,
                secretAccessKey,
                sessionToken,
                anonymous,
                pageServerCredentials,
                positive(uri, options, MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS, 10_000),
                millis(uri, options, CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT),
                millis(uri, options, READ_TIMEOUT_MS, DEFAULT_READ_TIMEOUT),
                millis(uri, options, ATTEMPT_TIMEOUT_MS, DEFAULT_ATTEMPT_TIMEOUT),
                positive(uri, options, MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS, 100));
    }

    /** Whether the credentials come from some environment: none given as options, and not anonymous. */
    boolean credentialsFromEnvironment() {
        return accessKeyId == null && !anonymous;
    }

    private static boolean pageServerCredentials(URI uri, String value) {
        value = blankToNull(value);
        if (value == null || value.equals(FROM_MAPPING_PROCESS)) {
            return false;
        }
        if (value.equals(FROM_PAGE_SERVER)) {
            return true;
        }
        throw new IllegalArgumentException("option " + CREDENTIALS + " is " + FROM_MAPPING_PROCESS + " or " + FROM_PAGE_SERVER
                + ", not '" + value + "' (for " + Redaction.uri(uri) + ")");
    }

    /** {@code text} with every secret of these settings masked. */
    String scrub(String text) {
        if (text == null) {
            return null;
        }
        String scrubbed = text;
        for (String secret : secrets()) {
            scrubbed = scrubbed.replace(secret, MASK);
        }
        return scrubbed;
    }

    /** Whether a secret of these settings appears in the message of {@code failure} or of a cause. */
    boolean leaksInto(Throwable failure) {
        List<String> secrets = secrets();
        int depth = 0;
        for (Throwable t = failure; t != null && depth < 32; t = t.getCause(), depth++) {
            String text = t.toString();
            for (String secret : secrets) {
                if (text.contains(secret)) {
                    return true;
                }
            }
            for (Throwable suppressed : t.getSuppressed()) {
                if (leaksInto(suppressed)) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * The secrets to look for in text. One of a few characters (no real key is) would match all over
     * an innocent message and mangle it, and masking it would hide nothing: those are left alone.
     */
    private List<String> secrets() {
        List<String> secrets = new ArrayList<>(2);
        for (String secret : new String[] {secretAccessKey, sessionToken}) {
            if (secret != null && secret.length() >= MIN_SCRUBBED_LENGTH) {
                secrets.add(secret);
            }
        }
        // Longest first, so that a secret containing the other is masked whole.
        secrets.sort((a, b) -> b.length() - a.length());
        return secrets;
    }

    /** Where requests go, for messages: the endpoint given, or AWS's for the region. */
    String describeEndpoint() {
        if (endpoint != null) {
            return Redaction.uri(endpoint);
        }
        return StandardEndpoint.configured() ? "the endpoint of AWS_ENDPOINT_URL_S3/AWS_ENDPOINT_URL" : "AWS S3";
    }

    @Override
    public String toString() {
        return "S3Settings[endpoint=" + (endpoint == null ? "(SDK default)" : Redaction.uri(endpoint))
                + ", region=" + (region == null ? "(SDK default)" : region)
                + ", pathStyle=" + pathStyle
                + ", profile=" + (profile == null ? "(SDK default)" : profile)
                + ", credentials=" + (anonymous ? "anonymous" : pageServerCredentials ? "(the page server's SDK default chain)"
                        : accessKeyId == null ? "(SDK default chain)"
                        : accessKeyId + "/" + MASK + (sessionToken == null ? "" : "/" + MASK))
                + ", maxConnections=" + maxConnections
                + ", connectTimeout=" + connectTimeout.toMillis() + "ms"
                + ", readTimeout=" + readTimeout.toMillis() + "ms"
                + ", attemptTimeout=" + attemptTimeout.toMillis() + "ms"
                + ", maxAttempts=" + maxAttempts + "]";
    }

    private static URI endpoint(URI uri, String value) {
        value = blankToNull(value);
        if (value == null) {
            return null;
        }
        URI endpoint;
        try {
            endpoint = new URI(value);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("option " + ENDPOINT + " is not a URI (for " + Redaction.uri(uri) + ")");
        }
        String scheme = endpoint.getScheme() == null ? "" : endpoint.getScheme().toLowerCase(Locale.ROOT);
        if (!(scheme.equals("http") || scheme.equals("https")) || endpoint.getHost() == null) {
            throw new IllegalArgumentException("option " + ENDPOINT + " is an http:// or https:// URI with a host, such as "
                    + "http://127.0.0.1:9000, not '" + Redaction.uri(endpoint) + "' (for " + Redaction.uri(uri) + ")");
        }
        return endpoint;
    }

    private static boolean bool(URI uri, Map<String, String> options, String key, boolean otherwise) {
        String value = blankToNull(options.get(key));
        if (value == null) {
            return otherwise;
        }
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("option " + key + " is true or false, not '" + value + "' (for "
                    + Redaction.uri(uri) + ")");
        };
    }

    private static int positive(URI uri, Map<String, String> options, String key, int otherwise, int max) {
        String value = blankToNull(options.get(key));
        if (value == null) {
            return otherwise;
        }
        try {
            int parsed = Integer.parseInt(value);
            if (parsed >= 1 && parsed <= max) {
                return parsed;
            }
        } catch (NumberFormatException notANumber) {
            // said below
        }
        throw new IllegalArgumentException("option " + key + " is a whole number from 1 to " + max + ", not '" + value
                + "' (for " + Redaction.uri(uri) + ")");
    }

    private static Duration millis(URI uri, Map<String, String> options, String key, Duration otherwise) {
        String value = blankToNull(options.get(key));
        if (value == null) {
            return otherwise;
        }
        try {
            long parsed = Long.parseLong(value);
            if (parsed >= 1 && parsed <= Duration.ofDays(1).toMillis()) {
                return Duration.ofMillis(parsed);
            }
        } catch (NumberFormatException notANumber) {
            // said below
        }
        throw new IllegalArgumentException("option " + key + " is a number of milliseconds from 1 to a day, not '" + value
                + "' (for " + Redaction.uri(uri) + ")");
    }

    private static String blankToNull(String value) {
        return value == null || value.isBlank() ? null : value.strip();
    }

    /** The SDK's own way of naming an endpoint outside the options: the variables and properties it reads. */
    static final class StandardEndpoint {
        private StandardEndpoint() {}

        static boolean configured() {
            return value() != null;
        }

        /** The endpoint so named, in the SDK's order of precedence, or null. */
        static String value() {
            for (String value : new String[] {System.getProperty("aws.endpointUrlS3"), System.getenv("AWS_ENDPOINT_URL_S3"),
                    System.getProperty("aws.endpointUrl"), System.getenv("AWS_ENDPOINT_URL")}) {
                if (present(value)) {
                    return value.strip();
                }
            }
            return null;
        }

        private static boolean present(String value) {
            return value != null && !value.isBlank();
        }
    }
}
