package dev.anymap.samples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.s3server.S3ServerProcess;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/** The command line, run as a script would run it, with its output compared against the JDK's own reading. */
class CommandLineTest {
    @TempDir
    static Path directory;
    private static Path file;
    private static byte[] content;
    private static String socket;

    @BeforeAll
    static void writeAFile() throws Exception {
        content = new byte[3_000_003];
        new Random(9).nextBytes(content);
        file = Files.write(directory.resolve("an object [1].bin"), content);
        socket = directory.resolve("server").resolve("server.sock").toString();
    }

    private record Run(int exitCode, byte[] out, String err) {}

    private static Run run(String... args) {
        PrintStream originalOut = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            var commandLine = AnymapCommand.commandLine();
            commandLine.setErr(new java.io.PrintWriter(err, true, StandardCharsets.UTF_8));
            int exit = commandLine.execute(args);
            System.out.flush();
            return new Run(exit, out.toByteArray(), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(originalOut);
        }
    }

    @Test
    void aRunReadsOnlyTheCommandItNamesAndHelpOrAnUnknownNameReadsThemAll() {
        assertEquals(java.util.Set.of("cat"), AnymapCommand.commandLine("cat").getSubcommands().keySet());
        java.util.Set<String> all = AnymapCommand.commandLine("").getSubcommands().keySet();
        assertTrue(all.containsAll(java.util.Set.of("cat", "stat", "serve", "firecracker", "help")), all.toString());
        assertEquals(all, AnymapCommand.commandLine("help").getSubcommands().keySet());
        assertEquals(all, AnymapCommand.commandLine("nosuch").getSubcommands().keySet());
    }

    @Test
    void picocliIsBytecodeThatTheAotCacheHolds() throws Exception {
        // The JDK's AOT cache leaves out classes older than Java 6, as those of picocli's own jar (Java 5) are.
        int picocli = classFileVersion(picocli.CommandLine.class);
        assertEquals(classFileVersion(AnymapCommand.class), picocli, "picocli's classes are of class file version " + picocli
                + ", not the command line's: its AOT cache leaves them out, and a start loads them from the jar");
    }

    private static int classFileVersion(Class<?> type) throws java.io.IOException {
        try (var in = type.getResourceAsStream(type.getSimpleName() + ".class")) {
            byte[] header = in.readNBytes(8);
            return ((header[6] & 0xff) << 8) | (header[7] & 0xff);
        }
    }

    @Test
    void sha256sumPrintsWhatTheJdkComputes() throws Exception {
        Run run = run("sha256sum", "--socket", socket, file.toString());
        assertEquals(0, run.exitCode(), run.err());
        String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content)) + "  " + file;
        assertEquals(expected, new String(run.out(), StandardCharsets.UTF_8).strip());
    }

    @Test
    void catAndDdCopyTheBytesOut() {
        Run cat = run("cat", "--socket", socket, file.toUri().toString());
        assertEquals(0, cat.exitCode(), cat.err());
        assertArrayEquals(content, cat.out());
        Run dd = run("dd", "--socket", socket, "--chunk", "65536", "--skip", "1000001", "--count", "77777", file.toString());
        assertEquals(0, dd.exitCode(), dd.err());
        assertArrayEquals(Arrays.copyOfRange(content, 1_000_001, 1_000_001 + 77_777), dd.out());
    }

    @Test
    void statShowsSizeVersionAndBackend() {
        Run stat = run("stat", file.toString());
        String printed = new String(stat.out(), StandardCharsets.UTF_8);
        assertEquals(0, stat.exitCode(), stat.err());
        assertTrue(printed.contains("3,000,003 bytes") && printed.contains("backend: file") && printed.contains("modified:"), printed);
    }

    @Test
    void statusShowsTheRegionsOfARunningServerAndNeverStartsOne() throws Exception {
        try (dev.anymap.Anymap anymap = dev.anymap.Anymap.open(dev.anymap.AnymapConfig.defaults().withSocket(Path.of(socket)));
             // A file: object is mapped by this process itself, with no page server: the status lists only the other.
             dev.anymap.MappedRegion local = anymap.map(file.toUri());
             dev.anymap.MappedRegion region = anymap.map(java.net.URI.create("mem:listed%20object?size=3000003&seed=9"))) {
            region.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0);
            local.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0);
            Run status = run("status", "--socket", socket);
            String printed = new String(status.out(), StandardCharsets.UTF_8);
            assertEquals(0, status.exitCode(), status.err());
            assertTrue(printed.contains("1 other clients, 1 regions") && printed.contains("mem:listed%20object")
                    && !printed.contains("an%20object%20%5B1%5D.bin") && printed.contains("none lists them"), printed);
        }
        Run none = run("status", "--socket", directory.resolve("nobody-here").resolve("server.sock").toString());
        assertEquals(5, none.exitCode());
        assertTrue(none.err().contains("no page server listens"), none.err());
    }

    @Test
    void traceAndResidencyDescribeARegionOfARunningServer() throws Exception {
        try (dev.anymap.Anymap anymap = dev.anymap.Anymap.open(dev.anymap.AnymapConfig.defaults().withSocket(Path.of(socket)));
             // Not a file: the kernel maps those, and its faults reach no trace.
             dev.anymap.MappedRegion region = anymap.map(java.net.URI.create("mem:an%20object?size=3000003&seed=9"),
                     dev.anymap.MapOptions.defaults().withChunkSize(65536).withReadahead(0).withAutoPull(false))) {
            for (long offset : new long[] {2_000_000, 70_000, 1_300_000}) {
                region.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, offset);
            }
            long id = anymap.serverStatus().regions().stream().filter(r -> r.uri().contains("an%20object")).findFirst().orElseThrow().regionId();
            Path traceFile = directory.resolve("trace.bin");
            Run trace = run("trace", "--socket", socket, Long.toString(id), "--out", traceFile.toString());
            assertEquals(0, trace.exitCode(), trace.err());
            assertArrayEquals(new int[] {30, 1, 19}, dev.anymap.AccessTrace.load(traceFile).chunks());
            Path picture = directory.resolve("residency.png");
            Run residency = run("residency", "--socket", socket, Long.toString(id), "--out", picture.toString());
            assertEquals(0, residency.exitCode(), residency.err());
            java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(picture.toFile());
            assertTrue(image.getWidth() > 100 && image.getHeight() > 40, image.getWidth() + "x" + image.getHeight());
            assertEquals(2, run("trace", "--socket", socket, "999999", "--out", traceFile.toString()).exitCode(), "no such region");
        }
    }

    @Test
    void residencyDrawsChunksBroughtAheadApartFromTouchedOnes() throws Exception {
        long size = 8L << 20;
        int chunk = 65536;
        try (dev.anymap.Anymap anymap = dev.anymap.Anymap.open(dev.anymap.AnymapConfig.defaults().withSocket(Path.of(socket)));
             dev.anymap.MappedRegion region = anymap.map(java.net.URI.create("mem:brought%20ahead?size=" + size + "&seed=10"),
                     dev.anymap.MapOptions.defaults().withChunkSize(chunk).withAutoPull(false))) {
            for (long offset : new long[] {3, chunk + 3, 60L * chunk + 3}) {
                region.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, offset);
            }
            // A backend in memory gets no readahead (a fault costs what a prefetch would): a replayed trace brings chunks
            // ahead the way readahead does, through the prefetch workers, with no fault.
            int[] ahead = java.util.stream.IntStream.rangeClosed(20, 29).toArray();
            region.prefetch(new dev.anymap.AccessTrace(size, region.version().toString(), chunk, ahead));
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
            while (region.stats().chunksFetched() < 3 + ahead.length && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(3 + ahead.length, region.stats().chunksFetched(), "the touched chunks and those brought ahead");
            long id = anymap.serverStatus().regions().stream().filter(r -> r.uri().contains("brought%20ahead")).findFirst().orElseThrow().regionId();
            int[] touched = anymap.trace(id).chunks();
            assertArrayEquals(new int[] {0, 1, 60}, touched, "faults only");
            java.util.Set<Integer> broughtAhead = new java.util.TreeSet<>();
            for (int resident : anymap.residentChunks(id)) {
                broughtAhead.add(resident);
            }
            for (int t : touched) {
                broughtAhead.remove(t);
            }
            assertEquals(java.util.stream.IntStream.of(ahead).boxed().toList(), List.copyOf(broughtAhead));

            Path picture = directory.resolve("brought-ahead.png");
            Run residency = run("residency", "--socket", socket, Long.toString(id), "--out", picture.toString());
            assertEquals(0, residency.exitCode(), residency.err());
            java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(picture.toFile());
            // The same geometry: where each chunk's cell is depends on the sizes alone.
            ResidencyPicture layout = new ResidencyPicture("", size, chunk, new int[0], new int[0]);
            java.util.function.IntFunction<java.awt.Color> colourOf = c -> {
                java.awt.Point pixel = layout.pixelOf(c);
                return new java.awt.Color(image.getRGB(pixel.x, pixel.y));
            };
            for (int c : broughtAhead) {
                assertEquals(ResidencyPicture.BROUGHT_AHEAD, colourOf.apply(c), "chunk " + c + " was brought ahead");
            }
            for (int rank = 0; rank < touched.length; rank++) {
                assertEquals(ResidencyPicture.touchedAt(rank / 2.0), colourOf.apply(touched[rank]), "chunk " + touched[rank] + " was touched");
            }
            for (int c = 2; c < size / chunk; c++) {
                if (c != 60 && !broughtAhead.contains(c)) {
                    assertEquals(ResidencyPicture.NOT_RESIDENT, colourOf.apply(c), "chunk " + c + " was never resident");
                }
            }
        }
    }

    @Test
    void failuresHaveExitCodesAScriptCanRelyOn() {
        Run missing = run("stat", directory.resolve("missing.bin").toString());
        assertEquals(3, missing.exitCode());
        assertTrue(missing.err().startsWith("anymap stat: ") && missing.err().contains("missing.bin"), missing.err());
        Run unknown = run("cat", "--socket", socket, "gopher://host/x");
        assertEquals(2, unknown.exitCode());
        assertTrue(unknown.err().contains("file (file, from"), unknown.err());
        Run outside = run("dd", "--socket", socket, "--skip", "5000000", file.toString());
        assertEquals(2, outside.exitCode(), outside.err());
        assertEquals(2, run("dd").exitCode(), "a missing argument is bad usage");
    }

    @Test
    void ddPastTheEndSaysSoInTheTermsItWasGiven() {
        Run skipped = run("dd", "--socket", socket, "--skip", "5000000", file.toString());
        assertEquals(2, skipped.exitCode(), skipped.err());
        assertEquals("anymap dd: --skip 5000000 is past the end of " + file + ", which has 3000003 bytes; give --skip from 0 to 3000003",
                skipped.err().strip());
        Run counted = run("dd", "--socket", socket, "--skip", "2999990", "--count", "100", file.toString());
        assertEquals(2, counted.exitCode(), counted.err());
        assertTrue(counted.err().contains("--skip 2999990 --count 100 reaches past the end of " + file)
                && counted.err().contains("give at most --count 13"), counted.err());
        Run negative = run("dd", "--socket", socket, "--count", "-1", file.toString());
        assertEquals(2, negative.exitCode(), negative.err());
        assertTrue(negative.err().contains("--count -1 is negative"), negative.err());
    }

    @Test
    void aLocationThatStartsAsAUriButDoesNotParseIsABadUri() {
        for (String bad : new String[] {"s3://", "http://", "s3://bucket/a key.bin"}) {
            Run run = run("sha256sum", "--socket", socket, bad);
            assertEquals(2, run.exitCode(), run.err());
            assertTrue(run.err().startsWith("anymap sha256sum: '" + bad + "' is not a valid URI") && run.err().contains("%20")
                    && run.err().contains("at character"), run.err());
        }
    }

    @Test
    void plainPathsAbsoluteAndRelativeStillWork() throws Exception {
        String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        Path relative = Path.of("").toAbsolutePath().relativize(file);
        for (String path : new String[] {file.toString(), relative.toString(), "./" + relative}) {
            Run run = run("sha256sum", "--socket", socket, path);
            assertEquals(0, run.exitCode(), run.err());
            assertEquals(expected + "  " + path, new String(run.out(), StandardCharsets.UTF_8).strip());
        }
    }

    @Test
    void aDirectoryIsABadArgument() {
        Run mapped = run("sha256sum", "--socket", socket, directory.toString());
        assertEquals(2, mapped.exitCode(), mapped.err());
        assertTrue(mapped.err().contains("is a directory, not a file"), mapped.err());
        Run stat = run("stat", directory.toString());
        assertEquals(2, stat.exitCode(), stat.err());
    }

    @Test
    void noS3CredentialsAnywhereIsOneLineAndAccessDenied() throws Exception {
        for (String variable : new String[] {"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"}) {
            org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv(variable) == null, variable + " is set in this environment");
        }
        java.util.Map<String, String> properties = java.util.Map.of("aws.sharedCredentialsFile", directory.resolve("none").toString(),
                "aws.configFile", directory.resolve("none").toString(), "aws.disableEc2Metadata", "true");
        try (S3ServerProcess server = S3ServerProcess.start(); S3Client client = server.newClient()) {
            client.createBucket(b -> b.bucket("nocredentials"));
            client.putObject(b -> b.bucket("nocredentials").key("x.bin"), RequestBody.fromBytes(new byte[10]));
            properties.forEach(System::setProperty);
            Run stat = run("stat", "-o", "endpoint=" + server.endpoint(), "-o", "region=us-east-1", "-o", "path-style=true",
                    "s3://nocredentials/x.bin");
            assertEquals(4, stat.exitCode(), stat.err());
            assertTrue(stat.err().startsWith("anymap stat: s3://nocredentials/x.bin: no S3 credentials found")
                    && stat.err().strip().lines().count() == 1 && stat.err().length() < 400, stat.err());
        } finally {
            properties.keySet().forEach(System::clearProperty);
        }
    }

    @Test
    void demoMapsAnObjectOfAnS3ServerInAChildProcessAndChecksItAgainstTheSdk() {
        Run demo = run("demo", "--size", "12", "--random-reads", "300", "--socket", socket);
        String printed = new String(demo.out(), StandardCharsets.UTF_8);
        assertEquals(0, demo.exitCode(), printed + demo.err());
        assertEquals(sha(printed, "SHA-256 of a plain download:"), sha(printed, "SHA-256 through memory:"), printed);
        assertTrue(printed.contains("12,582,912 bytes") && printed.contains("; 0 failures") && printed.lines().anyMatch("OK"::equals), printed);
    }

    @Test
    void demoMapsAnyS3ObjectWithCredentialsFromTheStandardPlaces() throws Exception {
        byte[] object = new byte[5_000_011];
        new Random(17).nextBytes(object);
        try (S3ServerProcess server = S3ServerProcess.start(); S3Client client = server.newClient()) {
            client.createBucket(b -> b.bucket("existing"));
            client.putObject(b -> b.bucket("existing").key("data.bin"), RequestBody.fromBytes(object));
            System.setProperty("aws.accessKeyId", server.accessKey());
            System.setProperty("aws.secretAccessKey", server.secretKey());
            String[] where = {"--endpoint", server.endpoint().toString(), "--socket", socket, "--random-reads", "300"};
            Run existing = run(concat(where, "--bucket", "existing", "--key", "data.bin"));
            String printed = new String(existing.out(), StandardCharsets.UTF_8);
            assertEquals(0, existing.exitCode(), printed + existing.err());
            String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(object));
            assertEquals(expected, sha(printed, "SHA-256 through memory:"), printed);

            Run missing = run(concat(where, "--bucket", "existing", "--key", "missing.bin"));
            assertEquals(3, missing.exitCode(), missing.err());
            assertTrue(missing.err().contains("s3://existing/missing.bin") && missing.err().contains("--create"), missing.err());

            Run created = run(concat(where, "--bucket", "new-bucket", "--key", "made.bin", "--create", "--size", "3"));
            String createdPrinted = new String(created.out(), StandardCharsets.UTF_8);
            assertEquals(0, created.exitCode(), createdPrinted + created.err());
            byte[] made = client.getObjectAsBytes(b -> b.bucket("new-bucket").key("made.bin")).asByteArray();
            assertEquals(3 << 20, made.length);
            assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(made)),
                    sha(createdPrinted, "SHA-256 through memory:"), createdPrinted);

            System.setProperty("aws.secretAccessKey", "not-" + server.secretKey());
            Run denied = run(concat(where, "--bucket", "existing", "--key", "data.bin"));
            assertEquals(4, denied.exitCode(), denied.err());
            assertFalse(denied.err().contains(server.secretKey()), "no secret in the message");
        } finally {
            System.clearProperty("aws.accessKeyId");
            System.clearProperty("aws.secretAccessKey");
        }
        assertEquals(2, run("demo", "--bucket", "b").exitCode(), "--bucket without --key");
    }

    @Test
    void anS3ObjectWithNoCredentialsAnywhereFailsInOneLineWithExitCode4() {
        Run none = run("cat", "--socket", socket, "-o", "endpoint=http://127.0.0.1:9", "-o", "region=us-east-1", "s3://bucket/key");
        assertEquals(4, none.exitCode(), none.err());
        assertEquals(1, none.err().strip().lines().count(), none.err());
        assertTrue(none.err().contains("s3://bucket/key") && none.err().contains("no S3 credentials")
                && none.err().contains("AWS_ACCESS_KEY_ID") && none.err().contains("anonymous=true"), none.err());
    }

    @Test
    void cpCopiesAFileIntoANewFileThroughMemory() throws Exception {
        Path copy = directory.resolve("cp-new.bin");
        Run cp = run("cp", "--socket", socket, file.toString(), copy.toString());
        assertEquals(0, cp.exitCode(), cp.err());
        assertArrayEquals(content, Files.readAllBytes(copy));
        assertTrue(new String(cp.out(), StandardCharsets.UTF_8).contains("3,000,003 bytes copied from"), new String(cp.out(), StandardCharsets.UTF_8));
    }

    @Test
    void cpRefusesAnExistingDestinationUnlessToldToOverwriteOneOfTheSameSize() throws Exception {
        byte[] other = new byte[content.length];
        Arrays.fill(other, (byte) 0x5a);
        Path existing = Files.write(directory.resolve("cp-existing.bin"), other);
        Run refused = run("cp", "--socket", socket, file.toString(), existing.toString());
        assertEquals(6, refused.exitCode(), refused.err());
        assertTrue(refused.err().startsWith("anymap cp: ") && refused.err().contains("cp-existing.bin exists")
                && refused.err().contains("--overwrite"), refused.err());
        assertArrayEquals(other, Files.readAllBytes(existing), "a refused copy writes nothing");

        Path shorter = Files.write(directory.resolve("cp-shorter.bin"), new byte[4096]);
        Run sized = run("cp", "--socket", socket, "--overwrite", file.toString(), shorter.toString());
        assertEquals(2, sized.exitCode(), sized.err());
        assertTrue(sized.err().contains("has 4096 bytes") && sized.err().contains("has 3000003"), sized.err());
        assertArrayEquals(new byte[4096], Files.readAllBytes(shorter));

        Run overwritten = run("cp", "--socket", socket, "--overwrite", file.toString(), existing.toString());
        assertEquals(0, overwritten.exitCode(), overwritten.err());
        assertArrayEquals(content, Files.readAllBytes(existing));
    }

    @Test
    void cpOfAMissingSourceIsNoSuchObjectAndCreatesNothing() {
        Path copy = directory.resolve("cp-never.bin");
        Run cp = run("cp", "--socket", socket, directory.resolve("cp-missing.bin").toString(), copy.toString());
        assertEquals(3, cp.exitCode(), cp.err());
        assertTrue(cp.err().startsWith("anymap cp: ") && cp.err().contains("cp-missing.bin"), cp.err());
        assertFalse(Files.exists(copy));
        assertEquals(2, run("cp", "--socket", socket, file.toString(), file.toString()).exitCode(), "SRC onto itself");
        Run intoDirectory = run("cp", "--socket", socket, file.toString(), directory.toString());
        assertEquals(2, intoDirectory.exitCode(), intoDirectory.err());
        assertTrue(intoDirectory.err().contains("is a directory"), intoDirectory.err());
        Run noDirectory = run("cp", "--socket", socket, file.toString(), directory.resolve("no-such-directory").resolve("x.bin").toString());
        assertEquals(3, noDirectory.exitCode(), noDirectory.err());
        assertTrue(noDirectory.err().contains("no-such-directory does not exist"), noDirectory.err());
        assertEquals(1, noDirectory.err().split("x\\.bin", -1).length - 1, "the URI named once: " + noDirectory.err());
    }

    @Test
    void cpCopiesAFileIntoS3AndBack() throws Exception {
        // More than two 5 MiB parts, not a whole number of pages: the commit's multipart path, and a short last page.
        byte[] large = new byte[(12 << 20) + 3];
        new Random(23).nextBytes(large);
        Path source = Files.write(directory.resolve("cp-large.bin"), large);
        try (S3ServerProcess server = S3ServerProcess.start(); S3Client client = server.newClient()) {
            client.createBucket(b -> b.bucket("copies"));
            List<String> s3Options = new ArrayList<>();
            server.backendOptions().forEach((key, value) -> s3Options.add(key + "=" + value));

            Run misplaced = run(concat("cp", List.of("--socket", socket, "-o", s3Options.getFirst(), source.toString(), "s3://copies/x.bin")));
            assertEquals(2, misplaced.exitCode(), misplaced.err());
            assertTrue(misplaced.err().contains("--dst-option"), misplaced.err());

            List<String> up = new ArrayList<>(List.of("--socket", socket, source.toString(), "s3://copies/large.bin"));
            s3Options.forEach(option -> up.addAll(List.of("--dst-option", option)));
            Run upload = run(concat("cp", up));
            assertEquals(0, upload.exitCode(), upload.err());
            assertArrayEquals(large, client.getObjectAsBytes(b -> b.bucket("copies").key("large.bin")).asByteArray());
            assertFalse(upload.err().contains(server.secretKey()) || new String(upload.out(), StandardCharsets.UTF_8).contains(server.secretKey()));

            Run again = run(concat("cp", up));
            assertEquals(6, again.exitCode(), again.err());

            Path back = directory.resolve("cp-back.bin");
            List<String> down = new ArrayList<>(List.of("--socket", socket, "s3://copies/large.bin", back.toString()));
            s3Options.forEach(option -> down.addAll(List.of("--src-option", option)));
            Run download = run(concat("cp", down));
            assertEquals(0, download.exitCode(), download.err());
            assertArrayEquals(large, Files.readAllBytes(back));
        }
    }

    private static String sha(String printed, String label) {
        return printed.lines().filter(line -> line.startsWith(label)).findFirst().orElseThrow(() -> new AssertionError(printed))
                .substring(label.length()).strip().split(" ")[0];
    }

    private static String[] concat(String command, List<String> arguments) {
        List<String> all = new ArrayList<>(List.of(command));
        all.addAll(arguments);
        return all.toArray(String[]::new);
    }

    private static String[] concat(String[] first, String... then) {
        List<String> all = new ArrayList<>(List.of("demo"));
        all.addAll(List.of(first));
        all.addAll(List.of(then));
        return all.toArray(String[]::new);
    }
}
