package dev.anymap.server;

import dev.anymap.protocol.Message;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ObjectVersion;
import dev.anymap.spi.StorageBackend;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.MalformedURLException;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The backends a map request is served with: those of the process that mapped, found on the class
 * path and module path it sent. Where those are the page server's own (a server auto-started on its
 * client's class path), the server's own providers, at no cost; otherwise the providers of a class
 * loader over those entries, one per set of jars (each with its size and modification time, so that
 * a rebuilt jar makes a new set), kept for the server's life. Such a loader looks in its jars before
 * the server's (so that two processes with two versions of one plugin each get their own), except
 * for the JDK and {@code dev.anymap.spi}, which it shares with the server so that its providers are
 * {@link BackendProvider}s here. Module path entries are read as class path entries: a provider is
 * found through {@code META-INF/services}, as docs/plugins.md asks every plugin to declare it.
 */
final class BackendLoaders {
    private static final System.Logger LOG = System.getLogger(BackendLoaders.class.getName());

    private final Backends own;
    private final List<String> ownClassPath;
    private final List<String> ownModulePath;
    private final Map<List<Message.PathEntry>, Backends> loaded = new ConcurrentHashMap<>();

    /** The server's own backends are {@code own}, found on this JVM's class path and module path. */
    BackendLoaders(BackendRegistry own) {
        this(own, paths(System.getProperty("java.class.path")), paths(System.getProperty("jdk.module.path")));
    }

    BackendLoaders(BackendRegistry own, List<String> ownClassPath, List<String> ownModulePath) {
        this.own = new Backends(own, null);
        this.ownClassPath = List.copyOf(ownClassPath);
        this.ownModulePath = List.copyOf(ownModulePath);
    }

    /**
     * The backends of a process with this code path.
     *
     * @throws IOException naming the entry, if one no longer exists, cannot be read, or has changed
     *     since the process sent it
     */
    Backends of(Message.CodePath codePath) throws IOException {
        if (codePath.equals(Message.CodePath.SERVER)
                || (ownClassPath.equals(names(codePath.classPath())) && ownModulePath.equals(names(codePath.modulePath())))) {
            return own;
        }
        List<Message.PathEntry> entries = new ArrayList<>(codePath.classPath());
        entries.addAll(codePath.modulePath());
        for (Message.PathEntry entry : entries) {
            check(entry);
        }
        try {
            return loaded.computeIfAbsent(List.copyOf(entries), BackendLoaders::load);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** How many sets of jars have loaders of their own. */
    int loaders() {
        return loaded.size();
    }

    private static void check(Message.PathEntry entry) throws IOException {
        BasicFileAttributes attributes;
        try {
            Path path = Path.of(entry.path());
            attributes = Files.readAttributes(path, BasicFileAttributes.class);
            if (attributes.isRegularFile() && !Files.isReadable(path)) {
                throw new IOException("it cannot be read");
            }
        } catch (IOException | InvalidPathException e) {
            throw new IOException("the mapping process's class path entry " + entry.path() + " cannot be read by the page server ("
                    + (e instanceof java.nio.file.NoSuchFileException ? "it no longer exists" : e.getMessage())
                    + "); put it back, or map from a process whose class path has what it needs", e);
        }
        if (attributes.isRegularFile() && (attributes.size() != entry.size()
                || attributes.lastModifiedTime().toMillis() != entry.modifiedMillis())) {
            throw new IOException("the mapping process's class path entry " + entry.path() + " has changed since that process "
                    + "read it (" + entry.size() + " bytes, modified at " + entry.modifiedMillis() + " ms, now " + attributes.size()
                    + " bytes at " + attributes.lastModifiedTime().toMillis() + "); map from a process started since");
        }
    }

    private static Backends load(List<Message.PathEntry> entries) {
        URL[] urls = new URL[entries.size()];
        try {
            for (int i = 0; i < urls.length; i++) {
                urls[i] = Path.of(entries.get(i).path()).toUri().toURL();
            }
        } catch (MalformedURLException e) {
            throw new UncheckedIOException(e);
        }
        ClassLoader loader = new PluginLoader(urls);
        BackendRegistry registry = BackendRegistry.load(loader);
        LOG.log(System.Logger.Level.INFO, "loaded the backends " + registry.schemes() + " of a class path of " + urls.length
                + " entries, in a class loader of their own");
        return new Backends(registry, loader);
    }

    private static List<String> names(List<Message.PathEntry> entries) {
        return entries.stream().map(Message.PathEntry::path).toList();
    }

    /** The entries of a path that exist, absolute, as a client sends them. */
    private static List<String> paths(String path) {
        List<String> paths = new ArrayList<>();
        if (path == null || path.isEmpty()) {
            return paths;
        }
        for (String element : path.split(File.pathSeparator)) {
            try {
                Path absolute = Path.of(element).toAbsolutePath().normalize();
                if (!element.isEmpty() && Files.exists(absolute)) {
                    paths.add(absolute.toString());
                }
            } catch (InvalidPathException ignored) {
                // not an entry the JVM could read either
            }
        }
        return paths;
    }

    /** The providers of one code path, and the class loader to run their opens in (null: the server's own). */
    record Backends(BackendRegistry registry, ClassLoader loader) {
        BackendProvider provider(URI uri) {
            return registry.provider(uri);
        }

        StorageBackend open(URI uri, Map<String, String> options) throws IOException {
            return in(() -> registry.open(uri, options));
        }

        Optional<StorageBackend> openAt(URI uri, Map<String, String> options, long size, ObjectVersion version) throws IOException {
            return in(() -> registry.openAt(uri, options, size, version));
        }

        StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
            return in(() -> registry.openForWriting(uri, options));
        }

        /**
         * Runs {@code open} with the loader as the thread's context class loader: libraries look up
         * their own parts there (the AWS SDK its interceptors), and must find this loader's copy.
         */
        private <T> T in(IoSupplier<T> open) throws IOException {
            if (loader == null) {
                return open.get();
            }
            Thread thread = Thread.currentThread();
            ClassLoader previous = thread.getContextClassLoader();
            thread.setContextClassLoader(loader);
            try {
                return open.get();
            } finally {
                thread.setContextClassLoader(previous);
            }
        }
    }

    private interface IoSupplier<T> {
        T get() throws IOException;
    }

    /** Its own jars first, but the JDK's classes and the SPI's are the server's. */
    private static final class PluginLoader extends URLClassLoader {
        private static final String SPI_PACKAGE = BackendProvider.class.getPackageName() + ".";
        private static final ClassLoader SPI_LOADER = BackendProvider.class.getClassLoader();

        static {
            registerAsParallelCapable();
        }

        PluginLoader(URL[] urls) {
            super("anymap-backends", urls, ClassLoader.getPlatformClassLoader());
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (name.startsWith(SPI_PACKAGE) && name.indexOf('.', SPI_PACKAGE.length()) < 0) {
                return SPI_LOADER.loadClass(name);
            }
            return super.loadClass(name, resolve);
        }
    }
}
