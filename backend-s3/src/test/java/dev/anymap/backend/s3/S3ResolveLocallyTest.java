package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendProvider;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What the s3 backend resolves in the process that maps. The tests' JVM has no AWS credentials of
 * its own (see the surefire configuration), so the SDK's chain finds only what a test sets.
 */
class S3ResolveLocallyTest {
    private static final URI OBJECT = URI.create("s3://bucket/key");
    private static final Map<String, String> STORE = Map.of("endpoint", "http://127.0.0.1:9000");
    private final S3BackendProvider provider = new S3BackendProvider(new S3Clients(java.time.Duration.ZERO));

    @AfterEach
    void clearProperties() {
        System.clearProperty("aws.accessKeyId");
        System.clearProperty("aws.secretAccessKey");
        System.clearProperty("aws.sessionToken");
        System.clearProperty(BackendProvider.PAGE_SERVER_PROPERTY);
    }

    @Test
    void credentialsOfThisProcessTravelAsOptionsWithTheRegionAndAddressing() throws Exception {
        System.setProperty("aws.accessKeyId", "AKIDRESOLVED");
        System.setProperty("aws.secretAccessKey", "secret-of-this-process");
        System.setProperty("aws.sessionToken", "token-of-this-process");
        Map<String, String> resolved = provider.resolveLocally(OBJECT, STORE);
        assertEquals("AKIDRESOLVED", resolved.get("access-key-id"));
        assertEquals("secret-of-this-process", resolved.get("secret-access-key"));
        assertEquals("token-of-this-process", resolved.get("session-token"));
        assertEquals("us-east-1", resolved.get("region"), "nothing configured anywhere: the region a client would sign with");
        assertEquals("true", resolved.get("path-style"));
        assertEquals("http://127.0.0.1:9000", resolved.get("endpoint"));
        assertTrue(provider.secretOptions().containsAll(java.util.Set.of("secret-access-key", "session-token")));
        assertFalse(provider.redact(resolved).toString().contains("secret-of-this-process"));
    }

    @Test
    void credentialsGivenAnonymousOrThePageServersAreLeftAsTheyAre() throws Exception {
        System.setProperty("aws.accessKeyId", "AKIDRESOLVED");
        System.setProperty("aws.secretAccessKey", "secret-of-this-process");
        Map<String, String> given = Map.of("endpoint", "http://127.0.0.1:9000", "region", "eu-west-1",
                "access-key-id", "AKIDGIVEN", "secret-access-key", "given-secret");
        assertEquals("given-secret", provider.resolveLocally(OBJECT, given).get("secret-access-key"));
        assertFalse(provider.resolveLocally(OBJECT, Map.of("anonymous", "true")).containsKey("access-key-id"));
        assertFalse(provider.resolveLocally(OBJECT, Map.of("credentials", "page-server")).containsKey("access-key-id"));
        assertThrows(IllegalArgumentException.class, () -> provider.resolveLocally(OBJECT, Map.of("credentials", "mine")));
    }

    @Test
    void noCredentialsAnywhereIsAShortLineNamingTheWaysToGiveThem() {
        AccessDeniedException none = assertThrows(AccessDeniedException.class, () -> provider.resolveLocally(OBJECT, STORE));
        assertTrue(none.getMessage().startsWith("s3://bucket/key: no S3 credentials"), none.getMessage());
        assertTrue(none.getMessage().contains("AWS_PROFILE") && none.getMessage().contains("anonymous=true"), none.getMessage());
        assertTrue(none.getMessage().length() < 300, none.getMessage());
    }

    @Test
    void aPageServerNeverFillsMissingCredentialsFromItsOwnEnvironment() {
        System.setProperty("aws.accessKeyId", "AKIDOFTHESERVER");
        System.setProperty("aws.secretAccessKey", "secret-of-the-server");
        System.setProperty(BackendProvider.PAGE_SERVER_PROPERTY, "true");
        AccessDeniedException refused = assertThrows(AccessDeniedException.class, () -> provider.open(OBJECT, STORE));
        assertTrue(refused.getMessage().contains("page server does not use its own"), refused.getMessage());
        assertThrows(AccessDeniedException.class,
                () -> provider.openAt(OBJECT, STORE, 10, dev.anymap.spi.ObjectVersion.etag("\"e\"")));
    }
}
