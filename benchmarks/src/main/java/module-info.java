/** anymap against its baselines: see benchmarks/run. */
module dev.anymap.benchmarks {
    requires dev.anymap.core;
    requires dev.anymap.backend.memory;
    requires dev.anymap.backend.http;
    requires java.net.http;
    requires jdk.httpserver;
}
