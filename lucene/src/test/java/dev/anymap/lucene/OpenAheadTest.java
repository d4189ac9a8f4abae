package dev.anymap.lucene;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.lucene.codecs.CompoundDirectory;
import org.apache.lucene.index.SegmentCommitInfo;
import org.apache.lucene.index.SegmentInfos;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FSDirectory;
import org.apache.lucene.store.FilterDirectory;
import org.apache.lucene.store.FilterIndexInput;
import org.apache.lucene.store.IOContext;
import org.apache.lucene.store.IndexInput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OpenAheadTest {
    private static final int CHUNK = 4096;

    @TempDir
    Path index;

    /** Where Lucene's own compound reader finds each file of a compound segment: the slices it cuts. */
    private record Slice(long offset, long length) {}

    @Test
    void theChunksFetchedAheadForACompoundSegmentAreTheFirstAndLastOfEachFileLuceneSlicesFromIt() throws IOException {
        TestIndex.write(index, 400, 92); // a seed whose segments are compound in part
        int compounds = 0;
        try (FSDirectory fs = FSDirectory.open(index)) {
            List<Slice> slices = new ArrayList<>();
            Directory recording = new FilterDirectory(fs) {
                @Override
                public IndexInput openInput(String name, IOContext context) throws IOException {
                    return new FilterIndexInput("recording " + name, super.openInput(name, context)) {
                        @Override
                        public IndexInput slice(String description, long offset, long length) throws IOException {
                            slices.add(new Slice(offset, length));
                            return in.slice(description, offset, length);
                        }
                    };
                }
            };
            for (SegmentCommitInfo segment : SegmentInfos.readLatestCommit(fs)) {
                if (!segment.info.getUseCompoundFile()) {
                    continue;
                }
                compounds++;
                slices.clear();
                try (CompoundDirectory compound = segment.info.getCodec().compoundFormat().getCompoundReader(recording, segment.info)) {
                    for (String file : compound.listAll()) {
                        compound.openInput(file, IOContext.READONCE).close();
                    }
                }
                String name = segment.info.name;
                long dataSize = Files.size(index.resolve(name + ".cfs"));
                byte[] entries = Files.readAllBytes(index.resolve(name + ".cfe"));
                Set<Integer> chunks = new LinkedHashSet<>();
                for (int chunk : OpenAhead.compoundChunks(entries, dataSize, CHUNK)) {
                    chunks.add(chunk);
                }
                assertTrue(slices.size() > 3, "a compound segment of several files: " + slices);
                for (Slice slice : slices) {
                    long first = slice.offset() / CHUNK;
                    long last = (slice.offset() + slice.length() - 1) / CHUNK;
                    assertTrue(chunks.contains((int) first) && chunks.contains((int) last),
                            "file at " + slice + ": chunks " + first + " and " + last + " not among " + chunks);
                }
                long largest = slices.stream().mapToLong(Slice::length).max().orElseThrow();
                assertTrue(chunks.size() < dataSize / CHUNK || largest < 6 * CHUNK,
                        "only the chunks at the files' ends, not the whole data file: " + chunks.size() + " of " + dataSize / CHUNK);
            }
        }
        assertTrue(compounds > 0, "the test index has no compound segment");
    }

    @Test
    void entriesOfAnotherFormatOrAnotherDataFileGiveNoChunks() throws IOException {
        assertThrowsNothingAndIsEmpty(new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        TestIndex.write(index, 400, 92);
        try (FSDirectory fs = FSDirectory.open(index)) {
            for (SegmentCommitInfo segment : SegmentInfos.readLatestCommit(fs)) {
                if (segment.info.getUseCompoundFile()) {
                    byte[] entries = Files.readAllBytes(index.resolve(segment.info.name + ".cfe"));
                    assertArrayEquals(new int[0], OpenAhead.compoundChunks(entries, 100, CHUNK), "entries past a data file of 100 bytes");
                    return;
                }
            }
        }
        throw new AssertionError("the test index has no compound segment");
    }

    private static void assertThrowsNothingAndIsEmpty(byte[] garbage) {
        try {
            assertEquals(0, OpenAhead.compoundChunks(garbage, 1 << 20, CHUNK).length);
        } catch (IOException notEntries) {
            // as good: no chunks, the reader reports
        }
    }
}
