package dev.anymap;

import java.util.ArrayList;
import java.util.List;

/**
 * What a page server takes from its clients: past a limit on connections or regions a client is
 * refused with an error that names it and the option of {@code anymap serve} (and
 * {@code PageServerMain}) that raises it; past a limit on fetches, prefetching or the cache, it
 * waits its turn, fetches nothing ahead, or loses its own chunks first. The other clients are
 * served as before.
 *
 * @param connections connections open at once, of all processes ({@value #CONNECTIONS})
 * @param connectionsPerProcess connections open at once of one process ({@value #CONNECTIONS_PER_PROCESS})
 * @param regionsPerProcess regions one process has mapped at once ({@value #REGIONS_PER_PROCESS})
 * @param fetchesPerProcess storage reads that the regions of one process have outstanding at once
 *     ({@value #FETCHES_PER_PROCESS}); a fault past it waits for one of them to end, and never fails
 * @param prefetchMemoryPerProcess bytes that prefetching for one process (readahead, pulls, replayed
 *     traces) may hold in the cache ahead of its faults, or 0 for no limit (the default): the server
 *     sees no read of a chunk already in memory, so chunks a scan has read count until they leave the
 *     cache, and a limit below the cache slows a scan of more than it
 * @param cacheSharePercent the share of the cache's limit that the chunks fetched for one process
 *     may hold when the cache is full ({@value #CACHE_SHARE_PERCENT}%): past it, its own chunks are dropped first
 */
public record ServerLimits(int connections, int connectionsPerProcess, int regionsPerProcess, int fetchesPerProcess,
                           long prefetchMemoryPerProcess, int cacheSharePercent) {
    /** The default of {@code --max-connections}: an anymap process holds one connection, a tool one more. */
    public static final int CONNECTIONS = 4096;
    /** The default of {@code --max-connections-per-process}. */
    public static final int CONNECTIONS_PER_PROCESS = 64;
    /** The default of {@code --max-regions-per-process}: each region mapped costs the server a thread while it is attached. */
    public static final int REGIONS_PER_PROCESS = 4096;
    /**
     * The default of {@code --max-fetches-per-process}: each read holds a worker thread of the server.
     * One region reads with up to 16 demand workers and 128 prefetch reads, so one busy region stays within it.
     */
    public static final int FETCHES_PER_PROCESS = 256;
    /** The default of {@code --max-prefetch-memory-per-process}: 0, no limit but the cache's own. */
    public static final long PREFETCH_MEMORY_PER_PROCESS = 0;
    /** The default of {@code --max-cache-share}, in percent of the cache's limit. */
    public static final int CACHE_SHARE_PERCENT = 50;
    public static final ServerLimits DEFAULTS = new ServerLimits(CONNECTIONS, CONNECTIONS_PER_PROCESS, REGIONS_PER_PROCESS,
            FETCHES_PER_PROCESS, PREFETCH_MEMORY_PER_PROCESS, CACHE_SHARE_PERCENT);

    public ServerLimits {
        if (connections < 1 || connectionsPerProcess < 1 || regionsPerProcess < 1 || fetchesPerProcess < 1) {
            throw new IllegalArgumentException("every limit of a page server is at least 1: " + connections + " connections, "
                    + connectionsPerProcess + " per process, " + regionsPerProcess + " regions per process, "
                    + fetchesPerProcess + " fetches per process");
        }
        if (prefetchMemoryPerProcess < 0) {
            throw new IllegalArgumentException("--max-prefetch-memory-per-process " + prefetchMemoryPerProcess
                    + " is negative; give bytes, or 0 for the cache's limit");
        }
        if (cacheSharePercent < 1 || cacheSharePercent > 100) {
            throw new IllegalArgumentException("--max-cache-share " + cacheSharePercent + " is not a percentage from 1 to 100");
        }
    }

    /** The limits of earlier versions, with the defaults of the later ones. */
    public ServerLimits(int connections, int connectionsPerProcess, int regionsPerProcess) {
        this(connections, connectionsPerProcess, regionsPerProcess, FETCHES_PER_PROCESS, PREFETCH_MEMORY_PER_PROCESS, CACHE_SHARE_PERCENT);
    }

    /** The options that give these limits to a server, those that differ from the defaults. */
    public List<String> arguments() {
        List<String> arguments = new ArrayList<>();
        if (connections != CONNECTIONS) {
            arguments.addAll(List.of("--max-connections", Integer.toString(connections)));
        }
        if (connectionsPerProcess != CONNECTIONS_PER_PROCESS) {
            arguments.addAll(List.of("--max-connections-per-process", Integer.toString(connectionsPerProcess)));
        }
        if (regionsPerProcess != REGIONS_PER_PROCESS) {
            arguments.addAll(List.of("--max-regions-per-process", Integer.toString(regionsPerProcess)));
        }
        if (fetchesPerProcess != FETCHES_PER_PROCESS) {
            arguments.addAll(List.of("--max-fetches-per-process", Integer.toString(fetchesPerProcess)));
        }
        if (prefetchMemoryPerProcess != PREFETCH_MEMORY_PER_PROCESS) {
            arguments.addAll(List.of("--max-prefetch-memory-per-process", Long.toString(prefetchMemoryPerProcess)));
        }
        if (cacheSharePercent != CACHE_SHARE_PERCENT) {
            arguments.addAll(List.of("--max-cache-share", Integer.toString(cacheSharePercent)));
        }
        return arguments;
    }

    public ServerLimits withConnections(int value) {
        return new ServerLimits(value, connectionsPerProcess, regionsPerProcess, fetchesPerProcess, prefetchMemoryPerProcess, cacheSharePercent);
    }

    public ServerLimits withConnectionsPerProcess(int value) {
        return new ServerLimits(connections, value, regionsPerProcess, fetchesPerProcess, prefetchMemoryPerProcess, cacheSharePercent);
    }

    public ServerLimits withRegionsPerProcess(int value) {
        return new ServerLimits(connections, connectionsPerProcess, value, fetchesPerProcess, prefetchMemoryPerProcess, cacheSharePercent);
    }

    public ServerLimits withFetchesPerProcess(int value) {
        return new ServerLimits(connections, connectionsPerProcess, regionsPerProcess, value, prefetchMemoryPerProcess, cacheSharePercent);
    }

    public ServerLimits withPrefetchMemoryPerProcess(long bytes) {
        return new ServerLimits(connections, connectionsPerProcess, regionsPerProcess, fetchesPerProcess, bytes, cacheSharePercent);
    }

    public ServerLimits withCacheSharePercent(int percent) {
        return new ServerLimits(connections, connectionsPerProcess, regionsPerProcess, fetchesPerProcess, prefetchMemoryPerProcess, percent);
    }
}
