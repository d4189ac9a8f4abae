package dev.anymap;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.anymap.linux.Libc;
import dev.anymap.linux.UnixSockets;
import dev.anymap.linux.Userfaultfd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * A process that lends its userfaultfd: it maps anonymous memory, registers it with a userfaultfd
 * of its own set up as an anymap client sets up its own, sends that descriptor and the memory's
 * address over the socket it is given, and then reads the memory's first byte. The read waits in
 * the fault for as long as no one serves it; a peer that attaches the lent userfaultfd to a region
 * of its own has that fault, of another process's memory, reach the page server.
 *
 * <p>As a program: {@code UserfaultfdLender SOCKET LENGTH}. It prints the byte if the fault is ever
 * served.
 */
public final class UserfaultfdLender {
    private UserfaultfdLender() {}

    public static void main(String[] args) throws Exception {
        long length = Long.parseLong(args[1]);
        long address = Libc.check(Libc.mmap(0, length, Libc.PROT_READ, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0),
                "mmap");
        int userfaultfd = Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        Userfaultfd.enable(userfaultfd, Userfaultfd.FEATURE_THREAD_ID);
        Userfaultfd.register(userfaultfd, address, length, Userfaultfd.REGISTER_MODE_MISSING);
        int socket = UnixSockets.connect(Path.of(args[0]));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(8);
            packet.set(JAVA_LONG, 0, address);
            UnixSockets.send(socket, packet, userfaultfd);
        }
        System.out.println("READ " + MemorySegment.ofAddress(address).reinterpret(length).get(JAVA_BYTE, 0));
    }
}
