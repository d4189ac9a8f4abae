package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.URI;
import org.junit.jupiter.api.Test;

class S3LocationTest {
    @Test
    void theAuthorityIsTheBucketAndTheDecodedPathTheKey() {
        assertEquals(new S3Location("bucket", "dir/file.bin"), S3Location.of(URI.create("s3://bucket/dir/file.bin")));
        assertEquals(new S3Location("bucket", "a b/ü"), S3Location.of(URI.create("s3://bucket/a%20b/%C3%BC")));
        assertEquals(new S3Location("Old_Bucket", "k"), S3Location.of(URI.create("s3://Old_Bucket/k")));
        assertEquals(new S3Location("bucket", "dir/"), S3Location.of(URI.create("S3://bucket/dir/")));
    }

    @Test
    void aUriThatNamesNoObjectIsRefused() {
        for (String bad : new String[] {"s3://bucket", "s3://bucket/", "s3:///key", "s3:bucket/key", "s3://u:p@bucket/k",
                "s3://bucket:9000/k", "s3://bucket/k#f", "http://bucket/k"}) {
            assertThrows(IllegalArgumentException.class, () -> S3Location.of(URI.create(bad)), bad);
        }
    }
}
