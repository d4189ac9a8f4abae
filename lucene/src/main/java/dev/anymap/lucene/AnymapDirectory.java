package dev.anymap.lucene;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.spi.Redaction;
import java.io.IOException;
import java.net.URI;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.apache.lucene.index.IndexFileNames;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.SegmentInfos;
import org.apache.lucene.store.BaseDirectory;
import org.apache.lucene.store.IOContext;
import org.apache.lucene.store.IndexInput;
import org.apache.lucene.store.IndexOutput;
import org.apache.lucene.store.Lock;
import org.apache.lucene.store.LockFactory;

/**
 * A read-only Lucene {@link org.apache.lucene.store.Directory} over any location anymap maps: an
 * index in S3, on HTTP, in a zip, on SFTP or in a local directory is opened and searched in place.
 * Each file is {@linkplain Anymap#map mapped} when Lucene opens it, and only the pages that queries
 * touch are fetched.
 *
 * <pre>{@code
 * try (Anymap anymap = Anymap.open();
 *      AnymapDirectory directory = AnymapDirectory.open(anymap, URI.create("s3://bucket/index/"), MapOptions.defaults());
 *      DirectoryReader reader = DirectoryReader.open(directory)) {
 *     TopDocs hits = new IndexSearcher(reader).search(query, 10);
 * }
 * }</pre>
 *
 * <p><b>Which files.</b> Lucene finds an index's latest commit by listing its directory. A local
 * directory ({@code file:}) is listed as {@code FSDirectory} lists it, and an S3 prefix with
 * ListObjectsV2 (with the s3 backend's options and credentials). Storage that cannot be listed (HTTP,
 * an archive, SFTP, any other backend) is opened at a commit that the caller names, its
 * {@code segments_N} file: {@link #open(Anymap, URI, MapOptions, String)}; the directory then holds
 * the files of that commit, as its {@code segments_N} names them. A listable location opened at a
 * commit is read the same way (no listing needed: S3 credentials without s3:ListBucket do).
 *
 * <p><b>Opening.</b> The files of the commit that a reader will open (the latest listed, or the one
 * named) are mapped together when the directory opens, 16 at a time, with their footers, for
 * {@link #openInput} to take: a reader opens them one after the other, and on remote storage each
 * map costs round trips. Mappings that no reader took are unmapped when the directory closes.
 *
 * <p><b>Reading.</b> Inputs are {@link RegionIndexInput}s over the mapped memory: clones and slices
 * share the mapping, closing an input that {@link #openInput} returned unmaps its file. Reads of many
 * bytes are copied out in native code ({@link MappedRegion#copyTo}), where a thread that waits on
 * storage holds up no safepoint; Lucene's {@code prefetch} hints load ranges on background threads.
 * A fetch that fails is an {@link IOException} naming the file.
 *
 * <p>Every write (createOutput, deleteFile, rename, sync, obtainLock) throws
 * {@link UnsupportedOperationException}: the directory reads only.
 */
public final class AnymapDirectory extends BaseDirectory {
    /** Threads that load prefetched ranges, per directory: enough for the stored fields of a page of hits at once. */
    private static final int PREFETCH_THREADS = 16;
    private static final int PREFETCH_QUEUE = 256;

    private final Anymap anymap;
    private final URI base;
    private final MapOptions options;
    /** Null when the directory is opened at a commit: then {@link #commitFiles} are its files. */
    private final IndexListing listing;
    private volatile SortedMap<String, Long> commitFiles;
    private final ExecutorService prefetches;
    /** The files of the commit a reader will open, mapped together at open; null until then. */
    private volatile OpenAhead openAhead;

    private AnymapDirectory(Anymap anymap, URI base, MapOptions options, IndexListing listing) {
        super(ReadOnlyLocks.INSTANCE);
        this.anymap = anymap;
        this.base = base;
        this.options = options;
        this.listing = listing;
        // As many threads as loads at once, up to the limit, before any load queues (a pool of fewer core threads
        // would queue first and run one); idle ones end.
        ThreadPoolExecutor loads = new ThreadPoolExecutor(PREFETCH_THREADS, PREFETCH_THREADS, 10, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(PREFETCH_QUEUE), Thread.ofPlatform().daemon().name("anymap-lucene-prefetch-", 0).factory());
        loads.allowCoreThreadTimeOut(true);
        this.prefetches = loads;
    }

    /**
     * The index at {@code base}, listed: a local directory ({@code file:} URI) or an S3 prefix
     * ({@code s3://bucket/prefix/}, which needs {@code anymap-backend-s3}). Files are mapped with
     * {@code options}, whose backend options also set up the S3 listing.
     *
     * @throws IllegalArgumentException if {@code base} is neither (name its commit with
     *     {@link #open(Anymap, URI, MapOptions, String)} instead), or is a file that is not a directory
     * @throws IOException if the listing fails, naming the location and the cause
     */
    public static AnymapDirectory open(Anymap anymap, URI base, MapOptions options) throws IOException {
        base = asDirectory(base);
        AnymapDirectory directory = new AnymapDirectory(anymap, base, options, listing(base, options));
        try {
            String[] names = directory.listAll();
            String latest = SegmentInfos.getLastCommitSegmentsFileName(names);
            List<String> current = new ArrayList<>();
            for (String name : names) {
                // Older commits' segments_N, a writer's lock and its unfinished commit are never opened by a reader of the latest.
                if (!name.startsWith(IndexFileNames.SEGMENTS) && !name.startsWith(IndexFileNames.PENDING_SEGMENTS)
                        && !name.equals(IndexWriter.WRITE_LOCK_NAME) || name.equals(latest)) {
                    current.add(name);
                }
            }
            directory.openAhead(current);
            return directory;
        } catch (IOException | RuntimeException e) {
            directory.close();
            throw e;
        }
    }

    private void openAhead(Collection<String> names) {
        openAhead = new OpenAhead(anymap, options, this::uri, names);
    }

    /**
     * The index at {@code base} as its commit {@code segmentsFile} ({@code "segments_N"}, N the
     * generation in base 36, as Lucene names it) holds it: the directory's files are that file and
     * those it names, read now. For storage that cannot be listed, and for pinning a commit anywhere.
     *
     * @throws NoSuchFileException if the commit, or a segment it names, is not there
     * @throws IOException if the commit cannot be read, naming the file and the cause
     */
    public static AnymapDirectory open(Anymap anymap, URI base, MapOptions options, String segmentsFile) throws IOException {
        Objects.requireNonNull(segmentsFile, "segmentsFile");
        if (!segmentsFile.startsWith(IndexFileNames.SEGMENTS + "_")) {
            throw new IllegalArgumentException("'" + segmentsFile + "' is not a commit of a Lucene index: give the name of its "
                    + "segments_N file (of " + Redaction.uri(base) + ")");
        }
        AnymapDirectory directory = new AnymapDirectory(anymap, asDirectory(base), options, null);
        try {
            directory.commitFiles = new TreeMap<>(Collections.singletonMap(segmentsFile, -1L));
            SortedMap<String, Long> files = new TreeMap<>();
            for (String name : SegmentInfos.readCommit(directory, segmentsFile).files(true)) {
                files.put(name, -1L);
            }
            directory.commitFiles = Collections.unmodifiableSortedMap(files);
            directory.openAhead(files.keySet());
            return directory;
        } catch (IOException | RuntimeException e) {
            directory.close();
            throw e;
        }
    }

    private static URI asDirectory(URI base) {
        String text = base.toString();
        return text.endsWith("/") ? base : URI.create(text + "/");
    }

    private static IndexListing listing(URI base, MapOptions options) throws IOException {
        String scheme = base.getScheme() == null ? "" : base.getScheme().toLowerCase(java.util.Locale.ROOT);
        switch (scheme) {
            case "file":
                return new LocalListing(Path.of(base));
            case "s3":
                try {
                    return S3Listing.open(base, options.backendOptions());
                } catch (NoClassDefFoundError missing) {
                    throw new IllegalArgumentException("listing " + Redaction.uri(base) + " needs anymap-backend-s3 (and the AWS "
                            + "SDK it brings) on the class path or module path", missing);
                }
            default:
                throw new IllegalArgumentException("the files of " + Redaction.uri(base) + " cannot be listed (only file: and s3: "
                        + "locations can): open it at its commit, AnymapDirectory.open(anymap, base, options, \"segments_N\"), "
                        + "naming the latest segments_N file of the index");
        }
    }

    /** The URI of the file {@code name}: the base and the name, as text, since the base may be opaque ({@code zip:...!/dir/}). */
    URI uri(String name) {
        if (name.isEmpty() || name.contains("/") || name.contains("%")) {
            throw new IllegalArgumentException("'" + name + "' is not the name of an index file (of " + Redaction.uri(base) + ")");
        }
        return URI.create(base + name);
    }

    private SortedMap<String, Long> files() throws IOException {
        return listing != null ? listing.list() : commitFiles;
    }

    @Override
    public String[] listAll() throws IOException {
        ensureOpen();
        return files().keySet().toArray(String[]::new);
    }

    @Override
    public long fileLength(String name) throws IOException {
        ensureOpen();
        Long listed = files().get(name);
        if (listed == null) {
            throw new NoSuchFileException(Redaction.uri(uri(name)));
        }
        if (listed >= 0) {
            return listed;
        }
        try (MappedRegion region = anymap.map(uri(name), options)) {
            return region.size();
        }
    }

    @Override
    public IndexInput openInput(String name, IOContext context) throws IOException {
        ensureOpen();
        URI uri = uri(name);
        OpenAhead ahead = openAhead;
        MappedRegion region = ahead == null ? null : ahead.take(name);
        if (region == null) {
            region = anymap.map(uri, options);
        }
        try {
            return new RegionIndexInput("AnymapIndexInput(" + Redaction.uri(uri) + ")", new MappedFile(region, options.chunkSize(), prefetches));
        } catch (RuntimeException e) {
            region.close();
            throw e;
        }
    }

    @Override
    public Set<String> getPendingDeletions() {
        return Set.of();
    }

    @Override
    public void close() throws IOException {
        isOpen = false;
        prefetches.shutdownNow();
        try {
            if (openAhead != null) {
                openAhead.close();
            }
        } finally {
            if (listing != null) {
                listing.close();
            }
        }
    }

    @Override
    public String toString() {
        return "AnymapDirectory(" + Redaction.uri(base) + ")";
    }

    private UnsupportedOperationException readOnly(String what) {
        return new UnsupportedOperationException(this + " is read-only: it cannot " + what);
    }

    @Override
    public void deleteFile(String name) {
        throw readOnly("delete " + name);
    }

    @Override
    public IndexOutput createOutput(String name, IOContext context) {
        throw readOnly("create " + name);
    }

    @Override
    public IndexOutput createTempOutput(String prefix, String suffix, IOContext context) {
        throw readOnly("create a temporary file");
    }

    @Override
    public void sync(Collection<String> names) {
        throw readOnly("sync files");
    }

    @Override
    public void syncMetaData() {
        throw readOnly("sync its metadata");
    }

    @Override
    public void rename(String source, String dest) {
        throw readOnly("rename " + source);
    }

    /** No writer can work here, so no lock is ever handed out. */
    private static final class ReadOnlyLocks extends LockFactory {
        static final ReadOnlyLocks INSTANCE = new ReadOnlyLocks();

        @Override
        public Lock obtainLock(org.apache.lucene.store.Directory directory, String lockName) {
            throw new UnsupportedOperationException(directory + " is read-only: it hands out no lock (" + lockName + ")");
        }
    }
}
