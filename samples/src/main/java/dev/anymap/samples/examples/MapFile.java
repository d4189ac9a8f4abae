package dev.anymap.samples.examples;

import dev.anymap.Anymap;
import dev.anymap.MappedRegion;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;

/** Maps a local file and reads it through memory: its first bytes, and its SHA-256. */
public final class MapFile {
    private MapFile() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: MapFile PATH");
            System.exit(2);
        }
        Path file = Path.of(args[0]);
        try (Anymap anymap = Anymap.open();
             MappedRegion region = anymap.map(file.toUri())) {
            MemorySegment memory = region.segment();
            System.out.printf("mapped %s: %,d bytes%n", file, memory.byteSize());
            byte[] first = memory.asSlice(0, Math.min(16, memory.byteSize())).toArray(ValueLayout.JAVA_BYTE);
            System.out.println("first bytes: " + HexFormat.ofDelimiter(" ").formatHex(first));
            MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
            for (long offset = 0; offset < memory.byteSize(); offset += 1 << 20) {
                long length = Math.min(1 << 20, memory.byteSize() - offset);
                region.load(offset, length); // waits on storage in native code, where it holds up no safepoint
                sha256.update(memory.asSlice(offset, length).asByteBuffer());
            }
            System.out.println("sha256: " + HexFormat.of().formatHex(sha256.digest()));
            System.out.printf("fetched %d chunks, %,d bytes, for %d faults%n", region.stats().chunksFetched(),
                    region.stats().bytesFetched(), region.stats().faults());
        }
    }
}
