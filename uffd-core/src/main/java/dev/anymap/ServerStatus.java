package dev.anymap;

import java.util.List;

/**
 * What a page server holds, for every client it serves.
 *
 * @param serverPid the page server's process
 * @param clients how many client connections it has (an {@link Anymap} each)
 * @param regionCount how many regions it serves in all
 * @param regions the regions, or the first {@value dev.anymap.protocol.MessageCodec#MAX_REGIONS} of them
 */
public record ServerStatus(long serverPid, int clients, long regionCount, List<Region> regions) {

    /**
     * One mapped region.
     *
     * @param clientPid the process that mapped it
     * @param uri the object, without secrets
     * @param residentBytes how much of it the page server has installed
     */
    public record Region(long clientPid, String uri, long size, int chunkSize, long residentBytes, RegionStats stats) {}
}
