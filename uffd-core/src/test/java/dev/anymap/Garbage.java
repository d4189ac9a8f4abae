package dev.anymap;

import java.util.concurrent.locks.LockSupport;

/** A thread that allocates garbage, so that collections happen while faults wait, as in an application. */
final class Garbage {
    private Garbage() {}

    /**
     * Starts a daemon thread that allocates about 100 MB/s, keeping the last 16 MiB reachable, until
     * interrupted: collections every few hundred milliseconds, and a core left for the readers.
     */
    static Thread start() {
        return Thread.ofPlatform().daemon().name("garbage").start(() -> {
            Object[] live = new Object[1024];
            for (int i = 0; !Thread.currentThread().isInterrupted(); i++) {
                live[i & 1023] = new byte[16 * 1024];
                if ((i & 63) == 0) {
                    LockSupport.parkNanos(10_000_000);
                }
            }
        });
    }
}
