package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.linux.Libc;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.SimpleFormatter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ServerLogTest {
    private static final long MAX = 4096;

    @TempDir
    Path directory;

    @Test
    void aLogPastItsSizeIsRotatedAndTheOldestDropped() throws Exception {
        Path log = directory.resolve("server.log");
        Files.createFile(log);
        int fd = Libc.open(log.toString(), Libc.O_WRONLY | Libc.O_APPEND | Libc.O_CLOEXEC);
        assertTrue(fd >= 0);
        try {
            ServerLog handler = new ServerLog(log, fd, MAX, 2);
            handler.setFormatter(new SimpleFormatter());
            for (int i = 0; i < 1000; i++) {
                handler.publish(new LogRecord(Level.WARNING, "line " + i + " " + "x".repeat(80)));
            }
            long line = 200; // SimpleFormatter's two lines of one record, and then some
            for (Path file : new Path[] {log, handler.rotated(1), handler.rotated(2)}) {
                assertTrue(Files.size(file) <= MAX + line, file + " holds " + Files.size(file) + " bytes");
                assertTrue(Files.size(file) > 0, file + " is empty");
            }
            assertFalse(Files.exists(handler.rotated(3)), "a third old file was kept");
            assertTrue(Files.isSameFile(Path.of("/proc/self/fd/" + fd), log), "the descriptor still writes to a rotated file");
            assertTrue(Files.readString(log, StandardCharsets.UTF_8).contains("line 999 "), "the last line is not in server.log");
            assertFalse(Files.readString(handler.rotated(2), StandardCharsets.UTF_8).contains("line 0 "), "the oldest lines were kept");
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    void aProcessWhoseLogWasRotatedByAnotherFollowsIt() throws Exception {
        Path log = directory.resolve("server.log");
        Files.createFile(log);
        int fd = Libc.open(log.toString(), Libc.O_WRONLY | Libc.O_APPEND | Libc.O_CLOEXEC);
        try {
            ServerLog handler = new ServerLog(log, fd, MAX, 2);
            handler.setFormatter(new SimpleFormatter());
            handler.publish(new LogRecord(Level.INFO, "before"));
            Files.move(log, handler.rotated(1)); // as another process rotates it
            Files.createFile(log);
            handler.publish(new LogRecord(Level.INFO, "after"));
            assertTrue(Files.readString(log, StandardCharsets.UTF_8).contains("after"));
            assertFalse(Files.readString(handler.rotated(1), StandardCharsets.UTF_8).contains("after"));
            assertEquals(1, Files.readString(handler.rotated(1), StandardCharsets.UTF_8).split("before", -1).length - 1);
        } finally {
            Libc.close(fd);
        }
    }
}
