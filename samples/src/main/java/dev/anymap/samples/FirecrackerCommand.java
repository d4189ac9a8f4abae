package dev.anymap.samples;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.RegionStats;
import dev.anymap.firecracker.FirecrackerHandler;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Firecracker's page-fault handler, serving snapshot memory from any storage until stopped. */
@Command(name = "firecracker", mixinStandardHelpOptions = true,
        description = {"Serve the snapshot memory of Firecracker microVMs from any storage, until stopped (Ctrl-C, SIGTERM).",
                "Point Firecracker at the socket: PUT /snapshot/load with \"mem_backend\": {\"backend_type\": \"Uffd\", "
                        + "\"backend_path\": \"PATH\"}. Prints a line for each VM served and each that ends."})
final class FirecrackerCommand implements Callable<Integer> {
    @Option(names = "--socket", required = true, paramLabel = "PATH",
            description = "The socket to listen on, Firecracker's backend_path; in a directory of yours that no one else may write to.")
    Path socket;

    @Option(names = "--memory", required = true, paramLabel = "URI", description = "The snapshot's memory file: a URI or a local path.")
    String memory;

    @Option(names = "--trace", paramLabel = "FILE", description = "A trace recorded with --record, replayed on every VM as it resumes.")
    Path trace;

    @Option(names = "--record", paramLabel = "FILE",
            description = "Record the first VM's trace (the order of its first touches) to FILE when it ends or the handler stops;"
                    + " record with --no-auto-pull --readahead 0, or the chunks fetched ahead count as touched.")
    Path record;

    @Option(names = "--allow-uid", paramLabel = "UID", description = "Also serve Firecracker processes of this user (repeatable).")
    Set<Integer> allowedUids = Set.of();

    @Option(names = "--server-socket", paramLabel = "PATH",
            description = "Page server socket (default: the user's page server, started if needed).")
    Path serverSocket;

    @Mixin
    TuningOptions tuning;

    @Override
    public Integer call() throws IOException, InterruptedException {
        URI uri = BackendRegistry.toUri(memory);
        AccessTrace replayed = null;
        if (trace != null) {
            if (!java.nio.file.Files.isRegularFile(trace)) {
                throw new IllegalArgumentException("the trace " + trace + " does not exist; record one with --record");
            }
            replayed = AccessTrace.load(trace);
        }
        if (record != null && !java.nio.file.Files.isDirectory(record.toAbsolutePath().getParent())) {
            throw new IllegalArgumentException("the directory of --record " + record + " does not exist; make it first");
        }
        // Checked now, with this process's credentials: a VM that came to a handler of a memory file that is not there would wait for ever.
        String found;
        try (dev.anymap.spi.StorageBackend backend = BackendRegistry.load().open(uri, tuning.mapOptions().backendOptions())) {
            found = String.format("%,d bytes, version %s", backend.size(), backend.version());
        }
        AnymapConfig config = serverSocket == null ? AnymapConfig.defaults() : AnymapConfig.defaults().withSocket(serverSocket);
        CountDownLatch stopped = new CountDownLatch(1);
        try (Anymap anymap = Anymap.open(config);
             FirecrackerHandler handler = start(FirecrackerHandler.builder(anymap, socket, uri).options(tuning.mapOptions()).trace(replayed)
                     .record(record).allowUids(allowedUids).listener(new Lines()))) {
            Thread stop = new Thread(() -> {
                try {
                    handler.close(); // a VM still running is let go; with --record, its trace is saved
                } catch (IOException e) {
                    System.err.println("anymap firecracker: " + e.getMessage());
                } finally {
                    stopped.countDown();
                }
            });
            Runtime.getRuntime().addShutdownHook(stop);
            System.err.println("anymap firecracker: serving " + Redaction.uri(uri) + " (" + found + ") at " + handler.socket()
                    + (replayed == null ? "" : ", replaying the trace " + trace + " on every VM")
                    + (record == null ? "" : ", recording the first VM's trace to " + record)
                    + "; Ctrl-C stops it (stop the VMs first: a VM still running then gets a memory error at its next new page)");
            stopped.await();
        }
        return 0;
    }

    /** Starts the handler; a socket it cannot take is a bad argument. */
    private static FirecrackerHandler start(FirecrackerHandler.Builder builder) {
        try {
            return builder.start();
        } catch (IOException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** One line per VM served and ended, on standard output; errors are in the log, on standard error. */
    private static final class Lines implements FirecrackerHandler.Listener {
        @Override
        public void served(FirecrackerHandler.Vm vm) {
            System.out.printf("served VM pid %d: %d regions, %,d bytes of memory, from %s (version %s)%n", vm.pid(), vm.regions().size(),
                    vm.memoryBytes(), Redaction.uri(vm.guest().uri()), vm.guest().version());
        }

        @Override
        public void ended(FirecrackerHandler.Vm vm) {
            String stats;
            try {
                RegionStats served = vm.guest().stats();
                stats = String.format("%,d faults, %,d bytes fetched", served.faults(), served.bytesFetched());
            } catch (IOException | RuntimeException e) {
                stats = "no statistics (" + e.getMessage() + ")";
            }
            System.out.printf("ended VM pid %d: %s%n", vm.pid(), stats);
        }
    }
}
