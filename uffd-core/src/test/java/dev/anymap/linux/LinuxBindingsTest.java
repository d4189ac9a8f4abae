package dev.anymap.linux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each binding against the real kernel. No test touches a registered page that is still missing:
 * in this JVM no thread would serve the fault.
 */
class LinuxBindingsTest {
    private static final int PAGE = Userfaultfd.PAGE;

    @Test
    void mmapMadviseAndMunmapManageAnonymousMemory() throws Exception {
        long address = Libc.check(Libc.mmap(0, 4 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0), "mmap");
        MemorySegment memory = MemorySegment.ofAddress(address).reinterpret(4 * PAGE);
        memory.set(ValueLayout.JAVA_INT, PAGE, 42);
        assertEquals(0, Libc.madvise(address, 4 * PAGE, Libc.MADV_DONTNEED));
        assertEquals(0, memory.get(ValueLayout.JAVA_INT, PAGE), "MADV_DONTNEED drops a private anonymous page");
        assertEquals(0, Libc.munmap(address, 4 * PAGE));
        assertEquals(-Errno.EINVAL, Libc.mmap(0, 0, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0));
    }

    @Test
    void memfdCreateAndFtruncateMakeSharedMemory() {
        int fd = Libc.memfdCreate("anymap-test", Libc.MFD_CLOEXEC);
        assertTrue(fd >= 0, Errno.name(-fd));
        try {
            assertEquals(0, Libc.ftruncate(fd, 2 * PAGE));
            long first = Libc.mmap(0, 2 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
            long second = Libc.mmap(0, 2 * PAGE, Libc.PROT_READ, Libc.MAP_SHARED, fd, 0);
            MemorySegment.ofAddress(first).reinterpret(2 * PAGE).set(ValueLayout.JAVA_LONG, PAGE, 0x1234_5678L);
            assertEquals(0x1234_5678L, MemorySegment.ofAddress(second).reinterpret(2 * PAGE).get(ValueLayout.JAVA_LONG, PAGE));
            Libc.munmap(first, 2 * PAGE);
            Libc.munmap(second, 2 * PAGE);
        } finally {
            Libc.close(fd);
        }
    }

    @Test
    void eventfdWakesPollAndReadWriteMoveItsCounter() {
        int fd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pollfds = arena.allocate(Libc.POLLFD_SIZE, 4);
            Libc.setPollFd(pollfds, 0, fd, Libc.POLLIN);
            assertEquals(0, Libc.poll(pollfds, 1, 0), "nothing to read yet");
            MemorySegment value = arena.allocate(8);
            value.set(ValueLayout.JAVA_LONG, 0, 3);
            assertEquals(8, Libc.write(fd, value, 8));
            assertEquals(1, Libc.poll(pollfds, 1, 1000));
            assertEquals(Libc.POLLIN, Libc.pollRevents(pollfds, 0));
            assertEquals(8, Libc.read(fd, value, 8));
            assertEquals(3, value.get(ValueLayout.JAVA_LONG, 0));
            assertEquals(-Errno.EAGAIN, Libc.read(fd, value, 8));
        } finally {
            assertEquals(0, Libc.close(fd));
        }
        assertEquals(-Errno.EBADF, Libc.close(fd));
    }

    @Test
    void openReportsErrnoForAMissingFile() {
        assertEquals(-Errno.ENOENT, Libc.open("/nonexistent/anymap", Libc.O_RDWR));
        NativeException error = assertThrows(NativeException.class, () -> Libc.check(-Errno.ENOENT, "open"));
        assertEquals(Errno.ENOENT, error.errno());
        assertTrue(error.getMessage().contains("ENOENT"));
    }

    @Test
    void getuidMatchesTheOwnerOfAFileThisProcessCreates(@TempDir Path directory) throws Exception {
        Path file = Files.createFile(directory.resolve("mine"));
        assertEquals(Files.getAttribute(file, "unix:uid"), Libc.getuid());
    }

    @Test
    void userfaultfdNegotiatesFeaturesAndFillsRegisteredPages() throws Exception {
        long features = Userfaultfd.availableFeatures();
        assertNotEquals(0, features & Userfaultfd.FEATURE_POISON, "Linux 6.6 or later offers POISON");
        int uffd = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        long address = Libc.check(Libc.mmap(0, 8 * PAGE, Libc.PROT_READ | Libc.PROT_WRITE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0), "mmap");
        try (Arena arena = Arena.ofConfined()) {
            long ioctls = Userfaultfd.enable(uffd, Userfaultfd.FEATURE_POISON);
            assertNotEquals(0, ioctls);
            long rangeIoctls = Userfaultfd.register(uffd, address, 8 * PAGE, Userfaultfd.REGISTER_MODE_MISSING);
            assertNotEquals(0, rangeIoctls & (1L << 0x03), "COPY is offered on the range");
            MemorySegment memory = MemorySegment.ofAddress(address).reinterpret(8 * PAGE);

            MemorySegment source = arena.allocate(3 * PAGE, PAGE);
            for (int i = 0; i < 3 * PAGE; i++) {
                source.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            }
            Userfaultfd.FillRequest fill = new Userfaultfd.FillRequest(arena);
            assertEquals(0, fill.copy(uffd, address, source.address(), 2 * PAGE, 0));
            assertEquals(2 * PAGE, fill.done());
            assertArrayEquals(source.asSlice(0, 2 * PAGE).toArray(ValueLayout.JAVA_BYTE),
                    memory.asSlice(0, 2 * PAGE).toArray(ValueLayout.JAVA_BYTE));

            assertEquals(-Errno.EEXIST, fill.copy(uffd, address + PAGE, source.address(), PAGE, 0), "the page is there already");
            assertEquals(0, fill.fillRange(uffd, address, source.address(), 3 * PAGE), "fillRange steps over present pages");
            assertArrayEquals(source.asSlice(2 * PAGE, PAGE).toArray(ValueLayout.JAVA_BYTE),
                    memory.asSlice(2 * PAGE, PAGE).toArray(ValueLayout.JAVA_BYTE));

            assertEquals(0, fill.zeroPage(uffd, address + 3 * PAGE, PAGE, 0));
            assertEquals(0, memory.get(ValueLayout.JAVA_LONG, 3 * PAGE));

            assertEquals(0, fill.poison(uffd, address + 4 * PAGE, PAGE, 0));
            // What an application sees when the page server gives up on a chunk.
            InternalError poisoned = assertThrows(InternalError.class, () -> memory.get(ValueLayout.JAVA_BYTE, 4 * PAGE + 1));
            assertTrue(poisoned.getMessage().contains("unsafe memory access"), poisoned.getMessage());

            Userfaultfd.wake(uffd, address, 8 * PAGE);
            Userfaultfd.unregister(uffd, address, 8 * PAGE);
            // Unregistered, a missing page is an ordinary zero page again.
            assertEquals(0, memory.get(ValueLayout.JAVA_LONG, 6 * PAGE));
            NativeException misaligned = assertThrows(NativeException.class, () -> Userfaultfd.wake(uffd, address + 1, PAGE));
            assertEquals(Errno.EINVAL, misaligned.errno());
        } finally {
            Libc.munmap(address, 8 * PAGE);
            Libc.close(uffd);
        }
    }

    @Test
    void devUserfaultfdHandsOutAUserfaultfdToThoseWhoMayOpenIt() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isReadable(Path.of("/dev/userfaultfd"))
                && java.nio.file.Files.isWritable(Path.of("/dev/userfaultfd")), "this user may not open /dev/userfaultfd");
        int uffd = Userfaultfd.createThroughDevice(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        assertTrue(uffd >= 0, Errno.name(-uffd));
        try {
            assertNotEquals(0, Userfaultfd.enable(uffd, 0), "a working userfaultfd negotiates its API");
        } finally {
            Libc.close(uffd);
        }
    }

    @Test
    void readingAUserfaultfdWithNoFaultPendingSaysEagain() throws Exception {
        int uffd = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        try (Arena arena = Arena.ofConfined()) {
            Userfaultfd.enable(uffd, 0);
            assertEquals(-Errno.EAGAIN, Libc.read(uffd, arena.allocate(Userfaultfd.MESSAGE_SIZE), Userfaultfd.MESSAGE_SIZE));
        } finally {
            Libc.close(uffd);
        }
    }

    @Test
    void unixSocketsPassDescriptorsAndTellWhoIsOnTheOtherEnd(@TempDir Path directory) throws Exception {
        Path path = directory.resolve("test.sock");
        int listener = UnixSockets.listen(path, 4);
        int client = UnixSockets.connect(path);
        int server = UnixSockets.accept(listener);
        int event = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        try (Arena arena = Arena.ofConfined()) {
            UnixSockets.PeerCredentials peer = UnixSockets.peerCredentials(server);
            assertEquals(ProcessHandle.current().pid(), peer.pid());
            assertEquals(Libc.getuid(), peer.uid());

            MemorySegment packet = arena.allocateFrom("hello");
            UnixSockets.send(client, packet, event);
            MemorySegment buffer = arena.allocate(64);
            UnixSockets.Received received = UnixSockets.receive(server, buffer);
            assertEquals(packet.byteSize(), received.length());
            assertEquals("hello", buffer.getString(0));
            assertTrue(received.fd() >= 0 && received.fd() != event, "a new descriptor for the same eventfd");

            MemorySegment value = arena.allocate(8);
            value.set(ValueLayout.JAVA_LONG, 0, 9);
            Libc.write(received.fd(), value, 8);
            value.set(ValueLayout.JAVA_LONG, 0, 0);
            assertEquals(8, Libc.read(event, value, 8));
            assertEquals(9, value.get(ValueLayout.JAVA_LONG, 0));
            Libc.close(received.fd());

            int second = Libc.eventfd(0, Libc.EFD_CLOEXEC);
            UnixSockets.send(client, arena.allocateFrom("two"), event, second);
            UnixSockets.Received two = UnixSockets.receive(server, buffer);
            assertEquals(2, two.fds().length, "both descriptors arrive, in order");
            assertTrue(two.fds()[0] != event && two.fds()[1] != second && two.fds()[0] != two.fds()[1]);
            assertEquals(Userfaultfd.describe(event), Userfaultfd.describe(two.fds()[0]));
            for (int fd : two.fds()) {
                Libc.close(fd);
            }
            Libc.close(second);

            UnixSockets.send(client, arena.allocate(100), -1);
            NativeException truncated = assertThrows(NativeException.class, () -> UnixSockets.receive(server, arena.allocate(10)));
            assertEquals(Errno.EINVAL, truncated.errno());

            Libc.close(client);
            assertEquals(0, UnixSockets.receive(server, buffer).length(), "end of stream once the peer is gone");
        } finally {
            Libc.close(event);
            Libc.close(server);
            Libc.close(listener);
        }
        assertEquals(Errno.ECONNREFUSED, assertThrows(NativeException.class, () -> UnixSockets.connect(path)).errno());
    }
}
