package dev.anymap.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.URI;
import org.junit.jupiter.api.Test;

class RedactionTest {
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
