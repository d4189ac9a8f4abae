package dev.anymap.samples;

import dev.anymap.MapOptions;
import java.time.Duration;
import java.util.Map;
import picocli.CommandLine.Option;

/** How an object is fetched: the tuning flags and backend options of every command that reads one. */
class TuningOptions {
    @Option(names = "--chunk", paramLabel = "BYTES", description = "Chunk size, a power of two from 4096 to 33554432 (default: "
            + MapOptions.DEFAULT_CHUNK_SIZE + ").")
    Integer chunk;

    @Option(names = "--readahead", paramLabel = "CHUNKS", description = "Most chunks to fetch ahead of a sequential read (default: "
            + MapOptions.DEFAULT_READAHEAD_CHUNKS + "; 0 for none).")
    Integer readahead;

    @Option(names = "--no-auto-pull", description = "Never pull the whole object on dense access; fetch only what is touched.")
    boolean noAutoPull;

    @Option(names = "--prefetch-memory", paramLabel = "BYTES", description = "Most bytes that prefetching may make resident (default: no limit).")
    Long prefetchMemory;

    @Option(names = "--prefetch-rate", paramLabel = "BYTES_PER_SECOND", description = "Most bytes per second that prefetching reads (default: no limit).")
    Long prefetchRate;

    @Option(names = "--fetch-deadline", paramLabel = "SECONDS", description = "Longest a fetch of a chunk may take, retries included, "
            + "before the read fails (default: 120).")
    Double fetchDeadline;

    @Option(names = {"-o", "--option"}, paramLabel = "KEY=VALUE", description = "A backend option (repeatable), e.g. -o region=eu-west-1.")
    Map<String, String> backendOptions = Map.of();

    MapOptions mapOptions() {
        MapOptions options = MapOptions.defaults().withBackendOptions(backendOptions);
        options = chunk == null ? options : options.withChunkSize(chunk);
        options = readahead == null ? options : options.withReadahead(readahead);
        if (prefetchMemory != null || prefetchRate != null) {
            options = options.withPrefetchLimits(prefetchMemory == null ? MapOptions.UNLIMITED : prefetchMemory,
                    prefetchRate == null ? MapOptions.UNLIMITED : prefetchRate);
        }
        if (fetchDeadline != null) {
            options = options.withFetchDeadline(deadline(fetchDeadline));
        }
        return options.withAutoPull(!noAutoPull);
    }

    private static Duration deadline(double seconds) {
        if (!(seconds >= 0.001 && seconds <= MapOptions.MAX_FETCH_DEADLINE.toSeconds())) {
            throw new IllegalArgumentException("--fetch-deadline " + seconds + " is not a number of seconds from 0.001 to "
                    + MapOptions.MAX_FETCH_DEADLINE.toSeconds());
        }
        return Duration.ofNanos(Math.round(seconds * 1e9));
    }
}
