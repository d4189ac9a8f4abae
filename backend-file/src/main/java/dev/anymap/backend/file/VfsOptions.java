package dev.anymap.backend.file;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.apache.commons.vfs2.FileSystemException;
import org.apache.commons.vfs2.FileSystemOptions;
import org.apache.commons.vfs2.auth.StaticUserAuthenticator;
import org.apache.commons.vfs2.impl.DefaultFileSystemConfigBuilder;
import org.apache.commons.vfs2.provider.ftp.FtpFileSystemConfigBuilder;
import org.apache.commons.vfs2.provider.sftp.IdentityInfo;
import org.apache.commons.vfs2.provider.sftp.SftpFileSystemConfigBuilder;

/**
 * The options of the {@code vfs} backend, checked, and turned into VFS {@link FileSystemOptions}.
 *
 * <p>sftp: {@code sftp.user} (default: the URI's user, else the local user name),
 * {@code sftp.password} (secret; or in the URI's user info), {@code sftp.private-key-file},
 * {@code sftp.private-key-passphrase} (secret), {@code sftp.known-hosts} (default
 * {@code ~/.ssh/known_hosts}), {@code sftp.strict-host-key-checking} ({@code yes}, the default, or
 * {@code no}), {@code sftp.connect-timeout-ms} (default 30000), {@code sftp.timeout-ms} (how long a
 * read waits for the server, default 60000). An sftp path is absolute: {@code sftp://host/data/x} is
 * {@code /data/x}.
 *
 * <p>ftp and ftps: {@code ftp.user}, {@code ftp.password} (secret; or in the URI's user info),
 * {@code ftp.passive} ({@code true}, the default, or {@code false}), {@code ftp.connect-timeout-ms}
 * (default 30000). An ftp path is relative to the login directory, as RFC 1738 has it.
 *
 * <p>Any scheme: {@code vfs.readers}, how many reads of one object may run at once (1 to 64, default
 * 4); {@code vfs.spool-dir}, where objects without random access are copied (default
 * {@code java.io.tmpdir}).
 */
final class VfsOptions {
    static final String SFTP_USER = "sftp.user";
    static final String SFTP_PASSWORD = "sftp.password";
    static final String SFTP_PRIVATE_KEY_FILE = "sftp.private-key-file";
    static final String SFTP_PRIVATE_KEY_PASSPHRASE = "sftp.private-key-passphrase";
    static final String SFTP_KNOWN_HOSTS = "sftp.known-hosts";
    static final String SFTP_STRICT_HOST_KEY_CHECKING = "sftp.strict-host-key-checking";
    static final String SFTP_CONNECT_TIMEOUT_MS = "sftp.connect-timeout-ms";
    static final String SFTP_TIMEOUT_MS = "sftp.timeout-ms";
    static final String FTP_USER = "ftp.user";
    static final String FTP_PASSWORD = "ftp.password";
    static final String FTP_PASSIVE = "ftp.passive";
    static final String FTP_CONNECT_TIMEOUT_MS = "ftp.connect-timeout-ms";
    static final String READERS = "vfs.readers";
    static final String SPOOL_DIR = "vfs.spool-dir";

    static final Set<String> SUPPORTED = Set.of(SFTP_USER, SFTP_PASSWORD, SFTP_PRIVATE_KEY_FILE,
            SFTP_PRIVATE_KEY_PASSPHRASE, SFTP_KNOWN_HOSTS, SFTP_STRICT_HOST_KEY_CHECKING, SFTP_CONNECT_TIMEOUT_MS,
            SFTP_TIMEOUT_MS, FTP_USER, FTP_PASSWORD, FTP_PASSIVE, FTP_CONNECT_TIMEOUT_MS, READERS, SPOOL_DIR);
    static final Set<String> SECRET = Set.of(SFTP_PASSWORD, SFTP_PRIVATE_KEY_PASSPHRASE, FTP_PASSWORD);

    private static final long DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
    private static final long DEFAULT_TIMEOUT_MS = 60_000;
    private static final int DEFAULT_READERS = 4;
    private static final int MAX_READERS = 64;

    /** A user info in an authority; a user there is taken by VFS when the authenticator names none. */
    private static final Pattern USER_INFO = Pattern.compile("//[^/?#@]*@");

    private final Map<String, String> values;

    private VfsOptions(Map<String, String> values) {
        this.values = values;
    }

    /**
     * Checks {@code options}.
     *
     * @throws IllegalArgumentException naming the key (never a secret value) of an unknown or bad option
     */
    static VfsOptions parse(Map<String, String> options) {
        for (String key : options.keySet()) {
            if (!SUPPORTED.contains(key)) {
                throw new IllegalArgumentException("option '" + key + "' is not one the 'vfs' backend understands; it understands "
                        + new TreeSet<>(SUPPORTED));
            }
        }
        VfsOptions parsed = new VfsOptions(Map.copyOf(options));
        parsed.choice(SFTP_STRICT_HOST_KEY_CHECKING, "yes", "yes", "no");
        parsed.choice(FTP_PASSIVE, "true", "true", "false");
        parsed.number(SFTP_CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, 1, Integer.MAX_VALUE);
        parsed.number(SFTP_TIMEOUT_MS, DEFAULT_TIMEOUT_MS, 0, Integer.MAX_VALUE);
        parsed.number(FTP_CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, 1, Integer.MAX_VALUE);
        parsed.number(READERS, DEFAULT_READERS, 1, MAX_READERS);
        return parsed;
    }

    /** The secret values given, for scrubbing messages. */
    List<String> secretValues() {
        List<String> secrets = new ArrayList<>();
        for (String key : SECRET) {
            if (values.get(key) != null) {
                secrets.add(values.get(key));
            }
        }
        return secrets;
    }

    int readers() {
        return (int) number(READERS, DEFAULT_READERS, 1, MAX_READERS);
    }

    /** Where copies go, or null for the default temporary directory. */
    Path spoolDir() {
        String dir = values.get(SPOOL_DIR);
        return dir == null ? null : Path.of(dir);
    }

    /**
     * The VFS options for opening {@code credentials.withoutPassword()}: the settings of the scheme
     * that the URI reaches the network through (its innermost one), and its user and password.
     */
    FileSystemOptions toFileSystemOptions(UriCredentials credentials) throws FileSystemException {
        FileSystemOptions options = new FileSystemOptions();
        String scheme = innermostScheme(credentials.withoutPassword().toString());
        if (scheme.equals("sftp")) {
            SftpFileSystemConfigBuilder sftp = SftpFileSystemConfigBuilder.getInstance();
            sftp.setUserDirIsRoot(options, false);
            // Otherwise VFS runs `id -u` and `id -G` on the server to work out permissions.
            sftp.setDisableDetectExecChannel(options, true);
            sftp.setStrictHostKeyChecking(options, choice(SFTP_STRICT_HOST_KEY_CHECKING, "yes", "yes", "no"));
            sftp.setKnownHosts(options, knownHosts());
            sftp.setConnectTimeout(options, Duration.ofMillis(number(SFTP_CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, 1, Integer.MAX_VALUE)));
            sftp.setSessionTimeout(options, Duration.ofMillis(number(SFTP_TIMEOUT_MS, DEFAULT_TIMEOUT_MS, 0, Integer.MAX_VALUE)));
            String key = values.get(SFTP_PRIVATE_KEY_FILE);
            if (key != null) {
                String passphrase = values.get(SFTP_PRIVATE_KEY_PASSPHRASE);
                sftp.setIdentityProvider(options, passphrase == null
                        ? new IdentityInfo(new File(key))
                        : new IdentityInfo(new File(key), passphrase.getBytes(StandardCharsets.UTF_8)));
            }
            authenticate(options, credentials, SFTP_USER, SFTP_PASSWORD, System.getProperty("user.name"));
        } else if (scheme.equals("ftp") || scheme.equals("ftps")) {
            FtpFileSystemConfigBuilder ftp = FtpFileSystemConfigBuilder.getInstance();
            ftp.setPassiveMode(options, choice(FTP_PASSIVE, "true", "true", "false").equals("true"));
            ftp.setConnectTimeout(options, Duration.ofMillis(number(FTP_CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, 1, Integer.MAX_VALUE)));
            authenticate(options, credentials, FTP_USER, FTP_PASSWORD, null);
        }
        return options;
    }

    File knownHosts() {
        String file = values.get(SFTP_KNOWN_HOSTS);
        return file != null ? new File(file) : Path.of(System.getProperty("user.home"), ".ssh", "known_hosts").toFile();
    }

    private void authenticate(FileSystemOptions options, UriCredentials credentials, String userKey, String passwordKey, String defaultUser) {
        String password = values.get(passwordKey);
        if (password != null && credentials.password() != null) {
            throw new IllegalArgumentException("a password is given both in the URI and in option " + passwordKey + ": give it once");
        }
        if (password == null) {
            password = credentials.password();
        }
        String user = values.get(userKey);
        if (user == null && !USER_INFO.matcher(credentials.withoutPassword().toString()).find()) {
            // Without a user VFS's sftp provider fails with a NullPointerException; ssh takes the local user.
            user = defaultUser;
        }
        if (user != null || password != null) {
            DefaultFileSystemConfigBuilder.getInstance()
                    .setUserAuthenticator(options, new StaticUserAuthenticator(null, user, password));
        }
    }

    /** The scheme of the URI nested deepest: {@code sftp} in {@code tgz:zip:sftp://host/a.zip!/b.tgz!/c}. */
    static String innermostScheme(String uri) {
        int authority = uri.indexOf("://");
        String schemes = authority >= 0 ? uri.substring(0, authority) : uri.substring(0, Math.max(uri.lastIndexOf(':'), 0));
        return schemes.substring(schemes.lastIndexOf(':') + 1).toLowerCase(Locale.ROOT);
    }

    private String choice(String key, String defaultValue, String... allowed) {
        String value = values.getOrDefault(key, defaultValue);
        for (String candidate : allowed) {
            if (candidate.equals(value)) {
                return value;
            }
        }
        throw new IllegalArgumentException("option " + key + " is one of " + List.of(allowed) + ", not '" + value + "'");
    }

    private long number(String key, long defaultValue, long min, long max) {
        String value = values.get(key);
        if (value == null) {
            return defaultValue;
        }
        try {
            long parsed = Long.parseLong(value.strip());
            if (parsed >= min && parsed <= max) {
                return parsed;
            }
        } catch (NumberFormatException notANumber) {
            // said below
        }
        throw new IllegalArgumentException("option " + key + " is a whole number from " + min + " to " + max + ", not '" + value + "'");
    }
}
