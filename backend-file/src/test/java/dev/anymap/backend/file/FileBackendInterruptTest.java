package dev.anymap.backend.file;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.ObjectChangedException;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.TestContent;
import java.io.InterruptedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FileChannel closes itself for every thread when one thread is interrupted in it; the file backend
 * must neither fail the interrupted reader nor the others.
 */
class FileBackendInterruptTest {
    @TempDir
    Path dir;

    private FileBackend open(byte[] content) throws Exception {
        Path file = Files.write(dir.resolve("object.bin"), content);
        return (FileBackend) BackendRegistry.load().open(file.toUri());
    }

    private static byte[] read(StorageBackend backend, long offset, int length) throws Exception {
        byte[] bytes = new byte[length];
        backend.read(offset, MemorySegment.ofArray(bytes));
        return bytes;
    }

    /** Closes the backend's channel the way it happens in production: a thread interrupted inside a channel call. */
    private static void closeChannelByInterrupt(FileBackend backend) throws Exception {
        FileChannel shared = backend.channel().current();
        AtomicReference<Throwable> outcome = new AtomicReference<>();
        Thread interrupted = Thread.ofPlatform().start(() -> {
            Thread.currentThread().interrupt();
            try {
                shared.read(ByteBuffer.allocate(16), 0);
            } catch (Throwable expected) {
                outcome.set(expected);
            }
        });
        interrupted.join();
        assertInstanceOf(ClosedByInterruptException.class, outcome.get());
        assertFalse(shared.isOpen(), "the interrupt closed the shared channel");
    }

    @Test
    void anInterruptedReaderFailsAndKeepsItsInterruptStatusWithoutClosingTheChannel() throws Exception {
        byte[] content = TestContent.random(21, 100_000);
        try (FileBackend backend = open(content)) {
            FileChannel before = backend.channel().current();
            Thread.currentThread().interrupt();
            try {
                assertThrows(InterruptedIOException.class, () -> read(backend, 777, 50_000));
                assertTrue(Thread.currentThread().isInterrupted(), "the caller still sees its interrupt");
            } finally {
                Thread.interrupted();
            }
            assertTrue(before.isOpen(), "the pending interrupt did not close the shared channel");
            assertArrayEquals(Arrays.copyOfRange(content, 777, 50_777), read(backend, 777, 50_000));
        }
    }

    @Test
    void aChannelClosedByAnotherThreadsInterruptIsReplacedForTheOtherReaders() throws Exception {
        byte[] content = TestContent.random(22, 100_000);
        try (FileBackend backend = open(content)) {
            closeChannelByInterrupt(backend);
            assertArrayEquals(Arrays.copyOfRange(content, 4096, 70_000), read(backend, 4096, 70_000 - 4096));
            assertTrue(backend.channel().current().isOpen());
        }
    }

    @Test
    void aFileReplacedBeforeTheChannelIsReopenedIsAChangedObjectNotOtherBytes() throws Exception {
        byte[] content = TestContent.random(23, 10_000);
        try (FileBackend backend = open(content)) {
            Path replacement = Files.write(dir.resolve("replacement.bin"), TestContent.random(24, 10_000));
            Files.move(replacement, dir.resolve("object.bin"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            closeChannelByInterrupt(backend);
            ObjectChangedException error = assertThrows(ObjectChangedException.class, () -> read(backend, 0, 100));
            assertTrue(error.getMessage().contains("another file"), error.getMessage());
        }
    }

    @Test
    void readersGoOnWhileOtherReadersAreInterruptedAgainAndAgain() throws Exception {
        byte[] content = TestContent.random(25, 8 << 20);
        try (FileBackend backend = open(content)) {
            List<Thread> victims = new ArrayList<>();
            List<CompletableFuture<Integer>> outcomes = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                boolean victim = t % 2 == 0;
                SplittableRandom random = new SplittableRandom(t);
                CompletableFuture<Integer> outcome = new CompletableFuture<>();
                outcomes.add(outcome);
                Thread thread = Thread.ofPlatform().unstarted(() -> {
                    int interrupted = 0;
                    try {
                        for (int i = 0; i < 300; i++) {
                            int offset = random.nextInt(content.length - (1 << 20));
                            int length = 1 + random.nextInt(1 << 20);
                            byte[] bytes;
                            try {
                                bytes = read(backend, offset, length);
                            } catch (InterruptedIOException expected) {
                                if (!victim) {
                                    throw expected;
                                }
                                interrupted++;
                                Thread.interrupted();
                                continue;
                            }
                            if (!Arrays.equals(content, offset, offset + length, bytes, 0, length)) {
                                throw new AssertionError("wrong bytes at " + offset + ", length " + length);
                            }
                        }
                        outcome.complete(interrupted);
                    } catch (Throwable failure) {
                        outcome.completeExceptionally(failure);
                    }
                });
                if (victim) {
                    victims.add(thread);
                }
                thread.start();
            }
            // Interrupt the victims for as long as anyone reads, whatever they are doing at the time.
            while (!outcomes.stream().allMatch(CompletableFuture::isDone)) {
                victims.forEach(Thread::interrupt);
                Thread.onSpinWait();
            }
            int interrupted = 0;
            for (CompletableFuture<Integer> outcome : outcomes) {
                interrupted += outcome.get(60, TimeUnit.SECONDS);
            }
            assertTrue(interrupted > 0, "the victims were interrupted");
            assertArrayEquals(Arrays.copyOf(content, 1000), read(backend, 0, 1000));
        }
    }
}
