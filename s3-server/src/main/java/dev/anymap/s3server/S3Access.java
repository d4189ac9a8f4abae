package dev.anymap.s3server;

import java.net.URI;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4FamilyHttpSigner;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.auth.scheme.S3AuthSchemeProvider;

/** How a client reaches one of these servers: a fresh key pair, the s3 backend's options, an SDK client. */
public final class S3Access {
    private static final SecureRandom RANDOM = new SecureRandom();

    private S3Access() {}

    static String newAccessKey() {
        return "anymap" + randomHex(6);
    }

    static String newSecretKey() {
        return randomHex(20);
    }

    private static String randomHex(int bytes) {
        byte[] random = new byte[bytes];
        RANDOM.nextBytes(random);
        return HexFormat.of().formatHex(random);
    }

    /** The options of the s3 backend (keys as anymap-backend-s3 names them; this module does not depend on it). */
    static Map<String, String> backendOptions(URI endpoint, String region, String accessKey, String secretKey) {
        return Map.of(
                "endpoint", endpoint.toString(),
                "region", region,
                "path-style", "true",
                "access-key-id", accessKey,
                "secret-access-key", secretKey);
    }

    static S3Client newClient(URI endpoint, String region, String accessKey, String secretKey) {
        return clientBuilder(endpoint, region, accessKey, secretKey).build();
    }

    /**
     * An SDK client builder for an S3-compatible server at {@code endpoint} (s3proxy or MinIO), path-style,
     * with static credentials, for tests and tools that put and check objects; the caller may adjust it.
     */
    public static S3ClientBuilder clientBuilder(URI endpoint, String region, String accessKey, String secretKey) {
        return S3Client.builder()
                .httpClientBuilder(Apache5HttpClient.builder())
                .endpointOverride(endpoint)
                .forcePathStyle(true)
                .region(Region.of(region))
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKey, secretKey)))
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                // Over plain http the SDK hashes every uploaded byte for the signature and the server hashes it
                // again: half the time of a large upload on loopback. UNSIGNED-PAYLOAD, as over https, leaves the
                // server's MD5 (the ETag) as the one hash.
                .authSchemeProvider(parameters -> S3AuthSchemeProvider.defaultProvider().resolveAuthScheme(parameters).stream()
                        .map(option -> option.toBuilder()
                                .putSignerProperty(AwsV4FamilyHttpSigner.PAYLOAD_SIGNING_ENABLED, false)
                                .putSignerProperty(AwsV4FamilyHttpSigner.CHUNK_ENCODING_ENABLED, false)
                                .build())
                        .toList());
    }
}
