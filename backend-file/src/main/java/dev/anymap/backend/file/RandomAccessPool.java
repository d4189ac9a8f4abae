package dev.anymap.backend.file;

import dev.anymap.spi.BackendClosedException;
import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.commons.vfs2.FileObject;
import org.apache.commons.vfs2.RandomAccessContent;
import org.apache.commons.vfs2.provider.AbstractFileObject;
import org.apache.commons.vfs2.util.RandomAccessMode;

/**
 * The {@link RandomAccessContent}s of one VFS file, each lent to one reader at a time.
 *
 * <p>Why a pool: VFS is not thread safe, and a RandomAccessContent is a file pointer (seek, then read)
 * and, for sftp and ftp, an open remote stream, so two threads must never share one. Serialising all
 * reads of an object on one content would make the page server's fetch workers wait for each other on
 * exactly the slow, remote objects where parallel requests pay; a content per read would open a
 * stream per read. So up to {@code max} contents are made as readers need them and kept for the next
 * reader; a reader that finds them all lent waits for one. A content that failed is closed, not
 * lent again. A reader that continues where the previous read of its content stopped reuses the
 * open stream.
 *
 * <p>Contents come from {@link AbstractFileObject#getRandomAccessContent} rather than through
 * {@code FileObject.getContent()}: the latter files each content in a thread local of the thread that
 * asked for it and forgets it only in the thread that closes it, so pooled contents, made in one
 * thread and closed in another, would stay reachable from the page server's long-lived threads for
 * ever.
 *
 * <p>On {@link #close()} the idle contents are closed and readers waiting for one fail; the contents
 * lent out are closed when they come back, and once the last has, {@code resources} (the VFS manager,
 * and with it the connection) are closed. Reads in flight so finish on a live connection instead of
 * racing its teardown, and close itself never waits for them.
 */
final class RandomAccessPool {
    /** One content and the buffer its reads go through. */
    static final class Slot {
        private static final int BUFFER = 128 * 1024;

        final RandomAccessContent content;
        private byte[] buffer;

        private Slot(RandomAccessContent content) {
            this.content = content;
        }

        byte[] buffer(long wanted) {
            if (buffer == null || buffer.length < Math.min(BUFFER, wanted)) {
                buffer = new byte[(int) Math.min(BUFFER, Math.max(wanted, 4096))];
            }
            return buffer;
        }
    }

    private final URI uri;
    private final FileObject file;
    private final int max;
    private final Closeable resources;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition returned = lock.newCondition();
    private final Deque<Slot> idle = new ArrayDeque<>();
    private int lent;
    private int made;
    private boolean closed;
    private boolean released;

    RandomAccessPool(URI uri, FileObject file, int max, Closeable resources) {
        this.uri = uri;
        this.file = file;
        this.max = max;
        this.resources = resources;
    }

    /**
     * A content for the caller's use alone, until {@link #giveBack}.
     *
     * @throws BackendClosedException if the pool is or gets closed
     */
    Slot borrow() throws IOException {
        lock.lock();
        try {
            while (true) {
                if (closed) {
                    throw new BackendClosedException(uri);
                }
                if (!idle.isEmpty()) {
                    lent++;
                    return idle.pop();
                }
                if (made < max) {
                    made++;
                    lent++;
                    break;
                }
                try {
                    returned.await();
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted while waiting for a free reader of " + uri);
                }
            }
        } finally {
            lock.unlock();
        }
        try {
            return new Slot(open());
        } catch (IOException | RuntimeException failed) {
            giveBack(null, false);
            throw failed;
        }
    }

    private RandomAccessContent open() throws IOException {
        if (file instanceof AbstractFileObject<?> plain) {
            return plain.getRandomAccessContent(RandomAccessMode.READ);
        }
        return file.getContent().getRandomAccessContent(RandomAccessMode.READ);
    }

    /**
     * Takes back what {@link #borrow} lent.
     *
     * @param slot the slot, or null if making its content failed
     * @param reusable false if a read on it failed, so that its state is unknown
     */
    void giveBack(Slot slot, boolean reusable) {
        boolean release;
        boolean keep;
        lock.lock();
        try {
            lent--;
            keep = slot != null && reusable && !closed;
            if (keep) {
                idle.push(slot);
            } else {
                made--;
            }
            returned.signal();
            release = releaseNow();
        } finally {
            lock.unlock();
        }
        if (!keep && slot != null) {
            closeQuietly(slot.content);
        }
        if (release) {
            closeQuietly(resources);
        }
    }

    /** Closes the idle contents, so that later readers open new ones: after a write, say. */
    void dropIdle() {
        List<Slot> closing;
        lock.lock();
        try {
            closing = new ArrayList<>(idle);
            made -= idle.size();
            idle.clear();
            returned.signalAll();
        } finally {
            lock.unlock();
        }
        for (Slot slot : closing) {
            closeQuietly(slot.content);
        }
    }

    void close() {
        List<Slot> closing;
        boolean release;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            closing = new ArrayList<>(idle);
            made -= idle.size();
            idle.clear();
            returned.signalAll();
            release = releaseNow();
        } finally {
            lock.unlock();
        }
        for (Slot slot : closing) {
            closeQuietly(slot.content);
        }
        if (release) {
            closeQuietly(resources);
        }
    }

    /** Whether the resources are to be released now, by the caller; true once at most. Holds the lock. */
    private boolean releaseNow() {
        if (closed && lent == 0 && !released) {
            released = true;
            return true;
        }
        return false;
    }

    private static void closeQuietly(Closeable closeable) {
        try {
            closeable.close();
        } catch (IOException | RuntimeException ignored) {
            // Closing what a closed backend held: nothing is waiting for the outcome, and the
            // connection it belongs to is closed next or already gone.
        }
    }
}
