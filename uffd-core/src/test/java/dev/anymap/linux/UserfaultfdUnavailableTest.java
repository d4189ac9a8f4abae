package dev.anymap.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.anymap.spi.StorageBackend;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a user without userfaultfd sees: run for real as the user {@code nobody}, on a machine where
 * unprivileged userfaultfd is off and /dev/userfaultfd is root's alone.
 */
class UserfaultfdUnavailableTest {
    private static final int NOBODY = 65534;

    @Test
    void aUserWithoutUserfaultfdIsToldWhatToChange(@TempDir Path directory) throws Exception {
        assumeTrue(Libc.getuid() == 0, "needs root, to run the probe as another user");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "needs setpriv (util-linux)");
        assumeTrue("0".equals(Files.readString(Path.of("/proc/sys/vm/unprivileged_userfaultfd")).trim()),
                "needs vm.unprivileged_userfaultfd=0");
        assumeTrue(!PosixFilePermissions.toString(Files.getPosixFilePermissions(Path.of("/dev/userfaultfd"))).endsWith("rw-"),
                "needs a /dev/userfaultfd that other users cannot open");

        // The probe's classes, where nobody can read them.
        Path classes = copyTree(codeSource(Userfaultfd.class), directory.resolve("classes"));
        copyTree(codeSource(UserfaultfdProbe.class), classes);
        Path spi = codeSource(StorageBackend.class);
        Path spiCopy = Files.isDirectory(spi) ? copyTree(spi, directory.resolve("spi"))
                : Files.copy(spi, directory.resolve("spi.jar"), StandardCopyOption.REPLACE_EXISTING);
        try (Stream<Path> all = Files.walk(directory)) {
            for (Path path : all.toList()) {
                Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(Files.isDirectory(path) ? "rwxr-xr-x" : "rw-r--r--"));
            }
        }
        Process probe = new ProcessBuilder(List.of("/usr/bin/setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY, "--clear-groups", "--",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED",
                "-cp", classes + ":" + spiCopy, UserfaultfdProbe.class.getName()))
                .redirectErrorStream(true).start();
        assertTrue(probe.waitFor(60, TimeUnit.SECONDS), "the probe finished");
        String printed = new String(probe.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, probe.exitValue(), printed);
        assertTrue(printed.contains("EPERM") && printed.contains("/dev/userfaultfd")
                && printed.contains("vm.unprivileged_userfaultfd=1"), printed);
    }

    private static Path codeSource(Class<?> type) throws Exception {
        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    private static Path copyTree(Path from, Path to) throws Exception {
        try (Stream<Path> all = Files.walk(from)) {
            for (Path source : all.toList()) {
                Path target = to.resolve(from.relativize(source).toString());
                if (Files.isDirectory(source)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        return to;
    }
}
