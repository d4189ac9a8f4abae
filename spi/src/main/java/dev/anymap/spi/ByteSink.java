package dev.anymap.spi;

import java.lang.foreign.MemorySegment;

/** Takes the bytes of a {@linkplain StorageBackend#stream streamed read}, in order, as they arrive. */
@FunctionalInterface
public interface ByteSink {

    /**
     * Takes the next bytes of the read. The segment is the backend's own buffer, valid only during
     * the call: copy what is kept. An exception thrown here ends the read, which throws it on.
     */
    void accept(MemorySegment bytes);
}
