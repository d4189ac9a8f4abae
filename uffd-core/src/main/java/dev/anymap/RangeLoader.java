package dev.anymap;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.Userfaultfd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Makes pages of a region resident from native code: {@code madvise(MADV_POPULATE_READ)} takes the
 * faults in the kernel, on a thread that the JVM counts as in native, so a slow fetch holds up no
 * safepoint. A range is populated a step at a time, so that an interrupted call starts again where
 * it stopped and a failure names its chunk.
 */
final class RangeLoader {
    /** Bytes per madvise call: small enough to retry cheaply, large enough that a call costs nothing next to its pages. */
    static final long STEP = 2 << 20;

    /**
     * Set once MADV_POPULATE_READ is refused as unknown (Linux before 5.14): pages are then touched by
     * memcpy into a scratch buffer, in native code too. That is safe only where no page can be
     * poisoned, so only on kernels without UFFDIO_POISON (Linux 6.6), which is all of them before 5.14.
     */
    private static volatile boolean populateUnknown;

    /** What a failed chunk failed with, as the page server tells it. */
    interface Failures {
        String lastFailure();
    }

    private final long address;
    private final long chunkSize;

    RangeLoader(long address, long chunkSize) {
        this.address = address;
        this.chunkSize = chunkSize;
    }

    /**
     * Populates the pages of {@code [offset, end)} (offsets in the region; both within its mapping).
     *
     * @throws IOException naming {@code what} and the failed chunk where a fetch failed
     */
    void load(long offset, long end, String what, Failures failures) throws IOException {
        long from = offset & -Userfaultfd.PAGE;
        long to = (end + Userfaultfd.PAGE - 1) & -Userfaultfd.PAGE;
        for (long at = from; at < to; ) {
            long stepEnd = Math.min(to, (at + STEP) & -STEP);
            int error = populate(at, stepEnd);
            if (error == Errno.EFAULT || error == Errno.EHWPOISON) {
                throw failedChunk(at, stepEnd, what, failures);
            }
            if (error != 0) {
                throw new IOException("could not load " + what + ": madvise(MADV_POPULATE_READ) of its bytes " + at + " to "
                        + stepEnd + " failed: " + Errno.name(error));
            }
            at = stepEnd;
        }
    }

    /** 0 once the pages of {@code [from, to)} are present, or the errno that stopped it: EINTR and EAGAIN are retried. */
    private int populate(long from, long to) {
        while (true) {
            if (populateUnknown) {
                touch(from, to);
                return 0;
            }
            int result = Libc.madvise(address + from, to - from, Libc.MADV_POPULATE_READ);
            if (result == 0) {
                return 0;
            }
            int error = -result;
            if (error == Errno.EINTR || error == Errno.EAGAIN) {
                // Pages populated before the interruption are present: the retry walks over them.
                continue;
            }
            if (error == Errno.EINVAL && !poisonPossible()) {
                populateUnknown = true;
                continue;
            }
            return error;
        }
    }

    /** Narrows a failed step to its first failed chunk, for the message, which names the cause the page server recorded. */
    private IOException failedChunk(long from, long to, String what, Failures failures) {
        long chunk = from & -chunkSize;
        for (; chunk < to; chunk += chunkSize) {
            long start = Math.max(chunk, from);
            int error = -Libc.madvise(address + start, Math.min(to, chunk + chunkSize) - start, Libc.MADV_POPULATE_READ);
            if (error == Errno.EFAULT || error == Errno.EHWPOISON) {
                break;
            }
        }
        chunk = Math.min(chunk, to - 1) & -chunkSize;
        return new IOException("could not load " + what + ": the chunk at bytes " + chunk + " to " + (chunk + chunkSize)
                + " failed: " + failures.lastFailure());
    }

    private void touch(long from, long to) {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment buffer = scratch.allocate(to - from);
            Libc.memcpy(buffer, address + from, to - from);
        }
    }

    private static boolean poisonPossible() {
        try {
            return (Userfaultfd.availableFeatures() & Userfaultfd.FEATURE_POISON) != 0;
        } catch (IOException e) {
            return true;
        }
    }
}
