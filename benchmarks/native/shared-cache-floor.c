/* shared-cache-floor: the floor of anymap's shared page cache in C, beside the plain shmem floor.
 *
 * anymap cannot fill a region the way uffd-reference's `shmem` kind does (UFFDIO_COPY into the
 * faulting process's own MAP_SHARED mapping): a read-only region must not be able to write into the
 * shared cache, and the kernel refuses to register with userfaultfd a shared mapping of a descriptor
 * opened for reading only (it needs VM_MAYWRITE). So a read-only region maps the memfd MAP_PRIVATE
 * and PROT_READ, registered for missing pages; the page server fills the memfd through a mapping of
 * its own (UFFDIO_COPY on a second userfaultfd, so that a page enters the cache whole) and wakes the
 * region, whose thread then takes ordinary minor faults to map the pages the cache now holds.
 *
 *   direct   the `shmem` floor: UFFDIO_COPY into the toucher's MAP_SHARED mapping.
 *   split    anymap's design: fill through the server's mapping, UFFDIO_WAKE the reader's private one.
 *
 * One handler thread serves, reading fault messages blocking or busy-polling; the main thread
 * touches a byte of each 4 KiB page in order, as in uffd-reference. Each run uses a new memfd.
 * build: gcc -O2 -pthread shared-cache-floor.c -o shared-cache-floor
 * usage: shared-cache-floor SIZE_MIB CHUNK_BYTES direct|split [block|spin]
 *   (without a mode: a run blocking, then one busy-polling)
 * prints: a line per run, as uffd-reference does. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int reader_uffd, server_uffd, split, spin;
static char *reader, *server, *src;
static size_t len, chunk;

static int new_uffd(int flags) {
    int fd = syscall(SYS_userfaultfd, O_CLOEXEC | flags);
    struct uffdio_api api = {.api = UFFD_API};
    if (fd < 0 || ioctl(fd, UFFDIO_API, &api)) { perror("userfaultfd"); exit(1); }
    return fd;
}

static void register_missing(int fd, char *start) {
    struct uffdio_register reg = {.range = {.start = (unsigned long)start, .len = len}, .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(fd, UFFDIO_REGISTER, &reg)) { perror("UFFDIO_REGISTER"); exit(1); }
}

static void *serve(void *arg) {
    (void)arg;
    struct uffd_msg m;
    for (;;) {
        if (read(reader_uffd, &m, sizeof m) != sizeof m) {
            if (spin && errno == EAGAIN) {
                pthread_testcancel();
                continue;
            }
            return NULL; /* the descriptor is closed at the end of a run */
        }
        if (m.event != UFFD_EVENT_PAGEFAULT) continue;
        unsigned long off = (m.arg.pagefault.address - (unsigned long)reader) & ~(chunk - 1);
        if (split) {
            struct uffdio_copy c = {.dst = (unsigned long)server + off, .src = (unsigned long)src + off, .len = chunk,
                                    .mode = UFFDIO_COPY_MODE_DONTWAKE};
            if (ioctl(server_uffd, UFFDIO_COPY, &c)) { perror("UFFDIO_COPY"); exit(1); }
            struct uffdio_range wake = {.start = (unsigned long)reader + off, .len = chunk};
            if (ioctl(reader_uffd, UFFDIO_WAKE, &wake)) { perror("UFFDIO_WAKE"); exit(1); }
        } else {
            struct uffdio_copy c = {.dst = (unsigned long)reader + off, .src = (unsigned long)src + off, .len = chunk};
            if (ioctl(reader_uffd, UFFDIO_COPY, &c)) { perror("UFFDIO_COPY"); exit(1); }
        }
    }
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double run(void) {
    int memfd = memfd_create("shared-cache-floor", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, len)) { perror("memfd"); exit(1); }
    reader_uffd = new_uffd(spin ? O_NONBLOCK : 0);
    if (split) {
        server = mmap(NULL, len, PROT_READ, MAP_SHARED, memfd, 0);
        reader = mmap(NULL, len, PROT_READ, MAP_PRIVATE, memfd, 0);
        server_uffd = new_uffd(0);
        register_missing(server_uffd, server);
    } else {
        reader = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    }
    if (reader == MAP_FAILED || server == MAP_FAILED) { perror("mmap"); exit(1); }
    register_missing(reader_uffd, reader);
    pthread_t t;
    pthread_create(&t, NULL, serve, NULL);
    double t0 = now_us();
    long sum = 0;
    for (size_t i = 0; i < len; i += 4096) sum += ((volatile char *)reader)[i];
    double us = now_us() - t0;
    if (sum != (long)(len / 4096) * 7) { fprintf(stderr, "wrong data\n"); exit(1); }
    pthread_cancel(t);
    pthread_join(t, NULL);
    munmap(reader, len);
    close(reader_uffd);
    if (split) {
        munmap(server, len);
        close(server_uffd);
    }
    close(memfd);
    return len / us;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s SIZE_MIB CHUNK_BYTES direct|split [block|spin]\n", argv[0]); return 2; }
    len = (size_t)atol(argv[1]) << 20;
    chunk = (size_t)atol(argv[2]);
    split = strcmp(argv[3], "split") == 0;
    const char *only = argc > 4 ? argv[4] : NULL;
    if (!split && strcmp(argv[3], "direct") != 0) { fprintf(stderr, "kind: direct or split\n"); return 2; }
    if (only && strcmp(only, "block") != 0 && strcmp(only, "spin") != 0) { fprintf(stderr, "mode: block or spin\n"); return 2; }
    if (chunk < 4096 || (chunk & (chunk - 1)) || len % chunk) { fprintf(stderr, "chunk: a power of two >= 4096 dividing the size\n"); return 2; }
    src = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    memset(src, 7, len);
    const char *modes[] = {"block", "spin"};
    for (int i = 0; i < 2; i++) {
        if (only && strcmp(only, modes[i]) != 0) continue;
        spin = i == 1;
        printf("chunk=%zu mode=%s kind=%s throughput=%.1f MB/s\n", chunk, modes[i], argv[3], run());
        fflush(stdout);
    }
    return 0;
}
