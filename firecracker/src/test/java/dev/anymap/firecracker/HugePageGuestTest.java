package dev.anymap.firecracker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.anymap.Anymap;
import dev.anymap.MapOptions;
import dev.anymap.ServedGuest;
import dev.anymap.backend.memory.MemoryObjects;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Guest memory in 2 MiB pages from hugetlbfs, as Firecracker backs it with {@code huge_pages:
 * "2M"}: served a huge page at a time, every byte the memory file's, a balloon's range zeros. It
 * needs huge pages the machine can reserve: it raises {@code nr_hugepages} for itself (as root) and
 * puts it back after, and is skipped, saying why, where it cannot.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class HugePageGuestTest {
    private static final long MIB = 1L << 20;
    private static final Path HUGE_PAGES = Path.of("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
    /** Two regions of 16 MiB: 16 huge pages, and some to spare. */
    private static final int NEEDED = 20;
    private static long before = -1;

    @BeforeAll
    static void reserveHugePages() {
        String why = null;
        try {
            before = Long.parseLong(Files.readString(HUGE_PAGES).trim());
            Files.writeString(HUGE_PAGES, Long.toString(before + NEEDED));
            long now = Long.parseLong(Files.readString(HUGE_PAGES).trim());
            if (now < before + NEEDED) {
                why = "the kernel reserved " + (now - before) + " of the " + NEEDED + " 2 MiB huge pages asked for (memory too fragmented)";
            }
        } catch (IOException | NumberFormatException e) {
            why = "cannot raise " + HUGE_PAGES + ": " + e;
        }
        if (why != null) {
            System.out.println("HugePageGuestTest skipped: " + why);
        }
        Assumptions.assumeTrue(why == null, why);
    }

    @AfterAll
    static void giveThemBack() throws IOException {
        if (before >= 0) {
            Files.writeString(HUGE_PAGES, Long.toString(before));
        }
    }

    @Test
    void hugePageRegionsReadTheMemoryFileAndTheBalloonsPagesReadZeros() throws Exception {
        long seed = 71;
        URI uri = MemoryObjects.generatedUri("fc-huge", 32 * MIB, seed);
        try (Anymap anymap = Anymap.open(TestServers.privateServer());
             FakeFirecracker guest = FakeFirecracker.start(FakeFirecracker.HUGE_PAGE, new long[] {16 * MIB, 16 * MIB},
                     new long[] {16 * MIB, 0});
             ServedGuest served = anymap.serve(uri, MapOptions.defaults().withChunkSize(64 * 1024), guest.guestMemory())) {
            SnapshotBytes source = SnapshotBytes.generated(seed);
            assertEquals(32 * MIB, GuestReaders.checkAll(guest, source, offset -> false, 3, 1));
            guest.balloon(guest.address(4 * MIB), 4 * MIB);
            assertEquals(32 * MIB, GuestReaders.checkAll(guest, source, offset -> offset >= 4 * MIB && offset < 8 * MIB, 3, 2));
        }
    }
}
