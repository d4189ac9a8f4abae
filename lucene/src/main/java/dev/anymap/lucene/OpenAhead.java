package dev.anymap.lucene;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import org.apache.lucene.codecs.CodecUtil;
import org.apache.lucene.store.ByteArrayDataInput;
import org.apache.lucene.util.StringHelper;

/**
 * The files of an index mapped all at once when its directory opens, {@value #AT_ONCE} at a time, for
 * the reader's {@code openInput}s to take: a reader opens its files one after the other, and on remote
 * storage each map costs round trips (an S3 map is a GET), which they then wait for together, once.
 * Each file's footer is loaded too: a reader checks every file's footer as it opens it (Lucene's
 * {@code CodecUtil.retrieveChecksum}), which would otherwise be a fault, a round trip, per file, one
 * after the other. A region nobody takes is unmapped when the directory closes.
 *
 * <p>A compound segment ({@code .cfe} and {@code .cfs}) holds all of a segment's files in one: each
 * of its readers opens its file as a slice of the {@code .cfs} and reads its header and footer
 * first, one after the other, a round trip each on remote storage. The first and last chunks of every
 * file it holds (every chunk of a small one: the metadata files, read whole at open) are fetched
 * together as soon as both are mapped, where the {@code .cfe} lists them.
 */
final class OpenAhead {
    static final int AT_ONCE = 16;
    /** Lucene's footer: magic, algorithm and checksum. */
    private static final int FOOTER = 16;
    /** A file of a compound segment this many chunks long or shorter is fetched whole. */
    private static final int WHOLE_CHUNKS = 4;
    /** The codec of Lucene's compound entries (Lucene90CompoundFormat, the compound format of Lucene 9 and 10). */
    private static final String COMPOUND_ENTRIES = "Lucene90CompoundEntries";
    private static final String ENTRIES = ".cfe";
    private static final String DATA = ".cfs";

    private final Map<String, Future<MappedRegion>> maps = new ConcurrentHashMap<>();

    OpenAhead(Anymap anymap, MapOptions options, Function<String, URI> uris, Collection<String> names) {
        if (names.isEmpty()) {
            return;
        }
        // Platform threads: a map and a load wait in native calls, which would pin a virtual thread's carrier.
        ExecutorService threads = Executors.newFixedThreadPool(Math.min(AT_ONCE, names.size()),
                Thread.ofPlatform().daemon().name("anymap-lucene-open-ahead-", 0).factory());
        for (String name : names) {
            URI uri = uris.apply(name);
            maps.put(name, threads.submit(() -> {
                MappedRegion region = anymap.map(uri, options);
                try {
                    long footer = Math.min(FOOTER, region.size());
                    region.load(region.size() - footer, footer);
                } catch (IOException failed) {
                    // The reader's own read of the footer fails with the cause, where Lucene reads it.
                }
                return region;
            }));
        }
        for (String name : names) {
            Future<MappedRegion> entries = name.endsWith(DATA) ? maps.get(name.substring(0, name.length() - DATA.length()) + ENTRIES) : null;
            if (entries != null) {
                Future<MappedRegion> data = maps.get(name);
                // Behind every map in the queue: the maps it waits for are under way before it starts.
                threads.submit(() -> fetchCompoundFiles(entries, data, options.chunkSize()));
            }
        }
        threads.shutdown(); // its threads end once every map has
    }

    /**
     * Has the page server fetch, all at once, the first and last chunks of every file in a compound
     * segment's data file, as the {@code .cfe} lists them. A hint only: on any failure, or entries of
     * a format other than Lucene's, each reader's reads fetch what they need.
     */
    private static Void fetchCompoundFiles(Future<MappedRegion> entriesMap, Future<MappedRegion> dataMap, int chunkSize)
            throws InterruptedException {
        try {
            MappedRegion entries = entriesMap.get();
            MappedRegion data = dataMap.get();
            if (entries.size() > Integer.MAX_VALUE) {
                return null;
            }
            byte[] bytes = new byte[(int) entries.size()];
            entries.copyTo(0, MemorySegment.ofArray(bytes));
            int[] chunks = compoundChunks(bytes, data.size(), chunkSize);
            if (chunks.length > 0) {
                data.prefetch(new AccessTrace(data.size(), data.version().toString(), chunkSize, chunks));
            }
        } catch (ExecutionException | IOException | RuntimeException notAHint) {
            // A failed map is the reader's to report, as are entries that cannot be read; a region the reader
            // already closed needs nothing fetched.
        }
        return null;
    }

    /**
     * The chunks of a compound data file of {@code dataSize} bytes that its readers read at open, as
     * the compound entries {@code entries} (a {@code .cfe}) place its files: the first and last chunk
     * of each, every chunk of a small one. Empty for entries of another format, or of another file.
     */
    static int[] compoundChunks(byte[] entries, long dataSize, int chunkSize) throws IOException {
        ByteArrayDataInput in = new ByteArrayDataInput(entries);
        CodecUtil.checkHeader(in, COMPOUND_ENTRIES, 0, 0);
        in.skipBytes(StringHelper.ID_LENGTH);
        CodecUtil.checkIndexHeaderSuffix(in, "");
        Set<Integer> chunks = new LinkedHashSet<>();
        for (int files = in.readVInt(); files > 0; files--) {
            in.readString();
            long offset = in.readLong();
            long length = in.readLong();
            if (offset < 0 || length < 0 || offset + length > dataSize) {
                return new int[0]; // not the entries of this data file: its readers say what is wrong
            }
            if (length == 0) {
                continue;
            }
            int first = (int) (offset / chunkSize);
            int last = (int) ((offset + length - 1) / chunkSize);
            for (int chunk = first; chunk <= last; chunk++) {
                if (last - first < WHOLE_CHUNKS || chunk == first || chunk == last) {
                    chunks.add(chunk);
                }
            }
        }
        return chunks.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * The region mapped ahead for {@code name}, once; null if none was, or its map failed: the caller
     * then maps the file itself, and gets the failure, with its cause, where Lucene asked for the file.
     */
    MappedRegion take(String name) throws IOException {
        Future<MappedRegion> map = maps.remove(name);
        if (map == null) {
            return null;
        }
        try {
            return map.get();
        } catch (ExecutionException failed) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            maps.put(name, map); // still under way: unmapped at close
            throw new InterruptedIOException("interrupted while mapping " + name);
        }
    }

    /** Unmaps what no one took, once its map has ended. */
    void close() throws IOException {
        IOException failure = null;
        for (String name : maps.keySet()) {
            Future<MappedRegion> map = maps.remove(name);
            if (map == null) {
                continue;
            }
            try {
                map.get().close();
            } catch (ExecutionException failedAnyway) {
                // nothing was mapped
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while unmapping the files no reader opened");
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
