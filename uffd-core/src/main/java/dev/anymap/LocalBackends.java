package dev.anymap;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.protocol.Message;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * What this process gives each of its map requests, so that the shared page server serves it as
 * its own environment and class path allow: backend options resolved here, and the class path and
 * module path where this process finds its backends. And the local files that this process opens
 * itself, with its own rights, for the kernel to map with no page server at all.
 */
final class LocalBackends {
    private static final System.Logger LOG = System.getLogger(LocalBackends.class.getName());
    private static volatile LocalBackends instance;

    private final BackendRegistry registry;
    private final Message.CodePath codePath;

    private LocalBackends(BackendRegistry registry, Message.CodePath codePath) {
        this.registry = registry;
        this.codePath = codePath;
    }

    /** This process's, found once: its class path does not change while it runs. */
    static LocalBackends get() {
        LocalBackends known = instance;
        if (known == null) {
            synchronized (LocalBackends.class) {
                known = instance;
                if (known == null) {
                    known = new LocalBackends(BackendRegistry.load(LocalBackends.class.getClassLoader()),
                            new Message.CodePath(entries(System.getProperty("java.class.path")),
                                    entries(System.getProperty("jdk.module.path"))));
                    instance = known;
                }
            }
        }
        return known;
    }

    /**
     * The options to send for {@code uri}: as this process's provider for its scheme resolves them.
     * Where this process has no such provider, as given: the page server, which looks on this
     * process's class path too, says what is missing.
     */
    Map<String, String> resolve(URI uri, Map<String, String> options) throws IOException {
        BackendProvider provider;
        try {
            provider = registry.provider(uri);
        } catch (IllegalArgumentException none) { // UnknownSchemeException, or a preferred provider missing
            return options;
        }
        return provider.resolveLocally(uri, options);
    }

    /**
     * A local file that this process opened to map: a descriptor, read-only unless opened for a
     * writable map, which the caller closes; and its version then, made when first asked.
     */
    record LocalFile(int descriptor, long size, Supplier<ObjectVersion> version) {}

    /**
     * Opens the object at {@code uri} in this process, if it is a {@code file:} URI whose provider
     * here names the local file that is the object ({@link BackendProvider#localFile}), or, failing
     * that, opens a backend that offers one ({@link StorageBackend#localFile()}): the file is opened
     * with this process's own rights, and nothing asks a page server. Other schemes go to the page
     * server, even where a backend would offer a file: an archive entry or an HTTP resource becomes
     * one only by a spool or a download, which the page server makes once for every process.
     *
     * @return empty where the page server is to map the object: another scheme, no provider of it
     *     here (the page server says what is missing), or no local file offered, or none that
     *     holds the object's bytes now
     * @throws java.nio.file.NoSuchFileException, AccessDeniedException, IllegalArgumentException or
     *     IOException for an object that cannot be opened, as the page server's answer would have them
     */
    Optional<LocalFile> openLocalFile(URI uri, Map<String, String> options, boolean writable) throws IOException {
        if (uri.getScheme() == null || !uri.getScheme().toLowerCase(Locale.ROOT).equals("file")) {
            return Optional.empty();
        }
        BackendProvider provider;
        try {
            provider = registry.provider(uri);
        } catch (IllegalArgumentException none) {
            return Optional.empty();
        }
        Optional<LocalFile> file = openNamedFile(provider, uri, options, writable);
        return file.isPresent() ? file : openOfferedFile(uri, options, writable);
    }

    /**
     * The file that {@code provider} names as the object, opened and described here: an open and a
     * statx, where a backend would open, check and describe the file first. Empty where the provider
     * names none, or where it is no regular file that opens: a backend's open then says why.
     */
    private static Optional<LocalFile> openNamedFile(BackendProvider provider, URI uri, Map<String, String> options, boolean writable) {
        Optional<Path> path;
        try {
            path = provider.localFile(uri, options);
        } catch (IllegalArgumentException refused) {
            return Optional.empty();
        }
        if (path.isEmpty()) {
            return Optional.empty();
        }
        // Not blocking: a FIFO at the path would hold an open for reading until a writer came.
        int descriptor = Libc.open(path.get().toString(), (writable ? Libc.O_RDWR : Libc.O_RDONLY) | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        if (descriptor < 0) {
            return Optional.empty();
        }
        try {
            Libc.FileStatus status = Libc.fstat(descriptor);
            if (status.isRegularFile()) {
                return Optional.of(new LocalFile(descriptor, status.size(), () -> ObjectVersion.modified(status.modified(), status.size())));
            }
        } catch (NativeException | RuntimeException unreadable) {
            LOG.log(System.Logger.Level.DEBUG, "statx of " + Redaction.uri(uri) + ": " + unreadable);
        }
        Libc.close(descriptor);
        return Optional.empty();
    }

    /** The local file that a backend opened for {@code uri} offers, opened here. */
    private Optional<LocalFile> openOfferedFile(URI uri, Map<String, String> options, boolean writable) throws IOException {
        StorageBackend backend;
        try {
            backend = writable ? registry.openForWriting(uri, options) : registry.open(uri, options);
        } catch (IOException e) {
            throw asAnswered(uri, e);
        } catch (UnsupportedOperationException readOnly) {
            throw new IllegalArgumentException(readOnly.getMessage(), readOnly); // as the page server's answer has it
        }
        try {
            Optional<Path> file = backend.localFile();
            if (file.isEmpty()) {
                return Optional.empty();
            }
            int descriptor = Libc.open(file.get().toString(), (writable ? Libc.O_RDWR : Libc.O_RDONLY) | Libc.O_CLOEXEC);
            if (descriptor < 0) {
                return Optional.empty(); // opened by the backend a moment ago: the page server serves it and says what changed
            }
            if (Libc.lseek(descriptor, 0, Libc.SEEK_END) != backend.size()) {
                Libc.close(descriptor); // changed since the backend opened it: served by faults, whose reads say so
                return Optional.empty();
            }
            ObjectVersion version = backend.version();
            return Optional.of(new LocalFile(descriptor, backend.size(), () -> version));
        } finally {
            try {
                backend.close();
            } catch (IOException | RuntimeException e) {
                // The descriptor holds the file now; a backend that fails to let go of its own handle costs nothing here.
                LOG.log(System.Logger.Level.DEBUG, "closing the backend of " + Redaction.uri(uri) + ": " + e);
            }
        }
    }

    /** The version of the local file at {@code uri} now, as its backend sees it: after a flush of a mapping of it. */
    ObjectVersion currentVersion(URI uri, Map<String, String> options) throws IOException {
        try (StorageBackend backend = registry.open(uri, options)) {
            return backend.version();
        }
    }

    /**
     * Creates an object of {@code size} zero bytes at {@code uri} with this process's backend for it,
     * and its rights, and returns its version: the page server maps it afterwards, as any other.
     */
    ObjectVersion create(URI uri, long size, Map<String, String> options) throws IOException {
        try (StorageBackend created = registry.create(uri, size, options)) {
            return created.version();
        } catch (IOException e) {
            throw asAnswered(uri, e);
        }
    }

    /** {@code e} as the client gets it from a page server's failure, so that a map fails alike on either path. */
    private static IOException asAnswered(URI uri, IOException e) {
        IOException answered = switch (e) {
            case NoSuchFileException missing -> new NoSuchFileException(Redaction.uri(uri), null, reason(missing));
            case AccessDeniedException denied -> new AccessDeniedException(Redaction.uri(uri), null, reason(denied));
            default -> e;
        };
        if (answered != e) {
            answered.initCause(e);
        }
        return answered;
    }

    /** What a file system exception says beyond the file it names, which the answer names itself. */
    private static String reason(java.nio.file.FileSystemException e) {
        return e.getReason() != null ? e.getReason() : e.getMessage();
    }

    Message.CodePath codePath() {
        return codePath;
    }

    /**
     * The entries of a class path or module path that exist, absolute (the page server may run
     * elsewhere), each with its size and modification time.
     */
    static List<Message.PathEntry> entries(String path) {
        List<Message.PathEntry> entries = new ArrayList<>();
        if (path == null || path.isEmpty()) {
            return entries;
        }
        for (String element : path.split(File.pathSeparator)) {
            if (element.isEmpty()) {
                continue;
            }
            try {
                Path absolute = Path.of(element).toAbsolutePath().normalize();
                BasicFileAttributes attributes = Files.readAttributes(absolute, BasicFileAttributes.class);
                entries.add(new Message.PathEntry(absolute.toString(), attributes.size(), attributes.lastModifiedTime().toMillis()));
            } catch (IOException | InvalidPathException missing) {
                // An entry that does not exist gives this process nothing either.
            }
        }
        return entries;
    }
}
