package dev.anymap;

import dev.anymap.linux.Libc;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Anonymous memory of this process, registered for missing pages with a userfaultfd of its own:
 * what a test or a hostile peer that speaks the protocol itself attaches as a region. The caller
 * closes the userfaultfd and unmaps the memory, in the order its readers need.
 */
public record RegisteredMemory(long address, long length, int userfaultfd) {

    /** {@code length} bytes, registered with a new userfaultfd set up with {@code features}. */
    public static RegisteredMemory create(long length, long features) throws IOException {
        long address = Libc.check(Libc.mmap(0, length, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0),
                "mmap");
        int userfaultfd = -1;
        try {
            userfaultfd = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
            Userfaultfd.enable(userfaultfd, features);
            Userfaultfd.register(userfaultfd, address, length, Userfaultfd.REGISTER_MODE_MISSING);
            return new RegisteredMemory(address, length, userfaultfd);
        } catch (IOException | RuntimeException e) {
            if (userfaultfd >= 0) {
                Libc.close(userfaultfd);
            }
            Libc.munmap(address, length);
            throw e;
        }
    }

    /**
     * The stats of {@code region} once they show a failure, as a refused region's do; the last
     * stats if none came within {@code within}, or null if the connection closed or answered
     * something else. Polled: nothing else tells a peer of a fault another process took.
     */
    static Message.Stats statsOnceFailed(Connection connection, long region, Duration within) throws IOException {
        long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            connection.send(new Message.StatsRequest(3, region));
            Connection.Incoming answer = connection.receive();
            if (answer == null || !(answer.message() instanceof Message.Stats stats)) {
                return null;
            }
            if (stats.failures() > 0 || System.nanoTime() > deadline) {
                return stats;
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }
}
