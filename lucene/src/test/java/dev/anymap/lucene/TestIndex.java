package dev.anymap.lucene;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.IntPoint;
import org.apache.lucene.document.LongPoint;
import org.apache.lucene.document.NumericDocValuesField;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.NoDeletionPolicy;
import org.apache.lucene.index.NoMergePolicy;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.MatchAllDocsQuery;
import org.apache.lucene.search.PhraseQuery;
import org.apache.lucene.search.PrefixQuery;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.store.FSDirectory;

/**
 * An index that Lucene itself writes for the tests: documents of random words from a small
 * vocabulary, with an int and a long point, a numeric doc value and stored fields, in several
 * segments (some compound, some not) and three commits, and the queries to run on it.
 */
final class TestIndex {
    static final List<String> WORDS = List.of("anymap", "lucene", "segment", "memory", "fault", "chunk", "page", "server",
            "storage", "bucket", "object", "region", "kernel", "search", "query", "index", "score", "term", "posting", "field");

    private TestIndex() {}

    /** Writes {@code documents} documents into {@code directory} and commits every {@code documents / 4}. */
    static void write(Path directory, int documents, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        IndexWriterConfig config = new IndexWriterConfig().setMergePolicy(NoMergePolicy.INSTANCE).setUseCompoundFile(false)
                .setIndexDeletionPolicy(NoDeletionPolicy.INSTANCE); // every commit stays, to be opened
        try (FSDirectory fs = FSDirectory.open(directory); IndexWriter writer = new IndexWriter(fs, config)) {
            for (int i = 0; i < documents; i++) {
                Document document = new Document();
                document.add(new StringField("id", Integer.toString(i), Field.Store.YES));
                document.add(new TextField("body", sentence(random, 5 + random.nextInt(60)), Field.Store.YES));
                document.add(new TextField("title", sentence(random, 1 + random.nextInt(4)), Field.Store.NO));
                int number = random.nextInt(10_000);
                document.add(new IntPoint("number", number));
                document.add(new StoredField("number", number));
                long time = 1_700_000_000_000L + random.nextLong(1_000_000_000L);
                document.add(new LongPoint("time", time));
                document.add(new NumericDocValuesField("time", time));
                writer.addDocument(document);
                if ((i + 1) % (documents / 4) == 0) {
                    // Segments both ways: the reader opens loose files and compound ones, slices of a .cfs.
                    writer.getConfig().setUseCompoundFile(random.nextBoolean());
                    writer.flush();
                    if ((i + 1) % (documents / 2) == 0) {
                        writer.commit();
                    }
                }
            }
            writer.deleteDocuments(new Term("id", "7"));
            writer.commit();
        }
    }

    private static String sentence(SplittableRandom random, int words) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < words; i++) {
            // Skewed, so that terms differ in frequency and scores differ.
            int word = (int) Math.floor(Math.pow(random.nextDouble(), 2) * WORDS.size());
            text.append(i == 0 ? "" : " ").append(WORDS.get(word));
        }
        return text.toString();
    }

    static List<Query> queries() {
        List<Query> queries = new ArrayList<>();
        for (String word : WORDS) {
            queries.add(new TermQuery(new Term("body", word)));
        }
        queries.add(new BooleanQuery.Builder()
                .add(new TermQuery(new Term("body", "fault")), BooleanClause.Occur.MUST)
                .add(new TermQuery(new Term("title", "kernel")), BooleanClause.Occur.SHOULD)
                .add(new TermQuery(new Term("body", "posting")), BooleanClause.Occur.MUST_NOT).build());
        queries.add(new BooleanQuery.Builder()
                .add(new TermQuery(new Term("body", "search")), BooleanClause.Occur.SHOULD)
                .add(new TermQuery(new Term("body", "score")), BooleanClause.Occur.SHOULD)
                .add(IntPoint.newRangeQuery("number", 1_000, 3_000), BooleanClause.Occur.FILTER).build());
        queries.add(new PhraseQuery("body", "anymap", "lucene"));
        queries.add(new PhraseQuery(1, "body", "memory", "fault"));
        queries.add(new PrefixQuery(new Term("body", "s")));
        queries.add(IntPoint.newRangeQuery("number", 5_000, 5_500));
        queries.add(LongPoint.newRangeQuery("time", 1_700_100_000_000L, 1_700_300_000_000L));
        queries.add(new MatchAllDocsQuery());
        return queries;
    }
}
