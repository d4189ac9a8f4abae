package dev.anymap.benchmarks;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.ServerStatus;
import dev.anymap.lucene.AnymapDirectory;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FSDirectory;
import org.apache.lucene.store.MMapDirectory;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * A Lucene index in S3 searched in place through {@code AnymapDirectory}, against downloading it
 * and opening it with {@code MMapDirectory}: the time from nothing to the first query's hits (and
 * their stored fields), the time to the tenth, and the bytes fetched.
 *
 * <pre>LuceneOnS3 SIZE_MIB REPEATS ROUND_TRIP_MS...</pre>
 * Prints a Markdown report.
 */
public final class LuceneOnS3 {
    private static final String PREFIX = "lucene/";
    /** Incompressible stored bytes per document: what makes the index its size, as a document's source does. */
    private static final int STORED_BYTES = 4 << 10;
    private static final int VOCABULARY = 2_000;
    private static final int QUERIES = 10;
    /** As the README advises for an index read here and there. */
    private static final MapOptions SEARCHING = MapOptions.defaults().withChunkSize(64 << 10).withReadahead(16).withAutoPull(false);

    private LuceneOnS3() {}

    /** What one side measured in one run. */
    private record Search(double firstHitMs, double allMs, long bytes, String hits) {}

    public static void main(String[] args) throws Exception {
        long size = Long.parseLong(args[0]) << 20;
        int repeats = Integer.parseInt(args[1]);
        long[] roundTrips = new long[args.length - 2];
        for (int i = 2; i < args.length; i++) {
            roundTrips[i - 2] = Long.parseLong(args[i]);
        }
        Path work = Files.createTempDirectory("anymap-bench-lucene-");
        Path index = Files.createDirectory(work.resolve("index"));
        int documents = (int) (size / (STORED_BYTES + 200));
        long indexBytes = write(index, documents);
        String expected;
        try (MMapDirectory local = new MMapDirectory(index)) {
            expected = search(local, System.nanoTime(), () -> 0L).hits();
        }
        StringBuilder report = new StringBuilder("### A Lucene index on S3\n\n");
        report.append("An index of " + String.format("%,d", documents) + " documents (" + (indexBytes >> 20) + " MiB, force-merged to "
                + "one segment: a term field of words from a vocabulary of " + VOCABULARY + ", and " + (STORED_BYTES >> 10) + " KiB of "
                + "incompressible stored bytes each, as a document's source) written by Lucene and stored in s3proxy, then "
                + QUERIES + " term queries, each with its top 10 hits and their stored fields. `AnymapDirectory`: the index opened "
                + "in place (the prefix listed, its files mapped with 64 KiB chunks, readahead of 16 chunks, no automatic pull), "
                + "each run on new versions of its files, which the page server's cache does not hold. Download: the prefix "
                + "listed, every file downloaded at once (files over 8 MiB in " + S3Downloads.PARTS + " ranged GETs) to a local "
                + "disk, then opened with `MMapDirectory`. Time from nothing to the first query's hits in ms, and to the "
                + QUERIES + "th; bytes fetched (resident in the page server, or downloaded); medians of " + repeats + " alternating "
                + "runs (min-max). Every run's hits and scores are checked against `MMapDirectory` on the written index. Target at "
                + "20 ms: at least 5 times faster to the first hit.\n\n");
        Table table = new Table("round trip", "download: first hit", "anymap: first hit", "download / anymap", "target",
                "download: " + QUERIES + " queries", "anymap: " + QUERIES + " queries", "MiB fetched, download / anymap");
        try (S3Fixture s3 = new S3Fixture(roundTrips); Anymap anymap = Anymap.open(Harness.privateServer())) {
            S3Client uploads = s3.client(0);
            List<String> names;
            try (Stream<Path> files = Files.list(index)) {
                names = files.map(file -> file.getFileName().toString()).sorted().toList();
            }
            for (String name : names) {
                uploads.putObject(b -> b.bucket(S3Fixture.BUCKET).key(PREFIX + name), RequestBody.fromFile(index.resolve(name)));
            }
            Runs runs = new Runs(repeats, anymap.serverStatus().serverPid());
            for (long roundTrip : roundTrips) {
                Map<String, List<Search>> searches = new LinkedHashMap<>();
                searches.put("download", new ArrayList<>());
                searches.put("anymap", new ArrayList<>());
                Map<String, Runs.Measurement> sides = new LinkedHashMap<>();
                sides.put("download", () -> record(searches.get("download"), downloaded(s3, roundTrip, work), expected));
                sides.put("anymap", () -> {
                    for (String name : names) {
                        s3.newVersion(PREFIX + name);
                    }
                    return record(searches.get("anymap"), inPlace(anymap, s3, roundTrip), expected);
                });
                Map<String, Runs.Result> results = runs.alternate("lucene on s3 at " + roundTrip + " ms", sides);
                // The searches of warm-up runs were recorded too: the counted ones are the last.
                List<Search> download = last(searches.get("download"), repeats);
                List<Search> inPlace = last(searches.get("anymap"), repeats);
                double speedup = results.get("download").median() / results.get("anymap").median();
                table.row(roundTrip + " ms", results.get("download").spread(), results.get("anymap").spread(), Stats.ratio(speedup),
                        roundTrip == 20 ? (speedup >= 5 ? "met" : "not met") : "",
                        Stats.spread(download.stream().map(Search::allMs).toList()), Stats.spread(inPlace.stream().map(Search::allMs).toList()),
                        Stats.number(Stats.median(download.stream().map(s -> s.bytes() / 1048576.0).toList())) + " / "
                                + Stats.number(Stats.median(inPlace.stream().map(s -> s.bytes() / 1048576.0).toList())));
            }
        } finally {
            delete(work);
        }
        System.out.println(report.append(table));
    }

    private static List<Search> last(List<Search> searches, int count) {
        return searches.subList(searches.size() - count, searches.size());
    }

    private static double record(List<Search> searches, Search search, String expected) {
        if (!search.hits().equals(expected)) {
            throw new IllegalStateException("the hits differ from MMapDirectory's on the written index:\n" + search.hits() + "\nexpected\n" + expected);
        }
        searches.add(search);
        return search.firstHitMs();
    }

    private static Search inPlace(Anymap anymap, S3Fixture s3, long roundTrip) throws Exception {
        long started = System.nanoTime();
        URI base = URI.create("s3://" + S3Fixture.BUCKET + "/" + PREFIX);
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, base, s3.options(SEARCHING, roundTrip))) {
            return search(directory, started, () -> {
                long resident = 0;
                for (ServerStatus.Region region : anymap.serverStatus().regions()) {
                    if (region.clientPid() == ProcessHandle.current().pid() && region.uri().startsWith(base.toString())) {
                        resident += region.residentBytes();
                    }
                }
                return resident;
            });
        }
    }

    private static Search downloaded(S3Fixture s3, long roundTrip, Path work) throws Exception {
        Path copy = work.resolve("download");
        long started = System.nanoTime();
        S3Client client = s3.client(roundTrip);
        List<S3Object> objects = client.listObjectsV2Paginator(b -> b.bucket(S3Fixture.BUCKET).prefix(PREFIX).delimiter("/"))
                .contents().stream().toList();
        Files.createDirectory(copy);
        long bytes = 0;
        List<Callable<Long>> downloads = new ArrayList<>();
        for (S3Object object : objects.stream().sorted(Comparator.comparingLong(S3Object::size).reversed()).toList()) {
            bytes += object.size();
            downloads.add(() -> {
                Path file = copy.resolve(object.key().substring(PREFIX.length()));
                try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                        StandardOpenOption.WRITE); Arena arena = Arena.ofShared()) {
                    if (object.size() > 0) {
                        MemorySegment into = channel.map(FileChannel.MapMode.READ_WRITE, 0, object.size(), arena);
                        if (object.size() > 8 << 20) {
                            S3Downloads.parallelRanges(client, object.key(), into);
                        } else {
                            S3Downloads.stream(client, object.key(), into);
                        }
                    }
                }
                return 0L;
            });
        }
        Workloads.sumAll(downloads, 16);
        long downloaded = bytes;
        try (MMapDirectory directory = new MMapDirectory(copy)) {
            return search(directory, started, () -> downloaded);
        } finally {
            delete(copy);
        }
    }

    /**
     * Opens the index in {@code directory} and runs the queries, timed from {@code started}; asks
     * {@code fetched} how many bytes were fetched before the reader closes (and unmaps its files).
     */
    private static Search search(Directory directory, long started, Callable<Long> fetched) throws Exception {
        StringBuilder hits = new StringBuilder();
        double firstHit = 0;
        try (DirectoryReader reader = DirectoryReader.open(directory)) {
            IndexSearcher searcher = new IndexSearcher(reader);
            for (int q = 0; q < QUERIES; q++) {
                // Words of middling frequency: a few thousand hits each.
                TopDocs top = searcher.search(new TermQuery(new Term("body", word(40 + 37 * q))), 10);
                hits.append(word(40 + 37 * q)).append(' ').append(top.totalHits.value());
                // As a search application fetches its hits: the stored fields of all of them asked for at once.
                for (ScoreDoc hit : top.scoreDocs) {
                    searcher.storedFields().prefetch(hit.doc);
                }
                for (ScoreDoc hit : top.scoreDocs) {
                    Document document = searcher.storedFields().document(hit.doc);
                    hits.append(' ').append(document.get("id")).append(':').append(hit.score)
                            .append(':').append(document.getBinaryValue("source").length);
                }
                hits.append('\n');
                if (q == 0) {
                    firstHit = (System.nanoTime() - started) / 1e6;
                }
            }
            double all = (System.nanoTime() - started) / 1e6;
            return new Search(firstHit, all, fetched.call(), hits.toString());
        }
    }

    private static String word(int rank) {
        return "w" + Integer.toString(rank, 36);
    }

    /** Writes the index; returns its size in bytes. */
    private static long write(Path index, int documents) throws IOException {
        SplittableRandom random = new SplittableRandom(7);
        byte[] source = new byte[STORED_BYTES];
        try (FSDirectory directory = FSDirectory.open(index);
             IndexWriter writer = new IndexWriter(directory, new IndexWriterConfig().setRAMBufferSizeMB(256))) {
            for (int i = 0; i < documents; i++) {
                StringBuilder body = new StringBuilder();
                for (int w = 0; w < 40; w++) {
                    // Zipf-like: word r with a chance about 1/r.
                    body.append(word((int) Math.exp(random.nextDouble() * Math.log(VOCABULARY)))).append(' ');
                }
                random.nextBytes(source);
                Document document = new Document();
                document.add(new StringField("id", Integer.toString(i), Field.Store.YES));
                document.add(new TextField("body", body.toString(), Field.Store.NO));
                document.add(new StoredField("source", source.clone()));
                writer.addDocument(document);
            }
            writer.forceMerge(1);
        }
        long bytes = 0;
        try (Stream<Path> files = Files.list(index)) {
            for (Path file : files.toList()) {
                bytes += Files.size(file);
            }
        }
        return bytes;
    }

    private static void delete(Path directory) throws IOException {
        if (!Files.exists(directory)) {
            return;
        }
        try (Stream<Path> files = Files.walk(directory)) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(file);
            }
        }
    }
}
