/*
 * pat-check: drive a TI PAT from a Linux guest with no PAT driver.
 *
 * Finds the PAT through the device tree (/proc/device-tree/pat@*), maps
 * its MMRS, TABLE and window through /dev/mem, points four window pages
 * at four scattered pages of its own (locked) memory, found through
 * /proc/self/pagemap, and checks the data through the window twice:
 * with the CPU, and with viommu-testdev DMA at window addresses (its BAR
 * mapped from sysfs, bus mastering enabled through the config file).
 * Then it disables one entry and checks the DMA's decode error.
 *
 * On two CPUs, it also has CPU 0 re-point an entry while a thread on
 * CPU 1 reads through it: each round CPU 0 rewrites the entry, then
 * publishes the round, and the reader, which loads the round and then
 * the window, must see the page that round named (TCG must have dropped
 * CPU 1's old translation by the time CPU 0's store completed).
 *
 * Prints "ok   [pat ...] ..." per check and "PAT-CHECK RESULT: PASS" or
 * "FAIL"; exit status 0 on success.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ti-pat.h"
#include "viommu-testdev.h"

#define NPAGES      4
#define PAGE        4096u
#define SMP_ROUNDS  2000u

static int failures;

/* Registers, the table and the window: every access must happen */
typedef volatile uint8_t mmio8;     /* volatile: MMIO */
typedef volatile uint32_t mmio32;   /* volatile: MMIO */

#define CHECK(cond, ...) do {                                   \
    if (cond) {                                                 \
        printf("ok   " __VA_ARGS__);                            \
    } else {                                                    \
        printf("FAIL " __VA_ARGS__);                            \
        failures++;                                             \
    }                                                           \
    printf("\n");                                               \
} while (0)

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static ssize_t read_file(const char *path, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    n = read(fd, buf, len);
    close(fd);
    return n;
}

typedef struct Pat {
    char node[300];
    uint64_t base[3], size[3];
    uint64_t win_base, win_size;
} Pat;

static bool find_pat(Pat *p)
{
    DIR *d = opendir("/proc/device-tree");
    struct dirent *de;
    bool found = false;

    if (!d) {
        return false;
    }
    while (!found && (de = readdir(d))) {
        char path[512], compat[64] = "", names[64];
        uint8_t reg[48], cell[8];
        ssize_t n;

        if (strncmp(de->d_name, "pat@", 4)) {
            continue;
        }
        snprintf(p->node, sizeof(p->node), "/proc/device-tree/%s", de->d_name);
        snprintf(path, sizeof(path), "%s/compatible", p->node);
        if (read_file(path, compat, sizeof(compat) - 1) <= 0 ||
            strcmp(compat, "ti,j721e-pat")) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/reg-names", p->node);
        n = read_file(path, names, sizeof(names));
        if (n != sizeof("mmrs\0table\0window") ||
            memcmp(names, "mmrs\0table\0window", n)) {
            printf("FAIL [pat dt] %s: reg-names is not mmrs, table, window\n",
                   p->node);
            failures++;
            continue;
        }
        snprintf(path, sizeof(path), "%s/reg", p->node);
        if (read_file(path, reg, sizeof(reg)) != sizeof(reg)) {
            continue;
        }
        for (int i = 0; i < 3; i++) {
            p->base[i] = be64(reg + 16 * i);
            p->size[i] = be64(reg + 16 * i + 8);
        }
        snprintf(path, sizeof(path), "%s/ti,pat-window-base", p->node);
        p->win_base = read_file(path, cell, 8) == 8 ? be64(cell) : 0;
        snprintf(path, sizeof(path), "%s/ti,pat-window-size", p->node);
        p->win_size = read_file(path, cell, 8) == 8 ? be64(cell) : 0;
        found = true;
    }
    closedir(d);
    return found;
}

static mmio32 *map_phys(int fd, uint64_t pa, size_t len)
{
    void *v = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, pa);

    if (v == MAP_FAILED) {
        printf("FAIL [pat] mmap of /dev/mem at 0x%" PRIx64 ": %s\n", pa,
               strerror(errno));
        exit(1);
    }
    return v;
}

static uint64_t phys_of(void *va)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t ent = 0;

    if (fd < 0 || pread(fd, &ent, 8, (uintptr_t)va / PAGE * 8) != 8) {
        printf("FAIL [pat] /proc/self/pagemap: %s\n", strerror(errno));
        exit(1);
    }
    close(fd);
    if (!(ent >> 63) || !(ent & ((1ull << 55) - 1))) {
        printf("FAIL [pat] no frame for %p in pagemap\n", va);
        exit(1);
    }
    return (ent & ((1ull << 55) - 1)) * PAGE;
}

/* The testdev: its BAR 0 from sysfs, bus mastering on */
static mmio8 *open_testdev(char *bdf, size_t bdflen)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    struct dirent *de;
    mmio8 *bar = NULL;

    while (d && (de = readdir(d))) {
        char path[512], id[16] = "";
        unsigned device = 0;
        uint16_t cmd;
        int fd;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
                 de->d_name);
        if (read_file(path, id, sizeof(id) - 1) <= 0 ||
            sscanf(id, "%x", &device) != 1 ||
            device != VIOMMU_TESTDEV_PCI_DEVICE_ID) {
            continue;
        }
        snprintf(bdf, bdflen, "%s", de->d_name);
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
        fd = open(path, O_RDWR);
        if (fd < 0 || pread(fd, &cmd, 2, 4) != 2) {
            break;
        }
        cmd |= 0x6;     /* memory space, bus master */
        if (pwrite(fd, &cmd, 2, 4) != 2) {
            break;
        }
        close(fd);
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
        fd = open(path, O_RDWR | O_SYNC);
        if (fd < 0) {
            break;
        }
        bar = mmap(NULL, BUF_OFFSET + BUF_SIZE, PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
        close(fd);
        if (bar == MAP_FAILED) {
            bar = NULL;
        }
        break;
    }
    if (d) {
        closedir(d);
    }
    return bar;
}

/* The bus address of BAR 0 of @bdf, from sysfs */
static uint64_t bar0_phys(const char *bdf)
{
    char path[512], line[128] = "";
    unsigned long long start = 0;

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
    if (read_file(path, line, sizeof(line) - 1) <= 0 ||
        sscanf(line, "%llx", &start) != 1) {
        return 0;
    }
    return start;
}

static uint32_t rd(mmio8 *bar, uint32_t off)
{
    return *(mmio32 *)(bar + off);
}

static void wr(mmio8 *bar, uint32_t off, uint32_t v)
{
    *(mmio32 *)(bar + off) = v;
}

static uint32_t run(mmio8 *bar, uint32_t op, uint64_t addr,
                    uint32_t len)
{
    wr(bar, R_DMA_ADDR, (uint32_t)addr);
    wr(bar, R_DMA_ADDR + 4, addr >> 32);
    wr(bar, R_LEN, len);
    wr(bar, R_OP, op);
    wr(bar, R_DOORBELL, 1);
    return STATUS_RESULT(rd(bar, R_STATUS));
}

/* ---- CPU 0 re-points, CPU 1 reads ---- */

typedef struct SmpRun {
    mmio32 *win;
    uint32_t expect[NPAGES];    /* word 0 of each of our pages */
    volatile uint32_t round;    /* published by CPU 0 */
    volatile uint32_t acked;    /* the last round CPU 1 checked */
    uint32_t stale, first_stale_round;
} SmpRun;

static bool pin_to(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0;
}

/* The page round @r points entry 0 at */
static unsigned smp_page(uint32_t r)
{
    return r % NPAGES;
}

static void *smp_reader(void *opaque)
{
    SmpRun *run = opaque;
    uint32_t done = 0;

    if (!pin_to(1)) {
        run->stale = UINT32_MAX;
        __atomic_store_n(&run->acked, SMP_ROUNDS, __ATOMIC_RELEASE);
        return NULL;
    }
    while (done < SMP_ROUNDS) {
        /* The round, then the window, with no branch in between */
        uint32_t r = __atomic_load_n(&run->round, __ATOMIC_ACQUIRE);
        uint32_t v = run->win[0];

        if (r == done) {
            continue;
        }
        if (v != run->expect[smp_page(r)]) {
            if (!run->stale++) {
                run->first_stale_round = r;
            }
        }
        done = r;
        __atomic_store_n(&run->acked, r, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void check_smp(mmio32 *table, mmio32 *win, const uint64_t *pa)
{
    SmpRun run = { .win = win };
    pthread_t reader;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    if (cpus < 2 || !pin_to(0)) {
        CHECK(false, "[pat smp] two CPUs to run on: %ld online", cpus);
        return;
    }
    for (int i = 0; i < NPAGES; i++) {
        run.expect[i] = 0x5e000000u + i;
    }
    for (int i = 0; i < NPAGES; i++) {
        /* Word 0 of the frame entry i names, through the window */
        win[i * PAGE / 4] = run.expect[i];
    }
    if (pthread_create(&reader, NULL, smp_reader, &run)) {
        CHECK(false, "[pat smp] a reader thread on CPU 1");
        return;
    }
    for (uint32_t r = 1; r <= SMP_ROUNDS; r++) {
        table[TI_PAT_ENTRY_OFFSET(0) / 4] = TI_PAT_ADDRL(pa[smp_page(r)]);
        __atomic_store_n(&run.round, r, __ATOMIC_RELEASE);
        while (__atomic_load_n(&run.acked, __ATOMIC_ACQUIRE) < r) {
            /* wait for CPU 1 */
        }
    }
    pthread_join(reader, NULL);
    table[TI_PAT_ENTRY_OFFSET(0) / 4] = TI_PAT_ADDRL(pa[0]);
    CHECK(run.stale == 0, "[pat smp] CPU 0 re-pointed entry 0 %u times while "
          "CPU 1 read through it: %u stale reads (first in round %u)",
          SMP_ROUNDS, run.stale, run.first_stale_round);
}

/* How the device moved the last command's requests, for the check lines */
static const char *path_note(mmio8 *bar)
{
    static char note[96];

    switch (rd(bar, R_DMA_PATH) & 7) {
    case DMA_PATH_DIRECT:
    case DMA_PATH_MESSAGE:
        snprintf(note, sizeof(note), " [out of process: %u request(s) "
                 "direct, %u by message]", rd(bar, R_DIRECT_REQS),
                 rd(bar, R_MESSAGE_REQS));
        break;
    case DMA_PATH_REFUSED:
        snprintf(note, sizeof(note), " [out of process: refused by the "
                 "device, no mapping allows it]");
        break;
    default:
        note[0] = 0;
    }
    return note;
}

int main(void)
{
    Pat p;
    int mem;
    mmio32 *mmrs, *table, *win;
    uint8_t *buf;
    uint64_t pa[NPAGES];
    mmio8 *bar;
    char bdf[256];
    uint32_t res, memtx, done;
    uint64_t fault;
    bool same;

    if (!find_pat(&p)) {
        printf("FAIL [pat dt] no ti,j721e-pat node in /proc/device-tree\n");
        printf("PAT-CHECK RESULT: FAIL\n");
        return 1;
    }
    printf("pat: %s: mmrs 0x%" PRIx64 "+0x%" PRIx64 ", table 0x%" PRIx64
           "+0x%" PRIx64 ", window 0x%" PRIx64 "+0x%" PRIx64 "\n", p.node,
           p.base[0], p.size[0], p.base[1], p.size[1], p.base[2], p.size[2]);
    CHECK(p.win_base == p.base[2] && p.win_size == p.size[2],
          "[pat dt] ti,pat-window-base 0x%" PRIx64 " and ti,pat-window-size 0x%"
          PRIx64 " match the window reg", p.win_base, p.win_size);

    mem = open("/dev/mem", O_RDWR | O_SYNC);
    if (mem < 0) {
        printf("FAIL [pat] /dev/mem: %s\nPAT-CHECK RESULT: FAIL\n",
               strerror(errno));
        return 1;
    }
    mmrs = map_phys(mem, p.base[0], PAGE);
    table = map_phys(mem, p.base[1], PAGE);
    win = map_phys(mem, p.base[2], NPAGES * PAGE);
    CHECK(mmrs[TI_PAT_PID / 4] == TI_PAT_PID_VALUE &&
          mmrs[TI_PAT_CONFIG / 4] == p.size[1] / 16,
          "[pat mmrs] PID 0x%x, CONFIG %u entries (TABLE is 0x%" PRIx64
          " bytes)", mmrs[TI_PAT_PID / 4], mmrs[TI_PAT_CONFIG / 4], p.size[1]);

    /* Four pages of our own, pointed at backwards and one apart */
    buf = aligned_alloc(PAGE, 2 * NPAGES * PAGE);
    memset(buf, 0, 2 * NPAGES * PAGE);
    if (mlock(buf, 2 * NPAGES * PAGE)) {
        printf("FAIL [pat] mlock: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < NPAGES; i++) {
        pa[i] = phys_of(buf + (NPAGES - 1 - i) * 2 * PAGE);
        table[TI_PAT_ENTRY_OFFSET(i) / 4] = TI_PAT_ADDRL(pa[i]);
        table[TI_PAT_ENTRY_OFFSET(i) / 4 + 1] = TI_PAT_ADDRH(pa[i]) |
                                                TI_PAT_ADDRH_ENABLE;
        printf("pat: entry %d -> 0x%" PRIx64 "\n", i, pa[i]);
    }
    mmrs[TI_PAT_CONTROL / 4] = TI_PAT_CONTROL_EN |
                               TI_PAT_CONTROL_PAGE_SIZE(TI_PAT_PAGE_4K);
    CHECK(mmrs[TI_PAT_CONTROL / 4] == 1, "[pat mmrs] CONTROL 0x%x: EN, 4 KiB"
          " pages", mmrs[TI_PAT_CONTROL / 4]);

    /* CPU: through the window, seen in our pages, and back */
    for (uint32_t i = 0; i < NPAGES * PAGE / 4; i++) {
        win[i] = 0xc0de0000u + i;
    }
    same = true;
    for (uint32_t i = 0; i < NPAGES * PAGE / 4; i++) {
        uint32_t page = i / (PAGE / 4);
        uint32_t *mine = (uint32_t *)(buf + (NPAGES - 1 - page) * 2 * PAGE);

        same &= mine[i % (PAGE / 4)] == 0xc0de0000u + i;
    }
    CHECK(same, "[pat cpu] %u words written through the window landed in the"
          " %d scattered pages the entries name", NPAGES * PAGE / 4, NPAGES);
    ((uint32_t *)(buf + 6 * PAGE))[5] = 0x600dcafe;
    CHECK(win[5] == 0x600dcafe, "[pat cpu] a word written to page 0's frame "
          "reads back through the window: 0x%x", win[5]);

    /* Re-pointed while the CPU's TLB holds it: the next load sees it */
    (void)win[0];
    table[TI_PAT_ENTRY_OFFSET(0) / 4] = TI_PAT_ADDRL(pa[1]);
    CHECK(win[0] == 0xc0de0000u + PAGE / 4,
          "[pat cpu] entry 0 re-pointed at page 1's frame: the next load "
          "through the window reads 0x%x", win[0]);
    table[TI_PAT_ENTRY_OFFSET(0) / 4] = TI_PAT_ADDRL(pa[0]);
    CHECK(win[5] == 0x600dcafe, "[pat cpu] and pointed back: 0x%x", win[5]);

    check_smp(table, win, pa);

    /* DMA by viommu-testdev at window addresses */
    bar = open_testdev(bdf, sizeof(bdf));
    if (!bar) {
        printf("FAIL [pat dma] no viommu-testdev BAR to map\n");
        printf("PAT-CHECK RESULT: FAIL\n");
        return 1;
    }
    printf("pat: viommu-testdev %s, BAR 0 mapped from sysfs, bus master\n",
           bdf);
    for (uint32_t i = 0; i < 2 * PAGE; i += 4) {
        wr(bar, BUF_OFFSET + i, 0xd0000000u + i);
    }
    res = run(bar, OP_WRITE, p.base[2] + PAGE / 2, 2 * PAGE);
    done = rd(bar, R_DONE_BYTES);
    same = true;
    for (uint32_t i = 0; i < 2 * PAGE; i += 4) {
        uint32_t off = PAGE / 2 + i;
        uint32_t page = off / PAGE;
        uint8_t *mine = buf + (NPAGES - 1 - page) * 2 * PAGE;

        same &= *(uint32_t *)(mine + off % PAGE) == 0xd0000000u + i;
    }
    CHECK(res == RES_OK && done == 2 * PAGE && same,
          "[pat dma] WRITE of %u bytes at window+0x%x, across pages 0-2: "
          "result %u, %u bytes, memory matches%s", 2 * PAGE, PAGE / 2, res,
          done, path_note(bar));

    wr(bar, R_PATTERN, 0x11110000);
    res = run(bar, OP_FILL, p.base[2] + 3 * PAGE, PAGE);
    same = true;
    for (uint32_t i = 0; i < PAGE / 4; i++) {
        same &= ((uint32_t *)buf)[i] == 0x11110000 + i;
    }
    CHECK(res == RES_OK && same, "[pat dma] FILL of page 3 through the window"
          " landed in its frame 0x%" PRIx64, pa[3]);

    for (uint32_t i = 0; i < 2 * PAGE; i += 4) {
        wr(bar, BUF_OFFSET + i, 0);
    }
    res = run(bar, OP_READ, p.base[2] + PAGE / 2, 2 * PAGE);
    same = true;
    for (uint32_t i = 0; i < 2 * PAGE; i += 4) {
        same &= rd(bar, BUF_OFFSET + i) == 0xd0000000u + i;
    }
    CHECK(res == RES_OK && same, "[pat dma] READ back through the window "
          "matches what WRITE put there");

    /* The CPU through the window onto a device's registers, not RAM */
    {
        uint64_t buf_pa = bar0_phys(bdf) + BUF_OFFSET;

        wr(bar, BUF_OFFSET + 0x10, 0xfeedf00d);
        table[TI_PAT_ENTRY_OFFSET(1) / 4] = TI_PAT_ADDRL(buf_pa);
        table[TI_PAT_ENTRY_OFFSET(1) / 4 + 1] = TI_PAT_ADDRH(buf_pa) |
                                                TI_PAT_ADDRH_ENABLE;
        CHECK(buf_pa > BUF_OFFSET && win[PAGE / 4 + 4] == 0xfeedf00d,
              "[pat cpu] entry 1 pointed at the test device's buffer "
              "(0x%" PRIx64 "): a load through the window reads 0x%x",
              buf_pa, win[PAGE / 4 + 4]);
        table[TI_PAT_ENTRY_OFFSET(1) / 4] = TI_PAT_ADDRL(pa[1]);
        table[TI_PAT_ENTRY_OFFSET(1) / 4 + 1] = TI_PAT_ADDRH(pa[1]) |
                                                TI_PAT_ADDRH_ENABLE;
    }

    /* An entry disabled: the next DMA there fails with a decode error */
    table[TI_PAT_ENTRY_OFFSET(2) / 4 + 1] = TI_PAT_ADDRH(pa[2]);
    res = run(bar, OP_FILL, p.base[2] + 2 * PAGE + 8, 8);
    memtx = rd(bar, R_MEMTX);
    fault = rd(bar, R_FAULT_ADDR) | (uint64_t)rd(bar, R_FAULT_ADDR + 4) << 32;
    done = rd(bar, R_DONE_BYTES);
    CHECK(res == RES_TRANSLATION_FAULT && memtx == MEMTX_DECODE_ERROR &&
          fault == p.base[2] + 2 * PAGE + 8 && done == 0,
          "[pat dma] FILL through disabled entry 2: result %u, MEMTX 0x%x "
          "(DECODE_ERROR), fault at 0x%" PRIx64 ", %u bytes%s", res, memtx,
          fault, done, path_note(bar));

    mmrs[TI_PAT_CONTROL / 4] = 0;
    printf("PAT-CHECK RESULT: %s\n", failures ? "FAIL" : "PASS");
    return failures ? 1 : 0;
}
