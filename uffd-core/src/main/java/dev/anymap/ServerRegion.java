package dev.anymap;

import java.net.URI;

/** What the link to the page server needs of a region it serves, to resume it on a server that takes over or fail it. */
interface ServerRegion {
    /** The region's number on its server, or a negative number if no server holds it. */
    long serverRegionId();

    URI uri();

    boolean isClosed();

    /** No server serves the region any more: every page not yet filled fails when touched. */
    void lose();
}
