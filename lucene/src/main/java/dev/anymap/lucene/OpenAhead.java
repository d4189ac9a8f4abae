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
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.Semaphore;
import java.util.function.Function;

/**
 * The files of an index mapped all at once when its directory opens, {@value #AT_ONCE} at a time, for
 * the reader's {@code openInput}s to take: a reader opens its files one after the other, and on remote
 * storage each map costs round trips (an S3 map is a GET), which they then wait for together, once.
 * A region nobody takes is unmapped when the directory closes.
 */
final class OpenAhead {
    static final int AT_ONCE = 16;

    private final Map<String, Future<MappedRegion>> maps = new ConcurrentHashMap<>();

    OpenAhead(Anymap anymap, MapOptions options, Function<String, URI> uris, Collection<String> names) {
        Semaphore permits = new Semaphore(AT_ONCE);
        for (String name : names) {
            URI uri = uris.apply(name);
            FutureTask<MappedRegion> map = new FutureTask<>(() -> {
                permits.acquire();
                try {
                    return anymap.map(uri, options);
                } finally {
                    permits.release();
                }
            });
            maps.put(name, map);
            Thread.ofVirtual().name("anymap-lucene-open-ahead").start(map);
        }
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
