package dev.anymap;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** For test classes whose tests share a page server of their own, at a private socket, started before them and left after. */
abstract class WithPageServer {
    static AnymapConfig config;
    static Anymap anymap;

    @BeforeAll
    static void openPageServer() throws IOException {
        config = TestServers.privateServer();
        anymap = Anymap.open(config);
        anymap.serverStatus(); // started now: a page server starts at the first request that needs one
    }

    @AfterAll
    static void closePageServer() throws IOException {
        anymap.close();
    }

    /** {@code length} bytes of {@code memory} from {@code offset}, read from Java. */
    static byte[] actual(MemorySegment memory, long offset, int length) {
        byte[] bytes = new byte[length];
        MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, offset, bytes, 0, length);
        return bytes;
    }
}
