package dev.anymap.sample.sql.modulepath;

import dev.anymap.spi.BackendProvider;
import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;

/**
 * Run by {@code ModulePathIT} in a JVM of its own, from the class path, with the plugin, the SPI and
 * the driver on the module path: prints the module of the provider that serves the URI, and the
 * SHA-256 of the object it reads. In a package of its own, as the plugin's package belongs to the
 * plugin's module there.
 *
 * <p>Arguments: URI, user, password.
 */
public final class ModulePathProgram {
    private ModulePathProgram() {}

    public static void main(String[] args) throws Exception {
        URI uri = URI.create(args[0]);
        BackendProvider provider = BackendRegistry.load().provider(uri);
        System.out.println("module " + provider.getClass().getModule().getName());
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        try (StorageBackend backend = BackendRegistry.load().open(uri, Map.of("user", args[1], "password", args[2]))) {
            byte[] piece = new byte[1 << 20];
            for (long offset = 0; offset < backend.size(); offset += piece.length) {
                int length = (int) Math.min(piece.length, backend.size() - offset);
                backend.read(offset, MemorySegment.ofArray(piece).asSlice(0, length));
                sha256.update(piece, 0, length);
            }
        }
        System.out.println("sha256 " + HexFormat.of().formatHex(sha256.digest()));
    }
}
