package dev.anymap.firecracker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.AccessTrace;
import dev.anymap.Anymap;
import dev.anymap.AnymapConfig;
import dev.anymap.MapOptions;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import dev.anymap.linux.Userfaultfd;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A running handler, and peers on its socket made here with raw sockets: VMs that do what
 * Firecracker does, and peers that do not. Each VM's memory is this JVM's own anonymous memory,
 * registered with a userfaultfd of its own, and read only through native copies, so that no fault
 * holds a safepoint of the test's JVM. The memory file is random bytes written here.
 */
class FirecrackerHandlerTest {
    private static final int FILE_SIZE = 8 << 20;
    private static final long REGION = 2L << 20;
    private static final long GUARD = 1L << 20;
    private static final long PID = ProcessHandle.current().pid();

    @TempDir
    static Path files;
    private static Anymap anymap;
    private static byte[] content;
    private static URI memoryFile;

    @TempDir
    Path sockets;
    private Path socket;
    private final BlockingQueue<String> errors = new LinkedBlockingQueue<>();
    private final BlockingQueue<FirecrackerHandler.Vm> served = new LinkedBlockingQueue<>();
    private final BlockingQueue<FirecrackerHandler.Vm> ended = new LinkedBlockingQueue<>();
    private FirecrackerHandler handler;

    @BeforeAll
    static void pageServerAndMemoryFile() throws IOException {
        Path server = Files.createTempDirectory("anymap-fc-test-");
        Files.delete(server); // the page server makes it, with mode 0700
        anymap = Anymap.open(AnymapConfig.defaults().withSocket(server.resolve("server.sock")).withServerIdleExit(Duration.ofSeconds(1)));
        content = new byte[FILE_SIZE];
        new Random(20).nextBytes(content);
        memoryFile = Files.write(files.resolve("vm.mem"), content).toUri();
    }

    @AfterAll
    static void closePageServer() throws IOException {
        anymap.close();
    }

    @BeforeEach
    void startHandler() throws IOException {
        socket = sockets.resolve("fc").resolve("uffd.sock");
        handler = builder().start();
    }

    @AfterEach
    void closeHandler() throws IOException {
        handler.close();
    }

    private FirecrackerHandler.Builder builder() {
        return builder(memoryFile, MapOptions.defaults().withChunkSize(64 << 10));
    }

    private FirecrackerHandler.Builder builder(URI memory, MapOptions options) {
        return FirecrackerHandler.builder(anymap, socket, memory).options(options)
                .listener(new FirecrackerHandler.Listener() {
                    @Override
                    public void served(FirecrackerHandler.Vm vm) {
                        served.add(vm);
                    }

                    @Override
                    public void ended(FirecrackerHandler.Vm vm) {
                        ended.add(vm);
                    }

                    @Override
                    public void error(long pid, String message) {
                        errors.add(message);
                    }
                });
    }

    private static <T> T next(BlockingQueue<T> queue) throws InterruptedException {
        T next = queue.poll(60, TimeUnit.SECONDS);
        assertNotNull(next, "nothing came in 60 s");
        return next;
    }

    /** The next error, checked to name this process and the memory file. */
    private String nextError() throws InterruptedException {
        String error = next(errors);
        assertTrue(error.contains("Firecracker process " + PID), error);
        assertTrue(error.contains(memoryFile.toString()), error);
        return error;
    }

    @Test
    void aVmIsServedTheMemoryFilesBytesUntilItsConnectionCloses() throws Exception {
        try (Guest guest = new Guest()) {
            guest.handshake(socket, guest.json(), guest.uffd);
            FirecrackerHandler.Vm vm = next(served);
            assertEquals(PID, vm.pid());
            assertEquals(2, vm.regions().size());
            guest.checkReads();
            assertEquals(1, handler.vms().size());
            guest.disconnect();
            assertEquals(vm, next(ended));
        }
        assertEquals(0, handler.vms().size());
        assertTrue(errors.isEmpty(), errors.toString());
    }

    @Test
    void aHandshakeThatIsNotJsonIsAnErrorItsDescriptorClosedAndTheNextVmServed() throws Exception {
        try (Guest hostile = new Guest()) {
            int memfd = memfd("anymap-test-not-json");
            hostile.handshake(socket, "hello, handler", memfd);
            Libc.close(memfd);
            assertTrue(nextError().contains("the handshake is not JSON"));
            assertFalse(descriptorOpen("anymap-test-not-json"), "the descriptor the peer sent is closed");
        }
        aVmIsServedTheMemoryFilesBytesUntilItsConnectionCloses();
    }

    @Test
    void aRegionPastTheMemoryFilesEndIsAnErrorNamingTheFile() throws Exception {
        try (Guest guest = new Guest()) {
            String past = "[{\"base_host_virt_addr\":" + guest.first() + ",\"size\":" + REGION + ",\"offset\":" + (FILE_SIZE - REGION + 4096)
                    + ",\"page_size\":4096}]";
            guest.handshake(socket, past, guest.uffd);
            String error = nextError();
            assertTrue(error.contains("could not be served"), error);
            assertTrue(error.contains("guest memory range 0"), error);
        }
        aVmIsServedTheMemoryFilesBytesUntilItsConnectionCloses();
    }

    @Test
    void aHandshakeWithoutADescriptorIsAnError() throws Exception {
        try (Guest guest = new Guest()) {
            guest.handshake(socket, guest.json());
            assertTrue(nextError().contains("without a userfaultfd"));
        }
    }

    @Test
    void aDescriptorThatIsNotAUserfaultfdIsAnErrorAndClosed() throws Exception {
        try (Guest guest = new Guest()) {
            int memfd = memfd("anymap-test-not-a-uffd");
            guest.handshake(socket, guest.json(), memfd);
            Libc.close(memfd);
            String error = nextError();
            assertTrue(error.contains("not a userfaultfd but /memfd:anymap-test-not-a-uffd"), error);
            assertFalse(descriptorOpen("anymap-test-not-a-uffd"));
        }
    }

    @Test
    void aPeerThatDisconnectsHalfwayIsAnErrorAndItsDescriptorClosed() throws Exception {
        try (Guest guest = new Guest()) {
            int memfd = memfd("anymap-test-halfway");
            String json = guest.json();
            guest.handshake(socket, json.substring(0, json.length() / 2), memfd);
            Libc.close(memfd);
            guest.disconnect();
            String error = nextError();
            assertTrue(error.contains("halfway through its handshake, after " + json.length() / 2 + " bytes"), error);
            assertFalse(descriptorOpen("anymap-test-halfway"));
        }
    }

    @Test
    void aSecondMessageIsAnErrorItsDescriptorClosedAndTheVmStillServed() throws Exception {
        try (Guest guest = new Guest()) {
            guest.handshake(socket, guest.json(), guest.uffd);
            next(served);
            int memfd = memfd("anymap-test-second");
            UnixSockets.send(guest.socket, bytes("[]"), memfd);
            Libc.close(memfd);
            String error = nextError();
            assertTrue(error.contains("sent 2 more bytes and 1 descriptors after its handshake"), error);
            assertTrue(error.contains("the VM is still served"), error);
            assertFalse(descriptorOpen("anymap-test-second"));
            guest.checkReads();
            assertEquals(1, handler.vms().size());
            guest.disconnect();
            next(ended);
        }
    }

    @Test
    void aPeerThatSendsNothingIsCutOffAfterTheHandshakeTimeout() throws Exception {
        handler.close();
        handler = builder().handshakeTimeout(Duration.ofMillis(200)).start();
        int silent = UnixSockets.connectStream(socket);
        try (Arena arena = Arena.ofConfined()) {
            String error = nextError();
            assertTrue(error.contains("sent no complete handshake within 200 ms (0 bytes came)"), error);
            assertEquals(0, UnixSockets.receive(silent, arena.allocate(16)).length(), "the handler closed the connection");
        } finally {
            Libc.close(silent);
        }
    }

    @Test
    void aSecondHandlerAtTheSameSocketIsRefusedAndAStaleSocketReplaced() throws Exception {
        IOException refused = assertThrows(IOException.class, () -> builder().start());
        assertTrue(refused.getMessage().contains("already listening at " + socket), refused.getMessage());
        handler.close();
        // What a handler that was killed leaves: a socket file that no one listens on.
        Libc.close(UnixSockets.listenStream(socket, 1));
        assertTrue(Files.exists(socket));
        handler = builder().start();
        aVmIsServedTheMemoryFilesBytesUntilItsConnectionCloses();
    }

    @Test
    void aSocketInADirectoryOthersMayWriteToIsRefused() throws Exception {
        Path shared = Files.createDirectory(sockets.resolve("shared"));
        Files.setPosixFilePermissions(shared, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        IOException refused = assertThrows(IOException.class,
                () -> FirecrackerHandler.builder(anymap, shared.resolve("uffd.sock"), memoryFile).start());
        assertTrue(refused.getMessage().contains("no one else may write to"), refused.getMessage());
    }

    @Test
    void theFirstVmsTraceIsRecordedWhenItEnds() throws Exception {
        handler.close();
        Path traceFile = sockets.resolve("boot.trace");
        handler = builder().record(traceFile).start();
        try (Guest guest = new Guest()) {
            guest.handshake(socket, guest.json(), guest.uffd);
            next(served);
            // Region 1 holds the file from 0, region 0 from 4 MiB: chunks 0 and 64 of 64 KiB.
            assertArrayEquals(Arrays.copyOfRange(content, 0, 4096), guest.read(guest.second(), 4096));
            assertArrayEquals(Arrays.copyOfRange(content, 4 << 20, (4 << 20) + 4096), guest.read(guest.first(), 4096));
            guest.disconnect();
            next(ended);
        }
        AccessTrace trace = AccessTrace.load(traceFile);
        assertEquals(FILE_SIZE, trace.objectSize());
        assertEquals(64 << 10, trace.chunkSize());
        assertTrue(trace.chunks().length >= 2 && trace.chunks()[0] == 0 && trace.chunks()[1] == 64, Arrays.toString(trace.chunks()));
    }

    @Test
    void aRecordedTraceReplayedOnTheNextVmBringsItsChunksBeforeTheyAreTouched() throws Exception {
        handler.close();
        Path traceFile = sockets.resolve("replayed.trace");
        long seed = 22;
        // An object the page server fetches (a local file would be copied from the kernel's cache, with nothing to replay).
        URI generated = dev.anymap.backend.memory.MemoryObjects.generatedUri("fc-replay", FILE_SIZE, seed);
        MapOptions options = MapOptions.defaults().withChunkSize(64 << 10).withReadahead(0).withAutoPull(false);
        handler = builder(generated, options).record(traceFile).start();
        try (Guest guest = new Guest()) {
            guest.handshake(socket, guest.json(), guest.uffd);
            next(served);
            guest.read(guest.second(), 4096);
            guest.read(guest.first() + (1 << 20), 4096);
            guest.disconnect();
            next(ended);
        }
        handler.close();
        handler = builder(generated, options).trace(AccessTrace.load(traceFile)).start();
        try (Guest guest = new Guest()) {
            guest.handshake(socket, guest.json(), guest.uffd);
            FirecrackerHandler.Vm vm = next(served);
            MemorySegment expected = Arena.ofAuto().allocate(4096);
            SnapshotBytes.generated(seed).fill(0, expected);
            assertArrayEquals(expected.toArray(ValueLayout.JAVA_BYTE), guest.read(guest.second(), 4096));
            SnapshotBytes.generated(seed).fill((4 << 20) + (1 << 20), expected);
            assertArrayEquals(expected.toArray(ValueLayout.JAVA_BYTE), guest.read(guest.first() + (1 << 20), 4096));
            assertEquals(0, vm.guest().stats().faults(), "the replayed chunks were in the guest before its touches");
        }
    }

    /** A descriptor of this process whose /proc/self/fd link names {@code name}. */
    private static boolean descriptorOpen(String name) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.anyMatch(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().contains(name);
                } catch (IOException gone) {
                    return false;
                }
            });
        }
    }

    private static int memfd(String name) throws NativeException {
        return (int) Libc.check(Libc.memfdCreate(name, Libc.MFD_CLOEXEC), "memfd_create");
    }

    private static MemorySegment bytes(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        MemorySegment segment = Arena.ofAuto().allocate(bytes.length);
        MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return segment;
    }

    /** A VM as Firecracker makes one: two regions of anonymous memory with guard pages around them, and a userfaultfd over both. */
    private static final class Guest implements AutoCloseable {
        final long reservation;
        final long reserved = 2 * REGION + 3 * GUARD;
        final int uffd;
        int socket = -1;

        Guest() throws Exception {
            reservation = Libc.check(Libc.mmap(0, reserved, 0, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0), "mmap");
            for (long region : new long[] {first(), second()}) {
                Libc.check(Libc.mmap(region, REGION, Libc.PROT_READ | Libc.PROT_WRITE,
                        Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_FIXED | Libc.MAP_NORESERVE, -1, 0), "mmap(MAP_FIXED)");
            }
            uffd = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
            Userfaultfd.enable(uffd, Userfaultfd.FEATURE_EVENT_REMOVE);
            Userfaultfd.register(uffd, first(), REGION, Userfaultfd.REGISTER_MODE_MISSING);
            Userfaultfd.register(uffd, second(), REGION, Userfaultfd.REGISTER_MODE_MISSING);
        }

        long first() {
            return reservation + GUARD;
        }

        long second() {
            return reservation + 2 * GUARD + REGION;
        }

        /** Firecracker's JSON: the first region holds the file from 4 MiB, the second from 0. */
        String json() {
            return "[{\"base_host_virt_addr\":" + first() + ",\"size\":" + REGION + ",\"offset\":" + (4 << 20) + ",\"page_size\":4096},"
                    + "{\"base_host_virt_addr\":" + second() + ",\"size\":" + REGION + ",\"offset\":0,\"page_size_kib\":4096}]";
        }

        void handshake(Path at, String json, int... fds) throws NativeException {
            socket = UnixSockets.connectStream(at);
            UnixSockets.send(socket, bytes(json), fds);
        }

        void disconnect() {
            Libc.close(socket);
            socket = -1;
        }

        /** Pages of both regions read right, in native code. */
        void checkReads() throws IOException {
            Random random = new Random();
            for (int i = 0; i < 20; i++) {
                long page = random.nextLong(REGION / 4096) * 4096;
                int file = (int) page;
                assertArrayEquals(Arrays.copyOfRange(content, (4 << 20) + file, (4 << 20) + file + 4096), read(first() + page, 4096));
                assertArrayEquals(Arrays.copyOfRange(content, file, file + 4096), read(second() + page, 4096));
            }
        }

        byte[] read(long address, int length) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buffer = arena.allocate(length);
                Libc.memcpy(buffer, address, length);
                return buffer.toArray(ValueLayout.JAVA_BYTE);
            }
        }

        @Override
        public void close() {
            if (socket >= 0) {
                Libc.close(socket);
            }
            Libc.close(uffd);
            Libc.munmap(reservation, reserved);
        }
    }
}
