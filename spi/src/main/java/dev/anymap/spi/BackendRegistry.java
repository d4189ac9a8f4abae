package dev.anymap.spi;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * The storage backends that can be reached from one class loader or module layer, keyed by URI
 * scheme.
 *
 * <p>A URI goes to the provider that serves its scheme with the highest
 * {@linkplain BackendProvider#priority() priority}, unless the user prefers another, with
 * {@link #prefer(String, String)} or the system property {@code anymap.backend.SCHEME=NAME}.
 * Instances are immutable and safe for concurrent use.
 */
public final class BackendRegistry {
    /** System property prefix that picks a provider by name for one scheme. */
    public static final String PREFER_PROPERTY_PREFIX = "anymap.backend.";

    private final List<BackendProvider> providers;
    private final Map<String, String> preferred;
    private final List<String> loadFailures;
    /** The providers of each scheme asked for, best first: found once, since every map asks. */
    private final Map<String, List<BackendProvider>> byScheme = new java.util.concurrent.ConcurrentHashMap<>();

    private BackendRegistry(List<BackendProvider> providers, Map<String, String> preferred, List<String> loadFailures) {
        this.providers = List.copyOf(providers);
        this.preferred = Map.copyOf(preferred);
        this.loadFailures = List.copyOf(loadFailures);
    }

    /** The providers visible from the thread's context class loader (or this class's, if it has none). */
    public static BackendRegistry load() {
        ClassLoader context = Thread.currentThread().getContextClassLoader();
        return load(context != null ? context : BackendRegistry.class.getClassLoader());
    }

    /** The providers visible from {@code loader}: named modules of its layers, and its class path. */
    public static BackendRegistry load(ClassLoader loader) {
        return from(ServiceLoader.load(BackendProvider.class, loader));
    }

    /** The providers in the modules of {@code layer} and its parents. */
    public static BackendRegistry load(ModuleLayer layer) {
        return from(ServiceLoader.load(layer, BackendProvider.class));
    }

    /** A registry of exactly these providers, for embedding and tests. */
    public static BackendRegistry of(List<? extends BackendProvider> providers) {
        return new BackendRegistry(List.copyOf(providers), preferencesFromSystemProperties(), List.of());
    }

    private static BackendRegistry from(ServiceLoader<BackendProvider> loader) {
        List<BackendProvider> found = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        var iterator = loader.iterator();
        while (true) {
            try {
                if (!iterator.hasNext()) {
                    break;
                }
                found.add(iterator.next());
            } catch (ServiceConfigurationError broken) {
                // One broken plugin jar must not hide the others; it is named when a scheme is missing.
                failures.add(broken.getMessage());
            }
        }
        return new BackendRegistry(found, preferencesFromSystemProperties(), failures);
    }

    private static Map<String, String> preferencesFromSystemProperties() {
        Map<String, String> preferences = new HashMap<>();
        System.getProperties().forEach((key, value) -> {
            String name = key.toString();
            if (name.startsWith(PREFER_PROPERTY_PREFIX)) {
                preferences.put(name.substring(PREFER_PROPERTY_PREFIX.length()).toLowerCase(Locale.ROOT), value.toString());
            }
        });
        return preferences;
    }

    /** A registry like this one that sends {@code scheme} to the provider named {@code providerName}. */
    public BackendRegistry prefer(String scheme, String providerName) {
        Map<String, String> preferences = new HashMap<>(preferred);
        preferences.put(scheme.toLowerCase(Locale.ROOT), Objects.requireNonNull(providerName, "providerName"));
        return new BackendRegistry(providers, preferences, loadFailures);
    }

    /** Every provider found, in no particular order. */
    public List<BackendProvider> providers() {
        return providers;
    }

    /** Every scheme that some provider serves. */
    public Set<String> schemes() {
        return providers.stream().flatMap(p -> p.schemes().stream()).collect(Collectors.toCollection(TreeSet::new));
    }

    /**
     * The provider that serves {@code uri}.
     *
     * @throws UnknownSchemeException if none does; the message lists the schemes that are available
     *     and the jars they came from
     * @throws IllegalArgumentException if a preferred provider is named that does not serve the scheme
     */
    public BackendProvider provider(URI uri) {
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        List<BackendProvider> candidates = byScheme.computeIfAbsent(scheme, wanted -> providers.stream()
                .filter(p -> p.schemes().contains(wanted))
                .sorted(Comparator.comparingInt(BackendProvider::priority).reversed().thenComparing(BackendProvider::name))
                .toList());
        if (candidates.isEmpty()) {
            throw new UnknownSchemeException(uri, describeAvailable());
        }
        String wanted = preferred.get(scheme);
        if (wanted == null) {
            return candidates.getFirst();
        }
        return candidates.stream()
                .filter(p -> p.name().equals(wanted))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("the preferred backend '" + wanted + "' for scheme '"
                        + scheme + "' is not available; providers of '" + scheme + "': "
                        + candidates.stream().map(BackendProvider::name).toList()));
    }

    /**
     * Opens the object at {@code uri} with the provider that serves it.
     *
     * @throws IllegalArgumentException if an option is not one the provider supports
     * @throws IOException if the provider cannot open the object
     */
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        return checked(uri, options).open(uri, options);
    }

    /**
     * Opens the object at {@code uri} for writing, with the provider that serves it; see
     * {@link BackendProvider#openForWriting}.
     *
     * @throws IllegalArgumentException if an option is not one the provider supports
     * @throws UnsupportedOperationException if the provider reads only
     */
    public StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
        return checked(uri, options).openForWriting(uri, options);
    }

    /**
     * Creates an object of {@code size} zero bytes at {@code uri} and opens it for writing; see
     * {@link BackendProvider#create}.
     */
    public StorageBackend create(URI uri, long size, Map<String, String> options) throws IOException {
        if (size < 0) {
            throw new IllegalArgumentException("an object's size is at least 0, not " + size + " (creating " + Redaction.uri(uri) + ")");
        }
        return checked(uri, options).create(uri, size, options);
    }

    /**
     * Opens the object at {@code uri} as {@code size} bytes at {@code version}, without asking the
     * storage, where its provider can; see {@link BackendProvider#openAt}.
     *
     * @throws IllegalArgumentException if an option is not one the provider supports
     */
    public Optional<StorageBackend> openAt(URI uri, Map<String, String> options, long size, ObjectVersion version)
            throws IOException {
        return checked(uri, options).openAt(uri, options, size, version);
    }

    /** The provider for {@code uri}, once every option is found to be one it supports. */
    private BackendProvider checked(URI uri, Map<String, String> options) {
        BackendProvider provider = provider(uri);
        Set<String> supported = provider.supportedOptions();
        for (String key : options.keySet()) {
            if (!supported.contains(key)) {
                throw new IllegalArgumentException("option '" + key + "' is not one the '" + provider.name()
                        + "' backend understands (for " + Redaction.uri(uri) + "); it understands "
                        + new TreeSet<>(supported));
            }
        }
        return provider;
    }

    /** Opens the object at {@code uri} with no options. */
    public StorageBackend open(URI uri) throws IOException {
        return open(uri, Map.of());
    }

    /**
     * The URI for a location a user typed: a URI with a scheme as it is, anything else as a local
     * path ({@code data/model.bin}, {@code /tmp/a b.bin}).
     *
     * @throws IllegalArgumentException for text that starts as a URI ({@code scheme:}) but does not
     *     parse as one, such as {@code s3://} or a URI with a space, unless a file has that name:
     *     saying where it fails and how to encode
     */
    public static URI toUri(String location) {
        try {
            URI uri = new URI(location);
            // A one-letter scheme is a Windows drive letter, not a URI scheme.
            if (uri.getScheme() != null && uri.getScheme().length() > 1) {
                return uri;
            }
        } catch (URISyntaxException notAUri) {
            // Read as a path it would name a file in the current directory that the user hardly meant.
            if (LOOKS_LIKE_A_URI.matcher(location).lookingAt() && !Files.exists(Path.of(location))) {
                throw new IllegalArgumentException(badUri(location, notAUri));
            }
        }
        return Path.of(location).toAbsolutePath().toUri();
    }

    private static final java.util.regex.Pattern LOOKS_LIKE_A_URI = java.util.regex.Pattern.compile("[A-Za-z][A-Za-z0-9+.-]+:");

    private static String badUri(String location, URISyntaxException cause) {
        int at = cause.getIndex();
        String where = at >= 0 ? " at character " + (at + 1) + " (" + (at < location.length() ? "'" + location.charAt(at) + "'" : "the end")
                + ")" : "";
        return "'" + location + "' is not a valid URI: " + cause.getReason() + where
                + "; percent-encode spaces and other special characters in a URI (a space as %20), give what an empty part "
                + "lacks (s3://bucket/key), or give a local file as a path";
    }

    private String describeAvailable() {
        if (providers.isEmpty() && loadFailures.isEmpty()) {
            return "none (no anymap backend is on the class path or module path)";
        }
        String available = providers.stream()
                .sorted(Comparator.comparing(BackendProvider::name))
                .map(p -> String.join(", ", new TreeSet<>(p.schemes())) + " (" + p.name() + ", from " + origin(p) + ")")
                .collect(Collectors.joining("; "));
        if (!loadFailures.isEmpty()) {
            available += "; providers that failed to load: " + String.join("; ", loadFailures);
        }
        return available;
    }

    private static String origin(BackendProvider provider) {
        Module module = provider.getClass().getModule();
        CodeSource source = provider.getClass().getProtectionDomain().getCodeSource();
        String location = "an unknown location";
        if (source != null && source.getLocation() != null) {
            String path = source.getLocation().getPath();
            path = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
            location = path.substring(path.lastIndexOf('/') + 1);
        }
        return module.isNamed() ? "module " + module.getName() + " in " + location : location;
    }
}
