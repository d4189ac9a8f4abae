package dev.anymap;

import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.Path;

/**
 * Run in a JVM of its own by {@link PageServerLifecycleTest}: maps an object at the given socket
 * eight times, touches each region, prints {@code MAPPED}, and waits to be killed.
 *
 * <pre>ClientProgram SOCKET URI</pre>
 */
public final class ClientProgram {
    public static void main(String[] args) throws Exception {
        Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(Path.of(args[0])));
        for (int i = 0; i < 8; i++) {
            MappedRegion region = anymap.map(URI.create(args[1]));
            region.segment().get(ValueLayout.JAVA_BYTE, region.size() / 2);
        }
        System.out.println("MAPPED");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
