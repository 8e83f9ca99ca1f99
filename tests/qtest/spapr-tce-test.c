/*
 * qtests for the pSeries TCE IOMMU: the hypercalls, the DDW RTAS calls,
 * EEH and error injection on an emulated PHB, and DMA through TCEs by
 * viommu-testdev on the default PHB
 *
 * Hypercalls go through the fork's "rtas x-hcall" qtest command (see
 * hw/ppc/spapr_rtas.c); every case asserts exact return codes, TCE values,
 * bytes at exact guest addresses, DMA outcomes, and what the TCE store
 * holds (the table's "x-store-bytes").
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/pci-spapr.h"
#include "libqos/malloc-spapr.h"
#include "libqos/spapr-hcall.h"
#include "libqos/viommu-testdev-pci.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"

#define DEV_SLOT        4
#define DEV_DEVFN       QPCI_DEVFN(DEV_SLOT, 0)

#define RTAS_OUT_SUCCESS        0
#define RTAS_OUT_NO_ERRORS      1
#define RTAS_OUT_HW_ERROR       (-1)
#define RTAS_OUT_PARAM_ERROR    (-3)
#define RTAS_OUT_CALL_ERROR     (-4)
#define RTAS_OUT_UNEXPECTED     (-7)

/* TCE permission bits */
#define TCE_READ            1ull    /* the device may read the page */
#define TCE_WRITE           2ull    /* the device may write it */
#define TCE_RW              (TCE_READ | TCE_WRITE)

/* The default PHB: its BUID, its default window's LIOBN */
#define BUID                0x800000020000000ull
#define LIOBN_DEFAULT       0x80000000u
#define LIOBN_DDW           0x80000001u
#define DEFAULT_WINDOW      0x40000000ull   /* 1 GiB of 4 KiB TCEs */
#define DDW_START           0x800000000000000ull
#define MSI_WINDOW          0x40000000000ull

/* A guest that may grow to 64 GiB: room for a 1 TiB window of 64K TCEs */
#define MEM_64G             "-m 1G,slots=1,maxmem=64G"
/* EEH is off unless the PHB asks for it */
#define EEH_ON              "-global spapr-pci-host-bridge.eeh=on"
/* Windows migrate as the TCEs set, which only the fork loads */
#define SPARSE_MIG          "-global spapr-tce-table.sparse-migration=on"

/* Guest RAM the TCEs point at, away from the allocator's range */
#define DATA                0x30000000ull

/* The store's sizes, as hw/ppc/spapr_tce_store.c lays it out */
#define NODE_BYTES(slots)   (32 + 8 * (slots))
#define FLAT_RUN_BYTES(n)   (24 + 8 * (n))
#define FLAT_LEAF_BYTES     FLAT_RUN_BYTES(512)
#define HASH_LEAF_BYTES(s)  (24 + 10 * (s))

typedef struct Env {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QViommuTestdev td;
    uint64_t hargs, hrets;      /* x-hcall argument and return arrays */
    uint64_t rargs, rrets;      /* RTAS argument and return arrays */
    uint64_t list;              /* a 4 KiB-aligned TCE list */
    uint32_t config_addr;       /* the test device's, for the DDW calls */
} Env;

/* What every case needs once QEMU runs: the allocator, the bus, arrays */
static void env_setup(Env *e)
{
    spapr_alloc_init(&e->alloc, e->qts, ALLOC_NO_FLAGS);
    e->bus = qpci_new_spapr(e->qts, &e->alloc);
    e->hargs = guest_alloc(&e->alloc, 32 * 8);
    e->hrets = guest_alloc(&e->alloc, 32 * 8);
    e->rargs = guest_alloc(&e->alloc, 16 * 4);
    e->rrets = guest_alloc(&e->alloc, 16 * 4);
    e->list = QEMU_ALIGN_UP(guest_alloc(&e->alloc, 0x2000), 0x1000);
    /* Bus 0, the device's devfn, register 0 */
    e->config_addr = DEV_DEVFN << 8;
}

static Env *env_start(const char *extra)
{
    Env *e = g_new0(Env, 1);

    e->qts = qtest_initf("-M pseries -m 1G -nodefaults "
                         "-device viommu-testdev,addr=%d.0 %s", DEV_SLOT,
                         extra);
    env_setup(e);
    qvtd_init(&e->td, e->bus, DEV_DEVFN);
    return e;
}

static void env_stop(Env *e)
{
    qvtd_free(&e->td);
    qpci_free_spapr(e->bus);
    alloc_destroy(&e->alloc);
    qtest_quit(e->qts);
    g_free(e);
}

/*
 * A destination for a migration from @uri of a source started with
 * @extra, whose device's BAR was at @bar
 */
static Env *env_incoming(const char *extra, const char *uri, uint64_t bar)
{
    Env *d = g_new0(Env, 1);

    d->qts = qtest_initf("-M pseries -m 1G -nodefaults "
                         "-device viommu-testdev,addr=%d.0 %s -incoming %s",
                         DEV_SLOT, extra, uri);
    qvtd_wait_migration(d->qts);
    env_setup(d);
    /*
     * The device as the source left it, BAR included (its configuration
     * space may read all ones: a stopped PE's does)
     */
    d->td.dev = g_new0(QPCIDevice, 1);
    d->td.dev->bus = d->bus;
    d->td.dev->devfn = DEV_DEVFN;
    d->td.bar = (QPCIBar) { .addr = bar };
    return d;
}

/* Migrate @e to a file and start a destination from it; @e is stopped */
static Env *env_migrate(Env *e, const char *extra)
{
    g_autofree char *path = g_strdup_printf("%s/spapr-tce-mig-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    uint64_t bar = e->td.bar.addr;
    Env *d;

    qvtd_migrate(e->qts, uri);
    env_stop(e);
    d = env_incoming(extra, uri, bar);
    unlink(path);
    return d;
}

/*
 * Run QEMU with @args, expecting it to exit with status 1 and @msg in
 * its error output
 */
static void assert_qemu_refuses(const char *args, const char *msg)
{
    /* A configuration that wrongly passes would wait: time it out */
    g_autofree char *cmd = g_strdup_printf(
        "timeout 60 %s -M pseries -accel qtest -nodefaults -display none "
        "-qtest null -S %s", g_getenv("QTEST_QEMU_BINARY"), args);
    g_autofree char *out = NULL, *err = NULL;
    int status;

    g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status,
                                            NULL));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 ||
        !strstr(err, msg)) {
        g_error("'%s': wanted exit status 1 and '%s', got status 0x%x "
                "and: %s", args, msg, status, err);
    }
}

static uint64_t store_prop(Env *e, uint32_t liobn, const char *prop)
{
    g_autofree char *path = g_strdup_printf("tce-table-%x", liobn);
    QDict *rsp = qtest_qmp(e->qts, "{ 'execute': 'qom-get', 'arguments': "
                           "{ 'path': %s, 'property': %s } }", path, prop);
    uint64_t val;

    g_assert(qdict_haskey(rsp, "return"));
    val = qdict_get_int(rsp, "return");
    qobject_unref(rsp);
    return val;
}

/* What LIOBN @liobn's TCEs cost, in bytes */
static uint64_t store_bytes(Env *e, uint32_t liobn)
{
    return store_prop(e, liobn, "x-store-bytes");
}

/* The leaves LIOBN @liobn's store allocated since its window was made */
static uint64_t store_leaves_made(Env *e, uint32_t liobn)
{
    return store_prop(e, liobn, "x-store-leaves-made");
}

static int64_t hcall(Env *e, uint64_t op, int n, const uint64_t *in,
                     uint64_t *out, int nout)
{
    return qtest_spapr_hcall(e->qts, e->hargs, e->hrets, op, n, in, out,
                             nout);
}

static int64_t put_tce(Env *e, uint64_t liobn, uint64_t ioba, uint64_t tce)
{
    uint64_t in[] = { liobn, ioba, tce };

    return hcall(e, H_PUT_TCE, 3, in, NULL, 0);
}

static int64_t get_tce(Env *e, uint32_t liobn, uint64_t ioba, uint64_t *tce)
{
    uint64_t in[] = { liobn, ioba };

    *tce = 0xdeadbeef;
    return hcall(e, H_GET_TCE, 2, in, tce, 1);
}

static int64_t stuff_tce(Env *e, uint32_t liobn, uint64_t ioba, uint64_t tce,
                         uint64_t npages)
{
    uint64_t in[] = { liobn, ioba, tce, npages };

    return hcall(e, H_STUFF_TCE, 4, in, NULL, 0);
}

static int64_t put_tce_indirect(Env *e, uint32_t liobn, uint64_t ioba,
                                uint64_t list, uint64_t npages)
{
    uint64_t in[] = { liobn, ioba, list, npages };

    return hcall(e, H_PUT_TCE_INDIRECT, 4, in, NULL, 0);
}

/* H_PUT_TCE_INDIRECT of the @n TCEs of @tces, from e->list */
static int64_t put_list(Env *e, uint32_t liobn, uint64_t ioba,
                        const uint64_t *tces, unsigned n)
{
    uint64_t be[512];

    for (unsigned k = 0; k < n; k++) {
        be[k] = cpu_to_be64(tces[k]);
    }
    qtest_memwrite(e->qts, e->list, be, n * 8);
    return put_tce_indirect(e, liobn, ioba, e->list, n);
}

/*
 * @n TCEs from bus address @ioba of a window of 2^@shift pages:
 * TCE k = (@pa + k * @step) | @perm, 512 per H_PUT_TCE_INDIRECT
 */
static void put_run(Env *e, uint32_t liobn, uint64_t ioba, unsigned shift,
                    uint64_t n, uint64_t pa, uint64_t step, uint64_t perm)
{
    uint64_t tces[512];

    for (uint64_t done = 0; done < n; done += 512) {
        unsigned k = MIN(512, n - done);

        for (unsigned i = 0; i < k; i++) {
            tces[i] = (pa + (done + i) * step) | perm;
        }
        g_assert_cmpint(put_list(e, liobn, ioba + (done << shift), tces, k),
                        ==, H_SUCCESS);
    }
}

static void assert_tce(Env *e, uint32_t liobn, uint64_t ioba, uint64_t want)
{
    uint64_t tce;

    g_assert_cmpint(get_tce(e, liobn, ioba, &tce), ==, H_SUCCESS);
    g_assert_cmphex(tce, ==, want);
}

/* An RTAS call with 32-bit arguments; returns the status, rets[0] */
static int32_t rtas(Env *e, const char *name, int n, const uint32_t *in,
                    int nret, uint32_t *out)
{
    for (int i = 0; i < n; i++) {
        qtest_writel(e->qts, e->rargs + 4 * i, in[i]);
    }
    for (int i = 0; i < nret; i++) {
        qtest_writel(e->qts, e->rrets + 4 * i, 0xdeadbeef);
    }
    g_assert_cmpuint(qtest_rtas_call(e->qts, name, n, e->rargs, nret,
                                     e->rrets), ==, 0);
    for (int i = 0; i < nret; i++) {
        out[i] = qtest_readl(e->qts, e->rrets + 4 * i);
    }
    return out[0];
}

/* FILL 8 bytes at bus address @addr and assert they land at @pa */
static void assert_fill_lands(Env *e, uint64_t addr, uint64_t pa)
{
    static uint32_t seed = 0x51525354;

    seed += 0x01010101;
    qtest_writeq(e->qts, pa, 0);
    qtest_writeq(e->qts, pa + 8, 0);
    qvtd_wr(&e->td, R_PATTERN, seed);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, addr, 8), ==, RES_OK);
    qvtd_assert_outcome(&e->td, 0, 0, 8);
    /* FILL's words are little-endian */
    g_assert_cmphex(qtest_readl(e->qts, pa), ==, bswap32(seed));
    g_assert_cmphex(qtest_readl(e->qts, pa + 4), ==, bswap32(seed + 1));
    g_assert_cmphex(qtest_readq(e->qts, pa + 8), ==, 0);
}

static void assert_dma_refused(Env *e, uint32_t op, uint64_t addr,
                               uint32_t result)
{
    qvtd_wr(&e->td, R_PATTERN, 0x5a5a5a5a);
    g_assert_cmpuint(qvtd_run(&e->td, op, addr, 8), ==, result);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, addr, 0);
}

/* ---- hypercalls ---- */

static void test_put_get_tce(void)
{
    Env *e = env_start("");

    assert_tce(e, LIOBN_DEFAULT, 0x5000, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x5000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 0x5000, DATA | TCE_RW);
    assert_tce(e, LIOBN_DEFAULT, 0x4000, 0);
    assert_tce(e, LIOBN_DEFAULT, 0x6000, 0);
    /* The last page of the window */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW - 0x1000,
                            (DATA + 0x1000) | TCE_READ), ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW - 0x1000,
               (DATA + 0x1000) | TCE_READ);
    /* Clearing both: their leaves stay, for the next TCEs there */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x5000, 0), ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 0x5000, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW - 0x1000, 0),
                    ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW - 0x1000, 0);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==,
                     NODE_BYTES(512) + 2 * FLAT_RUN_BYTES(1));
    /* and go with a clear of the window */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, 0, DEFAULT_WINDOW >> 12),
                    ==, H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);
    env_stop(e);
}

static void test_hcall_bad_arguments(void)
{
    Env *e = env_start("");
    uint64_t tce;

    /* No such LIOBN */
    g_assert_cmpint(put_tce(e, 0x80000077, 0, DATA | TCE_RW), ==,
                    H_PARAMETER);
    g_assert_cmpint(get_tce(e, 0x80000077, 0, &tce), ==, H_PARAMETER);
    g_assert_cmpint(stuff_tce(e, 0x80000077, 0, 0, 1), ==, H_PARAMETER);
    g_assert_cmpint(put_tce_indirect(e, 0x80000077, 0, DATA, 1), ==,
                    H_PARAMETER);
    /* Past the window */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW, DATA), ==,
                    H_PARAMETER);
    g_assert_cmpint(get_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW, &tce), ==,
                    H_PARAMETER);
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW - 0x1000, 0,
                              2), ==, H_PARAMETER);
    env_stop(e);
}

static void test_put_tce_indirect(void)
{
    Env *e = env_start("");
    uint64_t list = DATA + 0x100000;

    for (int i = 0; i < 512; i++) {
        qtest_writeq(e->qts, list + 8 * i, (DATA + i * 0x1000) | TCE_RW);
    }
    g_assert_cmpint(put_tce_indirect(e, LIOBN_DEFAULT, 0x200000, list, 512),
                    ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 0x200000, DATA | TCE_RW);
    assert_tce(e, LIOBN_DEFAULT, 0x200000 + 511 * 0x1000,
               (DATA + 511 * 0x1000) | TCE_RW);
    assert_tce(e, LIOBN_DEFAULT, 0x200000 + 512 * 0x1000, 0);
    assert_fill_lands(e, 0x200000 + 300 * 0x1000 + 0x10,
                      DATA + 300 * 0x1000 + 0x10);

    /* At most 512 entries, in one 4 KiB page of the list */
    g_assert_cmpint(put_tce_indirect(e, LIOBN_DEFAULT, 0x600000, list, 513),
                    ==, H_PARAMETER);
    g_assert_cmpint(put_tce_indirect(e, LIOBN_DEFAULT, 0x600000, list + 8,
                                     2), ==, H_PARAMETER);
    assert_tce(e, LIOBN_DEFAULT, 0x600000, 0);
    env_stop(e);
}

/*
 * A list that starts with zeros: the TCEs after them are kept all the
 * same, in the leaf the list's chunk got, and nothing more
 */
static void test_indirect_leading_zeros(void)
{
    Env *e = env_start("");
    uint64_t tces[512] = { 0 };

    for (int i = 300; i < 512; i++) {
        tces[i] = (DATA + i * 0x1000ull) | TCE_RW;
    }
    g_assert_cmpint(put_list(e, LIOBN_DEFAULT, 0, tces, 512), ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 299 * 0x1000, 0);
    assert_tce(e, LIOBN_DEFAULT, 300 * 0x1000, (DATA + 300 * 0x1000) |
               TCE_RW);
    assert_tce(e, LIOBN_DEFAULT, 511 * 0x1000, (DATA + 511 * 0x1000) |
               TCE_RW);
    assert_fill_lands(e, 400 * 0x1000 + 8, DATA + 400 * 0x1000 + 8);
    /*
     * The root and one flat leaf over the last 256 TCEs of the chunk: 212
     * TCEs are more than a hash holds
     */
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==,
                     NODE_BYTES(512) + FLAT_RUN_BYTES(256));
    /* All zeros: nothing to keep, nothing allocated */
    memset(tces, 0, sizeof(tces));
    g_assert_cmpint(put_list(e, LIOBN_DEFAULT, 0x400000, tces, 512), ==,
                    H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==,
                     NODE_BYTES(512) + FLAT_RUN_BYTES(256));
    env_stop(e);
}

/*
 * H_STUFF_TCE: KVM refuses a TCE with permission bits, and LoPAR more
 * than 512 TCEs of anything but zero; zeros clear any count
 */
static void test_stuff_tce(void)
{
    Env *e = env_start("");
    const uint64_t poison = 0xdead000ull;

    /* A mapping: refused, whatever the count */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0x10000, DATA | TCE_READ, 1),
                    ==, H_PARAMETER);
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, DATA | TCE_RW,
                              DEFAULT_WINDOW >> 12), ==, H_PARAMETER);
    assert_tce(e, LIOBN_DEFAULT, 0x10000, 0);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);
    /* "Page fault" TCEs: up to 512, kept as they are */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0x10000, poison, 513), ==,
                    H_P4);
    assert_tce(e, LIOBN_DEFAULT, 0x10000, 0);
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0x10000, poison, 512), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 0x10000, poison);
    assert_tce(e, LIOBN_DEFAULT, 0x10000 + 511 * 0x1000, poison);
    assert_tce(e, LIOBN_DEFAULT, 0x10000 + 512 * 0x1000, 0);
    assert_dma_refused(e, OP_FILL, 0x10000, RES_TRANSLATION_FAULT);

    /* Zeros over part of a run of mappings */
    put_run(e, LIOBN_DEFAULT, 0x800000, 12, 1000, DATA, 0, TCE_READ);
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0x800000 + 0x1000, 0, 998),
                    ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 0x800000, DATA | TCE_READ);
    assert_tce(e, LIOBN_DEFAULT, 0x801000, 0);
    assert_tce(e, LIOBN_DEFAULT, 0x800000 + 998 * 0x1000, 0);
    assert_tce(e, LIOBN_DEFAULT, 0x800000 + 999 * 0x1000, DATA | TCE_READ);
    /* and over the whole window, any count: nothing is kept after */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, 0, DEFAULT_WINDOW >> 12),
                    ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 0x800000, 0);
    assert_tce(e, LIOBN_DEFAULT, 0x10000, 0);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);
    env_stop(e);
}

/*
 * LoPAR and KVM: a TCE that maps a page must name one of the partition:
 * RAM, or a DIMM plugged into the hotplug area, not the hole above it
 */
static void test_tce_outside_partition(void)
{
    Env *e = env_start("-m 1G,slots=2,maxmem=4G");
    uint64_t tces[4] = { DATA | TCE_RW, (1ull << 40) | TCE_RW,
                         (DATA + 0x2000) | TCE_READ,
                         (DATA + 0x1000) | TCE_RW };
    QDict *rsp;
    uint64_t dimm;

    /* RAM's last page, and the page just after it, in the hotplug area */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x1000,
                            ((1ull << 30) - 0x1000) | TCE_RW), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x2000,
                            (1ull << 30) | TCE_WRITE), ==, H_PARAMETER);
    assert_tce(e, LIOBN_DEFAULT, 0x2000, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x5000,
                            0x7ffffffff000ull | TCE_READ), ==, H_PARAMETER);
    /* Without permission it maps nothing, and is kept as it is */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x5000, 0x7ffffffff000ull), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 0x5000, 0x7ffffffff000ull);
    /* A list with one such TCE is refused whole */
    g_assert_cmpint(put_list(e, LIOBN_DEFAULT, 0x10000, tces, 4), ==,
                    H_PARAMETER);
    assert_tce(e, LIOBN_DEFAULT, 0x10000, 0);
    tces[1] = 0;
    g_assert_cmpint(put_list(e, LIOBN_DEFAULT, 0x10000, tces, 4), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 0x13000, (DATA + 0x1000) | TCE_RW);
    env_stop(e);

    /* A DIMM's pages are the partition's, not the first page past it */
    e = env_start("-m 1G,slots=2,maxmem=4G "
                  "-object memory-backend-ram,id=m1,size=256M "
                  "-device pc-dimm,id=dimm1,memdev=m1");
    rsp = qtest_qmp(e->qts, "{ 'execute': 'qom-get', 'arguments': "
                    "{ 'path': '/machine/peripheral/dimm1', "
                    "'property': 'addr' } }");
    dimm = qdict_get_int(rsp, "return");
    qobject_unref(rsp);
    g_assert_cmphex(dimm, >=, 1ull << 30);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x3000, dimm | TCE_READ), ==,
                    H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x4000,
                            (dimm + (256 << 20) - 0x1000) | TCE_RW), ==,
                    H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x5000,
                            (dimm + (256 << 20)) | TCE_RW), ==, H_PARAMETER);
    assert_tce(e, LIOBN_DEFAULT, 0x4000,
               (dimm + (256 << 20) - 0x1000) | TCE_RW);
    env_stop(e);
}

/*
 * No memory to keep a TCE: H_NOT_ENOUGH_RESOURCES, which Linux cleans up
 * after, with no TCE changed and nothing left behind
 */
static void test_no_memory(void)
{
    /* Room for the root and one flat leaf, not for two */
    g_autofree char *limit = g_strdup_printf(
        "-global spapr-tce-table.x-store-limit=%d",
        NODE_BYTES(512) + FLAT_LEAF_BYTES + 200);
    Env *e = env_start(limit);
    uint64_t tces[512];

    for (int i = 0; i < 512; i++) {
        tces[i] = (DATA + i * 0x1000ull) | TCE_RW;
    }
    /* 412 in chunk 0 and 100 in chunk 1: a flat leaf and a run of 128 */
    g_assert_cmpint(put_list(e, LIOBN_DEFAULT, 100 * 0x1000, tces, 512), ==,
                    H_NOT_ENOUGH_RESOURCES);
    assert_tce(e, LIOBN_DEFAULT, 100 * 0x1000, 0);
    assert_tce(e, LIOBN_DEFAULT, 611 * 0x1000, 0);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);
    /* One chunk fits */
    g_assert_cmpint(put_list(e, LIOBN_DEFAULT, 0, tces, 512), ==, H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==,
                     NODE_BYTES(512) + FLAT_LEAF_BYTES);
    /* A few single TCEs still fit in a hashed leaf; many do not */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x300000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    for (int i = 1; i < 32; i++) {
        int64_t ret = put_tce(e, LIOBN_DEFAULT, 0x300000 + i * 0x1000,
                              DATA | TCE_RW);

        if (ret == H_NOT_ENOUGH_RESOURCES) {
            assert_tce(e, LIOBN_DEFAULT, 0x300000 + i * 0x1000, 0);
            assert_tce(e, LIOBN_DEFAULT, 0x300000 + (i - 1) * 0x1000,
                       DATA | TCE_RW);
            g_assert_cmpint(i, >, 3);
            break;
        }
        g_assert_cmpint(ret, ==, H_SUCCESS);
        g_assert_cmpint(i, <, 31);
    }
    /* H_STUFF_TCE of page-fault TCEs over another chunk */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0x800000, 0xbad000, 400), ==,
                    H_NOT_ENOUGH_RESOURCES);
    assert_tce(e, LIOBN_DEFAULT, 0x800000, 0);
    /* Clearing always works */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, 0, DEFAULT_WINDOW >> 12),
                    ==, H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);
    env_stop(e);
}

/* ---- DMA through TCEs ---- */

static void test_dma_translation(void)
{
    Env *e = env_start("");

    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x7000, (DATA + 0x5000) |
                            TCE_RW), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x8000, (DATA + 0x2000) |
                            TCE_RW), ==, H_SUCCESS);
    assert_fill_lands(e, 0x7ff8, DATA + 0x5ff8);
    assert_fill_lands(e, 0x8000, DATA + 0x2000);
    /* A page with no TCE */
    assert_dma_refused(e, OP_FILL, 0x9000, RES_TRANSLATION_FAULT);
    /* Re-pointed: the next DMA uses the new page */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x7000, (DATA + 0x9000) |
                            TCE_RW), ==, H_SUCCESS);
    assert_fill_lands(e, 0x7100, DATA + 0x9100);
    /* Cleared: refused */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x7000, 0), ==, H_SUCCESS);
    assert_dma_refused(e, OP_FILL, 0x7100, RES_TRANSLATION_FAULT);
    env_stop(e);
}

static void test_dma_permissions(void)
{
    Env *e = env_start("");

    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x1000, (DATA + 0x1000) |
                            TCE_READ), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x2000, (DATA + 0x2000) |
                            TCE_WRITE), ==, H_SUCCESS);
    qtest_writeq(e->qts, DATA + 0x1000, 0x1122334455667788ull);

    /* Read-only: reads pass, writes are refused and change nothing */
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, 0x1000, 8), ==, RES_OK);
    g_assert_cmphex(qvtd_rd64(&e->td, BUF_OFFSET), ==,
                    bswap64(0x1122334455667788ull));
    assert_dma_refused(e, OP_FILL, 0x1000, RES_PERMISSION_FAULT);
    g_assert_cmphex(qtest_readq(e->qts, DATA + 0x1000), ==,
                    0x1122334455667788ull);
    /* Write-only: the reverse */
    assert_fill_lands(e, 0x2000, DATA + 0x2000);
    assert_dma_refused(e, OP_READ, 0x2000, RES_PERMISSION_FAULT);
    env_stop(e);
}

/* ---- dynamic DMA windows ---- */

static void ddw_query(Env *e, uint32_t *out, int nret)
{
    uint32_t in[] = { e->config_addr, BUID >> 32, (uint32_t)BUID };

    rtas(e, "ibm,query-pe-dma-window", 3, in, nret, out);
}

static uint32_t ddw_available(Env *e)
{
    uint32_t q[6];

    ddw_query(e, q, 5);
    g_assert_cmpint(q[0], ==, RTAS_OUT_SUCCESS);
    return q[1];
}

static int32_t ddw_create(Env *e, uint32_t page_shift, uint32_t window_shift,
                          uint32_t *out)
{
    uint32_t in[] = { e->config_addr, BUID >> 32, (uint32_t)BUID,
                      page_shift, window_shift };

    return rtas(e, "ibm,create-pe-dma-window", 5, in, 4, out);
}

static int32_t ddw_remove(Env *e, uint32_t liobn)
{
    uint32_t out;

    return rtas(e, "ibm,remove-pe-dma-window", 1, &liobn, 1, &out);
}

static int32_t ddw_reset(Env *e)
{
    uint32_t in[] = { e->config_addr, BUID >> 32, (uint32_t)BUID };
    uint32_t out;

    return rtas(e, "ibm,reset-pe-dma-window", 3, in, 1, &out);
}

static uint64_t ddw_start(const uint32_t *c)
{
    return ((uint64_t)c[2] << 32) | c[3];
}

static void test_ddw_create_and_translate(void)
{
    Env *e = env_start("");
    uint32_t q[6], c[4];

    ddw_query(e, q, 5);
    g_assert_cmpint(q[0], ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(q[1], ==, 1);      /* one more window */
    /* 4K, 64K, 2M and 16M: the PHB's default pgsz */
    g_assert_cmphex(q[3], ==, 0x01 | 0x02 | 0x100 | 0x04);

    /* 1 GiB of 64 KiB TCEs; nothing is allocated for it */
    g_assert_cmpint(ddw_create(e, 16, 30, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DDW);
    g_assert_cmphex(ddw_start(c), ==, DDW_START);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    g_assert_cmpuint(ddw_available(e), ==, 0);

    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + 0x30000,
                            (DATA + 0x70000) | TCE_RW), ==, H_SUCCESS);
    assert_tce(e, LIOBN_DDW, DDW_START + 0x30000, (DATA + 0x70000) | TCE_RW);
    assert_fill_lands(e, DDW_START + 0x3fff0, DATA + 0x7fff0);
    assert_fill_lands(e, DDW_START + 0x31000, DATA + 0x71000);
    assert_dma_refused(e, OP_FILL, DDW_START + 0x40000,
                       RES_TRANSLATION_FAULT);
    /* The default window still works beside it */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x1000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    assert_fill_lands(e, 0x1000, DATA);

    /* A third window does not fit */
    g_assert_cmpint(ddw_create(e, 16, 30, c), ==, RTAS_OUT_HW_ERROR);
    env_stop(e);
}

static void test_ddw_remove_and_reset(void)
{
    Env *e = env_start("");
    uint32_t c[4];

    g_assert_cmpint(ddw_create(e, 12, 28, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DDW);
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START, DATA | TCE_RW), ==,
                    H_SUCCESS);
    assert_fill_lands(e, DDW_START + 8, DATA + 8);
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_SUCCESS);
    /* Gone: no translation, nothing kept, and removing again fails */
    assert_dma_refused(e, OP_FILL, DDW_START + 8, RES_DECODE_ERROR);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_PARAM_ERROR);

    /* Remove the default window too, then reset brings it back, empty */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x3000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    g_assert_cmpint(ddw_remove(e, LIOBN_DEFAULT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(ddw_available(e), ==, 2);
    assert_dma_refused(e, OP_FILL, 0x3000, RES_DECODE_ERROR);
    g_assert_cmpint(ddw_reset(e), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(ddw_available(e), ==, 1);
    assert_tce(e, LIOBN_DEFAULT, 0x3000, 0);
    assert_dma_refused(e, OP_FILL, 0x3000, RES_TRANSLATION_FAULT);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x3000, (DATA + 0x8000) |
                            TCE_RW), ==, H_SUCCESS);
    assert_fill_lands(e, 0x3010, DATA + 0x8010);
    env_stop(e);
}

static void test_ddw_bad_arguments(void)
{
    Env *e = env_start("");
    uint32_t q[6], c[4];
    uint32_t bad_buid[] = { e->config_addr, 0x1234, 0x5678 };

    /* A page size the PHB does not offer */
    g_assert_cmpint(ddw_create(e, 13, 30, c), ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(ddw_create(e, 34, 40, c), ==, RTAS_OUT_PARAM_ERROR);
    /* No such PHB */
    g_assert_cmpint(rtas(e, "ibm,query-pe-dma-window", 3, bad_buid, 5, q),
                    ==, RTAS_OUT_PARAM_ERROR);
    /* Wrong argument counts */
    g_assert_cmpint(rtas(e, "ibm,query-pe-dma-window", 2, bad_buid, 5, q),
                    ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(rtas(e, "ibm,create-pe-dma-window", 3, bad_buid, 4, c),
                    ==, RTAS_OUT_PARAM_ERROR);
    /* No such window */
    g_assert_cmpint(ddw_remove(e, 0x80000055), ==, RTAS_OUT_PARAM_ERROR);
    env_stop(e);
}

static void test_ddw_query_extended(void)
{
    Env *e = env_start("");
    uint32_t q[7];

    ddw_query(e, q, 6);
    g_assert_cmpint(q[0], ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(q[1], ==, 1);
    /* The largest block, 64 bits: 2^20 TCEs, the least a guest gets */
    g_assert_cmphex(q[2], ==, 0);
    g_assert_cmphex(q[3], ==, 0x100000);
    g_assert_cmphex(q[4], ==, 0x01 | 0x02 | 0x100 | 0x04);
    g_assert_cmphex(q[5], ==, 0);
    /* Neither form has 7 outputs */
    ddw_query(e, q, 7);
    g_assert_cmpint((int32_t)q[0], ==, RTAS_OUT_PARAM_ERROR);
    env_stop(e);
}

/* Windows the PHB cannot honour are refused, and nothing is allocated */
static void test_ddw_hostile_windows(void)
{
    static const uint32_t bad[][2] = {
        { 12, 100 }, { 16, 64 }, { 16, 63 }, { 16, 59 },  /* too large */
        { 12, 44 },             /* 2^32 TCEs */
        { 24, 16 },             /* a window smaller than its page */
        { 64, 64 }, { 255, 40 }, { 0xffffffff, 0xffffffff },
        { 0, 20 }, { 13, 30 },  /* page sizes LoPAR cannot name */
        { 12, 33 }, { 24, 45 }, /* 2^21 TCEs: more than 1 GiB can use */
    };
    Env *e = env_start("");
    uint32_t c[4], q[6];

    for (int i = 0; i < ARRAY_SIZE(bad); i++) {
        g_assert_cmpint(ddw_create(e, bad[i][0], bad[i][1], c), ==,
                        RTAS_OUT_PARAM_ERROR);
        g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    }
    ddw_query(e, q, 5);
    g_assert_cmpuint(q[1], ==, 1);
    g_assert_cmpuint(q[2], ==, 1 << 20);
    /* The largest at 16 MiB pages: 2^20 TCEs, 16 TiB, and nothing kept */
    g_assert_cmpint(ddw_create(e, 24, 44, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + (1ull << 44) -
                            (1 << 24), 0x20000000ull | TCE_RW), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DDW, DDW_START + (1ull << 44) - (1 << 24),
               0x20000000ull | TCE_RW);
    /* One TCE: a root over 4 nodes, one node, a flat leaf of one TCE */
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==,
                     NODE_BYTES(4) + NODE_BYTES(512) + FLAT_RUN_BYTES(1));
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + (1ull << 44), 0), ==,
                    H_PARAMETER);
    /* Every one of its TCEs set: a flat table's worth, and cleared */
    put_run(e, LIOBN_DDW, DDW_START, 24, 1 << 20, 0x20000000ull, 0,
            TCE_READ);
    assert_tce(e, LIOBN_DDW, DDW_START + (12345ull << 24),
               0x20000000ull | TCE_READ);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==,
                     NODE_BYTES(4) + 4 * NODE_BYTES(512) +
                     2048 * FLAT_LEAF_BYTES);
    g_assert_cmpint(stuff_tce(e, LIOBN_DDW, DDW_START, 0, 1 << 20), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DDW, DDW_START + (12345ull << 24), 0);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_SUCCESS);
    env_stop(e);
}

/*
 * The largest block follows the memory the guest can have, hotplug area
 * included: a guest that may grow to 64 GiB gets 2^24 TCEs, at any size
 */
static void test_ddw_bound_by_memory(void)
{
    Env *e = env_start(MEM_64G);
    uint32_t c[4], q[6];

    ddw_query(e, q, 5);
    /* RAM and the hotplug area end at 64 GiB: 2^24 TCEs */
    g_assert_cmphex(q[2], ==, 1 << 24);
    /* A 1 TiB window of 64K TCEs, and 64 GiB of 4K, fit; twice either not */
    g_assert_cmpint(ddw_create(e, 16, 41, c), ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(ddw_create(e, 16, 40, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(ddw_create(e, 12, 36, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(ddw_create(e, 12, 37, c), ==, RTAS_OUT_PARAM_ERROR);
    env_stop(e);
}

/*
 * The largest window a PHB makes: 2^31 TCEs of 4 KiB for a guest that may
 * grow to 8 TiB.  TCEs at its ends and past 2^25, DMA through them, and
 * one H_STUFF_TCE clearing all of it at the cost of what is set.
 */
static void test_ddw_huge_window(void)
{
    static const uint64_t index[] = {
        0, 511, 512, (1 << 18) - 1, 1 << 18, (1 << 25) + 3, 1ull << 30,
        (1ull << 31) - 1,
    };
    Env *e = env_start("-m 1G,slots=1,maxmem=8T");
    uint32_t c[4];

    g_assert_cmpint(ddw_create(e, 12, 43, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(ddw_start(c), ==, DDW_START);
    for (int i = 0; i < ARRAY_SIZE(index); i++) {
        g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + (index[i] << 12),
                                (DATA + i * 0x1000) | TCE_RW), ==, H_SUCCESS);
    }
    for (int i = 0; i < ARRAY_SIZE(index); i++) {
        assert_tce(e, LIOBN_DDW, DDW_START + (index[i] << 12),
                   (DATA + i * 0x1000) | TCE_RW);
        assert_tce(e, LIOBN_DDW, DDW_START + ((index[i] ^ 1) << 12), 0);
        assert_fill_lands(e, DDW_START + (index[i] << 12) + 0x20 * i,
                          DATA + i * 0x1000 + 0x20 * i);
    }
    /* Past the window */
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + (1ull << 43), 0), ==,
                    H_PARAMETER);
    /*
     * 8 TCEs: a root over 8192 nodes, 5 nodes, 6 flat leaves of one TCE,
     * and a hashed leaf for TCEs 0 and 511 (a flat one would span 512)
     */
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==,
                     NODE_BYTES(8192) + 5 * NODE_BYTES(512) +
                     6 * FLAT_RUN_BYTES(1) + HASH_LEAF_BYTES(4));
    g_assert_cmpint(stuff_tce(e, LIOBN_DDW, DDW_START, 0, 1ull << 31), ==,
                    H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    assert_dma_refused(e, OP_FILL, DDW_START + ((1ull << 25) + 3) * 0x1000,
                       RES_TRANSLATION_FAULT);
    env_stop(e);
}

/*
 * Every page size the query can offer, on a PHB whose pgsz has them all:
 * a window of each, and DMA through a TCE of each at the exact address
 */
static void test_ddw_every_page_size(void)
{
    static const uint32_t shifts[] = { 12, 16, 21, 24, 25, 26, 27, 28, 34 };
    Env *e = env_start("-global spapr-pci-host-bridge.pgsz=0x41f211000");
    uint32_t q[6], c[4];

    ddw_query(e, q, 5);
    g_assert_cmphex(q[3], ==, 0x1ff);
    for (int i = 0; i < ARRAY_SIZE(shifts); i++) {
        uint64_t page = 1ull << shifts[i];
        /* The page holding DATA: RAM is 1 GiB, a 16 GiB page starts at 0 */
        uint64_t target = DATA & ~(page - 1);
        uint64_t start;

        g_assert_cmpint(ddw_create(e, shifts[i], shifts[i] + 4, c), ==,
                        RTAS_OUT_SUCCESS);
        g_assert_cmphex(c[1], ==, LIOBN_DDW);
        start = ddw_start(c);
        g_assert_cmphex(start, ==, DDW_START);
        g_assert_cmpint(put_tce(e, LIOBN_DDW, start + 3 * page,
                                target | TCE_RW), ==, H_SUCCESS);
        assert_fill_lands(e, start + 3 * page + (DATA - target) + 0x40 * i,
                          DATA + 0x40 * i);
        assert_dma_refused(e, OP_FILL, start + 2 * page + (DATA - target),
                           RES_TRANSLATION_FAULT);
        g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_SUCCESS);
    }
    env_stop(e);
}

/* Create takes only the page sizes the query offers */
static void test_ddw_create_offered_sizes(void)
{
    Env *e = env_start("-global spapr-pci-host-bridge.pgsz=0x1000");
    uint32_t q[6], c[4];

    ddw_query(e, q, 5);
    g_assert_cmphex(q[3], ==, 0x1);
    g_assert_cmpint(ddw_create(e, 16, 30, c), ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(ddw_create(e, 13, 30, c), ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(ddw_create(e, 0, 20, c), ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(ddw_create(e, 12, 30, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(ddw_available(e), ==, 0);
    env_stop(e);
}

/*
 * LoPAR: removing the PE's last window brings the default one back, empty;
 * unless the last one was the default window itself
 */
static void test_ddw_remove_last(void)
{
    Env *e = env_start("");
    uint32_t c[4];
    uint64_t tce;

    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x5000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    g_assert_cmpint(ddw_create(e, 16, 32, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(ddw_remove(e, LIOBN_DEFAULT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(get_tce(e, LIOBN_DEFAULT, 0x5000, &tce), ==,
                    H_PARAMETER);
    g_assert_cmpuint(ddw_available(e), ==, 1);
    /* The DDW was the last: the default window is back, without its TCE */
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(ddw_available(e), ==, 1);
    assert_tce(e, LIOBN_DEFAULT, 0x5000, 0);
    g_assert_cmpint(get_tce(e, LIOBN_DDW, DDW_START, &tce), ==,
                    H_PARAMETER);
    /* The default window last: nothing comes back */
    g_assert_cmpint(ddw_remove(e, LIOBN_DEFAULT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(ddw_available(e), ==, 2);
    assert_dma_refused(e, OP_FILL, 0x5000, RES_DECODE_ERROR);
    env_stop(e);
}

/*
 * A DDW may get the default window's LIOBN once that one is removed (Linux
 * removes the default window first when the query offers no free one);
 * it is not the default window for that.  Removing it, the last window,
 * brings the default window back, on a PHB of two windows and on a VF.
 */
static void test_ddw_default_by_history(void)
{
    static const char *const phbs[] = {
        "", "-global spapr-pci-host-bridge.sriov-vf=on",
    };

    for (int i = 0; i < ARRAY_SIZE(phbs); i++) {
        Env *e = env_start(phbs[i]);
        uint32_t c[4], avail = ddw_available(e);

        g_assert_cmpint(ddw_remove(e, LIOBN_DEFAULT), ==, RTAS_OUT_SUCCESS);
        g_assert_cmpint(ddw_create(e, 16, 34, c), ==, RTAS_OUT_SUCCESS);
        g_assert_cmphex(c[1], ==, LIOBN_DEFAULT);
        g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, ddw_start(c) + 0x10000,
                                DATA | TCE_RW), ==, H_SUCCESS);
        g_assert_cmpint(ddw_remove(e, LIOBN_DEFAULT), ==, RTAS_OUT_SUCCESS);
        /* The default window, 1 GiB of 4K at 0, empty */
        g_assert_cmpuint(ddw_available(e), ==, avail);
        assert_tce(e, LIOBN_DEFAULT, 0x10000, 0);
        assert_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW - 0x1000, 0);
        g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x10000,
                                (DATA + 0x3000) | TCE_RW), ==, H_SUCCESS);
        assert_fill_lands(e, 0x10008, DATA + 0x3008);
        /* and it is the default window: removing it brings nothing back */
        g_assert_cmpint(ddw_remove(e, LIOBN_DEFAULT), ==, RTAS_OUT_SUCCESS);
        g_assert_cmpuint(ddw_available(e), ==, avail + 1);
        env_stop(e);
    }
}

/*
 * With two windows, each LIOBN has upstream's place: the first where the
 * default window is, the second at the 64-bit base, which is where a
 * host sPAPR IOMMU puts its windows 0 and 1
 */
static void test_ddw_two_window_places(void)
{
    Env *e = env_start("");
    uint32_t c[4];

    g_assert_cmpint(ddw_create(e, 16, 32, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DDW);
    g_assert_cmphex(ddw_start(c), ==, DDW_START);
    g_assert_cmpint(ddw_remove(e, LIOBN_DEFAULT), ==, RTAS_OUT_SUCCESS);
    /* The first LIOBN again, with the DDW still at the 64-bit base */
    g_assert_cmpint(ddw_create(e, 16, 36, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DEFAULT);
    g_assert_cmphex(ddw_start(c), ==, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x50000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    assert_fill_lands(e, 0x50010, DATA + 0x10);
    env_stop(e);
}

/* A PHB with "ddw-windows=4": three windows beside the default one */
static void test_ddw_more_windows(void)
{
    Env *e = env_start("-global spapr-pci-host-bridge.ddw-windows=4");
    uint32_t c[4];

    g_assert_cmpuint(ddw_available(e), ==, 3);
    /* 4 GiB of 64K pages, then 1 GiB of 4K, then 4 GiB of 2M */
    g_assert_cmpint(ddw_create(e, 16, 32, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DDW);
    g_assert_cmphex(ddw_start(c), ==, DDW_START);
    g_assert_cmpint(ddw_create(e, 12, 30, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DDW + 1);
    /* The first 1 GiB slot above the base that the 4 GiB one leaves */
    g_assert_cmphex(ddw_start(c), ==, DDW_START + (4ull << 30));
    g_assert_cmpint(ddw_create(e, 21, 32, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DDW + 2);
    g_assert_cmphex(ddw_start(c), ==, DDW_START + (8ull << 30));
    g_assert_cmpuint(ddw_available(e), ==, 0);
    g_assert_cmpint(ddw_create(e, 16, 30, c), ==, RTAS_OUT_HW_ERROR);

    /* Each window translates through its own TCEs */
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + 0x10000,
                            (DATA + 0x10000) | TCE_RW), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DDW + 1, DDW_START + (4ull << 30) +
                            0x3000, (DATA + 0x3000) | TCE_RW), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DDW + 2, DDW_START + (8ull << 30) +
                            0x200000, (DATA + 0x200000) | TCE_RW), ==,
                    H_SUCCESS);
    assert_fill_lands(e, DDW_START + 0x1fff8, DATA + 0x1fff8);
    assert_fill_lands(e, DDW_START + (4ull << 30) + 0x3100, DATA + 0x3100);
    assert_fill_lands(e, DDW_START + (8ull << 30) + 0x3ffff8,
                      DATA + 0x3ffff8);
    /* Between windows: no window */
    assert_dma_refused(e, OP_FILL, DDW_START + (5ull << 30),
                       RES_DECODE_ERROR);

    /* A removed middle window's slot and LIOBN are used again */
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW + 1), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(ddw_create(e, 12, 29, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DDW + 1);
    g_assert_cmphex(ddw_start(c), ==, DDW_START + (4ull << 30));
    assert_tce(e, LIOBN_DDW + 1, DDW_START + (4ull << 30) + 0x3000, 0);
    assert_fill_lands(e, DDW_START + 0x10000, DATA + 0x10000);

    /* Reset leaves the default window alone */
    g_assert_cmpint(ddw_reset(e), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(ddw_available(e), ==, 3);
    assert_dma_refused(e, OP_FILL, DDW_START + 0x10000, RES_DECODE_ERROR);
    env_stop(e);
}

/*
 * An SR-IOV VF's PE has one window: the guest removes the default one to
 * create a 64-bit window in its place (Linux's enable_ddw() does).
 */
static void test_ddw_sriov_vf(void)
{
    Env *e = env_start("-global spapr-pci-host-bridge.sriov-vf=on");
    uint32_t c[4];

    g_assert_cmpuint(ddw_available(e), ==, 0);
    g_assert_cmpint(ddw_create(e, 16, 34, c), ==, RTAS_OUT_HW_ERROR);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x1000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    /* No second LIOBN */
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START, DATA | TCE_RW), ==,
                    H_PARAMETER);

    g_assert_cmpint(ddw_remove(e, LIOBN_DEFAULT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(ddw_available(e), ==, 1);
    /* 16 GiB of 64K pages: the default window's LIOBN, 64-bit */
    g_assert_cmpint(ddw_create(e, 16, 34, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DEFAULT);
    g_assert_cmphex(ddw_start(c), ==, DDW_START);
    assert_tce(e, LIOBN_DEFAULT, DDW_START + 0x1000, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x1000, DATA | TCE_RW), ==,
                    H_PARAMETER);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, DDW_START + 0x3ffff0000ull,
                            (DATA + 0x50000) | TCE_RW), ==, H_SUCCESS);
    assert_fill_lands(e, DDW_START + 0x3ffff0008ull, DATA + 0x50008);
    assert_dma_refused(e, OP_FILL, 0x1000, RES_DECODE_ERROR);
    g_assert_cmpint(ddw_create(e, 16, 30, c), ==, RTAS_OUT_HW_ERROR);

    /* Reset: the 1 GiB default window of 4K pages at 0, empty */
    g_assert_cmpint(ddw_reset(e), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, DDW_START, 0), ==,
                    H_PARAMETER);
    assert_tce(e, LIOBN_DEFAULT, 0x3fff000, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x3fff000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    assert_fill_lands(e, 0x3fff010, DATA + 0x10);
    env_stop(e);
}

/* A VF whose default window is itself 64-bit, as the seed thread wants */
static void test_ddw_sriov_vf_64bit_default(void)
{
    Env *e = env_start("-global spapr-pci-host-bridge.sriov-vf=on "
                       "-global spapr-pci-host-bridge.dma_win_addr="
                       "0x800000000000000 "
                       "-global spapr-pci-host-bridge.dma_win_size="
                       "0x1000000000");

    g_assert_cmpuint(ddw_available(e), ==, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x1000, DATA | TCE_RW), ==,
                    H_PARAMETER);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, DDW_START + 0xffffff000ull,
                            (DATA + 0x6000) | TCE_RW), ==, H_SUCCESS);
    assert_fill_lands(e, DDW_START + 0xffffff7f8ull, DATA + 0x67f8);
    assert_dma_refused(e, OP_FILL, 0x1000, RES_DECODE_ERROR);
    env_stop(e);
}

static void test_removed_window_refused(void)
{
    Env *e = env_start("");
    uint32_t c[4];
    uint64_t tce;

    g_assert_cmpint(ddw_create(e, 16, 32, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START, DATA | TCE_RW), ==,
                    H_SUCCESS);
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_SUCCESS);
    /* As upstream and KVM answer: the LIOBN has no table now */
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START, DATA | TCE_RW), ==,
                    H_PARAMETER);
    g_assert_cmpint(get_tce(e, LIOBN_DDW, DDW_START, &tce), ==,
                    H_PARAMETER);
    g_assert_cmpint(stuff_tce(e, LIOBN_DDW, DDW_START, 0, 1), ==,
                    H_PARAMETER);
    g_assert_cmpint(put_tce_indirect(e, LIOBN_DDW, DDW_START, DATA, 1), ==,
                    H_PARAMETER);
    /* Created again, it starts empty */
    g_assert_cmpint(ddw_create(e, 16, 32, c), ==, RTAS_OUT_SUCCESS);
    assert_tce(e, LIOBN_DDW, DDW_START, 0);
    env_stop(e);
}

static void test_hostile_hcall_arguments(void)
{
    Env *e = env_start("");
    uint64_t list = DATA + 0x200000;

    /* A list that is not in guest memory: nothing is written */
    g_assert_cmpint(put_tce_indirect(e, LIOBN_DEFAULT, 0x1000,
                                     0x7ffff0000000ull, 4), ==, H_PARAMETER);
    assert_tce(e, LIOBN_DEFAULT, 0x1000, 0);
    /* A range that runs off the window: refused whole, not in part */
    for (int i = 0; i < 4; i++) {
        qtest_writeq(e->qts, list + 8 * i, (DATA + i * 0x1000) | TCE_RW);
    }
    g_assert_cmpint(put_tce_indirect(e, LIOBN_DEFAULT,
                                     DEFAULT_WINDOW - 0x2000, list, 4), ==,
                    H_PARAMETER);
    assert_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW - 0x2000, 0);
    g_assert_cmpint(put_tce_indirect(e, LIOBN_DEFAULT,
                                     DEFAULT_WINDOW - 0x4000, list, 4), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW - 0x1000,
               (DATA + 0x3000) | TCE_RW);
    /* npages that overflow, an IOBA below the window, a huge LIOBN */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0x1000, 0, UINT64_MAX), ==,
                    H_PARAMETER);
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0x1000, 0xbad000,
                              UINT64_MAX / 0x1000 + 2), ==, H_PARAMETER);
    g_assert_cmpint(put_tce_indirect(e, LIOBN_DEFAULT, 0x1000, list,
                                     UINT64_MAX), ==, H_PARAMETER);
    g_assert_cmpint(put_tce(e, 0x180000000ull, 0, DATA), ==, H_PARAMETER);
    assert_tce(e, LIOBN_DEFAULT, 0x1000, 0);
    /* Clearing the whole window when a few TCEs are set */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, 0,
                              DEFAULT_WINDOW >> 12), ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, DEFAULT_WINDOW - 0x1000, 0);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);
    env_stop(e);
}

/* ---- PHB configuration ---- */

/* PHB properties out of range stop QEMU with a message */
static void test_phb_config_errors(void)
{
    static const struct {
        const char *args;
        const char *msg;
    } cases[] = {
        { "ddw-windows=1", "a PHB has 2 to 8 DMA windows" },
        { "ddw-windows=9", "a PHB has 2 to 8 DMA windows" },
        { "dma_win_size=0", "must be 4 KiB aligned, non-empty" },
        { "dma_win_addr=0x800", "must be 4 KiB aligned, non-empty" },
        { "dma_win_addr=0xfffffffffffff000", "below 2^64" },
        { "dma_win_size=0x100000000000", "at most 8 TiB" },
        /* Page sizes LoPAR's query cannot name: 1 byte and 8 KiB */
        { "pgsz=0x3001", "pgsz=0x3001: DMA window pages are 4K, 64K, 2M" },
        { "pgsz=0", "at least one of them" },
    };
    QTestState *qts;

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *args = g_strdup_printf(
            "-device spapr-pci-host-bridge,index=1,%s", cases[i].args);

        assert_qemu_refuses(args, cases[i].msg);
    }
    /* The largest count is fine */
    qts = qtest_init("-M pseries -nodefaults "
                     "-device spapr-pci-host-bridge,index=1,ddw-windows=8");
    qtest_quit(qts);
}

/*
 * A host sPAPR IOMMU has windows at 0 and 2^59 only: a PHB whose windows
 * go elsewhere takes no vfio-pci device, and says why before VFIO looks
 * for the host's device
 */
static void test_phb_refuses_vfio(void)
{
    static const char *const phbs[] = { "sriov-vf=on", "ddw-windows=3" };

    if (!qtest_has_device("vfio-pci")) {
        g_test_skip("no vfio-pci in this build");
        return;
    }
    for (int i = 0; i < ARRAY_SIZE(phbs); i++) {
        g_autofree char *args = g_strdup_printf(
            "-device spapr-pci-host-bridge,index=1,id=phb1,%s "
            "-device vfio-pci,host=0000:00:1f.7,bus=phb1.0", phbs[i]);

        assert_qemu_refuses(args, "a host sPAPR IOMMU has DMA windows at "
                            "bus addresses 0 and 2^59 only");
    }
    /* A PHB of two windows leaves it to VFIO, which finds no device */
    assert_qemu_refuses("-device spapr-pci-host-bridge,index=1,id=phb1 "
                        "-device vfio-pci,host=0000:00:1f.7,bus=phb1.0",
                        "0000:00:1f.7");
}

/* A PHB whose realize fails undoes what it did, and QEMU says why */
static void test_phb_failed_realize(void)
{
    /* Its second window's LIOBN is the VIO device's */
    assert_qemu_refuses("-device spapr-vscsi,reg=0x80000101 "
                        "-device spapr-pci-host-bridge,index=1",
                        "Creating window#1 failed");
    /* and before its EEH regions were there */
    assert_qemu_refuses("-device spapr-vscsi,reg=0x80000101 "
                        "-device spapr-pci-host-bridge,index=1,eeh=on",
                        "Creating window#1 failed");
}

/* ---- the TCE store ---- */

/*
 * Bulk writes keep runs of TCEs in flat 512-TCE chunks; single TCEs stay
 * apart.  Mix the two in every order and check each TCE, and DMA.
 */
static void test_dense_and_sparse(void)
{
    Env *e = env_start("");

    /* A single TCE in chunk 2, then a run over most of chunk 2 */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 1100 * 0x1000ull,
                            (DATA + 0x7000) | TCE_READ), ==, H_SUCCESS);
    put_run(e, LIOBN_DEFAULT, 1000 * 0x1000ull, 12, 100, DATA + 0x5000, 0,
            TCE_RW);
    assert_tce(e, LIOBN_DEFAULT, 999 * 0x1000ull, 0);
    assert_tce(e, LIOBN_DEFAULT, 1000 * 0x1000ull, (DATA + 0x5000) | TCE_RW);
    assert_tce(e, LIOBN_DEFAULT, 1099 * 0x1000ull, (DATA + 0x5000) | TCE_RW);
    assert_tce(e, LIOBN_DEFAULT, 1100 * 0x1000ull, (DATA + 0x7000) | TCE_READ);
    assert_tce(e, LIOBN_DEFAULT, 1101 * 0x1000ull, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 1100 * 0x1000ull,
                            (DATA + 0x8000) | TCE_READ), ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 1100 * 0x1000ull, (DATA + 0x8000) | TCE_READ);

    /* 512 TCEs across chunks 0 and 1 */
    put_run(e, LIOBN_DEFAULT, 300 * 0x1000ull, 12, 512, DATA + 16 * 0x1000,
            0x1000, TCE_RW);
    for (unsigned k = 0; k < 512; k += 73) {
        assert_tce(e, LIOBN_DEFAULT, (300 + k) * 0x1000ull,
                   (DATA + (16 + k) * 0x1000ull) | TCE_RW);
    }
    assert_tce(e, LIOBN_DEFAULT, 811 * 0x1000ull,
               (DATA + 527 * 0x1000ull) | TCE_RW);
    assert_tce(e, LIOBN_DEFAULT, 812 * 0x1000ull, 0);
    /* Single changes inside them */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 400 * 0x1000ull,
                            (DATA + 0x3000) | TCE_WRITE), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 401 * 0x1000ull, 0), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 400 * 0x1000ull, (DATA + 0x3000) | TCE_WRITE);
    assert_tce(e, LIOBN_DEFAULT, 401 * 0x1000ull, 0);
    assert_fill_lands(e, 400 * 0x1000ull + 0x18, DATA + 0x3018);
    assert_dma_refused(e, OP_FILL, 401 * 0x1000ull, RES_TRANSLATION_FAULT);
    assert_fill_lands(e, 1100 * 0x1000ull - 8, DATA + 0x5ff8);

    /* A clear across chunks 0-2 */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 500 * 0x1000ull, 0, 550), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 499 * 0x1000ull,
               (DATA + 215 * 0x1000ull) | TCE_RW);
    assert_tce(e, LIOBN_DEFAULT, 500 * 0x1000ull, 0);
    assert_tce(e, LIOBN_DEFAULT, 1049 * 0x1000ull, 0);
    assert_tce(e, LIOBN_DEFAULT, 1050 * 0x1000ull, (DATA + 0x5000) | TCE_RW);
    /* Chunk 2 emptied, then used again by a single TCE */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 1024 * 0x1000ull, 0, 512), ==,
                    H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 1100 * 0x1000ull, 0);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 1030 * 0x1000ull,
                            (DATA + 0x9000) | TCE_RW), ==, H_SUCCESS);
    assert_tce(e, LIOBN_DEFAULT, 1030 * 0x1000ull, (DATA + 0x9000) | TCE_RW);
    assert_fill_lands(e, 1030 * 0x1000ull + 0x100, DATA + 0x9100);
    env_stop(e);
}

/*
 * What TCEs cost, as make bench measures it in resident memory, here as
 * the store counts it: a window untouched costs nothing; dense runs, by
 * single TCEs in any order or by bulk writes, at most 9 bytes a TCE
 * (a flat table is 8); one TCE per 2 MiB of a 1 TiB window of 64 KiB
 * pages at most 32; never more than 1.1 times a flat table.
 */
static void test_store_cost(void)
{
    Env *e = env_start(MEM_64G);
    const uint64_t flat_1g = 8 * (DEFAULT_WINDOW >> 12);
    uint64_t bytes, idx;
    uint32_t c[4];

    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);
    /* 16384 single TCEs in a scattered order, 32 chunks full */
    for (uint64_t i = 0; i < 16384; i++) {
        idx = (i * 7919) % 16384;
        g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, idx << 12,
                                (DATA + (idx & 0xff) * 0x1000) | TCE_RW), ==,
                        H_SUCCESS);
    }
    bytes = store_bytes(e, LIOBN_DEFAULT);
    g_test_message("dense, single TCEs: %.2f bytes per TCE",
                   bytes / 16384.0);
    g_assert_cmpuint(bytes, <=, 9 * 16384);
    g_assert_cmpuint(bytes, ==, NODE_BYTES(512) + 32 * FLAT_LEAF_BYTES);
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, 0, 16384), ==, H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);
    /* Every TCE of the window by bulk writes */
    put_run(e, LIOBN_DEFAULT, 0, 12, DEFAULT_WINDOW >> 12, DATA, 0, TCE_READ);
    bytes = store_bytes(e, LIOBN_DEFAULT);
    g_assert_cmpuint(bytes, <=, 9 * (DEFAULT_WINDOW >> 12));
    g_assert_cmpuint(bytes, <=, flat_1g * 11 / 10);
    /* Every other TCE cleared: still no more than a flat table */
    for (uint64_t i = 0; i < 2048; i += 2) {
        g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, i << 12, 0), ==, H_SUCCESS);
    }
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), <=, flat_1g * 11 / 10);
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, 0, DEFAULT_WINDOW >> 12),
                    ==, H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);

    /* One TCE per 2 MiB of a 1 TiB window of 64 KiB pages */
    g_assert_cmpint(ddw_create(e, 16, 40, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    for (uint64_t i = 0; i < 4096; i++) {
        g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + (i << 21),
                                (DATA + (i & 0xff) * 0x10000) | TCE_RW), ==,
                        H_SUCCESS);
    }
    bytes = store_bytes(e, LIOBN_DDW);
    g_test_message("sparse, one TCE per 2 MiB: %.2f bytes per TCE",
                   bytes / 4096.0);
    g_assert_cmpuint(bytes, <=, 32 * 4096);
    env_stop(e);
}

/*
 * Linux maps and unmaps a page at a time, each IOBA in turn (its
 * allocator's next fit), with a ring mapped all along.  A chunk's leaf
 * grows as the pages pass, each time bigger, and stays as they are
 * unmapped: a few leaves a chunk in all, then none.  Freeing the leaf of each
 * page unmapped made each map an allocation and each unmap a free after
 * an RCU grace period, 20 times upstream's cost for the pair.
 */
static void test_store_map_unmap_in_turn(void)
{
    Env *e = env_start("");
    const uint64_t ring = DEFAULT_WINDOW - 0x1000;
    uint64_t bytes = 0, made = 0;

    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, ring, DATA | TCE_RW), ==,
                    H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==,
                     NODE_BYTES(512) + FLAT_RUN_BYTES(1));
    g_assert_cmpuint(store_leaves_made(e, LIOBN_DEFAULT), ==, 1);
    for (int pass = 0; pass < 3; pass++) {
        /* Chunks 0 and 1, up; then chunk 2, down */
        for (int k = 0; k < 1536; k++) {
            uint64_t i = k < 1024 ? k : 2559 - k;
            uint64_t tce = (DATA + (i & 0xff) * 0x1000ull) | TCE_RW;

            g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, i << 12, tce), ==,
                            H_SUCCESS);
            if (k % 97 == 0) {
                assert_fill_lands(e, (i << 12) + 0x40,
                                  DATA + (i & 0xff) * 0x1000ull + 0x40);
            }
            g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, i << 12, 0), ==,
                            H_SUCCESS);
        }
        assert_tce(e, LIOBN_DEFAULT, 1100 << 12, 0);
        assert_dma_refused(e, OP_FILL, 1100 << 12, RES_TRANSLATION_FAULT);
        assert_tce(e, LIOBN_DEFAULT, ring, DATA | TCE_RW);
        if (pass < 2) {
            /*
             * Each leaf bigger than the last, up to a flat one over the
             * chunk: a flat run of 2^n TCEs (10 sizes) or a hash of 2^n
             * slots (7), so at most 17 a chunk, however many passes
             */
            made = store_leaves_made(e, LIOBN_DEFAULT) - 1;
            g_test_message("after pass %d: %" PRIu64 " leaves for 3 chunks",
                           pass + 1, made);
            g_assert_cmpuint(made, >=, 3);
            g_assert_cmpuint(made, <=, 3 * 17);
            bytes = store_bytes(e, LIOBN_DEFAULT);
            g_assert_cmpuint(bytes, >, NODE_BYTES(512) + FLAT_RUN_BYTES(1));
            g_assert_cmpuint(bytes, <=, NODE_BYTES(512) + FLAT_RUN_BYTES(1) +
                             3 * FLAT_LEAF_BYTES);
        } else {
            /* The leaves over whole chunks by now: nothing more */
            g_assert_cmpuint(store_leaves_made(e, LIOBN_DEFAULT) - 1, ==,
                             made);
            g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, bytes);
            g_assert_cmpuint(bytes, ==, NODE_BYTES(512) + FLAT_RUN_BYTES(1) +
                             3 * FLAT_LEAF_BYTES);
        }
    }
    /* A clear of whole chunks lets their leaves go; the ring's stays */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, 0, 1536), ==, H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==,
                     NODE_BYTES(512) + FLAT_RUN_BYTES(1));
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, 0, DEFAULT_WINDOW >> 12),
                    ==, H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DEFAULT), ==, 0);
    env_stop(e);
}

/*
 * Random TCE traffic against a flat array that says what each TCE must
 * be: single and bulk writes (lists that mix zeros in), walks of single
 * writes up or down (a flat leaf's run growing either way), page-fault
 * stuffs, clears of any size, over a few chunks of a window of two
 * levels, so that leaves go from hashed to flat and back and nodes come
 * and go; a migration, a window removed and created again, a reset.
 * After every batch each TCE of the chunks used is read back.
 */
#define RND_TCES            (1u << 19)      /* 2 GiB of 4K: two levels */
#define RND_SPOTS           6

static const uint64_t rnd_spot[RND_SPOTS] = {
    0, 3 * 512, 7 * 512 + 100, (1 << 18) - 512, (1 << 18), RND_TCES - 1024,
};

/* The chunks a TCE was set in since the window was made */
static bool rnd_used[RND_TCES / 512];

static void rnd_set(uint64_t *model, uint64_t i, uint64_t tce)
{
    model[i] = tce;
    rnd_used[i / 512] |= tce != 0;
}

static uint64_t rnd_index(void)
{
    return rnd_spot[g_test_rand_int_range(0, RND_SPOTS)] +
           g_test_rand_int_range(0, 1024);
}

static uint64_t rnd_tce(void)
{
    static const uint64_t perm[] = { TCE_READ, TCE_WRITE, TCE_RW, 0 };
    uint64_t pa = DATA + g_test_rand_int_range(0, 4096) * 0x1000ull;

    return g_test_rand_int_range(0, 8) ? pa | perm[g_test_rand_int_range(0, 4)]
                                       : 0;
}

static void rnd_verify(Env *e, const uint64_t *model)
{
    uint64_t used = 0;

    /* However TCEs came and went, no chunk costs more than a flat leaf */
    for (int c = 0; c < RND_TCES / 512; c++) {
        used += rnd_used[c];
    }
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), <=,
                     NODE_BYTES(2) + 2 * NODE_BYTES(512) +
                     used * FLAT_LEAF_BYTES);
    for (int s = 0; s < RND_SPOTS; s++) {
        for (uint64_t i = rnd_spot[s]; i < rnd_spot[s] + 1024 &&
             i < RND_TCES; i++) {
            uint64_t tce;

            g_assert_cmpint(get_tce(e, LIOBN_DDW, DDW_START + (i << 12),
                                    &tce), ==, H_SUCCESS);
            if (tce != model[i]) {
                g_error("TCE %" PRIu64 ": 0x%" PRIx64 ", want 0x%" PRIx64,
                        i, tce, model[i]);
            }
        }
    }
}

static void rnd_batch(Env *e, uint64_t *model, int ops)
{
    uint64_t tces[512];

    for (int op = 0; op < ops; op++) {
        uint64_t i = rnd_index(), n, tce;
        int kind = g_test_rand_int_range(0, 12), step;

        if (kind >= 10) {
            /* A walk, one H_PUT_TCE a TCE, up or down */
            n = g_test_rand_int_range(1, 200);
            step = kind == 10 ? 1 : -1;
            for (uint64_t k = 0; k < n && i < RND_TCES; k++, i += step) {
                tce = rnd_tce();
                g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + (i << 12),
                                        tce), ==, H_SUCCESS);
                rnd_set(model, i, tce);
            }
        } else if (kind < 5) {
            tce = rnd_tce();
            g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + (i << 12), tce),
                            ==, H_SUCCESS);
            rnd_set(model, i, tce);
        } else if (kind < 8) {
            n = MIN(g_test_rand_int_range(1, 513), RND_TCES - i);
            for (uint64_t k = 0; k < n; k++) {
                tces[k] = g_test_rand_int_range(0, 4) ? rnd_tce() : 0;
            }
            g_assert_cmpint(put_list(e, LIOBN_DDW, DDW_START + (i << 12),
                                     tces, n), ==, H_SUCCESS);
            for (uint64_t k = 0; k < n; k++) {
                rnd_set(model, i + k, tces[k]);
            }
        } else if (kind < 9) {
            n = MIN(g_test_rand_int_range(1, 513), RND_TCES - i);
            tce = 0xbad000ull + g_test_rand_int_range(0, 16) * 0x1000;
            g_assert_cmpint(stuff_tce(e, LIOBN_DDW, DDW_START + (i << 12),
                                      tce, n), ==, H_SUCCESS);
            for (uint64_t k = 0; k < n; k++) {
                rnd_set(model, i + k, tce);
            }
        } else {
            n = MIN(g_test_rand_int_range(1, 4000), RND_TCES - i);
            g_assert_cmpint(stuff_tce(e, LIOBN_DDW, DDW_START + (i << 12), 0,
                                      n), ==, H_SUCCESS);
            memset(&model[i], 0, n * 8);
        }
    }
}

static void test_store_random(void)
{
    g_autofree uint64_t *model = g_new0(uint64_t, RND_TCES);
    Env *e = env_start("");
    uint32_t c[4];

    memset(rnd_used, 0, sizeof(rnd_used));
    g_assert_cmpint(ddw_create(e, 12, 31, c), ==, RTAS_OUT_SUCCESS);
    for (int round = 0; round < 6; round++) {
        rnd_batch(e, model, 300);
        rnd_verify(e, model);
        if (round == 2) {
            e = env_migrate(e, "");
            rnd_verify(e, model);
        }
    }
    /* Whatever happened, clearing all leaves nothing behind */
    g_assert_cmpint(stuff_tce(e, LIOBN_DDW, DDW_START, 0, RND_TCES), ==,
                    H_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    memset(model, 0, RND_TCES * 8);
    /* A removed window comes back empty; so after a reset */
    rnd_batch(e, model, 200);
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    g_assert_cmpint(ddw_create(e, 12, 31, c), ==, RTAS_OUT_SUCCESS);
    memset(model, 0, RND_TCES * 8);
    memset(rnd_used, 0, sizeof(rnd_used));
    rnd_verify(e, model);
    rnd_batch(e, model, 200);
    rnd_verify(e, model);
    g_assert_cmpint(ddw_reset(e), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(store_bytes(e, LIOBN_DDW), ==, 0);
    env_stop(e);
}

/* ---- MAP/UNMAP notifications ---- */

/* The test device's WATCH on @addr's window; returns nothing */
static void watch(Env *e, uint64_t addr)
{
    qvtd_wr(&e->td, R_PATTERN, WATCH_MAP | WATCH_UNMAP);
    g_assert_cmpuint(qvtd_run(&e->td, OP_WATCH, addr, 0), ==, RES_OK);
}

static void assert_rec(Env *e, uint32_t n, uint32_t type, uint32_t perm,
                       uint64_t iova, uint64_t xlat, uint64_t mask)
{
    uint64_t at = NOTIFY_LOG + (n % NOTIFY_LOG_LEN) * NOTIFY_REC_SIZE;

    g_assert_cmpuint(qvtd_rd(&e->td, at + NOTIFY_REC_TYPE), ==, type);
    g_assert_cmpuint(qvtd_rd(&e->td, at + NOTIFY_REC_TYPE + 4), ==, perm);
    g_assert_cmphex(qvtd_rd64(&e->td, at + NOTIFY_REC_IOVA), ==, iova);
    if (type == NOTIFY_MAP) {
        g_assert_cmphex(qvtd_rd64(&e->td, at + NOTIFY_REC_XLAT), ==, xlat);
    }
    g_assert_cmphex(qvtd_rd64(&e->td, at + NOTIFY_REC_MASK), ==, mask);
}

static void test_notify_and_replay(void)
{
    Env *e = env_start("");
    uint32_t c[4];

    g_assert_cmpint(ddw_create(e, 16, 34, c), ==, RTAS_OUT_SUCCESS);
    watch(e, DDW_START);
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + 0x50000,
                            (DATA + 0x10000) | TCE_READ), ==, H_SUCCESS);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 1);
    assert_rec(e, 0, NOTIFY_MAP, 1, DDW_START + 0x50000, DATA + 0x10000,
               0xffff);
    /* Re-pointed: the old page goes first */
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + 0x50000,
                            (DATA + 0x20000) | TCE_RW), ==, H_SUCCESS);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 3);
    assert_rec(e, 1, NOTIFY_UNMAP, 0, DDW_START + 0x50000, 0, 0xffff);
    assert_rec(e, 2, NOTIFY_MAP, 3, DDW_START + 0x50000, DATA + 0x20000,
               0xffff);
    /* The same value again says nothing; clearing says UNMAP */
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + 0x50000,
                            (DATA + 0x20000) | TCE_RW), ==, H_SUCCESS);
    g_assert_cmpint(stuff_tce(e, LIOBN_DDW, DDW_START + 0x40000, 0, 4), ==,
                    H_SUCCESS);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 4);
    assert_rec(e, 3, NOTIFY_UNMAP, 0, DDW_START + 0x50000, 0, 0xffff);

    /* Replay: the TCEs that are set, in a 16 GiB window */
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + 0x3ffff0000ull,
                            (DATA + 0x30000) | TCE_WRITE), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START, (DATA + 0x40000) |
                            TCE_RW), ==, H_SUCCESS);
    watch(e, DDW_START);
    g_assert_cmpuint(qvtd_run(&e->td, OP_REPLAY, 0, 0), ==, RES_OK);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 2);
    /* In index order */
    assert_rec(e, 0, NOTIFY_MAP, 3, DDW_START, DATA + 0x40000, 0xffff);
    assert_rec(e, 1, NOTIFY_MAP, 2, DDW_START + 0x3ffff0000ull,
               DATA + 0x30000, 0xffff);
    env_stop(e);
}

/* MAP and UNMAP for bulk writes, and replay of a dense window */
static void test_notify_bulk(void)
{
    Env *e = env_start("");

    watch(e, 0);
    put_run(e, LIOBN_DEFAULT, 0, 12, 512, DATA, 0x1000, TCE_READ);
    /* One MAP per TCE: the log holds the last 16 */
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 512);
    assert_rec(e, 511, NOTIFY_MAP, 1, 511 * 0x1000ull, DATA + 511 * 0x1000ull,
               0xfff);
    /* Re-pointed: UNMAP, then MAP, each */
    put_run(e, LIOBN_DEFAULT, 500 * 0x1000ull, 12, 12, DATA, 0, TCE_RW);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 512 + 24);
    assert_rec(e, 512 + 22, NOTIFY_UNMAP, 0, 511 * 0x1000ull, 0, 0xfff);
    assert_rec(e, 512 + 23, NOTIFY_MAP, 3, 511 * 0x1000ull, DATA, 0xfff);
    /* Cleared by STUFF: only UNMAPs, for what was set */
    g_assert_cmpint(stuff_tce(e, LIOBN_DEFAULT, 0, 0, 0x40000), ==,
                    H_SUCCESS);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 512 + 24 + 512);
    /* Replay finds each TCE, dense or not */
    put_run(e, LIOBN_DEFAULT, 0x100000, 12, 512, DATA, 0x1000, TCE_READ);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x3fff0000, DATA | TCE_WRITE),
                    ==, H_SUCCESS);
    watch(e, 0);
    g_assert_cmpuint(qvtd_run(&e->td, OP_REPLAY, 0, 0), ==, RES_OK);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 513);
    env_stop(e);
}

/* ---- EEH ---- */

#define PE_ADDR             1       /* the PHB's one PE: (bus 0 << 16) + 1 */
#define EEH_DISABLE         0
#define EEH_ENABLE          1
#define EEH_THAW_IO         2
#define EEH_THAW_DMA        3
#define PE_NORMAL           0
#define PE_RESET            1
#define PE_STOPPED_IO_DMA   2
#define PE_STOPPED_DMA      4
#define PE_UNAVAILABLE      5
#define SLOT_RESET_OFF      0
#define SLOT_RESET_HOT      1
#define SLOT_RESET_FUND     3

static int32_t eeh_option(Env *e, uint32_t addr, uint32_t option)
{
    uint32_t in[] = { addr, BUID >> 32, (uint32_t)BUID, option }, out;

    return rtas(e, "ibm,set-eeh-option", 4, in, 1, &out);
}

static int32_t slot_reset_at(Env *e, uint32_t addr, uint32_t option)
{
    uint32_t in[] = { addr, BUID >> 32, (uint32_t)BUID, option }, out;

    return rtas(e, "ibm,set-slot-reset", 4, in, 1, &out);
}

static int32_t slot_reset(Env *e, uint32_t option)
{
    return slot_reset_at(e, PE_ADDR, option);
}

static int32_t configure_pe(Env *e, uint32_t addr)
{
    uint32_t in[] = { addr, BUID >> 32, (uint32_t)BUID }, out;

    return rtas(e, "ibm,configure-pe", 3, in, 1, &out);
}

static int32_t config_addr_info(Env *e, uint32_t addr, uint32_t function,
                                uint32_t *info)
{
    uint32_t in[] = { addr, BUID >> 32, (uint32_t)BUID, function }, out[2];
    int32_t ret = rtas(e, "ibm,get-config-addr-info2", 4, in, 2, out);

    *info = out[1];
    return ret;
}

/* The PE's state, with the rest of read-slot-reset-state2's answer */
static uint32_t pe_state(Env *e)
{
    uint32_t in[] = { PE_ADDR, BUID >> 32, (uint32_t)BUID }, out[5];

    g_assert_cmpint(rtas(e, "ibm,read-slot-reset-state2", 3, in, 5, out),
                    ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(out[2], ==, 1);        /* EEH supported */
    g_assert_cmpuint(out[3], ==, out[1] == PE_UNAVAILABLE ? 0 : 1000);
    g_assert_cmpuint(out[4], ==, 0);
    return out[1];
}

/* ibm,slot-error-detail into @buf; the status */
static int32_t slot_error_detail(Env *e, uint64_t buf, uint32_t len,
                                 uint32_t function)
{
    uint32_t in[8] = { PE_ADDR, BUID >> 32, (uint32_t)BUID, 0, 0, buf, len,
                       function }, out;

    return rtas(e, "ibm,slot-error-detail", 8, in, 1, &out);
}

/* Ring the doorbell for a DMA whose outcome the PE's freeze hides */
static void start_dma(Env *e, uint32_t op, uint64_t addr)
{
    qvtd_wr64(&e->td, R_DMA_ADDR, addr);
    qvtd_wr(&e->td, R_LEN, 8);
    qvtd_wr(&e->td, R_OP, op);
    qvtd_wr(&e->td, R_DOORBELL, 1);
}

static void assert_mmio_fenced(Env *e)
{
    g_assert_cmphex(qvtd_rd(&e->td, R_STATUS), ==, 0xffffffff);
    g_assert_cmphex(qvtd_rd64(&e->td, R_FAULT_ADDR), ==, UINT64_MAX);
    g_assert_cmphex(qpci_io_readb(e->td.dev, e->td.bar, R_MEMTX), ==, 0xff);
}

/* The PE frozen by a DMA that no TCE allows, with EEH enabled */
static Env *env_frozen(const char *extra)
{
    g_autofree char *args = g_strdup_printf(EEH_ON " %s", extra);
    Env *e = env_start(args);

    g_assert_cmpint(eeh_option(e, e->config_addr, EEH_ENABLE), ==,
                    RTAS_OUT_SUCCESS);
    start_dma(e, OP_FILL, 0x9000);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    return e;
}

/*
 * EEH is off unless the PHB asks for it: then every EEH call is refused
 * as upstream refuses it, a refused DMA stops nothing, and the error
 * injection calls are not there
 */
static void test_eeh_off_by_default(void)
{
    Env *e = env_start("");
    uint32_t in[3] = { PE_ADDR, BUID >> 32, (uint32_t)BUID }, out[5], info;

    g_assert_cmpint(eeh_option(e, e->config_addr, EEH_ENABLE), ==,
                    RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(rtas(e, "ibm,read-slot-reset-state2", 3, in, 5, out),
                    ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(config_addr_info(e, e->config_addr, 0, &info), ==,
                    RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(slot_reset(e, SLOT_RESET_HOT), ==, RTAS_OUT_PARAM_ERROR);
    assert_dma_refused(e, OP_FILL, 0x9000, RES_TRANSLATION_FAULT);
    assert_dma_refused(e, OP_FILL, DEFAULT_WINDOW, RES_DECODE_ERROR);
    g_assert_cmphex(qvtd_rd(&e->td, R_ID), ==, ID_VALUE);
    /* No such call: its outputs stay as they were */
    g_assert_cmphex((uint32_t)rtas(e, "ibm,open-errinjct", 0, in, 2, out),
                    ==, 0xdeadbeef);
    g_assert_cmphex(out[1], ==, 0xdeadbeef);
    env_stop(e);
}

static void test_eeh_freeze_and_thaw(void)
{
    Env *e = env_start(EEH_ON);
    uint32_t info;

    /* The device's PE: the PHB's one */
    g_assert_cmpint(config_addr_info(e, e->config_addr, 1, &info), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmpuint(info, ==, 1);          /* not shared: one function */
    g_assert_cmpint(config_addr_info(e, e->config_addr, 0, &info), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(info, ==, PE_ADDR);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);

    /* EEH not enabled yet: a refused DMA freezes nothing */
    assert_dma_refused(e, OP_FILL, 0x9000, RES_TRANSLATION_FAULT);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);

    /* No device on bus 5, an option there is not; then the PE itself */
    g_assert_cmpint(eeh_option(e, 5 << 16, EEH_ENABLE), ==,
                    RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(eeh_option(e, PE_ADDR, 7), ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_ENABLE), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x1000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    assert_fill_lands(e, 0x1000, DATA);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);
    /* LoPAR: a thaw of a PE that runs is a parameter error */
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_DMA), ==,
                    RTAS_OUT_PARAM_ERROR);

    /* A DMA with no TCE freezes the PE: MMIO reads all ones */
    qvtd_wr(&e->td, R_PATTERN, 0x11111111);
    start_dma(e, OP_FILL, 0x9000);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    assert_mmio_fenced(e);
    /* and stores are dropped */
    qvtd_wr(&e->td, R_PATTERN, 0x22222222);
    /* DMA before MMIO: LoPAR's unexpected state change */
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_DMA), ==,
                    RTAS_OUT_UNEXPECTED);
    /* as is taking a PE out of a reset it is not in */
    g_assert_cmpint(slot_reset(e, SLOT_RESET_OFF), ==, RTAS_OUT_UNEXPECTED);

    /* MMIO thawed: the device's registers tell what happened */
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_DMA);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(slot_reset(e, SLOT_RESET_OFF), ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpuint(STATUS_RESULT(qvtd_rd(&e->td, R_STATUS)), ==,
                     RES_TRANSLATION_FAULT);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, 0x9000, 0);
    g_assert_cmphex(qvtd_rd(&e->td, R_PATTERN), ==, 0x11111111);
    /*
     * DMA is still stopped, even through a good TCE: the translation is
     * there (the device's probe finds it), the PHB drops the access
     */
    assert_dma_refused(e, OP_FILL, 0x1000, RES_DECODE_ERROR);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_DMA);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_DMA), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);
    assert_fill_lands(e, 0x1008, DATA + 8);

    /* A DMA outside every window freezes it too */
    start_dma(e, OP_FILL, DEFAULT_WINDOW + 0x1000);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    assert_mmio_fenced(e);
    env_stop(e);
}

/* The error log of a stopped PE, and the PE given up for good */
static void test_eeh_slot_error_detail(void)
{
    Env *e = env_frozen("");
    uint64_t buf = DATA + 0x100;
    uint32_t cfg[8] = { PE_ADDR, BUID >> 32, (uint32_t)BUID, 0, 0, buf, 64,
                        1 }, out;

    qtest_writeq(e->qts, buf, UINT64_MAX);
    qtest_writeq(e->qts, buf + 8, UINT64_MAX);
    /* LoPAR's fixed part: v6, error, not recovered, PCI to memory, TCE */
    g_assert_cmpint(slot_error_detail(e, buf, 64, 1), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qtest_readl(e->qts, buf), ==, 0x06902402);
    g_assert_cmphex(qtest_readl(e->qts, buf + 4), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, buf + 8), ==, UINT64_MAX);
    /* Too small a buffer; an option that is not there; no such PE */
    g_assert_cmpint(slot_error_detail(e, buf, 7, 1), ==,
                    RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(slot_error_detail(e, buf, 64, 3), ==,
                    RTAS_OUT_PARAM_ERROR);
    cfg[0] = 9 << 8;
    g_assert_cmpint(rtas(e, "ibm,slot-error-detail", 8, cfg, 1, &out), ==,
                    RTAS_OUT_PARAM_ERROR);
    /* A DMA outside every window: address invalid */
    g_assert_cmpint(slot_reset(e, SLOT_RESET_HOT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(slot_reset(e, SLOT_RESET_OFF), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(slot_error_detail(e, buf, 64, 1), ==,
                    RTAS_OUT_NO_ERRORS);
    qvtd_free(&e->td);
    qvtd_init(&e->td, e->bus, DEV_DEVFN);
    start_dma(e, OP_READ, DEFAULT_WINDOW);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    g_assert_cmpint(slot_error_detail(e, buf, 8, 1), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qtest_readl(e->qts, buf), ==, 0x06902408);
    /* Given up: unavailable for good; every call then is unexpected */
    g_assert_cmpint(slot_error_detail(e, buf, 8, 2), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(pe_state(e), ==, PE_UNAVAILABLE);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_UNEXPECTED);
    g_assert_cmpint(slot_reset(e, SLOT_RESET_HOT), ==, RTAS_OUT_UNEXPECTED);
    assert_mmio_fenced(e);
    env_stop(e);
}

/* Recovery by reset: the PE's devices are reset, and the PE runs again */
static void test_eeh_slot_reset(void)
{
    Env *e = env_start(EEH_ON);
    uint64_t bar = e->td.bar.addr;

    g_assert_cmpint(eeh_option(e, e->config_addr, EEH_ENABLE), ==,
                    RTAS_OUT_SUCCESS);
    /* A write through a read-only TCE */
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x2000, DATA | TCE_READ), ==,
                    H_SUCCESS);
    qvtd_wr(&e->td, R_PATTERN, 0x33333333);
    start_dma(e, OP_FILL, 0x2000);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);

    /* LoPAR's functions are 0, 1 and 3, for the PE that is there */
    g_assert_cmpint(slot_reset(e, 2), ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(slot_reset_at(e, 0, SLOT_RESET_HOT), ==,
                    RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(slot_reset_at(e, 9 << 16 | 1, SLOT_RESET_HOT), ==,
                    RTAS_OUT_PARAM_ERROR);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    g_assert_cmpint(slot_reset(e, SLOT_RESET_HOT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(pe_state(e), ==, PE_RESET);
    assert_mmio_fenced(e);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_UNEXPECTED);
    g_assert_cmpint(slot_reset(e, SLOT_RESET_OFF), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);

    /* The device was reset: its BAR and bus master bit are gone */
    g_assert_cmphex(qpci_config_readl(e->td.dev, PCI_BASE_ADDRESS_0) & ~0xf,
                    ==, 0);
    g_assert_cmphex(qpci_config_readw(e->td.dev, PCI_COMMAND) &
                    PCI_COMMAND_MASTER, ==, 0);
    /* LoPAR: ibm,configure-pe gives back how it was delivered, once */
    g_assert_cmpint(configure_pe(e, PE_ADDR), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qpci_config_readl(e->td.dev, PCI_BASE_ADDRESS_0) & ~0xf,
                    ==, (uint32_t)bar);
    g_assert_cmphex(qpci_config_readw(e->td.dev, PCI_COMMAND) &
                    PCI_COMMAND_MASTER, ==, PCI_COMMAND_MASTER);
    g_assert_cmpint(configure_pe(e, e->config_addr), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(configure_pe(e, 3 << 16), ==, RTAS_OUT_PARAM_ERROR);
    /* but not the device's own registers */
    g_assert_cmphex(qvtd_rd(&e->td, R_PATTERN), ==, 0);
    g_assert_cmpuint(qvtd_rd(&e->td, R_COMPLETIONS), ==, 0);
    /* The TCEs are the hypervisor's, and stay */
    assert_tce(e, LIOBN_DEFAULT, 0x2000, DATA | TCE_READ);
    qtest_writeq(e->qts, DATA, 0x0102030405060708ull);
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, 0x2000, 8), ==, RES_OK);
    g_assert_cmphex(qvtd_rd64(&e->td, BUF_OFFSET), ==,
                    bswap64(0x0102030405060708ull));

    /* LoPAR: EEH stays on while a device of the PE is enabled */
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_DISABLE), ==,
                    RTAS_OUT_SUCCESS);
    start_dma(e, OP_FILL, 0x2000);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    /* Fundamental reset is a reset too; then with the device off, off */
    g_assert_cmpint(slot_reset(e, SLOT_RESET_FUND), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(slot_reset(e, SLOT_RESET_OFF), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_DISABLE), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmpint(configure_pe(e, PE_ADDR), ==, RTAS_OUT_SUCCESS);
    assert_dma_refused(e, OP_FILL, 0x2000, RES_PERMISSION_FAULT);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);
    env_stop(e);
}

/*
 * A PE of a bridge and a device behind it: one PE address for both;
 * after a reset, ibm,configure-pe gives the bridge its bus numbers and
 * windows back, and the device behind it answers again
 */
static void test_eeh_bridge(void)
{
    Env *e = env_start(EEH_ON " -device pci-bridge,id=br,chassis_nr=1,"
                       "addr=6.0,shpc=off -device viommu-testdev,bus=br,"
                       "addr=2.0");
    QPCIDevice *br = qpci_device_find(e->bus, QPCI_DEVFN(6, 0));
    uint32_t behind = (1 << 16) | (QPCI_DEVFN(2, 0) << 8), info;
    uint32_t in[4] = { behind, BUID >> 32, (uint32_t)BUID, 4 }, out[2];

    /* Bus 1 behind the bridge, as firmware would number it */
    qpci_config_writeb(br, PCI_PRIMARY_BUS, 0);
    qpci_config_writeb(br, PCI_SECONDARY_BUS, 1);
    qpci_config_writeb(br, PCI_SUBORDINATE_BUS, 1);
    qpci_config_writew(br, PCI_MEMORY_BASE, 0x1000);
    qpci_config_writew(br, PCI_MEMORY_LIMIT, 0x1000);
    qpci_config_writew(br, PCI_COMMAND, PCI_COMMAND_MEMORY);
    g_assert_cmphex(rtas(e, "ibm,read-pci-config", 4, in, 2, out), ==, 0);
    g_assert_cmphex(out[1], ==, 0x11f01234);
    /* One PE for the PHB: the device behind the bridge is in it too */
    g_assert_cmpint(config_addr_info(e, behind, 0, &info), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(info, ==, PE_ADDR);
    g_assert_cmpint(config_addr_info(e, behind, 1, &info), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmpuint(info, ==, 2);          /* shared: two functions */
    g_assert_cmpint(config_addr_info(e, 1 << 16 | 0x1800, 0, &info), ==,
                    RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(eeh_option(e, behind, EEH_ENABLE), ==, RTAS_OUT_SUCCESS);

    g_assert_cmpint(slot_reset(e, SLOT_RESET_HOT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(slot_reset(e, SLOT_RESET_OFF), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qpci_config_readb(br, PCI_SECONDARY_BUS), ==, 0);
    g_assert_cmpint(configure_pe(e, PE_ADDR), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qpci_config_readb(br, PCI_SECONDARY_BUS), ==, 1);
    g_assert_cmphex(qpci_config_readb(br, PCI_SUBORDINATE_BUS), ==, 1);
    g_assert_cmphex(qpci_config_readw(br, PCI_MEMORY_BASE), ==, 0x1000);
    g_assert_cmphex(qpci_config_readw(br, PCI_COMMAND), ==,
                    PCI_COMMAND_MEMORY);
    g_assert_cmphex(rtas(e, "ibm,read-pci-config", 4, in, 2, out), ==, 0);
    g_assert_cmphex(out[1], ==, 0x11f01234);
    g_free(br);
    env_stop(e);
}

/*
 * PowerVM: a stopped PE's configuration space reads all ones and drops
 * writes, until its MMIO is thawed
 */
static void test_eeh_config_while_frozen(void)
{
    Env *e = env_frozen("");
    uint32_t in[5] = { e->config_addr, BUID >> 32, (uint32_t)BUID, 4 };
    uint32_t out[2];

    g_assert_cmphex(qpci_config_readl(e->td.dev, PCI_VENDOR_ID), ==,
                    0xffffffff);
    g_assert_cmphex(qpci_config_readb(e->td.dev, PCI_LATENCY_TIMER), ==, 0xff);
    qpci_config_writeb(e->td.dev, PCI_LATENCY_TIMER, 0x40);
    /* An address no device has is still an error */
    in[0] = 9 << 8;
    g_assert_cmpint(rtas(e, "ibm,read-pci-config", 4, in, 2, out), ==,
                    RTAS_OUT_HW_ERROR);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(qpci_config_readl(e->td.dev, PCI_VENDOR_ID), ==,
                    0x11f01234);
    g_assert_cmphex(qpci_config_readb(e->td.dev, PCI_LATENCY_TIMER), ==, 0);
    env_stop(e);
}

/* ICS status of interrupt @irq, from "info pic" */
static unsigned ics_status(Env *e, uint32_t irq)
{
    g_autofree char *pic = qtest_hmp(e->qts, "info pic");
    g_autofree char *key = g_strdup_printf("  %x MSI ", irq);
    const char *p = strstr(pic, key);
    unsigned prio, status;

    g_assert_nonnull(p);
    g_assert_cmpint(sscanf(p + strlen(key), "%x %x", &prio, &status), ==, 2);
    return status;
}

/* LoPAR: the DMA Stopped state blocks MSIs, which are DMA writes */
static void test_eeh_msi_while_frozen(void)
{
    Env *e = env_start(EEH_ON);
    uint32_t in[6] = { e->config_addr, BUID >> 32, (uint32_t)BUID, 3, 1, 0 };
    uint32_t out[4], irq;
    uint8_t cap = qpci_find_capability(e->td.dev, PCI_CAP_ID_MSI, 0);

    g_assert_cmpint(eeh_option(e, e->config_addr, EEH_ENABLE), ==,
                    RTAS_OUT_SUCCESS);
    /* One MSI from ibm,change-msi, enabled as Linux enables it */
    g_assert_cmpint(rtas(e, "ibm,change-msi", 6, in, 4, out), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmpuint(out[1], ==, 1);
    irq = qpci_config_readw(e->td.dev, cap + PCI_MSI_DATA_64);
    qpci_config_writew(e->td.dev, cap + PCI_MSI_FLAGS,
                       qpci_config_readw(e->td.dev, cap + PCI_MSI_FLAGS) |
                       PCI_MSI_FLAGS_ENABLE);
    g_assert_cmpuint(ics_status(e, irq), ==, 0);
    qvtd_wr(&e->td, R_CTRL, CTRL_IRQ_EN);

    /* The completion of the DMA that froze the PE sends no MSI */
    start_dma(e, OP_FILL, 0x9000);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    g_assert_cmpuint(ics_status(e, irq), ==, 0);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(qvtd_rd(&e->td, R_STATUS) & STATUS_IRQ, ==, STATUS_IRQ);
    qvtd_wr(&e->td, R_IRQ_ACK, 1);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, 0x9000, 8), ==,
                     RES_TRANSLATION_FAULT);
    g_assert_cmpuint(ics_status(e, irq), ==, 0);
    /* Thawed: the next completion's MSI arrives (masked, so pending) */
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_DMA), ==,
                    RTAS_OUT_SUCCESS);
    qvtd_wr(&e->td, R_IRQ_ACK, 1);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x1000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, 0x1000, 8), ==, RES_OK);
    g_assert_cmpuint(ics_status(e, irq), ==, 0x8);
    env_stop(e);
}

/*
 * An MSI is a DMA write to the PHB's MSI window whose data names the
 * interrupt, and both come from the guest: a device's MSI data register,
 * or any DMA it is told to make there.  One that names no interrupt the
 * machine has (below or past the external sources, or not claimed) is
 * dropped and logged: upstream asserted in spapr_qirq(), which a guest
 * could reach to abort QEMU (found by the sPAPR fuzz target).
 */
static void test_msi_to_no_interrupt(void)
{
    static const uint32_t bogus[] = {
        0, 1, 0xfff, 0x1fff, 0x2000, 0x80001000, 0xffffffff,
    };
    Env *e = env_start("");
    uint32_t in[6] = { e->config_addr, BUID >> 32, (uint32_t)BUID, 3, 1, 0 };
    uint32_t out[4], irq;
    uint8_t cap = qpci_find_capability(e->td.dev, PCI_CAP_ID_MSI, 0);

    g_assert_cmpint(rtas(e, "ibm,change-msi", 6, in, 4, out), ==,
                    RTAS_OUT_SUCCESS);
    irq = qpci_config_readw(e->td.dev, cap + PCI_MSI_DATA_64);
    qpci_config_writew(e->td.dev, cap + PCI_MSI_FLAGS,
                       qpci_config_readw(e->td.dev, cap + PCI_MSI_FLAGS) |
                       PCI_MSI_FLAGS_ENABLE);
    for (int i = 0; i < ARRAY_SIZE(bogus); i++) {
        /* The window takes the write; no interrupt comes of it */
        qvtd_wr(&e->td, R_PATTERN, bogus[i]);
        g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, MSI_WINDOW, 4), ==,
                         RES_OK);
        g_assert_cmpuint(ics_status(e, irq), ==, 0);
    }
    /* The device's own MSI still arrives (masked, so pending) */
    qvtd_wr(&e->td, R_PATTERN, irq);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, MSI_WINDOW, 4), ==, RES_OK);
    g_assert_cmpuint(ics_status(e, irq), ==, 0x8);
    env_stop(e);
}

/*
 * A DMA made outside the BQL, on the device's own thread as an iothread
 * makes it: the PE stops at once, and its MMIO fence comes through the
 * PHB's bottom half
 */
static void test_eeh_freeze_outside_bql(void)
{
    Env *e = env_start(EEH_ON);
    int i;

    g_assert_cmpint(eeh_option(e, e->config_addr, EEH_ENABLE), ==,
                    RTAS_OUT_SUCCESS);
    qvtd_wr(&e->td, R_PATTERN, 0x44444444);
    qvtd_start_async(&e->td, OP_FILL, 0x9000, 8);
    for (i = 0; i < 1000 && pe_state(e) == PE_NORMAL; i++) {
        g_usleep(1000);
    }
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    for (i = 0; i < 1000 && qvtd_rd(&e->td, R_ID) != UINT32_MAX; i++) {
        g_usleep(1000);
    }
    assert_mmio_fenced(e);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_SUCCESS);
    for (i = 0; i < 1000 && (qvtd_rd(&e->td, R_STATUS) & STATUS_BUSY); i++) {
        g_usleep(1000);
    }
    g_assert_cmpuint(STATUS_RESULT(qvtd_rd(&e->td, R_STATUS)), ==,
                     RES_TRANSLATION_FAULT);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, 0x9000, 0);
    env_stop(e);
}

/*
 * A load no device claims is an unsupported request: with EEH enabled it
 * freezes the PE and reads all ones, as Linux's eeh_dev_break expects
 */
static void test_eeh_unclaimed_mmio(void)
{
    Env *e = env_start(EEH_ON);
    uint16_t cmd = qpci_config_readw(e->td.dev, PCI_COMMAND);

    g_assert_cmpint(eeh_option(e, e->config_addr, EEH_ENABLE), ==,
                    RTAS_OUT_SUCCESS);
    /* Memory space off: the BAR's address is claimed by no one */
    qpci_config_writew(e->td.dev, PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY);
    g_assert_cmphex(qpci_io_readb(e->td.dev, e->td.bar, R_ID), ==, 0xff);
    qpci_config_writew(e->td.dev, PCI_COMMAND, cmd);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    /* The configuration write went nowhere: the PE was stopped */
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(qpci_config_readw(e->td.dev, PCI_COMMAND) &
                    PCI_COMMAND_MEMORY, ==, 0);
    env_stop(e);
}

/* ---- error injection ---- */

#define ERRINJCT_IOA_BUS_ERROR      7
#define ERRINJCT_IOA_BUS_ERROR_64   8
#define INJ_LOAD_MEM_ADDR           0
#define INJ_LOAD_CFG_DATA           5
#define INJ_STORE_MEM_DATA          7
#define INJ_DMA_READ_TARGET         15
#define INJ_DMA_WRITE_ADDR          16
#define INJ_DISABLE                 20
#define INJ_QUERY                   21

static int32_t errinjct_open(Env *e, uint32_t *token)
{
    uint32_t out[2];

    g_assert_cmpuint(qtest_rtas_call(e->qts, "ibm,open-errinjct", 0, e->rargs,
                                     2, e->rrets), ==, 0);
    out[0] = qtest_readl(e->qts, e->rrets);
    out[1] = qtest_readl(e->qts, e->rrets + 4);
    /* LoPAR: the token first, then the status */
    *token = out[0];
    return out[1];
}

static int32_t errinjct_close(Env *e, uint32_t token)
{
    uint32_t out;

    return rtas(e, "ibm,close-errinjct", 1, &token, 1, &out);
}

/* ioa-bus-error-64 of @func at @addr, @mask into the PE; the work buffer */
static int32_t errinjct64(Env *e, uint32_t token, uint32_t func,
                          uint64_t addr, uint64_t mask, uint32_t config_addr)
{
    const uint64_t buf = DATA + 0x400;
    uint32_t w[8] = { addr >> 32, addr, mask >> 32, mask, config_addr,
                      BUID >> 32, (uint32_t)BUID, func };
    uint32_t in[3] = { ERRINJCT_IOA_BUS_ERROR_64, token, buf }, out;

    for (int i = 0; i < 8; i++) {
        qtest_writel(e->qts, buf + 4 * i, w[i]);
    }
    return rtas(e, "ibm,errinjct", 3, in, 1, &out);
}

static void test_errinjct_session(void)
{
    Env *e = env_start(EEH_ON);
    uint32_t token, other, in[3], out;

    g_assert_cmpint(errinjct_open(e, &token), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(token, !=, 0);
    /* Already open */
    g_assert_cmpint(errinjct_open(e, &other), ==, RTAS_OUT_CALL_ERROR);
    /* Not the opener's token */
    g_assert_cmpint(errinjct_close(e, token + 1), ==, RTAS_OUT_CALL_ERROR);
    g_assert_cmpint(errinjct64(e, token + 1, INJ_DMA_WRITE_ADDR, 0, 0, PE_ADDR),
                    ==, RTAS_OUT_CALL_ERROR);
    /* LoPAR: only into a PE with EEH enabled */
    g_assert_cmpint(errinjct64(e, token, INJ_DMA_WRITE_ADDR, 0, 0, PE_ADDR),
                    ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_ENABLE), ==, RTAS_OUT_SUCCESS);
    /* Classes other than the two IOA bus errors; a buffer off 1 KiB */
    in[0] = 1;
    in[1] = token;
    in[2] = DATA + 0x400;
    g_assert_cmpint(rtas(e, "ibm,errinjct", 3, in, 1, &out), ==,
                    RTAS_OUT_PARAM_ERROR);
    in[0] = ERRINJCT_IOA_BUS_ERROR_64;
    in[2] = DATA + 0x404;
    g_assert_cmpint(rtas(e, "ibm,errinjct", 3, in, 1, &out), ==,
                    RTAS_OUT_PARAM_ERROR);
    /* No such PE, no such function */
    g_assert_cmpint(errinjct64(e, token, INJ_DMA_WRITE_ADDR, 0, 0, 7 << 16),
                    ==, RTAS_OUT_PARAM_ERROR);
    g_assert_cmpint(errinjct64(e, token, 22, 0, 0, PE_ADDR), ==,
                    RTAS_OUT_PARAM_ERROR);
    /* Armed, seen by a query; it outlives the session, as a tool closes */
    g_assert_cmpint(errinjct64(e, token, INJ_DMA_WRITE_ADDR, 0x1234000,
                               0xfffffffffffff000ull, PE_ADDR), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct64(e, token, INJ_QUERY, 0, 0, PE_ADDR), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x404), ==, 0x1234000);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x40c), ==, 0xfffff000);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x41c), ==, INJ_DMA_WRITE_ADDR);
    g_assert_cmpint(errinjct_close(e, token), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct_close(e, token), ==, RTAS_OUT_CALL_ERROR);
    g_assert_cmpint(errinjct_open(e, &other), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct64(e, other, INJ_QUERY, 0, 0, PE_ADDR), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x41c), ==, INJ_DMA_WRITE_ADDR);
    /* Function 20 disarms it: the DMA it was for goes through */
    g_assert_cmpint(errinjct64(e, other, INJ_DISABLE, 0, 0, PE_ADDR), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct64(e, other, INJ_QUERY, 0, 0, PE_ADDR), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x41c), ==, INJ_DISABLE);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x1234000, DATA | TCE_RW), ==,
                    H_SUCCESS);
    assert_fill_lands(e, 0x1234000, DATA);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);
    /* Armed and closed: the next DMA write there freezes the PE */
    g_assert_cmpint(errinjct64(e, other, INJ_DMA_WRITE_ADDR, 0x1234000,
                               ~0xfffull, PE_ADDR), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct_close(e, other), ==, RTAS_OUT_SUCCESS);
    start_dma(e, OP_FILL, 0x1234000);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    env_stop(e);
}

/* DMA errors: the first DMA of that direction to a matching address */
static void test_errinjct_dma(void)
{
    Env *e = env_start(EEH_ON);
    uint64_t buf = DATA + 0x800;
    uint32_t token;

    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_ENABLE), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct_open(e, &token), ==, RTAS_OUT_SUCCESS);
    put_run(e, LIOBN_DEFAULT, 0, 12, 16, DATA, 0x1000, TCE_RW);
    /* Writes to the page at 0x5000 */
    g_assert_cmpint(errinjct64(e, token, INJ_DMA_WRITE_ADDR, 0x5000,
                               ~0xfffull, PE_ADDR), ==, RTAS_OUT_SUCCESS);
    assert_fill_lands(e, 0x6000, DATA + 0x6000);
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, 0x5000, 8), ==, RES_OK);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);
    start_dma(e, OP_FILL, 0x5010);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    g_assert_cmpint(slot_error_detail(e, buf, 8, 1), ==, RTAS_OUT_SUCCESS);
    /* PCI to memory, an address parity error */
    g_assert_cmphex(qtest_readl(e->qts, buf), ==, 0x06902406);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==, RTAS_OUT_SUCCESS);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, 0x5010, 0);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_DMA), ==,
                    RTAS_OUT_SUCCESS);
    /* At most once */
    assert_fill_lands(e, 0x5010, DATA + 0x5010);
    /* A 32-bit class: reads anywhere, a target abort */
    qtest_writel(e->qts, DATA + 0x400, 0);
    qtest_writel(e->qts, DATA + 0x404, 0);
    qtest_writel(e->qts, DATA + 0x408, PE_ADDR);
    qtest_writel(e->qts, DATA + 0x40c, BUID >> 32);
    qtest_writel(e->qts, DATA + 0x410, (uint32_t)BUID);
    qtest_writel(e->qts, DATA + 0x414, INJ_DMA_READ_TARGET);
    {
        uint32_t in[3] = { ERRINJCT_IOA_BUS_ERROR, token, DATA + 0x400 }, out;

        g_assert_cmpint(rtas(e, "ibm,errinjct", 3, in, 1, &out), ==,
                        RTAS_OUT_SUCCESS);
    }
    assert_fill_lands(e, 0x2000, DATA + 0x2000);
    start_dma(e, OP_READ, 0x3000);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    g_assert_cmpint(slot_error_detail(e, buf, 8, 1), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qtest_readl(e->qts, buf), ==, 0x06902408);
    env_stop(e);
}

/*
 * Load and store errors: the first CPU access of that kind to a matching
 * PCI address; others go to the device as before
 */
static void test_errinjct_mmio(void)
{
    Env *e = env_start(EEH_ON);
    uint64_t bar = e->td.bar.addr;
    uint32_t token;

    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_ENABLE), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct_open(e, &token), ==, RTAS_OUT_SUCCESS);
    /* Loads from the BAR's register page */
    g_assert_cmpint(errinjct64(e, token, INJ_LOAD_MEM_ADDR, bar, ~0xfffull,
                               e->config_addr), ==, RTAS_OUT_SUCCESS);
    qvtd_wr(&e->td, R_PATTERN, 0x55555555);
    g_assert_cmphex(qvtd_rd(&e->td, BUF_OFFSET), ==, 0);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);
    g_assert_cmphex(qvtd_rd(&e->td, R_PATTERN), ==, 0xffffffff);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qvtd_rd(&e->td, R_PATTERN), ==, 0x55555555);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_DMA), ==,
                    RTAS_OUT_SUCCESS);
    /* A store: dropped, and the loads before it went through */
    g_assert_cmpint(errinjct64(e, token, INJ_STORE_MEM_DATA, 0, 0,
                               e->config_addr), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qvtd_rd(&e->td, R_PATTERN), ==, 0x55555555);
    qvtd_wr(&e->td, R_PATTERN, 0x66666666);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_IO), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qvtd_rd(&e->td, R_PATTERN), ==, 0x55555555);
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_THAW_DMA), ==,
                    RTAS_OUT_SUCCESS);
    /* A configuration read of the device's vendor ID */
    g_assert_cmpint(errinjct64(e, token, INJ_LOAD_CFG_DATA, PCI_VENDOR_ID,
                               ~0ull, e->config_addr), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qpci_config_readb(e->td.dev, PCI_LATENCY_TIMER), ==, 0);
    g_assert_cmphex(qpci_config_readw(e->td.dev, PCI_VENDOR_ID), ==, 0xffff);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    /* Disabled before it fires: nothing happens */
    g_assert_cmpint(slot_reset(e, SLOT_RESET_HOT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(slot_reset(e, SLOT_RESET_OFF), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(configure_pe(e, PE_ADDR), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct64(e, token, INJ_LOAD_MEM_ADDR, 0, 0,
                               e->config_addr), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct64(e, token, INJ_DISABLE, 0, 0, e->config_addr),
                    ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(qvtd_rd(&e->td, R_ID), ==, ID_VALUE);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);
    env_stop(e);
}

/* ---- migration ---- */

/* A full 1 GiB window migrates, and its chunks are flat again after */
static void test_migration_dense(void)
{
    Env *e = env_start(""), *d;
    uint64_t bytes;

    put_run(e, LIOBN_DEFAULT, 0, 12, DEFAULT_WINDOW >> 12, DATA, 0, TCE_READ);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x12345000,
                            (DATA + 0x6000) | TCE_RW), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x3ffff000, 0), ==, H_SUCCESS);
    bytes = store_bytes(e, LIOBN_DEFAULT);

    d = env_migrate(e, "");
    g_assert_cmpuint(store_bytes(d, LIOBN_DEFAULT), ==, bytes);
    assert_tce(d, LIOBN_DEFAULT, 0, DATA | TCE_READ);
    assert_tce(d, LIOBN_DEFAULT, 0x12345000, (DATA + 0x6000) | TCE_RW);
    assert_tce(d, LIOBN_DEFAULT, 0x3fffe000, DATA | TCE_READ);
    assert_tce(d, LIOBN_DEFAULT, 0x3ffff000, 0);
    qtest_writeq(d->qts, DATA, 0x1122334455667788ull);
    g_assert_cmpuint(qvtd_run(&d->td, OP_READ, 0x2345678, 8), ==, RES_OK);
    assert_fill_lands(d, 0x12345008, DATA + 0x6008);
    g_assert_cmpint(stuff_tce(d, LIOBN_DEFAULT, 0, 0, DEFAULT_WINDOW >> 12),
                    ==, H_SUCCESS);
    assert_tce(d, LIOBN_DEFAULT, 0x12345000, 0);
    g_assert_cmpuint(store_bytes(d, LIOBN_DEFAULT), ==, 0);
    env_stop(d);
}

/*
 * A 1 TiB window of 64 KiB TCEs, with one TCE per 2 MiB of its first
 * 1 GiB, migrated to a file and back: the stream carries the TCEs that
 * are set, not the window (a flat table would be 128 MiB).
 */
static void test_migration_sparse(void)
{
    g_autofree char *path = g_strdup_printf("%s/spapr-tce-mig-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    uint64_t bar;
    uint32_t c[4];
    struct stat st;
    Env *e = env_start(MEM_64G " " SPARSE_MIG), *d;

    g_assert_cmpint(ddw_create(e, 16, 40, c), ==, RTAS_OUT_SUCCESS);
    for (int i = 0; i < 512; i++) {
        g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + i * 0x200000ull,
                                (DATA + i * 0x10000) | TCE_RW), ==,
                        H_SUCCESS);
    }
    g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + (1ull << 40) - 0x10000,
                            (DATA + 0x4000000) | TCE_READ), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DEFAULT, 0x7000, (DATA + 0x5000000) |
                            TCE_RW), ==, H_SUCCESS);
    bar = e->td.bar.addr;
    qvtd_migrate(e->qts, uri);
    env_stop(e);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_test_message("migration stream: %lld bytes", (long long)st.st_size);
    /* A flat table would be 128 MiB; the stream is a few MiB in all */
    g_assert_cmpint(st.st_size, <, 16 * 1024 * 1024);

    d = env_incoming(MEM_64G, uri, bar);
    unlink(path);
    assert_tce(d, LIOBN_DDW, DDW_START + 511 * 0x200000ull,
               (DATA + 511 * 0x10000) | TCE_RW);
    assert_tce(d, LIOBN_DDW, DDW_START + 0x10000, 0);
    assert_tce(d, LIOBN_DDW, DDW_START + (1ull << 40) - 0x10000,
               (DATA + 0x4000000) | TCE_READ);
    assert_tce(d, LIOBN_DEFAULT, 0x7000, (DATA + 0x5000000) | TCE_RW);
    assert_fill_lands(d, DDW_START + 7 * 0x200000ull + 0x18,
                      DATA + 7 * 0x10000 + 0x18);
    assert_fill_lands(d, 0x7008, DATA + 0x5000008);
    env_stop(d);
}

/*
 * Windows created, removed and a PE frozen, migrated to a file and back:
 * the destination has the same windows, TCEs and PE state, and a reset
 * there still brings the default window back
 */
static void test_migration_windows_and_eeh(void)
{
    static const char extra[] = EEH_ON
        " -global spapr-pci-host-bridge.ddw-windows=3";
    const uint64_t w2 = DDW_START + (4ull << 30);
    Env *e = env_start(extra), *d;
    uint32_t c[4], token;
    uint64_t tce;

    g_assert_cmpint(ddw_create(e, 16, 32, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(ddw_create(e, 12, 30, c), ==, RTAS_OUT_SUCCESS);
    g_assert_cmphex(c[1], ==, LIOBN_DDW + 1);
    g_assert_cmpint(ddw_remove(e, LIOBN_DDW), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(ddw_remove(e, LIOBN_DEFAULT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DDW + 1, w2 + 0x5000,
                            (DATA + 0x5000) | TCE_RW), ==, H_SUCCESS);
    g_assert_cmpint(put_tce(e, LIOBN_DDW + 1, w2 + 0x6000,
                            (DATA + 0x9000) | TCE_READ), ==, H_SUCCESS);
    assert_fill_lands(e, w2 + 0x5100, DATA + 0x5100);
    /* Frozen by a write through the read-only TCE */
    g_assert_cmpint(eeh_option(e, PE_ADDR, EEH_ENABLE), ==,
                    RTAS_OUT_SUCCESS);
    start_dma(e, OP_FILL, w2 + 0x6000);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_IO_DMA);
    /* and an injection armed for the next DMA read */
    g_assert_cmpint(errinjct_open(e, &token), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(errinjct64(e, token, INJ_DMA_READ_TARGET, 0, 0, PE_ADDR),
                    ==, RTAS_OUT_SUCCESS);

    d = env_migrate(e, extra);
    g_assert_cmpuint(ddw_available(d), ==, 2);
    g_assert_cmpint(get_tce(d, LIOBN_DEFAULT, 0, &tce), ==, H_PARAMETER);
    g_assert_cmpint(get_tce(d, LIOBN_DDW, DDW_START, &tce), ==,
                    H_PARAMETER);
    assert_tce(d, LIOBN_DDW + 1, w2 + 0x5000, (DATA + 0x5000) | TCE_RW);
    assert_tce(d, LIOBN_DDW + 1, w2 + 0x6000, (DATA + 0x9000) | TCE_READ);
    assert_tce(d, LIOBN_DDW + 1, w2 + 0x7000, 0);
    /* Still frozen: the fence came back with the state */
    g_assert_cmpuint(pe_state(d), ==, PE_STOPPED_IO_DMA);
    assert_mmio_fenced(d);
    g_assert_cmpint(eeh_option(d, PE_ADDR, EEH_THAW_IO), ==,
                    RTAS_OUT_SUCCESS);
    qvtd_assert_outcome(&d->td, MEMTX_DECODE_ERROR, w2 + 0x6000, 0);
    g_assert_cmpint(eeh_option(d, PE_ADDR, EEH_THAW_DMA), ==,
                    RTAS_OUT_SUCCESS);
    assert_fill_lands(d, w2 + 0x5ff8, DATA + 0x5ff8);
    /* The injection came along, and so did the session */
    g_assert_cmpint(errinjct_close(d, token + 1), ==, RTAS_OUT_CALL_ERROR);
    start_dma(d, OP_READ, w2 + 0x5000);
    g_assert_cmpuint(pe_state(d), ==, PE_STOPPED_IO_DMA);
    g_assert_cmpint(errinjct_close(d, token), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(slot_reset(d, SLOT_RESET_HOT), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpint(slot_reset(d, SLOT_RESET_OFF), ==, RTAS_OUT_SUCCESS);

    /* Reset: the default window alone, empty */
    g_assert_cmpint(ddw_reset(d), ==, RTAS_OUT_SUCCESS);
    g_assert_cmpuint(ddw_available(d), ==, 2);
    g_assert_cmpint(get_tce(d, LIOBN_DDW + 1, w2, &tce), ==, H_PARAMETER);
    assert_tce(d, LIOBN_DEFAULT, 0x5000, 0);
    env_stop(d);
}

/*
 * The stream of a DDW of 64 TCEs of 64 KiB, TCEs 10 to 12 set, in the
 * flat form or (@sparse) the fork's: its bytes, and the offset of the
 * first field of the DDW's section (upstream's "spapr_iommu", version 3)
 */
static char *hostile_stream(bool sparse, size_t *len, size_t *f)
{
    g_autofree char *path = g_strdup_printf("%s/spapr-tce-hostile-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    static const char idstr[] = "spapr_iommu";
    Env *e = env_start(sparse ? SPARSE_MIG : "");
    char *stream;
    uint32_t c[4];
    size_t at;

    g_assert_cmpint(ddw_create(e, 16, 22, c), ==, RTAS_OUT_SUCCESS);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(put_tce(e, LIOBN_DDW, DDW_START + (10 + i) * 0x10000,
                                (DATA + i * 0x10000) | TCE_RW), ==,
                        H_SUCCESS);
    }
    qvtd_migrate(e->qts, uri);
    env_stop(e);
    g_assert_true(g_file_get_contents(path, &stream, len, NULL));
    unlink(path);
    /* The DDW's section: its name, LIOBN (the instance) and version 3 */
    for (at = 0; at + 20 < *len; at++) {
        if (stream[at] == strlen(idstr) &&
            !memcmp(stream + at + 1, idstr, strlen(idstr)) &&
            ldl_be_p(stream + at + 1 + strlen(idstr)) == LIOBN_DDW &&
            ldl_be_p(stream + at + 5 + strlen(idstr)) == 3) {
            break;
        }
    }
    g_assert_cmpuint(at + 20, <, *len);
    *f = at + 9 + strlen(idstr);
    /* liobn, nb_table (0 when sparse), bypass, the TCEs flat, def_win */
    g_assert_cmphex((uint32_t)ldl_be_p(stream + *f), ==, LIOBN_DDW);
    g_assert_cmpuint(ldl_be_p(stream + *f + 4), ==, sparse ? 0 : 64);
    return stream;
}

/* Subsection header: QEMU_VM_SUBSECTION, the name's length, name, version */
#define SUBSECTION_LEN(name)    (1 + 1 + strlen(name) + 4)

/*
 * Hostile streams are refused with a message: in the flat form, a window
 * larger than a guest can create, a TCE outside the partition, a page
 * size LoPAR has not; in the sparse form, more TCEs than the window, a
 * TCE outside it, the same one twice
 */
static void test_migration_hostile(void)
{
    g_autofree char *bad = g_strdup_printf("%s/spapr-tce-hostile-%d.bad",
                                           g_get_tmp_dir(), getpid());
    g_autofree char *args = g_strdup_printf(
        "-m 1G -device viommu-testdev,addr=%d.0 -incoming file:%s",
        DEV_SLOT, bad);
    static const struct {
        bool sparse;
        const char *msg;
    } cases[] = {
        { false, "larger than a guest can create" },
        { false, "maps no page of this guest" },
        { false, "a TCE page of 2^0 bytes" },
        { true, "TCEs for a window of" },
        { true, "is outside its window" },
        { true, "or not after TCE" },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t len, f, ex, sp;
        g_autofree char *copy = hostile_stream(cases[i].sparse, &len, &f);

        /* After 64 flat TCEs and def_win: "spapr_iommu_ex", 64 KiB */
        ex = f + 9 + 1;
        if (!cases[i].sparse) {
            ex += 64 * 8;
        }
        g_assert_cmpuint(copy[ex], ==, 5);
        g_assert_cmpuint(ldl_be_p(copy + ex + SUBSECTION_LEN("spapr_iommu_ex")
                                  + 8), ==, 16);
        ex += SUBSECTION_LEN("spapr_iommu_ex");
        /* Then "spapr_iommu/sparse": nb, count, (index, TCE) pairs */
        sp = ex + 12 + SUBSECTION_LEN("spapr_iommu/sparse");
        if (cases[i].sparse) {
            g_assert_cmpuint(ldl_be_p(copy + sp), ==, 64);
            g_assert_cmpuint(ldl_be_p(copy + sp + 4), ==, 3);
            g_assert_cmpuint(ldq_be_p(copy + sp + 8), ==, 10);
        } else {
            g_assert_cmphex(ldq_be_p(copy + f + 9 + 10 * 8), ==,
                            DATA | TCE_RW);
        }
        switch (i) {
        case 0:
            stl_be_p(copy + f + 4, UINT32_MAX);
            break;
        case 1:
            stq_be_p(copy + f + 9 + 11 * 8, 0x7fff00000000ull | TCE_RW);
            break;
        case 2:
            stl_be_p(copy + ex + 8, 0);
            break;
        case 3:
            stl_be_p(copy + sp + 4, 65);
            break;
        case 4:
            stq_be_p(copy + sp + 8 + 16, 64);
            break;
        case 5:
            stq_be_p(copy + sp + 8 + 16, 10);
            break;
        }
        g_assert_true(g_file_set_contents(bad, copy, len, NULL));
        assert_qemu_refuses(args, cases[i].msg);
    }
    unlink(bad);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_machine("pseries") ||
        !qtest_has_device("viommu-testdev")) {
        return g_test_run();
    }
    qtest_add_func("/spapr-tce/hcall/put-get", test_put_get_tce);
    qtest_add_func("/spapr-tce/hcall/bad-arguments", test_hcall_bad_arguments);
    qtest_add_func("/spapr-tce/hcall/put-tce-indirect", test_put_tce_indirect);
    qtest_add_func("/spapr-tce/hcall/indirect-leading-zeros",
                   test_indirect_leading_zeros);
    qtest_add_func("/spapr-tce/hcall/stuff-tce", test_stuff_tce);
    qtest_add_func("/spapr-tce/hcall/outside-partition",
                   test_tce_outside_partition);
    qtest_add_func("/spapr-tce/hcall/no-memory", test_no_memory);
    qtest_add_func("/spapr-tce/hcall/hostile-arguments",
                   test_hostile_hcall_arguments);
    qtest_add_func("/spapr-tce/hcall/removed-window",
                   test_removed_window_refused);
    qtest_add_func("/spapr-tce/dma/translation", test_dma_translation);
    qtest_add_func("/spapr-tce/dma/permissions", test_dma_permissions);
    qtest_add_func("/spapr-tce/ddw/create-and-translate",
                   test_ddw_create_and_translate);
    qtest_add_func("/spapr-tce/ddw/remove-and-reset",
                   test_ddw_remove_and_reset);
    qtest_add_func("/spapr-tce/ddw/bad-arguments", test_ddw_bad_arguments);
    qtest_add_func("/spapr-tce/ddw/query-extended", test_ddw_query_extended);
    qtest_add_func("/spapr-tce/ddw/hostile-windows", test_ddw_hostile_windows);
    qtest_add_func("/spapr-tce/ddw/bound-by-memory",
                   test_ddw_bound_by_memory);
    qtest_add_func("/spapr-tce/ddw/huge-window", test_ddw_huge_window);
    qtest_add_func("/spapr-tce/ddw/every-page-size",
                   test_ddw_every_page_size);
    qtest_add_func("/spapr-tce/ddw/create-offered-sizes",
                   test_ddw_create_offered_sizes);
    qtest_add_func("/spapr-tce/ddw/remove-last", test_ddw_remove_last);
    qtest_add_func("/spapr-tce/ddw/default-by-history",
                   test_ddw_default_by_history);
    qtest_add_func("/spapr-tce/ddw/two-window-places",
                   test_ddw_two_window_places);
    qtest_add_func("/spapr-tce/ddw/more-windows", test_ddw_more_windows);
    qtest_add_func("/spapr-tce/ddw/sriov-vf", test_ddw_sriov_vf);
    qtest_add_func("/spapr-tce/ddw/sriov-vf-64bit-default",
                   test_ddw_sriov_vf_64bit_default);
    qtest_add_func("/spapr-tce/phb/config-errors", test_phb_config_errors);
    qtest_add_func("/spapr-tce/phb/refuses-vfio", test_phb_refuses_vfio);
    qtest_add_func("/spapr-tce/phb/failed-realize", test_phb_failed_realize);
    qtest_add_func("/spapr-tce/phb/msi-to-no-interrupt",
                   test_msi_to_no_interrupt);
    qtest_add_func("/spapr-tce/store/dense-and-sparse",
                   test_dense_and_sparse);
    qtest_add_func("/spapr-tce/store/cost", test_store_cost);
    qtest_add_func("/spapr-tce/store/random", test_store_random);
    qtest_add_func("/spapr-tce/store/map-unmap-in-turn",
                   test_store_map_unmap_in_turn);
    qtest_add_func("/spapr-tce/notify/map-unmap-replay",
                   test_notify_and_replay);
    qtest_add_func("/spapr-tce/notify/bulk", test_notify_bulk);
    qtest_add_func("/spapr-tce/eeh/off-by-default", test_eeh_off_by_default);
    qtest_add_func("/spapr-tce/eeh/freeze-and-thaw",
                   test_eeh_freeze_and_thaw);
    qtest_add_func("/spapr-tce/eeh/slot-error-detail",
                   test_eeh_slot_error_detail);
    qtest_add_func("/spapr-tce/eeh/slot-reset", test_eeh_slot_reset);
    qtest_add_func("/spapr-tce/eeh/bridge", test_eeh_bridge);
    qtest_add_func("/spapr-tce/eeh/config-while-frozen",
                   test_eeh_config_while_frozen);
    qtest_add_func("/spapr-tce/eeh/msi-while-frozen",
                   test_eeh_msi_while_frozen);
    qtest_add_func("/spapr-tce/eeh/freeze-outside-bql",
                   test_eeh_freeze_outside_bql);
    qtest_add_func("/spapr-tce/eeh/unclaimed-mmio", test_eeh_unclaimed_mmio);
    qtest_add_func("/spapr-tce/errinjct/session", test_errinjct_session);
    qtest_add_func("/spapr-tce/errinjct/dma", test_errinjct_dma);
    qtest_add_func("/spapr-tce/errinjct/mmio", test_errinjct_mmio);
    qtest_add_func("/spapr-tce/migration/dense-window",
                   test_migration_dense);
    qtest_add_func("/spapr-tce/migration/sparse-1tib-window",
                   test_migration_sparse);
    qtest_add_func("/spapr-tce/migration/windows-and-eeh",
                   test_migration_windows_and_eeh);
    qtest_add_func("/spapr-tce/migration/hostile-streams",
                   test_migration_hostile);
    return g_test_run();
}
