package dev.anymap.protocol;

import dev.anymap.linux.Libc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Where a page server listens: a socket in a directory that only its user can enter. The default is
 * {@code $XDG_RUNTIME_DIR/anymap/server.sock}, or {@code <java.io.tmpdir>/anymap-<uid>/server.sock}.
 */
public final class ServerAddress {
    private static final Set<PosixFilePermission> OWNER_ONLY_DIRECTORY = PosixFilePermissions.fromString("rwx------");

    private ServerAddress() {}

    public static Path defaultSocket() {
        String runtime = System.getenv("XDG_RUNTIME_DIR");
        Path directory = runtime != null && !runtime.isBlank() && Files.isDirectory(Path.of(runtime))
                ? Path.of(runtime, "anymap")
                : Path.of(System.getProperty("java.io.tmpdir"), "anymap-" + Libc.getuid());
        return directory.resolve("server.sock");
    }

    /** Where the keeper of the page server at {@code socket} listens for that server. */
    public static Path keeperSocket(Path socket) {
        return socket.resolveSibling(socket.getFileName() + ".keeper");
    }

    /** The file a live keeper of the page server at {@code socket} holds locked. */
    public static Path keeperLock(Path socket) {
        return socket.resolveSibling(socket.getFileName() + ".keeper.lock");
    }

    /**
     * Whether a keeper runs for the page server at {@code socket}: it holds {@link #keeperLock} for
     * its whole life, so a lock taken here at once means there is none.
     */
    public static boolean keeperAlive(Path socket) {
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(keeperLock(socket),
                java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.channels.FileLock lock = channel.tryLock();
            if (lock == null) {
                return true;
            }
            lock.release();
            return false;
        } catch (java.nio.file.NoSuchFileException e) {
            return false;
        } catch (IOException | java.nio.channels.OverlappingFileLockException e) {
            return true;
        }
    }

    /**
     * Creates the socket's directory with mode 0700, or checks that an existing one is a real
     * directory of this user with no access for anyone else: in a shared /tmp another user could
     * otherwise have made it first and listen in our place.
     */
    public static void prepareDirectory(Path socket) throws IOException {
        preparePrivateDirectory(socket.toAbsolutePath().getParent());
    }

    /** Creates {@code directory} with mode 0700, or checks that an existing one is this user's alone, as for a socket. */
    public static void preparePrivateDirectory(Path directory) throws IOException {
        if (!Files.exists(directory, LinkOption.NOFOLLOW_LINKS)) {
            try {
                Files.createDirectories(directory.getParent());
                Files.createDirectory(directory, PosixFilePermissions.asFileAttribute(OWNER_ONLY_DIRECTORY));
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // Another process made it first; it is checked below like any existing one.
            }
        }
        if (!Files.isDirectory(directory, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(directory + " is not a directory; the page server's socket needs a private directory there");
        }
        int owner = (int) Files.getAttribute(directory, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        if (owner != Libc.getuid()) {
            throw new IOException(directory + " belongs to uid " + owner + ", not to this user (uid " + Libc.getuid()
                    + "); remove it or choose another socket path");
        }
        Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(directory, LinkOption.NOFOLLOW_LINKS);
        if (!OWNER_ONLY_DIRECTORY.containsAll(permissions)) {
            Files.setPosixFilePermissions(directory, OWNER_ONLY_DIRECTORY);
        }
    }
}
