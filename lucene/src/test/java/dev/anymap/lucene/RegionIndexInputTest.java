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
import java.io.EOFException;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.lucene.store.AlreadyClosedException;
import org.apache.lucene.store.IOContext;
import org.apache.lucene.store.IndexInput;
import org.apache.lucene.store.RandomAccessInput;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The inputs of {@link AnymapDirectory}, their clones and slices, read against the bytes that were
 * stored: from S3 through a page server (small chunks, nothing read ahead, so that reads of many bytes
 * cross chunks that are not there yet) and from a local file, which the kernel maps.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RegionIndexInputTest {
    private static final String NAME = "_0.bin";
    /** The same bytes, read by one test alone: the page server's cache holds none of it before. */
    private static final String UNREAD = "_1.bin";
    /** Not a multiple of anything: reads end at odd places. */
    private static final int SIZE = (3 << 20) + 123;
    private static final int CHUNK = 64 << 10;

    @TempDir
    static Path temporary;
    private static byte[] content;
    private static S3ServerProcess s3;
    private static Anymap anymap;

    @BeforeAll
    static void store() throws IOException {
        content = new byte[SIZE];
        new SplittableRandom(5).nextBytes(content);
        Files.write(Files.createDirectory(temporary.resolve("local")).resolve(NAME), content);
        s3 = S3ServerProcess.start();
        try (S3Client client = s3.newClient()) {
            client.createBucket(b -> b.bucket("inputs"));
            client.putObject(b -> b.bucket("inputs").key("dir/" + NAME), RequestBody.fromBytes(content));
            client.putObject(b -> b.bucket("inputs").key("dir/" + UNREAD), RequestBody.fromBytes(content));
        }
        anymap = Anymap.open(AnymapConfig.defaults().withSocket(temporary.resolve("server.sock")));
    }

    @AfterAll
    static void stop() throws IOException {
        try (Anymap a = anymap; S3ServerProcess s = s3) {
            // closed in reverse order
        }
    }

    static Stream<String> locations() {
        return Stream.of("s3", "file");
    }

    private static AnymapDirectory directory(String location) throws IOException {
        return location.equals("s3")
                ? AnymapDirectory.open(anymap, URI.create("s3://inputs/dir/"),
                        MapOptions.defaults().withBackendOptions(s3.backendOptions()).withChunkSize(CHUNK).withReadahead(0).withAutoPull(false))
                : AnymapDirectory.open(anymap, temporary.resolve("local").toUri(), MapOptions.defaults());
    }

    private static ByteBuffer stored(long from) {
        return ByteBuffer.wrap(content, (int) from, SIZE - (int) from).slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    @ParameterizedTest
    @MethodSource("locations")
    void readsOfEveryKindGiveTheStoredBytes(String location) throws IOException {
        SplittableRandom random = new SplittableRandom(11);
        try (AnymapDirectory directory = directory(location); IndexInput input = directory.openInput(NAME, IOContext.DEFAULT)) {
            assertEquals(SIZE, input.length());
            for (int round = 0; round < 200; round++) {
                // Below and above the size from which reads go through the region's native copy.
                int count = random.nextBoolean() ? random.nextInt(64) : random.nextInt(RegionIndexInput.BULK_BYTES, 3 * CHUNK);
                int at = random.nextInt(SIZE - count * Long.BYTES);
                input.seek(at);
                switch (round % 5) {
                    case 0 -> {
                        byte[] read = new byte[count + 2];
                        input.readBytes(read, 1, count);
                        assertArrayEquals(Arrays.copyOfRange(content, at, at + count), Arrays.copyOfRange(read, 1, count + 1), "bytes at " + at);
                        assertEquals(at + count, input.getFilePointer());
                    }
                    case 1 -> {
                        long[] read = new long[count / Long.BYTES];
                        input.readLongs(read, 0, read.length);
                        long[] expected = new long[read.length];
                        stored(at).asLongBuffer().get(expected);
                        assertArrayEquals(expected, read, "longs at " + at);
                    }
                    case 2 -> {
                        int[] read = new int[count / Integer.BYTES];
                        input.readInts(read, 0, read.length);
                        int[] expected = new int[read.length];
                        stored(at).asIntBuffer().get(expected);
                        assertArrayEquals(expected, read, "ints at " + at);
                    }
                    case 3 -> {
                        float[] read = new float[count / Float.BYTES];
                        input.readFloats(read, 0, read.length);
                        float[] expected = new float[read.length];
                        stored(at).asFloatBuffer().get(expected);
                        assertArrayEquals(expected, read, "floats at " + at);
                    }
                    default -> {
                        assertEquals(content[at], input.readByte());
                        assertEquals(stored(at + 1).getShort(), input.readShort());
                        assertEquals(stored(at + 3).getInt(), input.readInt());
                        assertEquals(stored(at + 7).getLong(), input.readLong());
                        assertEquals(at + 15, input.getFilePointer());
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("locations")
    void clonesKeepPositionsOfTheirOwn(String location) throws IOException {
        try (AnymapDirectory directory = directory(location); IndexInput input = directory.openInput(NAME, IOContext.DEFAULT)) {
            input.seek(1_000);
            IndexInput clone = input.clone();
            assertEquals(1_000, clone.getFilePointer());
            assertEquals(stored(1_000).getLong(), clone.readLong());
            assertEquals(1_000, input.getFilePointer(), "the clone's read moved the original");
            clone.seek(SIZE - 4);
            assertEquals(stored(SIZE - 4).getInt(), clone.readInt());
            assertEquals(stored(1_000).getLong(), input.readLong());
            IndexInput cloneOfClone = clone.clone();
            assertEquals(SIZE, cloneOfClone.getFilePointer());
            assertThrows(EOFException.class, cloneOfClone::readByte);
        }
    }

    @ParameterizedTest
    @MethodSource("locations")
    void slicesAreWindowsOfTheFile(String location) throws IOException {
        try (AnymapDirectory directory = directory(location); IndexInput input = directory.openInput(NAME, IOContext.DEFAULT)) {
            long offset = CHUNK - 3;
            int length = 2 * CHUNK + 10;
            IndexInput slice = input.slice("a window", offset, length);
            assertEquals(length, slice.length());
            assertEquals(0, slice.getFilePointer());
            assertTrue(slice.toString().contains("a window"), slice.toString());
            byte[] all = new byte[length];
            slice.readBytes(all, 0, length);
            assertArrayEquals(Arrays.copyOfRange(content, (int) offset, (int) offset + length), all);
            assertThrows(EOFException.class, slice::readByte, "a read past the slice's end");
            slice.seek(length - 2);
            assertThrows(EOFException.class, slice::readInt, "a read across the slice's end");
            assertThrows(EOFException.class, () -> slice.seek(length + 1));
            assertThrows(EOFException.class, () -> slice.readBytes(new byte[RegionIndexInput.BULK_BYTES], 0, RegionIndexInput.BULK_BYTES));

            IndexInput inner = slice.slice("inner", 100, 50);
            assertEquals(stored(offset + 100).getLong(), inner.readLong());
            assertThrows(IllegalArgumentException.class, () -> slice.slice("too long", 1, length));
            assertThrows(IllegalArgumentException.class, () -> slice.slice("negative", -1, 4));
            assertThrows(IllegalArgumentException.class, () -> input.slice("past the end", SIZE - 3, 4));

            RandomAccessInput random = input.randomAccessSlice(offset, length);
            assertEquals(content[(int) offset + 5], random.readByte(5));
            assertEquals(stored(offset + 9).getShort(), random.readShort(9));
            assertEquals(stored(offset + 17).getInt(), random.readInt(17));
            assertEquals(stored(offset + length - 8).getLong(), random.readLong(length - 8));
            assertThrows(EOFException.class, () -> random.readLong(length - 7));
            byte[] some = new byte[20];
            random.readBytes(40, some, 0, 20);
            assertArrayEquals(Arrays.copyOfRange(content, (int) offset + 40, (int) offset + 60), some);
        }
    }

    @ParameterizedTest
    @MethodSource("locations")
    void closingACloneOrASliceClosesOnlyIt(String location) throws IOException {
        try (AnymapDirectory directory = directory(location); IndexInput input = directory.openInput(NAME, IOContext.DEFAULT)) {
            IndexInput clone = input.clone();
            IndexInput slice = input.slice("first", 0, 16);
            IndexInput other = input.slice("second", 16, 16);
            clone.close();
            slice.close();
            assertThrows(AlreadyClosedException.class, clone::readByte);
            assertThrows(AlreadyClosedException.class, slice::readLong);
            assertThrows(AlreadyClosedException.class, () -> slice.readBytes(new byte[4], 0, 4));
            assertThrows(AlreadyClosedException.class, slice::clone);
            assertEquals(stored(16).getLong(), other.readLong());
            assertEquals(content[0], input.readByte());
            assertEquals(stored(0).getInt(), input.slice("first again", 0, 16).readInt());
        }
    }

    @ParameterizedTest
    @MethodSource("locations")
    void closingTheInputClosesItsClonesAndSlices(String location) throws IOException {
        try (AnymapDirectory directory = directory(location)) {
            IndexInput input = directory.openInput(NAME, IOContext.DEFAULT);
            IndexInput clone = input.clone();
            IndexInput slice = input.slice("some", 100, 1_000);
            RandomAccessInput random = input.randomAccessSlice(0, 100);
            assertEquals(content[0], clone.readByte());
            input.close();
            assertThrows(AlreadyClosedException.class, clone::readByte);
            assertThrows(AlreadyClosedException.class, slice::readLong);
            assertThrows(AlreadyClosedException.class, () -> slice.readBytes(new byte[RegionIndexInput.BULK_BYTES], 0, RegionIndexInput.BULK_BYTES));
            assertThrows(AlreadyClosedException.class, () -> random.readInt(4));
            assertThrows(AlreadyClosedException.class, input::clone);
            input.close(); // twice is fine
        }
    }

    @ParameterizedTest
    @MethodSource("locations")
    void seeksAndReadsPastTheEndAreEndOfFile(String location) throws IOException {
        try (AnymapDirectory directory = directory(location); IndexInput input = directory.openInput(NAME, IOContext.DEFAULT)) {
            input.seek(SIZE);
            assertThrows(EOFException.class, input::readByte);
            assertThrows(EOFException.class, () -> input.seek(SIZE + 1L));
            input.seek(SIZE - 3);
            assertThrows(EOFException.class, input::readInt);
            assertThrows(EOFException.class, () -> input.readBytes(new byte[RegionIndexInput.BULK_BYTES], 0, RegionIndexInput.BULK_BYTES));
            assertThrows(EOFException.class, () -> input.readLongs(new long[4096], 0, 4096));
        }
    }

    @Test
    void aPrefetchFetchesTheRangeAhead() throws Exception {
        try (AnymapDirectory directory = directory("s3"); IndexInput input = directory.openInput(UNREAD, IOContext.DEFAULT)) {
            long before = resident(); // the chunk that came with the open, at most
            assertTrue(before <= CHUNK, before + " bytes resident before any read");
            IndexInput slice = input.slice("late", 2L * CHUNK, 4L * CHUNK);
            slice.prefetch(CHUNK, 2L * CHUNK);
            // The load runs on a thread of the directory's, and nothing else reads this object: wait until it has loaded.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            long resident;
            while ((resident = resident()) < before + 2L * CHUNK && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(before + 2L * CHUNK, resident, "what the prefetch of two chunks made resident");
            slice.seek(CHUNK);
            byte[] read = new byte[2 * CHUNK];
            slice.readBytes(read, 0, read.length);
            assertArrayEquals(Arrays.copyOfRange(content, 3 * CHUNK, 5 * CHUNK), read);
        }
    }

    private static long resident() throws IOException {
        ServerStatus status = anymap.serverStatus();
        return status.regions().stream()
                .filter(region -> region.clientPid() == ProcessHandle.current().pid() && region.uri().equals("s3://inputs/dir/" + UNREAD))
                .mapToLong(ServerStatus.Region::residentBytes).sum();
    }
}
