/*
 * blk-read-bench: time 64 KiB O_DIRECT reads of a whole block device
 *
 * Usage: blk-read-bench DEVICE PASSES
 *
 * A first, untimed pass reads the device and prints a checksum of its
 * bytes, which the host compares with its own: the timed passes then
 * move the same bytes through the same DMA path.  Each timed pass prints
 *   BLKBENCH pass=N bytes=B ns=T
 * Direct I/O, so that every read is a DMA from the device into this
 * process's buffer and the page cache plays no part.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define CHUNK       (64 * 1024)
#define MAX_PASSES  100

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Read the device once; with @sum, add up its little-endian words */
static int read_all(int fd, uint64_t size, uint8_t *buf, uint64_t *sum)
{
    for (uint64_t off = 0; off < size; off += CHUNK) {
        ssize_t n = pread(fd, buf, CHUNK, off);

        if (n != CHUNK) {
            fprintf(stderr, "blk-read-bench: read at %" PRIu64 ": %s\n", off,
                    n < 0 ? strerror(errno) : "short read");
            return -1;
        }
        if (sum) {
            for (int i = 0; i < CHUNK; i += 8) {
                uint64_t w = 0;

                for (int b = 7; b >= 0; b--) {
                    w = (w << 8) | buf[i + b];
                }
                *sum += w;
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t size, sum = 0;
    uint8_t *buf;
    int fd, passes;

    passes = argc == 3 ? atoi(argv[2]) : 0;
    if (passes < 1 || passes > MAX_PASSES) {
        fprintf(stderr, "usage: blk-read-bench DEVICE PASSES (1..%d)\n",
                MAX_PASSES);
        return 2;
    }
    fd = open(argv[1], O_RDONLY | O_DIRECT);
    if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0) {
        fprintf(stderr, "blk-read-bench: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (!size || size % CHUNK) {
        fprintf(stderr, "blk-read-bench: %s: size %" PRIu64 " is not a "
                "multiple of %d\n", argv[1], size, CHUNK);
        return 1;
    }
    if (posix_memalign((void **)&buf, 4096, CHUNK)) {
        return 1;
    }
    if (read_all(fd, size, buf, &sum)) {
        return 1;
    }
    printf("BLKBENCH-SUM bytes=%" PRIu64 " sum=0x%016" PRIx64 "\n", size, sum);
    for (int p = 1; p <= passes; p++) {
        uint64_t t0 = now_ns();

        if (read_all(fd, size, buf, NULL)) {
            return 1;
        }
        printf("BLKBENCH pass=%d bytes=%" PRIu64 " ns=%" PRIu64 "\n", p, size,
               now_ns() - t0);
    }
    fflush(stdout);
    return 0;
}
