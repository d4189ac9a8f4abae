package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * anymap on {@code http:} against a plain {@code HttpClient} download of the whole object into memory
 * followed by the same workload on the copy, from the same server ({@link RangeServer}, in a process of
 * its own) in the same run, plain and through a {@link LatencyProxy} for each round trip.
 *
 * <pre>HttpComparison PLOTS_DIR SIZE_MIB REPEATS ROUND_TRIP_MS...</pre>
 * (a round trip of 0 is the server itself, without a proxy)
 * Prints a Markdown report.
 */
public final class HttpComparison {
    private static final java.util.concurrent.atomic.AtomicLong RUNS = new java.util.concurrent.atomic.AtomicLong();
    private HttpComparison() {}

    public static void main(String[] args) throws Exception {
        Path plots = Path.of(args[0]);
        long size = Long.parseLong(args[1]) << 20;
        int repeats = Integer.parseInt(args[2]);
        StringBuilder report = new StringBuilder("### HTTP against a plain download\n\n");
        report.append("A JDK HttpServer in a process of its own serves a " + (size >> 20) + " MiB object from memory on loopback; a "
                + "latency proxy adds the round trip. anymap maps it with the default options, each run under a URI of its own (a "
                + "query the server ignores) that the page server's shared cache does not hold, and runs the workload on the "
                + "segment; the baseline downloads the whole object with one `HttpClient` GET into memory and then runs the same "
                + "workload on it. Time to done in ms, medians of " + repeats + " alternating runs (min-max); the ratio is of times "
                + "(below 1: anymap faster); peak RSS of the application and of the page server in MiB (medians).\n\n");
        Table table = new Table("round trip", "workload", "anymap", "download, then workload", "anymap / download",
                "peak RSS app / server, anymap", "peak RSS app, download");
        Map<String, Map<String, Double>> ratios = new LinkedHashMap<>();
        List<String> command = new ArrayList<>(Harness.javaCommand(RangeServer.class));
        command.add(Long.toString(size >> 20));
        for (int i = 3; i < args.length; i++) {
            command.add(args[i]);
        }
        // The server runs in a process of its own: see RangeServer.
        Process server = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        // A limit of four objects drops the old runs' chunks as new ones come, where the default (half the machine) would keep them.
        try (Arena arena = Arena.ofShared(); Anymap anymap = Anymap.open(Harness.privateServer().withCacheLimit(Math.max(4 * size, 128L << 20)))) {
            String[] ports = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8)).readLine().split(" ");
            MemorySegment expected = RangeServer.content(arena, size);
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            Runs runs = new Runs(repeats, anymap.serverStatus().serverPid());
            for (int i = 3; i < args.length; i++) {
                long roundTrip = Long.parseLong(args[i]);
                // "PORTS plain proxied..." with one proxy per round trip given; a round trip of 0 goes to the server itself.
                URI uri = URI.create("http://127.0.0.1:" + (roundTrip == 0 ? ports[1] : ports[i - 1]) + "/object");
                for (Map.Entry<String, Workloads.Workload> workload : Workloads.standard(size).entrySet()) {
                    long expectedSum = workload.getValue().run(expected);
                    Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
                    // A URI of its own per run (RangeServer ignores the query): the page server's shared cache, keyed by URI,
                    // holds none of it, as for a first mapping.
                    sides.put("anymap", () -> Harness.timeMapped(anymap, URI.create(uri + "?run=" + RUNS.incrementAndGet()),
                            MapOptions.defaults(), workload.getValue(), expectedSum));
                    sides.put("download", () -> {
                        long started = System.nanoTime();
                        workload.getValue().run(MemorySegment.ofArray(download(client, uri, size)));
                        return (System.nanoTime() - started) / 1e6;
                    });
                    Map<String, Runs.Result> results = runs.alternate("HTTP " + roundTrip + " ms " + workload.getKey(), sides);
                    double ratio = results.get("anymap").median() / results.get("download").median();
                    table.row(roundTrip + " ms", workload.getKey(), results.get("anymap").spread(), results.get("download").spread(),
                            Stats.ratio(ratio), results.get("anymap").memory(), Stats.number(Stats.median(results.get("download").appMib())));
                    ratios.computeIfAbsent(roundTrip + " ms", k -> new LinkedHashMap<>()).put(workload.getKey(), ratio);
                }
            }
        } finally {
            server.getOutputStream().close();
            server.waitFor();
        }
        Plots.ratios(plots.resolve("http.png"), "HTTP: anymap / download, then workload (time)", "ratio of times", ratios, Double.NaN);
        report.append(table).append("\n![HTTP ratios](benchmarks/plots/http.png)\n");
        System.out.print(report);
    }

    private static byte[] download(HttpClient client, URI uri, long size) throws Exception {
        HttpResponse<InputStream> response = client.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofInputStream());
        byte[] into;
        try (InputStream body = response.body()) {
            into = body.readNBytes((int) size);
            if (into.length != size || body.read() >= 0) {
                throw new IllegalStateException("downloaded " + into.length + " bytes of " + size);
            }
        }
        return into;
    }
}
