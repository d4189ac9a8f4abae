package dev.anymap.samples;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import dev.anymap.spi.Redaction;
import java.awt.image.BufferedImage;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Commands that look at a region of a running page server: its access trace and its residency. */
final class TraceCommands {
    private TraceCommands() {}

    @Command(name = "trace", mixinStandardHelpOptions = true,
            description = "Save the access trace of a region that a running page server holds (its number is in `status`), "
                    + "for an application to replay with MappedRegion.prefetch.")
    static final class Trace implements Callable<Integer> {
        @Parameters(paramLabel = "REGION", description = "The region's number, as `anymap status` shows it.")
        long region;

        @Option(names = "--out", required = true, paramLabel = "FILE", description = "Where to write the trace.")
        Path out;

        @Mixin
        RunningServer server;

        @Override
        public Integer call() throws Exception {
            try (Anymap anymap = server.attach()) {
                AccessTrace trace = anymap.trace(region);
                trace.save(out);
                System.out.println("saved " + trace + " to " + out);
            }
            return 0;
        }
    }

    @Command(name = "residency", mixinStandardHelpOptions = true,
            description = "Draw a region's chunks as a PNG: those touched, shaded by the order of their first touch, those brought ahead"
                    + " (readahead, a pull, a replayed trace) and never faulted on, and those not resident, with their offsets on the axes.")
    static final class Residency implements Callable<Integer> {
        @Parameters(paramLabel = "REGION", description = "The region's number, as `anymap status` shows it.")
        long region;

        @Option(names = "--out", required = true, paramLabel = "FILE", description = "The PNG to write.")
        Path out;

        @Mixin
        RunningServer server;

        @Override
        public Integer call() throws Exception {
            System.setProperty("java.awt.headless", "true");
            AccessTrace trace;
            int[] resident;
            String uri;
            try (Anymap anymap = server.attach()) {
                trace = anymap.trace(region);
                resident = anymap.residentChunks(region);
                uri = anymap.serverStatus().regions().stream().filter(r -> r.regionId() == region).findFirst()
                        .map(r -> r.uri()).orElse("?");
            }
            ResidencyPicture picture = new ResidencyPicture("region " + region + ": " + printable(uri), trace.objectSize(), trace.chunkSize(),
                    trace.chunks(), resident);
            BufferedImage image = picture.draw();
            ImageIO.write(image, "png", out.toFile());
            System.out.println("wrote " + out + " (" + image.getWidth() + "x" + image.getHeight() + ")");
            return 0;
        }

        /** The page server lists URIs as given; one that does not parse is printed as "?" rather than risk a secret in it. */
        private static String printable(String uri) {
            try {
                return Redaction.uri(new URI(uri));
            } catch (URISyntaxException e) {
                return "?";
            }
        }
    }
}
