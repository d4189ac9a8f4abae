package dev.anymap.lucene;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.ServerStatus;
import dev.anymap.s3server.S3ServerProcess;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.apache.lucene.document.Document;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexCommit;
import org.apache.lucene.index.SegmentInfos;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.Sort;
import org.apache.lucene.search.SortField;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.IOContext;
import org.apache.lucene.store.IndexInput;
import org.apache.lucene.store.MMapDirectory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Indexes that Lucene writes, searched through {@link AnymapDirectory} where they are stored (a local
 * directory, S3 through a real page server and an S3 server in another process, a zip) and through
 * {@link MMapDirectory} on the same files: every query's hits, scores and stored fields must be equal.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class AnymapDirectorySearchTest {
    private static final String BUCKET = "indexes";
    private static final String PREFIX = "library/";

    @TempDir
    static Path temporary;
    private static Path index;
    private static S3ServerProcess s3;
    private static S3Client client;
    private static Anymap anymap;
    private static MMapDirectory local;

    @BeforeAll
    static void writeAndStore() throws IOException {
        index = Files.createDirectory(temporary.resolve("index"));
        TestIndex.write(index, 20_000, 21);
        local = new MMapDirectory(index);
        s3 = S3ServerProcess.start();
        client = s3.newClient();
        client.createBucket(b -> b.bucket(BUCKET));
        for (String name : local.listAll()) {
            client.putObject(b -> b.bucket(BUCKET).key(PREFIX + name), RequestBody.fromFile(index.resolve(name)));
        }
        // Not part of the index: a listing must not take it for a file of it.
        client.putObject(b -> b.bucket(BUCKET).key(PREFIX + "nested/segments_zz"), RequestBody.fromString("no"));
        anymap = Anymap.open(AnymapConfig.defaults().withSocket(temporary.resolve("server.sock")));
    }

    @AfterAll
    static void stop() throws IOException {
        try (Anymap a = anymap; S3ServerProcess s = s3; S3Client c = client; MMapDirectory l = local) {
            // closed in reverse order
        }
    }

    private static MapOptions s3Options() {
        return MapOptions.defaults().withBackendOptions(s3.backendOptions());
    }

    private static URI s3Base() {
        return URI.create("s3://" + BUCKET + "/" + PREFIX);
    }

    @Test
    void aLocalDirectoryListedSearchesAsMMapDirectoryDoes() throws IOException {
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, index.toUri(), MapOptions.defaults())) {
            assertArrayEquals(local.listAll(), directory.listAll());
            assertSameSearches(local, directory);
        }
    }

    @Test
    void anS3PrefixListedSearchesAsMMapDirectoryDoes() throws IOException {
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, s3Base(), s3Options())) {
            assertArrayEquals(local.listAll(), directory.listAll());
            for (String name : local.listAll()) {
                assertEquals(local.fileLength(name), directory.fileLength(name), name);
            }
            assertSameSearches(local, directory);
        }
    }

    @Test
    void anS3IndexOpenedAtItsCommitNeedsNoListingAndHoldsTheCommitsFiles() throws IOException {
        String latest = SegmentInfos.getLastCommitSegmentsFileName(local);
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, URI.create("s3://" + BUCKET + "/library"), s3Options(), latest)) {
            List<String> expected = DirectoryReader.listCommits(local).getLast().getFileNames().stream().sorted().toList();
            assertEquals(expected, List.of(directory.listAll()));
            assertSameSearches(local, directory);
        }
    }

    @Test
    void anOlderCommitOpensAsThatCommit() throws IOException {
        IndexCommit first = DirectoryReader.listCommits(local).getFirst();
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, s3Base(), s3Options(), first.getSegmentsFileName());
             DirectoryReader expected = DirectoryReader.open(first);
             DirectoryReader actual = DirectoryReader.open(directory)) {
            assertTrue(expected.maxDoc() < 20_000, "the first commit holds half the documents: " + expected.maxDoc());
            assertEquals(expected.maxDoc(), actual.maxDoc());
            assertSameSearches(new IndexSearcher(expected), new IndexSearcher(actual));
        }
    }

    @Test
    void anIndexInAZipOpenedAtItsCommitSearchesAsMMapDirectoryDoes() throws IOException {
        Path zip = temporary.resolve("index.zip");
        try (ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(zip))) {
            for (String name : local.listAll()) {
                out.putNextEntry(new ZipEntry("index/" + name));
                Files.copy(index.resolve(name), out);
                out.closeEntry();
            }
        }
        URI base = URI.create("zip:" + zip.toUri() + "!/index/");
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, base, MapOptions.defaults(), SegmentInfos.getLastCommitSegmentsFileName(local))) {
            assertSameSearches(local, directory);
        }
    }

    @Test
    void anIndexOnHttpOpenedAtItsCommitSearchesAsMMapDirectoryDoes() throws IOException {
        try (IndexFileServer.Child http = IndexFileServer.start(index)) {
            URI base = URI.create("http://127.0.0.1:" + http.port() + "/index/");
            String latest = SegmentInfos.getLastCommitSegmentsFileName(local);
            MapOptions options = MapOptions.defaults().withChunkSize(16 << 10);
            try (AnymapDirectory directory = AnymapDirectory.open(anymap, base, options, latest)) {
                assertSameSearches(local, directory);
            }
            NoSuchFileException missing = assertThrows(NoSuchFileException.class,
                    () -> AnymapDirectory.open(anymap, base, options, "segments_404").close());
            assertTrue(missing.getMessage().contains("segments_404"), missing.getMessage());
        }
    }

    @Test
    void aTermQueryOnS3FetchesOnlyAFractionOfTheIndex() throws IOException {
        long indexBytes = 0;
        for (String name : local.listAll()) {
            indexBytes += local.fileLength(name);
        }
        // Pages for chunks and no reading ahead, so that what is resident is what the opening and the search touched.
        MapOptions options = s3Options().withChunkSize(4 << 10).withReadahead(0).withAutoPull(false);
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, s3Base(), options);
             DirectoryReader reader = DirectoryReader.open(directory)) {
            IndexSearcher searcher = new IndexSearcher(reader);
            TopDocs hits = searcher.search(new TermQuery(new Term("body", "posting")), 10);
            for (ScoreDoc hit : hits.scoreDocs) {
                searcher.storedFields().document(hit.doc);
            }
            long resident = 0;
            ServerStatus status = anymap.serverStatus();
            for (ServerStatus.Region region : status.regions()) {
                if (region.clientPid() == ProcessHandle.current().pid() && region.uri().startsWith(s3Base().toString())) {
                    resident += region.residentBytes();
                }
            }
            assertTrue(resident > 0, "the search read nothing through the page server");
            assertTrue(resident < indexBytes / 4, "the search fetched " + resident + " bytes of an index of " + indexBytes);
        }
    }

    @Test
    void filesMappedAheadThatNoReaderOpenedAreUnmappedAtClose() throws IOException {
        IndexCommit latest = DirectoryReader.listCommits(local).getLast();
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, s3Base(), s3Options())) {
            try (IndexInput segments = directory.openInput(latest.getSegmentsFileName(), IOContext.READONCE)) {
                assertEquals(local.fileLength(latest.getSegmentsFileName()), segments.length());
            }
        }
        assertEquals(List.of(), regionsOf(s3Base()), "regions left mapped after the directory closed");
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, s3Base(), s3Options(), latest.getSegmentsFileName())) {
            assertEquals(latest.getFileNames().size(), directory.listAll().length);
        }
        assertEquals(List.of(), regionsOf(s3Base()), "regions left mapped after the directory closed");
    }

    private static List<String> regionsOf(URI base) throws IOException {
        return anymap.serverStatus().regions().stream()
                .filter(region -> region.clientPid() == ProcessHandle.current().pid() && region.uri().startsWith(base.toString()))
                .map(ServerStatus.Region::uri).toList();
    }

    @Test
    void storageThatCannotBeListedAsksForTheCommit() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> AnymapDirectory.open(anymap, URI.create("http://127.0.0.1:9/index/"), MapOptions.defaults()));
        assertTrue(refused.getMessage().contains("segments_N"), refused.getMessage());
        assertTrue(refused.getMessage().contains("http://127.0.0.1:9/index/"), refused.getMessage());
    }

    @Test
    void aMissingFileOrBucketIsNoSuchFile() throws IOException {
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, s3Base(), s3Options())) {
            assertThrows(NoSuchFileException.class, () -> directory.openInput("_404.si", IOContext.DEFAULT));
            assertThrows(NoSuchFileException.class, () -> directory.fileLength("_404.si"));
        }
        NoSuchFileException missing = assertThrows(NoSuchFileException.class,
                () -> AnymapDirectory.open(anymap, URI.create("s3://no-such-bucket/index/"), s3Options()).close());
        assertTrue(missing.getMessage().contains("s3://no-such-bucket/index/"), missing.getMessage());
        assertThrows(NoSuchFileException.class,
                () -> AnymapDirectory.open(anymap, s3Base(), s3Options(), "segments_404").close());
    }

    @Test
    void everyWriteIsRefused() throws IOException {
        try (AnymapDirectory directory = AnymapDirectory.open(anymap, index.toUri(), MapOptions.defaults())) {
            String name = directory.listAll()[0];
            for (ThrowingWrite write : List.<ThrowingWrite>of(
                    () -> directory.createOutput("_x.dat", IOContext.DEFAULT),
                    () -> directory.createTempOutput("_x", "tmp", IOContext.DEFAULT),
                    () -> directory.deleteFile(name),
                    () -> directory.rename(name, "_y"),
                    () -> directory.sync(List.of(name)),
                    directory::syncMetaData,
                    () -> directory.obtainLock("write.lock"))) {
                UnsupportedOperationException refused = assertThrows(UnsupportedOperationException.class, write::run);
                assertTrue(refused.getMessage().contains("read-only"), refused.getMessage());
            }
            assertTrue(Files.exists(index.resolve(name)));
        }
    }

    private interface ThrowingWrite {
        void run() throws IOException;
    }

    private static void assertSameSearches(Directory expected, Directory actual) throws IOException {
        try (DirectoryReader expectedReader = DirectoryReader.open(expected); DirectoryReader actualReader = DirectoryReader.open(actual)) {
            assertEquals(expectedReader.maxDoc(), actualReader.maxDoc());
            assertEquals(expectedReader.numDocs(), actualReader.numDocs());
            assertEquals(expectedReader.leaves().size(), actualReader.leaves().size());
            assertSameSearches(new IndexSearcher(expectedReader), new IndexSearcher(actualReader));
        }
    }

    private static void assertSameSearches(IndexSearcher expected, IndexSearcher actual) throws IOException {
        Sort byTime = new Sort(new SortField("time", SortField.Type.LONG, true));
        for (Query query : TestIndex.queries()) {
            assertEquals(expected.count(query), actual.count(query), query::toString);
            assertSameHits(query, expected, actual, expected.search(query, 50), actual.search(query, 50));
            assertSameHits(query, expected, actual, expected.search(query, 20, byTime), actual.search(query, 20, byTime));
        }
    }

    private static void assertSameHits(Query query, IndexSearcher expectedSearcher, IndexSearcher actualSearcher,
                                       TopDocs expected, TopDocs actual) throws IOException {
        assertEquals(expected.totalHits, actual.totalHits, query::toString);
        assertEquals(expected.scoreDocs.length, actual.scoreDocs.length, query::toString);
        for (int hit = 0; hit < expected.scoreDocs.length; hit++) {
            int i = hit;
            ScoreDoc e = expected.scoreDocs[i];
            ScoreDoc a = actual.scoreDocs[i];
            assertEquals(e.doc, a.doc, () -> query + ": hit " + i);
            assertEquals(Float.floatToIntBits(e.score), Float.floatToIntBits(a.score), () -> query + ": score of hit " + i);
            Document expectedDocument = expectedSearcher.storedFields().document(e.doc);
            Document actualDocument = actualSearcher.storedFields().document(a.doc);
            assertEquals(expectedDocument.toString(), actualDocument.toString(), () -> query + ": stored fields of hit " + i);
        }
    }
}
