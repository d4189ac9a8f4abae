package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.linux.Libc;
import dev.anymap.linux.UnixSockets;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.ServerAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 1, unit = TimeUnit.MINUTES)
class KeeperLinkTest {
    @TempDir
    Path directory;

    /**
     * A server that stops lets its keeper go first, and an attach under way may still keep its
     * region. Sent on the closed connection, it would go to whatever file took its number (a client's
     * userfaultfd, found so in a test that failed), and fail the client's map.
     */
    @Test
    void aRegionKeptAfterTheKeeperWasLetGoIsSentNowhere() throws Exception {
        Path socket = directory.resolve("anymap").resolve("server.sock");
        Files.createDirectories(socket.getParent());
        int listener = UnixSockets.listen(ServerAddress.keeperSocket(socket), 4);
        KeeperLink link = new KeeperLink(socket, List.of("unused"));
        int memory = Libc.open("/dev/null", Libc.O_RDONLY | Libc.O_CLOEXEC);
        try {
            CompletableFuture<Void> takenOver = CompletableFuture.runAsync(() -> {
                try {
                    link.takeOver((keep, userfaultfd, memfd) -> {
                        throw new AssertionError("nothing was kept");
                    });
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            try (Connection keeper = new Connection(UnixSockets.accept(listener))) {
                keeper.send(new Message.KeptAll(0));
                takenOver.get(30, TimeUnit.SECONDS);

                link.keep(keep(1), memory, memory);
                Connection.Incoming kept = keeper.receive();
                assertTrue(kept.message() instanceof Message.Keep k && k.regionId() == 1, kept.message().toString());
                assertEquals(2, kept.fds().length);
                kept.closeDescriptors();
                link.forget(1);
                assertEquals(new Message.Forget(1), keeper.receive().message());

                link.close();
                assertNull(keeper.receive(), "the keeper was let go");
                link.keep(keep(2), memory, memory);
                link.forget(2);
            }
        } finally {
            link.close();
            Libc.close(memory);
            Libc.close(listener);
        }
    }

    private static Message.Keep keep(long regionId) {
        Message.Map map = new Message.Map(regionId, "mem:kept?size=4096&seed=1", Map.of(), 65536, 1,
                new Message.Prefetching(0, false, false, Long.MAX_VALUE, Long.MAX_VALUE), "", Message.Assumed.NONE, 60_000);
        return new Message.Keep(regionId, ProcessHandle.current().pid(), 0, 0x7000_0000_0000L, 4096, map);
    }
}
