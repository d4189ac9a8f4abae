package dev.anymap.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConnectionTest {
    @TempDir
    Path directory;

    /**
     * A closed connection's number is soon another file's: an accepted client, a userfaultfd received
     * from one. A message sent on the closed connection, with its descriptors, must never reach it.
     */
    @Test
    void aSendAfterCloseNeverReachesTheDescriptorThatTookItsNumber() throws Exception {
        Path socket = directory.resolve("connection.sock");
        int listener = UnixSockets.listen(socket, 4);
        try (Connection closed = new Connection(UnixSockets.connect(socket));
             Connection closedPeer = new Connection(UnixSockets.accept(listener))) {
            closed.close();
            int other = UnixSockets.connect(socket);
            if (other != closed.fd()) {
                Libc.check(Libc.dup2(other, closed.fd()), "dup2");
                Libc.close(other);
            }
            try (Connection taker = new Connection(closed.fd());
                 Connection takerPeer = new Connection(UnixSockets.accept(listener))) {
                NativeException refused = assertThrows(NativeException.class,
                        () -> closed.send(new Message.Hello(Message.PROTOCOL_VERSION, 1)));
                assertEquals(Errno.EPIPE, refused.errno(), refused.getMessage());
                taker.send(new Message.Hello(Message.PROTOCOL_VERSION, 2));
                assertEquals(new Message.Hello(Message.PROTOCOL_VERSION, 2), takerPeer.receive().message(),
                        "the first message to reach the descriptor that took the number is its own");
            }
        } finally {
            Libc.close(listener);
        }
    }
}
