package dev.anymap.backend.file;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.Locale;

/**
 * Turns what VFS and JSch throw while an object is opened into an exception that names the URI
 * (redacted), says what went wrong and, for the usual sftp mistakes, what to do; of the kind a caller
 * may test for ({@link NoSuchFileException}, {@link AccessDeniedException}), with a scrubbed copy of the
 * original as its cause.
 */
final class VfsFailures {
    private final String name;
    private final String scheme;
    private final SecretScrubber scrubber;
    private final String knownHosts;

    /**
     * @param name the URI as it may be printed
     * @param knownHosts the known_hosts file that sftp host keys are checked against
     */
    VfsFailures(String name, String scheme, SecretScrubber scrubber, String knownHosts) {
        this.name = name;
        this.scheme = scheme;
        this.scrubber = scrubber;
        this.knownHosts = knownHosts;
    }

    String name() {
        return name;
    }

    SecretScrubber scrubber() {
        return scrubber;
    }

    IOException atOpen(Throwable failure) {
        String detail = scrubber.describe(failure);
        String lower = detail.toLowerCase(Locale.ROOT);
        IOException translated;
        if (lower.contains("auth fail") || lower.contains("auth cancel")) {
            translated = new AccessDeniedException(name, null, "authentication failed (" + detail + "); check the user, "
                    + "the password (sftp.password, or in the URI) or the key (sftp.private-key-file)");
        } else if (lower.contains("unknownhostkey") || lower.contains("reject hostkey")) {
            translated = new IOException("cannot open " + name + ": the server's host key is not in " + knownHosts + " ("
                    + detail + "); add it there (ssh-keyscan), name another file with sftp.known-hosts, or turn the "
                    + "check off with sftp.strict-host-key-checking=no");
        } else if (lower.contains("hostkey has been changed")) {
            translated = new IOException("cannot open " + name + ": the server's host key differs from the one in " + knownHosts
                    + " (" + detail + "); if the server really changed its key, update that file");
        } else if (lower.contains("permission denied")) {
            translated = new AccessDeniedException(name, null, "permission denied (" + detail + ")");
        } else if (missing(failure)) {
            translated = new NoSuchFileException(name, null, "no such file (" + detail + ")");
        } else {
            translated = new IOException("cannot open " + name + ": " + detail);
        }
        translated.initCause(scrubber.chain(failure));
        return translated;
    }

    private boolean missing(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof FileNotFoundException || t instanceof NoSuchFileException) {
                return true;
            }
            if (t instanceof org.apache.commons.vfs2.FileSystemException vfs && vfs.getCode() != null) {
                String code = vfs.getCode();
                // res: says a resource that is not on the class path is a badly formed URI.
                // A missing archive is one VFS "could not replicate as it does not exist".
                if (code.contains("not-found") || code.contains("missing-file")
                        || (scheme.equals("res") && code.contains("badly-formed-uri"))) {
                    return true;
                }
            }
            String message = t.getMessage() == null ? "" : t.getMessage().toLowerCase(Locale.ROOT);
            if (message.contains("no such file") || message.contains("does not exist")) {
                return true;
            }
        }
        return false;
    }
}
