/*
 * viommu-bench: what one DMA access costs through a vIOMMU
 *
 * viommu-testdev's burst commands run BURST_COUNT accesses inside one
 * doorbell write, so timing that write and dividing by the count gives the
 * cost of one access: the device's request, the IOMMU's translate() and
 * the memory access.  Each scenario runs in its own -M virt:
 *
 *   no-iommu            no IOMMU in front of the device
 *   smmuv3-off          SMMUv3 present, SMMUEN clear (GBPA bypass)
 *   smmuv3-ste-bypass   SMMUv3 enabled, the device's STE says bypass
 *   smmuv3-s1-hot       stage 1 through a CD and a 4-level 4 KiB table,
 *                       the burst cycling over 16 pages (IOTLB hits)
 *   smmuv3-s1-wide      the same over 4096 pages, more than a 256-entry
 *                       IOTLB holds
 *   smmuv3-s2-hot       stage 2 only (an SMMU with stage=2), 4-level 4 KiB
 *                       table over a 44-bit IPA space, 16 pages
 *   smmuv3-s2-wide      the same over 4096 pages
 *   no-iommu-wide       no IOMMU over 4096 pages, the baseline for -wide
 *
 * Before timing, every scenario proves that the DMA lands where it should
 * (a translated IOVA reaches the expected, deliberately scrambled, PA), and
 * every timed burst must complete with OK and all its accesses done, so a
 * fault can never be timed as a fast access.
 *
 * By default (as under "meson test") the counts are tiny and the numbers
 * meaningless: the run only shows that every scenario works.  With
 * "-m perf" (make bench) the counts are sized for stable numbers and a
 * table is printed at the end.  Nothing here asserts on time.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"
#include "libqos/smmuv3.h"
#include "libqos/viommu-testdev.h"
#include "hw/pci/pci_regs.h"

#define VIRT_RAM_BASE       0x40000000ull
#define DEV_SLOT            4
#define DEV_DEVFN           QPCI_DEVFN(DEV_SLOT, 0)
#define DEV_SID             DEV_DEVFN   /* bus 0 */

/* Guest memory used by the SMMU's structures */
#define STRTAB_ADDR         (VIRT_RAM_BASE + 0x100000)
#define STRTAB_LOG2SIZE     6
#define EVENTQ_ADDR         (VIRT_RAM_BASE + 0x110000)
#define EVENTQ_LOG2SIZE     4
#define CD_ADDR             (VIRT_RAM_BASE + 0x120000)
#define PT_POOL             (VIRT_RAM_BASE + 0x200000)
#define PT_POOL_SIZE        0x100000ull

/* The pages the bursts reach, and where they sit in IOVA space */
#define DATA_PA             (VIRT_RAM_BASE + 0x1000000)
#define MAX_PAGES           4096
/* Far from RAM, so that an untranslated access could never land there */
#define IOVA_BASE           0x8000000000ull
#define ASID                1
#define VMID                1
/* Upstream's SMMUv3 has a 44-bit OAS, so its stage 2 takes 44-bit IPAs */
#define S2_IPA_BITS         44

#define PAGE                QSMMU_PAGE_SIZE
/* Small accesses, so that translation rather than copying dominates */
#define ACCESS_LEN          8

#define HOT_PAGES           16
#define WIDE_PAGES          MAX_PAGES

/* -m perf: aim each timed burst at this long, and take the median of */
#define PERF_TARGET_NS      200000000.0
#define PERF_REPS           7
#define QUICK_REPS          3
#define NOP_REPS            64

typedef enum Mode {
    MODE_NO_IOMMU,
    MODE_SMMU_OFF,
    MODE_STE_BYPASS,
    MODE_S1,
    MODE_S2,
} Mode;

typedef struct Scenario {
    const char *name;
    const char *what;
    Mode mode;
    unsigned pages;
} Scenario;

static const Scenario scenarios[] = {
    { "virt/no-iommu", "no IOMMU, 16 pages", MODE_NO_IOMMU, HOT_PAGES },
    { "virt/smmuv3-off", "SMMUv3, SMMUEN=0 (GBPA bypass), 16 pages",
      MODE_SMMU_OFF, HOT_PAGES },
    { "virt/smmuv3-ste-bypass", "SMMUv3, STE bypass, 16 pages",
      MODE_STE_BYPASS, HOT_PAGES },
    { "virt/smmuv3-s1-hot", "SMMUv3 S1 4K, 16 pages (IOTLB hits)",
      MODE_S1, HOT_PAGES },
    { "virt/smmuv3-s1-wide", "SMMUv3 S1 4K, 4096 pages (> IOTLB)",
      MODE_S1, WIDE_PAGES },
    { "virt/smmuv3-s2-hot", "SMMUv3 S2 4K, 16 pages (IOTLB hits)",
      MODE_S2, HOT_PAGES },
    { "virt/smmuv3-s2-wide", "SMMUv3 S2 4K, 4096 pages (> IOTLB)",
      MODE_S2, WIDE_PAGES },
    { "virt/no-iommu-wide", "no IOMMU, 4096 pages", MODE_NO_IOMMU,
      WIDE_PAGES },
};

enum { DIR_READ, DIR_WRITE, DIR_COUNT };
static const char *const dir_name[DIR_COUNT] = { "read", "write" };

typedef struct Result {
    bool done;
    double ns_per_access;
    uint32_t count;
    unsigned reps;
} Result;

static Result results[ARRAY_SIZE(scenarios)][DIR_COUNT];

typedef struct Bench {
    const Scenario *sc;
    QTestState *qts;
    QGenericPCIBus gbus;
    QPCIDevice *dev;
    QPCIBar bar;
    QSMMUv3 smmu;
    uint64_t dma_base;      /* bus address of page 0 */
} Bench;

static uint32_t rd(Bench *b, uint64_t off)
{
    return qpci_io_readl(b->dev, b->bar, off);
}

static void wr(Bench *b, uint64_t off, uint32_t val)
{
    qpci_io_writel(b->dev, b->bar, off, val);
}

/*
 * Where page @i of the burst lands.  Through the SMMU the pages are mapped
 * in reverse order, so that only a real translation puts bytes there.
 */
static bool translates(Bench *b)
{
    return b->sc->mode == MODE_S1 || b->sc->mode == MODE_S2;
}

static uint64_t page_pa(Bench *b, unsigned i)
{
    if (translates(b)) {
        return DATA_PA + (uint64_t)(b->sc->pages - 1 - i) * PAGE;
    }
    return DATA_PA + (uint64_t)i * PAGE;
}

static uint64_t page_marker(unsigned i)
{
    return 0x5eed000000000000ull | ((uint64_t)i << 16) | 0xa5a5;
}

static const char *machine_opts(Mode mode)
{
    switch (mode) {
    case MODE_NO_IOMMU:
        return "";
    case MODE_S2:
        /* Upstream's SMMUv3 implements stage 1 or stage 2, by property */
        return ",iommu=smmuv3 -global arm-smmuv3.stage=2";
    default:
        return ",iommu=smmuv3";
    }
}

static void bench_start(Bench *b, const Scenario *sc)
{
    memset(b, 0, sizeof(*b));
    b->sc = sc;
    b->qts = qtest_initf("-M virt%s -cpu max -m 512M -nodefaults "
                         "-device viommu-testdev,addr=%d.0",
                         machine_opts(sc->mode), DEV_SLOT);
    qpci_init_generic(&b->gbus, b->qts, NULL, false);
    b->dev = qpci_device_find(&b->gbus.bus, DEV_DEVFN);
    g_assert(b->dev);
    g_assert_cmphex(qpci_config_readw(b->dev, PCI_VENDOR_ID), ==,
                    VIOMMU_TESTDEV_PCI_VENDOR_ID);
    g_assert_cmphex(qpci_config_readw(b->dev, PCI_DEVICE_ID), ==,
                    VIOMMU_TESTDEV_PCI_DEVICE_ID);
    b->bar = qpci_iomap(b->dev, 0, NULL);
    qpci_device_enable(b->dev);
    g_assert_cmphex(rd(b, R_ID), ==, ID_VALUE);
    b->dma_base = DATA_PA;

    if (sc->mode == MODE_NO_IOMMU) {
        return;
    }
    qsmmu_init(&b->smmu, b->qts, QSMMU_VIRT_BASE);
    if (sc->mode == MODE_SMMU_OFF) {
        g_assert_cmphex(qsmmu_readl(&b->smmu, SMMU_CR0), ==, 0);
        g_assert_cmphex(qsmmu_readl(&b->smmu, SMMU_GBPA) & SMMU_GBPA_ABORT,
                        ==, 0);
        return;
    }

    qsmmu_setup_tables(&b->smmu, STRTAB_ADDR, STRTAB_LOG2SIZE,
                       EVENTQ_ADDR, EVENTQ_LOG2SIZE);
    if (sc->mode == MODE_STE_BYPASS) {
        qsmmu_ste_bypass(&b->smmu, DEV_SID);
    } else {
        QSMMUPageTable pt;

        qsmmu_pt_init(&pt, b->qts, sc->mode == MODE_S2, PT_POOL,
                      PT_POOL_SIZE);
        for (unsigned i = 0; i < sc->pages; i++) {
            qsmmu_pt_map(&pt, IOVA_BASE + (uint64_t)i * PAGE,
                         page_pa(b, i), true);
        }
        if (sc->mode == MODE_S1) {
            qsmmu_cd_s1_4k(b->qts, CD_ADDR, pt.root, ASID);
            qsmmu_ste_s1(&b->smmu, DEV_SID, CD_ADDR);
        } else {
            qsmmu_ste_s2(&b->smmu, DEV_SID, pt.root, S2_IPA_BITS, VMID);
        }
        b->dma_base = IOVA_BASE;
    }
    qsmmu_set_cr0(&b->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
}

static void bench_stop(Bench *b)
{
    g_free(b->dev);
    qtest_quit(b->qts);
}

/* Program a burst over the scenario's pages, one access per page */
static void burst_setup(Bench *b, int dir, uint32_t count)
{
    qpci_io_writeq(b->dev, b->bar, R_DMA_ADDR, b->dma_base);
    wr(b, R_LEN, ACCESS_LEN);
    wr(b, R_OP, dir == DIR_READ ? OP_BURST_READ : OP_BURST_WRITE);
    wr(b, R_BURST_COUNT, count);
    wr(b, R_BURST_STRIDE, PAGE);
    wr(b, R_BURST_SPAN, b->sc->pages * PAGE);
}

/* Check that the last command was a burst that did all @count accesses */
static void assert_burst_ok(Bench *b, uint32_t count)
{
    uint32_t st = rd(b, R_STATUS);

    g_assert_cmphex(st & STATUS_BUSY, ==, 0);
    g_assert_cmpuint(STATUS_RESULT(st), ==, RES_OK);
    g_assert_cmpuint(rd(b, R_BURST_DONE), ==, count);
    g_assert_cmpuint(rd(b, R_DONE_BYTES), ==, count * ACCESS_LEN);
}

static void assert_no_events(Bench *b)
{
    if (b->sc->mode != MODE_NO_IOMMU && b->sc->mode != MODE_SMMU_OFF) {
        g_assert_cmphex(qsmmu_readl(&b->smmu, SMMU_EVENTQ_PROD), ==, 0);
    }
}

/*
 * Prove the path before timing it: reads of page i return page i's marker
 * (the buffer holds the last access's bytes, so bursts of a few lengths
 * name a few pages), and a write burst stores into every page's expected
 * PA and nowhere else in its first 16 bytes.
 */
static void verify_path(Bench *b)
{
    unsigned pages = b->sc->pages;
    uint32_t counts[] = { 1, 2, pages / 2 + 1, pages, pages + 3 };
    const uint64_t written = 0x0123456789abcdefull;

    for (unsigned i = 0; i < pages; i++) {
        qtest_writeq(b->qts, page_pa(b, i), page_marker(i));
        qtest_writeq(b->qts, page_pa(b, i) + ACCESS_LEN, 0);
    }
    for (int k = 0; k < ARRAY_SIZE(counts); k++) {
        qpci_io_writeq(b->dev, b->bar, BUF_OFFSET, 0);
        burst_setup(b, DIR_READ, counts[k]);
        wr(b, R_DOORBELL, 1);
        assert_burst_ok(b, counts[k]);
        g_assert_cmphex(qpci_io_readq(b->dev, b->bar, BUF_OFFSET), ==,
                        page_marker((counts[k] - 1) % pages));
    }

    qpci_io_writeq(b->dev, b->bar, BUF_OFFSET, written);
    burst_setup(b, DIR_WRITE, pages);
    wr(b, R_DOORBELL, 1);
    assert_burst_ok(b, pages);
    for (unsigned i = 0; i < pages; i++) {
        g_assert_cmphex(qtest_readq(b->qts, page_pa(b, i)), ==, written);
        g_assert_cmphex(qtest_readq(b->qts, page_pa(b, i) + ACCESS_LEN), ==,
                        0);
    }
    assert_no_events(b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Wall time of one doorbell write, in ns: the qtest round trip included */
static double time_doorbell(Bench *b)
{
    int64_t t0 = g_get_monotonic_time();

    wr(b, R_DOORBELL, 1);
    return (g_get_monotonic_time() - t0) * 1000.0;
}

/*
 * What a doorbell costs with no DMA behind it: the qtest round trip and
 * the register write, to be taken off every burst.
 */
static double nop_overhead_ns(Bench *b)
{
    double t[NOP_REPS];

    wr(b, R_OP, OP_NOP);
    for (int i = 0; i < NOP_REPS; i++) {
        t[i] = time_doorbell(b);
    }
    g_assert_cmpuint(STATUS_RESULT(rd(b, R_STATUS)), ==, RES_OK);
    return median(t, NOP_REPS);
}

/* Round @n up to whole passes over @pages, within the device's limit */
static uint32_t whole_passes(double n, unsigned pages)
{
    uint64_t passes = MAX(1, DIV_ROUND_UP((uint64_t)n, pages));

    return MIN(passes * pages, BURST_MAX_COUNT / pages * pages);
}

static double time_dir(Bench *b, int dir, double nop_ns, uint32_t *count_out,
                       unsigned *reps_out)
{
    bool perf = g_test_perf();
    unsigned pages = b->sc->pages;
    unsigned reps = perf ? PERF_REPS : QUICK_REPS;
    uint32_t count = whole_passes(MAX(4096, 4 * pages), pages);
    double t[PERF_REPS];

    /* A first pass warms the IOTLB and caches; it also sizes the count */
    burst_setup(b, dir, count);
    {
        double ns = time_doorbell(b) - nop_ns;

        assert_burst_ok(b, count);
        if (perf) {
            count = whole_passes(PERF_TARGET_NS / MAX(ns / count, 1.0),
                                 pages);
            wr(b, R_BURST_COUNT, count);
        }
    }

    for (unsigned r = 0; r < reps; r++) {
        double ns = time_doorbell(b) - nop_ns;

        assert_burst_ok(b, count);
        t[r] = MAX(ns, 0) / count;
    }
    assert_no_events(b);
    *count_out = count;
    *reps_out = reps;
    return median(t, reps);
}

static void run_scenario(const void *opaque)
{
    const Scenario *sc = opaque;
    unsigned idx = sc - scenarios;
    Bench b;
    double nop_ns;

    bench_start(&b, sc);
    verify_path(&b);
    nop_ns = nop_overhead_ns(&b);
    for (int dir = 0; dir < DIR_COUNT; dir++) {
        Result *res = &results[idx][dir];

        res->ns_per_access = time_dir(&b, dir, nop_ns, &res->count,
                                      &res->reps);
        res->done = true;
        g_test_message("%s/%s: %.1f ns per access (%u accesses, median of "
                       "%u, doorbell overhead %.0f ns taken off)%s",
                       sc->name, dir_name[dir], res->ns_per_access,
                       res->count, res->reps, nop_ns,
                       g_test_perf() ? "" : " [smoke run, not a measurement]");
    }
    bench_stop(&b);
}

static void print_table(void)
{
    const Result *base = results[0];

    printf("\n%-24s %-5s %12s %8s %9s  %s\n", "scenario", "dir",
           "ns/access", "x none", "accesses", "what");
    for (int i = 0; i < ARRAY_SIZE(scenarios); i++) {
        for (int dir = 0; dir < DIR_COUNT; dir++) {
            const Result *r = &results[i][dir];
            g_autofree char *ratio = NULL;

            if (!r->done) {
                continue;
            }
            ratio = base[dir].done && base[dir].ns_per_access > 0 ?
                g_strdup_printf("%.2f",
                                r->ns_per_access / base[dir].ns_per_access) :
                g_strdup("n/a");
            printf("%-24s %-5s %12.1f %8s %9u  %s\n", scenarios[i].name,
                   dir_name[dir], r->ns_per_access, ratio, r->count,
                   scenarios[i].what);
        }
    }
    printf("\n");
    for (int i = 0; i < ARRAY_SIZE(scenarios); i++) {
        for (int dir = 0; dir < DIR_COUNT; dir++) {
            const Result *r = &results[i][dir];

            if (r->done) {
                printf("bench: %s/%s ns_per_access=%.1f\n",
                       scenarios[i].name, dir_name[dir], r->ns_per_access);
            }
        }
    }
}

int main(int argc, char **argv)
{
    bool has_smmu;
    int ret;

    g_test_init(&argc, &argv, NULL);
    /* Built for aarch64 only, but a configuration may still lack these */
    if (qtest_has_machine("virt") && qtest_has_device("viommu-testdev")) {
        has_smmu = qtest_has_device("arm-smmuv3");
        for (int i = 0; i < ARRAY_SIZE(scenarios); i++) {
            g_autofree char *path = NULL;

            if (scenarios[i].mode != MODE_NO_IOMMU && !has_smmu) {
                continue;
            }
            path = g_strdup_printf("/viommu-bench/%s", scenarios[i].name);
            qtest_add_data_func(path, &scenarios[i], run_scenario);
        }
    }
    ret = g_test_run();
    if (g_test_perf()) {
        print_table();
    }
    return ret;
}
