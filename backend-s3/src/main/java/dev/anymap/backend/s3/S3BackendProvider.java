package dev.anymap.backend.s3;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.core.exception.SdkClientException;

/**
 * Serves {@code s3://bucket/key} URIs through the AWS SDK for Java v2: AWS S3 and S3-compatible
 * stores (MinIO, Ceph, s3proxy, R2, ...).
 *
 * <p>Opening HEADs the object for its size and ETag; a missing bucket or key is a {@link
 * java.nio.file.NoSuchFileException}, a refused request an {@link java.nio.file.AccessDeniedException},
 * an endpoint that cannot be reached an {@link IOException}, each naming the URI and the cause. Every
 * read is a ranged GET with {@code If-Match} on that ETag: an object replaced while it is mapped fails
 * the read with {@link dev.anymap.spi.ObjectChangedException} instead of serving bytes of two versions.
 *
 * <p>Options, each optional; what is not given comes from the SDK's standard places (the default
 * credentials chain, {@code AWS_REGION}, {@code AWS_ENDPOINT_URL_S3}, {@code ~/.aws/config},
 * {@code aws.*} system properties) of the process that maps, through {@link #resolveLocally}:
 * <ul>
 *   <li>{@code endpoint}: {@code http(s)://host[:port]} of an S3-compatible store;
 *   <li>{@code region}: the signing region ({@code us-east-1} if none is found anywhere);
 *   <li>{@code path-style}: {@code true} to address buckets as {@code endpoint/bucket}; the default
 *       when an endpoint is given;
 *   <li>{@code profile}: the profile of the AWS config files for credentials and region;
 *   <li>{@code access-key-id}, {@code secret-access-key} (secret), {@code session-token} (secret):
 *       static credentials;
 *   <li>{@code anonymous}: {@code true} to send unsigned requests, for public buckets;
 *   <li>{@code credentials}: {@code mapping-process} (the default) to take credentials not given as
 *       options from the SDK's default chain in the process that maps (see {@link #resolveLocally}),
 *       or {@code page-server} to take them from the page server's own (a page server run under an
 *       instance role, say, whose credentials serve every process);
 *   <li>{@code max-connections}: the connection pool, default 256, more than the page server reads
 *       on at once (16 demand and 128 prefetch reads per region by default);
 *   <li>{@code connect-timeout-ms} (default 3000), {@code read-timeout-ms} (the longest silence of a
 *       socket, default 10000), {@code attempt-timeout-ms} (one attempt up to its response headers,
 *       default 30000);
 *   <li>{@code max-attempts}: tries per request, with exponential backoff and jitter, default 4.
 * </ul>
 *
 * <p>{@link #openForWriting} and {@link #create} give backends that {@linkplain S3Backend#commit commit}
 * changes as a new version of the whole object, conditional on the version they were made on (see
 * {@link S3Commit}); the token of the commit that made a version is kept as the user metadata
 * {@code x-amz-meta-anymap-commit} and read back by {@link StorageBackend#lastCommit()}.
 *
 * <p>Backends opened with the same options share one S3 client and its connections; a client
 * nobody uses is closed a minute later, and all of them at JVM exit.
 */
public final class S3BackendProvider implements BackendProvider {
    private final S3Clients clients;

    /** The provider that {@link java.util.ServiceLoader} finds: its backends share the JVM's S3 clients. */
    public S3BackendProvider() {
        this(S3Clients.SHARED);
    }

    S3BackendProvider(S3Clients clients) {
        this.clients = clients;
    }

    @Override
    public String name() {
        return "s3";
    }

    @Override
    public Set<String> schemes() {
        return Set.of("s3");
    }

    @Override
    public Set<String> supportedOptions() {
        return S3Settings.OPTIONS;
    }

    @Override
    public Set<String> secretOptions() {
        return S3Settings.SECRETS;
    }

    /**
     * Resolves, in the process that maps, what the page server would otherwise take from its own
     * environment: credentials from the SDK's default chain (unless given, anonymous, or
     * {@code credentials=page-server}), sent as {@code access-key-id}, {@code secret-access-key} and
     * {@code session-token}; the signing region; the endpoint of {@code AWS_ENDPOINT_URL_S3} and its
     * kin; and path-style addressing. Credentials that expire (a session token) are sent as they are
     * now: the page server uses them for the region's life.
     *
     * @throws AccessDeniedException if the chain finds no credentials, naming the ways to give them
     */
    @Override
    public Map<String, String> resolveLocally(URI uri, Map<String, String> options) throws IOException {
        S3Settings settings = S3Settings.from(uri, options);
        Map<String, String> resolved = new LinkedHashMap<>(options);
        if (settings.endpoint() == null && S3Settings.StandardEndpoint.value() != null) {
            resolved.put(S3Settings.ENDPOINT, S3Settings.StandardEndpoint.value());
        }
        resolved.put(S3Settings.PATH_STYLE, Boolean.toString(settings.pathStyle()));
        if (settings.region() == null) {
            resolved.put(S3Settings.REGION, S3Clients.resolveRegion(settings));
        }
        if (settings.credentialsFromEnvironment() && !settings.pageServerCredentials()) {
            AwsCredentials credentials;
            try {
                credentials = S3Clients.resolveCredentials(settings);
            } catch (SdkClientException none) {
                // The SDK's message lists every provider of its chain and why each failed: a page of text.
                throw noCredentials(uri, settings.profile() == null ? "" : " (none in profile " + settings.profile() + ")");
            }
            resolved.remove(S3Settings.PROFILE);
            resolved.put(S3Settings.ACCESS_KEY_ID, credentials.accessKeyId());
            resolved.put(S3Settings.SECRET_ACCESS_KEY, credentials.secretAccessKey());
            if (credentials instanceof AwsSessionCredentials session) {
                resolved.put(S3Settings.SESSION_TOKEN, session.sessionToken());
            }
        }
        return resolved;
    }

    private static AccessDeniedException noCredentials(URI uri, String where) {
        return new AccessDeniedException(Redaction.uri(uri), null, "no S3 credentials" + where + ": set AWS_ACCESS_KEY_ID and "
                + "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or give the options access-key-id and secret-access-key, profile, "
                + "anonymous=true (a public bucket) or credentials=page-server (the page server's own)");
    }

    /**
     * In a page server, a region must bring its credentials: the page server's own environment
     * serves only a region that asks for it with {@code credentials=page-server}.
     */
    private static void refuseAmbientCredentials(URI uri, S3Settings settings) throws AccessDeniedException {
        if (settings.credentialsFromEnvironment() && !settings.pageServerCredentials()
                && Boolean.getBoolean(BackendProvider.PAGE_SERVER_PROPERTY)) {
            throw noCredentials(uri, " came with the request, and the page server does not use its own");
        }
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        return open(uri, options, false);
    }

    private StorageBackend open(URI uri, Map<String, String> options, boolean writable) throws IOException {
        S3Settings settings = S3Settings.from(uri, options);
        refuseAmbientCredentials(uri, settings);
        return S3Backend.open(uri, S3Location.of(uri), clients.acquire(settings), writable);
    }

    /**
     * Opens the object as {@link #open} does, for {@linkplain S3Backend#commit commits} too. Whether the
     * credentials may write is known only at the first commit: S3 has no way to ask without writing.
     */
    @Override
    public StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
        return open(uri, options, true);
    }

    /**
     * Stores {@code size} zero bytes at {@code uri}, only if no object is there ({@code If-None-Match: *}
     * on the PutObject, or on the CompleteMultipartUpload of a large object), and opens it for writing.
     */
    @Override
    public StorageBackend create(URI uri, long size, Map<String, String> options) throws IOException {
        if (size < 0) {
            throw new IllegalArgumentException(Redaction.uri(uri) + ": cannot create an object of " + size + " bytes");
        }
        S3Settings settings = S3Settings.from(uri, options);
        refuseAmbientCredentials(uri, settings);
        S3Location location = S3Location.of(uri);
        return S3Backend.create(uri, location, clients.acquire(settings), size);
    }

    /** A backend whose every GET carries {@code If-Match} with the ETag given: no request until the first read. */
    @Override
    public Optional<StorageBackend> openAt(URI uri, Map<String, String> options, long size, ObjectVersion version)
            throws AccessDeniedException {
        if (version.kind() != ObjectVersion.Kind.ETAG || size < 0) {
            return Optional.empty();
        }
        S3Settings settings = S3Settings.from(uri, options);
        refuseAmbientCredentials(uri, settings);
        S3Location location = S3Location.of(uri);
        return Optional.of(S3Backend.at(uri, location, clients.acquire(settings), size, version.value(), false));
    }
}
