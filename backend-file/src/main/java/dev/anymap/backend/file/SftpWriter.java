package dev.anymap.backend.file;

import com.jcraft.jsch.ChannelSftp;
import com.jcraft.jsch.JSchException;
import com.jcraft.jsch.Session;
import com.jcraft.jsch.SftpATTRS;
import com.jcraft.jsch.SftpException;
import dev.anymap.spi.ObjectVersion;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.time.Instant;
import org.apache.commons.vfs2.FileSystemOptions;
import org.apache.commons.vfs2.UserAuthenticationData;
import org.apache.commons.vfs2.provider.sftp.SftpClientFactory;
import org.apache.commons.vfs2.provider.sftp.SftpFileProvider;
import org.apache.commons.vfs2.provider.sftp.SftpFileSystemConfigBuilder;
import org.apache.commons.vfs2.util.UserAuthenticatorUtils;

/**
 * Writes one sftp object in place, over an SSH session of its own.
 *
 * <p>Why not through VFS: its sftp files have no random-access writes (its RandomAccessContent for
 * sftp reads only, and its output streams truncate or append), and the JSch channel of its file
 * system is not public. The session is made by VFS's own {@link SftpClientFactory} from the same
 * {@link FileSystemOptions} the reads use, so host keys, keys, timeouts and the password are those of
 * the reads. A range is written through JSch's {@code put} in {@link ChannelSftp#APPEND} mode, which
 * opens the file for writing without truncating it and writes at an offset counted from the size it
 * finds; the offset is given relative to that size.
 *
 * <p>SFTP as JSch speaks it (version 3) has no fsync: a write is done when the server has
 * acknowledged it and closed the handle, which puts it in the server's page cache, not necessarily on
 * its disk. Versions are the modification time to the second and the size, as the reads see them.
 */
final class SftpWriter implements Closeable {
    private final URI uri;
    private final FileSystemOptions options;
    private final VfsFailures failures;
    private final String name;
    private final String path;
    private final SecretScrubber scrubber;
    private Session session;
    private ChannelSftp channel;

    private SftpWriter(URI uri, FileSystemOptions options, VfsFailures failures) {
        this.uri = uri;
        this.options = options;
        this.failures = failures;
        this.name = failures.name();
        this.path = escape(uri.getPath());
        this.scrubber = failures.scrubber();
    }

    /**
     * Connects to the server of {@code uri} (its password removed) as the reads do with {@code options}.
     */
    static SftpWriter connect(URI uri, FileSystemOptions options, VfsFailures failures) throws IOException {
        SftpWriter writer = new SftpWriter(uri, options, failures);
        writer.connect();
        return writer;
    }

    private void connect() throws IOException {
        UserAuthenticationData auth = UserAuthenticatorUtils.authenticate(options, SftpFileProvider.AUTHENTICATOR_TYPES);
        Session made;
        try {
            String uriUser = uri.getUserInfo();
            made = SftpClientFactory.createConnection(uri.getHost(), uri.getPort() < 0 ? 22 : uri.getPort(),
                    UserAuthenticatorUtils.getData(auth, UserAuthenticationData.USERNAME,
                            uriUser == null ? null : UserAuthenticatorUtils.toChar(uriUser)),
                    UserAuthenticatorUtils.getData(auth, UserAuthenticationData.PASSWORD, null), options);
        } catch (IOException | RuntimeException e) {
            throw failures.atOpen(e);
        } finally {
            UserAuthenticatorUtils.cleanup(auth);
        }
        try {
            ChannelSftp opened = (ChannelSftp) made.openChannel("sftp");
            Duration timeout = SftpFileSystemConfigBuilder.getInstance().getConnectTimeout(options);
            opened.connect(timeout == null ? 0 : (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
            session = made;
            channel = opened;
        } catch (JSchException | RuntimeException e) {
            made.disconnect();
            throw failures.atOpen(e);
        }
    }

    /**
     * The object's version now, as {@link #version()}, on a session connected again if it was lost
     * since the last commit: a writable mapping may be held for hours, and servers drop idle SSH
     * sessions. A commit asks this first, and so starts on a live session; one lost in the middle of
     * a commit fails it.
     */
    ObjectVersion versionReconnecting() throws IOException {
        if (!session.isConnected() || !channel.isConnected()) {
            close();
            connect();
            return version();
        }
        try {
            return version();
        } catch (IOException failure) {
            // The session may have died just now, before JSch noticed: then once more on a new one.
            if (session.isConnected() && channel.isConnected()) {
                throw failure;
            }
            close();
            connect();
            return version();
        }
    }

    /** JSch takes '*' and '?' in a path as wildcards, and '\' as their escape. */
    private static String escape(String path) {
        return path.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?");
    }

    /** The object's version now, asked of the server. */
    ObjectVersion version() throws IOException {
        return versionOf(stat("reading the size and modification time"));
    }

    private static ObjectVersion versionOf(SftpATTRS attrs) {
        // As VFS computes the reads' version: seconds times 1000, of a signed int.
        return ObjectVersion.modified(Instant.ofEpochMilli(attrs.getMTime() * 1000L), attrs.getSize());
    }

    private SftpATTRS stat(String doing) throws IOException {
        try {
            return channel.stat(path);
        } catch (SftpException e) {
            throw translate(e, doing);
        }
    }

    /** Opens the file for writing and closes it, so that one that may not be written fails now. */
    void checkWritable() throws IOException {
        try (OutputStream out = at(0, 0)) {
            // nothing written
        }
    }

    /**
     * A stream that writes at {@code offset} on, into the file of {@code size} bytes; closing it
     * closes the remote handle, after the server has acknowledged every write.
     */
    OutputStream at(long offset, long size) throws IOException {
        try {
            // APPEND opens without truncating, and starts at the size it finds plus the offset given.
            return channel.put(path, null, ChannelSftp.APPEND, offset - size);
        } catch (SftpException e) {
            throw translate(e, "opening for writing");
        }
    }

    /**
     * The version after a commit on {@code base}: one later than it even where the writes fell in its
     * second, or where an earlier commit moved the time ahead, by setting the modification time a
     * second past the base's where it is not past it already. Versions so never repeat, and a cache
     * keyed on them never takes new bytes for old; the price is a modification time that runs ahead of
     * the clock by a second per commit made within one second.
     */
    ObjectVersion committed(ObjectVersion base) throws IOException {
        SftpATTRS attrs = stat("reading the new modification time");
        long baseSeconds = Instant.parse(base.value().substring(0, base.value().lastIndexOf('/'))).getEpochSecond();
        if (attrs.getMTime() > baseSeconds) {
            return versionOf(attrs);
        }
        try {
            channel.setMtime(path, Math.toIntExact(baseSeconds + 1));
        } catch (SftpException e) {
            throw translate(e, "setting the modification time");
        }
        return version();
    }

    /**
     * Creates the file, {@code size} zero bytes long.
     *
     * @throws FileAlreadyExistsException if it exists; SFTP as JSch speaks it has no exclusive create,
     *     so a file that another client creates between the check and the create is written over
     */
    void create(long size) throws IOException {
        try {
            channel.stat(path);
            throw new FileAlreadyExistsException(name, null, "a file exists there; remove it or map it instead");
        } catch (SftpException e) {
            if (e.id != ChannelSftp.SSH_FX_NO_SUCH_FILE) {
                throw translate(e, "checking for an existing file");
            }
        }
        OutputStream created = at(Math.max(size - 1, 0), 0);
        try (created) {
            if (size > 0) {
                // One zero byte at the end: a write past the end of a file fills the gap with zeros (sparse
                // where the server's file system allows), so no zeros cross the network.
                created.write(0);
            }
        } catch (IOException e) {
            throw translate(e, "creating the file");
        }
        long made = stat("reading the size").getSize();
        if (made != size) {
            throw new IOException("creating " + name + " failed: the server made it " + made + " bytes long, not " + size);
        }
    }

    /** What a failed request becomes: of the kind a caller may test for, naming the URI, with no secret. */
    IOException translate(Exception failure, String doing) {
        String detail = scrubber.describe(failure);
        IOException translated;
        if (failure instanceof SftpException sftp && sftp.id == ChannelSftp.SSH_FX_PERMISSION_DENIED) {
            translated = new AccessDeniedException(name, null, doing + " was refused: permission denied (" + detail + ")");
        } else if (failure instanceof SftpException sftp && sftp.id == ChannelSftp.SSH_FX_NO_SUCH_FILE) {
            translated = new NoSuchFileException(name, null, doing + " failed: no such file (" + detail + ")");
        } else {
            translated = new IOException(name + ": " + doing + " failed: " + detail);
        }
        translated.initCause(scrubber.chain(failure));
        return translated;
    }

    @Override
    public void close() {
        channel.disconnect();
        session.disconnect();
    }
}
