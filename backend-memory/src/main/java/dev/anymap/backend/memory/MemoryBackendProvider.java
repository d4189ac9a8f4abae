package dev.anymap.backend.memory;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.StorageBackend;
import java.io.IOException;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.stream.LongStream;

/**
 * Serves {@code mem:} URIs: {@code mem:NAME} for an object stored with {@link MemoryObjects}, and
 * {@code mem:NAME?size=BYTES[&seed=N][&fill=random|zero]} for a generated one.
 *
 * <p>A named object can be {@linkplain #openForWriting opened for writing} and {@linkplain #create
 * created}; each commit stores a new object under the name, at a new generation, and backends open on
 * the old one keep reading it. A generated object reads only.
 */
public final class MemoryBackendProvider implements BackendProvider {
    /** The provider that {@link java.util.ServiceLoader} finds. */
    public MemoryBackendProvider() {}

    private static final long FILL_SLICE = 16L << 20;

    /** Generated objects open in this JVM, shared by every backend on the same URI. */
    private static final Map<String, MemoryObject> GENERATED = new HashMap<>();

    @Override
    public String name() {
        return "memory";
    }

    @Override
    public Set<String> schemes() {
        return Set.of("mem");
    }

    @Override
    public StorageBackend open(URI uri, Map<String, String> options) throws IOException {
        return open(uri, false);
    }

    /**
     * Opens a named object for writing: its commits store new versions under its name. A generated
     * object is made from its URI and cannot be written.
     */
    @Override
    public StorageBackend openForWriting(URI uri, Map<String, String> options) throws IOException {
        return open(uri, true);
    }

    /**
     * Stores a named object of {@code size} zero bytes, if there is none of that name, and opens it
     * for writing.
     *
     * @throws FileAlreadyExistsException if an object of that name is stored
     */
    @Override
    public StorageBackend create(URI uri, long size, Map<String, String> options) throws IOException {
        String name = namedOnly(uri, "created");
        MemoryObjects.uri(name); // checks the name before anything is allocated
        MemoryObject object = MemoryObject.allocate(size);
        object.retain(); // the backend's reference; the other is the name's
        if (!MemoryObjects.putNew(name, object)) {
            object.release();
            object.release();
            throw new FileAlreadyExistsException(uri.toString(), null,
                    "a mem: object of that name is stored in this JVM already; remove it or choose another name");
        }
        return new MemoryBackend(uri, object, name);
    }

    private StorageBackend open(URI uri, boolean forWriting) throws IOException {
        String spec = uri.getSchemeSpecificPart();
        int query = spec.indexOf('?');
        String name = query < 0 ? spec : spec.substring(0, query);
        if (query < 0) {
            MemoryObject object = MemoryObjects.retainNamed(name);
            if (object == null) {
                throw new NoSuchFileException(uri.toString(), null,
                        "no mem: object of that name in this JVM (store one with MemoryObjects, or use a generated "
                                + "URI such as mem:" + name + "?size=1048576&seed=1, which any process can serve)");
            }
            return new MemoryBackend(uri, object, forWriting ? name : null);
        }
        if (forWriting) {
            namedOnly(uri, "written");
        }
        return new MemoryBackend(uri, retainGenerated(uri, GeneratedSpec.parse(uri, spec.substring(query + 1))), null);
    }

    /** The name of {@code mem:NAME}; a generated URI cannot be written or created. */
    private static String namedOnly(URI uri, String what) {
        String spec = uri.getSchemeSpecificPart();
        if (spec.indexOf('?') >= 0) {
            throw new UnsupportedOperationException(uri + " cannot be " + what + ": a generated mem: object is made from"
                    + " its URI and reads only; write a named object instead (mem:NAME, stored with MemoryObjects.put"
                    + " or created)");
        }
        return spec;
    }

    private static MemoryObject retainGenerated(URI uri, GeneratedSpec spec) {
        synchronized (GENERATED) {
            MemoryObject shared = GENERATED.get(spec.key());
            if (shared != null && shared.retain()) {
                return shared;
            }
            MemoryObject object = MemoryObject.allocateGenerated(spec.size());
            if (spec.random()) {
                MemoryObjects.Generator generator = GeneratedContent.random(spec.seed());
                // Slices in parallel: a GiB fills in a fraction of a second instead of a second or more.
                LongStream.range(0, (spec.size() + FILL_SLICE - 1) / FILL_SLICE).parallel().forEach(slice -> {
                    long offset = slice * FILL_SLICE;
                    generator.fill(offset, object.bytes().asSlice(offset, Math.min(FILL_SLICE, spec.size() - offset)));
                });
            }
            GENERATED.put(spec.key(), object);
            return object;
        }
    }

    private record GeneratedSpec(long size, long seed, boolean random) {
        String key() {
            return size + "/" + seed + "/" + random;
        }

        static GeneratedSpec parse(URI uri, String query) {
            Long size = null;
            long seed = 0;
            boolean random = true;
            for (String parameter : query.split("&")) {
                int equals = parameter.indexOf('=');
                String key = equals < 0 ? parameter : parameter.substring(0, equals);
                String value = equals < 0 ? "" : parameter.substring(equals + 1);
                try {
                    switch (key) {
                        case "size" -> size = Long.parseLong(value);
                        case "seed" -> seed = Long.parseLong(value);
                        case "fill" -> random = switch (value) {
                            case "random" -> true;
                            case "zero" -> false;
                            default -> throw new IllegalArgumentException("fill is 'random' or 'zero', not '" + value + "'");
                        };
                        default -> throw new IllegalArgumentException("unknown parameter '" + key + "'");
                    }
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(uri + ": " + key + " must be a whole number, not '" + value + "'");
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(uri + ": " + e.getMessage()
                            + "; a generated object is mem:NAME?size=BYTES[&seed=N][&fill=random|zero]");
                }
            }
            if (size == null || size < 0) {
                throw new IllegalArgumentException(uri + ": a generated object needs size=BYTES (0 or more)");
            }
            return new GeneratedSpec(size, seed, random);
        }
    }
}
