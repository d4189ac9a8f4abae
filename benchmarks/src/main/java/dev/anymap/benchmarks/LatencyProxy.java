package dev.anymap.benchmarks;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * A TCP proxy on loopback that delays every byte by half a round trip each way, as a network with
 * that latency would, without limiting throughput: what arrives is held until its time and then
 * passed on, while more keeps arriving. Object storage has tens of milliseconds to first byte;
 * loopback has none, so benchmarks run both plain and through this.
 */
final class LatencyProxy implements AutoCloseable {
    private final ServerSocket listener;
    private final int targetPort;
    private final long oneWayNanos;
    private volatile boolean closed;

    private record Piece(long due, byte[] bytes) {}

    LatencyProxy(int targetPort, long roundTripMillis) throws IOException {
        this.targetPort = targetPort;
        this.oneWayNanos = roundTripMillis * 1_000_000 / 2;
        this.listener = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().name("latency-proxy").start(this::accept);
    }

    int port() {
        return listener.getLocalPort();
    }

    private void accept() {
        while (!closed) {
            try {
                Socket client = listener.accept();
                // Connected on a thread of its own: a slow target must not hold up the next accept.
                Thread.ofVirtual().start(() -> {
                    try {
                        Socket server = new Socket();
                        server.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort));
                        client.setTcpNoDelay(true);
                        server.setTcpNoDelay(true);
                        relay(client, server);
                        relay(server, client);
                    } catch (IOException e) {
                        System.err.println("latency proxy: " + e.getMessage());
                    }
                });
            } catch (IOException e) {
                if (!closed) {
                    System.err.println("latency proxy: " + e.getMessage());
                }
            }
        }
    }

    private void relay(Socket from, Socket to) throws IOException {
        BlockingQueue<Piece> pieces = new LinkedBlockingQueue<>();
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        Thread.ofVirtual().start(() -> {
            byte[] buffer = new byte[64 * 1024];
            try {
                for (int read; (read = in.read(buffer)) > 0; ) {
                    pieces.put(new Piece(System.nanoTime() + oneWayNanos, Arrays.copyOf(buffer, read)));
                }
            } catch (IOException | InterruptedException e) {
                // The connection is over.
            }
            pieces.add(new Piece(0, null));
        });
        Thread.ofVirtual().start(() -> {
            try (from; to) {
                while (true) {
                    Piece piece = pieces.take();
                    if (piece.bytes() == null) {
                        to.shutdownOutput();
                        return;
                    }
                    long wait = piece.due() - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                    out.write(piece.bytes());
                }
            } catch (IOException | InterruptedException e) {
                // The connection is over.
            }
        });
    }

    @Override
    public void close() throws IOException {
        closed = true;
        listener.close();
    }
}
