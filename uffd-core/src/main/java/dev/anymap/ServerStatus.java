package dev.anymap;

import java.util.List;

/**
 * What a page server holds, for every client it serves.
 *
 * @param serverPid the page server's process
 * @param clients how many client connections it has (an {@link Anymap} each)
 * @param regionCount how many regions it serves in all
 * @param regions the regions, or the first {@value dev.anymap.protocol.MessageCodec#MAX_REGIONS} of them
 * @param takeOvers how many times, since this {@link Anymap} was opened, a page server took over its
 *     regions from one that died (the server's keeper started it; see the README's "When the page
 *     server dies")
 * @param cacheLimit the memory budget of the server's shared page cache, in bytes
 * @param cachedBytes what the cache holds now, of every object it serves
 * @param evictions chunks the cache dropped so far to keep its budget
 */
public record ServerStatus(long serverPid, int clients, long regionCount, List<Region> regions, int takeOvers, long cacheLimit,
                           long cachedBytes, long evictions) {

    /**
     * One mapped region.
     *
     * @param clientPid the process that mapped it
     * @param regionId the region's number on this page server, for {@link Anymap#trace(long)}
     * @param uri the object, without secrets
     * @param version the object's version, as {@link dev.anymap.spi.ObjectVersion#toString()} prints it
     * @param residentBytes how much of it the page server's cache holds (0 for a kernel-mapped region)
     * @param writable whether it was mapped writable: its pages stay in the page server's memory until it closes
     * @param guest whether it is another process's memory served by copying ({@link Anymap#serve}): a
     *     virtual machine's guest memory
     * @param kernelMapped whether the kernel maps it from a local file of the object, with no page server
     *     in the path: nothing is fetched for it, and it reads on whatever happens to page servers
     */
    public record Region(long clientPid, long regionId, String uri, String version, long size, int chunkSize, long residentBytes,
                         RegionStats stats, boolean kernelMapped, boolean writable, boolean guest) {}
}
