package dev.anymap.backend.file;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * A local copy of an object that VFS can only stream (an entry of a zip or tar archive, the content
 * of a gz or bz2 file), made once at open time so that reads can then go anywhere in it.
 *
 * <p>The copy is a temporary file readable by its owner alone, since the object may be private; it
 * is removed when the backend closes (a JVM that dies first leaves it behind, named
 * {@code anymap-vfs-*.spool}).
 *
 * @param path the copy
 * @param size how many bytes were copied
 * @param sha256 the SHA-256 of the bytes, in hex, if it was asked for; else null
 */
record Spool(Path path, long size, String sha256) {
    private static final int BUFFER = 256 * 1024;

    /**
     * Copies {@code content} to a new file in {@code dir} (null for the temporary directory).
     *
     * @param expectedSize the size the object declares, or -1 if it declares none: a copy of any other
     *     size is an error, not a short or long object
     * @param hash whether to compute the SHA-256 on the way
     */
    static Spool copy(InputStream content, Path dir, long expectedSize, boolean hash) throws IOException {
        Path path = dir == null
                ? Files.createTempFile("anymap-vfs-", ".spool", ownerOnly())
                : Files.createTempFile(dir, "anymap-vfs-", ".spool", ownerOnly());
        try {
            MessageDigest digest = hash ? newSha256() : null;
            long copied;
            try (OutputStream file = Files.newOutputStream(path);
                    OutputStream out = digest == null ? file : new DigestOutputStream(file, digest)) {
                copied = copy(content, out);
            }
            if (expectedSize >= 0 && copied != expectedSize) {
                throw new IOException("the archive says the entry has " + expectedSize + " bytes, but " + copied
                        + " came out of it: the archive is damaged or was changed while it was read");
            }
            return new Spool(path, copied, digest == null ? null : HexFormat.of().formatHex(digest.digest()));
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(path);
            throw e;
        }
    }

    private static long copy(InputStream in, OutputStream out) throws IOException {
        byte[] buffer = new byte[BUFFER];
        long copied = 0;
        for (int n; (n = in.read(buffer)) >= 0; ) {
            out.write(buffer, 0, n);
            copied += n;
        }
        return copied;
    }

    private static FileAttribute<?>[] ownerOnly() {
        if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            return new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))};
        }
        // Elsewhere (Windows) a new temporary file inherits its directory's ACL, which is the user's own.
        return new FileAttribute<?>[0];
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException everyJdkHasIt) {
            throw new IllegalStateException(everyJdkHasIt);
        }
    }

    void delete() throws IOException {
        Files.deleteIfExists(path);
    }
}
