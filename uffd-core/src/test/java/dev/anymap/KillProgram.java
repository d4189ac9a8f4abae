package dev.anymap;

import dev.anymap.testbackend.ReferenceContent;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Run in a JVM of its own by {@link PageServerKillTest}, which kills the page server while this
 * program reads. Each run maps a new generated object and has four threads read it all, checking
 * every byte against the reference, while another thread allocates garbage all along. It prints
 * {@code READING n} when a run's readers start, and, when they end, {@code DONE n resume-ms=R,...}:
 * for each kill the test reported on standard input ({@code KILLED nanoTime}), how long until every
 * reader that had more to read read again.
 * It waits for {@code NEXT} before each run, and exits with status 1 at the first wrong byte.
 *
 * <pre>KillProgram SOCKET SIZE_BYTES RUNS</pre>
 */
public final class KillProgram {
    private static final int BLOCK = 64 * 1024;
    private static final int READERS = 4;

    public static void main(String[] args) throws Exception {
        long size = Long.parseLong(args[1]);
        int runs = Integer.parseInt(args[2]);
        BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        ConcurrentLinkedQueue<Long> kills = new ConcurrentLinkedQueue<>();
        Thread garbage = Garbage.start();
        try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(Path.of(args[0])))) {
            for (int run = 0; run < runs; run++) {
                if (!"NEXT".equals(commands.readLine())) {
                    throw new IllegalStateException("expected NEXT");
                }
                long seed = 100 + run;
                try (MappedRegion region = anymap.map(URI.create("faulty:kill-" + run + "?size=" + size + "&seed=" + seed))) {
                    long[][] progress = new long[READERS][];
                    List<Thread> readers = new ArrayList<>();
                    List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
                    long part = size / READERS;
                    for (int t = 0; t < READERS; t++) {
                        long from = t * part;
                        long to = t == READERS - 1 ? size : from + part;
                        long[] times = new long[(int) ((to - from + BLOCK - 1) / BLOCK)];
                        progress[t] = times;
                        readers.add(Thread.ofPlatform().name("reader-" + t).start(() -> {
                            try {
                                read(region.segment(), size, seed, from, to, times);
                            } catch (Throwable e) {
                                failures.add(e);
                            }
                        }));
                    }
                    System.out.println("READING " + run);
                    System.out.flush();
                    Thread listener = Thread.ofPlatform().daemon().start(() -> listen(commands, kills));
                    for (Thread reader : readers) {
                        reader.join();
                    }
                    if (!failures.isEmpty()) {
                        failures.getFirst().printStackTrace();
                        System.out.println("WRONG " + run + " " + failures.getFirst());
                        System.exit(1);
                    }
                    System.out.println("ENDED " + run);
                    System.out.flush();
                    listener.join(); // the test says which kills this run had, then NEXT or END
                    List<String> resumes = new ArrayList<>();
                    for (long kill : kills) {
                        resumes.add(String.format("%.1f", resumeNanos(progress, kill) / 1e6));
                    }
                    kills.clear();
                    System.out.println("DONE " + run + " resume-ms=" + String.join(",", resumes));
                    System.out.flush();
                }
            }
        } finally {
            garbage.interrupt();
            garbage.join();
        }
    }

    private static void read(MemorySegment memory, long size, long seed, long from, long to, long[] times) {
        byte[] want = new byte[BLOCK];
        byte[] got = new byte[BLOCK];
        int block = 0;
        for (long offset = from; offset < to; offset += BLOCK) {
            int length = (int) Math.min(BLOCK, to - offset);
            ReferenceContent.fill(size, seed, offset, MemorySegment.ofArray(want).asSlice(0, length));
            MemorySegment.copy(memory, ValueLayout.JAVA_BYTE, offset, got, 0, length);
            if (!Arrays.equals(want, 0, length, got, 0, length)) {
                throw new AssertionError("wrong bytes at offset " + offset);
            }
            times[block++] = System.nanoTime();
        }
    }

    /** Takes the test's {@code KILLED} lines until it says the run's kills are all told ({@code TOLD}). */
    private static void listen(BufferedReader commands, ConcurrentLinkedQueue<Long> kills) {
        try {
            for (String line; (line = commands.readLine()) != null && !line.equals("TOLD"); ) {
                if (line.startsWith("KILLED ")) {
                    kills.add(Long.parseLong(line.substring("KILLED ".length())));
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * From a kill until every reader that still had blocks to read after it finished one: how long
     * the readers waited on the dead server and its successor. (System.nanoTime is the machine's
     * monotonic clock, the same in every process.)
     */
    private static long resumeNanos(long[][] progress, long kill) {
        long resumed = kill;
        for (long[] times : progress) {
            for (long time : times) {
                if (time > kill) {
                    resumed = Math.max(resumed, time);
                    break;
                }
            }
        }
        return resumed - kill;
    }
}
