/**
 * anymap's engine: stored objects mapped as lazily paged memory through userfaultfd, with faults
 * served by an out-of-process page server. The API is {@link dev.anymap.Anymap}.
 */
module dev.anymap.core {
    requires transitive dev.anymap.spi;
    requires jdk.jfr;
    // The page server caps its log file with a handler of its own (ServerLog).
    requires java.logging;

    exports dev.anymap;
    // Unix sockets and descriptor passing, for the Firecracker handler's socket.
    exports dev.anymap.linux to dev.anymap.firecracker, dev.anymap.benchmarks;

    uses dev.anymap.spi.BackendProvider;
}
