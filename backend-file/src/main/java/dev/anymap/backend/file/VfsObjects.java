package dev.anymap.backend.file;

import java.io.IOException;
import java.net.URI;
import java.nio.file.NoSuchFileException;
import org.apache.commons.vfs2.FileObject;
import org.apache.commons.vfs2.FileSystemManager;
import org.apache.commons.vfs2.FileSystemOptions;
import org.apache.commons.vfs2.FileType;

/** Checks a URI's form for its scheme, and resolves it to a VFS file that has content. */
final class VfsObjects {
    private VfsObjects() {}

    /**
     * Refuses, before VFS sees it, a URI that cannot name a file of its scheme.
     *
     * @throws IllegalArgumentException saying what form the scheme's URIs have
     */
    static void checkForm(URI uri, String scheme, String name) {
        if (VfsSchemes.REMOTE.contains(scheme)) {
            if (uri.isOpaque() || uri.getHost() == null || uri.getRawPath() == null || uri.getRawPath().length() <= 1) {
                throw new IllegalArgumentException("malformed " + scheme + " URI " + name + ": it needs a host and a path, as in "
                        + scheme + "://[user@]host[:port]/path/to/file (spaces and '%' percent-encoded)");
            }
        } else if (VfsSchemes.LAYERED.contains(scheme)) {
            String inner = uri.getRawSchemeSpecificPart();
            if (!uri.isOpaque() || inner.indexOf(':') < 0) {
                throw new IllegalArgumentException("malformed " + scheme + " URI " + name + ": it wraps the URI of the "
                        + (VfsSchemes.COMPRESSED.contains(scheme) ? "compressed file, as in " + scheme + ":file:///data/x." + scheme
                                : "archive and names an entry in it, as in " + scheme + ":file:///data/a." + scheme + "!/path/in/archive"));
            }
            if (!VfsSchemes.COMPRESSED.contains(scheme) && !inner.contains("!/")) {
                throw new IllegalArgumentException("malformed " + scheme + " URI " + name + ": it names the archive but no entry "
                        + "in it; add !/path/in/archive");
            }
        } else if (uri.getRawSchemeSpecificPart() == null || uri.getRawSchemeSpecificPart().isEmpty()) {
            throw new IllegalArgumentException("malformed " + scheme + " URI " + name + ": it has no path");
        }
    }

    /**
     * The file {@code uri} names. A {@code gz:} or {@code bz2:} URI may name the compressed file itself:
     * that is a folder to VFS, whose one child is the uncompressed content.
     *
     * @throws NoSuchFileException if there is no such file
     * @throws IllegalArgumentException if it is a folder or has no content
     * @throws IOException from VFS, translated by {@code failures}
     */
    static FileObject regularFile(FileSystemManager manager, URI uri, FileSystemOptions options, String scheme,
            VfsFailures failures) throws IOException {
        FileObject file;
        FileType type;
        // VFS managers are not thread safe, and the ram: one is shared with whatever else uses it.
        synchronized (manager) {
            try {
                file = manager.resolveFile(uri.toString(), options);
                type = file.getType();
                if (type == FileType.FOLDER && VfsSchemes.COMPRESSED.contains(scheme)) {
                    FileObject[] children = file.getChildren();
                    if (children.length == 1) {
                        file = children[0];
                        type = file.getType();
                    }
                }
            } catch (IOException | RuntimeException fromVfs) {
                throw failures.atOpen(fromVfs);
            }
        }
        if (type == FileType.IMAGINARY) {
            throw new NoSuchFileException(failures.name(), null,
                    VfsSchemes.LAYERED.contains(scheme) ? "no such entry in the archive" : "no such file");
        }
        if (!type.hasContent()) {
            throw new IllegalArgumentException(failures.name() + " is a directory, not a file"
                    + (VfsSchemes.LAYERED.contains(scheme) ? " (name an entry: " + scheme + ":ARCHIVE-URI!/path/in/archive)" : ""));
        }
        return file;
    }
}
