package dev.anymap.samples.examples;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.ServerStatus;
import dev.anymap.lucene.AnymapDirectory;
import dev.anymap.s3server.S3ServerProcess;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.IntPoint;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.store.FSDirectory;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Searches a Lucene index where it is stored, through {@link AnymapDirectory}: each file is mapped,
 * and only the pages the queries touch are fetched. With no arguments, it writes an index of generated
 * documents with Lucene, stores it on an S3 server that it starts in a child process (never in its
 * own JVM), and searches it there; with {@code LOCATION FIELD:TERM... [--commit segments_N]}, it
 * searches any index: a local directory or an S3 prefix (credentials and endpoint from the AWS_*
 * variables), or, at the commit named, any other location (HTTP, a zip).
 */
public final class LuceneSearch {
    static final List<String> WORDS = List.of("anymap", "lucene", "memory", "fault", "chunk", "page", "server", "storage",
            "bucket", "object", "region", "kernel", "search", "query", "index", "score", "term", "posting", "field", "segment");

    private LuceneSearch() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 1 || args.length > 0 && args[0].startsWith("-")) {
            System.err.println("usage: LuceneSearch [LOCATION FIELD:TERM... [--commit segments_N]]");
            System.exit(2);
        }
        if (args.length > 0) {
            List<String> terms = new ArrayList<>(List.of(args).subList(1, args.length));
            String commit = null;
            int at = terms.indexOf("--commit");
            if (at >= 0) {
                commit = terms.get(at + 1);
                terms.subList(at, at + 2).clear();
            }
            List<Query> queries = new ArrayList<>();
            for (String term : terms) {
                int colon = term.indexOf(':');
                queries.add(new TermQuery(new Term(term.substring(0, colon), term.substring(colon + 1))));
            }
            String location = args[0];
            search(location.contains("://") || location.startsWith("zip:") ? URI.create(location) : Path.of(location).toUri(),
                    Map.of(), commit, queries);
            return;
        }
        Path index = Files.createTempDirectory("lucene-search-");
        try (S3ServerProcess server = S3ServerProcess.start(); S3Client client = server.newClient()) {
            writeIndex(index, 60_000);
            client.createBucket(b -> b.bucket("samples"));
            try (var files = Files.list(index)) {
                for (Path file : files.toList()) {
                    client.putObject(b -> b.bucket("samples").key("index/" + file.getFileName()), RequestBody.fromFile(file));
                }
            }
            System.out.println("stored an index of 60,000 documents at s3://samples/index/ on the S3 server at " + server.endpoint());
            search(URI.create("s3://samples/index/"), server.backendOptions(), null, sampleQueries());
        } finally {
            try (var files = Files.list(index)) {
                for (Path file : files.toList()) {
                    Files.delete(file);
                }
            }
            Files.delete(index);
        }
    }

    /** The queries run on the generated index. */
    static List<Query> sampleQueries() {
        return List.of(
                new TermQuery(new Term("body", "posting")),
                new TermQuery(new Term("body", "kernel")),
                new BooleanQuery.Builder()
                        .add(new TermQuery(new Term("body", "segment")), BooleanClause.Occur.MUST)
                        .add(new TermQuery(new Term("body", "field")), BooleanClause.Occur.SHOULD)
                        .add(IntPoint.newRangeQuery("year", 1990, 2000), BooleanClause.Occur.FILTER).build());
    }

    /** Writes {@code documents} generated documents (always the same for a count) into {@code directory}. */
    static void writeIndex(Path directory, int documents) throws IOException {
        SplittableRandom random = new SplittableRandom(42);
        try (FSDirectory fs = FSDirectory.open(directory); IndexWriter writer = new IndexWriter(fs, new IndexWriterConfig())) {
            for (int i = 0; i < documents; i++) {
                StringBuilder body = new StringBuilder();
                for (int w = 10 + random.nextInt(100); w > 0; w--) {
                    body.append(WORDS.get((int) (Math.pow(random.nextDouble(), 3) * WORDS.size()))).append(' ');
                }
                int year = 1950 + random.nextInt(75);
                Document document = new Document();
                document.add(new StringField("id", "doc-" + i, Field.Store.YES));
                document.add(new TextField("body", body.toString(), Field.Store.YES));
                document.add(new IntPoint("year", year));
                document.add(new StoredField("year", year));
                writer.addDocument(document);
            }
        }
    }

    private static void search(URI location, Map<String, String> backendOptions, String commit, List<Query> queries) throws IOException {
        // Lucene reads an index here and there: small chunks, a short readahead (a MiB) on streams of faults, and no
        // pull of whole files behind the first faults.
        MapOptions options = MapOptions.defaults().withBackendOptions(backendOptions).withChunkSize(64 << 10).withReadahead(16)
                .withAutoPull(false);
        try (Anymap anymap = Anymap.open();
             AnymapDirectory directory = commit == null ? AnymapDirectory.open(anymap, location, options)
                     : AnymapDirectory.open(anymap, location, options, commit);
             DirectoryReader reader = DirectoryReader.open(directory)) {
            long size = 0;
            for (String name : directory.listAll()) {
                size += directory.fileLength(name);
            }
            System.out.printf("opened %s: %,d documents in %d segments, %,d bytes in %d files%n", directory, reader.numDocs(),
                    reader.leaves().size(), size, directory.listAll().length);
            IndexSearcher searcher = new IndexSearcher(reader);
            for (Query query : queries) {
                TopDocs top = searcher.search(query, 3);
                StringBuilder hits = new StringBuilder();
                for (ScoreDoc hit : top.scoreDocs) {
                    hits.append(String.format("  %s (%.6f)", searcher.storedFields().document(hit.doc).get("id"), hit.score));
                }
                System.out.printf("query %s: %,d hits;%s%n", query, top.totalHits.value(), hits);
            }
            long resident = 0;
            for (ServerStatus.Region region : anymap.serverStatus().regions()) {
                if (region.clientPid() == ProcessHandle.current().pid()) {
                    resident += region.residentBytes();
                }
            }
            System.out.printf("resident after the queries: %,d bytes of %,d (a local directory is mapped by the kernel, and counts 0)%n",
                    resident, size);
        }
    }
}
