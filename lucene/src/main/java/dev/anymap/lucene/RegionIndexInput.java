package dev.anymap.lucene;

import dev.anymap.spi.Redaction;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;
import org.apache.lucene.store.AlreadyClosedException;
import org.apache.lucene.store.IndexInput;
import org.apache.lucene.store.RandomAccessInput;
import org.apache.lucene.util.GroupVIntUtil;

/**
 * An index file, or a slice of one, read from its mapped region. Clones and slices share the region;
 * each has its own position, and closing one makes that one refuse reads. Closing the input that
 * {@link AnymapDirectory#openInput} returned unmaps the file, and every clone and slice of it then
 * refuses reads too, with {@link AlreadyClosedException}, as with {@code MMapDirectory}.
 *
 * <p>Reads of many bytes at once go through {@link dev.anymap.MappedRegion#copyTo}: a thread that
 * waits there on storage waits in native code and holds up no safepoint of the JVM. Small reads touch
 * the memory itself, as any mapped file's; a failed fetch there is an {@code InternalError} from the
 * JVM, turned into an {@link IOException} naming the file.
 */
final class RegionIndexInput extends IndexInput implements RandomAccessInput {
    /** From this many bytes on, a read goes through the region's native copy; below, the system call would cost more than the copy. */
    static final int BULK_BYTES = 16 << 10;
    private static final boolean LITTLE_ENDIAN = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MappedFile file;
    /** Where this input starts in the file. */
    private final long start;
    private final long length;
    /** Whether closing this input unmaps the file: only the input that openInput returned. */
    private final boolean owner;
    /** {@code [start, start + length)} of the region; null once this input is closed. */
    private MemorySegment memory;
    private long position;

    RegionIndexInput(String description, MappedFile file) {
        this(description, file, 0, file.region().size(), true);
    }

    private RegionIndexInput(String description, MappedFile file, long start, long length, boolean owner) {
        super(description);
        this.file = file;
        this.start = start;
        this.length = length;
        this.owner = owner;
        this.memory = file.region().segment().asSlice(start, length);
    }

    /** A clone: never the owner, whatever {@code original} is. */
    private RegionIndexInput(RegionIndexInput original) {
        super(original.toString());
        this.file = original.file;
        this.start = original.start;
        this.length = original.length;
        this.owner = false;
        this.memory = original.memory;
        this.position = original.position;
    }

    @Override
    public long length() {
        return length;
    }

    @Override
    public long getFilePointer() {
        ensureOpen();
        return position;
    }

    @Override
    public void seek(long position) throws IOException {
        ensureOpen();
        if (position < 0 || position > length) {
            throw new EOFException("seek to " + position + " outside of " + this + " (length " + length + ")");
        }
        this.position = position;
    }

    @Override
    public byte readByte() throws IOException {
        try {
            byte value = memory.get(ValueLayout.JAVA_BYTE, position);
            position++;
            return value;
        } catch (RuntimeException | InternalError e) {
            throw failure(e, position, 1);
        }
    }

    @Override
    public void readBytes(byte[] bytes, int offset, int count) throws IOException {
        Objects.checkFromIndexSize(offset, count, bytes.length);
        copy(position, MemorySegment.ofArray(bytes).asSlice(offset, count));
        position += count;
    }

    @Override
    public void readBytes(long at, byte[] bytes, int offset, int count) throws IOException {
        Objects.checkFromIndexSize(offset, count, bytes.length);
        copy(at, MemorySegment.ofArray(bytes).asSlice(offset, count));
    }

    @Override
    public void readInts(int[] values, int offset, int count) throws IOException {
        Objects.checkFromIndexSize(offset, count, values.length);
        readValues(MemorySegment.ofArray(values), INT, offset, count);
    }

    @Override
    public void readLongs(long[] values, int offset, int count) throws IOException {
        Objects.checkFromIndexSize(offset, count, values.length);
        readValues(MemorySegment.ofArray(values), LONG, offset, count);
    }

    @Override
    public void readFloats(float[] values, int offset, int count) throws IOException {
        Objects.checkFromIndexSize(offset, count, values.length);
        readValues(MemorySegment.ofArray(values), FLOAT, offset, count);
    }

    /**
     * Reads {@code count} little-endian values of {@code layout} into {@code values} (an array's
     * segment) from element {@code offset}: many of them as bytes through the region's native copy,
     * where the host is little-endian too, few with Java's copy, which orders their bytes.
     */
    private void readValues(MemorySegment values, ValueLayout layout, int offset, int count) throws IOException {
        long bytes = count * layout.byteSize();
        MemorySegment target = values.asSlice(offset * layout.byteSize(), bytes);
        if (LITTLE_ENDIAN && bytes >= BULK_BYTES) {
            copy(position, target);
        } else {
            try {
                MemorySegment.copy(memory, layout, position, target, layout.withOrder(ByteOrder.nativeOrder()), 0, count);
            } catch (RuntimeException | InternalError e) {
                throw failure(e, position, bytes);
            }
        }
        position += bytes;
    }

    /**
     * Copies {@code target.byteSize()} bytes at {@code at} of this input: through the region's native
     * copy for many bytes, with Java's copy for few.
     */
    private void copy(long at, MemorySegment target) throws IOException {
        long count = target.byteSize();
        MemorySegment source = memory;
        if (source == null || !source.scope().isAlive()) {
            throw closed(null);
        }
        if (at < 0 || count > length - at) {
            throw new EOFException("read of " + count + " bytes at " + at + " past the end of " + this + " (length " + length + ")");
        }
        try {
            if (count >= BULK_BYTES) {
                file.region().copyTo(start + at, target);
            } else {
                MemorySegment.copy(source, at, target, 0, count);
            }
        } catch (RuntimeException | InternalError e) {
            throw failure(e, at, count);
        } catch (IOException e) {
            throw new IOException("reading " + count + " bytes at " + at + " of " + this + " failed: " + e.getMessage(), e);
        }
    }

    @Override
    public short readShort() throws IOException {
        try {
            short value = memory.get(SHORT, position);
            position += Short.BYTES;
            return value;
        } catch (RuntimeException | InternalError e) {
            throw failure(e, position, Short.BYTES);
        }
    }

    @Override
    public int readInt() throws IOException {
        try {
            int value = memory.get(INT, position);
            position += Integer.BYTES;
            return value;
        } catch (RuntimeException | InternalError e) {
            throw failure(e, position, Integer.BYTES);
        }
    }

    @Override
    public long readLong() throws IOException {
        try {
            long value = memory.get(LONG, position);
            position += Long.BYTES;
            return value;
        } catch (RuntimeException | InternalError e) {
            throw failure(e, position, Long.BYTES);
        }
    }

    @Override
    public void readGroupVInt(int[] values, int offset) throws IOException {
        MemorySegment source = memory;
        if (source == null) {
            throw closed(null);
        }
        try {
            // Near the end it reads through this input, which moves the position itself, and returns 0.
            int consumed = GroupVIntUtil.readGroupVInt(this, length - position, at -> source.get(INT, at), position, values, offset);
            position += consumed;
        } catch (RuntimeException | InternalError e) {
            throw failure(e, position, GroupVIntUtil.MAX_LENGTH_PER_GROUP);
        }
    }

    @Override
    public byte readByte(long at) throws IOException {
        try {
            return memory.get(ValueLayout.JAVA_BYTE, at);
        } catch (RuntimeException | InternalError e) {
            throw failure(e, at, 1);
        }
    }

    @Override
    public short readShort(long at) throws IOException {
        try {
            return memory.get(SHORT, at);
        } catch (RuntimeException | InternalError e) {
            throw failure(e, at, Short.BYTES);
        }
    }

    @Override
    public int readInt(long at) throws IOException {
        try {
            return memory.get(INT, at);
        } catch (RuntimeException | InternalError e) {
            throw failure(e, at, Integer.BYTES);
        }
    }

    @Override
    public long readLong(long at) throws IOException {
        try {
            return memory.get(LONG, at);
        } catch (RuntimeException | InternalError e) {
            throw failure(e, at, Long.BYTES);
        }
    }

    @Override
    public void prefetch(long offset, long count) throws IOException {
        ensureOpen();
        Objects.checkFromIndexSize(offset, count, length);
        file.prefetch(start + offset, count);
    }

    @Override
    public RegionIndexInput clone() {
        ensureOpen();
        return new RegionIndexInput(this);
    }

    @Override
    public RegionIndexInput slice(String description, long offset, long length) throws IOException {
        ensureOpen();
        if (offset < 0 || length < 0 || offset > this.length - length) {
            throw new IllegalArgumentException("slice() " + description + " out of bounds: offset=" + offset + ", length=" + length
                    + ", fileLength=" + this.length + ": " + this);
        }
        return new RegionIndexInput(getFullSliceDescription(description), file, start + offset, length, false);
    }

    @Override
    public RandomAccessInput randomAccessSlice(long offset, long length) throws IOException {
        return slice("randomaccess", offset, length);
    }

    @Override
    public void close() throws IOException {
        if (memory == null) {
            return;
        }
        memory = null;
        if (owner) {
            file.close();
        }
    }

    private void ensureOpen() {
        MemorySegment source = memory;
        if (source == null || !source.scope().isAlive()) {
            throw closed(null);
        }
    }

    private AlreadyClosedException closed(Throwable cause) {
        return new AlreadyClosedException("already closed: " + this, cause);
    }

    /**
     * What an access of {@code count} bytes at {@code at} that threw {@code e} means: a read past the
     * end, a closed input or file (a null segment, or the region's arena closed), or a failed fetch.
     */
    private IOException failure(Throwable e, long at, long count) {
        if (e instanceof IndexOutOfBoundsException) {
            return new EOFException("read of " + count + " bytes at " + at + " past the end of " + this + " (length " + length + ")");
        }
        if (e instanceof NullPointerException && memory == null || e instanceof IllegalStateException) {
            throw closed(e);
        }
        if (e instanceof InternalError) {
            // The JVM's word for a SIGBUS at a mapped access: the page server failed the chunk's fetch (or a local file shrank).
            return new IOException("reading " + count + " bytes at " + at + " of " + this + " failed: storage could not give "
                    + "the bytes (" + Redaction.uri(file.region().uri()) + "); see the region's stats().lastFailure()", e);
        }
        if (e instanceof RuntimeException runtime) {
            throw runtime;
        }
        throw (Error) e;
    }
}
