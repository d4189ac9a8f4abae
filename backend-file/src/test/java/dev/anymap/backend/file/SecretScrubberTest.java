package dev.anymap.backend.file;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.util.List;
import org.junit.jupiter.api.Test;

class SecretScrubberTest {
    private final SecretScrubber scrubber = new SecretScrubber(List.of("hunter2", "hunter2-and-more"));

    @Test
    void masksSecretsAndThePasswordsOfNestedUris() {
        assertEquals("zip:sftp://alice:****@host/a.zip!/x", scrubber.uri(URI.create("zip:sftp://alice:pw@host/a.zip!/x")));
        assertEquals("key **** and ****, at sftp://bob:****@h/", scrubber.text("key hunter2 and hunter2-and-more, at sftp://bob:other@h/"));
    }

    @Test
    void copiesAnExceptionChainWithoutItsSecretsButWithItsClassesAndStackTraces() {
        IllegalStateException root = new IllegalStateException("login with hunter2 failed");
        IOException top = new IOException("could not open sftp://alice:hunter2@host/x", root);
        dev.anymap.spi.ScrubbedException copy = scrubber.chain(top);

        StringWriter printed = new StringWriter();
        copy.printStackTrace(new PrintWriter(printed));
        assertFalse(printed.toString().contains("hunter2"), printed.toString());
        assertEquals("java.io.IOException: could not open sftp://alice:****@host/x", copy.toString());
        assertEquals("java.lang.IllegalStateException: login with **** failed", copy.getCause().toString());
        assertArrayEquals(top.getStackTrace(), copy.getStackTrace());
        assertEquals("could not open sftp://alice:****@host/x: login with **** failed", scrubber.describe(top));
    }
}
