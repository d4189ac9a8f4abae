package dev.anymap.samples.writeback;

import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.MappedRegion;
import dev.anymap.spi.ObjectChangedException;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * An application that writes an S3 object through a writable mapping, run in a JVM of its own by
 * {@link S3WriteBackTest}, on the page server at a socket (started if none runs):
 *
 * <pre>S3WriterProgram SOCKET URI fill BYTE [KEY=VALUE]...      writes BYTE over the whole object, then flushes
 * S3WriterProgram SOCKET URI poke OFFSET BYTE [KEY=VALUE]... writes BYTE at OFFSET, then flushes once a line comes on stdin</pre>
 *
 * Prints {@code FLUSHING} just before the flush, then {@code FLUSHED <version>}, {@code CHANGED
 * <message>} for an {@link ObjectChangedException}, or {@code FAILED <exception>}.
 */
public final class S3WriterProgram {
    public static void main(String[] args) throws Exception {
        boolean fill = args[2].equals("fill");
        int optionsFrom = fill ? 4 : 5;
        Map<String, String> options = new HashMap<>();
        for (int i = optionsFrom; i < args.length; i++) {
            int equals = args[i].indexOf('=');
            options.put(args[i].substring(0, equals), args[i].substring(equals + 1));
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (Anymap anymap = Anymap.open(AnymapConfig.defaults().withSocket(Path.of(args[0])))) {
            MappedRegion region = anymap.map(URI.create(args[1]), MapOptions.defaults().withBackendOptions(options).withWritable(true));
            MemorySegment memory = region.segment();
            if (fill) {
                memory.fill((byte) Integer.parseInt(args[3]));
            } else {
                memory.set(ValueLayout.JAVA_BYTE, Long.parseLong(args[3]), (byte) Integer.parseInt(args[4]));
                System.out.println("WRITTEN");
                in.readLine();
            }
            System.out.println("FLUSHING");
            try {
                System.out.println("FLUSHED " + region.flush());
            } catch (ObjectChangedException e) {
                System.out.println("CHANGED " + e.getMessage());
            } catch (Exception e) {
                System.out.println("FAILED " + e);
            }
            region.closeWithoutFlush();
        }
    }
}
