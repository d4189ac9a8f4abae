package dev.anymap;

import dev.anymap.testbackend.ReferenceContent;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Run by {@link LongMapRequestTest} in a JVM whose class path is as long as the test chose: maps
 * {@link #URI_}, and says {@code MAPPED}, or {@code REFUSED} and why; then reads the region whole
 * while another thread allocates garbage, says {@code RIGHT} or {@code WRONG}, and keeps the region
 * until told {@code DONE}.
 *
 * <pre>LongClassPathProgram SOCKET</pre>
 */
public final class LongClassPathProgram {
    static final long SIZE = 64 << 20;
    static final long SEED = 11;
    static final String URI_ = "mem:long-class-path?size=" + SIZE + "&seed=" + SEED;

    private static final int BLOCK = 1 << 20;

    private LongClassPathProgram() {}

    public static void main(String[] args) throws Exception {
        try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(Path.of(args[0])))) {
            MappedRegion region;
            try {
                region = anymap.map(URI.create(URI_));
            } catch (Exception refused) {
                System.out.println("REFUSED " + refused);
                return;
            }
            try (region) {
                System.out.println("MAPPED");
                Thread garbage = Garbage.start();
                byte[] read = new byte[(int) SIZE];
                for (int offset = 0; offset < read.length; offset += BLOCK) {
                    MemorySegment.copy(region.segment(), ValueLayout.JAVA_BYTE, offset, read, offset, BLOCK);
                }
                garbage.interrupt();
                System.out.println(Arrays.equals(read, ReferenceContent.bytes(SIZE, SEED, 0, (int) SIZE)) ? "RIGHT" : "WRONG");
                String told = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
                if (!"DONE".equals(told)) {
                    throw new IllegalStateException("expected DONE, not " + told);
                }
            }
        }
    }
}
