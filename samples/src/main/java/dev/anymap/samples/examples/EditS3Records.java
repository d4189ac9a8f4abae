package dev.anymap.samples.examples;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.s3server.S3ServerProcess;
import dev.anymap.spi.ObjectVersion;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

/**
 * Edits records of an S3 object in place: the table of {@link RecordTable}'s 64-byte records is
 * stored with the AWS SDK, mapped writable, a few records' values set through the
 * {@link RecordTable#RECORD} layout's {@link VarHandle}s, and flushed: a new version of the object,
 * whose unchanged parts S3 copies in place, checked by reading it back with the plain SDK. With no
 * arguments, from an S3 server this program starts in a child process (never in its own JVM); with
 * {@code s3://bucket/key [ENDPOINT]}, on AWS S3 or MinIO (credentials from the AWS_* variables or a
 * profile), where it stores the table at a key that must not exist yet.
 */
public final class EditS3Records {
    private static final VarHandle KEY = RecordTable.RECORD.varHandle(PathElement.groupElement("key"));
    private static final VarHandle VALUE = RecordTable.RECORD.varHandle(PathElement.groupElement("value"));
    private static final long SIZE = RecordTable.RECORD.byteSize();
    /** 200,000 records: 12.8 MB, more than one part of a multipart commit, of which only the edited ones travel. */
    private static final int RECORDS = 200_000;
    private static final int EDITS = 12;

    private EditS3Records() {}

    /** What an edited record's value becomes. */
    static long edited(long key) {
        return key * 1_000_003L;
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 2) {
            System.err.println("usage: EditS3Records [s3://BUCKET/KEY [ENDPOINT]]");
            System.exit(2);
        }
        if (args.length > 0) {
            URI uri = URI.create(args[0]);
            Map<String, String> options = args.length == 2 ? Map.of("endpoint", args[1], "path-style", "true") : Map.of();
            var builder = S3Client.builder();
            if (args.length == 2) {
                builder.endpointOverride(URI.create(args[1])).forcePathStyle(true);
            }
            try (S3Client client = builder.build()) {
                System.exit(storeEditAndCheck(client, uri, options) ? 0 : 1);
            }
        }
        boolean right;
        try (S3ServerProcess server = S3ServerProcess.start(); S3Client client = server.newClient()) {
            client.createBucket(b -> b.bucket("samples"));
            System.out.println("S3 server at " + server.endpoint());
            right = storeEditAndCheck(client, URI.create("s3://samples/records.bin"), server.backendOptions());
        }
        System.exit(right ? 0 : 1);
    }

    private static boolean storeEditAndCheck(S3Client client, URI uri, Map<String, String> backendOptions) throws Exception {
        String bucket = uri.getHost();
        String key = uri.getPath().substring(1);
        ByteBuffer table = ByteBuffer.allocate(RECORDS * (int) SIZE).order(ByteOrder.nativeOrder());
        for (long i = 0; i < RECORDS; i++) {
            table.putLong(RecordTable.key(i)).putLong(RecordTable.value(RecordTable.key(i))).position(table.position() + 48);
        }
        // Never over an object that is there: the sample writes only the table it stored itself.
        client.putObject(b -> b.bucket(bucket).key(key).ifNoneMatch("*"), RequestBody.fromBytes(table.array()));
        System.out.printf("stored %s with the AWS SDK: %,d records of %d bytes (%,d bytes)%n", uri, RECORDS, SIZE, table.capacity());

        SplittableRandom random = new SplittableRandom(5);
        TreeSet<Long> chosen = new TreeSet<>();
        while (chosen.size() < EDITS) {
            chosen.add(random.nextLong(RECORDS));
        }
        // 64 KiB chunks, no readahead, no pull: an edit fetches the chunk of its record and nothing more.
        MapOptions options = MapOptions.defaults().withBackendOptions(backendOptions).withWritable(true)
                .withChunkSize(64 << 10).withReadahead(0).withAutoPull(false);
        ObjectVersion stored;
        ObjectVersion flushed;
        try (Anymap anymap = Anymap.open(); MappedRegion region = anymap.map(uri, options)) {
            MemorySegment memory = region.segment();
            stored = region.version();
            System.out.printf("mapped it writable: version %s%n", stored);
            for (long index : chosen) {
                long offset = index * SIZE;
                // Loaded first: the round trip to S3 is waited out in native code, where it holds up no safepoint.
                region.load(offset, SIZE);
                long recordKey = (long) KEY.get(memory, offset);
                long old = (long) VALUE.get(memory, offset);
                VALUE.set(memory, offset, edited(recordKey));
                System.out.printf("record %,9d (key %,9d): value %016x -> %016x%n", index, recordKey, old, edited(recordKey));
            }
            flushed = region.flush();
            System.out.printf("flushed: version %s (was %s); fetched %d chunks of %,d%n", flushed, stored,
                    region.stats().chunksFetched(), (memory.byteSize() + (64 << 10) - 1) / (64 << 10));
        }

        // The check, with no anymap in it: the SDK's download of the object against the table and the edits made.
        var download = client.getObjectAsBytes(b -> b.bucket(bucket).key(key));
        ByteBuffer read = download.asByteBuffer().order(ByteOrder.nativeOrder());
        GetObjectResponse response = download.response();
        int edits = 0;
        int unchanged = 0;
        for (long i = 0; i < RECORDS; i++) {
            long recordKey = RecordTable.key(i);
            long expected = chosen.contains(i) ? edited(recordKey) : RecordTable.value(recordKey);
            ByteBuffer record = read.slice((int) (i * SIZE), (int) SIZE).order(ByteOrder.nativeOrder());
            boolean padded = true;
            for (int at = 16; at < SIZE; at += Long.BYTES) {
                padded &= record.getLong(at) == 0;
            }
            if (record.getLong(0) == recordKey && record.getLong(8) == expected && padded) {
                if (chosen.contains(i)) {
                    edits++;
                } else {
                    unchanged++;
                }
            }
        }
        boolean sameVersion = unquoted(response.eTag()).equals(unquoted(flushed.value()));
        boolean right = read.capacity() == table.capacity() && edits == EDITS && unchanged == RECORDS - EDITS && sameVersion;
        System.out.printf("the AWS SDK reads ETag %s (%s the flushed version): %,d bytes, %d records edited, %,d as stored: %s%n",
                response.eTag(), sameVersion ? "is" : "IS NOT", read.capacity(), edits, unchanged, right ? "OK" : "WRONG");
        return right;
    }

    private static String unquoted(String etag) {
        return etag.replace("\"", "");
    }
}
