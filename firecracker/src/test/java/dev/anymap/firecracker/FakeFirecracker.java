package dev.anymap.firecracker;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.anymap.GuestMemory;
import dev.anymap.linux.Libc;
import dev.anymap.linux.NativeException;
import dev.anymap.linux.UnixSockets;
import dev.anymap.linux.Userfaultfd;
import dev.anymap.linux.UserfaultfdUnavailableException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What Firecracker does with a snapshot's memory when it resumes a microVM with a {@code Uffd}
 * memory backend, and nothing more: guest memory as private anonymous regions placed inside one
 * PROT_NONE reservation, so that a guard page lies before, between and after them; a userfaultfd
 * with {@code UFFD_FEATURE_EVENT_REMOVE} alone, every region registered for missing pages; then one
 * {@code sendmsg} of the JSON array of {@code GuestRegionUffdMapping}s with the userfaultfd as
 * SCM_RIGHTS to the handler's socket, which stays open until the VM exits ({@link #close()}).
 *
 * <p>Its memory is read only through native calls ({@link #copy}: memcpy), as a guest's vCPU
 * threads touch it: a thread waiting in a fault then holds no safepoint of this JVM. {@link
 * #balloon} gives memory back as Firecracker's balloon device does, with {@code MADV_DONTNEED}.
 */
final class FakeFirecracker implements AutoCloseable {
    /** Firecracker asks for this feature alone (linux/userfaultfd.h). */
    static final long FEATURE_EVENT_REMOVE = 1L << 3;
    static final long HUGE_PAGE = 2L << 20;
    private static final int PROT_NONE = 0;
    private static final int MAP_FIXED = 0x10;
    private static final int MAP_HUGETLB = 0x40000;
    private static final long USERFAULTFD_IOC_NEW = 0xAA00;

    /** One region of guest memory: {@code size} bytes at {@code address}, the memory file's bytes from {@code offset}. */
    record Region(long address, long size, long offset, long pageSize) {
        boolean holdsOffset(long fileOffset) {
            return fileOffset >= offset && fileOffset < offset + size;
        }
    }

    private final long reservation;
    private final long reservationSize;
    private final List<Region> regions;
    private final int userfaultfd;
    private int socket = -1;

    private FakeFirecracker(long reservation, long reservationSize, List<Region> regions, int userfaultfd) {
        this.reservation = reservation;
        this.reservationSize = reservationSize;
        this.regions = List.copyOf(regions);
        this.userfaultfd = userfaultfd;
    }

    /** Guest memory of regions of {@code sizes}, which hold the memory file's bytes one after another from offset 0. */
    static FakeFirecracker consecutive(long pageSize, long... sizes) throws NativeException, UserfaultfdUnavailableException {
        long[] offsets = new long[sizes.length];
        for (int i = 1; i < sizes.length; i++) {
            offsets[i] = offsets[i - 1] + sizes[i - 1];
        }
        return start(pageSize, sizes, offsets);
    }

    /**
     * Guest memory of regions of {@code sizes} in this order in memory, region i holding the memory
     * file's bytes from {@code offsets[i]}; pages of {@code pageSize} (4 KiB, or 2 MiB from hugetlbfs).
     */
    static FakeFirecracker start(long pageSize, long[] sizes, long[] offsets) throws NativeException, UserfaultfdUnavailableException {
        long total = pageSize; // a guard page before the first region
        for (long size : sizes) {
            total += size + pageSize; // and one after each
        }
        // Firecracker reserves the whole span first, then maps each region into it: the holes stay PROT_NONE.
        long reservation = Libc.check(Libc.mmap(0, total + pageSize, PROT_NONE,
                Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0), "mmap(PROT_NONE reservation)");
        long aligned = (reservation + pageSize - 1) & -pageSize;
        List<Region> regions = new ArrayList<>();
        int userfaultfd = -1;
        try {
            long address = aligned + pageSize;
            for (int i = 0; i < sizes.length; i++) {
                int flags = Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE | MAP_FIXED | (pageSize == HUGE_PAGE ? MAP_HUGETLB : 0);
                Libc.check(Libc.mmap(address, sizes[i], Libc.PROT_READ | Libc.PROT_WRITE, flags, -1, 0), "mmap(guest region " + i + ")");
                regions.add(new Region(address, sizes[i], offsets[i], pageSize));
                address += sizes[i] + pageSize;
            }
            userfaultfd = newUserfaultfd();
            Userfaultfd.enable(userfaultfd, FEATURE_EVENT_REMOVE);
            for (Region region : regions) {
                Userfaultfd.register(userfaultfd, region.address(), region.size(), Userfaultfd.REGISTER_MODE_MISSING);
            }
            return new FakeFirecracker(reservation, total + pageSize, regions, userfaultfd);
        } catch (NativeException | UserfaultfdUnavailableException | RuntimeException e) {
            if (userfaultfd >= 0) {
                Libc.close(userfaultfd);
            }
            Libc.munmap(reservation, total + pageSize);
            throw e;
        }
    }

    /** As Firecracker (and its userfaultfd crate) makes one: {@code /dev/userfaultfd} first, the syscall where it is missing. */
    private static int newUserfaultfd() throws UserfaultfdUnavailableException {
        int device = Libc.open("/dev/userfaultfd", Libc.O_RDWR | Libc.O_CLOEXEC);
        if (device >= 0) {
            try {
                int fd = Libc.ioctl(device, USERFAULTFD_IOC_NEW, Libc.O_CLOEXEC | Libc.O_NONBLOCK);
                if (fd >= 0) {
                    return fd;
                }
            } finally {
                Libc.close(device);
            }
        }
        return Userfaultfd.create(Libc.O_CLOEXEC | Libc.O_NONBLOCK);
    }

    List<Region> regions() {
        return regions;
    }

    /** The memory file's size that the regions cover: the end of the last byte of any region. */
    long fileExtent() {
        return regions.stream().mapToLong(region -> region.offset() + region.size()).max().orElseThrow();
    }

    int userfaultfd() {
        return userfaultfd;
    }

    /** This guest memory for {@link dev.anymap.Anymap#serve}, the library call, with no socket in between. */
    GuestMemory guestMemory() {
        return new GuestMemory(userfaultfd, regions.stream()
                .map(region -> new GuestMemory.Range(region.address(), region.size(), region.offset(), region.pageSize())).toList());
    }

    /** The handshake's JSON as Firecracker writes it, the deprecated {@code page_size_kib} (which holds bytes) included. */
    String handshakeJson() {
        StringBuilder json = new StringBuilder("[");
        for (Region region : regions) {
            if (json.length() > 1) {
                json.append(',');
            }
            json.append("{\"base_host_virt_addr\":").append(region.address())
                    .append(",\"size\":").append(region.size())
                    .append(",\"offset\":").append(region.offset())
                    .append(",\"page_size\":").append(region.pageSize())
                    .append(",\"page_size_kib\":").append(region.pageSize()).append('}');
        }
        return json.append(']').toString();
    }

    /** Connects to the handler at {@code path} and sends the handshake: one message, the userfaultfd with it. The socket stays open. */
    void handOver(Path path) throws NativeException {
        if (socket >= 0) {
            throw new IllegalStateException("handed over already");
        }
        socket = UnixSockets.connectStream(path); // a stream socket, as Firecracker connects
        try (Arena arena = Arena.ofConfined()) {
            UnixSockets.send(socket, arena.allocateFrom(handshakeJson(), StandardCharsets.UTF_8).asSlice(0,
                    handshakeJson().getBytes(StandardCharsets.UTF_8).length), userfaultfd);
        }
    }

    /** The address in this process of byte {@code fileOffset} of the memory file. */
    long address(long fileOffset) {
        for (Region region : regions) {
            if (region.holdsOffset(fileOffset)) {
                return region.address() + (fileOffset - region.offset());
            }
        }
        throw new IllegalArgumentException("no region holds offset " + fileOffset);
    }

    /** Copies guest memory at {@code address} into {@code target} (native) with memcpy: a fault waits in native code. */
    static void copy(long address, MemorySegment target) {
        Libc.memcpy(target, address, target.byteSize());
    }

    /** The balloon's inflation: {@code madvise(MADV_DONTNEED)} of guest memory, whose pages read as zeros from then on. */
    void balloon(long address, long length) throws NativeException {
        Libc.check(Libc.madvise(address, length, Libc.MADV_DONTNEED), "madvise(MADV_DONTNEED)");
    }

    /** Whether {@code target} holds zeros alone. */
    static boolean zeros(MemorySegment target) {
        for (long i = 0; i < target.byteSize(); i++) {
            if (target.get(JAVA_BYTE, i) != 0) {
                return false;
            }
        }
        return true;
    }

    /** The VM exits: its socket closes, its memory and userfaultfd go. */
    @Override
    public void close() {
        if (socket >= 0) {
            Libc.close(socket);
            socket = -1;
        }
        Libc.close(userfaultfd);
        Libc.munmap(reservation, reservationSize);
    }
}
