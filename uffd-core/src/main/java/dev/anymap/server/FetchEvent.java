package dev.anymap.server;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * A read of one or more chunks from a backend by the page server, on demand or ahead of a
 * sequential stream: {@code jcmd <page server pid> JFR.start} shows these beside the server's own
 * events, and a JFR file opened in JDK Mission Control charts them.
 */
@Name("dev.anymap.Fetch")
@Label("Fetch")
@Category({"anymap", "Page server"})
@Description("A read of chunks from a storage backend")
@StackTrace(false)
final class FetchEvent extends Event {
    @Label("Region")
    long region;

    @Label("Object")
    @Description("The object's URI, without secrets")
    String uri;

    @Label("Backend")
    String backend;

    @Label("First chunk")
    long chunk;

    @Label("Chunks")
    int chunks;

    @Label("Bytes")
    @Description("The bytes that arrived: all the chunks' bytes, or, for a failed read, those of the chunks it brought before it failed")
    @DataAmount
    long bytes;

    @Label("Prefetch")
    @Description("Fetched ahead of a sequential stream, not for a waiting thread")
    boolean prefetch;

    @Label("Failure")
    @Description("Why the fetch failed, or empty")
    String failure;
}
