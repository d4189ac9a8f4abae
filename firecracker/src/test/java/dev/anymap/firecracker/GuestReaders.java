package dev.anymap.firecracker;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongPredicate;

/**
 * The vCPUs of a {@link FakeFirecracker}: threads that read its guest memory a block at a time with
 * memcpy, in an order of their own, and check every block against the memory file's bytes, or
 * against zeros where the balloon took it.
 */
final class GuestReaders {
    static final int BLOCK = 64 * 1024;

    private GuestReaders() {}

    /**
     * Reads every block of the guest's regions with {@code threads} threads, each block once, in a
     * random order, and checks it: zeros where {@code ballooned} holds of the block's file offset,
     * {@code source}'s bytes elsewhere. Returns the bytes checked.
     *
     * @throws AssertionError naming the first wrong block
     */
    static long checkAll(FakeFirecracker guest, SnapshotBytes source, LongPredicate ballooned, int threads, long seed) throws InterruptedException {
        return check(guest, source, ballooned, threads, allBlocks(guest, seed));
    }

    /** Every block of the guest's regions, by file offset, in a random order of {@code seed}. */
    static List<Long> allBlocks(FakeFirecracker guest, long seed) {
        List<Long> blocks = new ArrayList<>();
        for (FakeFirecracker.Region region : guest.regions()) {
            for (long at = 0; at < region.size(); at += BLOCK) {
                blocks.add(region.offset() + at);
            }
        }
        Collections.shuffle(blocks, new Random(seed));
        return blocks;
    }

    /** Checks the blocks at {@code fileOffsets} (multiples of {@link #BLOCK} within a region) with {@code threads} threads. */
    static long check(FakeFirecracker guest, SnapshotBytes source, LongPredicate ballooned, int threads, List<Long> fileOffsets)
            throws InterruptedException {
        return check(guest, source, ballooned, threads, fileOffsets, new AtomicLong());
    }

    /** As {@link #check(FakeFirecracker, SnapshotBytes, LongPredicate, int, List)}, counting the bytes checked in {@code checked} as it goes. */
    static long check(FakeFirecracker guest, SnapshotBytes source, LongPredicate ballooned, int threads, List<Long> fileOffsets,
                      AtomicLong checked) throws InterruptedException {
        List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
        List<Thread> readers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int first = t;
            readers.add(Thread.ofPlatform().name("vcpu-" + t).start(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment got = arena.allocate(BLOCK);
                    MemorySegment want = arena.allocate(BLOCK);
                    for (int i = first; i < fileOffsets.size() && failures.isEmpty(); i += threads) {
                        long offset = fileOffsets.get(i);
                        FakeFirecracker.copy(guest.address(offset), got);
                        if (ballooned.test(offset)) {
                            if (!FakeFirecracker.zeros(got)) {
                                throw new AssertionError("the ballooned block at file offset " + offset + " does not read as zeros");
                            }
                        } else {
                            source.fill(offset, want);
                            long mismatch = got.mismatch(want);
                            if (mismatch >= 0) {
                                throw new AssertionError("wrong byte at file offset " + (offset + mismatch));
                            }
                        }
                        checked.addAndGet(BLOCK);
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        for (Thread reader : readers) {
            reader.join();
        }
        if (!failures.isEmpty()) {
            AssertionError failure = new AssertionError(failures.getFirst().getMessage(), failures.getFirst());
            failures.stream().skip(1).forEach(failure::addSuppressed);
            throw failure;
        }
        return checked.get();
    }
}
