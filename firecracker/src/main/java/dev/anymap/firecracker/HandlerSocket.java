package dev.anymap.firecracker;

import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * The listening socket Firecracker connects to: mode 0600, in a directory of this user that no one
 * else may write to (so no one else can put a socket of theirs in its place), one handler per path.
 * The handler holds {@code <socket>.lock} while it listens; a socket file left by a handler that
 * died is replaced, and one that a process of another kind listens on is left alone.
 */
final class HandlerSocket implements AutoCloseable {
    private static final int BACKLOG = 64;
    private final Path path;
    private final FileChannel lockChannel;
    private final int fd;

    private HandlerSocket(Path path, FileChannel lockChannel, int fd) {
        this.path = path;
        this.lockChannel = lockChannel;
        this.fd = fd;
    }

    static HandlerSocket bind(Path socket) throws IOException {
        Path path = socket.toAbsolutePath();
        checkDirectory(path.getParent());
        FileChannel lockChannel = FileChannel.open(path.resolveSibling(path.getFileName() + ".lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        try {
            FileLock lock;
            try {
                lock = lockChannel.tryLock();
            } catch (OverlappingFileLockException inThisJvm) {
                lock = null;
            }
            if (lock == null) {
                throw new IOException("a Firecracker handler is already listening at " + path + "; stop it first or choose another --socket");
            }
            removeStale(path);
            int fd = UnixSockets.listenStream(path, BACKLOG);
            try {
                Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
            } catch (IOException e) {
                Libc.close(fd);
                throw e;
            }
            return new HandlerSocket(path, lockChannel, fd);
        } catch (IOException | RuntimeException e) {
            lockChannel.close();
            throw e;
        }
    }

    Path path() {
        return path;
    }

    int fd() {
        return fd;
    }

    private static void checkDirectory(Path directory) throws IOException {
        if (!Files.exists(directory, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(directory, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        if (!Files.isDirectory(directory, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(directory + " is not a directory; put the Firecracker handler's socket in a directory of your own");
        }
        int owner = (int) Files.getAttribute(directory, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(directory, LinkOption.NOFOLLOW_LINKS);
        if (owner != Libc.getuid() || permissions.contains(PosixFilePermission.GROUP_WRITE)
                || permissions.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new IOException("the Firecracker handler's socket must be in a directory that belongs to this user (uid " + Libc.getuid()
                    + ") and that no one else may write to, so that no one can put a socket of theirs in its place; " + directory
                    + " belongs to uid " + owner + " with mode " + PosixFilePermissions.toString(permissions)
                    + ". Choose a path in such a directory (e.g. under $XDG_RUNTIME_DIR)");
        }
    }

    /** Removes a socket that no process listens on any more; refuses anything else at the path. */
    private static void removeStale(Path path) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException none) {
            return;
        }
        if (!attributes.isOther()) {
            throw new IOException(path + " exists and is not a socket; remove it or choose another --socket");
        }
        try {
            Libc.close(UnixSockets.connectStream(path));
            throw new IOException("another process is listening at " + path + "; stop it first or choose another --socket");
        } catch (NativeException e) {
            if (e.errno() != Errno.ECONNREFUSED) {
                throw new IOException("cannot tell whether " + path + " is still in use: " + e.getMessage(), e);
            }
        }
        Files.delete(path);
    }

    /** Stops listening, removes the socket and lets another handler have the path. */
    @Override
    public void close() throws IOException {
        try {
            Files.deleteIfExists(path);
            UnixSockets.shutdown(fd);
            Libc.close(fd);
        } finally {
            lockChannel.close();
        }
    }
}
