package dev.anymap.backend.file;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.commons.vfs2.Capability;
import org.apache.commons.vfs2.FileContent;
import org.apache.commons.vfs2.FileObject;
import org.apache.commons.vfs2.FileSystemOptions;

/**
 * Serves the schemes of Apache Commons VFS 2 that no other backend owns: sftp, ftp, ftps; the archive
 * layers zip (with jar, war, ear, sar, par, ejb3), tar, tgz, tbz2; the compression layers gz and bz2;
 * ram and res (see {@link VfsSchemes} for what is claimed and why). A generic fallback, at priority
 * -100.
 *
 * <p>URIs are VFS's: {@code sftp://alice@host:22/data/model.bin},
 * {@code zip:file:///data/a.zip!/dir/entry.bin}, {@code tar:sftp://host/data/a.tar!/entry},
 * {@code gz:file:///data/x.bin.gz} (the compressed file itself names its content), with spaces and
 * {@code %} in names percent-encoded. The options are those of {@link VfsOptions}; a password may
 * also be in the URI's user info. No password reaches VFS inside a URI, and every message of VFS or
 * JSch is scrubbed of secrets before it is passed on, since VFS prints its file names with their
 * passwords.
 *
 * <p><b>Objects with random access</b> (sftp, ftp, ftps, ram, res in a directory) are read in place:
 * each read seeks a VFS {@code RandomAccessContent} and reads the range. VFS is not thread safe, so
 * a {@link RandomAccessPool} lends each concurrent reader a content of its own, up to
 * {@code vfs.readers} at once.
 *
 * <p><b>Objects without random access</b> (entries of zip and tar archives, gz and bz2 content,
 * resources in jars) can only be streamed from their start, so at open the object is streamed once
 * into a local temporary file ({@link Spool}: owner-only permissions, in {@code vfs.spool-dir} or
 * {@code java.io.tmpdir}, removed on close) and reads are served from that file, as by the
 * {@code file} backend. Opening such an object costs reading it whole, and as much local disk. A
 * copy whose length differs from the size the archive declares is an error. (For an archive on a
 * remote server VFS itself first copies the whole archive to a local temporary file.)
 *
 * <p>The version is the object's modification time and size, as VFS reports them (to the second on
 * sftp; for a copied object whose time VFS cannot tell, the SHA-256 of its content). A read that finds
 * a remote object shorter than it was fails with {@link dev.anymap.spi.ObjectChangedException}; a
 * copied object cannot change.
 *
 * <p>Each backend has its own VFS manager, and so its own connection, closed with it; after close,
 * reads in flight finish before the connection goes (see {@link RandomAccessPool}).
 *
 * <p><b>Writing</b> (sftp only): see {@link #openForWriting} and {@link InPlaceCommits}; entries of
 * archives, compressed content, ftp, ram and res refuse it with {@link UnsupportedOperationException}.
 */
public final class VfsBackendProvider implements BackendProvider {
    /** The provider that {@link java.util.ServiceLoader} finds. */
    public VfsBackendProvider() {}

    private volatile Set<String> schemes;

    @Override
    public String name() {
        return "vfs";
    }

    @Override
    public int priority() {
        return -100;
    }

    @Override
    public Set<String> schemes() {
        Set<String> known = schemes;
        if (known == null) {
            known = Set.copyOf(VfsSchemes.available());
            schemes = known;
        }
        return known;
    }

    @Override
    public Set<String> supportedOptions() {
        return VfsOptions.SUPPORTED;
    }

    @Override
    public Set<String> secretOptions() {
        return VfsOptions.SECRET;
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        return open(Target.of(uri, options, schemes()), false);
    }

    /**
     * Opens an sftp object for writing too: commits write each dirty range in place, over an SSH
     * session of the backend's own (see {@link SftpWriter}). Not atomic: a commit that fails in the
     * middle, or a process killed in it, leaves some ranges new and others old, and a commit made
     * again writes them all (see {@link InPlaceCommits}). Entries of archives, compressed content and
     * the other schemes read only.
     *
     * @throws java.nio.file.AccessDeniedException if the server will not open the file for writing
     * @throws UnsupportedOperationException for a scheme other than sftp
     */
    @Override
    public StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
        Target target = Target.of(uri, options, schemes());
        target.checkWritable();
        return open(target, true);
    }

    /**
     * Creates an sftp file of {@code size} zero bytes (the server extends an empty file to the size)
     * and opens it for writing. SFTP as JSch speaks it has no exclusive create: an existing file fails
     * the create, but one that another client creates between the check and the create is written over.
     *
     * @throws java.nio.file.FileAlreadyExistsException if a file exists at {@code uri}
     */
    @Override
    public StorageBackend create(URI uri, long size, Map<String, String> options) throws IOException {
        if (size < 0) {
            throw new IllegalArgumentException("cannot create " + Redaction.uri(uri) + " of " + size + " bytes: a size is at least 0");
        }
        Target target = Target.of(uri, options, schemes());
        target.checkWritable();
        try (SftpWriter writer = SftpWriter.connect(target.credentials.withoutPassword(), target.fileSystemOptions(),
                target.failures)) {
            writer.create(size);
        }
        return open(target, true);
    }

    /** A URI and its options, checked, with what every open of it needs. */
    private record Target(URI uri, VfsOptions options, UriCredentials credentials, String scheme, VfsFailures failures) {
        static Target of(URI uri, Map<String, String> options, Set<String> schemes) throws IOException {
            VfsOptions parsed = VfsOptions.parse(options);
            UriCredentials credentials = UriCredentials.of(uri);
            List<String> secrets = new ArrayList<>(credentials.secrets());
            secrets.addAll(parsed.secretValues());
            SecretScrubber scrubber = new SecretScrubber(secrets);
            String name = scrubber.uri(uri);
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            if (!schemes.contains(scheme)) {
                throw new IllegalArgumentException("the 'vfs' backend does not serve the scheme of " + name + "; it serves " + schemes);
            }
            VfsObjects.checkForm(uri, scheme, name);
            VfsFailures failures = new VfsFailures(name, scheme, scrubber, parsed.knownHosts().getPath());
            VfsSchemes.checkReadableByVfs(VfsOptions.innermostScheme(credentials.withoutPassword().toString()), name);
            return new Target(uri, parsed, credentials, scheme, failures);
        }

        FileSystemOptions fileSystemOptions() throws IOException {
            try {
                return options.toFileSystemOptions(credentials);
            } catch (org.apache.commons.vfs2.FileSystemException e) {
                throw failures.atOpen(e);
            }
        }

        /** Refuses, before connecting, a scheme that the backend does not write. */
        void checkWritable() {
            if (scheme.equals("sftp")) {
                return;
            }
            String why = VfsSchemes.COMPRESSED.contains(scheme) ? "compressed content is read through a local copy and never written back"
                    : VfsSchemes.LAYERED.contains(scheme) ? "entries of archives are read through a local copy and never written back"
                    : "Commons VFS has no random-access writes for " + scheme + ":";
            throw new UnsupportedOperationException(failures.name() + " cannot be written: " + why + "; the 'vfs' backend "
                    + "writes sftp only");
        }
    }

    private static StorageBackend open(Target target, boolean writable) throws IOException {
        URI uri = target.credentials.withoutPassword();
        VfsFailures failures = target.failures;
        FileSystemOptions vfsOptions = target.fileSystemOptions();
        VfsManagerLease lease;
        try {
            lease = VfsManagerLease.forScheme(target.scheme);
        } catch (org.apache.commons.vfs2.FileSystemException e) {
            throw failures.atOpen(e);
        }
        try {
            FileObject file = VfsObjects.regularFile(lease.manager(), uri, vfsOptions, target.scheme, failures);
            if (file.getFileSystem().hasCapability(Capability.RANDOM_ACCESS_READ)) {
                SftpWriter writer = writable ? SftpWriter.connect(uri, vfsOptions, failures) : null;
                try {
                    return openInPlace(uri, file, target.options.readers(), lease, failures, writer);
                } catch (IOException | RuntimeException e) {
                    if (writer != null) {
                        writer.close();
                    }
                    throw e;
                }
            }
            try {
                return openCopy(uri, file, target.options, failures);
            } finally {
                lease.close();
            }
        } catch (IOException | RuntimeException e) {
            lease.close();
            throw e;
        }
    }

    private static StorageBackend openInPlace(URI uri, FileObject file, int readers, VfsManagerLease lease,
            VfsFailures failures, SftpWriter writer) throws IOException {
        long size;
        ObjectVersion version;
        try {
            FileContent content = file.getContent();
            size = content.getSize();
            version = ObjectVersion.modified(Instant.ofEpochMilli(content.getLastModifiedTime()), size);
        } catch (IOException | RuntimeException e) {
            throw failures.atOpen(e);
        }
        if (size < 0) {
            throw new IOException("cannot open " + failures.name() + ": the server does not tell its size");
        }
        if (writer != null) {
            writer.checkWritable();
        }
        RandomAccessBackend backend = new RandomAccessBackend(uri, size, version,
                new RandomAccessPool(uri, file, readers, lease), failures.scrubber(),
                writer == null ? null : new InPlaceCommits(uri, failures.name(), size, writer));
        try {
            backend.probe(failures);
        } catch (IOException | RuntimeException e) {
            backend.close();
            throw e;
        }
        return backend;
    }

    private static StorageBackend openCopy(URI uri, FileObject file, VfsOptions options, VfsFailures failures) throws IOException {
        Long modified;
        Spool spool;
        try {
            FileContent content = file.getContent();
            modified = lastModified(content);
            long declared = content.getSize();
            try (InputStream in = content.getInputStream()) {
                spool = Spool.copy(in, options.spoolDir(), declared, modified == null);
            }
        } catch (IOException | RuntimeException e) {
            throw failures.atOpen(e);
        }
        ObjectVersion version = modified != null
                ? ObjectVersion.modified(Instant.ofEpochMilli(modified), spool.size())
                : ObjectVersion.contentHash("sha-256", spool.sha256());
        try {
            return FileBackend.copyOf(uri, spool.path(), version, spool::delete);
        } catch (IOException | RuntimeException e) {
            spool.delete();
            throw e;
        }
    }

    /** The modification time, or null where the file system keeps none. */
    private static Long lastModified(FileContent content) {
        try {
            return content.getLastModifiedTime();
        } catch (IOException | RuntimeException unknown) {
            return null;
        }
    }
}
