package dev.anymap.lucene;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * The files of an index mapped all at once when its directory opens, {@value #AT_ONCE} at a time, for
 * the reader's {@code openInput}s to take: a reader opens its files one after the other, and on remote
 * storage each map costs round trips (an S3 map is a GET), which they then wait for together, once.
 * Each file's footer is loaded too: a reader checks every file's footer as it opens it (Lucene's
 * {@code CodecUtil.retrieveChecksum}), which would otherwise be a fault, a round trip, per file, one
 * after the other. A region nobody takes is unmapped when the directory closes.
 */
final class OpenAhead {
    static final int AT_ONCE = 16;
    /** Lucene's footer: magic, algorithm and checksum. */
    private static final int FOOTER = 16;

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
        threads.shutdown(); // its threads end once every map has
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
