package dev.anymap;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;

/**
 * The order in which a mapped object was first touched, chunk by chunk: recorded by the page server
 * for every region ({@link MappedRegion#trace()}), saved beside the data, and replayed on a later map
 * ({@link MappedRegion#prefetch(AccessTrace)}) so that the chunks a workload needs arrive before it
 * asks for them, as sandbox platforms do to resume from a memory snapshot.
 *
 * @param objectSize the size of the object traced
 * @param objectVersion its version then, as {@link dev.anymap.spi.ObjectVersion#toString()} printed it
 * @param chunkSize the chunk size of the mapping traced
 * @param chunks chunk numbers, each once, in the order of first access
 */
public record AccessTrace(long objectSize, String objectVersion, int chunkSize, int[] chunks) {
    private static final long MAGIC = 0x414E594D41505452L; // "ANYMAPTR"
    private static final int FORMAT = 1;

    /** Checks that every chunk lies inside the object, and copies {@code chunks}. */
    public AccessTrace {
        Objects.requireNonNull(objectVersion, "objectVersion");
        if (chunkSize <= 0 || objectSize < 0) {
            throw new IllegalArgumentException("chunk size " + chunkSize + " and object size " + objectSize);
        }
        long count = (objectSize + chunkSize - 1) / chunkSize;
        for (int chunk : chunks) {
            if (chunk < 0 || chunk >= count) {
                throw new IllegalArgumentException("chunk " + chunk + " is outside an object of " + count + " chunks");
            }
        }
        chunks = chunks.clone();
    }

    /** The chunk numbers in the order of first access; a copy, which the caller may change. */
    @Override
    public int[] chunks() {
        return chunks.clone();
    }

    /** The same order in chunks of {@code otherChunkSize}: each once, where its first byte was first touched. */
    public int[] chunksFor(int otherChunkSize) {
        if (otherChunkSize == chunkSize) {
            return chunks.clone();
        }
        Set<Integer> order = new LinkedHashSet<>();
        for (int chunk : chunks) {
            long start = (long) chunk * chunkSize;
            long end = Math.min(objectSize, start + chunkSize);
            for (long offset = start; offset < end; offset += Math.min(chunkSize, otherChunkSize)) {
                order.add((int) (offset / otherChunkSize));
            }
        }
        return order.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Writes this trace to {@code file} in the format that {@link #load(Path)} reads, replacing the file. */
    public void save(Path file) throws IOException {
        try (DataOutputStream out = new DataOutputStream(new java.io.BufferedOutputStream(Files.newOutputStream(file)))) {
            out.writeLong(MAGIC);
            out.writeInt(FORMAT);
            out.writeLong(objectSize);
            out.writeUTF(objectVersion);
            out.writeInt(chunkSize);
            out.writeInt(chunks.length);
            for (int chunk : chunks) {
                out.writeInt(chunk);
            }
        }
    }

    /**
     * Reads a trace that {@link #save} wrote.
     *
     * @throws IOException if the file is not such a trace, naming what is wrong
     */
    public static AccessTrace load(Path file) throws IOException {
        try (DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(Files.newInputStream(file)))) {
            if (in.readLong() != MAGIC) {
                throw new IOException(file + " is not an anymap access trace");
            }
            int format = in.readInt();
            if (format != FORMAT) {
                throw new IOException(file + " is an access trace of format " + format + "; this anymap reads format " + FORMAT);
            }
            long objectSize = in.readLong();
            String version = in.readUTF();
            int chunkSize = in.readInt();
            int count = in.readInt();
            if (count < 0 || count > Files.size(file) / Integer.BYTES) {
                throw new IOException(file + " says it holds " + count + " chunks, more than it can");
            }
            int[] chunks = new int[count];
            for (int i = 0; i < count; i++) {
                chunks[i] = in.readInt();
            }
            return new AccessTrace(objectSize, version, chunkSize, chunks);
        } catch (EOFException e) {
            throw new IOException(file + " is a truncated access trace", e);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + " is not a valid access trace: " + e.getMessage(), e);
        }
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof AccessTrace t && t.objectSize == objectSize && t.objectVersion.equals(objectVersion)
                && t.chunkSize == chunkSize && Arrays.equals(t.chunks, chunks);
    }

    @Override
    public int hashCode() {
        return Objects.hash(objectSize, objectVersion, chunkSize, Arrays.hashCode(chunks));
    }

    @Override
    public String toString() {
        return "AccessTrace[" + chunks.length + " chunks of " + chunkSize + " bytes, object of " + objectSize + " bytes at "
                + objectVersion + "]";
    }
}
