package dev.anymap.samples.environment;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * Run in a JVM of its own, with an environment and a class path of its own, by
 * {@link OwnEnvironmentTest}: maps one object through the page server at a socket (starting it if
 * none runs), reads all of it, prints one line, and keeps it mapped until its standard input ends,
 * so that the page server it may have started outlives it only once the test is done with it.
 *
 * <pre>EnvironmentClient SOCKET URI [KEY=VALUE]...</pre>
 *
 * Prints {@code SHA256 <hex>} of the bytes read, {@code DENIED <message>} for an access denied, or
 * {@code FAILED <exception>}.
 */
public final class EnvironmentClient {
    public static void main(String[] args) throws Exception {
        Map<String, String> options = new HashMap<>();
        for (int i = 2; i < args.length; i++) {
            int equals = args[i].indexOf('=');
            options.put(args[i].substring(0, equals), args[i].substring(equals + 1));
        }
        try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(Path.of(args[0])))) {
            MappedRegion region = null;
            try {
                region = anymap.map(URI.create(args[1]), MapOptions.defaults().withBackendOptions(options));
                byte[] bytes = region.segment().toArray(ValueLayout.JAVA_BYTE);
                System.out.println("SHA256 " + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)));
            } catch (AccessDeniedException e) {
                System.out.println("DENIED " + e.getMessage());
            } catch (Exception e) {
                System.out.println("FAILED " + e);
            }
            System.out.flush();
            while (System.in.read() >= 0) {
                // attached, with the region mapped, until the test ends this client
            }
            if (region != null) {
                region.close();
            }
        }
    }
}
