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

    /**
     * A sink that copies the bytes it takes into {@code target}, one after another from its start: a
     * backend that streams implements {@link StorageBackend#read(long, MemorySegment)} as
     * {@code stream(offset, target.byteSize(), ByteSink.into(target))}.
     */
    static ByteSink into(MemorySegment target) {
        long[] filled = {0};
        return bytes -> {
            MemorySegment.copy(bytes, 0, target, filled[0], bytes.byteSize());
            filled[0] += bytes.byteSize();
        };
    }
}
