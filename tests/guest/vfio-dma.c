/*
 * vfio-dma: drive a DMA-capable PCI device through VFIO from inside a
 * guest, and check every byte the device moves.
 *
 * The device must already be bound to vfio-pci.  The program opens its
 * IOMMU group, attaches it to a container (type1 v2, or SPAPR TCE v2 on
 * POWER), maps buffers at chosen IOVAs and has the device DMA into and out
 * of them:
 *
 *   - viommu-testdev (1234:11f0, docs/specs/viommu-testdev.rst), in QEMU
 *     or out of process behind vfio-user-pci: FILL, COMPARE, COPY, READ,
 *     WRITE with byte-exact checks, a read-only mapping (PERMISSION_FAULT
 *     on write), an unmapped IOVA (TRANSLATION_FAULT), a transfer running
 *     off the end of a mapping, and a stale IOVA after unmap; each with
 *     the DMA path the device reports;
 *   - an NVMe controller: an admin Identify Controller through queues that
 *     live in the mapped buffer, checked against the serial number.
 *
 * On SPAPR both the default 32-bit window and a dynamic DMA window (DDW,
 * VFIO_IOMMU_SPAPR_TCE_CREATE) are exercised.
 *
 * Usage: vfio-dma [-w default|ddw|all] [-s NVME_SERIAL] BDF
 * Output: one line per check, then
 *   "VFIO-DMA RESULT: PASS (N checks)" or "VFIO-DMA RESULT: FAIL (K of N ...)"
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

/* viommu-testdev's registers, shared with the qtests (tests/qtest/libqos) */
#include "viommu-testdev.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)

/* ---- reporting ---------------------------------------------------------- */

static unsigned checks, failures;

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("vfio-dma: ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

/* Record one check; print it either way. */
static int check(int ok, const char *fmt, ...)
{
    va_list ap;

    checks++;
    if (!ok) {
        failures++;
    }
    va_start(ap, fmt);
    printf("vfio-dma: %s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
    return ok;
}

static void __attribute__((noreturn)) fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("vfio-dma: error: ", stdout);
    vprintf(fmt, ap);
    if (errno) {
        printf(" (%s)", strerror(errno));
    }
    fputc('\n', stdout);
    printf("VFIO-DMA RESULT: FAIL (setup error after %u checks)\n", checks);
    va_end(ap);
    exit(1);
}

/* ---- VFIO plumbing ------------------------------------------------------ */

static int container_fd, group_fd, device_fd;
static int spapr;                         /* SPAPR TCE v2 rather than type1 */
static int eeh;                           /* the container has VFIO_EEH */
static uint64_t bar0_off, bar0_size, cfg_off;

static void region_info(unsigned index, uint64_t *off, uint64_t *size)
{
    struct vfio_region_info ri = { .argsz = sizeof(ri), .index = index };

    if (ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0) {
        fatal("VFIO_DEVICE_GET_REGION_INFO %u", index);
    }
    *off = ri.offset;
    *size = ri.size;
}

static void dev_rw(int write, uint64_t off, void *p, size_t len)
{
    ssize_t n = write ? pwrite(device_fd, p, len, off)
                      : pread(device_fd, p, len, off);

    if (n != (ssize_t)len) {
        fatal("%s of %zu bytes at region offset 0x%" PRIx64,
              write ? "write" : "read", len, off);
    }
}

static uint32_t rd32(uint32_t reg)
{
    uint32_t v;

    dev_rw(0, bar0_off + reg, &v, 4);
    return le32toh(v);
}

static void wr32(uint32_t reg, uint32_t v)
{
    v = htole32(v);
    dev_rw(1, bar0_off + reg, &v, 4);
}

static uint64_t rd64(uint32_t reg)
{
    return rd32(reg) | (uint64_t)rd32(reg + 4) << 32;
}

static void wr64(uint32_t reg, uint64_t v)
{
    wr32(reg, (uint32_t)v);
    wr32(reg + 4, (uint32_t)(v >> 32));
}

static uint16_t cfg_rd16(unsigned off)
{
    uint16_t v;

    dev_rw(0, cfg_off + off, &v, 2);
    return le16toh(v);
}

static void cfg_wr16(unsigned off, uint16_t v)
{
    v = htole16(v);
    dev_rw(1, cfg_off + off, &v, 2);
}

static void open_device(const char *bdf)
{
    char path[256], link[256];
    struct vfio_group_status gs = { .argsz = sizeof(gs) };
    ssize_t n;

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
    n = readlink(path, link, sizeof(link) - 1);
    if (n < 0) {
        fatal("%s has no IOMMU group", bdf);
    }
    link[n] = 0;
    say("device %s, IOMMU group %s", bdf, basename(link));

    container_fd = open("/dev/vfio/vfio", O_RDWR);
    if (container_fd < 0) {
        fatal("open /dev/vfio/vfio");
    }
    if (ioctl(container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
        fatal("unexpected VFIO API version");
    }
    snprintf(path, sizeof(path), "/dev/vfio/%s", basename(link));
    group_fd = open(path, O_RDWR);
    if (group_fd < 0) {
        fatal("open %s", path);
    }
    if (ioctl(group_fd, VFIO_GROUP_GET_STATUS, &gs) < 0 ||
        !(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        fatal("group %s is not viable "
              "(every device in it must be bound to vfio-pci)", path);
    }
    if (ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container_fd) < 0) {
        fatal("VFIO_GROUP_SET_CONTAINER");
    }
    if (ioctl(container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1) {
        if (ioctl(container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
            fatal("VFIO_SET_IOMMU type1v2");
        }
        say("container: VFIO type1 v2 IOMMU");
    } else if (ioctl(container_fd, VFIO_CHECK_EXTENSION,
                     VFIO_SPAPR_TCE_v2_IOMMU) == 1) {
        if (ioctl(container_fd, VFIO_SET_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU) < 0) {
            fatal("VFIO_SET_IOMMU SPAPR TCE v2");
        }
        spapr = 1;
        say("container: VFIO SPAPR TCE v2 IOMMU");
        /*
         * With EEH, a DMA the IOMMU refuses freezes the device's PE, as
         * on a real PHB; td_run() then recovers it through VFIO.
         */
        eeh = ioctl(container_fd, VFIO_CHECK_EXTENSION, VFIO_EEH) == 1;
        say("EEH %s", eeh ? "on: refused DMA will freeze the PE" : "off");
    } else {
        errno = 0;
        fatal("the container supports neither type1 v2 nor SPAPR TCE v2");
    }

    device_fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
    if (device_fd < 0) {
        fatal("VFIO_GROUP_GET_DEVICE_FD %s", bdf);
    }
    region_info(VFIO_PCI_BAR0_REGION_INDEX, &bar0_off, &bar0_size);
    region_info(VFIO_PCI_CONFIG_REGION_INDEX, &cfg_off, &(uint64_t){0});
    /* Memory decode and bus mastering. */
    cfg_wr16(4, cfg_rd16(4) | 0x6);
}

static int dma_map(uint64_t iova, void *va, uint64_t size, int device_may_write)
{
    struct vfio_iommu_type1_dma_map m = {
        .argsz = sizeof(m),
        .flags = VFIO_DMA_MAP_FLAG_READ |
                 (device_may_write ? VFIO_DMA_MAP_FLAG_WRITE : 0),
        .vaddr = (uintptr_t)va, .iova = iova, .size = size,
    };

    return ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &m);
}

static int dma_unmap(uint64_t iova, uint64_t size)
{
    struct vfio_iommu_type1_dma_unmap u = {
        .argsz = sizeof(u), .iova = iova, .size = size,
    };

    return ioctl(container_fd, VFIO_IOMMU_UNMAP_DMA, &u);
}

/* A page-aligned, zeroed buffer of SIZE bytes. */
static uint8_t *alloc_buf(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

    if (p == MAP_FAILED) {
        fatal("mmap %zu", size);
    }
    return p;
}

static void spapr_register(void *va, uint64_t size)
{
    struct vfio_iommu_spapr_register_memory r = {
        .argsz = sizeof(r), .vaddr = (uintptr_t)va, .size = size,
    };

    if (ioctl(container_fd, VFIO_IOMMU_SPAPR_REGISTER_MEMORY, &r) < 0) {
        fatal("VFIO_IOMMU_SPAPR_REGISTER_MEMORY");
    }
}

static void spapr_unregister(void *va, uint64_t size)
{
    struct vfio_iommu_spapr_register_memory r = {
        .argsz = sizeof(r), .vaddr = (uintptr_t)va, .size = size,
    };

    if (ioctl(container_fd, VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, &r) < 0) {
        fatal("VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY");
    }
}

/* ---- viommu-testdev ----------------------------------------------------- */

static const char *const result_names[] = {
    "OK", "TRANSLATION_FAULT", "PERMISSION_FAULT", "DECODE_ERROR",
    "ACCESS_ERROR", "BUS_ERROR", "MISMATCH", "BAD_COMMAND", "ATS_FAILED",
    "PRI_FAILED",
};

static const char *rname(unsigned r)
{
    return r < sizeof(result_names) / sizeof(result_names[0]) ?
           result_names[r] : "?";
}

struct cmd_result {
    unsigned result;
    uint32_t memtx;
    uint64_t fault_addr;
    uint32_t done;
    int froze;          /* the PE froze, and was thawed through VFIO EEH */
    /* DMA_PATH, DIRECT_REQS, MESSAGE_REQS: how the requests went */
    unsigned path;
    uint32_t direct, message;
};

static int eeh_op(uint32_t op)
{
    struct vfio_eeh_pe_op pe_op = { .argsz = sizeof(pe_op), .op = op };

    return ioctl(container_fd, VFIO_EEH_PE_OP, &pe_op);
}

/* Thaw one half of a frozen PE, expecting the state it must reach */
static void eeh_thaw(uint32_t op, int want, const char *what)
{
    int state;

    if (eeh_op(op) < 0) {
        fatal("VFIO_EEH_PE_OP %s", what);
    }
    state = eeh_op(VFIO_EEH_PE_GET_STATE);
    if (state != want) {
        errno = 0;
        fatal("PE state %d after %s, want %d", state, what, want);
    }
}

static struct cmd_result td_run(unsigned op, uint64_t addr, uint64_t dst,
                                uint32_t len, uint32_t pattern)
{
    struct cmd_result r;
    uint32_t st;
    int spins = 0;

    wr64(R_DMA_ADDR, addr);
    wr64(R_DST_ADDR, dst);
    wr32(R_LEN, len);
    wr32(R_PATTERN, pattern);
    wr32(R_ATTR, 0);
    wr32(R_OP, op);
    wr32(R_DOORBELL, 1);
    r.froze = 0;
    /*
     * A device in QEMU DMAs inside the doorbell write, so its refused
     * DMA has frozen the PE by the first read; one out of process may
     * still be at it while that read is in flight.
     */
    while ((st = rd32(R_STATUS)) & STATUS_BUSY) {
        if (st == UINT32_MAX && eeh && !r.froze) {
            /* All ones: the PE froze.  MMIO first, to read what happened */
            int state = eeh_op(VFIO_EEH_PE_GET_STATE);

            if (state != VFIO_EEH_PE_STATE_STOPPED) {
                errno = 0;
                fatal("the device reads all ones, PE state %d", state);
            }
            eeh_thaw(VFIO_EEH_PE_UNFREEZE_IO, VFIO_EEH_PE_STATE_STOPPED_DMA,
                     "UNFREEZE_IO");
            r.froze = 1;
            continue;
        }
        if (++spins > 100000) {
            errno = 0;
            fatal("device stays BUSY");
        }
        usleep(10);
    }
    /*
     * An out-of-process device may also have finished, its refused
     * request freezing the PE, while the read of STATUS that saw it done
     * was already in flight, as on real hardware: that read still has
     * the data, the next ones would not.  Ask before reading them.
     */
    if (eeh && !r.froze && st != UINT32_MAX &&
        eeh_op(VFIO_EEH_PE_GET_STATE) == VFIO_EEH_PE_STATE_STOPPED) {
        eeh_thaw(VFIO_EEH_PE_UNFREEZE_IO, VFIO_EEH_PE_STATE_STOPPED_DMA,
                 "UNFREEZE_IO");
        r.froze = 1;
    }
    r.result = STATUS_RESULT(st);
    r.memtx = rd32(R_MEMTX);
    r.fault_addr = rd64(R_FAULT_ADDR);
    r.done = rd32(R_DONE_BYTES);
    r.path = rd32(R_DMA_PATH) & 7;
    r.direct = rd32(R_DIRECT_REQS);
    r.message = rd32(R_MESSAGE_REQS);
    if (r.froze) {
        eeh_thaw(VFIO_EEH_PE_UNFREEZE_DMA, VFIO_EEH_PE_STATE_NORMAL,
                 "UNFREEZE_DMA");
    }
    return r;
}

/*
 * Whether a refused request reached the IOMMU in front of the device: an
 * out-of-process device refuses an address outside the mappings its
 * client gave it itself, and its request goes nowhere
 */
static int reached_iommu(struct cmd_result r)
{
    return r.path != DMA_PATH_REFUSED;
}

static const char *eeh_note(struct cmd_result r)
{
    if (!eeh) {
        return "";
    }
    if (!reached_iommu(r)) {
        return r.froze ? "; the PE froze, but the request never left the "
                         "device" : "; the PE stays up: the request never "
                         "left the device";
    }
    return r.froze ? "; the PE froze (all ones, state 2), thawed through "
                     "VFIO EEH (state 4, then 0)" : "; the PE did NOT freeze";
}

/* How the device moved a command's requests, for the check lines */
static const char *path_note(struct cmd_result r)
{
    static char note[96];

    switch (r.path) {
    case DMA_PATH_DIRECT:
    case DMA_PATH_MESSAGE:
        snprintf(note, sizeof(note), " [out of process: %u request(s) "
                 "direct, %u by message]", r.direct, r.message);
        break;
    case DMA_PATH_REFUSED:
        snprintf(note, sizeof(note), " [out of process: refused by the "
                 "device, no mapping allows it; %u direct, %u by message "
                 "before]", r.direct, r.message);
        break;
    default:
        note[0] = 0;
    }
    return note;
}

/*
 * The result a write to a read-only mapping gives.  A refusal that comes
 * back by message carries an errno, not the IOMMU's reason: the
 * out-of-process device then reports TRANSLATION_FAULT (see
 * docs/specs/viommu-testdev.rst), and the IOMMU's own record says which
 * it was.
 */
static unsigned permission_fault(struct cmd_result r)
{
    return r.path == DMA_PATH_MESSAGE ? RES_TRANSLATION_FAULT :
                                        RES_PERMISSION_FAULT;
}

/* Byte i of the pattern stream seeded with SEED (little-endian words). */
static uint8_t pattern_byte(uint32_t seed, size_t i)
{
    return (uint8_t)((seed + (uint32_t)(i / 4)) >> (8 * (i % 4)));
}

/* First offset in [from, to) where buf differs from value V, or -1. */
static long first_not(const uint8_t *buf, size_t from, size_t to, uint8_t v)
{
    for (size_t i = from; i < to; i++) {
        if (buf[i] != v) {
            return (long)i;
        }
    }
    return -1;
}

static uint32_t rng_state = 0x9e3779b9;

static uint8_t rng8(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (uint8_t)rng_state;
}

#define SENTINEL 0xa5

/*
 * Run the testdev checks against a window of the IOMMU.  BASE is an
 * IOVA with at least 4 MiB of unused, page-aligned space above it inside
 * the window.
 */
static void testdev_checks(const char *win, uint64_t base, size_t pgsz)
{
    const size_t size = 64 * KiB > pgsz ? 64 * KiB : pgsz;
    uint8_t *buf = alloc_buf(size), *ro = alloc_buf(size);
    const uint64_t ro_iova = base + 1 * MiB, hole = base + 2 * MiB;
    struct cmd_result r;
    uint32_t seed = 0x11223344;
    long bad;
    size_t i, off, len;

    if (spapr) {
        spapr_register(buf, size);
        spapr_register(ro, size);
    }
    if (dma_map(base, buf, size, 1) < 0) {
        fatal("map %zu bytes read-write at IOVA 0x%" PRIx64, size, base);
    }
    if (dma_map(ro_iova, ro, size, 0) < 0) {
        fatal("map %zu bytes read-only at IOVA 0x%" PRIx64, size, ro_iova);
    }
    say("[%s] mapped %zu KiB read-write at IOVA 0x%" PRIx64
        ", %zu KiB read-only at 0x%" PRIx64,
        win, size / KiB, base, size / KiB, ro_iova);

    /* FILL, starting unaligned and crossing page boundaries. */
    memset(buf, SENTINEL, size);
    off = 0x10;
    len = 0x2000;
    r = td_run(OP_FILL, base + off, 0, len, seed);
    for (bad = -1, i = 0; i < len && bad < 0; i++) {
        if (buf[off + i] != pattern_byte(seed, i)) {
            bad = (long)(off + i);
        }
    }
    check(r.result == RES_OK && r.done == len && bad < 0,
          "[%s] FILL %zu bytes at IOVA 0x%" PRIx64 ": %s, %u bytes, pattern "
          "%s%s", win, len, base + off, rname(r.result), r.done,
          bad < 0 ? "exact" : "WRONG", path_note(r));
    bad = first_not(buf, 0, off, SENTINEL);
    if (bad < 0) {
        bad = first_not(buf, off + len, size, SENTINEL);
    }
    check(bad < 0,
          "[%s] FILL changed exactly its %zu bytes, nothing around them%s",
          win, len, bad < 0 ? "" : " (NOT TRUE)");

    /* COMPARE: equal, then one flipped byte. */
    r = td_run(OP_COMPARE, base + off, 0, len, seed);
    check(r.result == RES_OK, "[%s] COMPARE of the filled bytes: %s",
          win, rname(r.result));
    buf[off + 777] ^= 0xff;
    r = td_run(OP_COMPARE, base + off, 0, len, seed);
    check(r.result == RES_MISMATCH && r.fault_addr == base + off + 777,
          "[%s] COMPARE after flipping one byte: %s at 0x%" PRIx64
          " (want MISMATCH at 0x%" PRIx64 ")",
          win, rname(r.result), r.fault_addr, base + off + 777);

    /* COPY random bytes within the mapping. */
    for (i = 0; i < 0x1000; i++) {
        buf[0x4000 + i] = rng8();
    }
    memset(buf + 0x8000, SENTINEL, 0x2000);
    r = td_run(OP_COPY, base + 0x4000, base + 0x8000, 0x1000, 0);
    check(r.result == RES_OK && r.done == 0x1000 && r.fault_addr == 0 &&
          !memcmp(buf + 0x4000, buf + 0x8000, 0x1000) &&
          first_not(buf, 0x9000, 0xa000, SENTINEL) < 0,
          "[%s] COPY 4096 random bytes 0x%" PRIx64 " -> 0x%" PRIx64
          ": %s, %u bytes, %s",
          win, base + 0x4000, base + 0x8000, rname(r.result), r.done,
          memcmp(buf + 0x4000, buf + 0x8000, 0x1000) ?
          "DIFFERENT" : "identical");

    /* READ into the device buffer, seen through BAR0. */
    {
        uint8_t dbuf[256];

        r = td_run(OP_READ, base + 0x4000, 0, sizeof(dbuf), 0);
        dev_rw(0, bar0_off + BUF_OFFSET, dbuf, sizeof(dbuf));
        check(r.result == RES_OK && r.done == sizeof(dbuf) &&
              r.fault_addr == 0 &&
              !memcmp(dbuf, buf + 0x4000, sizeof(dbuf)),
              "[%s] READ 256 bytes into the device buffer: %s, %u bytes, %s",
              win, rname(r.result), r.done,
              memcmp(dbuf, buf + 0x4000, sizeof(dbuf)) ?
              "DIFFERENT" : "identical");
        /* WRITE the device buffer after changing it through BAR0. */
        for (i = 0; i < sizeof(dbuf); i++) {
            dbuf[i] = (uint8_t)(i * 7 + 3);
        }
        dev_rw(1, bar0_off + BUF_OFFSET, dbuf, sizeof(dbuf));
        memset(buf + 0xa000, SENTINEL, 0x200);
        r = td_run(OP_WRITE, base + 0xa000, 0, sizeof(dbuf), 0);
        check(r.result == RES_OK && r.done == sizeof(dbuf) &&
              r.fault_addr == 0 &&
              !memcmp(dbuf, buf + 0xa000, sizeof(dbuf)) &&
              first_not(buf, 0xa100, 0xa200, SENTINEL) < 0,
              "[%s] WRITE 256 bytes from the device buffer: %s, %u bytes, %s",
              win, rname(r.result), r.done,
              memcmp(dbuf, buf + 0xa000, sizeof(dbuf)) ?
              "DIFFERENT" : "identical");
    }

    /* Read-only mapping: the device may read, not write. */
    memset(ro, 0x5a, size);
    r = td_run(OP_FILL, ro_iova, 0, 256, seed);
    /*
     * The device tells a permission fault from a translation fault by
     * asking the IOMMU again, which the fork's IOMMUs allow: a lookup
     * that moves no data records no fault.
     */
    check(r.result == permission_fault(r) &&
          r.memtx == MEMTX_DECODE_ERROR &&
          r.fault_addr == ro_iova && r.done == 0 &&
          first_not(ro, 0, size, 0x5a) < 0 &&
          r.froze == (eeh && reached_iommu(r)),
          "[%s] FILL into the read-only mapping: %s at 0x%" PRIx64
          ", %u bytes, memory %s%s%s",
          win, rname(r.result), r.fault_addr, r.done,
          first_not(ro, 0, size, 0x5a) < 0 ? "untouched" : "CHANGED",
          eeh_note(r), path_note(r));
    r = td_run(OP_READ, ro_iova, 0, 256, 0);
    check(r.result == RES_OK && r.done == 256,
          "[%s] READ from the read-only mapping: %s, %u bytes",
          win, rname(r.result), r.done);

    /* Unmapped IOVA. */
    r = td_run(OP_FILL, hole, 0, 64, seed);
    check(r.result == RES_TRANSLATION_FAULT && r.memtx == MEMTX_DECODE_ERROR &&
          r.fault_addr == hole && r.done == 0 &&
          r.froze == (eeh && reached_iommu(r)),
          "[%s] FILL at unmapped IOVA 0x%" PRIx64 ": %s at 0x%" PRIx64
          ", %u bytes done%s%s",
          win, hole, rname(r.result), r.fault_addr, r.done, eeh_note(r),
          path_note(r));

    /* A transfer running off the end of the mapping. */
    memset(buf, SENTINEL, size);
    off = size - 0x800;
    r = td_run(OP_FILL, base + off, 0, 0x1000, seed);
    bad = first_not(buf, 0, off, SENTINEL);
    for (i = 0; i < r.done && bad < 0 && off + i < size; i++) {
        if (buf[off + i] != pattern_byte(seed, i)) {
            bad = (long)(off + i);
        }
    }
    if (bad < 0 && off + r.done < size) {
        bad = first_not(buf, off + r.done, size, SENTINEL);
    }
    /* Requests stop at 4 KiB boundaries: the first ends at the mapping's */
    check(r.result == RES_TRANSLATION_FAULT && r.fault_addr == base + size &&
          r.done == 0x800 && bad < 0,
          "[%s] FILL across the end of the mapping: %s at 0x%" PRIx64
          " (want 0x%" PRIx64 "), %u bytes done, memory %s",
          win, rname(r.result), r.fault_addr, base + size, r.done,
          bad < 0 ? "matches" : "WRONG");

    /* After unmap, the old IOVA must fault: the IOTLB was invalidated. */
    if (dma_unmap(base, size) < 0 || dma_unmap(ro_iova, size) < 0) {
        fatal("unmap");
    }
    memset(buf, SENTINEL, size);
    r = td_run(OP_FILL, base, 0, 256, seed);
    check(r.result == RES_TRANSLATION_FAULT && r.fault_addr == base &&
          r.done == 0 && first_not(buf, 0, size, SENTINEL) < 0,
          "[%s] FILL at IOVA 0x%" PRIx64 " after unmap: %s at 0x%" PRIx64
          ", %u bytes, old buffer %s%s",
          win, base, rname(r.result), r.fault_addr, r.done,
          first_not(buf, 0, size, SENTINEL) < 0 ? "untouched" : "CHANGED",
          path_note(r));

    if (spapr) {
        spapr_unregister(buf, size);
        spapr_unregister(ro, size);
    }
    munmap(buf, size);
    munmap(ro, size);
}

/* ---- NVMe --------------------------------------------------------------- */

static const char *nvme_serial = "VIOMMU0001";

static int nvme_wait_ready(int want)
{
    for (int i = 0; i < 2000; i++) {
        if ((rd32(0x1c) & 1) == (uint32_t)want) {
            return 1;
        }
        usleep(1000);
    }
    return 0;
}

/* Admin Identify Controller with the queues and the data in the mapping. */
static void nvme_checks(const char *win, uint64_t base, size_t pgsz)
{
    const size_t size = 64 * KiB > pgsz ? 64 * KiB : pgsz;
    uint8_t *buf = alloc_buf(size);
    /*
     * The admin completion queue is written by the controller via DMA, not
     * by this program: volatile makes the polling loop below re-read it
     * from memory on every iteration.
     */
    volatile uint32_t *cqe = (volatile uint32_t *)(buf + 0x1000);
    uint32_t *sqe = (uint32_t *)buf;
    uint8_t *id = buf + 0x2000;
    char sn[21];
    int i, done = 0;

    if (spapr) {
        spapr_register(buf, size);
    }
    if (dma_map(base, buf, size, 1) < 0) {
        fatal("map %zu bytes at IOVA 0x%" PRIx64, size, base);
    }
    say("[%s] mapped %zu KiB at IOVA 0x%" PRIx64 " for the admin queues",
        win, size / KiB, base);

    wr32(0x14, 0);                                /* CC.EN = 0 */
    if (!nvme_wait_ready(0)) {
        fatal("NVMe controller does not stop");
    }
    wr32(0x24, (1u << 16) | 1u);                  /* AQA: 2-entry queues */
    wr64(0x28, base);                             /* ASQ */
    wr64(0x30, base + 0x1000);                    /* ACQ */
    /* CC: IOCQES 16 B, IOSQES 64 B, EN */
    wr32(0x14, (4u << 20) | (6u << 16) | 1u);
    if (!nvme_wait_ready(1)) {
        fatal("NVMe controller does not become ready");
    }
    memset(sqe, 0, 64);
    /* Identify, command id 0x42 */
    sqe[0] = htole32(0x06 | (0x42u << 16));
    sqe[6] = htole32((uint32_t)(base + 0x2000));  /* PRP1 */
    sqe[7] = htole32((uint32_t)((base + 0x2000) >> 32));
    sqe[10] = htole32(1);                         /* CNS 1: controller */
    wr32(0x1000, 1);                              /* SQ0 tail doorbell */
    for (i = 0; i < 2000 && !done; i++) {
        done = le32toh(cqe[3]) & (1u << 16);      /* phase tag */
        if (!done) {
            usleep(1000);
        }
    }
    memcpy(sn, id + 4, 20);
    sn[20] = 0;
    for (i = 19; i >= 0 && sn[i] == ' '; i--) {
        sn[i] = 0;
    }
    check(done && (le32toh(cqe[3]) >> 17) == 0 &&
          (le32toh(cqe[3]) & 0xffff) == 0x42,
          "[%s] NVMe Identify completed through the IOMMU: status 0x%x",
          win, le32toh(cqe[3]) >> 17);
    check(id[0] == 0x36 && id[1] == 0x1b && !strcmp(sn, nvme_serial),
          "[%s] NVMe Identify data: vendor %02x%02x serial '%s'"
          " (want 1b36, '%s')",
          win, id[1], id[0], sn, nvme_serial);
    wr32(0x14, 0);
    nvme_wait_ready(0);
    if (dma_unmap(base, size) < 0) {
        fatal("unmap");
    }
    if (spapr) {
        spapr_unregister(buf, size);
    }
    munmap(buf, size);
}

/* ---- windows ------------------------------------------------------------ */

static int is_testdev;

static void run_checks(const char *win, uint64_t base, size_t pgsz)
{
    if (is_testdev) {
        testdev_checks(win, base, pgsz);
    } else {
        nvme_checks(win, base, pgsz);
    }
}

static void type1_windows(void)
{
    uint8_t raw[4096] = { 0 };
    struct vfio_iommu_type1_info *info = (void *)raw;
    uint64_t lo = 0x10000000, hi = 0, pg;

    info->argsz = sizeof(raw);
    if (ioctl(container_fd, VFIO_IOMMU_GET_INFO, info) < 0) {
        fatal("VFIO_IOMMU_GET_INFO");
    }
    pg = info->iova_pgsizes & -info->iova_pgsizes;
    say("type1: IOMMU page sizes 0x%" PRIx64 ", smallest %" PRIu64 " KiB",
        (uint64_t)info->iova_pgsizes, pg / KiB);
    if ((info->flags & VFIO_IOMMU_INFO_CAPS) && info->cap_offset) {
        struct vfio_info_cap_header *h = (void *)(raw + info->cap_offset);

        for (;;) {
            if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
                struct vfio_iommu_type1_info_cap_iova_range *c = (void *)h;

                for (unsigned i = 0; i < c->nr_iovas; i++) {
                    say("type1: usable IOVA range 0x%" PRIx64 "-0x%" PRIx64,
                        (uint64_t)c->iova_ranges[i].start,
                        (uint64_t)c->iova_ranges[i].end);
                    hi = c->iova_ranges[i].end;
                }
            }
            if (!h->next) {
                break;
            }
            h = (void *)(raw + h->next);
        }
    }
    run_checks("type1 low", lo, pg);
    /* Near the top of the input address space: deep page-table levels. */
    if (hi > 0xffffffffULL) {
        run_checks("type1 high", ((hi + 1) - 8 * MiB), pg);
    }
}

static void spapr_windows(const char *which)
{
    struct vfio_iommu_spapr_tce_info info = { .argsz = sizeof(info) };
    struct vfio_iommu_spapr_tce_create cr = { .argsz = sizeof(cr) };
    struct vfio_iommu_spapr_tce_remove rm = { .argsz = sizeof(rm) };
    unsigned shift, ps = (unsigned)__builtin_ctz(getpagesize());
    int rc;

    if (ioctl(container_fd, VFIO_IOMMU_SPAPR_TCE_GET_INFO, &info) < 0) {
        fatal("VFIO_IOMMU_SPAPR_TCE_GET_INFO");
    }
    say("spapr: default 32-bit window 0x%x + 0x%x; DDW %s, "
        "page sizes 0x%" PRIx64 ", %u dynamic window(s), %u level(s)",
        info.dma32_window_start, info.dma32_window_size,
        (info.flags & VFIO_IOMMU_SPAPR_INFO_DDW) ? "supported" : "absent",
        (uint64_t)info.ddw.pgsizes, info.ddw.max_dynamic_windows_supported,
        info.ddw.levels);
    /*
     * VFIO_IOMMU_ENABLE is a v1 requirement; v2 needs none, harmless if
     * refused.
     */

    if (strcmp(which, "ddw")) {
        run_checks("spapr default window",
                   info.dma32_window_start + 16 * MiB, 4 * KiB);
    }
    if (!strcmp(which, "default")) {
        return;
    }
    if (!(info.flags & VFIO_IOMMU_SPAPR_INFO_DDW)) {
        check(0, "[spapr ddw] the host reports no DDW support");
        return;
    }
    /* The largest IOMMU page size no larger than our own pages. */
    shift = ps;
    while (shift >= 12 && !(info.ddw.pgsizes & (1ULL << shift))) {
        shift--;
    }
    cr.page_shift = shift;
    cr.window_size = 1ULL << 32;
    cr.levels = 1;
    rc = ioctl(container_fd, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
    if (rc < 0 && info.dma32_window_size) {
        /* Only one window at a time: give up the default one. */
        say("spapr: TCE_CREATE with the default window present: %s; "
            "removing it", strerror(errno));
        rm.start_addr = info.dma32_window_start;
        if (ioctl(container_fd, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm) < 0) {
            fatal("VFIO_IOMMU_SPAPR_TCE_REMOVE of the default window");
        }
        rc = ioctl(container_fd, VFIO_IOMMU_SPAPR_TCE_CREATE, &cr);
    }
    if (!check(rc == 0 && cr.start_addr >= (1ULL << 32),
               "[spapr ddw] VFIO_IOMMU_SPAPR_TCE_CREATE: "
               "4 GiB window of %u KiB pages at 0x%" PRIx64,
               1u << (shift - 10), (uint64_t)cr.start_addr)) {
        return;
    }
    run_checks("spapr ddw", cr.start_addr + 16 * MiB, 1ULL << shift);
    rm.start_addr = cr.start_addr;
    check(ioctl(container_fd, VFIO_IOMMU_SPAPR_TCE_REMOVE, &rm) == 0,
          "[spapr ddw] VFIO_IOMMU_SPAPR_TCE_REMOVE of the window at 0x%" PRIx64,
          (uint64_t)cr.start_addr);
}

int main(int argc, char **argv)
{
    const char *which = "all";
    uint16_t vendor, devid;
    int opt;

    while ((opt = getopt(argc, argv, "w:s:")) != -1) {
        switch (opt) {
        case 'w':
            which = optarg;
            break;
        case 's':
            nvme_serial = optarg;
            break;
        default:
            goto usage;
        }
    }
    if (optind != argc - 1) {
usage:
        fprintf(stderr,
                "usage: vfio-dma [-w default|ddw|all] [-s NVME_SERIAL] BDF\n");
        return 2;
    }
    open_device(argv[optind]);
    vendor = cfg_rd16(0);
    devid = cfg_rd16(2);
    if (vendor == VIOMMU_TESTDEV_PCI_VENDOR_ID &&
        devid == VIOMMU_TESTDEV_PCI_DEVICE_ID) {
        uint32_t idr = rd32(R_ID), ver = rd32(R_VERSION);

        is_testdev = 1;
        if (!check(idr == ID_VALUE && ver == VERSION_VALUE,
                   "viommu-testdev: ID 0x%08x VERSION %u, BAR0 %" PRIu64 " KiB",
                   idr, ver, bar0_size / KiB)) {
            goto out;
        }
    } else if (vendor == 0x1b36 && devid == 0x0010) {
        say("NVMe controller (QEMU), CAP 0x%016" PRIx64, rd64(0));
    } else {
        errno = 0;
        fatal("unsupported device %04x:%04x", vendor, devid);
    }
    if (spapr) {
        spapr_windows(which);
    } else {
        type1_windows();
    }
out:
    if (failures || !checks) {
        printf("VFIO-DMA RESULT: FAIL (%u of %u checks failed)\n",
               failures, checks);
        return 1;
    }
    printf("VFIO-DMA RESULT: PASS (%u checks)\n", checks);
    return 0;
}
