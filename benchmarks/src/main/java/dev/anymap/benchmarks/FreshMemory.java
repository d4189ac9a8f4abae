package dev.anymap.benchmarks;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * New memory for one download to land in, as a program that downloads an object must take it: the
 * mapping starts with none either, and its page server allocates every page it installs. Anonymous
 * pages from mmap(2), which the kernel allocates and zeroes as the download threads first write
 * them, is the fastest way to have it: {@code Arena.allocate} zeroes it all first, on one thread,
 * measured about 100 ms slower for 256 MiB.
 */
final class FreshMemory implements AutoCloseable {
    private static final int PROT_READ_WRITE = 0x3;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x22;
    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;

    static {
        Linker linker = Linker.nativeLinker();
        MMAP = linker.downcallHandle(linker.defaultLookup().findOrThrow("mmap"), FunctionDescriptor.of(ValueLayout.ADDRESS,
                ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                ValueLayout.JAVA_LONG));
        MUNMAP = linker.downcallHandle(linker.defaultLookup().findOrThrow("munmap"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    }

    private final MemorySegment memory;

    private FreshMemory(MemorySegment memory) {
        this.memory = memory;
    }

    static FreshMemory of(long size) {
        MemorySegment address;
        try {
            address = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, size, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L);
        } catch (Throwable e) {
            throw new IllegalStateException("mmap", e);
        }
        if (address.address() == -1L) {
            throw new OutOfMemoryError("mmap of " + size + " bytes failed");
        }
        return new FreshMemory(address.reinterpret(size));
    }

    MemorySegment segment() {
        return memory;
    }

    @Override
    public void close() {
        int result;
        try {
            result = (int) MUNMAP.invokeExact(memory, memory.byteSize());
        } catch (Throwable e) {
            throw new IllegalStateException("munmap", e);
        }
        if (result != 0) {
            throw new IllegalStateException("munmap of " + memory.byteSize() + " bytes failed");
        }
    }
}
