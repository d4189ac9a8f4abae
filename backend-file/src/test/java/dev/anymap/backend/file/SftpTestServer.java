package dev.anymap.backend.file;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PublicKey;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.apache.sshd.common.config.keys.PublicKeyEntry;
import org.apache.sshd.common.file.virtualfs.VirtualFileSystemFactory;
import org.apache.sshd.common.util.buffer.ByteArrayBuffer;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.keyprovider.SimpleGeneratorHostKeyProvider;
import org.apache.sshd.sftp.server.SftpSubsystemFactory;

/**
 * A real SFTP server (Apache MINA SSHD) on 127.0.0.1 and a free port, with one user who logs in with
 * a password or an authorized key, and whose file system is a local directory: what the server holds
 * is what the test writes there.
 */
final class SftpTestServer implements AutoCloseable {
    static final String USER = "alice";
    static final String PASSWORD = "pa:ss w@rd%2F";

    private final SshServer server;
    private final Path root;
    private final List<PublicKey> authorizedKeys;

    private SftpTestServer(SshServer server, Path root, List<PublicKey> authorizedKeys) {
        this.server = server;
        this.root = root;
        this.authorizedKeys = authorizedKeys;
    }

    static SftpTestServer start(Path root) throws IOException {
        SshServer server = SshServer.setUpDefaultServer();
        server.setHost("127.0.0.1");
        server.setPort(0);
        server.setKeyPairProvider(new SimpleGeneratorHostKeyProvider());
        server.setPasswordAuthenticator((user, password, session) -> USER.equals(user) && PASSWORD.equals(password));
        List<PublicKey> authorizedKeys = new CopyOnWriteArrayList<>();
        server.setPublickeyAuthenticator((user, key, session) -> USER.equals(user)
                && authorizedKeys.stream().anyMatch(authorized -> KeyUtils.compareKeys(authorized, key)));
        server.setSubsystemFactories(List.of(new SftpSubsystemFactory()));
        server.setFileSystemFactory(new VirtualFileSystemFactory(root));
        server.start();
        return new SftpTestServer(server, root, authorizedKeys);
    }

    Path root() {
        return root;
    }

    /** Lets {@link #USER} in with the key whose SSH wire-format public key blob is {@code blob}. */
    void authorize(byte[] blob) throws IOException {
        authorizedKeys.add(new ByteArrayBuffer(blob).getRawPublicKey());
    }

    /** Closes every client's session, as a server that drops idle connections would. */
    void dropSessions() {
        server.getActiveSessions().forEach(session -> session.close(true));
    }

    /** How many sessions clients hold now. */
    int sessions() {
        return server.getActiveSessions().size();
    }

    int port() {
        return server.getPort();
    }

    /** {@code sftp://alice@127.0.0.1:PORT/path}, {@code path} relative to the root, encoded as a URI path. */
    URI uri(String path) {
        return uri(USER, path);
    }

    URI uri(String userInfo, String path) {
        try {
            return new URI("sftp", userInfo, "127.0.0.1", port(), "/" + path, null, null);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** The server's line for a known_hosts file. */
    String knownHostsLine() throws IOException, GeneralSecurityException {
        KeyPair key = server.getKeyPairProvider().loadKeys(null).iterator().next();
        return "[127.0.0.1]:" + port() + " " + PublicKeyEntry.toString(key.getPublic());
    }

    @Override
    public void close() throws IOException {
        server.stop(true);
    }
}
