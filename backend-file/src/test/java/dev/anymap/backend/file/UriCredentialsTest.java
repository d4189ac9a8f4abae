package dev.anymap.backend.file;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.util.List;
import org.junit.jupiter.api.Test;

class UriCredentialsTest {
    @Test
    void takesThePasswordOutOfTheUserInfoAndDecodesIt() {
        UriCredentials credentials = UriCredentials.of(URI.create("sftp://alice:p%40ss%3Aw%20rd@host:2222/data/a%20b.bin"));
        assertEquals(URI.create("sftp://alice@host:2222/data/a%20b.bin"), credentials.withoutPassword());
        assertEquals("p@ss:w rd", credentials.password());
        assertTrue(credentials.secrets().containsAll(List.of("p%40ss%3Aw%20rd", "p@ss:w rd")), credentials.secrets().toString());
    }

    @Test
    void takesThePasswordOutOfANestedUri() {
        UriCredentials credentials = UriCredentials.of(URI.create("tgz:zip:sftp://bob:s3cret@host/a.zip!/b.tgz!/c.bin"));
        assertEquals(URI.create("tgz:zip:sftp://bob@host/a.zip!/b.tgz!/c.bin"), credentials.withoutPassword());
        assertEquals("s3cret", credentials.password());
    }

    @Test
    void leavesAUriWithoutPasswordAlone() {
        for (String plain : List.of("sftp://alice@host/x", "sftp://host:22/x@y:z", "zip:file:///a.zip!/x", "ram:///x")) {
            UriCredentials credentials = UriCredentials.of(URI.create(plain));
            assertEquals(URI.create(plain), credentials.withoutPassword());
            assertNull(credentials.password());
            assertEquals(List.of(), credentials.secrets());
        }
    }

    @Test
    void findsTheSchemeThatReachesTheNetwork() {
        assertEquals("sftp", VfsOptions.innermostScheme("tgz:zip:sftp://host/a.zip!/b.tgz!/c"));
        assertEquals("file", VfsOptions.innermostScheme("zip:file:///a.zip!/x"));
        assertEquals("ftps", VfsOptions.innermostScheme("ftps://host/x"));
        assertEquals("res", VfsOptions.innermostScheme("res:a/b.bin"));
    }
}
