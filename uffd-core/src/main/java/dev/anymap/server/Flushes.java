package dev.anymap.server;

import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import java.io.IOException;
import java.util.Map;

/**
 * A client's flushes. Each writes a writable region's ranges to storage on a thread of its own, which
 * answers: a commit takes round trips, and the client's other requests go on meanwhile. The keeper is
 * told of each commit before it starts and after it ends well, so that a server taking the region over
 * knows which version it reads, and whether a commit in the middle when this server died happened.
 */
final class Flushes {
    private static final System.Logger LOG = System.getLogger(Flushes.class.getName());

    private final Connection connection;
    private final long peerPid;
    private final KeeperLink keeper;
    /** The session's requests by region: what a server that takes a region over maps it with. */
    private final Map<Long, Message.Map> requests;

    Flushes(Connection connection, long peerPid, KeeperLink keeper, Map<Long, Message.Map> requests) {
        this.connection = connection;
        this.peerPid = peerPid;
        this.keeper = keeper;
        this.requests = requests;
    }

    /**
     * Starts the flush of {@code region}, whose backend's classes come from {@code loader}.
     *
     * @throws IllegalArgumentException if the region was not mapped writable
     */
    void start(Message.Flush flush, RegionServer region, ClassLoader loader) {
        WriteBack writeBack = region.object().writeBack();
        if (writeBack == null) {
            throw new IllegalArgumentException("region " + flush.regionId() + " (" + region.object().printableUri()
                    + ") was not mapped writable; there is nothing to flush");
        }
        long regionId = flush.regionId();
        Thread.ofVirtual().name("anymap-flush-" + regionId).start(() -> {
            Thread.currentThread().setContextClassLoader(loader);
            Message reply;
            try {
                String version = writeBack.commit(flush.ranges(), new WriteBack.Progress() {
                    @Override
                    public void committing(String token) {
                        tellKeeper(regionId, requests.get(regionId).withPendingCommit(token));
                    }

                    @Override
                    public void committed(String version) {
                        Message.Map now = requests.get(regionId).toTakeOver(version);
                        requests.put(regionId, now);
                        tellKeeper(regionId, now);
                    }
                });
                reply = new Message.Flushed(flush.requestId(), version);
            } catch (Exception | Error e) {
                LOG.log(System.Logger.Level.DEBUG, "flushing region " + regionId + " of client " + peerPid + ": " + e);
                reply = ClientSession.failure(flush.requestId(), e);
            }
            try {
                connection.send(reply);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "answering client " + peerPid + "'s flush: " + e.getMessage());
            }
        });
    }

    private void tellKeeper(long regionId, Message.Map request) {
        if (keeper == null) {
            return;
        }
        try {
            keeper.update(regionId, request);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "telling the keeper of region " + regionId + "'s flush: " + e.getMessage());
        }
    }
}
