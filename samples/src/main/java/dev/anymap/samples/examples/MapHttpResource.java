package dev.anymap.samples.examples;

import dev.anymap.Anymap;
import dev.anymap.MappedRegion;
import dev.anymap.s3server.S3ServerProcess;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Random;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

/**
 * Maps an HTTP resource (any server that answers ranged GETs) and hashes it through memory. With no
 * argument, the resource is a presigned URL of an object on an S3 server this program starts in a
 * child process: plain HTTP, no S3 client involved in the mapping.
 */
public final class MapHttpResource {
    private MapHttpResource() {}

    public static void main(String[] args) throws Exception {
        if (args.length > 1) {
            System.err.println("usage: MapHttpResource [URL]");
            System.exit(2);
        }
        if (args.length == 1) {
            hash(URI.create(args[0]));
            return;
        }
        try (S3ServerProcess server = S3ServerProcess.start(); S3Client client = server.newClient();
             S3Presigner presigner = S3Presigner.builder().endpointOverride(server.endpoint()).region(Region.of(server.region()))
                     .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey())))
                     .serviceConfiguration(S3Configuration.builder().pathStyleAccessEnabled(true).build()).build()) {
            byte[] object = new byte[3 << 20];
            new Random(2).nextBytes(object);
            client.createBucket(b -> b.bucket("samples"));
            client.putObject(b -> b.bucket("samples").key("page.bin"), RequestBody.fromBytes(object));
            URI url = presigner.presignGetObject(p -> p.signatureDuration(Duration.ofMinutes(10))
                    .getObjectRequest(g -> g.bucket("samples").key("page.bin"))).url().toURI();
            System.out.println("serving a presigned URL of s3://samples/page.bin from " + server.endpoint());
            hash(url);
        }
    }

    private static void hash(URI url) throws Exception {
        try (Anymap anymap = Anymap.open(); MappedRegion region = anymap.map(url)) {
            MemorySegment memory = region.segment();
            // The query of a presigned URL is a credential: print the resource without it.
            System.out.printf("mapped %s://%s%s: %,d bytes, version %s%n", url.getScheme(), url.getAuthority(), url.getPath(),
                    memory.byteSize(), region.version());
            MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
            for (long offset = 0; offset < memory.byteSize(); offset += 1 << 20) {
                sha256.update(memory.asSlice(offset, Math.min(1 << 20, memory.byteSize() - offset)).asByteBuffer());
            }
            System.out.println("sha256: " + HexFormat.of().formatHex(sha256.digest()));
            System.out.printf("fetched %d chunks, %,d bytes%n", region.stats().chunksFetched(), region.stats().bytesFetched());
        }
    }
}
