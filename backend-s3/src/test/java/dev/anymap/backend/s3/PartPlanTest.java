package dev.anymap.backend.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.ByteRange;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PartPlanTest {
    private static final long MIB = 1 << 20;
    private static final long PART = S3Commit.PART;

    @Test
    void oneDirtyPageOfALargeObjectIsOneLeastUploadBetweenTwoCopies() {
        long size = 1L << 30;
        List<PartPlan.Part> parts = PartPlan.of(size, List.of(new ByteRange(300 * MIB, 4096)), PART);
        assertEquals(List.of(new PartPlan.Part(0, 300 * MIB, false), new PartPlan.Part(300 * MIB, S3Commit.MIN_PART, true),
                new PartPlan.Part(305 * MIB, size - 305 * MIB, false)), parts);
    }

    @Test
    void everyPlanCoversTheObjectOnceUploadsEveryDirtyByteAndKeepsS3sPartSizes() {
        SplittableRandom random = new SplittableRandom(3);
        for (int round = 0; round < 500; round++) {
            long size = random.nextLong(1, 64 * MIB);
            List<ByteRange> dirty = new ArrayList<>();
            for (long at = random.nextLong(0, size); at < size; at += random.nextLong(1, 12 * MIB)) {
                long length = Math.min(size - at, random.nextLong(1, 3 * MIB));
                dirty.add(new ByteRange(at, length));
                at += length;
            }
            List<PartPlan.Part> parts = PartPlan.of(size, dirty, PART);
            long at = 0;
            for (int i = 0; i < parts.size(); i++) {
                PartPlan.Part part = parts.get(i);
                assertEquals(at, part.offset(), "parts follow each other");
                assertTrue(i == parts.size() - 1 || part.length() >= S3Commit.MIN_PART, "only the last part is short: " + parts);
                assertTrue(!part.upload() || part.length() <= PART, "an upload fits a buffer: " + part);
                at += part.length();
            }
            assertEquals(size, at, "the parts cover the object");
            for (ByteRange range : dirty) {
                for (PartPlan.Part part : parts) {
                    boolean overlaps = part.offset() < range.end() && range.offset() < part.offset() + part.length();
                    assertTrue(!overlaps || part.upload(), "dirty " + range + " in a copied part " + part);
                }
            }
        }
    }
}
