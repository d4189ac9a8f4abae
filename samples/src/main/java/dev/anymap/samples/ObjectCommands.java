package dev.anymap.samples;

import dev.anymap.Anymap;
import dev.anymap.MappedRegion;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The commands that read objects: through mapped memory, as an application would. */
final class ObjectCommands {
    private static final long BLOCK = 1 << 20;

    private ObjectCommands() {}

    /**
     * Copies {@code [from, from + length)} of a mapped object to {@code out}. Each block is loaded
     * first: the wait on storage is then in native code, where it holds up no safepoint of this JVM,
     * and a failed fetch is an IOException naming the object instead of an InternalError.
     */
    static void copy(MappedRegion region, long from, long length, WritableByteChannel out, Progress progress) throws IOException {
        MemorySegment memory = region.segment();
        for (long done = 0; done < length; ) {
            long piece = Math.min(BLOCK, length - done);
            region.load(from + done, piece);
            var buffer = memory.asSlice(from + done, piece).asByteBuffer();
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
            done += piece;
            progress.update(done);
        }
    }

    @Command(name = "cat", mixinStandardHelpOptions = true, description = "Write mapped objects to standard output.")
    static final class Cat implements Callable<Integer> {
        @Parameters(paramLabel = "URI", arity = "1..*", description = "Objects: URIs or local paths.")
        List<String> locations;

        @Mixin
        MappingOptions mapping;

        @Override
        public Integer call() throws IOException {
            WritableByteChannel out = Channels.newChannel(System.out);
            try (Anymap anymap = Anymap.open(mapping.config())) {
                for (String location : locations) {
                    try (MappedRegion region = anymap.map(BackendRegistry.toUri(location), mapping.mapOptions());
                         Progress progress = new Progress("cat", region.size())) {
                        copy(region, 0, region.size(), out, progress);
                    }
                }
            }
            System.out.flush();
            return 0;
        }
    }

    @Command(name = "sha256sum", mixinStandardHelpOptions = true,
            description = "Print the SHA-256 of mapped objects, as sha256sum does, read through memory.")
    static final class Sha256Sum implements Callable<Integer> {
        @Parameters(paramLabel = "URI", arity = "1..*", description = "Objects: URIs or local paths.")
        List<String> locations;

        @Mixin
        MappingOptions mapping;

        @Override
        public Integer call() throws Exception {
            try (Anymap anymap = Anymap.open(mapping.config())) {
                for (String location : locations) {
                    URI uri = BackendRegistry.toUri(location);
                    MessageDigest digest = MessageDigest.getInstance("SHA-256");
                    try (MappedRegion region = anymap.map(uri, mapping.mapOptions());
                         Progress progress = new Progress("sha256sum", region.size())) {
                        copy(region, 0, region.size(), new DigestChannel(digest), progress);
                    }
                    System.out.println(HexFormat.of().formatHex(digest.digest()) + "  " + location);
                }
            }
            return 0;
        }
    }

    @Command(name = "dd", mixinStandardHelpOptions = true, description = "Copy a byte range of a mapped object out.")
    static final class Dd implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "URI", description = "The object: a URI or a local path.")
        String location;

        @Option(names = "--skip", paramLabel = "BYTES", defaultValue = "0", description = "Offset of the first byte (default: 0).")
        long skip;

        @Option(names = "--count", paramLabel = "BYTES", description = "How many bytes (default: to the end).")
        Long count;

        @Option(names = "--of", paramLabel = "FILE", description = "Write here instead of to standard output.")
        Path output;

        @Mixin
        MappingOptions mapping;

        @Override
        public Integer call() throws IOException {
            try (Anymap anymap = Anymap.open(mapping.config());
                 MappedRegion region = anymap.map(BackendRegistry.toUri(location), mapping.mapOptions())) {
                long length = count == null ? region.size() - skip : count;
                checkRange(region.size());
                try (OutputStream stream = output == null ? System.out : Files.newOutputStream(output);
                     Progress progress = new Progress("dd", length)) {
                    copy(region, skip, length, Channels.newChannel(stream), progress);
                    stream.flush();
                }
            }
            return 0;
        }

        /** Says what is wrong with --skip and --count in the terms they were given, and what would do. */
        private void checkRange(long size) {
            if (skip < 0) {
                throw new IllegalArgumentException("--skip " + skip + " is negative; give the offset of the first byte, from 0");
            }
            if (count != null && count < 0) {
                throw new IllegalArgumentException("--count " + count + " is negative; give how many bytes to copy, "
                        + "or leave --count out to copy to the end");
            }
            if (skip > size) {
                throw new IllegalArgumentException("--skip " + skip + " is past the end of " + location + ", which has " + size
                        + " bytes; give --skip from 0 to " + size);
            }
            if (count != null && count > size - skip) {
                throw new IllegalArgumentException("--skip " + skip + " --count " + count + " reaches past the end of " + location
                        + ", which has " + size + " bytes; from --skip " + skip + " give at most --count " + (size - skip)
                        + ", or leave --count out to copy to the end");
            }
        }
    }

    @Command(name = "stat", mixinStandardHelpOptions = true,
            description = "Show objects' size, version, and the backend that serves them (without mapping them).")
    static final class Stat implements Callable<Integer> {
        @Parameters(paramLabel = "URI", arity = "1..*", description = "Objects: URIs or local paths.")
        List<String> locations;

        @Option(names = {"-o", "--option"}, paramLabel = "KEY=VALUE", description = "A backend option (repeatable).")
        java.util.Map<String, String> backendOptions = java.util.Map.of();

        @Override
        public Integer call() throws IOException {
            BackendRegistry registry = BackendRegistry.load();
            for (String location : locations) {
                URI uri = BackendRegistry.toUri(location);
                BackendProvider provider = registry.provider(uri);
                try (StorageBackend backend = registry.open(uri, backendOptions)) {
                    System.out.printf("%s%n  size:    %,d bytes%n  version: %s%n  backend: %s%n", Redaction.uri(uri), backend.size(),
                            backend.version(), provider.name());
                }
            }
            return 0;
        }
    }

    /** A channel that feeds a digest. */
    private static final class DigestChannel implements WritableByteChannel {
        private final MessageDigest digest;

        DigestChannel(MessageDigest digest) {
            this.digest = digest;
        }

        @Override
        public int write(java.nio.ByteBuffer source) {
            int length = source.remaining();
            digest.update(source);
            return length;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {}
    }
}
