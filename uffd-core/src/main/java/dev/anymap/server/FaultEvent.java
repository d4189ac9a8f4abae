package dev.anymap.server;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** A page fault of a mapped region, as the page server took it. */
@Name("dev.anymap.Fault")
@Label("Fault")
@Category({"anymap", "Page server"})
@Description("A page fault served by the page server")
@StackTrace(false)
final class FaultEvent extends Event {
    @Label("Region")
    long region;

    @Label("Chunk")
    long chunk;

    @Label("Outcome")
    @Description("fetch: a fetch was started for it; merged: a fetch under way serves it; held: installed from a readahead "
            + "trigger; present: already installed")
    String outcome;
}
