package dev.anymap.backend.http;

import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendClosedException;
import java.net.URI;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;
import org.junit.jupiter.api.Test;

class TransportTest {
    private static final URI URI_ = URI.create("http://127.0.0.1:9/object");

    private static Transport open() throws Exception {
        return Transport.open(URI_, HttpOptions.parse(URI_, Map.of()));
    }

    @Test
    void aClientThatRefusesWorkBecauseTheBackendClosedFailsTheReadAsClosed() throws Exception {
        Transport transport = open();
        transport.close();
        RejectedExecutionException shutDown = new RejectedExecutionException("the client's executor is shut down");
        BackendClosedException failure = assertThrows(BackendClosedException.class,
                () -> transport.withRetries("GET", attempt -> {
                    throw shutDown;
                }));
        assertTrue(failure.getMessage().contains("127.0.0.1:9/object"), failure.getMessage());
        assertSame(shutDown, failure.getCause());
    }

    @Test
    void aRuntimeFailureOfAnOpenBackendIsPassedOnUnchanged() throws Exception {
        try (Transport transport = open()) {
            IllegalStateException bug = new IllegalStateException("a bug, not a close");
            assertSame(bug, assertThrows(IllegalStateException.class, () -> transport.withRetries("GET", attempt -> {
                throw bug;
            })));
        }
    }
}
