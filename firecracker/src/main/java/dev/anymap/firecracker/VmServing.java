package dev.anymap.firecracker;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import dev.anymap.GuestMemory;
import dev.anymap.MapOptions;
import dev.anymap.ServedGuest;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.net.URI;
import java.util.List;

/** What is done for one VM once its handshake is read: its memory served, and let go when it ends. */
final class VmServing {
    private final Anymap anymap;
    private final URI uri;
    private final MapOptions options;
    private final AccessTrace trace;
    private final TraceRecorder recorder;
    private final FirecrackerHandler.Listener listener;

    VmServing(Anymap anymap, URI uri, MapOptions options, AccessTrace trace, TraceRecorder recorder, FirecrackerHandler.Listener listener) {
        this.anymap = anymap;
        this.uri = uri;
        this.options = options;
        this.trace = trace;
        this.recorder = recorder;
        this.listener = listener;
    }

    /** How the handler's messages about process {@code pid} begin: the process and the memory it is served. */
    String about(long pid) {
        return "Firecracker process " + pid + " (memory " + Redaction.uri(uri) + ")";
    }

    /**
     * Serves the regions through the page server; the userfaultfd stays the caller's to close.
     *
     * @throws IllegalArgumentException if a region does not fit the object, or the descriptor is not a userfaultfd
     */
    ServedGuest serve(long pid, List<GuestRegionMapping> regions, int userfaultfd) throws IOException {
        GuestMemory memory = new GuestMemory(userfaultfd, regions.stream().map(GuestRegionMapping::range).toList());
        ServedGuest guest = anymap.serve(uri, options, memory, trace);
        if (recorder != null) {
            recorder.offer(pid, guest);
        }
        return guest;
    }

    /**
     * Fails the pages of a VM that could not be served: its first touch of its memory raises a memory
     * error, where it would wait for ever. Ranges that do not even describe memory are left alone.
     */
    void failUnserved(List<GuestRegionMapping> regions, int userfaultfd) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            dev.anymap.linux.Userfaultfd.FillRequest poison = new dev.anymap.linux.Userfaultfd.FillRequest(arena);
            for (GuestRegionMapping region : regions) {
                GuestMemory.Range range;
                try {
                    range = region.range();
                } catch (IllegalArgumentException notMemory) {
                    continue;
                }
                poison.poisonAbandoned(userfaultfd, range.address(), range.size(), range.pageSize());
            }
        }
    }

    /**
     * The handler closes while the VM still runs: its trace saved if recorded, and every page it has
     * not been given failed, so that it gets a memory error at its next touch of one instead of
     * waiting for ever on a handler that is gone.
     */
    void abandon(FirecrackerHandler.Vm vm) {
        FirecrackerHandler.LOG.log(System.Logger.Level.WARNING, about(vm.pid()) + " still runs as the handler stops: the pages it has"
                + " not touched yet now raise a memory error in it; stop VMs before their handler");
        if (recorder != null) {
            recorder.saveIfRecorded(vm.pid(), vm.guest());
        }
        try {
            vm.guest().abandon();
        } catch (IOException | RuntimeException e) {
            FirecrackerHandler.LOG.log(System.Logger.Level.WARNING, about(vm.pid()) + ": letting its memory go failed: " + e.getMessage());
        }
    }

    /** The VM has ended, or the handler closes: saves its trace if it is recorded, and stops serving it. */
    void end(FirecrackerHandler.Vm vm) {
        if (recorder != null) {
            recorder.saveIfRecorded(vm.pid(), vm.guest());
        }
        try {
            listener.ended(vm);
        } catch (RuntimeException e) {
            FirecrackerHandler.LOG.log(System.Logger.Level.WARNING, "the handler's listener failed: " + e);
        }
        try {
            vm.guest().close();
        } catch (IOException | RuntimeException e) {
            FirecrackerHandler.LOG.log(System.Logger.Level.WARNING, about(vm.pid()) + ": letting its memory go failed: " + e.getMessage());
        }
        FirecrackerHandler.LOG.log(System.Logger.Level.INFO, about(vm.pid()) + " ended; its memory is no longer served");
    }
}
