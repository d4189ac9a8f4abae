package dev.anymap.server;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The threads of the process that attached a region. A userfaultfd reports the faults of the
 * memory of the process that created it, whichever process sent it, and the kernel lets no one
 * read back what one has registered: the thread a fault names is how the server learns that the
 * userfaultfd a peer sent is its own.
 *
 * <p>A fault names its thread as the thread's own pid namespace numbers it, the last of the
 * {@code NSpid} line of its status; in the server's namespace, that is the task's own number. A
 * thread of another namespace whose number there equals one of the peer's in its own is not told
 * apart.
 */
final class PeerThreads {
    private final Path tasks;

    PeerThreads(long pid) {
        this.tasks = Path.of("/proc", Long.toString(pid), "task");
    }

    /** Whether {@code thread}, as a page fault names it, is one of this process's threads. */
    boolean includes(int thread) {
        if (thread <= 0) {
            return false; // a userfaultfd without UFFD_FEATURE_THREAD_ID names none
        }
        if (innermostId(tasks.resolve(Integer.toString(thread))) == thread) {
            return true;
        }
        // A peer in a pid namespace of its own: its threads have other numbers here.
        try (DirectoryStream<Path> all = Files.newDirectoryStream(tasks)) {
            for (Path task : all) {
                if (innermostId(task) == thread) {
                    return true;
                }
            }
        } catch (IOException e) {
            return false; // the process is gone
        }
        return false;
    }

    /** The number of a task in its own pid namespace; -1 if it is gone. */
    private static long innermostId(Path task) {
        try {
            for (String line : Files.readAllLines(task.resolve("status"))) {
                if (line.startsWith("NSpid:")) {
                    String[] ids = line.substring("NSpid:".length()).strip().split("\\s+");
                    return Long.parseLong(ids[ids.length - 1]);
                }
            }
            return -1;
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }
}
