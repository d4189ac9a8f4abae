package dev.anymap.server;

import dev.anymap.protocol.Message;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.Redaction;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What a client of another user ({@code --allow-uid}) may have this page server do: nothing that
 * runs with the rights or the environment of the server's own user on its behalf.
 *
 * <ul>
 *   <li><b>Code.</b> Its class path is never loaded: a jar it names would run as the server's user.
 *       It is served by the server's own backends, and only by the built-in ones whose every input
 *       is known here (a plugin on the server's class path may read its own user's files).
 *   <li><b>Credentials.</b> Only those its request carries: an S3 region needs its own keys (or
 *       {@code anonymous=true}), never {@code credentials=page-server} or a profile of the server's
 *       AWS files; an sftp region its own user and password, never the server's keys.
 *   <li><b>Local paths.</b> No object or option that names a file of this machine ({@code file:},
 *       an archive or compressed file over one, a key file, a trust store, a known_hosts file, a
 *       spool directory): the server would open it with its own rights, which may reach what the
 *       client cannot. A client maps its own files itself, with its own rights (the kernel maps them).
 * </ul>
 *
 * A client of the server's own user may do anything its user may.
 */
final class PeerPolicy {
    /** For a client of the server's own user, and for the server's own sessions. */
    static final PeerPolicy OWNER = new PeerPolicy(-1, -1);

    private static final String FILE = "dev.anymap.backend.file.FileBackendProvider";
    private static final String VFS = "dev.anymap.backend.file.VfsBackendProvider";
    private static final String MEMORY = "dev.anymap.backend.memory.MemoryBackendProvider";
    private static final String S3 = "dev.anymap.backend.s3.S3BackendProvider";
    private static final String HTTP = "dev.anymap.backend.http.HttpBackendProvider";
    /**
     * The schemes that a VFS URI may finally read through for another user: none of this machine's
     * files. Any other (file:, res: of the server's class path, a bare path) reads them.
     */
    private static final Set<String> REMOTE_SCHEMES = Set.of("sftp", "ftp", "ftps", "http", "https", "ram");

    private final int peerUid;
    private final int serverUid;

    private PeerPolicy(int peerUid, int serverUid) {
        this.peerUid = peerUid;
        this.serverUid = serverUid;
    }

    /** The policy for a client of {@code peerUid} on a server of {@code serverUid}. */
    static PeerPolicy of(int peerUid, int serverUid) {
        return peerUid == serverUid ? OWNER : new PeerPolicy(peerUid, serverUid);
    }

    /** Whether the client is of another user than the server's. */
    boolean foreign() {
        return this != OWNER;
    }

    /** The request as it is served: for another user, with the server's own backends, its class path ignored. */
    Message.Map admit(Message.Map map) {
        if (!foreign() || map.codePath().equals(Message.CodePath.SERVER)) {
            return map;
        }
        return new Message.Map(map.requestId(), map.uri(), map.options(), map.chunkSize(), map.fetchWorkers(), map.prefetching(),
                map.expectedVersion(), map.assumed(), map.fetchDeadlineMillis(), Message.CodePath.SERVER, map.writing(), map.guest());
    }

    /** What an unknown scheme's error adds for another user: why its own plugins are not there. */
    String unknownScheme() {
        return foreign() ? " This page server (uid " + serverUid + ") never loads the plugins of uid " + peerUid
                + ": they would run with its rights; run a page server of your own (anymap serve) to use them." : "";
    }

    /**
     * Refuses what this client may not have the server open.
     *
     * @throws AccessDeniedException naming the URI, the client's uid, what is refused and what to do instead
     */
    void check(URI uri, BackendProvider provider, Map<String, String> options) throws AccessDeniedException {
        if (!foreign()) {
            return;
        }
        String refusal = switch (provider.getClass().getName()) {
            case MEMORY -> null;
            case S3 -> s3(options);
            case HTTP -> options.containsKey("trust-store")
                    ? "its option trust-store names a file that the page server would read with its own rights; drop it (the JDK's"
                    + " trusted certificates serve), or map through a page server of your own" : null;
            case VFS -> vfs(uri, options);
            case FILE -> "it is a local file, which the page server would open with its own rights; a process maps its own files"
                    + " itself (a read-only or writable map of a file: URI that it can open), or through a page server of its own";
            default -> "its backend '" + provider.name() + "' is not one this page server knows to take nothing from its own user's"
                    + " files or environment; run a page server of your own (anymap serve) for it";
        };
        if (refusal != null) {
            throw new AccessDeniedException(Redaction.uri(uri), null, "refused to uid " + peerUid + " by this page server of uid "
                    + serverUid + ": " + refusal);
        }
    }

    private static String s3(Map<String, String> options) {
        if ("page-server".equals(options.get("credentials"))) {
            return "credentials=page-server asks for the page server's own credentials, which serve only its own user; give your"
                    + " own (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in your environment, or the options access-key-id and"
                    + " secret-access-key)";
        }
        if (options.containsKey("profile")) {
            return "option profile names a profile of the page server's AWS files; give your credentials and region instead";
        }
        if (!options.containsKey("access-key-id") && !"true".equals(options.get("anonymous"))) {
            return "no S3 credentials came with the request, and the page server lends its own to no other user; set"
                    + " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the options access-key-id and secret-access-key";
        }
        return null;
    }

    private static String vfs(URI uri, Map<String, String> options) {
        for (String key : new String[] {"sftp.private-key-file", "sftp.known-hosts", "vfs.spool-dir"}) {
            if (options.containsKey(key)) {
                return "option " + key + " names a local path, which the page server would open with its own rights; drop it,"
                        + " or map through a page server of your own";
            }
        }
        String innermost = innermostScheme(uri.toString());
        if (!REMOTE_SCHEMES.contains(innermost)) {
            return "it reads a local file (through " + (innermost.isEmpty() ? "a path" : innermost + ":") + "), which the page"
                    + " server would open with its own rights; map it through a page server of your own";
        }
        if (innermost.equals("sftp")) {
            String text = uri.toString();
            String authority = text.substring(text.toLowerCase(Locale.ROOT).indexOf("sftp://") + "sftp://".length());
            authority = authority.indexOf('/') < 0 ? authority : authority.substring(0, authority.indexOf('/'));
            int at = authority.lastIndexOf('@');
            boolean user = at > 0 || options.containsKey("sftp.user");
            boolean password = (at > 0 && authority.substring(0, at).contains(":")) || options.containsKey("sftp.password");
            if (!user || !password) {
                return "sftp needs a user and a password of your own (in the URI, or the options sftp.user and sftp.password):"
                        + " without them the page server would log in as its own user, with its own keys";
            }
        }
        return null;
    }

    /** The scheme a layered VFS URI ({@code tar:gz:file:///a.tgz!/x}) finally reads through, lower case; empty for none. */
    static String innermostScheme(String uri) {
        String rest = uri;
        String scheme = "";
        while (true) {
            int colon = rest.indexOf(':');
            if (colon <= 0 || !rest.substring(0, colon).matches("[A-Za-z][A-Za-z0-9+.-]*")) {
                return scheme;
            }
            scheme = rest.substring(0, colon).toLowerCase(Locale.ROOT);
            rest = rest.substring(colon + 1);
            if (rest.startsWith("/")) {
                return scheme;
            }
        }
    }
}
