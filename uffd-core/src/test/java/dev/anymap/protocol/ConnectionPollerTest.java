package dev.anymap.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.anymap.linux.Epoll;
import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConnectionPollerTest {
    @TempDir
    Path directory;

    /**
     * A page server that stops closes its poller while its sessions still end their connections. The
     * poller's epoll number is soon another epoll's (a region's fault loop has one): a connection that
     * ends afterwards must not take its socket out of that set, nor a new one put its socket in.
     */
    @Test
    void aConnectionThatEndsAfterItsPollerClosedLeavesTheEpollThatTookItsNumberAlone() throws Exception {
        Path socket = directory.resolve("poller.sock");
        int listener = UnixSockets.listen(socket, 4);
        int other = -1;
        int kept = -1;
        try (Connection peer = new Connection(UnixSockets.connect(socket))) {
            ConnectionPoller poller = new ConnectionPoller("test-poller");
            int epoll = poller.descriptor();
            Connection watched = new Connection(UnixSockets.accept(listener), poller);
            int socketNumber = watched.fd();
            poller.close();

            other = Epoll.create();
            if (other != epoll) {
                Libc.check(Libc.dup2(other, epoll), "dup2");
                Libc.close(other);
            }
            other = epoll;
            // Watched by the epoll now at the old number, under the socket's own number, as another poller would.
            Epoll.add(other, socketNumber, Epoll.EPOLLIN, socketNumber);
            kept = Libc.dup(socketNumber); // the socket outlives its number's close, and stays in that set unless taken out
            watched.close();

            // The connection's close shut the socket down: readable at its end, which the set reports if it still holds it.
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment events = arena.allocate(Epoll.EVENT_SIZE * 4, 8);
                int count = Epoll.await(other, events, 4, 10_000);
                assertEquals(1, count, "the epoll that took the closed poller's number lost the socket it watched");
                assertEquals(socketNumber, Epoll.data(events, 0));
            }
            int late = UnixSockets.connect(socket);
            int lateAccepted = UnixSockets.accept(listener);
            try {
                NativeException refused = assertThrows(NativeException.class, () -> new Connection(lateAccepted, poller),
                        "a connection watched after its poller closed");
                assertEquals(Errno.EBADF, refused.errno(), refused.getMessage());
            } finally {
                Libc.close(lateAccepted);
                Libc.close(late);
            }
        } finally {
            if (kept >= 0) {
                Libc.close(kept);
            }
            if (other >= 0) {
                Libc.close(other);
            }
            Libc.close(listener);
        }
    }
}
