package dev.anymap.backend.file;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.spi.BackendClosedException;
import dev.anymap.spi.testkit.TestContent;
import java.io.OutputStream;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.commons.vfs2.FileObject;
import org.apache.commons.vfs2.VFS;
import org.junit.jupiter.api.Test;

class RandomAccessPoolTest {
    private static FileObject ramFile(String name, byte[] content) throws Exception {
        FileObject file = VFS.getManager().resolveFile("ram:///pool-test/" + name);
        try (OutputStream out = file.getContent().getOutputStream()) {
            out.write(content);
        }
        return file;
    }

    private static void awaitWaiting(Thread thread) {
        Instant deadline = Instant.now().plus(Duration.ofSeconds(30));
        while (thread.getState() != Thread.State.WAITING) {
            if (Instant.now().isAfter(deadline)) {
                throw new AssertionError("the borrower never waited; it is " + thread.getState());
            }
            Thread.onSpinWait();
        }
    }

    @Test
    void aBorrowerWaitsForALentContentAndGetsItWhenItComesBack() throws Exception {
        byte[] content = TestContent.random(51, 1000);
        RandomAccessPool pool = new RandomAccessPool(URI.create("ram:///pool-test/a"), ramFile("a", content), 1, () -> {});
        RandomAccessPool.Slot lent = pool.borrow();
        CompletableFuture<byte[]> waiter = new CompletableFuture<>();
        Thread borrower = Thread.ofPlatform().start(() -> {
            try {
                RandomAccessPool.Slot slot = pool.borrow();
                byte[] bytes = new byte[10];
                slot.content.seek(100);
                slot.content.readFully(bytes);
                pool.giveBack(slot, true);
                waiter.complete(bytes);
            } catch (Throwable failure) {
                waiter.completeExceptionally(failure);
            }
        });
        awaitWaiting(borrower);
        assertFalse(waiter.isDone());
        pool.giveBack(lent, true);
        assertArrayEquals(java.util.Arrays.copyOfRange(content, 100, 110), waiter.get(30, TimeUnit.SECONDS));
        pool.close();
    }

    @Test
    void closeFailsWaitingBorrowersAndReleasesTheConnectionOnlyWhenTheLastContentIsBack() throws Exception {
        AtomicBoolean released = new AtomicBoolean();
        RandomAccessPool pool = new RandomAccessPool(URI.create("ram:///pool-test/b"), ramFile("b", new byte[100]), 1,
                () -> released.set(true));
        RandomAccessPool.Slot lent = pool.borrow();
        CompletableFuture<Object> waiter = new CompletableFuture<>();
        Thread borrower = Thread.ofPlatform().start(() -> {
            try {
                waiter.complete(pool.borrow());
            } catch (Throwable failure) {
                waiter.completeExceptionally(failure);
            }
        });
        awaitWaiting(borrower);
        pool.close();
        ExecutionException failed = assertThrows(ExecutionException.class, () -> waiter.get(30, TimeUnit.SECONDS));
        assertInstanceOf(BackendClosedException.class, failed.getCause());
        assertFalse(released.get(), "a read still holds a content");
        lent.content.seek(0);
        lent.content.readFully(new byte[10]);
        pool.giveBack(lent, true);
        assertTrue(released.get());
        assertThrows(BackendClosedException.class, pool::borrow);
    }
}
