// The two ways userfaultfd can tell which pages of a region were written, measured on the kind of memory a
// writable anymap region is: a memfd that a "page server" fills with UFFDIO_COPY through its own mapping, and
// that the application maps MAP_SHARED and registers with userfaultfd (MISSING, and WP for the tracking modes).
// It is why the core tracks with UFFD_FEATURE_WP_ASYNC and PAGEMAP_SCAN (Linux 6.7):
//   mode 0: no tracking, MISSING only: the floor.
//   mode 1: WP_ASYNC. The kernel resolves the first write to a write-protected page itself (no message, no
//           thread woken) and marks the page written; PAGEMAP_SCAN with PM_SCAN_WP_MATCHING reads the written
//           set and write-protects it again, in one call.
//   mode 2: synchronous WP (shmem since 5.19): every first write of an epoch stops the writing thread and sends
//           a fault message; a server thread records the page and unprotects it (UFFDIO_WRITEPROTECT), which
//           wakes the writer: a round trip through another thread per page.
// First it checks mode 1 finds exactly the pages written (exit 1 if not), then times writing a byte of every
// page once (the first writes of an epoch: the cost of tracking) and again (no fault), and one scan.
//
// usage: dirty-tracking MODE [SIZE_MIB]      (default 256 MiB)
// prints: mode=MODE protect P ms, first writes F ms, second S ms, scan N pages T ms
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// From linux/userfaultfd.h and linux/fs.h of 6.7, spelled out so that older headers build it too.
#define FEATURE_WP_SHMEM (1ULL << 12)
#define FEATURE_WP_ASYNC (1ULL << 15)
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
        category_anyof_mask, return_mask;
};
struct page_region {
    uint64_t start, end, categories;
};
#define PAGEMAP_SCAN 0xC0606610UL
#define PM_SCAN_WP_MATCHING 1
#define PM_SCAN_CHECK_WPASYNC 2
#define PAGE_IS_WRITTEN 2

#define PAGE 4096
#define MAX_PAGES (1 << 20)

static int client_uffd, server_uffd;
static char *client_map, *server_map, *source;
static size_t length;
static int pagemap;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *what) {
    perror(what);
    exit(2);
}

// The page server: fills a missing page through its own mapping (a memfd is one object for both mappings, so
// the client's fault is resolved by filling the server's), and in mode 2 unprotects a page written.
static void *serve(void *unused) {
    (void) unused;
    struct uffd_msg message;
    for (;;) {
        struct pollfd ready = {client_uffd, POLLIN, 0};
        poll(&ready, 1, -1);
        if (read(client_uffd, &message, sizeof message) != sizeof message || message.event != UFFD_EVENT_PAGEFAULT) {
            continue;
        }
        uint64_t page = message.arg.pagefault.address & ~(uint64_t) (PAGE - 1);
        if (message.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
            struct uffdio_writeprotect unprotect = {.range = {page, PAGE}, .mode = 0};
            if (ioctl(client_uffd, UFFDIO_WRITEPROTECT, &unprotect)) fail("UFFDIO_WRITEPROTECT (unprotect)");
            continue;
        }
        uint64_t offset = page - (uint64_t) client_map;
        struct uffdio_copy copy = {.dst = (uint64_t) server_map + offset, .src = (uint64_t) source + offset, .len = PAGE,
                                   .mode = UFFDIO_COPY_MODE_DONTWAKE};
        if (ioctl(server_uffd, UFFDIO_COPY, &copy) && copy.copy != -EEXIST) fail("UFFDIO_COPY");
        struct uffdio_range wake = {page, PAGE};
        if (ioctl(client_uffd, UFFDIO_WAKE, &wake)) fail("UFFDIO_WAKE");
    }
    return NULL;
}

// The pages written since the last scan, as page numbers into out, write-protected again; returns how many.
static int scan_written(uint64_t *out) {
    static struct page_region regions[4096];
    int count = 0;
    uint64_t start = (uint64_t) client_map, end = start + length;
    while (start < end) {
        struct pm_scan_arg scan = {.size = sizeof scan, .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
                                   .start = start, .end = end, .vec = (uint64_t) regions, .vec_len = 4096,
                                   .category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN};
        long found = ioctl(pagemap, PAGEMAP_SCAN, &scan);
        if (found < 0) fail("PAGEMAP_SCAN");
        for (long i = 0; i < found; i++) {
            for (uint64_t page = regions[i].start; page < regions[i].end; page += PAGE) {
                if (count < MAX_PAGES) out[count++] = (page - (uint64_t) client_map) / PAGE;
            }
        }
        start = scan.walk_end;
    }
    return count;
}

static void protect_all(void) {
    struct uffdio_writeprotect protect = {.range = {(uint64_t) client_map, length}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
    if (ioctl(client_uffd, UFFDIO_WRITEPROTECT, &protect)) fail("UFFDIO_WRITEPROTECT");
}

static void expect(const char *what, const uint64_t *got, int count, const uint64_t *want, int wanted) {
    if (count != wanted || memcmp(got, want, count * sizeof *got) != 0) {
        fprintf(stderr, "dirty-tracking: %s: the scan found %d pages, expected %d\n", what, count, wanted);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: dirty-tracking MODE [SIZE_MIB]   (0: none, 1: WP_ASYNC + PAGEMAP_SCAN, 2: synchronous WP)\n");
        return 2;
    }
    int mode = atoi(argv[1]);
    length = (size_t) (argc > 2 ? atol(argv[2]) : 256) << 20;
    if (length / PAGE > MAX_PAGES) {
        fprintf(stderr, "dirty-tracking: at most %d MiB\n", MAX_PAGES / 256);
        return 2;
    }
    int memfd = memfd_create("dirty-tracking", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, length)) fail("memfd");
    source = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    server_map = mmap(NULL, length, PROT_READ, MAP_SHARED, memfd, 0);
    client_map = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (source == MAP_FAILED || server_map == MAP_FAILED || client_map == MAP_FAILED) fail("mmap");
    for (size_t i = 0; i < length; i += PAGE) source[i] = (char) (i / PAGE);
    pagemap = open("/proc/self/pagemap", O_RDONLY);
    if (pagemap < 0) fail("/proc/self/pagemap");

    // The server's own userfaultfd: UFFDIO_COPY needs a registered destination.
    server_uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
    struct uffdio_api api = {.api = UFFD_API};
    if (server_uffd < 0 || ioctl(server_uffd, UFFDIO_API, &api)) fail("userfaultfd (server)");
    struct uffdio_register server_range = {.range = {(uint64_t) server_map, length}, .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(server_uffd, UFFDIO_REGISTER, &server_range)) fail("UFFDIO_REGISTER (server)");

    client_uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api client_api = {.api = UFFD_API,
                                    .features = mode == 1 ? FEATURE_WP_ASYNC | FEATURE_WP_SHMEM : mode == 2 ? FEATURE_WP_SHMEM : 0};
    if (client_uffd < 0 || ioctl(client_uffd, UFFDIO_API, &client_api)) fail("userfaultfd (client): WP_ASYNC needs Linux 6.7");
    struct uffdio_register client_range = {.range = {(uint64_t) client_map, length},
                                           .mode = UFFDIO_REGISTER_MODE_MISSING | (mode ? UFFDIO_REGISTER_MODE_WP : 0)};
    if (ioctl(client_uffd, UFFDIO_REGISTER, &client_range)) fail("UFFDIO_REGISTER (client)");

    double protect_started = now();
    if (mode) protect_all();
    double protect_ms = (now() - protect_started) * 1e3;
    pthread_t server;
    pthread_create(&server, NULL, serve, NULL);

    // Reads are not writes; a page written twice is one page; a scan re-protects what it reports.
    volatile char sink = 0;
    for (int i = 0; i < 10; i++) sink += client_map[i * PAGE];
    client_map[3 * PAGE + 1] = 1;
    client_map[5 * PAGE] = 2;
    client_map[5 * PAGE + 9] = 2;
    client_map[100 * PAGE + 7] = 3;
    if (client_map[7 * PAGE] != 7) {
        fprintf(stderr, "dirty-tracking: page 7 holds %d, not 7\n", client_map[7 * PAGE]);
        return 1;
    }
    static uint64_t written[MAX_PAGES];
    if (mode == 1) {
        expect("three pages written", written, scan_written(written), (uint64_t[]) {3, 5, 100}, 3);
        expect("a scan after a scan", written, scan_written(written), NULL, 0);
        client_map[5 * PAGE + 11] = 4;
        expect("a page written again", written, scan_written(written), (uint64_t[]) {5}, 1);
    }

    // The cost: every page made present by a read, protected, then written once (tracked) and again (not).
    for (size_t i = 0; i < length; i += PAGE) sink += client_map[i];
    if (mode) protect_all();
    double started = now();
    for (size_t i = 0; i < length; i += PAGE) client_map[i] = 1;
    double first = now();
    for (size_t i = 0; i < length; i += PAGE) client_map[i] = 2;
    double second = now();
    int scanned = mode == 1 ? scan_written(written) : 0;
    double scan_done = now();
    if (mode == 1 && (size_t) scanned != length / PAGE) {
        fprintf(stderr, "dirty-tracking: the scan found %d pages written of %zu\n", scanned, length / PAGE);
        return 1;
    }
    printf("mode=%d protect %.1f ms, first writes %.1f ms, second %.1f ms, scan %d pages %.1f ms\n", mode, protect_ms,
           (first - started) * 1e3, (second - first) * 1e3, scanned, (scan_done - second) * 1e3);
    return 0;
}
