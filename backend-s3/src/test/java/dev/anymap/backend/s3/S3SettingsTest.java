package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class S3SettingsTest {
    private static final URI URI_ = URI.create("s3://bucket/key");

    @Test
    void defaultsPoolMoreConnectionsThanARegionReadsOnAtOnce() {
        S3Settings settings = S3Settings.from(URI_, Map.of());
        assertNull(settings.endpoint());
        assertEquals(256, settings.maxConnections());
        assertEquals(Duration.ofSeconds(3), settings.connectTimeout());
        assertEquals(Duration.ofSeconds(10), settings.readTimeout());
        assertEquals(Duration.ofSeconds(30), settings.attemptTimeout());
        assertEquals(4, settings.maxAttempts());
    }

    @Test
    void anEndpointMeansPathStyleUnlessSaidOtherwise() {
        assertTrue(S3Settings.from(URI_, Map.of("endpoint", "http://127.0.0.1:9000")).pathStyle());
        assertFalse(S3Settings.from(URI_, Map.of("endpoint", "http://127.0.0.1:9000", "path-style", "false")).pathStyle());
        assertTrue(S3Settings.from(URI_, Map.of("path-style", "TRUE")).pathStyle());
    }

    @Test
    void numbersAndTimeoutsAreParsedAndChecked() {
        S3Settings settings = S3Settings.from(URI_, Map.of("max-connections", "64", "connect-timeout-ms", "250",
                "read-timeout-ms", "1500", "attempt-timeout-ms", "9000", "max-attempts", "7"));
        assertEquals(64, settings.maxConnections());
        assertEquals(Duration.ofMillis(250), settings.connectTimeout());
        assertEquals(Duration.ofMillis(1500), settings.readTimeout());
        assertEquals(Duration.ofMillis(9000), settings.attemptTimeout());
        assertEquals(7, settings.maxAttempts());
        for (Map<String, String> bad : java.util.List.of(Map.of("max-connections", "0"), Map.of("max-attempts", "-1"),
                Map.of("read-timeout-ms", "soon"), Map.of("path-style", "yes"), Map.of("endpoint", "127.0.0.1:9000"),
                Map.of("endpoint", "ftp://host"), Map.of("anonymous", "true", "profile", "p"))) {
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> S3Settings.from(URI_, bad), bad.toString());
            assertTrue(refused.getMessage().contains(URI_.toString()), refused.getMessage());
        }
    }

    @Test
    void secretsAreMaskedInToStringAndScrubbedFromText() {
        S3Settings settings = S3Settings.from(URI_, Map.of("access-key-id", "AKIAEXAMPLE", "secret-access-key", "wJalrXUtnFEMI",
                "session-token", "FwoGZXIvYXdzEXAMPLETOKEN"));
        assertFalse(settings.toString().contains("wJalrXUtnFEMI"), settings.toString());
        assertFalse(settings.toString().contains("FwoGZXIvYXdzEXAMPLETOKEN"), settings.toString());
        assertTrue(settings.toString().contains("AKIAEXAMPLE"), settings.toString());
        assertEquals("key ****, token ****", settings.scrub("key wJalrXUtnFEMI, token FwoGZXIvYXdzEXAMPLETOKEN"));
        assertTrue(settings.leaksInto(new RuntimeException("outer", new IllegalStateException("has wJalrXUtnFEMI"))));
        assertFalse(settings.leaksInto(new RuntimeException("outer", new IllegalStateException("clean"))));
    }

    @Test
    void settingsThatDifferOnlyInASecretAreDifferentClients() {
        S3Settings a = S3Settings.from(URI_, Map.of("access-key-id", "A", "secret-access-key", "one"));
        S3Settings b = S3Settings.from(URI_, Map.of("access-key-id", "A", "secret-access-key", "two"));
        assertNotEquals(a, b);
        assertEquals(a, S3Settings.from(URI_, Map.of("access-key-id", "A", "secret-access-key", "one")));
    }
}
