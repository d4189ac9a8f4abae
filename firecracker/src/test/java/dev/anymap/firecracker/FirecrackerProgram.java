package dev.anymap.firecracker;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A {@link FakeFirecracker} in a JVM of its own, for tests where "Firecracker" and the handler must
 * be two processes. It starts the guest, hands it over to the handler at SOCKET, prints {@code
 * HANDED}, then takes commands on standard input, answering each with one line:
 * <ul>
 *   <li>{@code CHECK THREADS}: reads every block with THREADS vCPU threads, {@code CHECKED BYTES};</li>
 *   <li>{@code READ OFFSET LENGTH}: the memory file's bytes at OFFSET through memcpy, {@code READ OK};</li>
 *   <li>{@code SIGBUS-DEFAULT}: the JVM's SIGBUS handler replaced by the default action, so that a
 *       memory error kills this process by SIGBUS as it would kill a vCPU's process, {@code DEFAULT};</li>
 *   <li>{@code BALLOON OFFSET LENGTH}: {@code BALLOONED};</li>
 *   <li>{@code EXIT}: the VM exits.</li>
 * </ul>
 * A wrong byte prints {@code WRONG ...} and exits with status 1.
 *
 * <pre>FirecrackerProgram SOCKET PAGE_SIZE SIZE,SIZE,... OFFSET,OFFSET,... seed:SEED|file:PATH</pre>
 */
public final class FirecrackerProgram {
    private static final int SIGBUS = 7;

    public static void main(String[] args) throws Throwable {
        long pageSize = Long.parseLong(args[1]);
        long[] sizes = Arrays.stream(args[2].split(",")).mapToLong(Long::parseLong).toArray();
        long[] offsets = Arrays.stream(args[3].split(",")).mapToLong(Long::parseLong).toArray();
        SnapshotBytes source = args[4].startsWith("seed:") ? SnapshotBytes.generated(Long.parseLong(args[4].substring(5)))
                : SnapshotBytes.file(Path.of(args[4].substring(5)));
        BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (FakeFirecracker guest = FakeFirecracker.start(pageSize, sizes, offsets)) {
            guest.handOver(Path.of(args[0]));
            say("HANDED");
            for (String line; (line = commands.readLine()) != null && !line.equals("EXIT"); ) {
                String[] words = line.split(" ");
                switch (words[0]) {
                    case "CHECK" -> say("CHECKED " + GuestReaders.checkAll(guest, source, offset -> false, Integer.parseInt(words[1]), 7));
                    case "READ" -> {
                        long offset = Long.parseLong(words[1]);
                        int length = Integer.parseInt(words[2]);
                        try (Arena arena = Arena.ofConfined()) {
                            MemorySegment got = arena.allocate(length);
                            MemorySegment want = arena.allocate(length);
                            FakeFirecracker.copy(guest.address(offset), got);
                            source.fill(offset, want);
                            if (got.mismatch(want) >= 0) {
                                say("WRONG at " + (offset + got.mismatch(want)));
                                System.exit(1);
                            }
                        }
                        say("READ OK");
                    }
                    case "SIGBUS-DEFAULT" -> {
                        defaultSigbus();
                        say("DEFAULT");
                    }
                    case "BALLOON" -> {
                        guest.balloon(guest.address(Long.parseLong(words[1])), Long.parseLong(words[2]));
                        say("BALLOONED");
                    }
                    default -> throw new IllegalArgumentException("no command " + line);
                }
            }
        }
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    /** signal(SIGBUS, SIG_DFL): the JVM would turn a SIGBUS in native code into a crash report and an abort. */
    private static void defaultSigbus() throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle signal = linker.downcallHandle(linker.defaultLookup().find("signal").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        MemorySegment previous = (MemorySegment) signal.invokeExact(SIGBUS, MemorySegment.NULL);
        if (previous.address() == -1L) {
            throw new IllegalStateException("signal(SIGBUS, SIG_DFL) failed");
        }
    }
}
