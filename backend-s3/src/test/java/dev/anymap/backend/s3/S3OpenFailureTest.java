package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Opening fails at once, with the exception a file would give, naming the URI and the cause, and no secret. */
@ExtendWith(S3ServerExtension.class)
class S3OpenFailureTest {
    private static S3TestServer server;

    @BeforeAll
    static void server(S3TestServer s3) {
        server = s3;
    }

    @Test
    void aBucketThatDoesNotExistIsNoSuchFileNamingTheBucket() {
        URI uri = URI.create("s3://no-such-bucket-" + ProcessHandle.current().pid() + "/some/key.bin");
        NoSuchFileException missing = assertThrows(NoSuchFileException.class, () -> BackendRegistry.load().open(uri, server.options()));
        assertTrue(missing.getMessage().contains(uri.toString()), missing.getMessage());
        assertTrue(missing.getMessage().contains("bucket '" + uri.getHost() + "' does not exist"), missing.getMessage());
    }

    @Test
    void aKeyThatDoesNotExistIsNoSuchFileNamingTheKey() {
        URI uri = server.uri("no/such/key.bin");
        NoSuchFileException missing = assertThrows(NoSuchFileException.class, () -> BackendRegistry.load().open(uri, server.options()));
        assertTrue(missing.getMessage().contains(uri.toString()), missing.getMessage());
        assertTrue(missing.getMessage().contains("no object with key 'no/such/key.bin' in bucket '" + server.bucket() + "'"),
                missing.getMessage());
    }

    @Test
    void aWrongSecretKeyIsAccessDeniedAndTheSecretAppearsNowhere() {
        URI uri = server.put("denied.bin", new byte[100]);
        String wrongSecret = "wrong" + server.secretKey().substring(5);
        Map<String, String> options = new HashMap<>(server.options());
        options.put(S3Settings.SECRET_ACCESS_KEY, wrongSecret);
        AccessDeniedException denied = assertThrows(AccessDeniedException.class, () -> BackendRegistry.load().open(uri, options));
        assertTrue(denied.getMessage().contains(uri.toString()), denied.getMessage());
        assertTrue(denied.getMessage().contains("403"), denied.getMessage());
        assertTrue(denied.getMessage().contains("SignatureDoesNotMatch"), denied.getMessage());
        assertSecretsAbsent(denied, wrongSecret, server.secretKey());
    }

    @Test
    void anUnknownAccessKeyIsAccessDenied() {
        URI uri = server.put("unknown-key.bin", new byte[100]);
        Map<String, String> options = new HashMap<>(server.options());
        options.put(S3Settings.ACCESS_KEY_ID, "AKIANOSUCHKEY" + ProcessHandle.current().pid());
        AccessDeniedException denied = assertThrows(AccessDeniedException.class, () -> BackendRegistry.load().open(uri, options));
        assertTrue(denied.getMessage().contains(uri.toString()), denied.getMessage());
        assertTrue(denied.getMessage().contains("403"), denied.getMessage());
        assertSecretsAbsent(denied, server.secretKey());
    }

    @Test
    void aSessionTokenTheServerRefusesAppearsNowhere() {
        // MinIO denies the unknown key (403); s3proxy does not take session tokens at all (501): either
        // way the request carried the token, and the failure must not.
        URI uri = server.put("token.bin", new byte[100]);
        String token = "token-" + System.nanoTime() + "-secret";
        Map<String, String> options = new HashMap<>(server.options());
        options.put(S3Settings.ACCESS_KEY_ID, "AKIANOSUCHKEY" + ProcessHandle.current().pid());
        options.put(S3Settings.SESSION_TOKEN, token);
        IOException refused = assertThrows(IOException.class, () -> BackendRegistry.load().open(uri, options));
        assertTrue(refused.getMessage().contains(uri.toString()), refused.getMessage());
        assertSecretsAbsent(refused, token, server.secretKey());
    }

    @Test
    void noCredentialsAnywhereIsAccessDeniedInOneLineNamingTheWaysToGiveThem() throws IOException {
        for (String variable : new String[] {"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"}) {
            org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv(variable) == null, variable + " is set in this environment");
        }
        java.nio.file.Path nowhere = java.nio.file.Files.createTempDirectory("no-aws-").resolve("none");
        Map<String, String> properties = Map.of("aws.sharedCredentialsFile", nowhere.toString(), "aws.configFile", nowhere.toString(),
                "aws.disableEc2Metadata", "true");
        properties.forEach(System::setProperty);
        try {
            URI uri = server.put("no-credentials.bin", new byte[100]);
            Map<String, String> options = new HashMap<>(server.options());
            options.remove(S3Settings.ACCESS_KEY_ID);
            options.remove(S3Settings.SECRET_ACCESS_KEY);
            AccessDeniedException denied = assertThrows(AccessDeniedException.class, () -> BackendRegistry.load().open(uri, options));
            String message = denied.getMessage();
            assertTrue(message.startsWith(uri + ": no S3 credentials found") && message.contains("AWS_ACCESS_KEY_ID")
                    && message.contains("profile") && message.contains("access-key-id") && message.contains("anonymous=true"), message);
            assertTrue(message.length() < 400 && message.lines().count() == 1, message);
        } finally {
            properties.keySet().forEach(System::clearProperty);
        }
    }

    @Test
    void anEndpointWhereNothingListensIsAnIOExceptionNamingUriAndEndpoint() throws IOException {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        URI endpoint = URI.create("http://127.0.0.1:" + port);
        Map<String, String> options = new HashMap<>(server.options(endpoint));
        options.put(S3Settings.MAX_ATTEMPTS, "2");
        URI uri = server.uri("anything.bin");
        IOException unreachable = assertThrows(IOException.class, () -> BackendRegistry.load().open(uri, options));
        assertFalse(unreachable instanceof NoSuchFileException || unreachable instanceof AccessDeniedException, unreachable.toString());
        assertTrue(unreachable.getMessage().contains(uri.toString()), unreachable.getMessage());
        assertTrue(unreachable.getMessage().contains(endpoint.toString()), unreachable.getMessage());
        assertTrue(unreachable.getMessage().contains("Connection refused"), unreachable.getMessage());
        assertSecretsAbsent(unreachable, server.secretKey());
    }

    @Test
    void optionsThatContradictEachOtherAreRefusedWithoutTheirValues() {
        URI uri = server.uri("x.bin");
        Map<String, String> onlySecret = Map.of(S3Settings.SECRET_ACCESS_KEY, "s3cr3t-value");
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> BackendRegistry.load().open(uri, onlySecret));
        assertTrue(refused.getMessage().contains("access-key-id"), refused.getMessage());
        assertFalse(refused.getMessage().contains("s3cr3t-value"), refused.getMessage());

        IllegalArgumentException badNumber = assertThrows(IllegalArgumentException.class,
                () -> BackendRegistry.load().open(uri, Map.of(S3Settings.MAX_CONNECTIONS, "many")));
        assertEquals("option max-connections is a whole number from 1 to 10000, not 'many' (for " + uri + ")", badNumber.getMessage());
    }

    @Test
    void aUriThatIsNoBucketAndKeyIsRefused() {
        for (String bad : new String[] {"s3://bucket", "s3://bucket/", "s3:bucket/key", "s3://user@bucket/key", "s3://bucket/key?versionId=1"}) {
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                    () -> BackendRegistry.load().open(URI.create(bad), server.options()), bad);
            assertTrue(refused.getMessage().contains("not an s3://bucket/key URI"), refused.getMessage());
        }
    }

    private static void assertSecretsAbsent(Throwable failure, String... secrets) {
        StringWriter printed = new StringWriter();
        failure.printStackTrace(new PrintWriter(printed));
        for (String secret : secrets) {
            assertFalse(printed.toString().contains(secret), "a secret in: " + printed);
        }
    }
}
