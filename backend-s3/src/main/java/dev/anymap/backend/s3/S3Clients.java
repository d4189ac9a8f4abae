package dev.anymap.backend.s3;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.profiles.ProfileFile;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.AwsProfileRegionProvider;
import software.amazon.awssdk.regions.providers.AwsRegionProvider;
import software.amazon.awssdk.regions.providers.AwsRegionProviderChain;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.regions.providers.SystemSettingsRegionProvider;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;
import software.amazon.awssdk.utils.SdkAutoCloseable;

/**
 * One S3 client per distinct {@link S3Settings}, shared by every backend opened with those settings.
 *
 * <p>A client owns a connection pool, a credentials cache and an idle-connection reaper; mapping
 * thousands of objects must not make thousands of them. Backends hold a {@link Lease}; a client with
 * no leases is closed after an idle delay (so that maps opened one after another reuse it and its warm
 * connections), and every client is closed at JVM exit.
 */
final class S3Clients {
    /** The cache the provider uses: one per JVM, whatever number of provider instances ServiceLoader makes. */
    static final S3Clients SHARED = new S3Clients(Duration.ofSeconds(60));

    private final Duration idleDelay;
    private final Map<S3Settings, Entry> entries = new HashMap<>();
    private int built;
    private boolean shutdownHookAdded;
    private ScheduledExecutorService closer;

    S3Clients(Duration idleDelay) {
        this.idleDelay = idleDelay;
    }

    /** The client for {@code settings}, built on first use; close the lease when done with it. */
    synchronized Lease acquire(S3Settings settings) {
        Entry entry = entries.get(settings);
        if (entry == null) {
            entry = new Entry(settings, Built.from(settings));
            entries.put(settings, entry);
            built++;
            addShutdownHook();
        }
        entry.leases++;
        if (entry.pendingClose != null) {
            entry.pendingClose.cancel(false);
            entry.pendingClose = null;
        }
        return new Lease(entry);
    }

    /**
     * The credentials that the SDK's default chain finds in this process for {@code settings}
     * (environment, {@code aws.*} properties, the profile named or {@code AWS_PROFILE}, web identity,
     * container and instance credentials), resolved now.
     *
     * @throws SdkClientException if the chain finds none
     */
    static AwsCredentials resolveCredentials(S3Settings settings) {
        // The chain's first two places, in its order, read without building it: that costs a process that has not
        // used the SDK before about 0.3 s (measured: 320 ms at the first map, 0.1 ms after).
        AwsCredentials plain = pair(System.getProperty("aws.accessKeyId"), System.getProperty("aws.secretAccessKey"),
                System.getProperty("aws.sessionToken"));
        if (plain == null) {
            plain = pair(System.getenv("AWS_ACCESS_KEY_ID"), System.getenv("AWS_SECRET_ACCESS_KEY"), System.getenv("AWS_SESSION_TOKEN"));
        }
        if (plain != null) {
            return plain;
        }
        AwsCredentialsProvider chain = Built.credentials(settings);
        try {
            return chain.resolveCredentials();
        } finally {
            Built.closeQuietly(chain);
        }
    }

    /** The signing region that a client built here for {@code settings} would use, looked up once per profile and kind of endpoint. */
    static String resolveRegion(S3Settings settings) {
        for (String named : new String[] {System.getProperty("aws.region"), System.getenv("AWS_REGION")}) {
            if (named != null && !named.isBlank()) {
                return named.strip(); // the first place of the SDK's chain, read without loading it
            }
        }
        // Looking it up may ask an instance metadata service: once, not at every map.
        return REGIONS.computeIfAbsent(java.util.Arrays.asList(settings.profile(), settings.endpoint() == null),
                key -> Built.region(settings).id());
    }

    private static AwsCredentials pair(String accessKeyId, String secretAccessKey, String sessionToken) {
        if (accessKeyId == null || accessKeyId.isBlank() || secretAccessKey == null || secretAccessKey.isBlank()) {
            return null;
        }
        return sessionToken == null || sessionToken.isBlank()
                ? AwsBasicCredentials.create(accessKeyId.strip(), secretAccessKey.strip())
                : AwsSessionCredentials.create(accessKeyId.strip(), secretAccessKey.strip(), sessionToken.strip());
    }

    private static final Map<List<Object>, String> REGIONS = new java.util.concurrent.ConcurrentHashMap<>();

    /** How many clients this cache has built so far. */
    synchronized int built() {
        return built;
    }

    /** How many clients are open now, leased or idle. */
    synchronized int open() {
        return entries.size();
    }

    private synchronized void release(Entry entry) {
        if (--entry.leases > 0 || entries.get(entry.settings) != entry) {
            return;
        }
        if (idleDelay.isZero()) {
            entries.remove(entry.settings);
            entry.client.close();
            return;
        }
        entry.pendingClose = closer().schedule(() -> closeIfIdle(entry), idleDelay.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void closeIfIdle(Entry entry) {
        synchronized (this) {
            if (entry.leases > 0 || entries.get(entry.settings) != entry) {
                return;
            }
            entries.remove(entry.settings);
        }
        entry.client.close();
    }

    private ScheduledExecutorService closer() {
        if (closer == null) {
            ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, runnable -> {
                Thread thread = new Thread(runnable, "anymap-s3-client-closer");
                thread.setDaemon(true);
                return thread;
            });
            executor.setRemoveOnCancelPolicy(true);
            closer = executor;
        }
        return closer;
    }

    private void addShutdownHook() {
        if (!shutdownHookAdded) {
            shutdownHookAdded = true;
            Runtime.getRuntime().addShutdownHook(new Thread(this::closeAll, "anymap-s3-clients-shutdown"));
        }
    }

    /** Closes every client, leased or not; a backend still open then fails its reads. */
    void closeAll() {
        List<Entry> closing;
        synchronized (this) {
            closing = new ArrayList<>(entries.values());
            entries.clear();
        }
        for (Entry entry : closing) {
            entry.client.close();
        }
    }

    private static final class Entry {
        final S3Settings settings;
        final Built client;
        int leases;
        ScheduledFuture<?> pendingClose;

        Entry(S3Settings settings, Built client) {
            this.settings = settings;
            this.client = client;
        }
    }

    /** A backend's hold on a shared client. */
    final class Lease implements AutoCloseable {
        private final Entry entry;
        private final AtomicBoolean released = new AtomicBoolean();

        private Lease(Entry entry) {
            this.entry = entry;
        }

        S3Client client() {
            return entry.client.s3;
        }

        /** The client's connection pool, for requests made without the SDK's pipeline. */
        SdkHttpClient http() {
            return entry.client.http;
        }

        /** Signs URLs as the client signs requests; null for anonymous reads. */
        S3Presigner presigner() {
            return entry.client.presigner;
        }

        S3Settings settings() {
            return entry.settings;
        }

        /** Gives the client back; idempotent. */
        @Override
        public void close() {
            if (released.compareAndSet(false, true)) {
                release(entry);
            }
        }
    }

    /**
     * A client, its presigner, and the HTTP client and credentials provider they share, which the SDK
     * leaves to its caller to close.
     */
    private record Built(S3Client s3, S3Presigner presigner, SdkHttpClient http, AwsCredentialsProvider credentials) {

        static Built from(S3Settings settings) {
            AwsCredentialsProvider credentials = credentials(settings);
            SdkHttpClient http = null;
            S3Client s3 = null;
            try {
                // Apache HttpClient 5, by measurement (ClientLatency in the tests): a 256 KiB ranged
                // GET from s3proxy on loopback took the same within noise with it, Apache 4, the
                // URLConnection client and CRT (0.65 to 0.83 ms median), so the choice rests on
                // what a fault path needs: a pool sized per client, a socket read timeout, an
                // abort of one request from another thread, no native library, and active
                // maintenance (Apache 4 is end-of-life; the JDK's URLConnection pool is global and
                // keeps 5 connections; CRT needs a native library and is not published for this
                // SDK release).
                http = Apache5HttpClient.builder()
                        .maxConnections(settings.maxConnections())
                        .connectionTimeout(settings.connectTimeout())
                        .socketTimeout(settings.readTimeout())
                        // A fetch waiting for a pooled connection waits no longer than for a response.
                        .connectionAcquisitionTimeout(settings.attemptTimeout())
                        .tcpKeepAlive(true)
                        .build();
                Region region = region(settings);
                S3ClientBuilder builder = S3Client.builder()
                        .httpClient(http)
                        .credentialsProvider(credentials)
                        .region(region)
                        .forcePathStyle(settings.pathStyle())
                        // Checksums only where S3 demands them: MinIO, Ceph, s3proxy and other stores do
                        // not all know the flexible checksums the SDK sends by default, and a ranged GET
                        // has no checksum to validate anyway.
                        .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                        .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                        .overrideConfiguration(o -> o
                                // Throttling (503 SlowDown, 429) and 5xx are retried with exponential
                                // backoff and jitter; the token bucket stops retry storms on a broken store.
                                .retryStrategy(AwsRetryStrategy.standardRetryStrategy().toBuilder()
                                        .maxAttempts(settings.maxAttempts())
                                        .build())
                                .apiCallAttemptTimeout(settings.attemptTimeout()));
                if (settings.endpoint() != null) {
                    builder.endpointOverride(settings.endpoint());
                } else if (!S3Settings.StandardEndpoint.configured()) {
                    // On AWS, a bucket in another region than the one configured (or guessed) is still found.
                    builder.crossRegionAccessEnabled(true);
                }
                s3 = builder.build();
                return new Built(s3, settings.anonymous() ? null : presigner(settings, region, credentials), http, credentials);
            } catch (RuntimeException e) {
                if (s3 != null) {
                    s3.close();
                }
                if (http != null) {
                    http.close();
                }
                closeQuietly(credentials);
                throw e;
            }
        }

        /** Signs as the client does: the same region, credentials, endpoint and addressing. */
        private static S3Presigner presigner(S3Settings settings, Region region, AwsCredentialsProvider credentials) {
            S3Presigner.Builder presigner = S3Presigner.builder()
                    .region(region)
                    .credentialsProvider(credentials)
                    .serviceConfiguration(S3Configuration.builder().pathStyleAccessEnabled(settings.pathStyle()).build());
            if (settings.endpoint() != null) {
                presigner.endpointOverride(settings.endpoint());
            }
            return presigner.build();
        }

        void close() {
            try {
                s3.close();
                if (presigner != null) {
                    presigner.close();
                }
                http.close();
            } finally {
                closeQuietly(credentials);
            }
        }

        private static AwsCredentialsProvider credentials(S3Settings settings) {
            if (settings.anonymous()) {
                return AnonymousCredentialsProvider.create();
            }
            if (settings.accessKeyId() != null) {
                return StaticCredentialsProvider.create(settings.sessionToken() == null
                        ? AwsBasicCredentials.create(settings.accessKeyId(), settings.secretAccessKey())
                        : AwsSessionCredentials.create(settings.accessKeyId(), settings.secretAccessKey(), settings.sessionToken()));
            }
            // Environment, system properties, web identity, profiles, container and instance credentials.
            DefaultCredentialsProvider.Builder chain = DefaultCredentialsProvider.builder();
            if (settings.profile() != null) {
                chain.profileName(settings.profile());
            }
            return chain.build();
        }

        private static Region region(S3Settings settings) {
            if (settings.region() != null) {
                return Region.of(settings.region());
            }
            AwsRegionProvider chain;
            if (settings.endpoint() == null) {
                DefaultAwsRegionProviderChain.Builder standard = DefaultAwsRegionProviderChain.builder();
                if (settings.profile() != null) {
                    standard.profileName(settings.profile());
                }
                chain = standard.build();
            } else {
                // A store of one's own is no EC2 instance's region: asking the instance metadata service would
                // only cost a timeout on every machine that is not in EC2.
                chain = new AwsRegionProviderChain(new SystemSettingsRegionProvider(),
                        new AwsProfileRegionProvider(ProfileFile::defaultProfileFile, settings.profile()));
            }
            try {
                return chain.getRegion();
            } catch (SdkClientException none) {
                // Nothing configured anywhere: S3-compatible stores take any region in a signature, and on AWS
                // cross-region access finds the bucket's own region from here.
                return Region.US_EAST_1;
            }
        }

        private static void closeQuietly(AwsCredentialsProvider credentials) {
            if (credentials instanceof SdkAutoCloseable closeable) {
                closeable.close();
            }
        }
    }
}
