package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.RegisteredMemory;
import dev.anymap.linux.Errno;
import dev.anymap.linux.Libc;
import dev.anymap.linux.Userfaultfd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class FaultLoopTest {
    private static final int PAGE = Userfaultfd.PAGE;

    /**
     * Memory of this process registered with a userfaultfd that a {@link FaultLoop} of this JVM
     * serves. Each touch is the kernel's, reading the page for write(2): a fault taken in a native
     * call, which holds no safepoint while it waits, and which a poisoned page fails with EFAULT.
     */
    @Test
    void aFaultWhoseHandlerThrowsFailsItsThreadAndTheLoopServesTheNextFault() throws Exception {
        Assumptions.assumeTrue((Userfaultfd.availableFeatures() & Userfaultfd.FEATURE_POISON) != 0, "this kernel has no UFFDIO_POISON");
        RegisteredMemory memory = RegisteredMemory.create(2L * PAGE, Userfaultfd.FEATURE_POISON);
        long address = memory.address();
        int uffd = memory.userfaultfd();
        FaultLoop loop = null;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment source = arena.allocate(PAGE, PAGE);
            source.fill((byte) 0x5a);
            AtomicInteger faults = new AtomicInteger();
            loop = new FaultLoop(uffd, (faultAddress, thread, fill) -> {
                if (faults.incrementAndGet() == 1) {
                    throw new IllegalStateException("a defect of the handler");
                }
                fill.fillRange(uffd, faultAddress & -PAGE, source.address(), PAGE);
            }, "test");

            assertEquals((long) -Errno.EFAULT, touch(address), "the first fault's thread was not failed");
            assertEquals((byte) 0x5a, touch(address + PAGE), "the loop did not serve the fault after the one that failed");
            assertEquals((long) -Errno.EFAULT, touch(address + 1), "the failed page is not poisoned for good");
            assertEquals(2, faults.get());
        } finally {
            if (loop != null) {
                assertTrue(loop.stopAndJoin());
            }
            Libc.close(uffd); // wakes a touch left waiting, before the memory goes
            Libc.munmap(address, memory.length());
        }
    }

    /** The byte at {@code address}, read by the kernel on a thread of its own, or the write's {@code -errno}. */
    private static Object touch(long address) throws InterruptedException, ExecutionException {
        CompletableFuture<Object> result = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            int file = Libc.memfdCreate("touch", Libc.MFD_CLOEXEC);
            try (Arena arena = Arena.ofConfined()) {
                long written = Libc.write(file, MemorySegment.ofAddress(address).reinterpret(1), 1);
                if (written != 1) {
                    result.complete(written);
                    return;
                }
                MemorySegment back = arena.allocate(1);
                Libc.lseek(file, 0, 0);
                Libc.read(file, back, 1);
                result.complete(back.get(ValueLayout.JAVA_BYTE, 0));
            } catch (Throwable t) {
                result.complete(t);
            } finally {
                Libc.close(file);
            }
        });
        try {
            return result.get(30, TimeUnit.SECONDS);
        } catch (TimeoutException hung) {
            throw new AssertionError("the touch at 0x" + Long.toHexString(address) + " still waits for its page");
        }
    }
}
