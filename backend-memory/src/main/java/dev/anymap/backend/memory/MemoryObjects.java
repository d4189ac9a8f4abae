package dev.anymap.backend.memory;

import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The named {@code mem:} objects of this JVM, held off-heap so that objects of many GiB cost the
 * garbage collector nothing.
 *
 * <p>A named object lives in one JVM: a page server in another process cannot see it. For objects a
 * page server must serve, use a generated URI, which any process rebuilds to the same bytes:
 * {@code mem:NAME?size=BYTES[&seed=N][&fill=random|zero]} (see {@link #generatedUri}).
 */
public final class MemoryObjects {
    private static final Map<String, MemoryObject> NAMED = new ConcurrentHashMap<>();

    private MemoryObjects() {}

    /** Fills {@code target} with the bytes at {@code offset} of a generated object. */
    @FunctionalInterface
    public interface Generator {
        /** Writes into {@code target} the object's bytes from {@code offset}, as many as {@code target} holds. */
        void fill(long offset, MemorySegment target);
    }

    /**
     * The content of the generated objects of {@code seed} ({@code mem:NAME?size=...&seed=SEED}), any
     * range computed on its own without the object: to check what was read of one, or to serve one
     * lazily.
     */
    public static Generator generatedContent(long seed) {
        return GeneratedContent.random(seed);
    }

    /**
     * Stores a copy of {@code content} as {@code mem:NAME}, replacing any object of that name. A named
     * object may be {@linkplain dev.anymap.spi.BackendProvider#openForWriting opened for writing}.
     */
    public static URI put(String name, byte[] content) {
        MemoryObject object = MemoryObject.allocate(content.length);
        MemorySegment.copy(MemorySegment.ofArray(content), 0, object.bytes(), 0, content.length);
        return register(name, object);
    }

    /** Stores {@code size} bytes made by {@code generator} as {@code mem:NAME}. */
    public static URI generate(String name, long size, Generator generator) {
        MemoryObject object = MemoryObject.allocate(size);
        generator.fill(0, object.bytes());
        return register(name, object);
    }

    /** Stores a zero-filled object of {@code size} bytes as {@code mem:NAME}, replacing any object of that name. */
    public static URI createWritable(String name, long size) {
        return register(name, MemoryObject.allocate(size));
    }

    /**
     * Stores {@code object} as {@code name} if no object has that name.
     *
     * @return whether it was stored
     */
    static boolean putNew(String name, MemoryObject object) {
        checkName(name);
        return NAMED.putIfAbsent(name, object) == null;
    }

    /**
     * Stores {@code next} as {@code name} in place of {@code current}, if that is still the object of
     * that name: a commit's compare and swap.
     *
     * @return whether it was stored
     */
    static boolean replace(String name, MemoryObject current, MemoryObject next) {
        if (!NAMED.replace(name, current, next)) {
            return false;
        }
        current.release();
        return true;
    }

    /** A copy of the bytes stored as {@code name} now, read without a backend; null if there is none. */
    static byte[] storedBytes(String name) {
        MemoryObject object = retainNamed(name);
        if (object == null) {
            return null;
        }
        try {
            return object.bytes().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        } finally {
            object.release();
        }
    }

    /**
     * Forgets {@code mem:NAME}. Its memory is freed once every backend open on it is closed.
     *
     * @return whether there was such an object
     */
    public static boolean remove(String name) {
        MemoryObject removed = NAMED.remove(name);
        if (removed != null) {
            removed.release();
        }
        return removed != null;
    }

    /** The URI of a generated object of {@code size} bytes of pseudo-random content fixed by {@code seed}. */
    public static URI generatedUri(String name, long size, long seed) {
        return URI.create("mem:" + checkName(name) + "?size=" + size + "&seed=" + seed);
    }

    /** The URI of the named object {@code name}. */
    public static URI uri(String name) {
        return URI.create("mem:" + checkName(name));
    }

    /** The object named {@code name}, retained for the caller; null if there is none. */
    static MemoryObject retainNamed(String name) {
        while (true) {
            MemoryObject object = NAMED.get(name);
            if (object == null || object.retain()) {
                return object;
            }
            // Released by a concurrent replace or remove between get and retain: look again.
            NAMED.remove(name, object);
        }
    }

    private static URI register(String name, MemoryObject object) {
        URI uri = uri(name);
        MemoryObject replaced = NAMED.put(name, object);
        if (replaced != null) {
            replaced.release();
        }
        return uri;
    }

    private static String checkName(String name) {
        Objects.requireNonNull(name, "name");
        if (name.isEmpty() || !name.chars().allMatch(c -> c > ' ' && c < 127 && c != '?' && c != '#' && c != '%')) {
            throw new IllegalArgumentException("a mem: object name is printable ASCII without spaces, '?', '#' or '%': '" + name + "'");
        }
        return name;
    }
}
