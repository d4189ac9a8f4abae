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
    /** The directory of a server that serves other users too ({@code --allow-uid}): they may pass through it, not list or change it. */
    private static final Set<PosixFilePermission> PASSABLE_DIRECTORY = PosixFilePermissions.fromString("rwx--x--x");

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
     * otherwise have made it first and listen in our place. A directory that others may only pass
     * through (0711, that of a server that serves other users too) is left so.
     */
    public static void prepareDirectory(Path socket) throws IOException {
        prepare(socket.toAbsolutePath().getParent(), PASSABLE_DIRECTORY);
    }

    /**
     * Prepares the directory of a server's socket as {@link #prepareDirectory} does, with mode 0700,
     * or 0711 for a server that serves other users too ({@code shared}): they must reach the socket.
     */
    public static void prepareServerDirectory(Path socket, boolean shared) throws IOException {
        Path directory = socket.toAbsolutePath().getParent();
        Set<PosixFilePermission> mode = shared ? PASSABLE_DIRECTORY : OWNER_ONLY_DIRECTORY;
        prepare(directory, OWNER_ONLY_DIRECTORY);
        Files.setPosixFilePermissions(directory, mode);
    }

    /**
     * Checks the socket's directory for a client: its own ({@link #prepareDirectory}), or an existing
     * one of a server of another user that {@code trusted} accepts, which no one else may change
     * (the server's uid is checked again at connect).
     *
     * @return the uid the directory belongs to
     */
    public static int prepareDirectory(Path socket, java.util.function.IntPredicate trusted) throws IOException {
        Path directory = socket.toAbsolutePath().getParent();
        if (Files.isDirectory(directory, LinkOption.NOFOLLOW_LINKS)) {
            int owner = (int) Files.getAttribute(directory, "unix:uid", LinkOption.NOFOLLOW_LINKS);
            if (owner != Libc.getuid() && trusted.test(owner)) {
                Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(directory, LinkOption.NOFOLLOW_LINKS);
                if (permissions.contains(PosixFilePermission.GROUP_WRITE) || permissions.contains(PosixFilePermission.OTHERS_WRITE)) {
                    throw new IOException(directory + " of the page server of uid " + owner + " may be changed by others (mode "
                            + PosixFilePermissions.toString(permissions) + "); its owner must make it 0711");
                }
                return owner;
            }
        }
        prepareDirectory(socket);
        return Libc.getuid();
    }

    /** Creates {@code directory} with mode 0700, or checks that an existing one is this user's alone, as for a socket. */
    public static void preparePrivateDirectory(Path directory) throws IOException {
        prepare(directory, OWNER_ONLY_DIRECTORY);
    }

    /** Creates {@code directory} with mode 0700, or checks that an existing one is this user's, with at most {@code allowed} (else made 0700). */
    private static void prepare(Path directory, Set<PosixFilePermission> allowed) throws IOException {
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
        if (!allowed.containsAll(permissions)) {
            Files.setPosixFilePermissions(directory, OWNER_ONLY_DIRECTORY);
        }
    }
}
