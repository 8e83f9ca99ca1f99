/*
 * viommu-spapr-tce: the fork's sPAPR TCE tables, DDW and EEH, fuzzed
 * through the calls a guest makes
 *
 * generic-fuzz reaches a device through MMIO and DMA only; a pSeries
 * guest drives its IOMMU with hypercalls and RTAS calls.  This target
 * reads its input as a sequence of operations on -M pseries (see
 * "Input" below): the TCE hypercalls (through the fork's qtest-only
 * "rtas x-hcall"), the DDW and EEH RTAS calls, viommu-testdev DMA, a
 * machine reset and a migration (the devices' state saved and loaded
 * back into the machine with its PHB reset).  Between inputs only the
 * PHB is reset, which is all an input changes (see input_reset()).
 *
 * A shadow of the hypervisor's state, written from PAPR and
 * docs/system/devices/spapr-tce.rst, predicts every call's return code
 * and outputs, and every DMA's outcome and bytes; after a migration the
 * shadow must still hold.  Where the documents leave a case open, the
 * shadow takes the model's answer.  See docs/devel/testing/fuzzing-viommu.rst.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include "qemu/main-loop.h"
#include "qemu/yank.h"
#include "qapi/error.h"
#include "io/channel-buffer.h"
#include "hw/core/cpu.h"
#include "migration/global_state.h"
#include "migration/qemu-file.h"
#include "migration/savevm.h"
#include "migration/migration.h"
#include "system/runstate.h"
#include "tests/qtest/fuzz/fuzz.h"
/* The test device's MEMTX register bits are QEMU's MemTxResult bits */
#undef MEMTX_ERROR
#undef MEMTX_DECODE_ERROR
#undef MEMTX_ACCESS_ERROR
#include "tests/qtest/libqos/pci-spapr.h"
#include "tests/qtest/libqos/malloc-spapr.h"
#include "tests/qtest/libqos/spapr-hcall.h"
#include "viommu-fuzz.h"

#define DEVFN               QPCI_DEVFN(4, 0)
#define CONFIG_ADDR         (DEVFN << 8)    /* bus 0 */
#define PE_ADDR             1               /* bus 0's PE */
#define BAD_ADDR            (5 << 16)       /* no device on bus 5 */
#define BUID                0x800000020000000ull

/* The PHB: ddw-windows=4, the default window of 1 GiB at 0 */
#define NR_WINDOWS          4
#define LIOBN_BASE          0x80000000u
#define DMA64_BASE          (1ull << 59)
/* The PHB's MSI window, over any DMA window: 4 KiB, or a host page */
#define MSI_WINDOW          0x40000000000ull
#define MSI_WINDOW_MAX      (64 * KiB)
#define DEFAULT_SHIFT       12
#define DEFAULT_COUNT       (1 * GiB >> DEFAULT_SHIFT)
/* The largest block (the least a guest gets), the PHB's default page sizes */
#define LARGEST_BLOCK       ((uint64_t)1 << 20)
#define PGSZ_MASK           (0x01 | 0x02 | 0x04 | 0x100)
#define MAX_WINDOW_SHIFT    58

/*
 * Guest memory: 256 MiB, so that the hash page table that every machine
 * reset allocates and clears is small.  libqos's allocator (RTAS buffers
 * for PCI configuration accesses) hands out memory from 1 MiB upwards.
 */
#define RAM_SIZE            (256 * MiB)
#define DATA                0x08000000ull   /* where TCEs point */
#define DATA_PAGES          4096
#define LIST                0x0e000000ull   /* H_PUT_TCE_INDIRECT's list */
#define HARGS               0x0f000000ull
#define HRETS               0x0f000400ull
#define RARGS               0x0f000800ull
#define RRETS               0x0f000c00ull
#define ERROR_LOG           0x0f001000ull   /* ibm,slot-error-detail's */

#define H_HARDWARE          (-1)
#define TCE_INDIRECT_MAX    512     /* and H_STUFF_TCE's non-zero count */
#define H_STUFF_TOO_MANY    (-57)   /* H_P4 */
#define RTAS_SUCCESS        0
#define RTAS_HW_ERROR       (-1)
#define RTAS_PARAM_ERROR    (-3)
#define RTAS_UNEXPECTED_STATE (-7)

/* ibm,read-slot-reset-state2 states */
#define PE_NORMAL           0
#define PE_RESET            1
#define PE_STOPPED          2
#define PE_DMA_STOPPED      4
#define PE_UNAVAILABLE      5

enum { EEH_OFF, EEH_ON, EEH_UNKNOWN };

/*
 * At most this many operations per input, of which this many machine
 * resets and migrations (the fuzzer grows inputs full of them, at 10 to
 * 25 ms of CPU each under ASan, where an input of calls takes about 1)
 */
#define MAX_OPS             512
#define MAX_HEAVY_OPS       2

/* A run of TCEs [first, last] holding @tce (never 0) */
typedef struct Run {
    uint64_t first, last, tce;
} Run;

typedef struct Window {
    bool live;              /* the window exists */
    bool ever;              /* it existed once: H_CONSTRAINED */
    /*
     * Made as the default window (by a reset), which a DDW that takes
     * LIOBN_BASE once the default one is removed is not
     */
    bool def;
    uint64_t offset;        /* bus address of TCE 0 */
    unsigned shift;         /* page shift */
    uint64_t count;         /* TCEs */
    GArray *runs;           /* of Run, sorted and disjoint */
} Window;

typedef struct Shadow {
    Window win[NR_WINDOWS];         /* LIOBN_BASE + i */
    int eeh_on;                 /* EEH_OFF, EEH_ON or EEH_UNKNOWN */
    int pe_state;
} Shadow;

static struct {
    QTestState *qts;
    DeviceState *phb;
    QGuestAllocator alloc;
    QPCIBus *bus;
    VFuzzTestdev td;
    Shadow sh;
} sp;

/* ---- the input ---- */

typedef struct Input {
    const uint8_t *p;
    size_t n;
} Input;

/* The input's next bytes, little-endian; zeros once it is used up */
static uint64_t take(Input *in, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes; i++) {
        if (in->n) {
            v |= (uint64_t)*in->p++ << (8 * i);
            in->n--;
        }
    }
    return v;
}

/* ---- the shadow's TCEs ---- */

static uint64_t window_end(const Window *w)
{
    return w->offset + (w->count << w->shift);
}

static uint64_t tce_get(const Window *w, uint64_t index)
{
    for (guint i = 0; i < w->runs->len; i++) {
        const Run *r = &g_array_index(w->runs, Run, i);

        if (index >= r->first && index <= r->last) {
            return r->tce;
        }
    }
    return 0;
}

/* TCEs [first, first + n) := tce */
static void tce_set(Window *w, uint64_t first, uint64_t n, uint64_t tce)
{
    const Run set = { first, first + n - 1, tce };
    bool placed = !tce;
    GArray *out;

    if (!n) {
        return;
    }
    out = g_array_sized_new(false, false, sizeof(Run), w->runs->len + 2);
    for (guint i = 0; i < w->runs->len; i++) {
        Run r = g_array_index(w->runs, Run, i);

        if (r.last < set.first) {
            g_array_append_val(out, r);
            continue;
        }
        if (r.first < set.first) {
            Run left = { r.first, set.first - 1, r.tce };

            g_array_append_val(out, left);
        }
        if (!placed && r.first > set.last) {
            g_array_append_val(out, set);
            placed = true;
        }
        if (r.first > set.last) {
            g_array_append_val(out, r);
        } else if (r.last > set.last) {
            Run right = { set.last + 1, r.last, r.tce };

            if (!placed) {
                g_array_append_val(out, set);
                placed = true;
            }
            g_array_append_val(out, right);
        }
    }
    if (!placed) {
        g_array_append_val(out, set);
    }
    g_array_free(w->runs, true);
    w->runs = out;
}

static void window_open(Window *w, uint64_t offset, unsigned shift,
                        uint64_t count)
{
    w->live = true;
    w->ever = true;
    w->offset = offset;
    w->shift = shift;
    w->count = count;
    w->def = false;
    g_array_set_size(w->runs, 0);
}

static void default_window_open(void)
{
    window_open(&sp.sh.win[0], 0, DEFAULT_SHIFT, DEFAULT_COUNT);
    sp.sh.win[0].def = true;
}

static void window_close(Window *w)
{
    w->live = false;
    g_array_set_size(w->runs, 0);
}

static unsigned nr_live(void)
{
    unsigned n = 0;

    for (int i = 0; i < NR_WINDOWS; i++) {
        n += sp.sh.win[i].live;
    }
    return n;
}

/* The machine as reset leaves it: the default window alone, EEH off */
static void shadow_reset(void)
{
    for (int i = 0; i < NR_WINDOWS; i++) {
        Window *w = &sp.sh.win[i];

        if (!w->runs) {
            w->runs = g_array_new(false, false, sizeof(Run));
        }
        window_close(w);
    }
    default_window_open();
    sp.sh.eeh_on = EEH_OFF;
    sp.sh.pe_state = PE_NORMAL;
}

/*
 * The window of a TCE hypercall on @liobn, or NULL and the return codes
 * the call may give (@alt: a second one where the documents allow two)
 */
static Window *hcall_window(uint64_t liobn, int64_t *rc, int64_t *alt)
{
    uint64_t i = liobn - LIOBN_BASE;

    *rc = *alt = H_PARAMETER;
    if (i >= NR_WINDOWS) {
        return NULL;
    }
    /* No window, never created or removed: H_PARAMETER, as KVM answers */
    return sp.sh.win[i].live ? &sp.sh.win[i] : NULL;
}

/*
 * A TCE that maps a page (a permission bit set) must name one of the
 * partition's pages, RAM here, or the call is H_PARAMETER (LoPAR, KVM)
 */
static bool tce_outside(const Window *w, uint64_t tce)
{
    return (tce & 3) && (tce & ~((1ull << w->shift) - 1)) >= RAM_SIZE;
}

/* The index of @npages TCEs from @ioba, if all are in @w */
static bool tce_range(const Window *w, uint64_t ioba, uint64_t npages,
                      uint64_t *index)
{
    uint64_t i;

    if (ioba < w->offset) {
        return false;
    }
    i = (ioba - w->offset) >> w->shift;
    if (i >= w->count || npages > w->count - i) {
        return false;
    }
    *index = i;
    return true;
}

/* ---- calls ---- */

/*
 * The calls stage their arguments and results in guest memory, big-endian,
 * each array in one qtest command: every command is a round trip through
 * the qtest protocol, which takes the most time of a call
 */
static int64_t hcall(uint64_t op, int n, const uint64_t *in, uint64_t *out,
                     int nout)
{
    uint64_t buf[8];

    g_assert(n < ARRAY_SIZE(buf) && nout < ARRAY_SIZE(buf));
    buf[0] = cpu_to_be64(op);
    for (int i = 0; i < n; i++) {
        buf[i + 1] = cpu_to_be64(in[i]);
    }
    qtest_memwrite(sp.qts, HARGS, buf, (n + 1) * sizeof(buf[0]));
    if (qtest_rtas_call(sp.qts, "x-hcall", n + 1, HARGS, nout + 1, HRETS)) {
        vfuzz_finding("rtas", "x-hcall 0x%" PRIx64 " was not answered", op);
    }
    qtest_memread(sp.qts, HRETS, buf, (nout + 1) * sizeof(buf[0]));
    for (int i = 0; i < nout; i++) {
        out[i] = be64_to_cpu(buf[i + 1]);
    }
    return be64_to_cpu(buf[0]);
}

static int32_t rtas(const char *name, int n, const uint32_t *in, int nret,
                    uint32_t *out)
{
    uint32_t buf[8];

    g_assert(n <= ARRAY_SIZE(buf) && nret <= ARRAY_SIZE(buf));
    for (int i = 0; i < n; i++) {
        buf[i] = cpu_to_be32(in[i]);
    }
    qtest_memwrite(sp.qts, RARGS, buf, n * sizeof(buf[0]));
    /* What the call leaves unwritten shows */
    memset(buf, 0xa5, sizeof(buf));
    qtest_memwrite(sp.qts, RRETS, buf, nret * sizeof(buf[0]));
    if (qtest_rtas_call(sp.qts, name, n, RARGS, nret, RRETS)) {
        vfuzz_finding("rtas", "%s was not answered", name);
    }
    qtest_memread(sp.qts, RRETS, buf, nret * sizeof(buf[0]));
    for (int i = 0; i < nret; i++) {
        out[i] = be32_to_cpu(buf[i]);
    }
    return out[0];
}

static void expect_rc(const char *what, int64_t got, int64_t want,
                      int64_t alt)
{
    if (got != want && got != alt) {
        vfuzz_finding("spapr", "%s returned %" PRId64 ", the shadow expects "
                      "%" PRId64 "%s", what, got, want,
                      alt != want ? " (or the alternative)" : "");
    }
}

/* ---- choosing arguments ---- */

static uint64_t pick_liobn(Input *in)
{
    uint8_t sel = take(in, 1);

    if (sel >= 0xf0) {
        return take(in, 4);
    }
    return LIOBN_BASE + sel % (NR_WINDOWS + 1);
}

/* A bus address in @liobn's window (or the default geometry), or raw */
static uint64_t pick_ioba(Input *in, uint64_t liobn)
{
    uint8_t mode = take(in, 1);
    uint64_t i = liobn - LIOBN_BASE;
    const Window *w = i < NR_WINDOWS && sp.sh.win[i].live ? &sp.sh.win[i]
                                                          : &sp.sh.win[0];
    uint64_t offset = w->live ? w->offset : 0;
    unsigned shift = w->live ? w->shift : DEFAULT_SHIFT;
    uint64_t count = w->live ? w->count : DEFAULT_COUNT;
    uint64_t index, within;

    if (mode % 8 == 0) {
        return take(in, 8);
    }
    index = take(in, 4) % (count + 2);
    within = mode & 0x80 ? take(in, 4) & ((1ull << shift) - 1) : 0;
    return offset + (index << shift) + within;
}

static uint64_t pick_tce(Input *in)
{
    uint8_t mode = take(in, 1);

    if (mode % 16 == 0) {
        return take(in, 8);
    }
    return (DATA + (take(in, 2) % DATA_PAGES) * 4 * KiB) | (mode & 3);
}

static uint64_t pick_npages(Input *in)
{
    switch (take(in, 1) % 4) {
    case 0:
        return take(in, 1);
    case 1:
        return take(in, 2) % (TCE_INDIRECT_MAX + 2);
    case 2:
        return take(in, 4) % (LARGEST_BLOCK + 2);
    default:
        return take(in, 8);
    }
}

/* ---- hypercalls ---- */

static void op_put_tce(Input *in)
{
    uint64_t liobn = pick_liobn(in), ioba = pick_ioba(in, liobn);
    uint64_t tce = pick_tce(in), index;
    uint64_t args[] = { liobn, ioba, tce };
    int64_t rc, alt;
    Window *w = hcall_window(liobn, &rc, &alt);

    if (w) {
        rc = alt = tce_range(w, ioba, 1, &index) && !tce_outside(w, tce)
                   ? H_SUCCESS : H_PARAMETER;
    }
    expect_rc("H_PUT_TCE", hcall(H_PUT_TCE, 3, args, NULL, 0), rc, alt);
    if (w && rc == H_SUCCESS) {
        tce_set(w, index, 1, tce);
    }
}

static void op_get_tce(Input *in)
{
    uint64_t liobn = pick_liobn(in), ioba = pick_ioba(in, liobn);
    uint64_t args[] = { liobn, ioba }, tce = 0, index;
    int64_t rc, alt;
    Window *w = hcall_window(liobn, &rc, &alt);

    if (w) {
        rc = alt = tce_range(w, ioba, 1, &index) ? H_SUCCESS : H_PARAMETER;
    }
    expect_rc("H_GET_TCE", hcall(H_GET_TCE, 2, args, &tce, 1), rc, alt);
    if (w && rc == H_SUCCESS && tce != tce_get(w, index)) {
        vfuzz_finding("spapr", "H_GET_TCE of LIOBN 0x%" PRIx64 " index "
                      "0x%" PRIx64 " returned 0x%" PRIx64 ", the shadow "
                      "holds 0x%" PRIx64, liobn, index, tce,
                      tce_get(w, index));
    }
}

static void op_stuff_tce(Input *in)
{
    uint64_t liobn = pick_liobn(in), ioba = pick_ioba(in, liobn);
    uint64_t tce = take(in, 1) & 1 ? 0 : pick_tce(in);
    uint64_t npages = pick_npages(in), index;
    uint64_t args[] = { liobn, ioba, tce, npages };
    int64_t rc, alt;
    Window *w = hcall_window(liobn, &rc, &alt);

    /*
     * Only TCEs that map nothing are stuffed; zeros over any count, other
     * values over at most 512 (docs/system/devices/spapr-tce.rst)
     */
    if (w) {
        if (!tce_range(w, ioba, npages, &index) || (tce & 3)) {
            rc = alt = H_PARAMETER;
        } else if (tce && npages > TCE_INDIRECT_MAX) {
            rc = alt = H_STUFF_TOO_MANY;
        } else {
            rc = alt = H_SUCCESS;
        }
    }
    expect_rc("H_STUFF_TCE", hcall(H_STUFF_TCE, 4, args, NULL, 0), rc, alt);
    if (w && rc == H_SUCCESS) {
        tce_set(w, index, npages, tce);
    }
}

static void op_put_tce_indirect(Input *in)
{
    uint64_t liobn = pick_liobn(in), ioba = pick_ioba(in, liobn);
    uint64_t npages = pick_npages(in);
    uint8_t mode = take(in, 1);
    uint64_t list = LIST + (mode & 3) * 4 * KiB;
    uint64_t base = pick_tce(in), stride = take(in, 2) << 12;
    uint64_t tces[TCE_INDIRECT_MAX], index;
    uint64_t args[4];
    int64_t rc, alt;
    Window *w;
    bool readable;

    /* The list: misaligned, beyond RAM, or in RAM, a TCE per page */
    if (mode & 0x40) {
        list += 8 << (mode >> 2 & 7);
    } else if (mode & 0x80) {
        list = RAM_SIZE + (mode & 3) * 4 * KiB;
    }
    for (int i = 0; i < TCE_INDIRECT_MAX; i++) {
        tces[i] = cpu_to_be64(base + i * stride);
    }
    readable = list + sizeof(tces) <= RAM_SIZE;
    if (readable) {
        qtest_memwrite(sp.qts, list & ~7ull, tces, sizeof(tces));
    }
    args[0] = liobn;
    args[1] = ioba;
    args[2] = list;
    args[3] = npages;
    w = hcall_window(liobn, &rc, &alt);
    if (w) {
        rc = alt = H_SUCCESS;
        if (npages > TCE_INDIRECT_MAX || (list & 0xfff) ||
            !tce_range(w, ioba, npages, &index) || (npages && !readable)) {
            rc = alt = H_PARAMETER;
        }
        for (uint64_t i = 0; rc == H_SUCCESS && i < npages; i++) {
            if (tce_outside(w, be64_to_cpu(tces[i]))) {
                rc = alt = H_PARAMETER;
            }
        }
    }
    expect_rc("H_PUT_TCE_INDIRECT", hcall(H_PUT_TCE_INDIRECT, 4, args, NULL,
                                          0), rc, alt);
    if (w && rc == H_SUCCESS) {
        for (uint64_t i = 0; i < npages; i++) {
            tce_set(w, index + i, 1, be64_to_cpu(tces[i]));
        }
    }
}

/* ---- dynamic DMA windows ---- */

static void op_ddw_query(Input *in)
{
    uint32_t args[] = { CONFIG_ADDR, BUID >> 32, (uint32_t)BUID };
    int nret = 5 + take(in, 1) % 3;
    uint32_t out[7];
    int32_t st = rtas("ibm,query-pe-dma-window", 3, args, nret, out);
    uint32_t avail = NR_WINDOWS - nr_live();

    if (nret == 7) {
        expect_rc("ibm,query-pe-dma-window (7 outputs)", st,
                  RTAS_PARAM_ERROR, RTAS_PARAM_ERROR);
        return;
    }
    expect_rc("ibm,query-pe-dma-window", st, RTAS_SUCCESS, RTAS_SUCCESS);
    if (out[1] != avail ||
        (nret == 5 && (out[2] != LARGEST_BLOCK || out[3] != PGSZ_MASK)) ||
        (nret == 6 && (out[2] != 0 || out[3] != LARGEST_BLOCK ||
                       out[4] != PGSZ_MASK))) {
        vfuzz_finding("spapr", "ibm,query-pe-dma-window (%d outputs) said "
                      "%u windows, block 0x%x 0x%x, sizes 0x%x; the shadow "
                      "expects %u windows, block 0x%" PRIx64 ", sizes 0x%x",
                      nret, out[1], out[2], out[3], out[4], avail,
                      LARGEST_BLOCK, PGSZ_MASK);
    }
}

static bool page_shift_offered(uint32_t shift)
{
    return shift == 12 || shift == 16 || shift == 21 || shift == 24;
}

/*
 * Where a new window of 2^@shift bytes goes: the lowest of DMA64_BASE
 * and the addresses just past a window in use, aligned to its size from
 * DMA64_BASE, that is free
 */
static uint64_t ddw_placement(unsigned shift)
{
    uint64_t size = 1ull << shift, best = UINT64_MAX;

    for (int c = -1; c < NR_WINDOWS; c++) {
        uint64_t at = DMA64_BASE;
        bool free = true;

        if (c >= 0) {
            if (!sp.sh.win[c].live || window_end(&sp.sh.win[c]) <= DMA64_BASE) {
                continue;
            }
            at = DMA64_BASE + ROUND_UP(window_end(&sp.sh.win[c]) -
                                       DMA64_BASE, size);
        }
        for (int i = 0; i < NR_WINDOWS; i++) {
            const Window *w = &sp.sh.win[i];

            if (w->live && at < window_end(w) && w->offset < at + size) {
                free = false;
            }
        }
        if (free && at < best) {
            best = at;
        }
    }
    return best;
}

static void op_ddw_create(Input *in)
{
    static const uint32_t shifts[] = { 12, 16, 21, 24, 13, 34, 64 };
    uint8_t sel = take(in, 1);
    uint32_t page_shift = sel < 0xf0 ? shifts[sel % ARRAY_SIZE(shifts)]
                                     : take(in, 4);
    uint32_t window_shift = take(in, 1);
    uint32_t args[] = { CONFIG_ADDR, BUID >> 32, (uint32_t)BUID,
                        page_shift, window_shift };
    uint32_t out[4];
    bool bad = !page_shift_offered(page_shift) ||
               window_shift < page_shift || window_shift > MAX_WINDOW_SHIFT ||
               window_shift - page_shift > 20;
    bool full = nr_live() == NR_WINDOWS;
    int32_t want = bad ? RTAS_PARAM_ERROR : full ? RTAS_HW_ERROR
                                                 : RTAS_SUCCESS;
    int32_t st = rtas("ibm,create-pe-dma-window", 5, args, 4, out);
    uint64_t i, start, at;

    expect_rc("ibm,create-pe-dma-window", st, want,
              bad && full ? RTAS_HW_ERROR : want);
    if (st != RTAS_SUCCESS) {
        return;
    }
    i = (uint64_t)out[1] - LIOBN_BASE;
    if (i >= NR_WINDOWS || sp.sh.win[i].live) {
        vfuzz_finding("spapr", "ibm,create-pe-dma-window gave LIOBN 0x%x, "
                      "which is not a free window of the PHB", out[1]);
    }
    start = (uint64_t)out[2] << 32 | out[3];
    at = nr_live() ? ddw_placement(window_shift) : 0;
    if (start != at) {
        vfuzz_finding("spapr", "ibm,create-pe-dma-window put a window of "
                      "2^%u bytes at 0x%" PRIx64 ", the shadow at "
                      "0x%" PRIx64, window_shift, start, at);
    }
    window_open(&sp.sh.win[i], start, page_shift,
                1ull << (window_shift - page_shift));
}

static void op_ddw_remove(Input *in)
{
    uint32_t liobn = pick_liobn(in), out;
    uint64_t i = (uint64_t)liobn - LIOBN_BASE;
    bool live = i < NR_WINDOWS && sp.sh.win[i].live;
    bool was_default = live && sp.sh.win[i].def;

    expect_rc("ibm,remove-pe-dma-window",
              rtas("ibm,remove-pe-dma-window", 1, &liobn, 1, &out),
              live ? RTAS_SUCCESS : RTAS_PARAM_ERROR,
              live ? RTAS_SUCCESS : RTAS_PARAM_ERROR);
    if (!live) {
        return;
    }
    window_close(&sp.sh.win[i]);
    /*
     * LoPAR: the last window gone, the default one comes back, empty,
     * unless it was the default one; a DDW on LIOBN_BASE is not
     * (spapr-tce-test's ddw/default-by-history)
     */
    if (!nr_live() && !was_default) {
        default_window_open();
    }
}

static void op_ddw_reset(Input *in)
{
    uint32_t args[] = { CONFIG_ADDR, BUID >> 32, (uint32_t)BUID }, out;

    expect_rc("ibm,reset-pe-dma-window",
              rtas("ibm,reset-pe-dma-window", 3, args, 1, &out),
              RTAS_SUCCESS, RTAS_SUCCESS);
    for (int i = 0; i < NR_WINDOWS; i++) {
        window_close(&sp.sh.win[i]);
    }
    default_window_open();
}

/* A DDW call with too few arguments: refused, and nothing changes */
static void op_ddw_short(Input *in)
{
    static const struct {
        const char *name;
        int need, nret;
    } calls[] = {
        { "ibm,query-pe-dma-window", 3, 5 },
        { "ibm,create-pe-dma-window", 5, 4 },
        { "ibm,reset-pe-dma-window", 3, 1 },
    };
    unsigned c = take(in, 1) % ARRAY_SIZE(calls);
    uint32_t args[5] = { CONFIG_ADDR, BUID >> 32, (uint32_t)BUID, 16, 30 };
    uint32_t out[5];

    expect_rc(calls[c].name, rtas(calls[c].name, take(in, 1) % calls[c].need,
                                  args, calls[c].nret, out),
              RTAS_PARAM_ERROR, RTAS_PARAM_ERROR);
}

/* ---- EEH ---- */

static int32_t pe_state_now(void)
{
    uint32_t args[] = { PE_ADDR, BUID >> 32, (uint32_t)BUID }, out[5];

    expect_rc("ibm,read-slot-reset-state2",
              rtas("ibm,read-slot-reset-state2", 3, args, 5, out),
              RTAS_SUCCESS, RTAS_SUCCESS);
    /* No wait to suggest for a PE given up for good */
    if (out[2] != 1 || out[3] != (out[1] == PE_UNAVAILABLE ? 0 : 1000) ||
        out[4] != 0) {
        vfuzz_finding("spapr", "ibm,read-slot-reset-state2 answered %u %u "
                      "%u after the state", out[2], out[3], out[4]);
    }
    return out[1];
}

/*
 * The PE's state, compared with the shadow's (@known) or taken from the
 * model where the documents leave it open
 */
static void pe_state_check(bool known, const char *after)
{
    int32_t now = pe_state_now();

    if (known && now != sp.sh.pe_state) {
        vfuzz_finding("spapr", "after %s the PE is in state %d, the shadow "
                      "expects %d", after, now, sp.sh.pe_state);
    }
    sp.sh.pe_state = now;
}

static bool mmio_fenced(void)
{
    return sp.sh.pe_state == PE_RESET || sp.sh.pe_state == PE_STOPPED ||
           sp.sh.pe_state == PE_UNAVAILABLE;
}

static void testdev_remap(void)
{
    if (sp.bus) {
        qpci_free_spapr(sp.bus);
    }
    sp.bus = qpci_new_spapr(sp.qts, &sp.alloc);
    vfuzz_testdev_map(&sp.td, sp.bus, DEVFN);
}

static void op_eeh_option(Input *in)
{
    static const uint32_t addrs[] = { PE_ADDR, CONFIG_ADDR, BAD_ADDR };
    uint32_t addr = addrs[take(in, 1) % ARRAY_SIZE(addrs)];
    uint32_t option = take(in, 1) % 5, out;
    uint32_t args[] = { addr, BUID >> 32, (uint32_t)BUID, option };
    int32_t st = rtas("ibm,set-eeh-option", 4, args, 1, &out);
    int s = sp.sh.pe_state;
    bool known = true;

    /*
     * Every option names the PE or a device in it; LoPAR's "PE State
     * Control" table decides the rest (docs/system/devices/spapr-tce.rst,
     * "EEH")
     */
    if (addr == BAD_ADDR || option > 3) {
        expect_rc("ibm,set-eeh-option", st, RTAS_PARAM_ERROR,
                  RTAS_PARAM_ERROR);
        pe_state_check(true, "a refused ibm,set-eeh-option");
        return;
    }
    switch (option) {
    case 0:
        /*
         * A PE whose devices have I/O, memory or bus mastering on keeps
         * EEH on, and which they have is the guest's (and the fuzzer's)
         * to change: from here EEH is unknown until enabled again
         */
        expect_rc("ibm,set-eeh-option 0", st, RTAS_SUCCESS, RTAS_SUCCESS);
        sp.sh.eeh_on = EEH_UNKNOWN;
        known = false;
        break;
    case 1:
        expect_rc("ibm,set-eeh-option 1", st, RTAS_SUCCESS, RTAS_SUCCESS);
        sp.sh.eeh_on = EEH_ON;
        break;
    case 2:                     /* thaw MMIO */
        if (s == PE_STOPPED) {
            expect_rc("ibm,set-eeh-option 2", st, RTAS_SUCCESS, RTAS_SUCCESS);
            sp.sh.pe_state = PE_DMA_STOPPED;
        } else if (s == PE_NORMAL || s == PE_DMA_STOPPED) {
            expect_rc("ibm,set-eeh-option 2", st, RTAS_PARAM_ERROR,
                      RTAS_PARAM_ERROR);
        } else {
            expect_rc("ibm,set-eeh-option 2", st, RTAS_UNEXPECTED_STATE,
                      RTAS_UNEXPECTED_STATE);
        }
        break;
    case 3:                     /* thaw DMA */
        if (s == PE_DMA_STOPPED) {
            expect_rc("ibm,set-eeh-option 3", st, RTAS_SUCCESS, RTAS_SUCCESS);
            sp.sh.pe_state = PE_NORMAL;
        } else if (s == PE_NORMAL) {
            expect_rc("ibm,set-eeh-option 3", st, RTAS_PARAM_ERROR,
                      RTAS_PARAM_ERROR);
        } else {
            expect_rc("ibm,set-eeh-option 3", st, RTAS_UNEXPECTED_STATE,
                      RTAS_UNEXPECTED_STATE);
        }
        break;
    }
    pe_state_check(known, "ibm,set-eeh-option");
    if (s == PE_RESET && sp.sh.pe_state == PE_NORMAL) {
        testdev_remap();
    }
}

static void op_eeh_slot_reset(Input *in)
{
    uint32_t option = take(in, 1) % 5, out;
    uint32_t args[] = { PE_ADDR, BUID >> 32, (uint32_t)BUID, option };
    int32_t st = rtas("ibm,set-slot-reset", 4, args, 1, &out);
    int s = sp.sh.pe_state;
    bool known = true;

    if ((option == 1 || option == 3) && s == PE_UNAVAILABLE) {
        /* A PE given up stays so until the machine resets */
        expect_rc("ibm,set-slot-reset", st, RTAS_UNEXPECTED_STATE,
                  RTAS_UNEXPECTED_STATE);
    } else if (option == 1 || option == 3) {
        expect_rc("ibm,set-slot-reset", st, RTAS_SUCCESS, RTAS_SUCCESS);
        sp.sh.pe_state = PE_RESET;
    } else if (option == 0 && s == PE_RESET) {
        expect_rc("ibm,set-slot-reset 0", st, RTAS_SUCCESS, RTAS_SUCCESS);
        sp.sh.pe_state = PE_NORMAL;
    } else if (option == 0) {
        known = false;
    } else {
        expect_rc("ibm,set-slot-reset", st, RTAS_PARAM_ERROR,
                  RTAS_PARAM_ERROR);
    }
    pe_state_check(known, "ibm,set-slot-reset");
    if (s != PE_NORMAL && sp.sh.pe_state == PE_NORMAL) {
        /* The reset put the device's BAR away */
        testdev_remap();
    }
}

static void check_fence(void)
{
    uint32_t id = qvtd_rd(&sp.td.q, R_ID);
    uint32_t want = mmio_fenced() ? 0xffffffff : ID_VALUE;

    if (id != want) {
        vfuzz_finding("spapr", "the test device's ID reads 0x%x with the PE "
                      "in state %d", id, sp.sh.pe_state);
    }
}

/*
 * A CPU load or store in the PHB's 32-bit memory window where no BAR is:
 * the top 64 KiB, far above the test device's BAR, which libqos places
 * at the bottom.  The PCI bus ends it in an unsupported request: with
 * EEH on, the PE freezes, if it ran, and a load reads all ones; with EEH
 * off, nothing happens (the model's eeh_unclaimed_ops).
 */
static void unclaimed_access(Input *in)
{
    QPCIBusSPAPR *bus = container_of(sp.bus, QPCIBusSPAPR, bus);
    uint16_t off = take(in, 2);
    bool store = off & 1;
    uint64_t addr = bus->mmio32_cpu_base + bus->mmio32.pci_base +
                    bus->mmio32.size - 64 * KiB + (off & ~3u);
    uint32_t v;

    if (store) {
        qtest_writel(sp.qts, addr, 0);
    } else {
        v = qtest_readl(sp.qts, addr);
        if (sp.sh.eeh_on == EEH_ON && v != UINT32_MAX) {
            vfuzz_finding("spapr", "a load no BAR claims, with EEH on, read "
                          "0x%x", v);
        }
    }
    if (sp.sh.eeh_on == EEH_ON) {
        if (sp.sh.pe_state == PE_NORMAL) {
            sp.sh.pe_state = PE_STOPPED;
        }
        pe_state_check(true, "a load or store no BAR claims");
    } else {
        pe_state_check(sp.sh.eeh_on == EEH_OFF,
                       "a load or store no BAR claims, with EEH off");
    }
    check_fence();
}

static void op_eeh_info(Input *in)
{
    uint32_t args[8] = { CONFIG_ADDR, BUID >> 32, (uint32_t)BUID }, out[2];
    uint32_t option;
    uint8_t sel = take(in, 1);

    switch (sel % 4) {
    case 0:
        if (sel & 0x80) {
            unclaimed_access(in);
        }
        pe_state_check(true, "the calls before");
        break;
    case 1:
        args[3] = take(in, 1) % 2;
        expect_rc("ibm,get-config-addr-info2",
                  rtas("ibm,get-config-addr-info2", 4, args, 2, out),
                  RTAS_SUCCESS, RTAS_SUCCESS);
        /* One function, the test device, so the PE is not shared (1) */
        if (out[1] != (args[3] ? 1 : PE_ADDR)) {
            vfuzz_finding("spapr", "ibm,get-config-addr-info2 function %u "
                          "answered 0x%x", args[3], out[1]);
        }
        break;
    case 2:
        args[0] = PE_ADDR;
        expect_rc("ibm,configure-pe", rtas("ibm,configure-pe", 3, args, 1,
                                           out), RTAS_SUCCESS, RTAS_SUCCESS);
        break;
    default:
        args[0] = PE_ADDR;
        option = take(in, 1) % 4;
        args[5] = ERROR_LOG;
        args[6] = 4 * KiB;
        args[7] = option;
        /* The log (0) if the PE has an error recorded, else "none" (1) */
        expect_rc("ibm,slot-error-detail",
                  rtas("ibm,slot-error-detail", 8, args, 1, out),
                  option == 1 || option == 2 ? 1 : RTAS_PARAM_ERROR,
                  option == 1 || option == 2 ? RTAS_SUCCESS : RTAS_PARAM_ERROR);
        if (option == 2) {
            /* The OS gave the PE up: unavailable until the machine resets */
            sp.sh.pe_state = PE_UNAVAILABLE;
            pe_state_check(true, "ibm,slot-error-detail 2");
        }
        break;
    }
}

/* ---- DMA ---- */

static const Window *window_at(uint64_t addr)
{
    for (int i = 0; i < NR_WINDOWS; i++) {
        const Window *w = &sp.sh.win[i];

        if (w->live && addr >= w->offset && addr < window_end(w)) {
            return w;
        }
    }
    return NULL;
}

static VFuzzDma spapr_resolve(void *opaque, uint64_t addr, bool is_write)
{
    const Window *w = window_at(addr);
    uint64_t size, tce;
    unsigned need = is_write ? 2 : 1;

    if (addr - MSI_WINDOW < MSI_WINDOW_MAX) {
        /* An MSI, or what the MSI window makes of the access: not claimed */
        return (VFuzzDma) { VFUZZ_DMA_UNKNOWN };
    }
    if (!w) {
        return (VFuzzDma) { VFUZZ_DMA_FAULT, 0, RES_DECODE_ERROR };
    }
    size = 1ull << w->shift;
    tce = tce_get(w, (addr - w->offset) >> w->shift);
    if (!(tce & 3)) {
        return (VFuzzDma) { VFUZZ_DMA_FAULT, 0, RES_TRANSLATION_FAULT };
    }
    if (!(tce & need)) {
        return (VFuzzDma) { VFUZZ_DMA_FAULT, 0, RES_PERMISSION_FAULT };
    }
    if (sp.sh.pe_state == PE_DMA_STOPPED) {
        /* The translation is there; the PHB drops the access */
        return (VFuzzDma) { VFUZZ_DMA_FAULT, 0, RES_DECODE_ERROR };
    }
    return (VFuzzDma) { VFUZZ_DMA_RAM,
                        (tce & ~(size - 1) & ~3ull) + (addr & (size - 1)) };
}

/* Does the command refuse a request (true), move it all, or cannot we tell */
static int dma_refused(uint64_t addr, uint32_t len, bool is_write)
{
    uint32_t off = 0;

    if (!len || len > BUF_SIZE || addr + len - 1 < addr) {
        return 0;                       /* BAD_COMMAND: no request */
    }
    while (off < len) {
        uint32_t n = MIN(len - off, 0x1000 - (addr & 0xfff));
        VFuzzDma d = spapr_resolve(NULL, addr, is_write);

        if (d.kind == VFUZZ_DMA_FAULT) {
            return 1;
        }
        if (d.kind != VFUZZ_DMA_RAM || !vfuzz_ram(d.pa, n)) {
            return -1;
        }
        addr += n;
        off += n;
    }
    return 0;
}

static void op_dma(Input *in)
{
    uint8_t opb = take(in, 1), wsel = take(in, 1);
    uint32_t op = OP_READ + (opb & 3);
    bool async = opb & 4, is_write = op == OP_WRITE || op == OP_FILL;
    const Window *w = &sp.sh.win[wsel % NR_WINDOWS];
    uint64_t addr;
    uint32_t len;
    int refused, before = sp.sh.pe_state;

    if ((wsel & 0x80) || !w->live) {
        addr = take(in, 8);
    } else {
        addr = w->offset + ((take(in, 4) % (w->count + 1)) << w->shift) +
               (take(in, 4) & ((1ull << w->shift) - 1));
    }
    switch (take(in, 1) % 4) {
    case 0:
        len = 1 + take(in, 1) % 16;
        break;
    case 1:
        len = 1 + take(in, 2) % 0x3000;
        break;
    case 2:
        len = 1 + take(in, 2);
        break;
    default:
        len = take(in, 4);
        break;
    }
    /*
     * A device still busy with an earlier command ignores the doorbell, and
     * what follows would blame the IOMMU for a DMA that never was
     */
    if (!mmio_fenced() && (qvtd_rd(&sp.td.q, R_STATUS) & STATUS_BUSY)) {
        vfuzz_finding("spapr", "the test device is still busy (status 0x%x) "
                      "before a command", qvtd_rd(&sp.td.q, R_STATUS));
    }
    qvtd_wr64(&sp.td.q, R_DMA_ADDR, addr);
    qvtd_wr(&sp.td.q, R_LEN, len);
    qvtd_wr(&sp.td.q, R_PATTERN, take(in, 4));
    qvtd_wr(&sp.td.q, R_OP, op | (async ? OP_ASYNC : 0));
    qvtd_wr(&sp.td.q, R_DOORBELL, 1);
    if (async && !mmio_fenced()) {
        vfuzz_testdev_wait_async(&sp.td, spapr_resolve, NULL);
        flush_events(sp.qts);
    }
    /* The DMA is done; what follows is the oracles' */
    vfuzz_command_done("test device DMA");
    if (mmio_fenced()) {
        check_fence();                  /* the doorbell was dropped */
        return;
    }

    refused = dma_refused(addr, len, is_write);
    if (sp.sh.eeh_on == EEH_ON && before == PE_NORMAL && refused >= 0) {
        sp.sh.pe_state = refused ? PE_STOPPED : PE_NORMAL;
        pe_state_check(true, "a DMA");
    } else if (sp.sh.eeh_on == EEH_OFF) {
        pe_state_check(true, "a DMA with EEH off");
    } else {
        pe_state_check(false, "a DMA");
    }
    check_fence();
    if (!mmio_fenced()) {
        vfuzz_testdev_after_command(&sp.td, spapr_resolve, NULL);
    }
}

/* Data for WRITE: bytes of the device's buffer */
static void op_write_buffer(Input *in)
{
    uint32_t off = take(in, 2), n = take(in, 1) * 8, seed = take(in, 4);
    g_autofree uint8_t *buf = g_malloc(n + 1);

    off %= BUF_SIZE;
    n = MIN(n, BUF_SIZE - off);
    for (uint32_t i = 0; i < n; i++) {
        buf[i] = seed >> (8 * (i % 4)) ^ i;
    }
    if (n && !mmio_fenced()) {
        qpci_memwrite(sp.td.q.dev, sp.td.q.bar, BUF_OFFSET + off, buf, n);
    }
}

/* ---- reset and migration ---- */

static void op_machine_reset(Input *in)
{
    fuzz_reset(sp.qts);
    shadow_reset();
    testdev_remap();
}

/* Registers 0x00 .. 0x88 of the test device, which all migrate */
#define TD_REGS     (0x8c / 4)

static void read_testdev_regs(uint32_t *regs)
{
    for (int i = 0; i < TD_REGS; i++) {
        regs[i] = qvtd_rd(&sp.td.q, 4 * i);
    }
}

/*
 * The devices' state, as a migration sends it without RAM.  The buffer
 * starts as large as the stream can be: QIOChannelBuffer grows by exactly
 * what each write needs, which copies all of it at each 4 KiB the
 * windows' flat TCEs add.  A 24 MiB stream (three windows of 2^20 TCEs)
 * took 10 s so under ASan, which the BQL oracle took for the model's.
 */
static size_t stream_bound(void)
{
    size_t bytes = 1 * MiB;

    for (int i = 0; i < NR_WINDOWS; i++) {
        if (sp.sh.win[i].live) {
            bytes += sp.sh.win[i].count * sizeof(uint64_t);
        }
    }
    return MIN(bytes, 256 * MiB);
}

static uint8_t *save_devices(size_t *len)
{
    QIOChannelBuffer *out = qio_channel_buffer_new(stream_bound());
    uint8_t *stream;
    QEMUFile *f;
    int ret;

    global_state_store_running();
    f = qemu_file_new_output(QIO_CHANNEL(out));
    ret = qemu_save_device_state(f);
    qemu_fflush(f);
    if (ret < 0 || qemu_file_get_error(f)) {
        vfuzz_finding("migration", "saving the devices' state failed");
    }
    *len = out->usage;
    stream = g_memdup2(out->data, out->usage);
    qemu_fclose(f);
    object_unref(OBJECT(out));
    return stream;
}

static void phb_reset(void)
{
    device_cold_reset(sp.phb);
    main_loop_wait(true);
}

static int set_sparse_migration(Object *obj, void *opaque)
{
    if (object_dynamic_cast(obj, "spapr-tce-table")) {
        object_property_set_bool(obj, "sparse-migration", *(bool *)opaque,
                                 &error_abort);
    }
    return 0;
}

static void op_migrate(Input *in)
{
    /*
     * The windows' TCEs go flat (upstream's form, the default) or as the
     * set TCEs only ("sparse-migration", which a table takes at any time)
     */
    bool sparse = take(in, 1) & 1;
    QIOChannelBuffer *in_ch;
    uint32_t before[TD_REGS], after[TD_REGS];
    bool regs = !mmio_fenced();
    g_autofree uint8_t *stream = NULL;
    size_t len;
    Error *err = NULL;
    QEMUFile *f;
    int ret;

    /*
     * Stopping completes a command the device's DMA thread was running, so
     * what must survive is the registers as the stop leaves them
     */
    vm_stop(RUN_STATE_PAUSED);
    if (regs) {
        read_testdev_regs(before);
    }
    object_child_foreach(OBJECT(sp.phb), set_sparse_migration, &sparse);
    stream = save_devices(&len);

    /*
     * The destination: what the stream must carry as a machine just
     * created has it, which for all an input reaches is the PHB's reset
     * (see input_reset()); the rest of the machine comes from the stream
     */
    phb_reset();
    in_ch = qio_channel_buffer_new(len);
    qio_channel_write_all(QIO_CHANNEL(in_ch), (char *)stream, len,
                          &error_abort);
    qio_channel_io_seek(QIO_CHANNEL(in_ch), 0, SEEK_SET, &error_abort);
    f = qemu_file_new_input(QIO_CHANNEL(in_ch));
    /* What an incoming migration registers, and its end unregisters */
    yank_register_instance(MIGRATION_YANK_INSTANCE, &error_abort);
    ret = qemu_loadvm_state(f, &err);
    qemu_fclose(f);
    object_unref(OBJECT(in_ch));
    migration_incoming_state_destroy();
    if (ret < 0) {
        vfuzz_finding("migration", "loading the devices' state failed: %s",
                      err ? error_get_pretty(err) : "?");
    }
    vm_start();
    flush_events(sp.qts);
    vfuzz_command_done("a migration");

    check_fence();
    if (regs) {
        read_testdev_regs(after);
        for (int i = 0; i < TD_REGS; i++) {
            if (before[i] != after[i]) {
                vfuzz_finding("migration", "the test device's register "
                              "0x%x was 0x%x before the migration, 0x%x "
                              "after", 4 * i, before[i], after[i]);
            }
        }
    }
    pe_state_check(true, "a migration");
}

/* ---- between inputs ---- */

/* A section of a device state stream (qemu_save_device_state()) */
typedef struct Section {
    char name[256];
    size_t at, len;
} Section;

/*
 * The sections of @s, found by their headers and footers
 * (QEMU_VM_SECTION_FULL, ID, name; QEMU_VM_SECTION_FOOTER, ID): the
 * stream does not say how long a section is.  A footer and a header
 * could also be data by chance; for a check that only reports, that is
 * good enough.
 */
static GArray *stream_sections(const uint8_t *s, size_t len)
{
    GArray *secs = g_array_new(false, true, sizeof(Section));
    size_t p = 8;                       /* past the magic and version */

    while (p + 6 < len && s[p] == QEMU_VM_SECTION_FULL) {
        Section sec = { .at = p };
        uint8_t footer[5] = { QEMU_VM_SECTION_FOOTER };
        size_t n = s[p + 5], end = len;

        memcpy(footer + 1, s + p + 1, 4);
        memcpy(sec.name, s + p + 6, MIN(n, len - p - 6));
        for (size_t q = p + 6 + n; q + 5 < len; q++) {
            if (!memcmp(s + q, footer, 5) &&
                (s[q + 5] == QEMU_VM_SECTION_FULL || s[q + 5] == QEMU_VM_EOF)) {
                end = q + 5;
                break;
            }
        }
        sec.len = end - p;
        g_array_append_val(secs, sec);
        p = end;
    }
    return secs;
}

/*
 * What an input can change is the PHB's: its windows and TCE tables, its
 * EEH state, the test device on its bus; and RAM, which the next input
 * zeroes where it was written.  No guest code runs, and the hypercalls
 * and RTAS calls the target makes reach nothing else.  So resetting the
 * PHB, which resets its bus, leaves what the next input can see as
 * qemu_system_reset() would, without pseries' device tree and ROMs built
 * and loaded again, which took most of an input's time.
 * VIOMMU_FUZZ_RESET_CHECK=1 checks that, by the devices' state.
 */
static void input_reset(void)
{
    static int check = -1;
    g_autofree uint8_t *light = NULL, *full = NULL, *again = NULL;
    g_autoptr(GArray) ls = NULL, fs = NULL, as = NULL;
    size_t light_len, full_len, again_len;

    phb_reset();
    if (check < 0) {
        check = !!getenv("VIOMMU_FUZZ_RESET_CHECK");
    }
    if (!check) {
        return;
    }
    /*
     * Section by section, against the machine's reset where two of those
     * agree: what varies from one reset to the next (the device tree's
     * random seed in "spapr") is no input's doing.  Nor is the vCPU, which
     * runs nothing under qtest and which the PHB's reset leaves alone:
     * after a migration its MSR is the one loaded, not the one a reset
     * sets.
     */
    vm_stop(RUN_STATE_PAUSED);
    light = save_devices(&light_len);
    qemu_system_reset(SHUTDOWN_CAUSE_GUEST_RESET);
    main_loop_wait(true);
    full = save_devices(&full_len);
    qemu_system_reset(SHUTDOWN_CAUSE_GUEST_RESET);
    main_loop_wait(true);
    again = save_devices(&again_len);
    vm_start();
    ls = stream_sections(light, light_len);
    fs = stream_sections(full, full_len);
    as = stream_sections(again, again_len);
    if (ls->len != fs->len || fs->len != as->len) {
        vfuzz_finding("reset", "after the input, the PHB's reset leaves %u "
                      "sections of devices' state, the machine's %u and %u",
                      ls->len, fs->len, as->len);
    }
    for (guint i = 0; i < fs->len; i++) {
        Section *l = &g_array_index(ls, Section, i);
        Section *f = &g_array_index(fs, Section, i);
        Section *a = &g_array_index(as, Section, i);

        if (f->len != a->len || memcmp(full + f->at, again + a->at, f->len) ||
            !strcmp(f->name, "cpu")) {
            continue;
        }
        if (l->len != f->len || memcmp(light + l->at, full + f->at, f->len)) {
            vfuzz_finding("reset", "after the input, the PHB's reset and the "
                          "machine's leave section %u, \"%s\", different",
                          i, f->name);
        }
    }
}

/* ---- the target ---- */

/*
 * An operation, and whether it stops the clock itself (it runs oracles
 * that take longer than what they check)
 */
typedef struct Op {
    const char *name;
    void (*fn)(Input *in);
    bool timed_inside;
    bool heavy;
} Op;

static const Op ops[] = {
    { "H_PUT_TCE", op_put_tce },
    { "H_GET_TCE", op_get_tce },
    { "H_STUFF_TCE", op_stuff_tce },
    { "H_PUT_TCE_INDIRECT", op_put_tce_indirect },
    { "ibm,query-pe-dma-window", op_ddw_query },
    { "ibm,create-pe-dma-window", op_ddw_create },
    { "ibm,remove-pe-dma-window", op_ddw_remove },
    { "ibm,reset-pe-dma-window", op_ddw_reset },
    { "a DDW call without its arguments", op_ddw_short },
    { "ibm,set-eeh-option", op_eeh_option },
    { "ibm,set-slot-reset", op_eeh_slot_reset },
    { "an EEH query", op_eeh_info },
    { "test device DMA", op_dma, true },
    { "a write to the test device's buffer", op_write_buffer },
    { "a machine reset", op_machine_reset, false, true },
    { "a migration", op_migrate, true, true },
};

/*
 * The operation a byte names: 62 a machine reset, 63 a migration (each
 * costs as much as dozens of calls), any other value modulo 64 the others
 * in turn
 */
static const Op *pick_op(uint8_t b)
{
    b %= 64;
    if (b >= 62) {
        return &ops[ARRAY_SIZE(ops) - 64 + b];
    }
    return &ops[b % (ARRAY_SIZE(ops) - 2)];
}

static void spapr_fuzz(QTestState *s, const unsigned char *data, size_t size)
{
    Input in = { data, size };
    bool verbose = getenv("VIOMMU_FUZZ_VERBOSE");

    sp.qts = s;
    vfuzz_history_add(data, size);
    vfuzz_scrub_ram();
    shadow_reset();
    testdev_remap();
    vfuzz_input_begin(48 * MiB);
    for (int n = 0, heavy = 0; in.n && n < MAX_OPS; n++) {
        const Op *op = pick_op(take(&in, 1));

        if (op->heavy && ++heavy > MAX_HEAVY_OPS) {
            continue;
        }

        if (verbose) {
            fprintf(stderr, "viommu-fuzz: %s\n", op->name);
        }
        op->fn(&in);
        if (op->timed_inside) {
            vfuzz_clock_restart();
        } else {
            vfuzz_command_done(op->name);
        }
    }
    input_reset();
}

static void spapr_pre_vm_init(void)
{
    /*
     * ppc64 is big-endian: the qtest protocol's accesses store in the
     * target's byte order, as libqos and the hypercall arrays expect;
     * the fuzzer's direct shortcuts store in the host's.
     */
    fuzz_qtest_set_serialize(true);
}

static void spapr_pre_fuzz(QTestState *s)
{
    sp.qts = s;
    sp.phb = DEVICE(object_resolve_path_type("", "spapr-pci-host-bridge",
                                             NULL));
    spapr_alloc_init(&sp.alloc, s, ALLOC_NO_FLAGS);
}

static GString *spapr_cmdline(FuzzTarget *t)
{
    return g_string_new(TARGET_NAME " -display none -machine accel=qtest "
                        "-M pseries -m 256M -nodefaults "
                        "-global spapr-pci-host-bridge.ddw-windows=4 "
                        "-global spapr-pci-host-bridge.eeh=on "
                        "-global migration.send-configuration=off "
                        "-device viommu-testdev,addr=4.0,"
                        "x-burst-max-count=" VFUZZ_BURST_MAX);
}

static void register_spapr_tce_fuzz(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "viommu-spapr-tce",
        .description = "The fork's sPAPR TCE tables, DDW and EEH through "
                       "hypercalls, RTAS calls, test device DMA, resets "
                       "and migrations, checked against a shadow",
        .get_init_cmdline = spapr_cmdline,
        .pre_vm_init = spapr_pre_vm_init,
        .pre_fuzz = spapr_pre_fuzz,
        .fuzz = spapr_fuzz,
    });
}

fuzz_target_init(register_spapr_tce_fuzz);
