package dev.anymap.spi;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A storage plugin: opens the objects behind the URIs of one or more schemes.
 *
 * <p>Found with {@link java.util.ServiceLoader} by {@link BackendRegistry}; an implementation has a
 * public no-argument constructor (or a public static {@code provider()} method on the module path)
 * and is cheap to construct: expensive clients are made on first {@link #open}. Implementations
 * are safe for concurrent use.
 */
public interface BackendProvider {

    /**
     * The system property a page server sets to {@code true} in its own JVM: it opens objects for
     * other processes, with the options each {@linkplain #resolveLocally resolved} in its own
     * environment. A provider whose options depend on the environment then never fills what is
     * missing from the page server's environment (an S3 backend given no credentials fails instead of
     * using the page server's), unless the options ask for it explicitly.
     */
    String PAGE_SERVER_PROPERTY = "anymap.page-server";

    /** A short, stable name, unique among providers ({@code "file"}, {@code "vfs"}, {@code "s3"}). */
    String name();

    /** The URI schemes this provider serves, lower case ({@code "s3"}, {@code "http"}, ...). */
    Set<String> schemes();

    /**
     * Which provider wins when several serve one scheme: the highest priority, unless the user
     * prefers another (see {@link BackendRegistry#prefer}). Built-in providers use 0, or -100 for a
     * generic fallback; a plugin that means to replace a built-in one uses more than 0.
     */
    default int priority() {
        return 0;
    }

    /**
     * The option keys this provider understands. {@link BackendRegistry#open} refuses any other key,
     * so that a misspelt option is an error and not a setting silently ignored.
     */
    default Set<String> supportedOptions() {
        return Set.of();
    }

    /**
     * The option keys whose values are secrets (passwords, keys, tokens): never printed, logged, or
     * put in an exception message, by the provider or by anymap.
     */
    default Set<String> secretOptions() {
        return Set.of();
    }

    /**
     * Opens the object at {@code uri}. The object's size and version are fixed from here on; an
     * object that does not exist, cannot be read, or is not a regular object is an
     * {@link IOException} now, naming the URI and the cause, and not at the first read.
     *
     * @param options backend settings, as plain strings, with keys among {@link #supportedOptions()}
     */
    StorageBackend open(URI uri, Map<String, String> options) throws IOException;

    /**
     * Opens the object at {@code uri} as {@link #open} does, for writing too: the backend has the
     * {@link Capability#WRITE} capability and {@linkplain StorageBackend#commit commits} changes. What
     * can be known without writing is checked now (a file that may not be written, a read-only
     * mount); what cannot (an S3 bucket policy) fails the first commit.
     *
     * @throws java.nio.file.AccessDeniedException if the object may be read but not written
     * @throws UnsupportedOperationException the default: the backend reads only; the message names the URI and the backend
     */
    default StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
        throw new UnsupportedOperationException(Redaction.uri(uri) + " cannot be written: the '" + name()
                + "' backend that serves it reads only");
    }

    /**
     * Creates a new object of {@code size} zero bytes at {@code uri} and opens it for writing, as
     * {@link #openForWriting} would. Where the storage can check it (S3's {@code If-None-Match}, an
     * exclusive create), an object that already exists fails the create and is left as it is.
     *
     * @throws java.nio.file.FileAlreadyExistsException if an object exists at {@code uri}
     * @throws UnsupportedOperationException the default: the backend reads only
     */
    default StorageBackend create(URI uri, long size, Map<String, String> options) throws IOException {
        throw new UnsupportedOperationException(Redaction.uri(uri) + " cannot be created: the '" + name()
                + "' backend that serves it reads only");
    }

    /**
     * Opens the object at {@code uri} as the size and version a caller saw before, without asking
     * the storage: every read names that version and fails with {@link ObjectChangedException} if the
     * object is at another. The page server reads a replayed access trace through such a backend
     * while it {@linkplain #open opens} the object, so that a trace costs no round trip of its own,
     * and keeps what it read only if the open finds that same size and version.
     *
     * @return empty, the default, where a read cannot name a version (S3's If-Match can)
     */
    default Optional<StorageBackend> openAt(URI uri, Map<String, String> options, long size, ObjectVersion version)
            throws IOException {
        return Optional.empty();
    }

    /**
     * The local file that <em>is</em> the object at {@code uri} ({@code file:}), named without
     * opening anything, so that a process maps it with the kernel and opens no backend at all. The
     * caller opens the path with its own rights, and takes the object's size and its version,
     * {@link ObjectVersion#modified}{@code (last modification, size)}, from the file it opened, as
     * {@link StorageBackend#localFile()} and {@link StorageBackend#version()} of a backend opened now
     * would have them. A caller that cannot open the file opens a backend, whose error says why.
     *
     * @return empty, the default, where the object is no local file, or is one only as a copy (a
     *     spooled archive entry, a download), which only an open backend makes
     * @throws IllegalArgumentException for a URI or option that {@link #open} refuses
     */
    default Optional<Path> localFile(URI uri, Map<String, String> options) {
        return Optional.empty();
    }

    /**
     * The options that travel to the page server for {@code uri}, resolved here, in the process that
     * maps: everything that a user gave, plus whatever {@link #open} would otherwise take from the
     * environment of the process it runs in (credentials, a region, an endpoint). The page server is
     * shared by every process of a user and has an environment of its own; it opens the object with
     * exactly what this returns, so that each process is served as its own environment allows.
     *
     * <p>Values that are secrets must be {@linkplain #secretOptions() secret options}: they travel
     * over the page server's private socket and are never printed. The result is complete: a page
     * server given it again (after a restart, say) opens the same object the same way. Called once per
     * map, on the mapping thread; it may take a few milliseconds (reading a profile), not round trips
     * to storage.
     *
     * @return {@code options}, the default, for a backend that takes nothing from its environment
     * @throws java.nio.file.AccessDeniedException if what the environment must give is missing (no
     *     credentials anywhere), naming the ways to give it
     * @throws IllegalArgumentException for an option that cannot work, as {@link #open} would
     */
    default Map<String, String> resolveLocally(URI uri, Map<String, String> options) throws IOException {
        return options;
    }

    /** A copy of {@code options} fit to print: every {@linkplain #secretOptions() secret} value masked. */
    default Map<String, String> redact(Map<String, String> options) {
        Set<String> secrets = secretOptions();
        Map<String, String> redacted = new LinkedHashMap<>();
        options.forEach((key, value) -> redacted.put(key, secrets.contains(key) ? "****" : value));
        return redacted;
    }
}
