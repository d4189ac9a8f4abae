package dev.anymap.benchmarks;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

/** The baselines of the S3 benchmarks: what an application does with the SDK client instead of mapping. */
final class S3Downloads {
    /** Parallel ranged GETs: enough to keep the server's two cores and a 50 ms round trip busy. */
    static final int PARTS = 8;
    /** {@link #parallelRanges} in a report. */
    static final String PARALLEL_RANGES = "a HEAD, then " + PARTS + " ranged GETs at once";

    private S3Downloads() {}

    /** One ranged GET of {@code length} bytes at {@code from}, read whole; returns the last byte. */
    static byte rangedGet(S3Client client, String key, long from, int length) throws IOException {
        byte[] bytes = new byte[length];
        try (InputStream body = get(client, key, "bytes=" + from + "-" + (from + length - 1), null)) {
            int got = body.readNBytes(bytes, 0, length);
            if (got != length || body.read() >= 0) {
                throw new IOException("a ranged GET of " + length + " bytes returned " + got);
            }
        }
        return bytes[length - 1];
    }

    /** The whole object into {@code into}, in one GetObject stream. */
    static void stream(S3Client client, String key, MemorySegment into) throws IOException {
        try (InputStream body = get(client, key, null, null)) {
            readInto(body, into, 0, into.byteSize());
        }
    }

    /**
     * The whole object into {@code into}, in {@link #PARTS} ranged GETs at once. Ranges need the size
     * first, and a program that reads an object in parts must ask every part for the same version, so
     * this starts as {@code map()} does: a HEAD for the size and ETag, then GETs with {@code If-Match}.
     */
    static void parallelRanges(S3Client client, String key, MemorySegment into) throws Exception {
        HeadObjectResponse head = client.headObject(request -> request.bucket(S3Fixture.BUCKET).key(key));
        if (head.contentLength() != into.byteSize()) {
            throw new IOException("the object is " + head.contentLength() + " bytes, not " + into.byteSize());
        }
        long part = (into.byteSize() + PARTS - 1) / PARTS;
        List<Callable<Long>> gets = new ArrayList<>();
        for (long from = 0; from < into.byteSize(); from += part) {
            long start = from;
            long end = Math.min(into.byteSize(), from + part);
            gets.add(() -> {
                try (InputStream body = get(client, key, "bytes=" + start + "-" + (end - 1), head.eTag())) {
                    readInto(body, into, start, end);
                }
                return 0L;
            });
        }
        Workloads.sumAll(gets, gets.size());
    }

    /**
     * The wire's own speed: the whole object of {@code size} bytes in one GET, or in {@link #PARTS} ranged
     * GETs at once ({@code parts}), each body read into a small buffer of its own and thrown away, with no
     * copy into memory of the object's size. Returns MB/s.
     */
    static double wire(S3Client client, String key, long size, int parts) throws Exception {
        long started = System.nanoTime();
        long part = (size + parts - 1) / parts;
        List<Callable<Long>> gets = new ArrayList<>();
        for (long from = 0; from < size; from += part) {
            long start = from;
            long end = Math.min(size, from + part);
            gets.add(() -> {
                byte[] buffer = new byte[1 << 20];
                long read = 0;
                try (InputStream body = get(client, key, parts == 1 ? null : "bytes=" + start + "-" + (end - 1), null)) {
                    for (int n; (n = body.read(buffer)) > 0; ) {
                        read += n;
                    }
                }
                if (read != end - start) {
                    throw new IOException("a GET of " + (end - start) + " bytes returned " + read);
                }
                return read;
            });
        }
        Workloads.sumAll(gets, gets.size());
        return size / ((System.nanoTime() - started) / 1e3);
    }

    /** One way of downloading the whole object into memory: {@link #stream} or {@link #parallelRanges}. */
    @FunctionalInterface
    interface Download {
        void into(S3Client client, String key, MemorySegment memory) throws Exception;
    }

    /**
     * Milliseconds to download the whole object of {@code size} bytes into new memory, as a program
     * that downloads it must take, and then run {@code workload} on it.
     */
    static double timeDownloaded(Download download, S3Client client, String key, long size, Workloads.Workload workload)
            throws Exception {
        long started = System.nanoTime();
        try (FreshMemory memory = FreshMemory.of(size)) {
            download.into(client, key, memory.segment());
            workload.run(memory.segment());
        }
        return (System.nanoTime() - started) / 1e6;
    }

    /** A GET of the benchmarks' bucket; {@code range} and {@code ifMatch} are left out where null. */
    private static ResponseInputStream<GetObjectResponse> get(S3Client client, String key, String range, String ifMatch) {
        return client.getObject(request -> request.bucket(S3Fixture.BUCKET).key(key).range(range).ifMatch(ifMatch));
    }

    private static void readInto(InputStream body, MemorySegment into, long from, long to) throws IOException {
        byte[] buffer = new byte[1 << 20];
        long at = from;
        for (int read; at < to && (read = body.read(buffer, 0, (int) Math.min(buffer.length, to - at))) > 0; at += read) {
            MemorySegment.copy(buffer, 0, into, ValueLayout.JAVA_BYTE, at, read);
        }
        if (at != to) {
            throw new IOException("the body ended at " + at + " of " + to);
        }
    }
}
