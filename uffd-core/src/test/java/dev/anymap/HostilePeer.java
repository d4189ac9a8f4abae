package dev.anymap;

import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.protocol.Connection;
import dev.anymap.protocol.Message;
import dev.anymap.protocol.MessageCodec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A broken or hostile process of the page server's own user, on its socket: empty packets, random
 * bytes, valid headers with huge lengths and counts, truncated packets, descriptors that are not
 * userfaultfds sent with an Attach, requests cut off by a disconnect, bursts of connections opened
 * and dropped. Every map it sends carries a secret option, so that a log can be searched for it.
 * Whatever it sends is drawn from one seed, so that a run that finds something can be repeated.
 *
 * <p>Given the server's limits per process, it also goes past them: more connections and regions
 * at once than it may hold, and prefetch orders over slow objects far beyond its prefetch memory,
 * cut off or left queued.
 *
 * <p>It checks what it can from the outside: a descriptor that is not a userfaultfd is refused,
 * with a Failure that says so; past a limit on connections or regions it is refused with a Failure
 * that names the option, and never holds more than the limit at once. What it leaves behind
 * (descriptors, memory, log lines, its usage in the server's status) is for its caller to check.
 *
 * <p>As a program (the soak, and the fuzz past the limits, run it in a process of its own):
 * {@code HostilePeer SOCKET SECONDS SEED SECRET [CONNECTIONS-PER-PROCESS REGIONS-PER-PROCESS]}.
 */
public final class HostilePeer {
    private static final int MAGIC = 0x414E594D;
    private static final int TYPES = 22;
    private static final long SIZE = 8L << 20;

    private final Path socket;
    private final Random random;
    private final String secret;
    private final Limits limits;
    private final List<String> problems = new ArrayList<>();
    private int rounds;
    private int refusedDescriptors;
    private int refusedConnections;
    private int refusedRegions;
    /** Started at the first round that needs another process's userfaultfd. */
    private UserfaultfdLender lender;

    /** The server's limits per process that the peer goes past; {@link #NONE} for no rounds past limits. */
    public record Limits(int connectionsPerProcess, int regionsPerProcess) {}

    public static final Limits NONE = new Limits(0, 0);

    public HostilePeer(Path socket, long seed, String secret) {
        this(socket, seed, secret, NONE);
    }

    public HostilePeer(Path socket, long seed, String secret, Limits limits) {
        this.socket = socket;
        this.random = new Random(seed);
        this.secret = secret;
        this.limits = limits;
    }

    /** What a run did, and what it found wrong (empty if nothing). */
    public record Summary(int rounds, int refusedDescriptors, int refusedConnections, int refusedRegions, List<String> problems) {}

    public static void main(String[] args) throws Exception {
        Limits limits = args.length > 5 ? new Limits(Integer.parseInt(args[4]), Integer.parseInt(args[5])) : NONE;
        Summary summary = new HostilePeer(Path.of(args[0]), Long.parseLong(args[2]), args[3], limits)
                .run(Duration.ofSeconds(Long.parseLong(args[1])));
        System.out.println("ROUNDS " + summary.rounds() + " REFUSED " + summary.refusedDescriptors() + " CONNECTIONS "
                + summary.refusedConnections() + " REGIONS " + summary.refusedRegions() + " PROBLEMS " + summary.problems());
        System.exit(summary.problems().isEmpty() ? 0 : 1);
    }

    /** Fuzzes for {@code duration}. */
    public Summary run(Duration duration) {
        long end = System.nanoTime() + duration.toNanos();
        while (System.nanoTime() < end) {
            rounds++;
            try {
                round(random.nextInt(limits == NONE ? 12 : 15));
            } catch (IOException | RuntimeException e) {
                // The server may drop a peer at any point: that is its right, not a finding.
            }
        }
        if (lender != null) {
            try {
                lender.close();
            } catch (IOException e) {
                problems.add("the userfaultfd lender did not close: " + e);
            }
        }
        return new Summary(rounds, refusedDescriptors, refusedConnections, refusedRegions, List.copyOf(problems));
    }

    private void round(int kind) throws IOException {
        switch (kind) {
            case 0 -> Libc.close(UnixSockets.connect(socket)); // connect and go
            case 1 -> raw(greeted(), new byte[0]); // an empty packet
            case 2 -> raw(random.nextBoolean() ? greeted() : connect(), randomBytes(random.nextInt(MessageCodec.MAX_PACKET) + 1));
            case 3 -> raw(random.nextBoolean() ? greeted() : connect(), hugeCounts());
            case 4 -> raw(greeted(), truncated(validMessage(random.nextLong(100))));
            case 5 -> attachOtherDescriptor();
            case 6 -> cutOff();
            case 7 -> attachRealAndDisconnect();
            case 8 -> burst();
            case 9 -> requests();
            case 10 -> descriptorWithAnotherMessage();
            case 11 -> attachLentUserfaultfd();
            case 12 -> pastConnectionLimit();
            case 13 -> pastRegionLimit();
            default -> prefetchFlood();
        }
    }

    private Connection connect() throws NativeException {
        return new Connection(UnixSockets.connect(socket));
    }

    private Connection greeted() throws IOException {
        Connection connection = connect();
        connection.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
        if (connection.receive() == null) {
            connection.close();
            throw new IOException("closed during the handshake");
        }
        return connection;
    }

    /** Sends one packet as it is, then waits for an answer (or none) half the time, and goes. */
    private void raw(Connection connection, byte[] packet) {
        try (connection; Arena arena = Arena.ofConfined()) {
            MemorySegment segment = arena.allocate(Math.max(1, packet.length));
            MemorySegment.copy(packet, 0, segment, ValueLayout.JAVA_BYTE, 0, packet.length);
            UnixSockets.send(connection.fd(), segment.asSlice(0, packet.length), -1);
            if (random.nextBoolean()) {
                connection.receive();
            }
        } catch (IOException ignored) {
            // Dropped: expected.
        }
    }

    private byte[] randomBytes(int length) {
        byte[] bytes = new byte[length];
        random.nextBytes(bytes);
        if (random.nextBoolean() && length >= 8) {
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(MAGIC).putInt(random.nextInt(TYPES));
        }
        return bytes;
    }

    /** A header of any type followed by lengths and counts at their extremes, and little else. */
    private byte[] hugeCounts() {
        ByteBuffer out = ByteBuffer.allocate(64 + random.nextInt(512)).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(MAGIC).putInt(random.nextInt(TYPES + 2) - 1);
        int[] extremes = {Integer.MAX_VALUE, Integer.MIN_VALUE, -1, MessageCodec.MAX_PACKET, 1 << 30, 0};
        while (out.remaining() >= 4) {
            out.putInt(random.nextInt(3) == 0 ? random.nextInt() : extremes[random.nextInt(extremes.length)]);
        }
        return out.array();
    }

    private byte[] truncated(Message message) {
        byte[] packet = MessageCodec.encode(message);
        return java.util.Arrays.copyOf(packet, random.nextInt(packet.length));
    }

    /** A map of an object that exists, with the secret option, or of one that does not. */
    private Message.Map map(long requestId) {
        String uri = switch (random.nextInt(4)) {
            case 0 -> "faulty:fuzz?size=" + SIZE + "&seed=" + random.nextInt(4);
            case 1 -> "faulty:fuzz?size=" + SIZE + "&seed=1&fail=" + random.nextLong(SIZE);
            case 2 -> "nosuchscheme://" + secret + "@host/" + random.nextInt();
            default -> "faulty:fuzz?size=" + (random.nextBoolean() ? "-5" : "x");
        };
        Map<String, String> options = random.nextInt(5) == 0 ? Map.of("token", secret, "tokn", secret) : Map.of("token", secret);
        var codePath = random.nextInt(4) == 0
                ? new Message.CodePath(List.of(new Message.PathEntry("/nonexistent/" + random.nextInt() + ".jar", 1, 1)), List.of())
                : Message.CodePath.SERVER;
        return new Message.Map(requestId, uri, options, 1 << (12 + random.nextInt(8)), 1 + random.nextInt(16),
                new Message.Prefetching(random.nextInt(64), random.nextBoolean(), random.nextBoolean(), 1L << 24, 1L << 30),
                "", Message.Assumed.NONE, 1 + random.nextInt(60_000), codePath);
    }

    private Message validMessage(long regionId) {
        long requestId = random.nextLong();
        return switch (random.nextInt(7)) {
            case 0 -> map(requestId);
            case 1 -> new Message.Unmap(requestId, regionId);
            case 2 -> new Message.StatsRequest(requestId, regionId);
            case 3 -> new Message.TraceRequest(requestId, regionId, random.nextInt(), random.nextBoolean());
            case 4 -> new Message.PrefetchOrder(requestId, regionId, random.ints(random.nextInt(2000), 0, Integer.MAX_VALUE).toArray());
            case 5 -> new Message.Resume(requestId, random.longs(random.nextInt(100)).toArray());
            default -> new Message.StatusRequest(requestId);
        };
    }

    /** A sequence of valid messages with arbitrary fields, each answered before the next. */
    private void requests() throws IOException {
        try (Connection connection = greeted()) {
            long region = random.nextLong(100);
            for (int i = random.nextInt(8); i >= 0; i--) {
                connection.send(validMessage(region));
                Connection.Incoming answer = connection.receive();
                if (answer == null) {
                    return;
                }
                if (answer.message() instanceof Message.Mapped mapped) {
                    region = mapped.regionId();
                }
            }
        }
    }

    /** A region that exists, mapped for real; -1 if the server refused it. */
    private long mapOne(Connection connection, long seed) throws IOException {
        connection.send(new Message.Map(1, "faulty:fuzz?size=" + SIZE + "&seed=" + seed, Map.of("token", secret), 1 << 16, 4,
                new Message.Prefetching(0, false, false, 0, 1L << 30), "", Message.Assumed.NONE, 60_000, Message.CodePath.SERVER));
        Connection.Incoming answer = connection.receive();
        if (answer == null) {
            throw new IOException("dropped");
        }
        answer.closeDescriptors(); // the object's memory, which this peer never maps
        if (!(answer.message() instanceof Message.Mapped mapped)) {
            // Past the limit of regions is a refusal it may get while the server still closes those of its last connections.
            if (limits == NONE || !(answer.message() instanceof Message.Failure failure)
                    || !failure.message().contains("--max-regions-per-process")) {
                problems.add("a valid map was refused: " + answer.message());
            }
            return -1;
        }
        return mapped.regionId();
    }

    /** An Attach of a mapped region with a descriptor that is not a userfaultfd: it must be refused, saying why. */
    private void attachOtherDescriptor() throws IOException {
        try (Connection connection = greeted()) {
            long region = mapOne(connection, 2);
            if (region < 0) {
                return;
            }
            int[] pipe = null;
            int other;
            String what;
            switch (random.nextInt(4)) {
                case 0 -> {
                    other = Libc.open("/dev/zero", Libc.O_RDWR | Libc.O_CLOEXEC);
                    what = "/dev/zero";
                }
                case 1 -> {
                    other = Libc.eventfd(1, Libc.EFD_CLOEXEC);
                    what = "an eventfd";
                }
                case 2 -> {
                    other = Libc.memfdCreate("fuzz", Libc.MFD_CLOEXEC);
                    Libc.ftruncate(other, SIZE);
                    what = "a memfd";
                }
                default -> {
                    pipe = pipe();
                    other = pipe[0];
                    what = "a pipe";
                }
            }
            try {
                connection.send(new Message.Attach(2, region, 0x7f00_0000_0000L, SIZE), other);
            } finally {
                Libc.close(other);
                if (pipe != null) {
                    Libc.close(pipe[1]);
                }
            }
            Connection.Incoming answer = connection.receive();
            if (answer == null) {
                return;
            }
            if (answer.message() instanceof Message.Failure failure
                    && (failure.kind() == Message.ErrorKind.PROTOCOL || failure.kind() == Message.ErrorKind.INVALID_ARGUMENT)
                    && failure.message().contains("not a userfaultfd")) {
                refusedDescriptors++;
            } else {
                problems.add("an Attach with " + what + " was answered " + answer.message());
            }
        }
    }

    /**
     * An Attach of another process's userfaultfd, lent by a {@link UserfaultfdLender} whose thread
     * faults on it at once: the attach passes, and the region is refused at that first fault.
     */
    private void attachLentUserfaultfd() throws IOException {
        if (lender == null) {
            lender = UserfaultfdLender.start(SIZE);
        }
        UserfaultfdLender.Lent lent = lender.lend();
        try (Connection connection = greeted()) {
            long region = mapOne(connection, 4);
            if (region < 0) {
                return;
            }
            connection.send(new Message.Attach(2, region, lent.address(), SIZE), lent.userfaultfd());
            Connection.Incoming answer = connection.receive();
            if (answer == null) {
                return;
            }
            if (!(answer.message() instanceof Message.Attached)) {
                problems.add("an Attach of a userfaultfd lent by another process was answered " + answer.message());
                return;
            }
            Message.Stats stats = RegisteredMemory.statsOnceFailed(connection, region, Duration.ofSeconds(10));
            if (stats == null) {
                return;
            }
            if (stats.failures() == 0) {
                problems.add("the region of a userfaultfd lent by another process was not refused within 10 s: " + stats);
            } else if (stats.chunksFetched() > 0 || !stats.lastFailure().contains("not a thread of process")) {
                problems.add("the region of a userfaultfd lent by another process was served: " + stats);
            } else {
                refusedDescriptors++;
            }
        } finally {
            Libc.close(lent.userfaultfd());
        }
    }

    /** A pipe's two ends: a FIFO opened and unlinked, since Libc binds no pipe(2); to read(2) it is a pipe. */
    private static int[] pipe() throws IOException {
        Path fifo = java.nio.file.Files.createTempDirectory("anymap-fuzz-").resolve("fifo");
        try {
            Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
            if (mkfifo.waitFor() != 0) {
                throw new IOException("mkfifo failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        int read = Libc.open(fifo.toString(), Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        int write = Libc.open(fifo.toString(), Libc.O_RDWR | Libc.O_CLOEXEC);
        java.nio.file.Files.delete(fifo);
        java.nio.file.Files.delete(fifo.getParent());
        return new int[] {read, write};
    }

    /** Requests sent, and the connection closed before their answers. */
    private void cutOff() throws IOException {
        Connection connection = greeted();
        for (int i = random.nextInt(4); i >= 0; i--) {
            connection.send(i == 0 ? map(7) : validMessage(random.nextLong(100)));
        }
        connection.close();
    }

    /** A region mapped and attached with a real userfaultfd, and the peer gone without an unmap. */
    private void attachRealAndDisconnect() throws IOException {
        RegisteredMemory memory = RegisteredMemory.create(SIZE, Userfaultfd.FEATURE_THREAD_ID);
        try (Connection connection = greeted()) {
            long region = mapOne(connection, 3);
            if (region < 0) {
                return;
            }
            connection.send(new Message.Attach(2, region, memory.address(), SIZE), memory.userfaultfd());
            if (random.nextBoolean()) {
                Connection.Incoming answer = connection.receive();
                if (answer != null && !(answer.message() instanceof Message.Attached)) {
                    problems.add("an Attach with a real userfaultfd was answered " + answer.message());
                }
            }
        } finally {
            Libc.close(memory.userfaultfd());
            Libc.munmap(memory.address(), SIZE);
        }
    }

    /** Many connections at once, some greeted, all dropped. */
    private void burst() {
        List<Connection> open = new ArrayList<>();
        try {
            for (int i = 20 + random.nextInt(100); i > 0; i--) {
                open.add(random.nextBoolean() ? greeted() : connect());
            }
        } catch (IOException e) {
            // The backlog is full: the burst is as big as it gets.
        } finally {
            open.forEach(Connection::close);
        }
    }

    /** A descriptor sent with a message that takes none. */
    private void descriptorWithAnotherMessage() throws IOException {
        try (Connection connection = greeted()) {
            int other = Libc.open("/dev/zero", Libc.O_RDWR | Libc.O_CLOEXEC);
            try {
                connection.send(validMessage(1), other);
            } finally {
                Libc.close(other);
            }
            connection.receive();
        }
    }

    /**
     * More connections at once than the server takes of one process: those past the limit are
     * refused with a Failure that names its option, and no more than the limit are ever welcomed.
     * Fewer may be, while the server still closes the sessions of an earlier round.
     */
    private void pastConnectionLimit() {
        List<Connection> open = new ArrayList<>();
        int welcomed = 0;
        try {
            for (int i = limits.connectionsPerProcess() + 1 + random.nextInt(8); i > 0; i--) {
                Connection connection = connect();
                open.add(connection);
                connection.send(new Message.Hello(Message.PROTOCOL_VERSION, ProcessHandle.current().pid()));
                Connection.Incoming answer = connection.receive();
                if (answer == null) {
                    continue; // closed unanswered: too many refused at once
                }
                answer.closeDescriptors();
                switch (answer.message()) {
                    case Message.Welcome ignored -> welcomed++;
                    case Message.Failure failure when failure.message().contains("--max-connections-per-process") -> refusedConnections++;
                    case Message.Failure failure when failure.message().contains("--max-connections ") -> { }
                    default -> problems.add("a connection past the limit of " + limits.connectionsPerProcess() + " was answered "
                            + answer.message());
                }
            }
        } catch (IOException e) {
            // The backlog is full, or the server dropped one: the round is as big as it gets.
        } finally {
            open.forEach(Connection::close);
        }
        if (welcomed > limits.connectionsPerProcess()) {
            problems.add(welcomed + " connections of one process were welcomed at once, past the limit of " + limits.connectionsPerProcess());
        }
    }

    /** More regions on one connection than the server maps for one process: those past it refused, naming the option. */
    private void pastRegionLimit() throws IOException {
        try (Connection connection = greeted()) {
            int mapped = 0;
            for (int i = limits.regionsPerProcess() + 1 + random.nextInt(4); i > 0; i--) {
                connection.send(new Message.Map(i, "faulty:many" + random.nextInt(8) + "?size=" + SIZE + "&seed=" + random.nextInt(4),
                        Map.of("token", secret), 1 << 16, 4, new Message.Prefetching(0, false, false, 0, 1L << 30), "",
                        Message.Assumed.NONE, 60_000, Message.CodePath.SERVER));
                Connection.Incoming answer = connection.receive();
                if (answer == null) {
                    return;
                }
                answer.closeDescriptors();
                switch (answer.message()) {
                    case Message.Mapped ignored -> mapped++;
                    case Message.Failure failure when failure.message().contains("--max-regions-per-process") -> refusedRegions++;
                    default -> problems.add("a map past the limit of " + limits.regionsPerProcess() + " regions was answered "
                            + answer.message());
                }
            }
            if (mapped > limits.regionsPerProcess()) {
                problems.add(mapped + " regions were mapped for one process at once, past the limit of " + limits.regionsPerProcess());
            }
        }
    }

    /**
     * A slow object mapped, and prefetch orders for all its chunks, over and over, far past the
     * prefetch memory of a process; then the peer goes at once, with its reads queued and parked, or
     * a moment later, or after an unmap.
     */
    private void prefetchFlood() throws IOException {
        long size = 64L << 20;
        int chunk = 1 << 16;
        try (Connection connection = greeted()) {
            connection.send(new Message.Map(1, "faulty:flood" + random.nextInt(4) + "?size=" + size + "&seed=" + random.nextInt(1000)
                    + "&slowfrom=0&delay=" + random.nextInt(20), Map.of("token", secret), chunk, 1 + random.nextInt(16),
                    new Message.Prefetching(random.nextInt(64), random.nextBoolean(), false, 0, 1L << 30), "", Message.Assumed.NONE,
                    60_000, Message.CodePath.SERVER));
            Connection.Incoming answer = connection.receive();
            if (answer == null) {
                return;
            }
            answer.closeDescriptors();
            if (!(answer.message() instanceof Message.Mapped mapped)) {
                return; // past the limit of regions, say, while an earlier round's close is under way
            }
            int chunks = (int) (size / chunk);
            for (int i = 1 + random.nextInt(4); i > 0; i--) {
                int from = random.nextInt(chunks);
                connection.send(new Message.PrefetchOrder(2, mapped.regionId(),
                        java.util.stream.IntStream.range(0, chunks).map(c -> (c + from) % chunks).toArray()));
            }
            switch (random.nextInt(3)) {
                case 0 -> { } // gone with everything queued
                case 1 -> Thread.sleep(random.nextInt(300)); // gone with reads in flight: the moment is part of the fuzz
                default -> {
                    connection.send(new Message.Unmap(3, mapped.regionId()));
                    while ((answer = connection.receive()) != null && !(answer.message() instanceof Message.Unmapped)
                            && !(answer.message() instanceof Message.Failure)) {
                        answer.closeDescriptors();
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
