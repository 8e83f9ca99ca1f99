/*
 * viommu-bench: what one DMA access costs through each vIOMMU, side by side
 *
 * viommu-testdev's burst commands run BURST_COUNT accesses inside one
 * doorbell write, so timing that write and dividing by the count gives the
 * cost of one access: the device's request, the IOMMU's translate() and
 * the memory access.  Each workload runs on up to four emulators at once,
 * each a -M virt with the test device:
 *
 *   none      no IOMMU in front of the device
 *   floor     x-viommu-identity: an IOMMU region whose translate() returns
 *             the address it was given; what QEMU's memory API costs for
 *             any IOMMU, and so the least a vIOMMU can cost
 *   upstream  upstream's SMMUv3, in the reference emulator that
 *             scripts/reference.sh builds (QTEST_QEMU_BINARY_REF); left
 *             out when that variable is unset
 *   ours      this build's SMMUv3 (QTEST_QEMU_BINARY), or for the pat-*
 *             workloads its TI PAT, which upstream does not have
 *
 * VIOMMU_BENCH_IMPLS=ours (a comma-separated list) runs only those, as
 * when profiling one of them.
 * The repetitions alternate between the emulators, so that a change in the
 * machine's load touches them all alike.  Each is timed twice: by the wall
 * clock, and by the CPU time of the emulator thread that does the work (its
 * main loop, which runs qtest's MMIO writes and the bottom halves), which
 * other tenants of a shared machine cannot inflate.  A result is the
 * minimum of the CPU times where the kernel gives them (else of the wall
 * times); both medians and minima are reported.
 *
 * Workloads:
 *   bypass-gbpa      SMMUEN=0, GBPA lets the stream through; 16 pages
 *   bypass-ste       SMMU enabled, the device's STE says bypass; 16 pages
 *   s1-N             stage 1 through a CD and a 4-level 4 KiB table, the
 *                    bursts cycling over N pages (16, 256, 4096, 65536)
 *   s2-N             stage 2 only, 44-bit IPA, 4-level 4 KiB table
 *   nested-N         stage 1 and stage 2; the stage 1 tables and the CD
 *                    are read at IPAs that a 1 GiB stage 2 block maps
 *   tlbi-churn-256   what a strict-mode guest makes the SMMU do: for every
 *                    16 pages a range TLBI_NH_VA and a CMD_SYNC, then DMA
 *                    to all 256 pages again (every access a miss); the
 *                    cost per page of the commands and the refill
 *   pat-window-N     DMA at the window of a TI PAT whose 4 KiB entries
 *                    map N pages; none and floor reach the same pages
 *                    directly
 *   pat-rewrite-256  entry rewrites: the device writes 256 entries of the
 *                    TABLE, each one a change, with a notifier watching
 *                    the window (as VFIO's would); the cost per entry
 *   iotlb-hit-*      IOTLB hits on 16000 cached pages that the guest
 *                    placed as it liked: consecutive, a power of two (plus
 *                    or minus a page) apart, or an odd stride apart; one
 *                    set of tables maps every address, so any pattern is
 *                    cheap to build.  A hit must cost the same whatever
 *                    the pattern.  (BURST_SPAN and BURST_STRIDE have 32
 *                    bits: each burst is one pass over the pages.)
 *   iotlb-hit-other-asid-tlbi-16000
 *                    the consecutive pages, one in 512 of them global
 *                    (nG 0), each burst after a range TLBI_NH_VA over all
 *                    of them for another ASID: it removes the global
 *                    entries and nothing else, and the rest stay hits
 *   cmdq-sync-1024   1024 CMD_SYNCs in one CMDQ_PROD write; per command
 *   tlbi-*-miss-*    1024 TLBIs that remove nothing (a 128 GiB range
 *                    TLBI_NH_VA, a TLBI_NH_VAA) with 16 pages cached, or
 *                    16000, or 1024 ASIDs of 16: per command, which must
 *                    not grow with what the IOTLB holds
 *   cmdq-65536-longest-run
 *                    65536 such TLBIs published at once: the longest
 *                    the SMMU ran commands in one go, the CMDQ_PROD write
 *                    or a bottom half, holding the BQL (as the emulator
 *                    measures it: its x-cmdq-longest-run-ns property)
 *
 * On ppc64 (-M pseries), upstream's TCE tables against ours:
 *   tce-4k-N         the default 32-bit window of 4 KiB TCEs, N pages
 *   tce-64k-ddw-N    a DDW of 64 KiB TCEs, N pages, as a guest's direct
 *                    mapping of RAM uses one
 *
 * Before timing, every emulator proves that DMA lands where it should:
 * through an SMMU the pages are mapped in reverse order, so only a real
 * translation puts the bytes there.  Every timed burst must complete with
 * OK and all its accesses done, and no event may be recorded, so a fault
 * can never be timed as a fast access.
 *
 * By default (as under "meson test") the counts are tiny and the numbers
 * meaningless: the run only shows that every workload works.  With
 * "-m perf" (make bench) the counts are sized for stable numbers, a table
 * is printed, and with VIOMMU_BENCH_DIR set the results are written there
 * as results.tsv and results.md.  Nothing here asserts on time.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qemu/bitops.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"
#include "libqos/pci-spapr.h"
#include "libqos/malloc-spapr.h"
#include "libqos/smmuv3.h"
#include "libqos/spapr-hcall.h"
#include "libqos/ti-pat.h"
#include "libqos/viommu-testdev-pci.h"
#include "libqos/viommu-testdev-vfio-user.h"

#define VIRT_RAM_BASE       0x40000000ull
#define RAM_SIZE            (1ull << 30)
#define DEV_SLOT            4
#define DEV_DEVFN           QPCI_DEVFN(DEV_SLOT, 0)
#define DEV_SID             DEV_DEVFN   /* bus 0 */

/* Guest memory used by the SMMU's structures */
#define STRTAB_ADDR         (VIRT_RAM_BASE + 0x100000)
#define STRTAB_LOG2SIZE     6
#define EVENTQ_ADDR         (VIRT_RAM_BASE + 0x110000)
#define EVENTQ_LOG2SIZE     4
#define CD_ADDR             (VIRT_RAM_BASE + 0x120000)
#define CMDQ_ADDR           (VIRT_RAM_BASE + 0x140000)
#define CMDQ_LOG2SIZE       8
#define PT_POOL             (VIRT_RAM_BASE + 0x200000)
#define S2_POOL             (VIRT_RAM_BASE + 0x300000)
#define S2_POOL_SIZE        0x10000ull

/* The pages the bursts reach */
#define DATA_PA             (VIRT_RAM_BASE + 0x1000000)
/* Far from RAM, so that an untranslated access could never land there */
#define IOVA_BASE           0x8000000000ull
/* Nested: stage 2 puts RAM at IPA PA + NESTED_OFFSET, one 1 GiB block */
#define NESTED_OFFSET       0x40000000ull
#define ASID                1
#define VMID                1
/* Upstream's SMMUv3 has a 44-bit OAS, so its stage 2 takes 44-bit IPAs */
#define S2_IPA_BITS         44

#define PAGE                QSMMU_PAGE_SIZE
/* Small accesses, so that translation rather than copying dominates */
#define ACCESS_LEN          8
/* Pages one TLBI covers in the churn workload, as a 64 KiB unmap does */
#define CHURN_RANGE         16

/* -m perf: aim each timed burst at this long, and take the median of */
#define PERF_TARGET_NS      60000000.0
#define PERF_REPS           9
#define QUICK_REPS          1
#define MAX_REPS            PERF_REPS
#define NOP_REPS            64
#define PERF_CHURN_ROUNDS   40
#define QUICK_CHURN_ROUNDS  2
/* The command queue of the cmdq-* and tlbi-* rows: 2^17 commands */
#define CMDQ_BIG_ADDR       (VIRT_RAM_BASE + 0x8000000)
#define CMDQ_BIG_LOG2SIZE   17
#define CMDQ_ROW_CMDS       1024
#define CMDQ_LONG_CMDS      65536
/* Where no translation is ever cached: TLBIs that remove nothing */
#define IOVA_EMPTY          0x400000000000ull
/*
 * The odd stride of iotlb-hit-odd-stride, 0x9e377 pages: the test
 * device's BURST_STRIDE has 32 bits
 */
#define ODD_STRIDE          0x9e377000ull

typedef enum Impl {
    IMPL_NONE,
    IMPL_FLOOR,
    IMPL_UPSTREAM,
    IMPL_OURS,
    IMPL_COUNT,
} Impl;

static const char *const impl_name[IMPL_COUNT] = {
    [IMPL_NONE] = "none",
    [IMPL_FLOOR] = "floor",
    [IMPL_UPSTREAM] = "upstream",
    [IMPL_OURS] = "ours",
};

typedef enum Kind {
    KIND_BYPASS_GBPA,
    KIND_BYPASS_STE,
    KIND_S1,
    KIND_S2,
    KIND_NESTED,
    KIND_CHURN,
    KIND_PAT_WINDOW,
    KIND_PAT_REWRITE,
    KIND_TCE,
    KIND_HIT,
    KIND_CMDQ,
} Kind;

/* What the command queue rows publish */
typedef enum CmdqVariant {
    CMDQ_SYNC,
    CMDQ_RANGE_MISS,
    CMDQ_VAA_MISS,
    CMDQ_LONG,
} CmdqVariant;

/* The emulators each kind runs on */
static const unsigned kind_impls[] = {
    [KIND_BYPASS_GBPA] = 1u << IMPL_NONE | 1u << IMPL_UPSTREAM |
                         1u << IMPL_OURS,
    [KIND_BYPASS_STE] = 1u << IMPL_NONE | 1u << IMPL_UPSTREAM |
                        1u << IMPL_OURS,
    [KIND_S1] = (1u << IMPL_COUNT) - 1,
    [KIND_S2] = (1u << IMPL_COUNT) - 1,
    [KIND_NESTED] = (1u << IMPL_COUNT) - 1,
    [KIND_CHURN] = 1u << IMPL_UPSTREAM | 1u << IMPL_OURS,
    [KIND_PAT_WINDOW] = 1u << IMPL_NONE | 1u << IMPL_FLOOR | 1u << IMPL_OURS,
    [KIND_PAT_REWRITE] = 1u << IMPL_OURS,
    [KIND_TCE] = 1u << IMPL_FLOOR | 1u << IMPL_UPSTREAM | 1u << IMPL_OURS,
    /* Properties of our IOTLB and command queue alone */
    [KIND_HIT] = 1u << IMPL_OURS,
    [KIND_CMDQ] = 1u << IMPL_OURS,
};

typedef struct Workload {
    const char *name;
    Kind kind;
    unsigned pages;
    unsigned page_shift;    /* 0: 4 KiB */
    bool direct;            /* TCEs map RAM one to one, as Linux's DDW */
    uint64_t stride;        /* iotlb-hit-*: bytes between pages */
    CmdqVariant cmdq;       /* cmdq-* and tlbi-* */
    unsigned asids;         /* ... with the pages cached for each */
    bool asid_tlbi;         /* iotlb-hit-*: a TLBI for another ASID first */
} Workload;

static const Workload workloads[] = {
    { "bypass-gbpa", KIND_BYPASS_GBPA, 16 },
    { "bypass-ste", KIND_BYPASS_STE, 16 },
    { "s1-16", KIND_S1, 16 },
    { "s1-256", KIND_S1, 256 },
    { "s1-4096", KIND_S1, 4096 },
    { "s1-65536", KIND_S1, 65536 },
    { "s2-16", KIND_S2, 16 },
    { "s2-256", KIND_S2, 256 },
    { "s2-4096", KIND_S2, 4096 },
    { "s2-65536", KIND_S2, 65536 },
    { "nested-16", KIND_NESTED, 16 },
    { "nested-256", KIND_NESTED, 256 },
    { "nested-4096", KIND_NESTED, 4096 },
    { "nested-65536", KIND_NESTED, 65536 },
    { "tlbi-churn-256", KIND_CHURN, 256 },
    { "pat-window-16", KIND_PAT_WINDOW, 16 },
    { "pat-window-4096", KIND_PAT_WINDOW, 4096 },
    { "pat-window-16384", KIND_PAT_WINDOW, 16384 },
    { "pat-rewrite-256", KIND_PAT_REWRITE, 256 },
    { "tce-4k-16", KIND_TCE, 16 },
    { "tce-4k-4096", KIND_TCE, 4096 },
    { "tce-64k-ddw-4096", KIND_TCE, 4096, 16 },
    { "tce-64k-ddw-direct-4096", KIND_TCE, 4096, 16, true },
    { "iotlb-hit-seq-16000", KIND_HIT, 16000, .stride = PAGE },
    { "iotlb-hit-2m-16000", KIND_HIT, 16000, .stride = 1ull << 21 },
    { "iotlb-hit-128m+4k-16000", KIND_HIT, 16000,
      .stride = (1ull << 27) + PAGE },
    { "iotlb-hit-1g-16000", KIND_HIT, 16000, .stride = 1ull << 30 },
    { "iotlb-hit-1g-4k-16000", KIND_HIT, 16000,
      .stride = (1ull << 30) - PAGE },
    { "iotlb-hit-2g+4k-16000", KIND_HIT, 16000,
      .stride = (1ull << 31) + PAGE },
    { "iotlb-hit-odd-stride-16000", KIND_HIT, 16000, .stride = ODD_STRIDE },
    { "iotlb-hit-other-asid-tlbi-16000", KIND_HIT, 16000, .stride = PAGE,
      .asid_tlbi = true },
    { "cmdq-sync-1024", KIND_CMDQ, 16, .cmdq = CMDQ_SYNC, .asids = 1 },
    { "tlbi-range-miss-16", KIND_CMDQ, 16, .cmdq = CMDQ_RANGE_MISS,
      .asids = 1 },
    { "tlbi-range-miss-16000", KIND_CMDQ, 16000, .cmdq = CMDQ_RANGE_MISS,
      .asids = 1 },
    { "tlbi-vaa-miss-16", KIND_CMDQ, 16, .cmdq = CMDQ_VAA_MISS, .asids = 1 },
    { "tlbi-vaa-miss-1024x16", KIND_CMDQ, 16, .cmdq = CMDQ_VAA_MISS,
      .asids = 1024 },
    { "cmdq-65536-longest-run", KIND_CMDQ, 16000, .cmdq = CMDQ_LONG,
      .asids = 1 },
};

enum { DIR_READ, DIR_WRITE, DIR_COUNT };
static const char *const dir_name[DIR_COUNT] = { "read", "write" };

/*
 * What one timed piece of work cost: wall-clock time, and the CPU time of
 * the emulator's main loop thread, where qtest's MMIO writes and the
 * bottom halves run.  Other tenants of a shared machine stretch the
 * first; they cannot add to the second.
 */
typedef struct Span {
    double wall;
    double cpu;             /* NAN: the kernel gives no per-thread figure */
} Span;

typedef struct Result {
    bool done;
    /*
     * Per access (per page for churn, per entry for pat-rewrite, per
     * command for the command queue rows): the figure targets are judged
     * on (the minimum CPU time, else the minimum wall time), and the
     * medians and minima of both
     */
    double ns;
    double wall_med, wall_min, cpu_med, cpu_min, cpu_max;
    long hwm_kib;           /* the emulator's peak RSS */
} Result;

static Result results[ARRAY_SIZE(workloads)][DIR_COUNT][IMPL_COUNT];

typedef struct Inst {
    Impl impl;
    const Workload *wl;
    QTestState *qts;
    QGenericPCIBus gbus;
    QPCIBus *spapr_bus;         /* -M pseries */
    QGuestAllocator alloc;
    QViommuTestdev td;
    QSMMUv3 smmu;
    uint64_t dma_base;      /* bus address of page 0 */
    int stat_fd, cpu_fd;    /* the main thread's stat and schedstat */
    Span nop;               /* a register access, the qtest round trip */
    Span t[MAX_REPS];
} Inst;

static bool have_impl[IMPL_COUNT];

/* The distance between two pages a burst touches */
static uint64_t wl_page(const Workload *wl)
{
    if (wl->stride) {
        return wl->stride;
    }
    return 1ull << (wl->page_shift ? wl->page_shift : 12);
}

/* pseries RAM starts at 0 */
#define TCE_DATA_PA         0x10000000ull
#define TCE_LIST_PA         0x0ff00000ull
#define SPAPR_BUID          0x800000020000000ull
#define LIOBN_DEFAULT       0x80000000u
#define LIOBN_DDW           0x80000001u
#define DDW_START           0x800000000000000ull
#define TCE_RTAS_ARGS_PA    (TCE_LIST_PA + 0x3000)
#define TCE_RTAS_RETS_PA    (TCE_LIST_PA + 0x3100)

static bool pat_kind(Kind kind)
{
    return kind == KIND_PAT_WINDOW || kind == KIND_PAT_REWRITE;
}

/* The instance is an SMMUv3 */
static bool smmu_impl(const Inst *in)
{
    return (in->impl == IMPL_UPSTREAM || in->impl == IMPL_OURS) &&
           !pat_kind(in->wl->kind) && in->wl->kind != KIND_TCE;
}

static bool translates(const Inst *in)
{
    return (smmu_impl(in) && in->wl->kind >= KIND_S1 &&
            in->wl->kind != KIND_TCE) ||
           (in->impl == IMPL_OURS && pat_kind(in->wl->kind)) ||
           (in->wl->kind == KIND_TCE && in->impl != IMPL_FLOOR);
}

/*
 * Where page @i lands.  Through an SMMU the pages are mapped in reverse
 * order, so that only a real translation puts bytes there.
 */
static uint64_t page_pa(const Inst *in, unsigned i)
{
    if (in->wl->kind == KIND_HIT || in->wl->kind == KIND_CMDQ) {
        /* One table per level maps every address: see setup_every_va() */
        uint64_t iova = in->dma_base + (uint64_t)i * wl_page(in->wl);

        return DATA_PA + extract64(iova, 12, 9) * PAGE;
    }
    if (in->wl->kind == KIND_TCE) {
        if (!translates(in) || in->wl->direct) {
            return TCE_DATA_PA + (uint64_t)i * wl_page(in->wl);
        }
        return TCE_DATA_PA + (uint64_t)(in->wl->pages - 1 - i) *
               wl_page(in->wl);
    }
    if (translates(in)) {
        return DATA_PA + (uint64_t)(in->wl->pages - 1 - i) * PAGE;
    }
    return DATA_PA + (uint64_t)i * PAGE;
}

static uint64_t s1_out(unsigned i, void *opaque)
{
    const Inst *in = opaque;

    return page_pa(in, i) + (in->wl->kind == KIND_NESTED ? NESTED_OFFSET : 0);
}

static uint64_t page_marker(unsigned i)
{
    return 0x5eed000000000000ull | ((uint64_t)i << 16) | 0xa5a5;
}

static QTestState *start_qemu(Impl impl, Kind kind)
{
    const char *dev = "-device viommu-testdev,addr=4.0";

    if (kind == KIND_TCE) {
        /* Memory that may grow to 64 GiB: room for a 1 TiB DDW of 64K */
        g_autofree char *args = g_strdup_printf("-M pseries "
                                                "-m 1G,slots=1,maxmem=64G "
                                                "-nodefaults %s", dev);

        if (impl == IMPL_FLOOR) {
            /* The memory API's identity IOMMU in place of the PHB's TCEs */
            return qtest_initf("-M pseries -m 1G,slots=1,maxmem=64G "
                               "-nodefaults -device "
                               "x-viommu-identity,primary-bus=pci.0 %s", dev);
        }
        if (impl == IMPL_OURS) {
            /*
             * The set TCEs alone in the stream: the default is upstream's
             * flat form, as large as upstream's (spapr-tce.rst)
             */
            return qtest_initf("%s -global spapr-tce-table.sparse-migration=on",
                               args);
        }
        return qtest_init_ext("QTEST_QEMU_BINARY_REF", args, NULL, true);
    }

    if (impl == IMPL_OURS && pat_kind(kind)) {
        return qtest_initf("-M virt -cpu max -m 1G -nodefaults -device ti-pat "
                           "%s", dev);
    }
    switch (impl) {
    case IMPL_NONE:
        return qtest_initf("-M virt -cpu max -m 1G -nodefaults %s", dev);
    case IMPL_FLOOR:
        return qtest_initf("-M virt -cpu max -m 1G -nodefaults "
                           "-device x-viommu-identity,primary-bus=pcie.0 %s",
                           dev);
    case IMPL_UPSTREAM:
    case IMPL_OURS: {
        /* Both models, stage 1 and 2, as the guest tests use them */
        g_autofree char *args =
            g_strdup_printf("-M virt,iommu=smmuv3 -cpu max -m 1G -nodefaults "
                            "-global arm-smmuv3.stage=nested %s", dev);

        if (impl == IMPL_OURS) {
            return qtest_init(args);
        }
        return qtest_init_ext("QTEST_QEMU_BINARY_REF", args, NULL, true);
    }
    default:
        g_assert_not_reached();
    }
}

/*
 * Stage 1 tables that map every 48-bit VA: each level's table has all 512
 * entries pointing at the next level's one table, and the last maps entry
 * j to DATA_PA + j pages.  An IOTLB entry is still one 4 KiB page per VA.
 */
static uint64_t setup_every_va(Inst *in)
{
    g_autofree uint64_t *table = g_new(uint64_t, QSMMU_PT_ENTRIES);

    for (int level = 0; level < 4; level++) {
        uint64_t at = PT_POOL + level * PAGE;

        for (unsigned j = 0; j < QSMMU_PT_ENTRIES; j++) {
            /*
             * Valid, table (or page), AF, inner shareable, AP[1] at L3;
             * not global (nG), but for one page in 512 when a workload
             * wants global entries among its pages
             */
            bool global = in->wl->asid_tlbi && j == QSMMU_PT_ENTRIES - 1;
            uint64_t desc = level < 3 ? (at + PAGE) | 3 :
                            (DATA_PA + j * PAGE) | 3 | (1 << 10) |
                            (3 << 8) | (1 << 6) | (global ? 0 : 1ull << 11);

            table[j] = cpu_to_le64(desc);
        }
        qtest_memwrite(in->qts, at, table, PAGE);
    }
    return PT_POOL;
}

static void setup_translation(Inst *in)
{
    const Workload *wl = in->wl;
    uint64_t root;

    if (wl->kind == KIND_HIT || wl->kind == KIND_CMDQ) {
        root = setup_every_va(in);
        qsmmu_cd_s1_4k(in->qts, CD_ADDR, root, ASID);
        qsmmu_ste_s1(&in->smmu, DEV_SID, CD_ADDR);
    } else if (wl->kind == KIND_S2) {
        root = qsmmu_pt_build_linear(in->qts, true, PT_POOL, IOVA_BASE,
                                     wl->pages, s1_out, in, 0);
        qsmmu_ste_s2(&in->smmu, DEV_SID, root, S2_IPA_BITS, VMID);
    } else if (wl->kind == KIND_NESTED) {
        QSMMUPageTable s2;

        qsmmu_pt_init(&s2, in->qts, true, S2_POOL, S2_POOL_SIZE);
        qsmmu_pt_map_1g(&s2, VIRT_RAM_BASE + NESTED_OFFSET, VIRT_RAM_BASE);
        root = qsmmu_pt_build_linear(in->qts, false, PT_POOL, IOVA_BASE,
                                     wl->pages, s1_out, in, NESTED_OFFSET);
        qsmmu_cd_s1_4k(in->qts, CD_ADDR, root, ASID);
        qsmmu_ste_nested(&in->smmu, DEV_SID, CD_ADDR + NESTED_OFFSET,
                         s2.root, S2_IPA_BITS, VMID);
    } else {
        root = qsmmu_pt_build_linear(in->qts, false, PT_POOL, IOVA_BASE,
                                     wl->pages, s1_out, in, 0);
        qsmmu_cd_s1_4k(in->qts, CD_ADDR, root, ASID);
        qsmmu_ste_s1(&in->smmu, DEV_SID, CD_ADDR);
    }
    in->dma_base = IOVA_BASE;
}

/* A hypercall through the fork's "rtas x-hcall" qtest command */
static int64_t tce_hcall(Inst *in, uint64_t op, int n, const uint64_t *arg)
{
    return qtest_spapr_hcall(in->qts, TCE_LIST_PA + 0x1000,
                             TCE_LIST_PA + 0x2000, op, n, arg, NULL, 0);
}

/* An RTAS call with 32-bit arguments; returns its status */
static int32_t tce_rtas(Inst *in, const char *name, int n,
                        const uint32_t *arg, int nret, uint32_t *ret)
{
    for (int i = 0; i < n; i++) {
        qtest_writel(in->qts, TCE_RTAS_ARGS_PA + 4 * i, arg[i]);
    }
    g_assert_cmpuint(qtest_rtas_call(in->qts, name, n, TCE_RTAS_ARGS_PA,
                                     nret, TCE_RTAS_RETS_PA), ==, 0);
    for (int i = 0; i < nret; i++) {
        ret[i] = qtest_readl(in->qts, TCE_RTAS_RETS_PA + 4 * i);
    }
    return ret[0];
}

/*
 * TCE i names page_pa(i), read-write, in the default window or in a DDW
 * of @page_shift pages made for it.  A direct workload's TCEs sit at the
 * bus address of their page, DDW_START + PA, as Linux's direct mapping
 * puts them.
 */
static void setup_tce(Inst *in)
{
    unsigned shift = in->wl->page_shift;
    uint32_t liobn = LIOBN_DEFAULT;
    uint64_t start = 0;

    if (shift) {
        uint32_t args[] = { QPCI_DEVFN(DEV_SLOT, 0) << 8, SPAPR_BUID >> 32,
                            (uint32_t)SPAPR_BUID, shift, 32 }, rets[4];

        g_assert_cmpint(tce_rtas(in, "ibm,create-pe-dma-window", 5, args, 4,
                                 rets), ==, 0);
        g_assert_cmphex(rets[1], ==, LIOBN_DDW);
        liobn = LIOBN_DDW;
        start = DDW_START;
    }
    if (in->wl->direct) {
        start += TCE_DATA_PA;
    }
    for (unsigned i = 0; i < in->wl->pages; i += 512) {
        unsigned n = MIN(512, in->wl->pages - i);
        uint64_t arg[] = { liobn, start + ((uint64_t)i << (shift ?: 12)),
                           TCE_LIST_PA, n };

        for (unsigned k = 0; k < n; k++) {
            qtest_writeq(in->qts, TCE_LIST_PA + 8 * k,
                         page_pa(in, i + k) | 3);
        }
        g_assert_cmpint(tce_hcall(in, H_PUT_TCE_INDIRECT, 4, arg), ==,
                        H_SUCCESS);
    }
    in->dma_base = start;
}

/* Entry i names page_pa(i); 4 KiB pages; a watch on the whole window */
static void setup_pat(Inst *in)
{
    for (unsigned i = 0; i < TI_PAT_DEFAULT_ENTRIES; i++) {
        uint64_t pa = page_pa(in, i % in->wl->pages);

        qtest_writeq(in->qts, TI_PAT_AUTO_TABLE(0) + TI_PAT_ENTRY_OFFSET(i),
                     (uint64_t)(TI_PAT_ADDRH(pa) | TI_PAT_ADDRH_ENABLE) << 32 |
                     TI_PAT_ADDRL(pa));
    }
    qtest_writel(in->qts, TI_PAT_AUTO_MMRS(0) + TI_PAT_CONTROL,
                 TI_PAT_CONTROL_EN | TI_PAT_CONTROL_PAGE_SIZE(TI_PAT_PAGE_4K));
    qvtd_wr(&in->td, R_PATTERN, WATCH_MAP | WATCH_UNMAP);
    g_assert_cmpuint(qvtd_run(&in->td, OP_WATCH, TI_PAT_AUTO_WINDOW(0), 0),
                     ==, RES_OK);
    in->dma_base = TI_PAT_AUTO_WINDOW(0);
}

/*
 * The emulator's main thread's CPU time is what CLOCK_THREAD_CPUTIME_ID
 * reads in that thread.  clock_gettime() cannot read another process's
 * thread clock; /proc/PID/task/TID/schedstat gives the same count (the
 * scheduler's sum_exec_runtime, in ns), which is exact once the thread
 * sleeps: thread_cpu_ns() waits until it waits for the next command.
 * With qtest, the main thread's TID is the PID.
 */
static void open_thread_cpu(Inst *in)
{
    int pid = qtest_pid(in->qts);
    g_autofree char *stat = g_strdup_printf("/proc/%d/task/%d/stat", pid,
                                            pid);
    g_autofree char *schedstat = g_strdup_printf("/proc/%d/task/%d/schedstat",
                                                 pid, pid);

    in->stat_fd = open(stat, O_RDONLY | O_CLOEXEC);
    in->cpu_fd = open(schedstat, O_RDONLY | O_CLOEXEC);
}

/* Whether the main thread sleeps: the state after "(comm) " is 'S' */
static bool thread_sleeps(Inst *in)
{
    char buf[512], *close_paren;
    ssize_t n = pread(in->stat_fd, buf, sizeof(buf) - 1, 0);

    if (n <= 0) {
        return false;
    }
    buf[n] = 0;
    close_paren = strrchr(buf, ')');
    return close_paren && close_paren[1] == ' ' && close_paren[2] == 'S';
}

static void inst_start(Inst *in, Impl impl, const Workload *wl)
{
    memset(in, 0, sizeof(*in));
    in->impl = impl;
    in->wl = wl;
    in->qts = start_qemu(impl, wl->kind);
    open_thread_cpu(in);
    if (wl->kind == KIND_TCE) {
        spapr_alloc_init(&in->alloc, in->qts, ALLOC_NO_FLAGS);
        in->spapr_bus = qpci_new_spapr(in->qts, &in->alloc);
        qvtd_init(&in->td, in->spapr_bus, DEV_DEVFN);
        if (impl == IMPL_FLOOR) {
            in->dma_base = TCE_DATA_PA;
        } else {
            setup_tce(in);
        }
        return;
    }
    qpci_init_generic(&in->gbus, in->qts, NULL, false);
    qvtd_init(&in->td, &in->gbus.bus, DEV_DEVFN);
    g_assert_cmphex(qvtd_rd(&in->td, R_ID), ==, ID_VALUE);
    in->dma_base = DATA_PA;
    if (impl == IMPL_OURS && pat_kind(wl->kind)) {
        setup_pat(in);
        return;
    }
    if (!smmu_impl(in)) {
        return;
    }

    qsmmu_init(&in->smmu, in->qts, QSMMU_VIRT_BASE);
    if (wl->kind == KIND_BYPASS_GBPA) {
        g_assert_cmphex(qsmmu_readl(&in->smmu, SMMU_CR0), ==, 0);
        g_assert_cmphex(qsmmu_readl(&in->smmu, SMMU_GBPA) & SMMU_GBPA_ABORT,
                        ==, 0);
        return;
    }
    qsmmu_setup_tables(&in->smmu, STRTAB_ADDR, STRTAB_LOG2SIZE,
                       EVENTQ_ADDR, EVENTQ_LOG2SIZE);
    if (wl->kind == KIND_BYPASS_STE) {
        qsmmu_ste_bypass(&in->smmu, DEV_SID);
    } else {
        setup_translation(in);
    }
    qsmmu_set_cr0(&in->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    if (wl->kind == KIND_CHURN || wl->kind == KIND_CMDQ || wl->asid_tlbi) {
        qsmmu_setup_cmdq(&in->smmu, CMDQ_ADDR, CMDQ_LOG2SIZE);
    }
}

/* One field of /proc/PID/status, in KiB */
static long proc_status_kib(Inst *in, const char *field)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            (int)qtest_pid(in->qts));
    g_autofree char *text = NULL;
    const char *p, *end;
    long kib;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    p = strstr(text, field);
    g_assert_nonnull(p);
    g_assert_cmpint(qemu_strtol(p + strlen(field), &end, 10, &kib), ==, 0);
    return kib;
}

static void inst_stop(Inst *in)
{
    if (in->cpu_fd >= 0) {
        close(in->cpu_fd);
    }
    if (in->stat_fd >= 0) {
        close(in->stat_fd);
    }
    qvtd_free(&in->td);
    if (in->spapr_bus) {
        qpci_free_spapr(in->spapr_bus);
        alloc_destroy(&in->alloc);
    }
    qtest_quit(in->qts);
}

static void burst_setup(Inst *in, int dir, uint32_t count)
{
    uint64_t span = in->wl->pages * wl_page(in->wl);

    g_assert_cmphex(wl_page(in->wl), <=, UINT32_MAX);
    qvtd_wr64(&in->td, R_DMA_ADDR, in->dma_base);
    qvtd_wr(&in->td, R_LEN, ACCESS_LEN);
    qvtd_wr(&in->td, R_OP, dir == DIR_READ ? OP_BURST_READ : OP_BURST_WRITE);
    qvtd_wr(&in->td, R_BURST_COUNT, count);
    qvtd_wr(&in->td, R_BURST_STRIDE, wl_page(in->wl));
    /* A span beyond BURST_SPAN's 32 bits: no wrap, one pass at most */
    g_assert(span <= UINT32_MAX || count <= in->wl->pages);
    qvtd_wr(&in->td, R_BURST_SPAN, span <= UINT32_MAX ? span : 0);
}

/* The last command was a burst that did all @count accesses */
static void assert_burst_ok(Inst *in, uint32_t count)
{
    uint32_t st = qvtd_rd(&in->td, R_STATUS);

    g_assert_cmphex(st & STATUS_BUSY, ==, 0);
    g_assert_cmpuint(STATUS_RESULT(st), ==, RES_OK);
    g_assert_cmpuint(qvtd_rd(&in->td, R_BURST_DONE), ==, count);
    g_assert_cmpuint(qvtd_rd(&in->td, R_DONE_BYTES), ==, count * ACCESS_LEN);
}

static void assert_no_events(Inst *in)
{
    if (smmu_impl(in) && in->wl->kind != KIND_BYPASS_GBPA) {
        g_assert_cmphex(qsmmu_readl(&in->smmu, SMMU_EVENTQ_PROD), ==, 0);
        g_assert_cmphex(qsmmu_readl(&in->smmu, SMMU_GERROR) ^
                        qsmmu_readl(&in->smmu, SMMU_GERRORN), ==, 0);
    }
}

/*
 * Prove the path before timing it.  A read burst of n accesses leaves the
 * last page's bytes in the buffer, so bursts of a few lengths name a few
 * pages; a write burst stores into every page's expected PA and nowhere
 * else in its first 16 bytes.  The pages are sampled: a 65536-page set
 * would take long to check through qtest.
 */
/*
 * The device's registers are little-endian; qtest reads memory in the
 * target's order: a 64-bit value as the other side sees it.
 */
static uint64_t mem64(Inst *in, uint64_t v)
{
    return qtest_big_endian(in->qts) ? bswap64(v) : v;
}

static void verify_path(Inst *in)
{
    unsigned pages = in->wl->pages;
    unsigned sample[] = { 0, 1, pages / 3, pages / 2 + 1, pages - 1 };
    const uint64_t written = 0x0123456789abcdefull;

    /* Pages may share a PA (iotlb-hit-*): a marker just before each read */
    for (int k = 0; k < ARRAY_SIZE(sample); k++) {
        qtest_writeq(in->qts, page_pa(in, sample[k]),
                     page_marker(sample[k]));
        qtest_writeq(in->qts, page_pa(in, sample[k]) + ACCESS_LEN, 0);
        qvtd_wr64(&in->td, BUF_OFFSET, 0);
        burst_setup(in, DIR_READ, sample[k] + 1);
        qvtd_wr(&in->td, R_DOORBELL, 1);
        assert_burst_ok(in, sample[k] + 1);
        g_assert_cmphex(qvtd_rd64(&in->td, BUF_OFFSET), ==,
                        mem64(in, page_marker(sample[k])));
    }

    qvtd_wr64(&in->td, BUF_OFFSET, written);
    burst_setup(in, DIR_WRITE, pages);
    qvtd_wr(&in->td, R_DOORBELL, 1);
    assert_burst_ok(in, pages);
    for (int k = 0; k < ARRAY_SIZE(sample); k++) {
        g_assert_cmphex(qtest_readq(in->qts, page_pa(in, sample[k])), ==,
                        mem64(in, written));
        g_assert_cmphex(qtest_readq(in->qts,
                                    page_pa(in, sample[k]) + ACCESS_LEN),
                        ==, 0);
    }
    assert_no_events(in);
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

/* ---- timing ---- */

static double thread_cpu_ns(Inst *in)
{
    char buf[128];
    ssize_t n;
    int spins = 0;

    if (in->cpu_fd < 0 || in->stat_fd < 0) {
        return NAN;
    }
    /* The count of a running thread lags; one that sleeps is exact */
    while (!thread_sleeps(in)) {
        if (++spins > 100000) {
            return NAN;
        }
    }
    n = pread(in->cpu_fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) {
        return NAN;
    }
    buf[n] = 0;
    return g_ascii_strtod(buf, NULL);
}

static double wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* A span starts here; span_end() measures it */
static Span span_start(Inst *in)
{
    Span start;

    start.cpu = thread_cpu_ns(in);
    start.wall = wall_ns();
    return start;
}

static Span span_end(Inst *in, Span start)
{
    Span d;

    d.wall = wall_ns() - start.wall;
    d.cpu = thread_cpu_ns(in) - start.cpu;
    return d;
}

/* @a - @n round trips, never below zero, per @count units of work */
static Span span_net(Span a, Span rt, double n, double count)
{
    return (Span) {
        .wall = MAX(a.wall - n * rt.wall, 0) / count,
        .cpu = MAX(a.cpu - n * rt.cpu, 0) / count,
    };
}

static Span span_add(Span a, Span b)
{
    return (Span) { .wall = a.wall + b.wall, .cpu = a.cpu + b.cpu };
}

/* One MMIO write that does the work */
static Span time_doorbell(Inst *in)
{
    Span t = span_start(in);

    qvtd_wr(&in->td, R_DOORBELL, 1);
    return span_end(in, t);
}

/* The medians of a set of spans */
static Span median_span(Span *t, unsigned n)
{
    g_autofree double *w = g_new(double, n);
    g_autofree double *c = g_new(double, n);

    for (unsigned i = 0; i < n; i++) {
        w[i] = t[i].wall;
        c[i] = t[i].cpu;
    }
    return (Span) { .wall = median(w, n), .cpu = median(c, n) };
}

/*
 * What a doorbell costs with no DMA behind it: the qtest round trip and
 * the register write, to be taken off every timed write.
 */
static void measure_nop(Inst *in)
{
    Span t[NOP_REPS];

    qvtd_wr(&in->td, R_OP, OP_NOP);
    for (int i = 0; i < NOP_REPS; i++) {
        t[i] = time_doorbell(in);
    }
    g_assert_cmpuint(STATUS_RESULT(qvtd_rd(&in->td, R_STATUS)), ==, RES_OK);
    in->nop = median_span(t, NOP_REPS);
}

/* Round @n up to whole passes over @pages, within the device's limit */
static uint32_t whole_passes(double n, unsigned pages)
{
    uint64_t passes = MAX(1, DIV_ROUND_UP((uint64_t)n, pages));

    return MIN(passes * pages, BURST_MAX_COUNT / pages * pages);
}

/*
 * Time bursts in one direction on every emulator, alternating.  A first
 * pass over the pages warms each IOMMU's caches and sizes the count: the
 * same for all, long enough on the slowest.
 */
static void time_bursts(Inst *inst, int n, int dir, unsigned reps)
{
    unsigned pages = inst[0].wl->pages;
    uint32_t count = whole_passes(MAX(1024, pages), pages);
    double slowest = 1;

    for (int i = 0; i < n; i++) {
        Span t;

        burst_setup(&inst[i], dir, count);
        t = span_net(time_doorbell(&inst[i]), inst[i].nop, 1, count);
        assert_burst_ok(&inst[i], count);
        slowest = MAX(slowest, t.wall);
    }
    if (g_test_perf()) {
        count = whole_passes(PERF_TARGET_NS / slowest, pages);
    }
    for (int i = 0; i < n; i++) {
        qvtd_wr(&inst[i].td, R_BURST_COUNT, count);
    }
    for (unsigned r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) {
            Span t = time_doorbell(&inst[i]);

            assert_burst_ok(&inst[i], count);
            inst[i].t[r] = span_net(t, inst[i].nop, 1, count);
        }
    }
}

/*
 * Hits over pages too far apart for one burst to wrap over them: bursts
 * of one pass each, enough of them for a long span of time
 */
static void time_hits(Inst *inst, int n, int dir, unsigned reps)
{
    unsigned pages = inst[0].wl->pages;
    double slowest = 1;
    unsigned rounds = 1;

    for (int i = 0; i < n; i++) {
        Span t;

        burst_setup(&inst[i], dir, pages);
        t = span_net(time_doorbell(&inst[i]), inst[i].nop, 1, pages);
        assert_burst_ok(&inst[i], pages);
        slowest = MAX(slowest, t.wall);
    }
    if (g_test_perf()) {
        rounds = MAX(1, PERF_TARGET_NS / slowest / pages);
    }
    for (unsigned r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) {
            Span t = { 0, 0 };

            for (unsigned k = 0; k < rounds; k++) {
                if (inst[i].wl->asid_tlbi) {
                    /* TG 4K, SCALE 14, NUM 0: 16384 pages */
                    qsmmu_cmd(&inst[i].smmu, SMMU_CMD_TLBI_NH_VA |
                              (uint64_t)(ASID + 1) << 48 | 14ull << 20,
                              inst[i].dma_base | 1ull << 10);
                }
                t = span_add(t, time_doorbell(&inst[i]));
                assert_burst_ok(&inst[i], pages);
            }
            inst[i].t[r] = span_net(t, inst[i].nop, rounds,
                                    (double)rounds * pages);
        }
    }
}

/*
 * One round of churn: invalidate every page, CHURN_RANGE pages at a time,
 * each range followed by a CMD_SYNC, as Linux's strict unmap does; then
 * touch every page once more.  Returns what the SMMU took.
 */
static Span churn_round(Inst *in)
{
    unsigned pages = in->wl->pages;
    Span t;

    for (unsigned p = 0; p < pages; p += CHURN_RANGE) {
        /* TG 4K, SCALE 0, NUM 15: 16 pages; TTL 3, leaf */
        qsmmu_cmd_write(&in->smmu,
                        SMMU_CMD_TLBI_NH_VA | ((uint64_t)ASID << 48) |
                        ((uint64_t)(CHURN_RANGE - 1) << 12),
                        (IOVA_BASE + (uint64_t)p * PAGE) | (1ull << 10) |
                        (3ull << 8) | 1);
        qsmmu_cmd_write(&in->smmu, SMMU_CMD_SYNC, 0);
    }
    t = span_start(in);
    qsmmu_cmd_publish(&in->smmu);
    t = span_net(span_end(in, t), in->nop, 1, 1);
    g_assert_cmphex(qsmmu_readl(&in->smmu, SMMU_CMDQ_CONS), ==,
                    in->smmu.cmdq_prod);

    t = span_add(t, span_net(time_doorbell(in), in->nop, 1, 1));
    assert_burst_ok(in, pages);
    return t;
}

static void time_churn(Inst *inst, int n, unsigned reps)
{
    unsigned rounds = g_test_perf() ? PERF_CHURN_ROUNDS : QUICK_CHURN_ROUNDS;

    for (int i = 0; i < n; i++) {
        burst_setup(&inst[i], DIR_READ, inst[i].wl->pages);
    }
    for (unsigned r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) {
            Span t = { 0, 0 };

            for (unsigned k = 0; k < rounds; k++) {
                t = span_add(t, churn_round(&inst[i]));
            }
            inst[i].t[r] = span_net(t, t, 0, rounds * inst[i].wl->pages);
        }
    }
}

/*
 * One pass of entry rewrites: BURST_WRITE of 8 bytes at each of the first
 * 256 entries, all turned to page @pa; the cost per entry.
 */
static Span rewrite_round(Inst *in, uint64_t pa)
{
    uint64_t entry = (uint64_t)(TI_PAT_ADDRH(pa) | TI_PAT_ADDRH_ENABLE) << 32 |
                     TI_PAT_ADDRL(pa);
    unsigned n = in->wl->pages;
    Span t;

    qvtd_wr64(&in->td, BUF_OFFSET, entry);
    t = span_net(time_doorbell(in), in->nop, 1, n);
    assert_burst_ok(in, n);
    g_assert_cmphex(qtest_readq(in->qts, TI_PAT_AUTO_TABLE(0) +
                                TI_PAT_ENTRY_OFFSET(n - 1)), ==, entry);
    return t;
}

static void time_rewrites(Inst *inst, int n, unsigned reps)
{
    unsigned rounds = g_test_perf() ? PERF_CHURN_ROUNDS * 4 :
                                      QUICK_CHURN_ROUNDS;

    for (int i = 0; i < n; i++) {
        Inst *in = &inst[i];

        qvtd_wr64(&in->td, R_DMA_ADDR, TI_PAT_AUTO_TABLE(0));
        qvtd_wr(&in->td, R_LEN, 8);
        qvtd_wr(&in->td, R_OP, OP_BURST_WRITE);
        qvtd_wr(&in->td, R_BURST_COUNT, in->wl->pages);
        qvtd_wr(&in->td, R_BURST_STRIDE, 8);
        qvtd_wr(&in->td, R_BURST_SPAN, in->wl->pages * 8);
    }
    /* Every entry to a third page first, so that each write is a change */
    for (int i = 0; i < n; i++) {
        rewrite_round(&inst[i], DATA_PA + 2 * PAGE);
    }
    for (unsigned r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) {
            uint32_t before = qvtd_rd(&inst[i].td, R_NOTIFY_COUNT);
            Span t = { 0, 0 };

            for (unsigned k = 0; k < rounds; k++) {
                t = span_add(t, rewrite_round(&inst[i],
                                              DATA_PA + (k & 1) * PAGE));
            }
            /* Every write changed its entry: an UNMAP and a MAP each */
            g_assert_cmpuint(qvtd_rd(&inst[i].td, R_NOTIFY_COUNT) - before,
                             ==, 2 * rounds * inst[i].wl->pages);
            inst[i].t[r] = span_net(t, t, 0, rounds);
        }
    }
}

/* ---- the command queue rows ---- */

/*
 * Cache @pages pages for each of @asids ASIDs: ASID a is stage 1 through
 * the CD at CD_ADDR, rewritten for each, then a burst over the pages
 */
static void cmdq_warm(Inst *in)
{
    for (unsigned a = 0; a < in->wl->asids; a++) {
        if (a) {
            qsmmu_cd_s1_4k(in->qts, CD_ADDR, PT_POOL, ASID + a);
            qsmmu_cmd(&in->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)DEV_SID << 32),
                      0);
        }
        burst_setup(in, DIR_READ, in->wl->pages);
        qvtd_wr(&in->td, R_DOORBELL, 1);
        assert_burst_ok(in, in->wl->pages);
    }
}

/* The one command a row publishes, over and over */
static void cmdq_command(const Workload *wl, uint64_t cmd[2])
{
    switch (wl->cmdq) {
    case CMDQ_SYNC:
        cmd[0] = SMMU_CMD_SYNC;
        cmd[1] = 0;
        break;
    case CMDQ_RANGE_MISS:
    case CMDQ_LONG:
        /* TG 4K, SCALE 20, NUM 31: 32 << 32 bytes, where nothing is */
        cmd[0] = SMMU_CMD_TLBI_NH_VA | ((uint64_t)ASID << 48) | (31ull << 12) |
                 (20ull << 20);
        cmd[1] = IOVA_EMPTY | (1ull << 10);
        break;
    case CMDQ_VAA_MISS:
        cmd[0] = SMMU_CMD_TLBI_NH_VAA;
        cmd[1] = IOVA_EMPTY;
        break;
    }
}

/* Point the SMMU at a queue of 2^17 copies of the row's command */
static void cmdq_setup_big(Inst *in)
{
    uint64_t cmd[2] = { 0, 0 };
    g_autofree uint64_t *q = g_new(uint64_t, 2u << CMDQ_BIG_LOG2SIZE);

    cmdq_command(in->wl, cmd);
    for (uint32_t i = 0; i < 1u << CMDQ_BIG_LOG2SIZE; i++) {
        q[2 * i] = cpu_to_le64(cmd[0]);
        q[2 * i + 1] = cpu_to_le64(cmd[1]);
    }
    qtest_memwrite(in->qts, CMDQ_BIG_ADDR, q, 16u << CMDQ_BIG_LOG2SIZE);
    qsmmu_set_cr0(&in->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qtest_writeq(in->qts, QSMMU_VIRT_BASE + SMMU_CMDQ_BASE,
                 CMDQ_BIG_ADDR | CMDQ_BIG_LOG2SIZE);
    qsmmu_writel(&in->smmu, SMMU_CMDQ_PROD, 0);
    qsmmu_writel(&in->smmu, SMMU_CMDQ_CONS, 0);
    qsmmu_set_cr0(&in->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN |
                  SMMU_CR0_CMDQEN);
    in->smmu.cmdq_prod = 0;
    in->smmu.cmdq_log2size = CMDQ_BIG_LOG2SIZE;
}

/* A register read: the qtest round trip of the polls */
static void measure_reg_read(Inst *in)
{
    Span t[NOP_REPS];

    for (int i = 0; i < NOP_REPS; i++) {
        Span t0 = span_start(in);

        qsmmu_readl(&in->smmu, SMMU_CMDQ_CONS);
        t[i] = span_end(in, t0);
    }
    in->nop = median_span(t, NOP_REPS);
}

/* The QOM path of the machine's SMMU, found among its unattached devices */
static char *smmu_qom_path(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'qom-list', 'arguments': "
                           "{ 'path': '/machine/unattached' } }");
    QList *list = qdict_get_qlist(rsp, "return");
    char *path = NULL;
    QListEntry *e;

    QLIST_FOREACH_ENTRY(list, e) {
        QDict *prop = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(prop, "type"), "child<arm-smmuv3>")) {
            path = g_strdup_printf("/machine/unattached/%s",
                                   qdict_get_str(prop, "name"));
        }
    }
    qobject_unref(rsp);
    g_assert_nonnull(path);
    return path;
}

static double qom_get_uint(QTestState *qts, const char *path,
                           const char *property)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': "
                           "{ 'path': %s, 'property': %s } }", path,
                           property);
    /* An emulator without the property (an older build): no figure */
    double v = qdict_haskey(rsp, "return") ? qdict_get_int(rsp, "return") :
               NAN;

    qobject_unref(rsp);
    return v;
}

/*
 * The longest the SMMU ran its queue in one go since the last call, as
 * it times itself: CPU time of its thread, and wall clock
 */
static Span cmdq_longest_run(Inst *in)
{
    g_autofree char *path = smmu_qom_path(in->qts);
    Span t = {
        .wall = qom_get_uint(in->qts, path, "x-cmdq-longest-run-wall-ns"),
        .cpu = qom_get_uint(in->qts, path, "x-cmdq-longest-run-ns"),
    };

    if (!isnan(t.cpu)) {
        qtest_qmp_assert_success(in->qts, "{ 'execute': 'qom-set', "
                                 "'arguments': { 'path': %s, 'property': "
                                 "'x-cmdq-longest-run-ns', 'value': 0 } }",
                                 path);
    }
    return t;
}

/*
 * Publish @count commands in one CMDQ_PROD write and wait until all are
 * consumed: what that took per command
 */
static Span cmdq_round(Inst *in, uint32_t count)
{
    uint32_t mask = (2u << CMDQ_BIG_LOG2SIZE) - 1;
    uint32_t prod = (in->smmu.cmdq_prod + count) & mask;
    unsigned polls = 0;
    Span all = span_start(in), t;

    qsmmu_writel(&in->smmu, SMMU_CMDQ_PROD, prod);
    while (qsmmu_readl(&in->smmu, SMMU_CMDQ_CONS) != prod) {
        polls++;
    }
    t = span_net(span_end(in, all), in->nop, 2 + polls, count);
    in->smmu.cmdq_prod = prod;
    g_assert_cmphex(qsmmu_readl(&in->smmu, SMMU_GERROR), ==, 0);
    return t;
}

static void time_cmdq(Inst *inst, int n, unsigned reps)
{
    for (int i = 0; i < n; i++) {
        cmdq_warm(&inst[i]);
        cmdq_setup_big(&inst[i]);
        measure_reg_read(&inst[i]);
        cmdq_longest_run(&inst[i]);
    }
    for (unsigned r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) {
            bool once = inst[i].wl->cmdq == CMDQ_LONG;
            Span t = cmdq_round(&inst[i], once ? CMDQ_LONG_CMDS :
                                                 CMDQ_ROW_CMDS);

            if (once) {
                /* The emulator's own figure, of its longest run */
                g_test_message("%s: %u commands, %.1f ns each (cpu)",
                               inst[i].wl->name, CMDQ_LONG_CMDS, t.cpu);
                t = cmdq_longest_run(&inst[i]);
            }
            inst[i].t[r] = t;
        }
    }
}

/* Median and minimum of both clocks, and the figure targets are judged on */
static void summarise(Result *res, const Span *t, unsigned reps)
{
    g_autofree double *w = g_new(double, reps);
    g_autofree double *c = g_new(double, reps);

    for (unsigned i = 0; i < reps; i++) {
        w[i] = t[i].wall;
        c[i] = t[i].cpu;
    }
    /* median() sorts: the minimum is first */
    res->wall_med = median(w, reps);
    res->wall_min = w[0];
    res->cpu_med = median(c, reps);
    res->cpu_min = c[0];
    res->cpu_max = c[reps - 1];
    res->ns = isnan(res->cpu_min) ? res->wall_min : res->cpu_min;
    res->done = true;
}

/* What a row's figure is per */
static const char *unit_name(const Workload *wl)
{
    switch (wl->kind) {
    case KIND_CHURN:
        return "page";
    case KIND_PAT_REWRITE:
        return "entry";
    case KIND_CMDQ:
        return wl->cmdq == CMDQ_LONG ? "longest run" : "command";
    default:
        return "access";
    }
}

static void run_workload(const void *opaque)
{
    const Workload *wl = opaque;
    unsigned idx = wl - workloads;
    unsigned reps = g_test_perf() ? PERF_REPS : QUICK_REPS;
    Inst inst[IMPL_COUNT];
    int n = 0;

    for (Impl impl = 0; impl < IMPL_COUNT; impl++) {
        if (have_impl[impl] && (kind_impls[wl->kind] & (1u << impl))) {
            inst_start(&inst[n], impl, wl);
            if (wl->kind != KIND_PAT_REWRITE) {
                verify_path(&inst[n]);
            }
            measure_nop(&inst[n]);
            n++;
        }
    }

    for (int dir = 0; dir < DIR_COUNT; dir++) {
        bool one_dir = wl->kind == KIND_CHURN || wl->kind == KIND_CMDQ ||
                       wl->kind == KIND_PAT_REWRITE;

        /* One direction: the churn's refill reads, rewrites write */
        if (one_dir &&
            dir != (wl->kind == KIND_PAT_REWRITE ? DIR_WRITE : DIR_READ)) {
            continue;
        }
        if (wl->kind == KIND_CHURN) {
            time_churn(inst, n, reps);
        } else if (wl->kind == KIND_CMDQ) {
            time_cmdq(inst, n, reps);
        } else if (wl->kind == KIND_PAT_REWRITE) {
            time_rewrites(inst, n, reps);
        } else if (wl->kind == KIND_HIT) {
            time_hits(inst, n, dir, reps);
        } else {
            time_bursts(inst, n, dir, reps);
        }
        for (int i = 0; i < n; i++) {
            Result *res = &results[idx][dir][inst[i].impl];

            assert_no_events(&inst[i]);
            summarise(res, inst[i].t, reps);
            if (wl->kind == KIND_CMDQ && wl->cmdq == CMDQ_LONG) {
                /* A bound on every run: the longest of all repetitions */
                res->ns = res->cpu_max;
            }
            res->hwm_kib = proc_status_kib(&inst[i], "VmHWM:");
            g_test_message("%s/%s on %s: %.1f ns per %s (judged; wall "
                           "median %.1f, min %.1f; cpu median %.1f; %u "
                           "repetitions)%s",
                           wl->name, dir_name[dir], impl_name[inst[i].impl],
                           res->ns, unit_name(wl), res->wall_med,
                           res->wall_min, res->cpu_med, reps,
                           g_test_perf() ? "" :
                           " [smoke run, not a measurement]");
        }
    }
    for (int i = 0; i < n; i++) {
        inst_stop(&inst[i]);
    }
}

/* ---- TCE management: hypercall rates, and what a huge window costs ---- */

enum {
    MGMT_INDIRECT,          /* ns per TCE, H_PUT_TCE_INDIRECT of 512 */
    MGMT_PUT,               /* ns per call, H_PUT_TCE in scattered order */
    MGMT_PAIR,              /* ns per map and unmap, one page outstanding */
    MGMT_PAIR_AGAIN,        /* ... over the same pages again */
    MGMT_FILL,              /* ns per TCE, INDIRECT filling a 1 GiB window */
    MGMT_STUFF_CLEAR,       /* ns per TCE, H_STUFF_TCE clearing it */
    MGMT_CREATE_US,         /* ibm,create-pe-dma-window, 1 TiB of 64K */
    MGMT_CREATE_VSZ_KIB,    /* what the create reserved */
    MGMT_CREATE_RSS_KIB,    /* ... made resident */
    MGMT_CREATE_STREAM_KIB, /* ... added to the migration stream */
    MGMT_SPARSE_RSS_KIB,    /* then one TCE per 2 MiB: resident */
    MGMT_SPARSE_STREAM_KIB, /* ... and in the stream */
    MGMT_COUNT,
};

static const char *const mgmt_name[MGMT_COUNT] = {
    [MGMT_INDIRECT] = "H_PUT_TCE_INDIRECT, 512 TCEs: ns per TCE",
    [MGMT_PUT] = "H_PUT_TCE, 65536 TCEs one by one, scattered: ns per call",
    [MGMT_PAIR] = "H_PUT_TCE map then unmap, 65536 pages in turn: ns per "
                  "pair",
    [MGMT_PAIR_AGAIN] = "... the same pages again: ns per pair",
    [MGMT_FILL] = "H_PUT_TCE_INDIRECT filling 262144 TCEs: ns per TCE",
    [MGMT_STUFF_CLEAR] = "H_STUFF_TCE, 262144 TCEs cleared: ns per TCE",
    [MGMT_CREATE_US] = "create a 1 TiB window of 64K TCEs: us",
    [MGMT_CREATE_VSZ_KIB] = "... memory reserved: KiB",
    [MGMT_CREATE_RSS_KIB] = "... memory resident: KiB",
    [MGMT_CREATE_STREAM_KIB] = "... migration stream (ours sparse): KiB",
    [MGMT_SPARSE_RSS_KIB] = "then sparse TCEs: resident KiB",
    [MGMT_SPARSE_STREAM_KIB] = "... migration stream (ours sparse): KiB",
};

/* The smaller is better for every row; NaN where not measured */
static double mgmt[IMPL_COUNT][MGMT_COUNT];
static unsigned mgmt_sparse_tces;

#define TCE_LIST_B_PA       (TCE_LIST_PA + 0x8000)
#define TCE_SPARSE_STRIDE   (2ull << 20)

static double since_ns(int64_t t0)
{
    return (g_get_monotonic_time() - t0) * 1000.0;
}

/* The size of the stream a migration to a file writes now, in KiB */
static double stream_kib(Inst *in)
{
    g_autofree char *path = g_strdup_printf("%s/viommu-bench-mig-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    struct stat st;

    qvtd_migrate(in->qts, uri);
    g_assert_cmpint(stat(path, &st), ==, 0);
    unlink(path);
    /* Run again, so that the next migration may start */
    qtest_qmp_assert_success(in->qts, "{ 'execute': 'cont' }");
    return st.st_size / 1024.0;
}

static uint64_t tce_get(Inst *in, uint32_t liobn, uint64_t ioba)
{
    uint64_t arg[] = { liobn, ioba }, tce;

    g_assert_cmpint(qtest_spapr_hcall(in->qts, TCE_LIST_PA + 0x1000,
                                      TCE_LIST_PA + 0x2000, H_GET_TCE, 2,
                                      arg, &tce, 1), ==, H_SUCCESS);
    return tce;
}

/*
 * Median time of @reps hypercalls, alternating two argument sets, as the
 * emulator measures it (x-hcall-timed): qtest's round trips would drown
 * a fast call
 */
static double time_hcalls(Inst *in, uint64_t op, const uint64_t *a,
                          const uint64_t *b, unsigned reps)
{
    g_autofree double *t = g_new(double, reps);

    for (unsigned r = 0; r < reps; r++) {
        uint64_t ns;

        g_assert_cmpint(qtest_spapr_hcall_timed(in->qts, TCE_LIST_PA + 0x1000,
                                                TCE_LIST_PA + 0x2000, op, 4,
                                                r & 1 ? b : a, &ns), ==,
                        H_SUCCESS);
        t[r] = ns;
    }
    return median(t, reps);
}

/* The hypercalls timed before the scattered H_PUT_TCE */
static void tce_management_bulk(Inst *in, double *out)
{
    const uint64_t window_tces = 1ull << 18;    /* the 1 GiB default */
    unsigned reps = g_test_perf() ? 201 : 3, stuff_reps = g_test_perf() ? 9 : 1;
    uint64_t full_a[] = { LIOBN_DEFAULT, 0, TCE_LIST_PA, 512 };
    uint64_t full_b[] = { LIOBN_DEFAULT, 0, TCE_LIST_B_PA, 512 };
    g_autofree double *t = g_new(double, MAX(reps, 2 * stuff_reps));

    /* INDIRECT: two lists, so that every call changes all 512 TCEs */
    for (unsigned k = 0; k < 512; k++) {
        qtest_writeq(in->qts, TCE_LIST_PA + 8 * k,
                     (TCE_DATA_PA + k * 0x1000ull) | 3);
        qtest_writeq(in->qts, TCE_LIST_B_PA + 8 * k,
                     (TCE_DATA_PA + (k + 512) * 0x1000ull) | 3);
    }
    out[MGMT_INDIRECT] = time_hcalls(in, H_PUT_TCE_INDIRECT, full_a, full_b,
                                     reps) / 512;
    g_assert_cmphex(tce_get(in, LIOBN_DEFAULT, 511 * 0x1000), ==,
                    (TCE_DATA_PA + (reps & 1 ? 511 : 1023) * 0x1000ull) | 3);

    /*
     * The whole default window filled by 512 calls of 512 TCEs (H_STUFF_TCE
     * may only clear: KVM and ours refuse a mapping in it), then cleared
     * by one H_STUFF_TCE
     */
    for (unsigned r = 0; r < stuff_reps; r++) {
        uint64_t clear[] = { LIOBN_DEFAULT, 0, 0, window_tces };
        double fill = 0;

        for (uint64_t i = 0; i < window_tces; i += 512) {
            uint64_t arg[] = { LIOBN_DEFAULT, i << 12, TCE_LIST_PA, 512 };

            fill += time_hcalls(in, H_PUT_TCE_INDIRECT, arg, arg, 1);
        }
        t[r] = fill / window_tces;
        g_assert_cmphex(tce_get(in, LIOBN_DEFAULT, (window_tces - 1) << 12),
                        ==, (TCE_DATA_PA + 511 * 0x1000ull) | 3);
        t[stuff_reps + r] = time_hcalls(in, H_STUFF_TCE, clear, clear, 1) /
                            window_tces;
        g_assert_cmphex(tce_get(in, LIOBN_DEFAULT, (window_tces - 1) << 12),
                        ==, 0);
    }
    out[MGMT_FILL] = median(t, stuff_reps);
    out[MGMT_STUFF_CLEAR] = median(t + stuff_reps, stuff_reps);
}

#define TCE_TURNS_N         (g_test_perf() ? 65536 : 256)

/*
 * Steps 0 to TCE_TURNS_N - 1, each timed by @step, the emulators taking
 * turns by batches of 256; the median of each emulator's into @row.  A
 * single hypercall takes a few hundred ns, most of it memory the caches
 * lost since the last, and what the host does meanwhile moves that by
 * more than the difference between two stores: taking turns, both meet
 * the same host.
 */
static void tce_take_turns(Inst *ins, unsigned count, int row,
                           double (*step)(Inst *in, unsigned k))
{
    unsigned n = TCE_TURNS_N, batch = 256;
    g_autofree double *tp = g_new(double, (size_t)n * count);

    for (unsigned k0 = 0; k0 < n; k0 += batch) {
        for (unsigned e = 0; e < count; e++) {
            for (unsigned k = k0; k < k0 + batch; k++) {
                tp[(size_t)e * n + k] = step(&ins[e], k);
            }
        }
    }
    for (unsigned e = 0; e < count; e++) {
        mgmt[ins[e].impl][row] = median(tp + (size_t)e * n, n);
    }
}

/*
 * Linux's dynamic mapping: one H_PUT_TCE per page, here 65536 of the
 * default window's TCEs in an order that visits every chunk before
 * filling any, so that ours goes through all its leaf shapes; then
 * cleared
 */
static double tce_put_scattered_one(Inst *in, unsigned k)
{
    uint64_t idx = (k * 40503ull) & (TCE_TURNS_N - 1);
    uint64_t arg[] = { LIOBN_DEFAULT, idx << 12,
                       (TCE_DATA_PA + (k & 0xff) * 0x1000ull) | 3, 0 };

    return time_hcalls(in, H_PUT_TCE, arg, arg, 1);
}

static void tce_put_scattered(Inst *ins, unsigned count)
{
    uint64_t clear[] = { LIOBN_DEFAULT, 0, 0, 1ull << 18 };

    tce_take_turns(ins, count, MGMT_PUT, tce_put_scattered_one);
    for (unsigned e = 0; e < count; e++) {
        g_assert_cmpint(tce_hcall(&ins[e], H_STUFF_TCE, 4, clear), ==,
                        H_SUCCESS);
    }
}

/* Page @k mapped, then unmapped */
static double tce_put_pair(Inst *in, unsigned k)
{
    uint64_t map[] = { LIOBN_DEFAULT, (uint64_t)k << 12,
                       (TCE_DATA_PA + (k & 0xff) * 0x1000ull) | 3, 0 };
    uint64_t unmap[] = { LIOBN_DEFAULT, (uint64_t)k << 12, 0, 0 };

    return time_hcalls(in, H_PUT_TCE, map, map, 1) +
           time_hcalls(in, H_PUT_TCE, unmap, unmap, 1);
}

/*
 * Linux's dynamic mapping of a device with one request in flight: its
 * allocator hands out the IOBAs in turn, and each page is unmapped before
 * the next is mapped.  Another TCE stays set (a ring the driver keeps
 * mapped), so that only the chunks the pages pass through come and go.
 * Then the same pages again, as the allocator comes round: what a guest
 * that has run a while pays.
 */
static void tce_put_pairs(Inst *ins, unsigned count)
{
    const uint64_t window_tces = 1ull << 18;
    uint64_t ring[] = { LIOBN_DEFAULT, (window_tces - 1) << 12,
                        TCE_DATA_PA | 3 };
    uint64_t clear[] = { LIOBN_DEFAULT, 0, 0, window_tces };

    for (unsigned e = 0; e < count; e++) {
        g_assert_cmpint(tce_hcall(&ins[e], H_PUT_TCE, 3, ring), ==,
                        H_SUCCESS);
    }
    tce_take_turns(ins, count, MGMT_PAIR, tce_put_pair);
    tce_take_turns(ins, count, MGMT_PAIR_AGAIN, tce_put_pair);
    for (unsigned e = 0; e < count; e++) {
        g_assert_cmphex(tce_get(&ins[e], LIOBN_DEFAULT,
                                (TCE_TURNS_N - 1) << 12), ==, 0);
        g_assert_cmphex(tce_get(&ins[e], LIOBN_DEFAULT, ring[1]), ==,
                        ring[2]);
        g_assert_cmpint(tce_hcall(&ins[e], H_STUFF_TCE, 4, clear), ==,
                        H_SUCCESS);
    }
}

/* Windows and the store's memory, after the scattered H_PUT_TCE */
static void tce_management_windows(Inst *in, double *out)
{
    unsigned reps = g_test_perf() ? 201 : 3;
    unsigned sparse = g_test_perf() ? 32768 : 64;
    uint32_t rtas_in[5] = { QPCI_DEVFN(DEV_SLOT, 0) << 8, SPAPR_BUID >> 32,
                            (uint32_t)SPAPR_BUID, 16, 40 }, rtas_out[6];
    g_autofree double *t = g_new(double, reps);
    double query_ns, vsz, rss, base_stream, created_stream;

    /* A 1 TiB window of 64 KiB TCEs: its cost before any TCE is set */
    base_stream = stream_kib(in);
    vsz = proc_status_kib(in, "VmSize:");
    rss = proc_status_kib(in, "VmRSS:");
    for (unsigned r = 0; r < reps; r++) {
        int64_t t0 = g_get_monotonic_time();

        g_assert_cmpint(tce_rtas(in, "ibm,query-pe-dma-window", 3, rtas_in,
                                 5, rtas_out), ==, 0);
        t[r] = since_ns(t0);
    }
    query_ns = median(t, reps);
    {
        int64_t t0 = g_get_monotonic_time();

        g_assert_cmpint(tce_rtas(in, "ibm,create-pe-dma-window", 5,
                                 rtas_in, 4, rtas_out), ==, 0);
        out[MGMT_CREATE_US] = MAX(since_ns(t0) - query_ns, 0) / 1000;
    }
    g_assert_cmphex(rtas_out[1], ==, LIOBN_DDW);
    out[MGMT_CREATE_VSZ_KIB] = proc_status_kib(in, "VmSize:") - vsz;
    out[MGMT_CREATE_RSS_KIB] = proc_status_kib(in, "VmRSS:") - rss;
    created_stream = stream_kib(in);
    out[MGMT_CREATE_STREAM_KIB] = created_stream - base_stream;

    /* One TCE per 2 MiB of window, to pages of the guest's 1 GiB */
    rss = proc_status_kib(in, "VmRSS:");
    for (unsigned i = 0; i < sparse; i++) {
        uint64_t arg[] = { LIOBN_DDW, DDW_START + i * TCE_SPARSE_STRIDE,
                           (TCE_DATA_PA + (i & 0xfff) * 0x10000ull) | 3 };

        g_assert_cmpint(tce_hcall(in, H_PUT_TCE, 3, arg), ==, H_SUCCESS);
    }
    g_assert_cmphex(tce_get(in, LIOBN_DDW, DDW_START + (sparse - 1) *
                            TCE_SPARSE_STRIDE), ==,
                    (TCE_DATA_PA + ((sparse - 1) & 0xfff) * 0x10000ull) | 3);
    out[MGMT_SPARSE_RSS_KIB] = proc_status_kib(in, "VmRSS:") - rss;
    out[MGMT_SPARSE_STREAM_KIB] = stream_kib(in) - base_stream;
    mgmt_sparse_tces = sparse;
}

static void run_tce_management(void)
{
    Inst ins[IMPL_COUNT];
    unsigned count = 0;

    for (Impl impl = IMPL_UPSTREAM; impl <= IMPL_OURS; impl++) {
        if (have_impl[impl]) {
            ins[count] = (Inst) { .impl = impl };
            ins[count].qts = start_qemu(impl, KIND_TCE);
            tce_management_bulk(&ins[count], mgmt[impl]);
            count++;
        }
    }
    tce_put_scattered(ins, count);
    tce_put_pairs(ins, count);
    for (unsigned e = 0; e < count; e++) {
        Impl impl = ins[e].impl;

        tce_management_windows(&ins[e], mgmt[impl]);
        for (int k = 0; k < MGMT_COUNT; k++) {
            g_test_message("tce-management on %s: %s %.1f%s",
                           impl_name[impl], mgmt_name[k], mgmt[impl][k],
                           g_test_perf() ? "" :
                           " [smoke run, not a measurement]");
        }
        qtest_quit(ins[e].qts);
    }
}

/*
 * One target: "name: what value, target <= limit: met", or MISSED.  A
 * value computed from missing or zero figures is no value: the target is
 * "MISSED (no data)", never met by default.
 */
static void put_target(GString *md, const char *name, const char *what,
                       double value, bool at_most, double limit)
{
    bool ok;

    if (isnan(value) || isinf(value)) {
        g_string_append_printf(md, "- %s: %s –, target %s %g: MISSED "
                               "(no data)\n", name, what,
                               at_most ? "<=" : ">=", limit);
        return;
    }
    ok = at_most ? value <= limit : value >= limit;
    g_string_append_printf(md, "- %s: %s %.2f, target %s %g: %s\n", name,
                           what, value, at_most ? "<=" : ">=", limit,
                           ok ? "met" : "MISSED");
}

/* @a / @b where both are figures, else NAN */
static double quotient(double a, double b)
{
    return a > 0 && b > 0 && !isnan(a) && !isnan(b) ? a / b : NAN;
}

/*
 * The TCE management table, and its targets: hypercalls no slower than
 * upstream's; a 1 TiB window in under 1 ms and 1 MiB until TCEs are set.
 * Nothing when they were not measured (the aarch64 run has none).
 */
static void report_tce_management(GString *md)
{
    double *up = mgmt[IMPL_UPSTREAM], *ours = mgmt[IMPL_OURS];

    /* Neither ran: 0, as made, or NaN */
    if (!(ours[MGMT_INDIRECT] > 0) && !(up[MGMT_INDIRECT] > 0)) {
        return;
    }
    g_string_append(md, "\n| TCE management | upstream | ours | "
                    "upstream/ours |\n|---|---:|---:|---:|\n");
    for (int k = 0; k < MGMT_COUNT; k++) {
        double q = quotient(up[k], ours[k]);

        g_string_append_printf(md, "| %s", mgmt_name[k]);
        if (k == MGMT_SPARSE_RSS_KIB) {
            g_string_append_printf(md, " (%u TCEs, one per 2 MiB)",
                                   mgmt_sparse_tces);
        }
        g_string_append(md, " |");
        g_string_append_printf(md, isnan(up[k]) ? " – |" : " %.1f |", up[k]);
        g_string_append_printf(md, isnan(ours[k]) ? " – |" : " %.1f |",
                               ours[k]);
        g_string_append_printf(md, isnan(q) ? " – |\n" : " %.2f |\n", q);
    }
    g_string_append(md, "\nTargets:\n");
    for (int k = MGMT_INDIRECT; k <= MGMT_STUFF_CLEAR; k++) {
        put_target(md, mgmt_name[k], "upstream/ours",
                   quotient(up[k], ours[k]), false, 1);
    }
    put_target(md, "1 TiB window created", "us",
               ours[MGMT_CREATE_US] > 0 ? ours[MGMT_CREATE_US] : NAN, true,
               1000);
    /* Nothing reserved, resident or migrated is the best there is */
    for (int k = MGMT_CREATE_VSZ_KIB; k <= MGMT_CREATE_STREAM_KIB; k++) {
        put_target(md, mgmt_name[k], "KiB", ours[k], true, 1024);
    }
}

/* ---- what the TCEs cost: resident bytes per TCE set ---- */

typedef enum BytesPattern {
    BYTES_UNTOUCHED,        /* a 1 TiB window of 64K created, nothing set */
    BYTES_DENSE_SINGLE,     /* a run, one H_PUT_TCE each, scattered order */
    BYTES_DENSE_BULK,       /* the whole 1 GiB window, H_PUT_TCE_INDIRECT */
    BYTES_STRIDE_4,         /* every 4th TCE of a run, one H_PUT_TCE each */
    BYTES_SPARSE,           /* one per 2 MiB of a 1 TiB window of 64K */
    BYTES_COUNT,
} BytesPattern;

static const char *const bytes_name[BYTES_COUNT] = {
    [BYTES_UNTOUCHED] = "tce-bytes-untouched-1tib",
    [BYTES_DENSE_SINGLE] = "tce-bytes-dense-single",
    [BYTES_DENSE_BULK] = "tce-bytes-dense-bulk",
    [BYTES_STRIDE_4] = "tce-bytes-stride-4",
    [BYTES_SPARSE] = "tce-bytes-sparse-2m-1tib",
};

typedef struct BytesResult {
    bool done;
    double tces;            /* TCEs set */
    double span;            /* TCEs a flat table of the part used has */
    double rss;             /* resident bytes the emulator gained */
    double store;           /* ours: what the store says it holds */
} BytesResult;

static BytesResult bytes_res[IMPL_COUNT][BYTES_COUNT];

static double tce_store_bytes(Inst *in, uint32_t liobn)
{
    g_autofree char *path = g_strdup_printf("tce-table-%x", liobn);
    QDict *rsp = qtest_qmp(in->qts, "{ 'execute': 'qom-get', 'arguments': "
                           "{ 'path': %s, 'property': 'x-store-bytes' } }",
                           path);
    double bytes = qdict_haskey(rsp, "return") ?
                   qdict_get_int(rsp, "return") : -1;

    qobject_unref(rsp);
    return bytes;
}

static void tce_put_one(Inst *in, uint32_t liobn, uint64_t ioba,
                        uint64_t tce)
{
    uint64_t arg[] = { liobn, ioba, tce };

    g_assert_cmpint(tce_hcall(in, H_PUT_TCE, 3, arg), ==, H_SUCCESS);
}

/* Set @pattern's TCEs; the LIOBN they are in */
static uint32_t tce_bytes_pattern(Inst *in, BytesPattern pattern,
                                  BytesResult *r)
{
    const uint64_t run = g_test_perf() ? 65536 : 1024;
    uint32_t rtas_in[5] = { QPCI_DEVFN(DEV_SLOT, 0) << 8, SPAPR_BUID >> 32,
                            (uint32_t)SPAPR_BUID, 16, 40 }, rtas_out[4];
    uint64_t n, i, idx;

    switch (pattern) {
    case BYTES_UNTOUCHED:
        g_assert_cmpint(tce_rtas(in, "ibm,create-pe-dma-window", 5, rtas_in,
                                 4, rtas_out), ==, 0);
        r->span = 1 << 24;
        return LIOBN_DDW;
    case BYTES_DENSE_SINGLE:
        for (i = 0; i < run; i++) {
            idx = (i * 7919) % run;
            tce_put_one(in, LIOBN_DEFAULT, idx << 12,
                        (TCE_DATA_PA + (idx & 0xff) * 0x1000) | 3);
        }
        r->tces = r->span = run;
        return LIOBN_DEFAULT;
    case BYTES_DENSE_BULK:
        n = g_test_perf() ? 1 << 18 : 8192;
        for (i = 0; i < n; i += 512) {
            uint64_t arg[] = { LIOBN_DEFAULT, i << 12, TCE_LIST_PA, 512 };

            g_assert_cmpint(tce_hcall(in, H_PUT_TCE_INDIRECT, 4, arg), ==,
                            H_SUCCESS);
        }
        r->tces = r->span = n;
        return LIOBN_DEFAULT;
    case BYTES_STRIDE_4:
        for (i = 0; i < run; i++) {
            tce_put_one(in, LIOBN_DEFAULT, (i * 4) << 12,
                        (TCE_DATA_PA + (i & 0xff) * 0x1000) | 3);
        }
        r->tces = run;
        r->span = 4 * run;
        return LIOBN_DEFAULT;
    case BYTES_SPARSE:
        g_assert_cmpint(tce_rtas(in, "ibm,create-pe-dma-window", 5, rtas_in,
                                 4, rtas_out), ==, 0);
        n = g_test_perf() ? 32768 : 64;
        r->tces = n;
        r->span = 1 << 24;
        /* The window's own cost is BYTES_UNTOUCHED's row */
        r->rss = -proc_status_kib(in, "VmRSS:") * 1024.0;
        for (i = 0; i < n; i++) {
            tce_put_one(in, LIOBN_DDW, DDW_START + i * TCE_SPARSE_STRIDE,
                        (TCE_DATA_PA + (i & 0xff) * 0x10000) | 3);
        }
        return LIOBN_DDW;
    default:
        g_assert_not_reached();
    }
}

static void run_tce_bytes(void)
{
    for (Impl impl = IMPL_UPSTREAM; impl <= IMPL_OURS; impl++) {
        if (!have_impl[impl]) {
            continue;
        }
        for (BytesPattern p = 0; p < BYTES_COUNT; p++) {
            BytesResult *r = &bytes_res[impl][p];
            Inst in = { .impl = impl };
            uint32_t liobn;

            in.qts = start_qemu(impl, KIND_TCE);
            for (unsigned k = 0; k < 512; k++) {
                qtest_writeq(in.qts, TCE_LIST_PA + 8 * k,
                             (TCE_DATA_PA + k * 0x1000ull) | 3);
            }
            /* Every page the calls use is resident before the first count */
            tce_put_one(&in, LIOBN_DEFAULT, 0, 0);
            g_assert_cmphex(tce_get(&in, LIOBN_DEFAULT, 0), ==, 0);
            r->rss = -proc_status_kib(&in, "VmRSS:") * 1024.0;
            liobn = tce_bytes_pattern(&in, p, r);
            r->rss += proc_status_kib(&in, "VmRSS:") * 1024.0;
            r->store = impl == IMPL_OURS ? tce_store_bytes(&in, liobn) : -1;
            r->done = true;
            g_test_message("%s on %s: %.0f TCEs, %.0f bytes resident, "
                           "store %.0f%s", bytes_name[p], impl_name[impl],
                           r->tces, r->rss, r->store, g_test_perf() ? "" :
                           " [smoke run, not a measurement]");
            qtest_quit(in.qts);
        }
    }
}

/*
 * Bytes per TCE, and the targets: dense patterns at most 9 (a flat table
 * is 8), one per 2 MiB of a 1 TiB window at most 32, no pattern more than
 * 1.1 times a flat table of the part of the window it uses, an untouched
 * window nothing but the table's own state.
 */
static void report_tce_bytes(GString *md)
{
    BytesResult *ours = bytes_res[IMPL_OURS], *up = bytes_res[IMPL_UPSTREAM];

    if (!ours[BYTES_DENSE_BULK].done) {
        return;
    }
    g_string_append(md, "\n| TCE store | TCEs | upstream bytes/TCE | ours "
                    "bytes/TCE | ours store bytes/TCE | ours x flat table |"
                    "\n|---|---:|---:|---:|---:|---:|\n");
    for (BytesPattern p = 0; p < BYTES_COUNT; p++) {
        BytesResult *o = &ours[p];

        if (!o->tces) {
            /* Nothing set: the window's cost in KiB and bytes */
            g_string_append_printf(md, "| %s (KiB) | 0 |", bytes_name[p]);
            if (up[p].done) {
                g_string_append_printf(md, " %.0f |", up[p].rss / 1024);
            } else {
                g_string_append(md, " – |");
            }
            g_string_append_printf(md, " %.0f | %.0f bytes | %.4f |\n",
                                   o->rss / 1024, o->store,
                                   o->rss / (8 * o->span));
            continue;
        }
        g_string_append_printf(md, "| %s | %.0f |", bytes_name[p], o->tces);
        if (up[p].done) {
            g_string_append_printf(md, " %.1f |", up[p].rss / up[p].tces);
        } else {
            g_string_append(md, " – |");
        }
        g_string_append_printf(md, " %.1f | %.1f | %.3f |\n",
                               o->rss / o->tces, o->store / o->tces,
                               o->rss / (8 * o->span));
    }
    g_string_append(md, "\nTargets (resident bytes per TCE set):\n");
    for (BytesPattern p = BYTES_DENSE_SINGLE; p < BYTES_COUNT; p++) {
        double want = p == BYTES_SPARSE ? 32 : 9;
        double got = ours[p].rss / ours[p].tces;

        if (p != BYTES_STRIDE_4) {
            g_string_append_printf(md, "- %s: %.1f, target <= %.0f: %s\n",
                                   bytes_name[p], got, want,
                                   got <= want ? "met" : "MISSED");
        }
        got = ours[p].rss / (8 * ours[p].span);
        g_string_append_printf(md, "- %s: %.3f x a flat table, target <= 1.1:"
                               " %s\n", bytes_name[p], got,
                               got <= 1.1 ? "met" : "MISSED");
    }
    g_string_append_printf(md, "- %s: %.0f KiB resident, store %.0f bytes, "
                           "target: the table's own state only: %s\n",
                           bytes_name[BYTES_UNTOUCHED],
                           ours[BYTES_UNTOUCHED].rss / 1024,
                           ours[BYTES_UNTOUCHED].store,
                           ours[BYTES_UNTOUCHED].store == 0 ? "met" :
                           "MISSED");
}

/* r[a] / r[b] on the judged figures, or NAN where either is missing */
static double ratio(const Result *r, Impl a, Impl b)
{
    return r[a].done && r[b].done ? quotient(r[a].ns, r[b].ns) : NAN;
}

static void put_ns(GString *s, const Result *r)
{
    if (r->done) {
        g_string_append_printf(s, " %.1f |", r->ns);
    } else {
        g_string_append(s, " – |");
    }
}

static void put_ratio(GString *s, double x)
{
    if (isnan(x)) {
        g_string_append(s, " – |");
    } else {
        g_string_append_printf(s, " %.2f |", x);
    }
}

/* The row of workload @name, or -1 */
static int workload_index(const char *name)
{
    for (int w = 0; w < ARRAY_SIZE(workloads); w++) {
        if (!strcmp(workloads[w].name, name)) {
            return w;
        }
    }
    return -1;
}

/* Ours on row @name, in direction @dir: its judged figure, or NAN */
static double ours_ns(const char *name, int dir)
{
    int w = workload_index(name);

    return w >= 0 && results[w][dir][IMPL_OURS].done ?
           results[w][dir][IMPL_OURS].ns : NAN;
}

/*
 * The targets, where they apply: bypass within 5% of no IOMMU; warm hits
 * (every working set our IOTLB holds) within 1.25x of the floor, TCE
 * translation (one load) within 1.05x; at least 2x upstream above 256
 * pages; never slower than upstream.  Our own rows:
 * an IOTLB hit costs the same, within 1.5x, whatever addresses the guest
 * chose; a TLBI that removes nothing costs the same, within 2x, whatever
 * the IOTLB holds; no CMDQ_PROD write runs more than 1 ms.
 */
static void check_targets(GString *md, const Workload *wl, int dir,
                          const Result *r)
{
    g_autofree char *name = g_strdup_printf("%s/%s", wl->name,
                                            dir_name[dir]);
    double speedup = ratio(r, IMPL_UPSTREAM, IMPL_OURS);

    if (wl->kind <= KIND_BYPASS_STE) {
        put_target(md, name, "ours/none", ratio(r, IMPL_OURS, IMPL_NONE),
                   true, 1.05);
    }
    if ((wl->kind >= KIND_S1 && wl->kind <= KIND_NESTED &&
         wl->pages <= 4096) ||
        wl->kind == KIND_PAT_WINDOW || wl->kind == KIND_TCE) {
        put_target(md, name, "ours/floor", ratio(r, IMPL_OURS, IMPL_FLOOR),
                   true, wl->kind == KIND_TCE ? 1.05 : 1.25);
    }
    if (kind_impls[wl->kind] & (1u << IMPL_UPSTREAM) &&
        wl->kind != KIND_BYPASS_GBPA && wl->kind != KIND_BYPASS_STE) {
        /* The SMMU's IOTLB against upstream's; TCE tables: no slower */
        double want = wl->pages > 256 && wl->kind != KIND_CHURN &&
                      wl->kind != KIND_TCE ? 2 : 1;

        put_target(md, name, "upstream/ours", speedup, false, want);
    } else if (wl->kind <= KIND_BYPASS_STE) {
        put_target(md, name, "upstream/ours", speedup, false, 1);
    }
    if (wl->kind == KIND_HIT && strcmp(wl->name, "iotlb-hit-seq-16000")) {
        put_target(md, name, "ours/iotlb-hit-seq-16000",
                   quotient(r[IMPL_OURS].ns,
                            ours_ns("iotlb-hit-seq-16000", dir)),
                   true, 1.5);
    }
    if (!strcmp(wl->name, "tlbi-range-miss-16000")) {
        put_target(md, name, "ours/tlbi-range-miss-16",
                   quotient(r[IMPL_OURS].ns,
                            ours_ns("tlbi-range-miss-16", dir)), true, 2);
    }
    if (!strcmp(wl->name, "tlbi-vaa-miss-1024x16")) {
        put_target(md, name, "ours/tlbi-vaa-miss-16",
                   quotient(r[IMPL_OURS].ns,
                            ours_ns("tlbi-vaa-miss-16", dir)), true, 2);
    }
    if (wl->kind == KIND_CMDQ && wl->cmdq == CMDQ_LONG) {
        put_target(md, name, "ns", r[IMPL_OURS].done && r[IMPL_OURS].ns > 0 ?
                   r[IMPL_OURS].ns : NAN, true, 1e6);
    }
}

static void put_figure(GString *s, double x)
{
    g_string_append_printf(s, isnan(x) ? " – |" : " %.1f |", x);
}

#ifdef VIOMMU_TESTDEV_VFIO_USER
/*
 * ---- The test device out of process ----
 *
 * The same bursts through QEMU's vfio-user client and the out-of-process
 * test device (viommu-testdev-vfio-user), against the in-QEMU device on
 * the same machine and mappings: 4 KiB accesses over VU_PAGES pages,
 * directly through guest memory the client mapped, or by DMA_READ/
 * DMA_WRITE messages (x-dma-messages=on, or the SMMUv3, which cannot
 * notify mappings).  A command's time is its doorbell write and the
 * status read that waits for it (the out-of-process device's doorbell is
 * a posted write), less a NOP's.  Then what one guest mapping or unmapping
 * costs when it must reach the server as DMA_MAP/DMA_UNMAP: H_PUT_TCE
 * (timed inside the emulator) and a PAT entry write (timed around the
 * qtest write), with the in-QEMU device and with the out-of-process one.
 */

#define VU_PAGES            256
#define VU_LEN              4096
#define VU_QUICK_COUNT      16
#define VU_MAP_OPS          64
#define VU_IOVA             0x8000000000ull

typedef enum VuModel { VU_NONE, VU_SMMU, VU_PAT, VU_TCE } VuModel;

typedef struct VuRow {
    const char *name;
    VuModel model;
    bool messages;          /* x-dma-messages=on */
} VuRow;

static const VuRow vu_rows[] = {
    { "none-direct", VU_NONE, false },
    { "none-message", VU_NONE, true },
    { "smmuv3-s1-message", VU_SMMU, false },
    { "pat-direct", VU_PAT, false },
    { "pat-message", VU_PAT, true },
    { "tce-direct", VU_TCE, false },
    { "tce-message", VU_TCE, true },
};

typedef struct VuResult {
    bool done;
    double ns[2][DIR_COUNT];    /* [in QEMU, out of process] per 4 KiB */
} VuResult;

static VuResult vu_results[ARRAY_SIZE(vu_rows)];

/* H_PUT_TCE and PAT entry writes, mapping and unmapping: ns per operation */
enum { VU_MAP, VU_UNMAP, VU_MAP_OP_COUNT };
static double vu_map_ns[2][VU_MAP_OP_COUNT][2];    /* [tce, pat][op][oop] */
static bool vu_map_done[2];

typedef struct VuInst {
    QTestState *qts;
    QGenericPCIBus gbus;
    QPCIBus *bus;
    QGuestAllocator alloc;
    bool spapr;
    QViommuTestdev td;
    QSMMUv3 smmu;
    QVfioUserServer srv;
    bool oop;               /* the device out of process */
    uint64_t base;          /* bus address of page 0 */
    uint64_t pa;            /* where page 0 lands */
    double nop_ns;
} VuInst;

static uint64_t vu_smmu_out(unsigned i, void *opaque)
{
    return *(uint64_t *)opaque + (uint64_t)i * PAGE;
}

static void vu_start(VuInst *in, VuModel model, bool oop, bool messages)
{
    g_autofree char *dev = NULL;

    memset(in, 0, sizeof(*in));
    in->oop = oop;
    if (oop) {
        qvus_start(&in->srv, NULL);
        dev = qvus_device(&in->srv, messages ?
                          "\"addr\":\"4.0\",\"x-dma-messages\":\"on\"" :
                          "\"addr\":\"4.0\"");
    } else {
        dev = g_strdup("-device viommu-testdev,addr=4.0");
    }
    if (model == VU_TCE) {
        in->spapr = true;
        in->qts = qtest_initf("-M pseries -m 1G -nodefaults "
                              "-object memory-backend-memfd,id=ram,size=1G,"
                              "share=on -M memory-backend=ram %s", dev);
        spapr_alloc_init(&in->alloc, in->qts, ALLOC_NO_FLAGS);
        in->bus = qpci_new_spapr(in->qts, &in->alloc);
    } else {
        in->qts = qtest_initf("-M virt%s -cpu max -m 1G -nodefaults "
                              "-object memory-backend-memfd,id=ram,size=1G,"
                              "share=on -M memory-backend=ram %s %s",
                              model == VU_SMMU ? ",iommu=smmuv3" : "",
                              model == VU_PAT ? "-device ti-pat" : "", dev);
        qpci_init_generic(&in->gbus, in->qts, NULL, false);
        in->bus = &in->gbus.bus;
    }
    qvtd_init(&in->td, in->bus, DEV_DEVFN);

    switch (model) {
    case VU_NONE:
        in->base = in->pa = DATA_PA;
        break;
    case VU_SMMU:
        in->pa = DATA_PA;
        in->base = VU_IOVA;
        qsmmu_init(&in->smmu, in->qts, QSMMU_VIRT_BASE);
        qsmmu_setup_tables(&in->smmu, STRTAB_ADDR, STRTAB_LOG2SIZE,
                           EVENTQ_ADDR, EVENTQ_LOG2SIZE);
        qsmmu_set_cr0(&in->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
        qsmmu_setup_cmdq(&in->smmu, CMDQ_ADDR, CMDQ_LOG2SIZE);
        qsmmu_cd_s1_4k(in->qts, CD_ADDR,
                       qsmmu_pt_build_linear(in->qts, false, PT_POOL, VU_IOVA,
                                             VU_PAGES, vu_smmu_out, &in->pa,
                                             0), ASID);
        qsmmu_ste_s1(&in->smmu, DEV_SID, CD_ADDR);
        break;
    case VU_PAT:
        in->pa = DATA_PA;
        in->base = TI_PAT_AUTO_WINDOW(0);
        qtest_writel(in->qts, TI_PAT_AUTO_MMRS(0) + TI_PAT_CONTROL,
                     TI_PAT_CONTROL_EN |
                     TI_PAT_CONTROL_PAGE_SIZE(TI_PAT_PAGE_4K));
        for (unsigned i = 0; i < VU_PAGES; i++) {
            uint64_t at = TI_PAT_AUTO_TABLE(0) + TI_PAT_ENTRY_OFFSET(i);
            uint64_t pa = DATA_PA + i * PAGE;

            qtest_writel(in->qts, at, TI_PAT_ADDRL(pa));
            qtest_writel(in->qts, at + 4, TI_PAT_ADDRH(pa) |
                         TI_PAT_ADDRH_ENABLE);
        }
        break;
    case VU_TCE: {
        uint64_t arg[] = { LIOBN_DEFAULT, 0, TCE_LIST_PA, VU_PAGES };

        in->pa = TCE_DATA_PA;
        in->base = 0;
        for (unsigned k = 0; k < VU_PAGES; k++) {
            qtest_writeq(in->qts, TCE_LIST_PA + 8 * k,
                         (TCE_DATA_PA + k * PAGE) | 3);
        }
        g_assert_cmpint(qtest_spapr_hcall(in->qts, TCE_LIST_PA + 0x1000,
                                          TCE_LIST_PA + 0x2000,
                                          H_PUT_TCE_INDIRECT, 4, arg, NULL,
                                          0), ==, H_SUCCESS);
        break;
    }
    }
}

static void vu_stop(VuInst *in)
{
    qvtd_free(&in->td);
    if (in->spapr) {
        qpci_free_spapr(in->bus);
        alloc_destroy(&in->alloc);
    }
    qtest_quit(in->qts);
    if (in->oop) {
        qvus_stop(&in->srv);
    }
}

/* A command from the doorbell to the status read that finds it done */
static double vu_time_command(VuInst *in)
{
    int64_t t0 = g_get_monotonic_time();
    uint32_t st;

    qvtd_wr(&in->td, R_DOORBELL, 1);
    st = qvtd_rd(&in->td, R_STATUS);
    g_assert_cmphex(st & STATUS_BUSY, ==, 0);
    g_assert_cmpuint(STATUS_RESULT(st), ==, RES_OK);
    return (g_get_monotonic_time() - t0) * 1000.0;
}

static void vu_burst_setup(VuInst *in, int dir, uint32_t count)
{
    qvtd_wr64(&in->td, R_DMA_ADDR, in->base);
    qvtd_wr(&in->td, R_LEN, VU_LEN);
    qvtd_wr(&in->td, R_BURST_STRIDE, PAGE);
    qvtd_wr(&in->td, R_BURST_SPAN, VU_PAGES * PAGE);
    qvtd_wr(&in->td, R_BURST_COUNT, count);
    qvtd_wr(&in->td, R_OP, dir == DIR_READ ? OP_BURST_READ : OP_BURST_WRITE);
}

/*
 * Before timing: a page read and a page written land where the mapping
 * says, and the out-of-process device took the path the row is about
 */
static void vu_verify(VuInst *in, const VuRow *row)
{
    uint32_t path = row->messages || row->model == VU_SMMU ?
                    DMA_PATH_MESSAGE : DMA_PATH_DIRECT;

    qtest_writeq(in->qts, in->pa + 5 * PAGE, 0x0102030405060708ull);
    g_assert_cmpuint(qvtd_run(&in->td, OP_READ, in->base + 5 * PAGE, 8), ==,
                     RES_OK);
    g_assert_cmphex(qvtd_rd64(&in->td, BUF_OFFSET), ==,
                    qtest_big_endian(in->qts) ? 0x0807060504030201ull :
                                                0x0102030405060708ull);
    qvtd_wr(&in->td, R_PATTERN, 0x7a7a7a7a);
    g_assert_cmpuint(qvtd_run(&in->td, OP_FILL, in->base + 9 * PAGE + 8, 4),
                     ==, RES_OK);
    g_assert_cmphex(qtest_readl(in->qts, in->pa + 9 * PAGE + 8), ==,
                    0x7a7a7a7a);
    g_assert_cmpuint(qvtd_rd(&in->td, R_DMA_PATH) & 7, ==,
                     in->oop ? path : DMA_PATH_MEMORY);
}

static void vu_measure_nop(VuInst *in)
{
    double t[NOP_REPS];

    qvtd_wr(&in->td, R_OP, OP_NOP);
    for (int i = 0; i < NOP_REPS; i++) {
        t[i] = vu_time_command(in);
    }
    in->nop_ns = median(t, NOP_REPS);
}

/* Both devices, alternately: ns per 4 KiB access in each direction */
static void run_vu_row(const void *opaque)
{
    const VuRow *row = opaque;
    VuResult *res = &vu_results[row - vu_rows];
    unsigned reps = g_test_perf() ? PERF_REPS : QUICK_REPS;
    VuInst in[2];

    for (int o = 0; o < 2; o++) {
        vu_start(&in[o], row->model, o, row->messages);
        vu_verify(&in[o], row);
        vu_measure_nop(&in[o]);
    }
    for (int dir = 0; dir < DIR_COUNT; dir++) {
        uint32_t count[2] = { VU_QUICK_COUNT, VU_QUICK_COUNT };
        double t[2][MAX_REPS];

        for (int o = 0; o < 2 && g_test_perf(); o++) {
            double ns;

            /* Size the bursts on a first one: about PERF_TARGET_NS each */
            vu_burst_setup(&in[o], dir, VU_PAGES);
            ns = MAX(vu_time_command(&in[o]) - in[o].nop_ns, 1) / VU_PAGES;
            count[o] = MIN(MAX(PERF_TARGET_NS / ns, VU_PAGES),
                           BURST_MAX_BYTES / VU_LEN);
        }
        for (unsigned r = 0; r < reps; r++) {
            for (int o = 0; o < 2; o++) {
                vu_burst_setup(&in[o], dir, count[o]);
                t[o][r] = MAX(vu_time_command(&in[o]) - in[o].nop_ns, 0) /
                          count[o];
                g_assert_cmpuint(qvtd_rd(&in[o].td, R_BURST_DONE), ==,
                                 count[o]);
            }
        }
        for (int o = 0; o < 2; o++) {
            res->ns[o][dir] = median(t[o], reps);
        }
    }
    res->done = true;
    for (int o = 0; o < 2; o++) {
        vu_stop(&in[o]);
    }
}

static double vu_hcall_ns(VuInst *in, uint64_t ioba, uint64_t tce)
{
    uint64_t arg[] = { LIOBN_DEFAULT, ioba, tce }, ns;

    g_assert_cmpint(qtest_spapr_hcall_timed(in->qts, TCE_LIST_PA + 0x1000,
                                            TCE_LIST_PA + 0x2000, H_PUT_TCE,
                                            3, arg, &ns), ==, H_SUCCESS);
    return ns;
}

static double vu_pat_write_ns(VuInst *in, unsigned i, bool enable)
{
    uint64_t at = TI_PAT_AUTO_TABLE(0) + TI_PAT_ENTRY_OFFSET(i);
    uint64_t pa = DATA_PA + (i % VU_PAGES) * PAGE;
    int64_t t0 = g_get_monotonic_time();

    qtest_writel(in->qts, at + 4, TI_PAT_ADDRH(pa) |
                 (enable ? TI_PAT_ADDRH_ENABLE : 0));
    return (g_get_monotonic_time() - t0) * 1000.0;
}

/*
 * One guest mapping and one unmapping, with the in-QEMU device (nobody
 * listens) and with the out-of-process one (VFIO sends DMA_MAP/DMA_UNMAP
 * and waits for the reply): the difference is what reaching the server
 * costs.  Pages past the ones vu_start() mapped, each mapped then
 * unmapped.
 */
static void run_vu_map(const void *opaque)
{
    VuModel model = (uintptr_t)opaque;
    int m = model == VU_TCE ? 0 : 1;
    unsigned reps = g_test_perf() ? VU_MAP_OPS : 4;
    double t[2][VU_MAP_OP_COUNT][VU_MAP_OPS];
    VuInst in[2];

    for (int o = 0; o < 2; o++) {
        vu_start(&in[o], model, o, false);
    }
    for (unsigned r = 0; r < reps; r++) {
        for (int o = 0; o < 2; o++) {
            unsigned i = VU_PAGES + r;

            if (model == VU_TCE) {
                t[o][VU_MAP][r] = vu_hcall_ns(&in[o], i * PAGE,
                                              (TCE_DATA_PA + r * PAGE) | 3);
                t[o][VU_UNMAP][r] = vu_hcall_ns(&in[o], i * PAGE, 0);
            } else {
                uint64_t pa = DATA_PA + (i % VU_PAGES) * PAGE;

                qtest_writel(in[o].qts, TI_PAT_AUTO_TABLE(0) +
                             TI_PAT_ENTRY_OFFSET(i), TI_PAT_ADDRL(pa));
                t[o][VU_MAP][r] = vu_pat_write_ns(&in[o], i, true);
                t[o][VU_UNMAP][r] = vu_pat_write_ns(&in[o], i, false);
            }
        }
    }
    /* The mappings reached the server, and went again */
    g_assert_cmpuint(qvtd_rd(&in[1].td, R_DMA_REGIONS), ==,
                     model == VU_TCE ? VU_PAGES : 1 + VU_PAGES);
    for (int o = 0; o < 2; o++) {
        for (int op = 0; op < VU_MAP_OP_COUNT; op++) {
            vu_map_ns[m][op][o] = median(t[o][op], reps);
        }
        vu_stop(&in[o]);
    }
    vu_map_done[m] = true;
}

static void report_vfio_user(GString *md)
{
    static const char *const map_name[2][VU_MAP_OP_COUNT] = {
        { "H_PUT_TCE mapping a page", "H_PUT_TCE clearing it" },
        { "a PAT entry enabled", "a PAT entry disabled" },
    };
    bool any = false;

    for (int r = 0; r < ARRAY_SIZE(vu_rows); r++) {
        any |= vu_results[r].done;
    }
    if (!any && !vu_map_done[0] && !vu_map_done[1]) {
        return;
    }
    g_string_append(md, "\nThe test device out of process (vfio-user-pci), "
                    "4 KiB accesses over 256 pages, against the in-QEMU "
                    "device on the same mappings:\n\n"
                    "| row | dir | in QEMU ns / 4 KiB | out of process ns "
                    "/ 4 KiB | out of process MiB/s | out / in |\n"
                    "|---|---|---:|---:|---:|---:|\n");
    for (int r = 0; r < ARRAY_SIZE(vu_rows); r++) {
        const VuResult *v = &vu_results[r];

        for (int dir = 0; v->done && dir < DIR_COUNT; dir++) {
            g_string_append_printf(md, "| vfio-user-%s | %s | %.0f | %.0f |"
                                   " %.0f | %.1f |\n", vu_rows[r].name,
                                   dir_name[dir], v->ns[0][dir],
                                   v->ns[1][dir],
                                   VU_LEN / v->ns[1][dir] * 1e9 / (1 << 20),
                                   v->ns[1][dir] / v->ns[0][dir]);
        }
    }
    g_string_append(md, "\nOne guest mapping or unmapping, ns per operation "
                    "(H_PUT_TCE timed in the emulator, a PAT entry write "
                    "around its qtest write):\n\n"
                    "| operation | in-QEMU device | out of process | "
                    "reaching the server |\n|---|---:|---:|---:|\n");
    for (int m = 0; m < 2; m++) {
        for (int op = 0; vu_map_done[m] && op < VU_MAP_OP_COUNT; op++) {
            g_string_append_printf(md, "| %s | %.0f | %.0f | %.0f |\n",
                                   map_name[m][op], vu_map_ns[m][op][0],
                                   vu_map_ns[m][op][1],
                                   vu_map_ns[m][op][1] - vu_map_ns[m][op][0]);
        }
    }
}

static void add_vfio_user_rows(bool ppc)
{
    if (!qtest_has_device("vfio-user-pci")) {
        return;
    }
    for (int r = 0; r < ARRAY_SIZE(vu_rows); r++) {
        g_autofree char *path = NULL;

        if ((vu_rows[r].model == VU_TCE) != ppc ||
            (vu_rows[r].model == VU_SMMU && !qtest_has_device("arm-smmuv3")) ||
            (vu_rows[r].model == VU_PAT && !qtest_has_device("ti-pat"))) {
            continue;
        }
        path = g_strdup_printf("/viommu-bench/vfio-user/%s", vu_rows[r].name);
        qtest_add_data_func(path, &vu_rows[r], run_vu_row);
    }
    if (ppc) {
        qtest_add_data_func("/viommu-bench/vfio-user/tce-map-unmap",
                            (void *)(uintptr_t)VU_TCE, run_vu_map);
    } else if (qtest_has_device("ti-pat")) {
        qtest_add_data_func("/viommu-bench/vfio-user/pat-map-unmap",
                            (void *)(uintptr_t)VU_PAT, run_vu_map);
    }
}
#endif /* VIOMMU_TESTDEV_VFIO_USER */

static void report(void)
{
    const char *dir_out = g_getenv("VIOMMU_BENCH_DIR");
    g_autoptr(GString) md = g_string_new(NULL);
    g_autoptr(GString) spread = g_string_new(NULL);
    g_autoptr(GString) targets = g_string_new(NULL);
    g_autoptr(GString) tsv = g_string_new("workload\tdir\timpl\tns\t"
                                          "peak_rss_kib\twall_median\t"
                                          "wall_min\tcpu_median\tcpu_min\n");
    bool rows = false;

    g_string_append(md, "| workload | dir | none ns | floor ns | upstream ns"
                    " | ours ns | ours/none | ours/floor | upstream/ours"
                    " | peak RSS MiB none/upstream/ours |\n"
                    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    g_string_append(spread, "| workload | dir | emulator | wall median | "
                    "wall min | CPU median | CPU min |\n"
                    "|---|---|---|---:|---:|---:|---:|\n");
    for (int w = 0; w < ARRAY_SIZE(workloads); w++) {
        for (int dir = 0; dir < DIR_COUNT; dir++) {
            const Result *r = results[w][dir];
            bool any = false;

            for (Impl i = 0; i < IMPL_COUNT; i++) {
                any |= r[i].done;
            }
            if (!any) {
                continue;
            }
            rows = true;
            g_string_append_printf(md, "| %s | %s |", workloads[w].name,
                                   dir_name[dir]);
            for (Impl i = 0; i < IMPL_COUNT; i++) {
                put_ns(md, &r[i]);
                if (!r[i].done) {
                    continue;
                }
                g_string_append_printf(tsv, "%s\t%s\t%s\t%.2f\t%ld\t%.2f\t"
                                       "%.2f\t%.2f\t%.2f\n",
                                       workloads[w].name, dir_name[dir],
                                       impl_name[i], r[i].ns, r[i].hwm_kib,
                                       r[i].wall_med, r[i].wall_min,
                                       r[i].cpu_med, r[i].cpu_min);
                g_string_append_printf(spread, "| %s | %s | %s |",
                                       workloads[w].name, dir_name[dir],
                                       impl_name[i]);
                put_figure(spread, r[i].wall_med);
                put_figure(spread, r[i].wall_min);
                put_figure(spread, r[i].cpu_med);
                put_figure(spread, r[i].cpu_min);
                g_string_append(spread, "\n");
            }
            put_ratio(md, ratio(r, IMPL_OURS, IMPL_NONE));
            put_ratio(md, ratio(r, IMPL_OURS, IMPL_FLOOR));
            put_ratio(md, ratio(r, IMPL_UPSTREAM, IMPL_OURS));
            g_string_append(md, " ");
            for (Impl i = IMPL_NONE; i < IMPL_COUNT; i++) {
                if (i == IMPL_FLOOR) {
                    continue;
                }
                g_string_append_printf(md, "%s%s", i ? "/" : "",
                                       r[i].done ? "" : "–");
                if (r[i].done) {
                    g_string_append_printf(md, "%ld", r[i].hwm_kib / 1024);
                }
            }
            g_string_append(md, " |\n");
            check_targets(targets, &workloads[w], dir, r);
        }
    }
    if (!rows) {
        /* No table of nothing */
        g_string_truncate(md, 0);
    } else {
        g_string_append_printf(md, "\nns: per DMA access (per page for "
                               "tlbi-churn, per entry for pat-rewrite, per "
                               "command for cmdq-* and tlbi-*): the minimum, "
                               "over %u repetitions alternating "
                               "between the emulators, of the CPU time of "
                               "the emulator thread that did the work.  That "
                               "is the figure the targets are judged on: "
                               "other tenants of the machine can stretch the "
                               "wall clock, not it.  The medians and minima "
                               "of both clocks (cmdq-65536-longest-run: the "
                               "longest the SMMU ran commands in one MMIO "
                               "write or bottom half, holding the BQL, as "
                               "the emulator itself times it; its figure is "
                               "the longest CPU time over the repetitions):\n\n%s\n"
                               "Targets:\n%s",
                               PERF_REPS, spread->str, targets->str);
    }
    report_tce_management(md);
    report_tce_bytes(md);
#ifdef VIOMMU_TESTDEV_VFIO_USER
    report_vfio_user(md);
#endif
    printf("\n%s\n", md->str);

    if (dir_out) {
        g_autofree char *md_path = g_build_filename(dir_out, "qtest.md",
                                                    NULL);
        g_autofree char *tsv_path = g_build_filename(dir_out, "qtest.tsv",
                                                     NULL);

        g_assert(g_file_set_contents(md_path, md->str, -1, NULL));
        g_assert(g_file_set_contents(tsv_path, tsv->str, -1, NULL));
    }
}


/* VIOMMU_BENCH_IMPLS=ours,floor runs only those, to profile one */
static void select_impls(const char *list)
{
    g_auto(GStrv) names = list ? g_strsplit(list, ",", -1) : NULL;

    if (!names) {
        return;
    }
    for (Impl impl = 0; impl < IMPL_COUNT; impl++) {
        have_impl[impl] &= g_strv_contains((const char * const *)names,
                                           impl_name[impl]);
    }
}

int main(int argc, char **argv)
{
    bool ppc = !strcmp(qtest_get_arch(), "ppc64");
    const char *machine = ppc ? "pseries" : "virt";
    int ret;

    g_test_init(&argc, &argv, NULL);
    /* Nothing measured yet: no figure, and no table, until it is */
    for (Impl impl = 0; impl < IMPL_COUNT; impl++) {
        for (int k = 0; k < MGMT_COUNT; k++) {
            mgmt[impl][k] = NAN;
        }
    }
    /* A configuration may lack these */
    if (qtest_has_machine(machine) && qtest_has_device("viommu-testdev")) {
        have_impl[IMPL_NONE] = !ppc;
        have_impl[IMPL_FLOOR] = qtest_has_device("x-viommu-identity");
        have_impl[IMPL_OURS] = ppc || (qtest_has_device("arm-smmuv3") &&
                                       qtest_has_device("ti-pat"));
        have_impl[IMPL_UPSTREAM] = g_getenv("QTEST_QEMU_BINARY_REF") &&
            qtest_has_machine_with_env("QTEST_QEMU_BINARY_REF", machine);
        if (!have_impl[IMPL_UPSTREAM]) {
            g_test_message("QTEST_QEMU_BINARY_REF unset: upstream's models "
                           "are not measured");
        }
        select_impls(g_getenv("VIOMMU_BENCH_IMPLS"));
        for (int i = 0; i < ARRAY_SIZE(workloads); i++) {
            g_autofree char *path = NULL;

            /* The TCE workloads on ppc64, the others on aarch64 */
            if ((workloads[i].kind == KIND_TCE) != ppc) {
                continue;
            }
            path = g_strdup_printf("/viommu-bench/%s", workloads[i].name);
            qtest_add_data_func(path, &workloads[i], run_workload);
        }
        if (ppc && (have_impl[IMPL_OURS] || have_impl[IMPL_UPSTREAM])) {
            qtest_add_func("/viommu-bench/tce-management",
                           run_tce_management);
            qtest_add_func("/viommu-bench/tce-bytes", run_tce_bytes);
        }
#ifdef VIOMMU_TESTDEV_VFIO_USER
        add_vfio_user_rows(ppc);
#endif
    }
    ret = g_test_run();
    if (g_test_perf()) {
        report();
    }
    return ret;
}
