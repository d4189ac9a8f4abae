package dev.anymap.samples.examples;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.s3server.S3ServerProcess;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.Map;
import java.util.Random;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Maps an S3 object and reads a few longs of it. With no arguments, from an S3 server this program
 * starts in a child process (never in its own JVM); with {@code s3://bucket/key [ENDPOINT]}, from
 * AWS S3 or MinIO, with credentials from the AWS_* variables or a profile.
 */
public final class MapS3Object {
    private MapS3Object() {}

    public static void main(String[] args) throws Exception {
        if (args.length > 2) {
            System.err.println("usage: MapS3Object [s3://BUCKET/KEY [ENDPOINT]]");
            System.exit(2);
        }
        if (args.length > 0) {
            Map<String, String> options = args.length == 2 ? Map.of("endpoint", args[1], "path-style", "true") : Map.of();
            readSome(URI.create(args[0]), options);
            return;
        }
        try (S3ServerProcess server = S3ServerProcess.start(); S3Client client = server.newClient()) {
            byte[] object = new byte[8 << 20];
            new Random(1).nextBytes(object);
            client.createBucket(b -> b.bucket("samples"));
            client.putObject(b -> b.bucket("samples").key("random.bin"), RequestBody.fromBytes(object));
            System.out.println("stored s3://samples/random.bin on the S3 server at " + server.endpoint());
            readSome(URI.create("s3://samples/random.bin"), server.backendOptions());
        }
    }

    private static void readSome(URI uri, Map<String, String> backendOptions) throws Exception {
        try (Anymap anymap = Anymap.open();
             MappedRegion region = anymap.map(uri, MapOptions.defaults().withBackendOptions(backendOptions).withReadahead(0))) {
            MemorySegment memory = region.segment();
            System.out.printf("mapped %s: %,d bytes, version %s%n", uri, memory.byteSize(), region.version());
            long last = memory.byteSize() - Long.BYTES;
            for (long offset : new long[] {0, memory.byteSize() / 2, last}) {
                // Loaded first: the round trip to S3 is waited out in native code, where it holds up no safepoint.
                region.load(offset, Long.BYTES);
                long value = memory.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), offset);
                System.out.printf("long at %,d: %016x%n", offset, value);
            }
            System.out.printf("fetched %d chunks (%,d bytes) of %,d%n", region.stats().chunksFetched(), region.stats().bytesFetched(),
                    memory.byteSize());
        }
    }
}
