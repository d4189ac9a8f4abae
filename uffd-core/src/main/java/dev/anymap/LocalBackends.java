package dev.anymap;

import dev.anymap.protocol.Message;
import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What this process gives each of its map requests, so that the shared page server serves it as
 * its own environment and class path allow: backend options resolved here, and the class path and
 * module path where this process finds its backends.
 */
final class LocalBackends {
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
