package dev.anymap.samples;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code anymap cp}: one object into another through mapped memory, the source mapped read-only and
 * the destination created (or, with --overwrite, mapped) writable, its writes reaching storage at one
 * flush when the copy is done.
 */
@Command(name = "cp", mixinStandardHelpOptions = true,
        description = {"Copy an object into another through mapped memory (a local file into S3, say): SRC is mapped read-only, "
                + "DST is created with SRC's size and mapped writable, the bytes copied from memory to memory, and DST's writes "
                + "flushed to its storage once at the end. Prints DST's size and new version.",
                "-o gives an option to both objects; --src-option and --dst-option to one of them (and win over -o for that key).",
                "A DST that exists is refused (exit code 6) unless --overwrite is given; then it must have SRC's size. A copy that "
                        + "fails midway leaves DST incomplete: a new DST exists from the start, with zeros where nothing was copied."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:done", "2:bad usage or argument (DST's size differs from SRC's with --overwrite)", "3:no such object (SRC, or the directory of a file DST)",
                "4:access denied", "5:storage or page server failure", "6:DST exists (give --overwrite to write over it)"})
final class CopyCommand implements Callable<Integer> {
    /** Bytes copied between progress updates: each is loaded, copied and counted in native code and memory. */
    private static final long BLOCK = 4 << 20;

    @Parameters(index = "0", paramLabel = "SRC", description = "The object to copy: a URI or a local path.")
    String source;

    @Parameters(index = "1", paramLabel = "DST", description = "The object to write: a URI or a local path.")
    String destination;

    @Option(names = "--overwrite", description = "Write over DST if it exists (it must have SRC's size); create it otherwise.")
    boolean overwrite;

    @Option(names = "--src-option", paramLabel = "KEY=VALUE", description = "A backend option for SRC only (repeatable).")
    Map<String, String> sourceOptions = Map.of();

    @Option(names = "--dst-option", paramLabel = "KEY=VALUE", description = "A backend option for DST only (repeatable).")
    Map<String, String> destinationOptions = Map.of();

    @Mixin
    MappingOptions mapping;

    @Override
    public Integer call() throws IOException {
        URI from = BackendRegistry.toUri(source);
        URI to = BackendRegistry.toUri(destination);
        if (from.equals(to)) {
            throw new IllegalArgumentException(destination + " is SRC itself: give another DST");
        }
        try (Anymap anymap = Anymap.open(mapping.config());
             MappedRegion in = hinted(() -> anymap.map(from, options(sourceOptions)))) {
            MappedRegion out = hinted(() -> destination(anymap, to, in.size()));
            try (Progress progress = new Progress("cp", in.size())) {
                copy(in, out, progress);
            } catch (IOException | RuntimeException | Error e) {
                // Nothing half copied is flushed on purpose (a file: DST is the file, and holds what was copied).
                out.closeWithoutFlush();
                throw e;
            }
            ObjectVersion version;
            try {
                version = out.flush();
            } finally {
                // A failed flush leaves the region open with its writes: give them up, the failure says what happened.
                out.closeWithoutFlush();
            }
            System.out.printf("%s: %,d bytes copied from %s, version %s%n", Redaction.uri(to), in.size(), Redaction.uri(from), version);
        }
        return 0;
    }

    /** DST mapped writable with {@code size} bytes: created, or with --overwrite the object there if it has that size. */
    private MappedRegion destination(Anymap anymap, URI to, long size) throws IOException {
        MapOptions options = options(destinationOptions).withWritable(true);
        try {
            return anymap.create(to, size, options);
        } catch (FileAlreadyExistsException exists) {
            if (!overwrite) {
                throw new FileAlreadyExistsException(Redaction.uri(to) + " exists: give --overwrite to write over it, or another DST");
            }
        }
        MappedRegion existing;
        try {
            existing = anymap.map(to, options);
        } catch (NoSuchFileException gone) {
            return anymap.create(to, size, options); // removed since the create found it
        }
        if (existing.size() != size) {
            existing.closeWithoutFlush();
            throw new IllegalArgumentException(Redaction.uri(to) + " has " + existing.size() + " bytes and " + source + " has " + size
                    + ": --overwrite writes over an object of the same size only; remove DST first, or give another DST");
        }
        return existing;
    }

    /**
     * Copies every byte of {@code in} into {@code out}. Each block of DST is loaded first, then SRC's
     * copied into it by copyTo, which loads SRC's: every wait on storage is in native code, where it
     * holds up no safepoint, and the copy itself touches only pages that are present.
     */
    private static void copy(MappedRegion in, MappedRegion out, Progress progress) throws IOException {
        long size = in.size();
        for (long done = 0; done < size; ) {
            long piece = Math.min(BLOCK, size - done);
            out.load(done, piece);
            in.copyTo(done, out.segment().asSlice(done, piece));
            done += piece;
            progress.update(done);
        }
    }

    private interface Mapping {
        MappedRegion map() throws IOException;
    }

    /** A map whose bad option may have come from -o, which the other object needed: says how to give it to one side. */
    private MappedRegion hinted(Mapping mapping) throws IOException {
        try {
            return mapping.map();
        } catch (IllegalArgumentException e) {
            if (this.mapping.backendOptions.isEmpty() || !e.getMessage().contains("option")) {
                throw e;
            }
            throw new IllegalArgumentException(e.getMessage() + " (-o gives an option to SRC and DST both: give it to one of them "
                    + "with --src-option or --dst-option)", e);
        }
    }

    /** The map options for one side: -o, then that side's own options over it. */
    private MapOptions options(Map<String, String> ownOptions) {
        Map<String, String> merged = new HashMap<>(mapping.backendOptions);
        merged.putAll(ownOptions);
        return mapping.mapOptions().withBackendOptions(merged);
    }
}
