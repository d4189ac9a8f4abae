package dev.anymap.backend.http;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.util.HashMap;
import java.util.Map;

/** Small helpers shared by the tests. */
final class Tests {
    private Tests() {}

    static StorageBackend open(URI uri, String... keysAndValues) throws IOException {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            options.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return BackendRegistry.load().open(uri, options);
    }

    /** Reads into native memory, the way the page server does, and returns a copy on the heap. */
    static byte[] read(StorageBackend backend, long offset, int length) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment target = arena.allocate(Math.max(1, length)).asSlice(0, length);
            // A pattern no server sends, so that bytes the backend did not write would show.
            target.fill((byte) 0x5A);
            backend.read(offset, target);
            return target.toArray(ValueLayout.JAVA_BYTE);
        }
    }
}
