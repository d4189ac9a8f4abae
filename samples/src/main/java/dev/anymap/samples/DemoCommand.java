package dev.anymap.samples;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.RegionStats;
import dev.anymap.s3server.S3ServerProcess;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Maps an S3 object, reads it through the MemorySegment, and checks it against the SDK's own download
 * of the same object: by default on an S3 server this command starts in a child process, with flags
 * on any S3 or MinIO object.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Map an S3 object, SHA-256 it and read it at random through memory, check both against the SDK's own "
                + "download of it, and print what was fetched and how long each phase took.",
                "With no options: an S3 server in a child process and a generated object of --size MiB on it."})
final class DemoCommand implements Callable<Integer> {
    private static final String DEFAULT_BUCKET = "anymap-demo";
    private static final int LONGEST_READ = 4096;

    @Option(names = "--endpoint", paramLabel = "URL", description = "An S3-compatible store (MinIO: http://127.0.0.1:9000); "
            + "credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile (AWS_PROFILE).")
    private URI endpoint;

    @Option(names = "--bucket", paramLabel = "BUCKET", description = "The object's bucket (with --key: use that object, not the embedded server).")
    private String bucket;

    @Option(names = "--key", paramLabel = "KEY", description = "The object's key.")
    private String key;

    @Option(names = "--region", paramLabel = "REGION", description = "Signing region (default: AWS_REGION or the profile's, else us-east-1).")
    private String region;

    @Option(names = "--path-style", arity = "0..1", paramLabel = "BOOLEAN",
            description = "Address buckets path-style (default: true with --endpoint, false on AWS).")
    private Boolean pathStyle;

    @Option(names = "--create", description = "If --key does not exist, upload a generated object of --size MiB there (and the bucket if missing).")
    private boolean create;

    @Option(names = "--size", paramLabel = "MIB", defaultValue = "256", description = "Size of a generated object (default: ${DEFAULT-VALUE}).")
    private long sizeMib;

    @Option(names = "--uri", paramLabel = "URI", description = "Map any other object instead (mem:, file:, http:, ...), checked against its backend read directly.")
    private URI uri;

    @Option(names = "--random-reads", paramLabel = "N", defaultValue = "5000", description = "Random reads to check (default: ${DEFAULT-VALUE}).")
    private int randomReads;

    @Option(names = "--chunk", paramLabel = "BYTES", description = "Chunk size (default: " + MapOptions.DEFAULT_CHUNK_SIZE + ").")
    private Integer chunk;

    @Option(names = "--socket", paramLabel = "PATH", description = "Page server socket (default: the user's page server).")
    private Path socket;

    @Override
    public Integer call() throws Exception {
        if (sizeMib < 1 || sizeMib > 5 << 10) {
            throw new IllegalArgumentException("--size is 1 to 5120 MiB (a single PUT), not " + sizeMib);
        }
        if ((bucket == null) != (key == null)) {
            throw new IllegalArgumentException("--bucket and --key go together: both name the object to map");
        }
        boolean external = bucket != null;
        if (uri != null && (external || endpoint != null)) {
            throw new IllegalArgumentException("--uri maps another object: leave out --endpoint, --bucket and --key");
        }
        if (!external && (endpoint != null || region != null || pathStyle != null || create)) {
            throw new IllegalArgumentException("--endpoint, --region, --path-style and --create need --bucket and --key");
        }
        if (uri != null) {
            return run(uri, Map.of(), () -> downloadThroughBackend(uri));
        }
        if (external) {
            try (DemoStore store = DemoStore.external(endpoint, region, pathStyle != null ? pathStyle : endpoint != null, bucket, key)) {
                if (create && !store.exists()) {
                    upload(store);
                }
                return runOnS3(store);
            }
        }
        long started = System.nanoTime();
        try (S3ServerProcess server = S3ServerProcess.start();
             DemoStore store = DemoStore.embedded(server, DEFAULT_BUCKET, "generated-" + sizeMib + "MiB.bin")) {
            System.out.printf(Locale.ROOT, "S3 server: s3proxy in a child JVM at %s, started in %.1f s%n", server.endpoint(),
                    seconds(started));
            upload(store);
            return runOnS3(store);
        }
    }

    private void upload(DemoStore store) throws IOException {
        long size = sizeMib << 20;
        long started = System.nanoTime();
        store.upload(System.nanoTime(), size);
        double seconds = seconds(started);
        System.out.printf(Locale.ROOT, "uploaded %s: %,d generated bytes in %.1f s (%.0f MB/s)%n", store.uri(), size, seconds,
                size / seconds / 1e6);
    }

    private int runOnS3(DemoStore store) throws Exception {
        try {
            return run(store.uri(), store.backendOptions(), () -> download(store.download()));
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(e.getFile(), null, e.getReason()
                    + "; add --create to upload a generated object of --size MiB there");
        }
    }

    /** The reference copy of the object, read without anymap, and its SHA-256. */
    private record Reference(Path file, byte[] sha256) {}

    @FunctionalInterface
    private interface Downloader {
        Reference download() throws IOException;
    }

    private int run(URI target, Map<String, String> backendOptions, Downloader downloader) throws Exception {
        MapOptions options = MapOptions.defaults().withBackendOptions(backendOptions);
        options = chunk == null ? options : options.withChunkSize(chunk);
        AnymapConfig config = socket == null ? AnymapConfig.defaults() : AnymapConfig.defaults().withSocket(socket);
        long started = System.nanoTime();
        try (Anymap anymap = Anymap.open(config);
             MappedRegion region = anymap.map(target, options)) {
            MemorySegment memory = region.segment();
            long size = memory.byteSize();
            if (size > 0) {
                memory.get(ValueLayout.JAVA_BYTE, 0);
            }
            System.out.printf(Locale.ROOT, "mapped %s: %,d bytes, version %s; first byte %.0f ms after Anymap.open()%n",
                    target, size, region.version(), seconds(started) * 1e3);

            long scanStarted = System.nanoTime();
            byte[] mappedSha = sha256(memory);
            double scanSeconds = seconds(scanStarted);
            System.out.printf(Locale.ROOT, "SHA-256 through memory:      %s in %.2f s (%.0f MB/s)%n", hex(mappedSha), scanSeconds,
                    size / scanSeconds / 1e6);

            long downloadStarted = System.nanoTime();
            Reference reference = downloader.download();
            try {
                double downloadSeconds = seconds(downloadStarted);
                System.out.printf(Locale.ROOT, "SHA-256 of a plain download: %s in %.2f s (%.0f MB/s), %s%n", hex(reference.sha256()),
                        downloadSeconds, size / downloadSeconds / 1e6, uri == null ? "the SDK's GetObject" : "the backend read directly");
                if (!Arrays.equals(mappedSha, reference.sha256())) {
                    System.out.println("MISMATCH: the mapped bytes differ from the downloaded ones");
                    return 1;
                }
                long readsStarted = System.nanoTime();
                long mismatch = randomReads(memory, reference.file());
                if (mismatch >= 0) {
                    System.out.printf("MISMATCH at offset %d%n", mismatch);
                    return 1;
                }
                System.out.printf(Locale.ROOT, "%,d random reads of 1 to %,d bytes match the download, in %.0f ms%n", randomReads,
                        LONGEST_READ, seconds(readsStarted) * 1e3);
            } finally {
                Files.deleteIfExists(reference.file());
            }
            RegionStats stats = region.stats();
            System.out.printf(Locale.ROOT, "fetched: %,d chunks of %,d bytes (%,d bytes, %.0f%% of the object) for %,d faults; "
                            + "fetch time median %.2f ms, p99 %.2f ms, longest %.2f ms; %d failures%n",
                    stats.chunksFetched(), options.chunkSize(), stats.bytesFetched(), 100.0 * stats.bytesFetched() / Math.max(1, size),
                    stats.faults(), millis(stats.fetchTimeP50()), millis(stats.fetchTimeP99()), millis(stats.fetchTimeMax()),
                    stats.failures());
            System.out.println("OK");
            return 0;
        }
    }

    private long randomReads(MemorySegment memory, Path copy) throws IOException {
        long size = memory.byteSize();
        SplittableRandom random = new SplittableRandom(42);
        byte[] viaMemory = new byte[LONGEST_READ];
        ByteBuffer viaCopy = ByteBuffer.allocate(LONGEST_READ);
        try (FileChannel file = FileChannel.open(copy)) {
            for (int i = 0; i < randomReads && size > 0; i++) {
                long offset = random.nextLong(size);
                int length = (int) Math.min(1 + random.nextInt(LONGEST_READ), size - offset);
                MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, offset, viaMemory, 0, length);
                viaCopy.clear().limit(length);
                while (viaCopy.hasRemaining() && file.read(viaCopy, offset + viaCopy.position()) >= 0) {
                    // positional reads until the range is in
                }
                if (!Arrays.equals(viaMemory, 0, length, viaCopy.array(), 0, length)) {
                    return offset;
                }
            }
        }
        return -1;
    }

    private static byte[] sha256(MemorySegment memory) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        long block = 1 << 20;
        for (long offset = 0; offset < memory.byteSize(); offset += block) {
            digest.update(memory.asSlice(offset, Math.min(block, memory.byteSize() - offset)).asByteBuffer());
        }
        return digest.digest();
    }

    /** Copies {@code in} to a temporary file, hashing it on the way. */
    private static Reference download(InputStream in) throws IOException {
        Path file = Files.createTempFile("anymap-demo-", ".bin");
        try (in; FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE)) {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 20];
            for (int n; (n = in.read(buffer)) >= 0; ) {
                digest.update(buffer, 0, n);
                out.write(ByteBuffer.wrap(buffer, 0, n));
            }
            return new Reference(file, digest.digest());
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(file);
            throw e;
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Reference downloadThroughBackend(URI target) throws IOException {
        StorageBackend backend = BackendRegistry.load().open(target);
        return download(new InputStream() {
            private long position;

            @Override
            public int read(byte[] into, int offset, int length) throws IOException {
                int count = (int) Math.min(length, backend.size() - position);
                if (count <= 0) {
                    return -1;
                }
                backend.read(position, MemorySegment.ofArray(into).asSlice(offset, count));
                position += count;
                return count;
            }

            @Override
            public int read() {
                throw new UnsupportedOperationException();
            }

            @Override
            public void close() throws IOException {
                backend.close();
            }
        });
    }

    private static double seconds(long since) {
        return (System.nanoTime() - since) / 1e9;
    }

    private static double millis(java.time.Duration duration) {
        return duration.toNanos() / 1e6;
    }

    private static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(bytes);
    }
}
