package dev.anymap.backend.http;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * A self-signed certificate for 127.0.0.1 and localhost, made once per test JVM with the JDK's own
 * keytool: the server's key store, and a trust store holding the certificate alone, as a client
 * that trusts a private CA would have.
 */
final class TestCertificates {
    /** Random, so that a test can look for it in messages and logs. */
    static final String PASSWORD = "pw-" + UUID.randomUUID();

    private static Path keyStore;
    private static Path trustStore;

    private TestCertificates() {}

    /** The server's PKCS12 key store (password {@link #PASSWORD}). */
    static synchronized Path keyStore() throws IOException {
        make();
        return keyStore;
    }

    /** A PKCS12 trust store with the server's certificate alone (password {@link #PASSWORD}). */
    static synchronized Path trustStore() throws IOException {
        make();
        return trustStore;
    }

    private static void make() throws IOException {
        if (keyStore != null) {
            return;
        }
        Path dir = Files.createTempDirectory("anymap-http-tls-");
        dir.toFile().deleteOnExit();
        Path keys = dir.resolve("server.p12");
        Path trust = dir.resolve("trust.p12");
        keytool("-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "2",
                "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-storetype", "PKCS12",
                "-keystore", keys.toString(), "-storepass", PASSWORD, "-keypass", PASSWORD);
        // The trust store is made in process: each keytool run is a JVM start.
        try {
            KeyStore server = KeyStore.getInstance(keys.toFile(), PASSWORD.toCharArray());
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, null);
            trusted.setCertificateEntry("server", server.getCertificate("server"));
            try (OutputStream out = Files.newOutputStream(trust)) {
                trusted.store(out, PASSWORD.toCharArray());
            }
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot make the trust store", e);
        }
        for (Path file : List.of(keys, trust)) {
            file.toFile().deleteOnExit();
        }
        keyStore = keys;
        trustStore = trust;
    }

    private static void keytool(String... arguments) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        // A short-lived JVM: the C1 compiler alone starts it in a third of the time.
        command.add("-J-XX:TieredStopAtLevel=1");
        command.addAll(List.of(arguments));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        // Read before waiting, so that a full pipe cannot stall keytool.
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException("keytool " + arguments[0] + " did not finish");
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        if (process.exitValue() != 0) {
            throw new IOException("keytool " + arguments[0] + " failed: " + output);
        }
    }
}
