package dev.anymap.spi;

import java.net.URI;
import java.util.Map;
import java.util.Set;

/** Registered in this module's test META-INF/services, to prove discovery through ServiceLoader. */
public final class ServiceLoadedProvider implements BackendProvider {
    @Override
    public String name() {
        return "service-loaded";
    }

    @Override
    public Set<String> schemes() {
        return Set.of("test");
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) {
        throw new UnsupportedOperationException("never opened");
    }
}
