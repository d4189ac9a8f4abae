package dev.anymap;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Runs a main class of the tests in a JVM of its own inside a new {@link MemoryCgroup}, with the
 * processes it starts, and says how it ended: its exit status, what the cgroup's counters saw, what
 * it printed, and what its page server logged.
 */
final class ProgramInCgroup {
    private static final int TAIL_LINES = 30;

    private ProgramInCgroup() {}

    /**
     * @param socket the program's page server socket, whose {@code server.log} the outcome quotes
     */
    static Outcome run(long limitBytes, List<String> jvmOptions, Class<?> main, List<String> arguments, Path socket,
                       Duration timeout) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(arguments);
        Path output = Files.createTempFile("in-cgroup", ".log");
        try (MemoryCgroup cgroup = MemoryCgroup.create(limitBytes)) {
            Process program = cgroup.start(command, output);
            boolean ended = program.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            // Read before close kills the rest: the page server may still be there.
            MemoryCgroup.Usage usage = cgroup.usage();
            List<String> left = cgroup.processes().stream().map(ProgramInCgroup::named).toList();
            if (!ended) {
                program.destroyForcibly();
            }
            return new Outcome(cgroup.directory().getFileName().toString(), limitBytes, ended ? program.exitValue() : -1, !ended,
                    timeout, usage, left, Files.readString(output, StandardCharsets.UTF_8), serverLog(socket));
        } finally {
            Files.deleteIfExists(output);
        }
    }

    /** A pid with the main class it runs, if a JVM's: which of page server, keeper and standby was left. */
    private static String named(long pid) {
        try {
            String commandLine = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"), StandardCharsets.UTF_8);
            if (commandLine.isEmpty()) {
                return pid + " (ended, not yet reaped)";
            }
            List<String> arguments = List.of(commandLine.split("\0"));
            return arguments.stream().filter(argument -> argument.matches("([a-z]\\w*\\.)+[A-Z]\\w*Main")).findFirst()
                    .map(main -> pid + " (" + main.substring(main.lastIndexOf('.') + 1) + ")").orElse(Long.toString(pid));
        } catch (IOException e) {
            return Long.toString(pid); // gone since
        }
    }

    private static String serverLog(Path socket) {
        Path log = socket.resolveSibling("server.log");
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    /**
     * @param exitStatus the program's, or -1 if it did not end in time ({@code hung})
     * @param leftInCgroup the processes still in the cgroup when the program ended (its page server,
     *     keeper, standby: killed since)
     */
    record Outcome(String cgroup, long limitBytes, int exitStatus, boolean hung, Duration timeout, MemoryCgroup.Usage usage,
                   List<String> leftInCgroup, String printed, String serverLog) {

        /** The program's last line that starts with {@code word}, if any. */
        Optional<String> line(String word) {
            return printed.lines().filter(line -> line.startsWith(word + " ") || line.equals(word)).reduce((first, second) -> second);
        }

        /** The {@code key=value} pairs of the program's last line that starts with {@code word}. */
        Map<String, String> fields(String word) {
            Map<String, String> fields = new HashMap<>();
            line(word).ifPresent(line -> {
                for (String field : line.split(" ")) {
                    int equals = field.indexOf('=');
                    if (equals > 0) {
                        fields.put(field.substring(0, equals), field.substring(equals + 1));
                    }
                }
            });
            return fields;
        }

        /** How it ended, in words, with the end of what the program printed and its page server logged: for assertion messages. */
        String describe() {
            String how = hung ? "did not end within " + timeout.toSeconds() + " s (hung?)"
                    : exitStatus > 128 ? "was killed by signal " + (exitStatus - 128) + " (exit status " + exitStatus + ")"
                    : "exited with status " + exitStatus;
            return "in memory cgroup " + cgroup + " limited to " + MemoryCgroup.mib(limitBytes) + ", the program " + how
                    + "; " + usage + (leftInCgroup.isEmpty() ? "" : "; processes left in the cgroup: " + leftInCgroup)
                    + "\nthe end of what it printed:\n  " + tail(printed)
                    + "\nthe end of its page server's log:\n  " + tail(serverLog);
        }

        private static String tail(String text) {
            List<String> lines = text.lines().toList();
            return lines.isEmpty() ? "(nothing)" : String.join("\n  ", lines.subList(Math.max(0, lines.size() - TAIL_LINES), lines.size()));
        }
    }
}
