package dev.anymap.samples.examples;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.SplittableRandom;

/**
 * A table of fixed-size records sorted by key, searched by binary search in mapped memory, once
 * through a {@link StructLayout} and its {@link VarHandle}s and once through a {@link ByteBuffer}:
 * each lookup touches about log2(records) records, so only those chunks are ever fetched.
 */
public final class RecordTable {
    /** key, value, and padding to 64 bytes: what a row of an index file might hold. */
    static final StructLayout RECORD = MemoryLayout.structLayout(
            ValueLayout.JAVA_LONG.withName("key"),
            ValueLayout.JAVA_LONG.withName("value"),
            MemoryLayout.paddingLayout(48));
    private static final VarHandle KEY = RECORD.varHandle(PathElement.groupElement("key"));
    private static final VarHandle VALUE = RECORD.varHandle(PathElement.groupElement("value"));
    private static final long VALUE_OFFSET = RECORD.byteOffset(PathElement.groupElement("value"));
    private static final int CHUNK = 4096;
    private static final int LOOKUPS = 20;

    private RecordTable() {}

    /** Record {@code i} has key {@code 7i + 3}: sorted, with gaps, so some lookups miss. */
    static long key(long i) {
        return 7 * i + 3;
    }

    static long value(long key) {
        return Long.rotateLeft(key * 0x9E3779B97F4A7C15L, 17);
    }

    public static void main(String[] args) throws Exception {
        long records = args.length > 0 ? Long.parseLong(args[0]) : 2_000_000;
        Path table = Files.createTempFile("anymap-records-", ".bin");
        try {
            write(table, records);
            // Half of the keys looked up are in the table, half fall in its gaps.
            SplittableRandom random = new SplittableRandom(7);
            long[] keys = new long[LOOKUPS];
            for (int i = 0; i < LOOKUPS; i++) {
                keys[i] = key(random.nextLong(records)) + i % 2;
            }
            System.out.printf("table %s: %,d records of %d bytes (%,d bytes, %,d chunks of %,d)%n", table.getFileName(), records,
                    RECORD.byteSize(), records * RECORD.byteSize(), records * RECORD.byteSize() / CHUNK, CHUNK);
            // Small chunks, no readahead and no automatic pull: a lookup fetches the chunks it touches,
            // nothing more. (From a local disk, a table this small would otherwise be pulled whole after a
            // few dozen faults, since that costs the page server less than the faults it would save.)
            MapOptions options = MapOptions.defaults().withChunkSize(CHUNK).withReadahead(0).withAutoPull(false);
            try (Anymap anymap = Anymap.open()) {
                try (MappedRegion region = anymap.map(table.toUri(), options)) {
                    MemorySegment memory = region.segment();
                    for (long key : keys) {
                        long index = searchWithLayout(memory, key);
                        System.out.printf("key %,13d: %s%n", key,
                                index < 0 ? "absent" : String.format("record %,d, value %016x", index,
                                        (long) VALUE.get(memory, index * RECORD.byteSize())));
                    }
                    System.out.printf("StructLayout: %d lookups fetched %d chunks (%,d bytes)%n", LOOKUPS, region.stats().chunksFetched(),
                            region.stats().bytesFetched());
                }
                try (MappedRegion region = anymap.map(table.toUri(), options)) {
                    ByteBuffer buffer = region.segment().asByteBuffer().order(ByteOrder.nativeOrder());
                    long found = 0;
                    for (long key : keys) {
                        int index = searchWithBuffer(buffer, key);
                        if (index >= 0 && buffer.getLong(index * (int) RECORD.byteSize() + (int) VALUE_OFFSET) == value(key)) {
                            found++;
                        }
                    }
                    System.out.printf("ByteBuffer:   %d lookups found %d keys, fetched %d chunks (%,d bytes)%n", LOOKUPS, found,
                            region.stats().chunksFetched(), region.stats().bytesFetched());
                }
            }
        } finally {
            Files.deleteIfExists(table);
        }
    }

    /** The index of the record with {@code key}, or -1. */
    static long searchWithLayout(MemorySegment table, long key) {
        long low = 0;
        long high = table.byteSize() / RECORD.byteSize() - 1;
        while (low <= high) {
            long middle = (low + high) >>> 1;
            long found = (long) KEY.get(table, middle * RECORD.byteSize());
            if (found < key) {
                low = middle + 1;
            } else if (found > key) {
                high = middle - 1;
            } else {
                return middle;
            }
        }
        return -1;
    }

    static int searchWithBuffer(ByteBuffer table, long key) {
        int size = (int) RECORD.byteSize();
        int low = 0;
        int high = table.capacity() / size - 1;
        while (low <= high) {
            int middle = (low + high) >>> 1;
            long found = table.getLong(middle * size);
            if (found < key) {
                low = middle + 1;
            } else if (found > key) {
                high = middle - 1;
            } else {
                return middle;
            }
        }
        return -1;
    }

    /** Writes the table with plain file I/O: the storage anymap then maps. */
    private static void write(Path file, long records) throws java.io.IOException {
        ByteBuffer block = ByteBuffer.allocate(1 << 20).order(ByteOrder.nativeOrder());
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            for (long i = 0; i < records; i++) {
                block.putLong(key(i)).putLong(value(key(i))).position(block.position() + 48);
                if (!block.hasRemaining() || i == records - 1) {
                    for (block.flip(); block.hasRemaining(); ) {
                        out.write(block);
                    }
                    block.clear();
                }
            }
        }
    }
}
