package dev.anymap.samples.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every sample run as a user runs it, in a JVM of its own, its output checked against the bytes computed here. */
class ExamplesTest {
    @TempDir
    Path directory;

    private String run(Class<?> sample, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), sample.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("XDG_RUNTIME_DIR", directory.toString()); // a page server of this test's own
        Process process = builder.start();
        String printed = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(3, TimeUnit.MINUTES));
        assertEquals(0, process.exitValue(), printed);
        return printed;
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    private static byte[] random(long seed, int size) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    @Test
    void mapFileHashesTheFileThroughMemory() throws Exception {
        byte[] content = random(11, 2_500_001);
        Path file = Files.write(directory.resolve("data.bin"), content);
        String printed = run(MapFile.class, file.toString());
        assertTrue(printed.contains("sha256: " + sha256(content)), printed);
        assertTrue(printed.contains("first bytes: " + HexFormat.ofDelimiter(" ").formatHex(content, 0, 16)), printed);
    }

    @Test
    void mapS3ObjectReadsLongsOfAnObjectOnAChildS3Server() throws Exception {
        ByteBuffer expected = ByteBuffer.wrap(random(1, 8 << 20)); // what the sample stores, big-endian as it reads
        String printed = run(MapS3Object.class);
        Matcher longs = Pattern.compile("long at ([0-9,]+): ([0-9a-f]{16})").matcher(printed);
        int seen = 0;
        while (longs.find()) {
            long offset = Long.parseLong(longs.group(1).replace(",", ""));
            assertEquals(HexFormat.of().toHexDigits(expected.getLong((int) offset)), longs.group(2), printed);
            seen++;
        }
        assertEquals(3, seen, printed);
    }

    @Test
    void mapHttpResourceHashesAPresignedUrlOfAChildS3Server() throws Exception {
        String printed = run(MapHttpResource.class);
        assertTrue(printed.contains("sha256: " + sha256(random(2, 3 << 20))), printed);
        assertTrue(!printed.contains("X-Amz-Signature"), "no credential in the output");
    }

    @Test
    void editS3RecordsChangesTheRecordsItPrintsAndTheSdkReadsTheNewVersion() throws Exception {
        String printed = run(EditS3Records.class);
        Matcher edits = Pattern.compile("record +([0-9,]+) \\(key +([0-9,]+)\\): value ([0-9a-f]{16}) -> ([0-9a-f]{16})").matcher(printed);
        int seen = 0;
        while (edits.find()) {
            long index = Long.parseLong(edits.group(1).replace(",", ""));
            long key = Long.parseLong(edits.group(2).replace(",", ""));
            // The table's definition (RecordTable): record i holds key 7i + 3 and its value; an edit sets key * 1,000,003.
            assertEquals(7 * index + 3, key, edits.group());
            assertEquals(HexFormat.of().toHexDigits(Long.rotateLeft(key * 0x9E3779B97F4A7C15L, 17)), edits.group(3), edits.group());
            assertEquals(HexFormat.of().toHexDigits(key * 1_000_003L), edits.group(4), edits.group());
            seen++;
        }
        assertEquals(12, seen, printed);
        Matcher versions = Pattern.compile("flushed: version (\\S+) \\(was (\\S+)\\); fetched (\\d+) chunks of 196").matcher(printed);
        assertTrue(versions.find(), printed);
        assertTrue(!versions.group(1).equals(versions.group(2)), "a flush makes a new version: " + printed);
        assertTrue(Integer.parseInt(versions.group(3)) <= 12, "an edit fetches its record's chunk only: " + printed);
        assertTrue(printed.contains("(is the flushed version): 12,800,000 bytes, 12 records edited, 199,988 as stored: OK"), printed);
    }

    @Test
    void recordTableFindsKeysByBinarySearchFetchingFewChunks() throws Exception {
        long records = 300_000;
        String printed = run(RecordTable.class, Long.toString(records));
        Matcher lookups = Pattern.compile("key +([0-9,]+): (absent|record ([0-9,]+), value ([0-9a-f]{16}))").matcher(printed);
        int present = 0;
        int total = 0;
        while (lookups.find()) {
            long key = Long.parseLong(lookups.group(1).replace(",", ""));
            // The table's definition: record i holds key 7i + 3.
            boolean inTable = (key - 3) % 7 == 0 && (key - 3) / 7 < records;
            assertEquals(inTable, lookups.group(3) != null, lookups.group());
            if (inTable) {
                assertEquals((key - 3) / 7, Long.parseLong(lookups.group(3).replace(",", "")), lookups.group());
                assertEquals(HexFormat.of().toHexDigits(Long.rotateLeft(key * 0x9E3779B97F4A7C15L, 17)), lookups.group(4));
                present++;
            }
            total++;
        }
        assertEquals(20, total, printed);
        assertTrue(printed.contains("ByteBuffer:   20 lookups found " + present + " keys"), printed);
        // 20 binary searches over 300,000 records touch at most 20 * 19 records; the table is 4,687 chunks.
        Matcher fetched = Pattern.compile("fetched (\\d+) chunks").matcher(printed);
        for (int i = 0; i < 2; i++) {
            assertTrue(fetched.find(), printed);
            assertTrue(Integer.parseInt(fetched.group(1)) <= 20 * 19, printed);
        }
    }

    @Test
    void luceneSearchFindsOnS3WhatMMapDirectoryFindsOnTheSameIndex() throws Exception {
        String printed = run(LuceneSearch.class);
        Path index = Files.createDirectory(directory.resolve("index"));
        LuceneSearch.writeIndex(index, 60_000); // the sample's documents, searched here through Lucene's own MMapDirectory
        try (org.apache.lucene.store.MMapDirectory local = new org.apache.lucene.store.MMapDirectory(index);
             org.apache.lucene.index.DirectoryReader reader = org.apache.lucene.index.DirectoryReader.open(local)) {
            org.apache.lucene.search.IndexSearcher searcher = new org.apache.lucene.search.IndexSearcher(reader);
            for (org.apache.lucene.search.Query query : LuceneSearch.sampleQueries()) {
                org.apache.lucene.search.TopDocs top = searcher.search(query, 3);
                StringBuilder line = new StringBuilder(String.format("query %s: %,d hits;", query, top.totalHits.value()));
                for (org.apache.lucene.search.ScoreDoc hit : top.scoreDocs) {
                    line.append(String.format("  %s (%.6f)", searcher.storedFields().document(hit.doc).get("id"), hit.score));
                }
                assertTrue(printed.contains(line + System.lineSeparator()), "expected\n" + line + "\nin\n" + printed);
            }
        }
        Matcher resident = Pattern.compile("resident after the queries: ([0-9,]+) bytes of ([0-9,]+)").matcher(printed);
        assertTrue(resident.find(), printed);
        long fetched = Long.parseLong(resident.group(1).replace(",", ""));
        long size = Long.parseLong(resident.group(2).replace(",", ""));
        assertTrue(fetched > 0 && fetched < size / 2, "only part of the index is fetched: " + printed);
    }
}
