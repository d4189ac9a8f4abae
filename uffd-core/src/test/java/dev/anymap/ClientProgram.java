package dev.anymap;

import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Path;

/**
 * Run in a JVM of its own by {@link PageServerLifecycleTest}: maps an object at the given socket,
 * touches it, prints {@code MAPPED}, and waits to be killed.
 *
 * <pre>ClientProgram SOCKET</pre>
 */
public final class ClientProgram {
    public static void main(String[] args) throws Exception {
        Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(Path.of(args[0])));
        for (int i = 0; i < 8; i++) {
            MappedRegion region = anymap.map(URI.create("mem:client?size=" + (4 << 20) + "&seed=" + i));
            region.segment().get(ValueLayout.JAVA_BYTE, 1 << 20);
        }
        System.out.println("MAPPED");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
