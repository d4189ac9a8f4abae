package dev.anymap.server;

import dev.anymap.linux.Userfaultfd;

/**
 * The memory of a region, where its chunks reach the threads that wait on them: the region's fault
 * loop, its userfaultfd, and what the arrival or the failure of a chunk does there.
 */
interface RegionMemory {
    /** {@code chunk} is in the cache: makes it readable where the region's threads wait on it, and wakes them. */
    void arrived(int chunk, Userfaultfd.FillRequest fill);

    /** {@code chunk} could not be fetched: the threads waiting on it, and every later touch, fail. */
    void failed(int chunk, Userfaultfd.FillRequest fill);

    /**
     * Stops the fault loop and frees the userfaultfd, unless the loop cannot be stopped in time: a
     * thread that may still use the descriptor must not find its number given to another.
     */
    void close();
}
