package dev.anymap;

import java.net.URI;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * What the link to the page server needs of a region it serves, to resume it on a server that
 * takes over or fail it.
 *
 * @param serverRegionId the region's number on its server, negative if no server holds it
 * @param closed whether the region is closed
 * @param lose called when no server serves the region any more: every page not yet filled fails when touched
 */
record ServerRegion(URI uri, LongSupplier serverRegionId, BooleanSupplier closed, Runnable lose) {}
