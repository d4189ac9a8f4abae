package dev.anymap.server;

import dev.anymap.protocol.Message;
import java.util.Arrays;
import java.util.BitSet;

/** The chunks of a region in the order they were first accessed: the region's access trace. */
final class AccessOrder {
    private final BitSet seen;
    private int[] order = new int[64];
    private int length;

    AccessOrder(int chunks) {
        this.seen = new BitSet(chunks);
    }

    /** Records a chunk's first access; later ones are no news. */
    synchronized void touched(int chunk) {
        if (!seen.get(chunk)) {
            seen.set(chunk);
            if (length == order.length) {
                order = Arrays.copyOf(order, 2 * length);
            }
            order[length++] = chunk;
        }
    }

    synchronized Message.Trace slice(long requestId, int from, int most) {
        if (from < 0 || from > length) {
            throw new IllegalArgumentException("a trace of " + length + " chunks has no position " + from);
        }
        return new Message.Trace(requestId, length, Arrays.copyOfRange(order, from, Math.min(length, from + most)));
    }
}
