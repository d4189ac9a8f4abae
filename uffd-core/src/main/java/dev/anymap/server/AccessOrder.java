package dev.anymap.server;

import dev.anymap.protocol.Message;
import java.util.Arrays;
import java.util.BitSet;

/**
 * The chunks of a region in the order they were first accessed: the region's access trace.
 *
 * <p>Written by the region's fault loop alone, on every fault, so it takes no lock: the writer
 * publishes a grown array before the length that covers it, and a reader reads the length first,
 * so that every position below it is filled in whichever array it then sees.
 */
final class AccessOrder {
    private final BitSet seen;
    private volatile int[] order = new int[64];
    private volatile int length;

    AccessOrder(int chunks) {
        this.seen = new BitSet(chunks);
    }

    /** Records a chunk's first access; later ones are no news. Fault loop only. */
    void touched(int chunk) {
        if (seen.get(chunk)) {
            return;
        }
        seen.set(chunk);
        int[] current = order;
        int at = length;
        if (at == current.length) {
            current = Arrays.copyOf(current, 2 * at);
            order = current;
        }
        current[at] = chunk;
        length = at + 1;
    }

    /** Up to {@code most} chunks from position {@code from}; safe from any thread. */
    Message.Trace slice(long requestId, int from, int most) {
        int available = length;
        int[] current = order;
        if (from < 0 || from > available) {
            throw new IllegalArgumentException("a trace of " + available + " chunks has no position " + from);
        }
        return new Message.Trace(requestId, available, Arrays.copyOfRange(current, from, Math.min(available, from + most)));
    }
}
