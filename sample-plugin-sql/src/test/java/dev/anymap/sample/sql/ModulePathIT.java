package dev.anymap.sample.sql;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.sample.sql.modulepath.ModulePathProgram;
import dev.anymap.spi.testkit.TestContent;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The plugin's jar as a named module: a JVM with the jar, the SPI and the driver on the module path
 * (and nothing of them on the class path) finds the provider through {@code provides} in its module
 * descriptor, and reads the row's bytes. Run by failsafe after {@code package}, so the jar is the
 * one a user gets.
 */
@ExtendWith(TestPostgres.class)
class ModulePathIT {
    private final TestPostgres.Server server;

    ModulePathIT(TestPostgres.Server server) {
        this.server = server;
    }

    private static String entry(List<String> classPath, String what, java.util.function.Predicate<String> matches) {
        return classPath.stream().filter(matches).findFirst()
                .orElseThrow(() -> new AssertionError("no " + what + " on the test class path: " + classPath));
    }

    @Test
    void theJarOnTheModulePathServesItsSchemeFromItsModule() throws Exception {
        byte[] content = TestContent.random(9, 3_000_001);
        String table = Tables.create(server, "modulepath");
        Tables.put(server, table, "k", content);

        List<String> classPath = Arrays.asList(System.getProperty("surefire.test.class.path",
                System.getProperty("java.class.path")).split(File.pathSeparator));
        String plugin = entry(classPath, "plugin jar", e -> Path.of(e).getFileName().toString().matches("anymap-sample-plugin-sql-.*\\.jar"));
        String spi = entry(classPath, "SPI", e -> e.matches(".*(anymap-spi-[^/]*(?<!-tests)\\.jar|/spi/target/classes/?)"));
        String driver = entry(classPath, "PostgreSQL driver", e -> Path.of(e).getFileName().toString().startsWith("postgresql-"));
        String program = Path.of(ModulePathProgram.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();

        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--module-path", String.join(File.pathSeparator, plugin, spi, driver), "--add-modules", "ALL-MODULE-PATH",
                "-cp", program, ModulePathProgram.class.getName(),
                server.uri(table, "k").toString(), TestPostgres.USER, TestPostgres.PASSWORD)
                .redirectErrorStream(true).start();
        String printed = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(child.waitFor(2, TimeUnit.MINUTES), printed);
        assertEquals(0, child.exitValue(), printed);
        assertTrue(printed.lines().anyMatch("module dev.anymap.sample.sql"::equals), printed);
        String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        assertTrue(printed.lines().anyMatch(("sha256 " + expected)::equals), printed);
    }
}
