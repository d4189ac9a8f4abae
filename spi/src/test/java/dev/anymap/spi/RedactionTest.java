package dev.anymap.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.URI;
import org.junit.jupiter.api.Test;

class RedactionTest {
    @Test
    void describesACauseChainOnceEachAndScrubbed() {
        Exception failure = new java.io.IOException("open of sftp://u:hunter2@h/x failed.",
                new IllegalStateException("auth with hunter2 refused", new RuntimeException("auth with hunter2 refused")));
        assertEquals("open of sftp://u:****@h/x failed: auth with **** refused",
                Redaction.describe(failure, text -> text.replace("hunter2", "****")));
    }

    @Test
    void aScrubbedCopyKeepsClassesAndStackTracesAndLosesTheSecrets() {
        Exception failure = new java.io.IOException("token abc123 rejected", new IllegalArgumentException("abc123"));
        ScrubbedException copy = ScrubbedException.of(failure, text -> text.replace("abc123", "****"));
        assertEquals("java.io.IOException: token **** rejected", copy.toString());
        assertEquals("java.lang.IllegalArgumentException", ((ScrubbedException) copy.getCause()).originalClass());
        assertEquals(failure.getStackTrace()[0], copy.getStackTrace()[0]);
        java.io.StringWriter printed = new java.io.StringWriter();
        copy.printStackTrace(new java.io.PrintWriter(printed));
        assertEquals(false, printed.toString().contains("abc123"));
    }

    @Test
    void masksThePasswordOfTheUserInfo() {
        assertEquals("sftp://alice:****@host:22/data/x.bin", Redaction.uri(URI.create("sftp://alice:s3cr3t@host:22/data/x.bin")));
        assertEquals("sftp://alice@host/x", Redaction.uri(URI.create("sftp://alice@host/x")));
        assertEquals("zip:sftp://alice:****@host/a.zip!/entry", Redaction.uri(URI.create("zip:sftp://alice:pw@host/a.zip!/entry")));
    }

    @Test
    void masksSecretQueryParametersAndKeepsTheOthers() {
        URI presigned = URI.create("https://b.s3.example/k?X-Amz-Credential=AKIA%2F1&X-Amz-Date=20260101T000000Z&X-Amz-Signature=abcdef");
        assertEquals("https://b.s3.example/k?X-Amz-Credential=****&X-Amz-Date=20260101T000000Z&X-Amz-Signature=****",
                Redaction.uri(presigned));
        assertEquals("mem:x?size=10&seed=3", Redaction.uri(URI.create("mem:x?size=10&seed=3")));
        assertEquals("https://h/k?token=****#part", Redaction.uri(URI.create("https://h/k?token=abc#part")));
    }
}
