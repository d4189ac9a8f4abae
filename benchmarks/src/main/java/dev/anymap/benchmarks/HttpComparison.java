package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * anymap on {@code http:} against a plain {@code HttpClient} download of the whole object into
 * memory, from the same server in the same run: a full sequential scan through mapped memory
 * (every byte copied out, as a reader would), plain and through a {@link LatencyProxy}.
 *
 * <pre>HttpComparison SIZE_MIB REPEATS ROUND_TRIP_MS...</pre>
 * (a round trip of 0 is the server itself, without a proxy)
 * Prints a Markdown report.
 */
public final class HttpComparison {
    private HttpComparison() {}

    public static void main(String[] args) throws Exception {
        long size = Long.parseLong(args[0]) << 20;
        int repeats = Integer.parseInt(args[1]);
        StringBuilder report = new StringBuilder();
        report.append(String.format(Locale.ROOT, "### Sequential scan of %d MiB over HTTP against a plain download%n%n", size >> 20));
        report.append("A JDK HttpServer on loopback serves the object from memory; a latency proxy adds the round trip. "
                + "The download is one `HttpClient` GET of the whole object into memory; anymap maps it with the default options "
                + "(256 KiB chunks, readahead) and copies every byte out of the segment. MB/s, medians of " + repeats
                + " alternating runs (min-max).\n\n");
        report.append("| round trip | download | anymap scan | anymap / download |\n| ---: | ---: | ---: | ---: |\n");
        Path socketDirectory = Files.createTempDirectory("anymap-bench-");
        Files.delete(socketDirectory);
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), RangeServer.class.getName(), Long.toString(size >> 20)));
        for (int i = 2; i < args.length; i++) {
            command.add(args[i]);
        }
        // The server runs in a process of its own: see RangeServer.
        Process server = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try (Arena arena = Arena.ofConfined();
             Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(socketDirectory.resolve("server.sock")))) {
            String[] ports = new java.io.BufferedReader(new java.io.InputStreamReader(server.getInputStream())).readLine().split(" ");
            MemorySegment expected = RangeServer.content(arena, size);
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            for (int i = 2; i < args.length; i++) {
                long roundTrip = Long.parseLong(args[i]);
                // "PORTS plain proxied..." with one proxy per round trip given; a round trip of 0 goes to the server itself.
                URI uri = URI.create("http://127.0.0.1:" + (roundTrip == 0 ? ports[1] : ports[i]) + "/object");
                List<Double> download = new ArrayList<>();
                List<Double> scan = new ArrayList<>();
                for (int r = 0; r < repeats; r++) {
                    download.add(download(client, uri, size));
                    scan.add(scan(anymap, uri, expected));
                }
                report.append(String.format(Locale.ROOT, "| %d ms | %s | %s | %.2f |%n", roundTrip, Stats.spread(download),
                        Stats.spread(scan), Stats.median(scan) / Stats.median(download)));
                System.err.printf(Locale.ROOT, "%d ms: download %s, scan %s%n", roundTrip, download, scan);
            }
        } finally {
            server.getOutputStream().close();
            server.destroy();
        }
        System.out.print(report);
    }

    private static double download(HttpClient client, URI uri, long size) throws Exception {
        byte[] into = new byte[(int) Math.min(size, Integer.MAX_VALUE - 8)];
        long started = System.nanoTime();
        HttpResponse<InputStream> response = client.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofInputStream());
        long got = 0;
        try (InputStream body = response.body()) {
            for (int read; (read = body.read(into, (int) (got % into.length), (int) Math.min(into.length - got % into.length, 1 << 20))) > 0; ) {
                got += read;
            }
        }
        if (got != size) {
            throw new IllegalStateException("downloaded " + got + " of " + size + " bytes");
        }
        return size / ((System.nanoTime() - started) / 1e3);
    }

    private static double scan(Anymap anymap, URI uri, MemorySegment expected) throws Exception {
        long started = System.nanoTime();
        try (MappedRegion region = anymap.map(uri, MapOptions.defaults())) {
            MemorySegment memory = region.segment();
            byte[] block = new byte[1 << 20];
            for (long offset = 0; offset < memory.byteSize(); offset += block.length) {
                int length = (int) Math.min(block.length, memory.byteSize() - offset);
                MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, offset, block, 0, length);
            }
            double rate = memory.byteSize() / ((System.nanoTime() - started) / 1e3);
            // Checked after the clock stops: the scan's bytes are the server's.
            if (memory.mismatch(expected) != -1) {
                throw new IllegalStateException("the mapped bytes differ from the served ones at " + memory.mismatch(expected));
            }
            return rate;
        }
    }
}
