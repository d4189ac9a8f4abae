package dev.anymap.backend.file;

import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Locale;
import java.util.Set;

/**
 * Turns a {@code file:} URI into an open channel on a regular file, or into an error that names the
 * URI and says what is wrong with it, at open time rather than at the first read.
 */
final class LocalFiles {
    private LocalFiles() {}

    /**
     * The local path of a {@code file:} URI.
     *
     * @throws IllegalArgumentException if the URI is not a local, absolute file URI
     */
    static Path toPath(URI uri) {
        if (uri.getScheme() == null || !uri.getScheme().equalsIgnoreCase("file")) {
            throw malformed(uri, "its scheme is not file");
        }
        if (uri.isOpaque()) {
            throw malformed(uri, "it has no absolute path (file:relative/path is not a file URI)");
        }
        URI local = uri;
        // RFC 8089 allows the local host to be named; Path.of accepts no authority at all.
        if (uri.getRawAuthority() != null && uri.getRawAuthority().toLowerCase(Locale.ROOT).equals("localhost")) {
            try {
                local = new URI("file", null, uri.getPath(), uri.getQuery(), uri.getFragment());
            } catch (URISyntaxException cannotHappen) {
                throw malformed(uri, cannotHappen.getMessage());
            }
        }
        try {
            return Path.of(local);
        } catch (IllegalArgumentException | java.nio.file.FileSystemNotFoundException notLocal) {
            throw malformed(uri, notLocal.getMessage());
        }
    }

    private static IllegalArgumentException malformed(URI uri, String why) {
        return new IllegalArgumentException("malformed file URI " + Redaction.uri(uri) + ": " + why
                + "; a file URI looks like file:///absolute/path with spaces and '%' percent-encoded"
                + " (%20, %25), or pass a plain path");
    }

    /**
     * The attributes of the regular file at {@code path}. Looked at before anything opens it: opening a
     * FIFO would block, and a directory opens for reading and fails only at the first read.
     */
    static BasicFileAttributes regularFile(URI uri, Path path) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (IOException e) {
            throw translate(uri, e);
        }
        // Wrong arguments rather than failures of storage: the user named something that is no file.
        if (attributes.isDirectory()) {
            throw new IllegalArgumentException(Redaction.uri(uri) + " is a directory, not a file; name a file in it");
        }
        if (!attributes.isRegularFile()) {
            throw new IllegalArgumentException(Redaction.uri(uri)
                    + " is not a regular file (a device, FIFO or socket has no fixed size to map)");
        }
        return attributes;
    }

    static FileChannel open(URI uri, Path path, Set<? extends OpenOption> options) throws IOException {
        try {
            return FileChannel.open(path, options);
        } catch (IOException e) {
            throw translate(uri, e);
        }
    }

    /** {@code e} again, of the same kind where callers may test for it, but naming the URI. */
    static IOException translate(URI uri, IOException e) {
        String name = Redaction.uri(uri);
        IOException translated;
        if (e instanceof NoSuchFileException) {
            translated = new NoSuchFileException(name, null, "no such file");
        } else if (e instanceof AccessDeniedException) {
            translated = new AccessDeniedException(name, null, "permission denied");
        } else if (e instanceof FileSystemException fse) {
            translated = new FileSystemException(name, null, fse.getReason() != null ? fse.getReason() : fse.toString());
        } else {
            translated = new IOException("cannot open " + name + ": " + e.getMessage());
        }
        translated.initCause(e);
        return translated;
    }
}
