package ${package};

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.Redaction;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * Serves {@code ${scheme}:/PATH}: the local file at the absolute {@code PATH}.
 *
 * <p>A local file is the storage this plugin starts with, so that it builds and passes the SPI's test
 * kit as generated: {@link #open} and {@link ${classPrefix}Backend} are where your storage's client goes
 * (docs/plugins.md of anymap says what each method owes the page server).
 */
public final class ${classPrefix}BackendProvider implements BackendProvider {
    /** The URI scheme this plugin serves. */
    public static final String SCHEME = "${scheme}";

    /** Cheap, as the page server constructs every provider it finds: clients are made at the first {@link #open}. */
    public ${classPrefix}BackendProvider() {}

    @Override
    public String name() {
        return SCHEME;
    }

    @Override
    public Set<String> schemes() {
        return Set.of(SCHEME);
    }

    /** None yet: the registry refuses any key not named here, so a misspelt option is an error. */
    @Override
    public Set<String> supportedOptions() {
        return Set.of();
    }

    /** The values that are never printed (passwords, tokens): none yet. */
    @Override
    public Set<String> secretOptions() {
        return Set.of();
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        return ${classPrefix}Backend.open(uri, path(uri));
    }

    /** The file a URI names; anything else is an error that says which form is expected. */
    static Path path(URI uri) {
        if (!SCHEME.equalsIgnoreCase(uri.getScheme()) || uri.isOpaque() || uri.getRawAuthority() != null
                || uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new IllegalArgumentException(Redaction.uri(uri) + " is not a " + SCHEME + ": URI of a local file: write "
                    + SCHEME + ":/ABSOLUTE/PATH (or " + SCHEME + ":///ABSOLUTE/PATH)");
        }
        return Path.of(uri.getPath());
    }
}
