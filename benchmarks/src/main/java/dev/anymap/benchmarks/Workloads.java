package dev.anymap.benchmarks;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * What the benchmarks do with an object's bytes, the same for mapped memory and for a baseline's
 * copy: every workload returns a checksum, so that no read can be left out.
 */
final class Workloads {
    static final int PAGE = 4096;
    private static final int BLOCK = 1 << 20;

    private Workloads() {}

    /** A workload over an object's bytes; returns a checksum of what it read. */
    interface Workload {
        long run(MemorySegment memory) throws Exception;
    }

    /**
     * The workloads that file and HTTP objects are measured with, by name: a full scan, four threads each
     * scanning a quarter, and one thread touching 1% and 10% of the pages at random.
     */
    static Map<String, Workload> standard(long size) {
        Map<String, Workload> workloads = new LinkedHashMap<>();
        workloads.put("scan", Workloads::scan);
        workloads.put("4 threads, quarters", memory -> scanInParts(memory, 4));
        long[] sparse = pages(size, 0.01, 1, 7);
        long[] dense = pages(size, 0.10, 1, 11);
        workloads.put("1% random pages", memory -> touch(memory, sparse));
        workloads.put("10% random pages", memory -> touch(memory, dense));
        return workloads;
    }

    /** Copies every byte out, in order, a MiB at a time, as a reader of the whole object would. */
    static long scan(MemorySegment memory) {
        return scan(memory, 0, memory.byteSize());
    }

    static long scan(MemorySegment memory, long from, long to) {
        byte[] block = new byte[BLOCK];
        long sum = 0;
        for (long offset = from; offset < to; offset += BLOCK) {
            int length = (int) Math.min(BLOCK, to - offset);
            MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, offset, block, 0, length);
            sum += block[0] + block[length - 1];
        }
        return sum;
    }

    /** {@link #scan} by {@code threads} threads at once, each over its own contiguous part. */
    static long scanInParts(MemorySegment memory, int threads) throws Exception {
        long part = memory.byteSize() / threads / PAGE * PAGE;
        List<Callable<Long>> parts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            long from = t * part;
            long to = t == threads - 1 ? memory.byteSize() : from + part;
            parts.add(() -> scan(memory, from, to));
        }
        return sumAll(parts, threads);
    }

    /**
     * The pages that a workload touching {@code fraction} of an object's pages reads, in the order it
     * reads them: distinct pages at random, or distinct aligned clusters of {@code cluster}
     * consecutive pages at random places (cluster 1: single pages). At least one page.
     */
    static long[] pages(long size, double fraction, int cluster, long seed) {
        long slots = size / PAGE / cluster;
        int clusters = (int) Math.max(1, Math.min(slots, Math.round(size / PAGE * fraction / cluster)));
        // A partial Fisher-Yates shuffle of the cluster slots: the first `clusters` of a random order.
        long[] order = new long[(int) slots];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        SplittableRandom random = new SplittableRandom(seed);
        long[] pages = new long[clusters * cluster];
        for (int c = 0; c < clusters; c++) {
            int pick = c + random.nextInt(order.length - c);
            long slot = order[pick];
            order[pick] = order[c];
            order[c] = slot;
            for (int i = 0; i < cluster; i++) {
                pages[c * cluster + i] = slot * cluster + i;
            }
        }
        return pages;
    }

    /** Reads one byte of each page given, in order. */
    static long touch(MemorySegment memory, long[] pages) {
        long sum = 0;
        for (long page : pages) {
            sum += memory.get(ValueLayout.JAVA_BYTE, page * PAGE + (page % 61) * 67);
        }
        return sum;
    }

    /** Copies out each page given, as a 4 KiB record, the pages dealt out to {@code threads} threads in turn. */
    static long readRecords(MemorySegment memory, long[] pages, int threads) throws Exception {
        List<Callable<Long>> parts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int first = t;
            parts.add(() -> {
                byte[] record = new byte[PAGE];
                long sum = 0;
                for (int i = first; i < pages.length; i += threads) {
                    MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, pages[i] * PAGE, record, 0, PAGE);
                    sum += record[(int) (pages[i] % PAGE)];
                }
                return sum;
            });
        }
        return sumAll(parts, threads);
    }

    static long sumAll(List<Callable<Long>> tasks, int threads) throws Exception {
        try (ExecutorService executor = Executors.newFixedThreadPool(threads)) {
            List<Future<Long>> futures = executor.invokeAll(tasks);
            long sum = 0;
            for (Future<Long> future : futures) {
                sum += future.get();
            }
            return sum;
        }
    }
}
