package dev.anymap.lucene;

import com.carrotsearch.randomizedtesting.annotations.ThreadLeakScope;
import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import java.io.IOException;
import java.nio.file.Path;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FilterDirectory;
import org.apache.lucene.store.IOContext;
import org.apache.lucene.store.IndexInput;
import org.apache.lucene.store.NIOFSDirectory;
import org.apache.lucene.tests.store.BaseDirectoryTestCase;
import org.junit.AfterClass;
import org.junit.BeforeClass;

/**
 * Lucene's own tests of a {@code Directory} ({@code lucene-test-framework}'s
 * {@link BaseDirectoryTestCase}), run with every read through {@link AnymapDirectory}: the tests write
 * their files into a local directory with {@link NIOFSDirectory}, since {@code AnymapDirectory} writes
 * nothing, and every {@code openInput} maps the file through anymap, so that their checks of reads,
 * clones, slices, seeks, random access and closing run on {@link RegionIndexInput}. A local file is
 * mapped by the kernel, and no page server is started (auto-start is off: a map that needed one would
 * fail); the page-server path has the same inputs and is tested by {@link RegionIndexInputTest}.
 */
// The directories' prefetch threads outlive a test by up to their idle time.
@ThreadLeakScope(ThreadLeakScope.Scope.NONE)
public class LuceneDirectoryReadsTest extends BaseDirectoryTestCase {
    private static Anymap anymap;

    @BeforeClass
    public static void openAnymap() throws IOException {
        anymap = Anymap.open(AnymapConfig.defaults().withSocket(createTempDir("anymap").resolve("server.sock")).withAutoStart(false));
    }

    @AfterClass
    public static void closeAnymap() throws IOException {
        anymap.close();
        anymap = null;
    }

    @Override
    protected Directory getDirectory(Path path) throws IOException {
        return new ReadThroughAnymap(new NIOFSDirectory(path), AnymapDirectory.open(anymap, path.toUri(), MapOptions.defaults()));
    }

    /** Writes, lists and deletes in the local directory; opens every input through anymap. */
    private static final class ReadThroughAnymap extends FilterDirectory {
        private final AnymapDirectory reads;

        ReadThroughAnymap(Directory writes, AnymapDirectory reads) {
            super(writes);
            this.reads = reads;
        }

        @Override
        public IndexInput openInput(String name, IOContext context) throws IOException {
            ensureOpen();
            return reads.openInput(name, context);
        }

        @Override
        public void close() throws IOException {
            try (reads) {
                super.close();
            }
        }
    }
}
