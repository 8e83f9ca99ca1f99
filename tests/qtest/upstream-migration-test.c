/*
 * Migration between the fork and upstream QEMU, in both directions
 *
 * QTEST_QEMU_BINARY is the fork's emulator, QTEST_QEMU_BINARY_REF the
 * reference one that scripts/reference.sh builds: the same base with
 * upstream's SMMUv3, TCE tables, DDW calls and PHB.  Each case saves a
 * machine to a file with one and loads it with the other, on the same
 * command line, and checks what the guest sees after: registers, TCEs,
 * where DMA lands and where the next fault is recorded.  Without
 * QTEST_QEMU_BINARY_REF every case is skipped.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/generic-pcihost.h"
#include "libqos/pci-spapr.h"
#include "libqos/malloc-spapr.h"
#include "libqos/smmuv3.h"
#include "libqos/spapr-hcall.h"
#include "libqos/viommu-testdev-pci.h"

#define ENV_FORK        "QTEST_QEMU_BINARY"
#define ENV_REF         "QTEST_QEMU_BINARY_REF"

/* Which emulator saves and which loads */
typedef struct Direction {
    const char *name;
    const char *src;
    const char *dst;
} Direction;

static const Direction to_fork = { "upstream-to-fork", ENV_REF, ENV_FORK };
static const Direction to_upstream = { "fork-to-upstream", ENV_FORK, ENV_REF };

static char *mig_path(const char *what)
{
    return g_strdup_printf("%s/upstream-mig-%d-%s", g_get_tmp_dir(),
                           getpid(), what);
}

static void mig_save(QTestState *qts, const char *path)
{
    g_autofree char *uri = g_strdup_printf("file:%s", path);

    qvtd_migrate(qts, uri);
}

/* Why the last load that failed did: the destination's own words */
static char *last_load_error;

/*
 * Start @var's emulator with @args and load @path into it; NULL with the
 * destination gone if the load failed
 */
static QTestState *mig_load(const char *var, const char *args,
                            const char *path)
{
    g_autofree char *full = g_strdup_printf("%s -incoming defer", args);
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    g_autofree char *status = NULL;
    QTestState *qts = qtest_init_ext(var, full, NULL, true);

    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate-incoming', "
                             "'arguments': { 'uri': %s, "
                             "'exit-on-error': false } }", uri);
    status = qvtd_incoming_status(qts, &last_load_error);
    if (strcmp(status, "completed")) {
        g_test_message("%s refused the stream: %s", var,
                       last_load_error ?: "(no reason)");
        qtest_quit(qts);
        return NULL;
    }
    /* The source was stopped to save it: so is the destination */
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    return qts;
}

/* FILL's 32-bit words @seed, @seed + 1 are at @pa, little-endian */
static void assert_filled(QTestState *qts, uint64_t pa, uint32_t seed)
{
    uint32_t w[2];

    qtest_memread(qts, pa, w, sizeof(w));
    g_assert_cmphex(le32_to_cpu(w[0]), ==, seed);
    g_assert_cmphex(le32_to_cpu(w[1]), ==, seed + 1);
}

/* ---- virt, SMMUv3 ---- */

#define VIRT_ARGS   "-M virt,iommu=smmuv3 -cpu max -m 512M -nodefaults " \
                    "-device viommu-testdev,bus=pcie.0,addr=4.0 " \
                    "-device viommu-testdev,bus=pcie.0,addr=5.0"

#define DEV0_DEVFN      QPCI_DEVFN(4, 0)    /* stage 1 */
#define DEV1_DEVFN      QPCI_DEVFN(5, 0)    /* stage 2 */
#define RAM_BASE        0x40000000ull
#define STRTAB          (RAM_BASE + 0x1000000)
#define STRTAB_LOG2     6
#define EVENTQ          (RAM_BASE + 0x1010000)
#define EVENTQ_LOG2     3
#define CMDQ            (RAM_BASE + 0x1020000)
#define CMDQ_LOG2       2                   /* 4 entries: wraps soon */
#define CD0             (RAM_BASE + 0x1030000)
#define PT_POOL1        (RAM_BASE + 0x1100000)
#define PT_POOL2        (RAM_BASE + 0x1800000)
#define PT_POOL_SIZE    0x400000ull
#define DATA1           (RAM_BASE + 0x4000000)
#define DATA2           (RAM_BASE + 0x5000000)
#define IOVA1           0x123456789000ull   /* stage 1: to DATA1 */
#define IPA2            0x00000abcd000ull   /* stage 2: to DATA2 */
#define EVT_F_TRANSLATION 0x10

typedef struct VirtEnv {
    QTestState *qts;
    QGenericPCIBus gbus;
    QViommuTestdev td[2];
    QSMMUv3 smmu;
} VirtEnv;

static VirtEnv *virt_start(const char *var)
{
    VirtEnv *e = g_new0(VirtEnv, 1);

    e->qts = qtest_init_ext(var, VIRT_ARGS, NULL, true);
    qpci_init_generic(&e->gbus, e->qts, NULL, false);
    qvtd_init(&e->td[0], &e->gbus.bus, DEV0_DEVFN);
    qvtd_init(&e->td[1], &e->gbus.bus, DEV1_DEVFN);
    qsmmu_init(&e->smmu, e->qts, QSMMU_VIRT_BASE);
    return e;
}

/* The machine @src left in @path, loaded by @var's emulator */
static VirtEnv *virt_load(const char *var, VirtEnv *src, const char *path)
{
    VirtEnv *d = g_new0(VirtEnv, 1);

    d->qts = mig_load(var, VIRT_ARGS, path);
    if (!d->qts) {
        g_free(d);
        return NULL;
    }
    qpci_init_generic(&d->gbus, d->qts, NULL, false);
    for (int i = 0; i < 2; i++) {
        d->td[i].dev = qpci_device_find(&d->gbus.bus,
                                        i ? DEV1_DEVFN : DEV0_DEVFN);
        d->td[i].bar = src->td[i].bar;
    }
    d->smmu = src->smmu;
    d->smmu.qts = d->qts;
    return d;
}

static void virt_stop(VirtEnv *e)
{
    for (int i = 0; i < 2; i++) {
        if (e->td[i].dev) {
            qvtd_free(&e->td[i]);
        }
    }
    qtest_quit(e->qts);
    g_free(e);
}

/* FILL 8 bytes at @iova; assert they landed at @pa, and only there */
static void assert_fill_lands(VirtEnv *e, int dev, uint64_t iova,
                              uint64_t pa, uint32_t seed)
{
    qtest_writeq(e->qts, pa - 8, 0);
    qtest_writeq(e->qts, pa, 0);
    qtest_writeq(e->qts, pa + 8, 0);
    qvtd_wr(&e->td[dev], R_PATTERN, seed);
    g_assert_cmpuint(qvtd_run(&e->td[dev], OP_FILL, iova, 8), ==, RES_OK);
    qvtd_assert_outcome(&e->td[dev], 0, 0, 8);
    assert_filled(e->qts, pa, seed);
    g_assert_cmphex(qtest_readq(e->qts, pa - 8), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, pa + 8), ==, 0);
}

static void assert_fill_faults(VirtEnv *e, int dev, uint64_t iova)
{
    qvtd_wr(&e->td[dev], R_PATTERN, 0x5a5a5a5a);
    g_assert_cmpuint(qvtd_run(&e->td[dev], OP_FILL, iova, 8), ==,
                     RES_TRANSLATION_FAULT);
    qvtd_assert_outcome(&e->td[dev], MEMTX_DECODE_ERROR, iova, 0);
}

/* Event record @idx: a translation fault of @sid at @iova */
static void assert_event(VirtEnv *e, unsigned idx, uint32_t sid,
                         uint64_t iova)
{
    uint64_t evt[4];

    qsmmu_event(&e->smmu, idx, evt);
    g_assert_cmphex(evt[0] & 0xff, ==, EVT_F_TRANSLATION);
    g_assert_cmphex(evt[0] >> 32, ==, sid);
    g_assert_cmphex(evt[2], ==, iova);
}

/* The registers upstream's section and ours both carry */
static const uint32_t virt_regs[] = {
    SMMU_CR0, SMMU_CR0ACK, SMMU_CR1, SMMU_CR2, SMMU_GBPA, SMMU_IRQ_CTRL,
    SMMU_GERROR, SMMU_GERRORN, SMMU_GERROR_IRQ_CFG0, SMMU_GERROR_IRQ_CFG0 + 4,
    SMMU_GERROR_IRQ_CFG1, SMMU_GERROR_IRQ_CFG2, SMMU_STRTAB_BASE,
    SMMU_STRTAB_BASE + 4, SMMU_STRTAB_CFG, SMMU_CMDQ_BASE, SMMU_CMDQ_BASE + 4,
    SMMU_CMDQ_PROD, SMMU_CMDQ_CONS, SMMU_EVENTQ_BASE, SMMU_EVENTQ_BASE + 4,
    SMMU_EVENTQ_PROD, SMMU_EVENTQ_CONS, SMMU_EVENTQ_IRQ_CFG0,
    SMMU_EVENTQ_IRQ_CFG0 + 4, SMMU_EVENTQ_IRQ_CFG1, SMMU_EVENTQ_IRQ_CFG2,
};

static void read_regs(VirtEnv *e, uint32_t *vals)
{
    for (int i = 0; i < ARRAY_SIZE(virt_regs); i++) {
        vals[i] = qsmmu_readl(&e->smmu, virt_regs[i]);
    }
}

static void assert_regs(VirtEnv *e, const uint32_t *vals)
{
    uint32_t now[ARRAY_SIZE(virt_regs)];

    read_regs(e, now);
    for (int i = 0; i < ARRAY_SIZE(virt_regs); i++) {
        if (now[i] != vals[i]) {
            g_test_message("register 0x%x: 0x%x, was 0x%x", virt_regs[i],
                           now[i], vals[i]);
        }
        g_assert_cmphex(now[i], ==, vals[i]);
    }
}

/* The SMMU as firmware left it: disabled, GBPA lets DMA through */
static void test_virt_smmu_off(gconstpointer opaque)
{
    const Direction *dir = opaque;
    g_autofree char *path = mig_path("virt-off");
    uint32_t vals[ARRAY_SIZE(virt_regs)];
    VirtEnv *e = virt_start(dir->src);
    VirtEnv *d;

    assert_fill_lands(e, 0, DATA1, DATA1, 0x11111111);
    read_regs(e, vals);
    mig_save(e->qts, path);
    d = virt_load(dir->dst, e, path);
    g_assert(d);
    assert_regs(d, vals);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_GBPA), ==, 0x1000);
    assert_fill_lands(d, 0, DATA1, DATA1, 0x22222222);
    assert_fill_lands(d, 1, DATA2, DATA2, 0x33333333);
    virt_stop(d);
    virt_stop(e);
    unlink(path);
}

/*
 * Stage 1 on one device and stage 2 on the other, their translations
 * cached; two faults recorded and one consumed; a command refused, its
 * GERROR pending; the command queue wrapped.  All of it reads the same
 * on the destination, DMA lands where it did, the next fault goes to the
 * next record, and the command queue goes on once the guest fixes it.
 */
static void test_virt_smmu_busy(gconstpointer opaque)
{
    const Direction *dir = opaque;
    g_autofree char *path = mig_path("virt-busy");
    uint32_t vals[ARRAY_SIZE(virt_regs)];
    VirtEnv *e = virt_start(dir->src);
    QSMMUv3 *s = &e->smmu;
    QSMMUPageTable pt1, pt2;
    uint32_t bad;
    VirtEnv *d;

    qsmmu_setup_tables(s, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qsmmu_setup_cmdq(s, CMDQ, CMDQ_LOG2);
    qsmmu_pt_init(&pt1, e->qts, false, PT_POOL1, PT_POOL_SIZE);
    qsmmu_pt_map(&pt1, IOVA1, DATA1, true);
    qsmmu_cd_s1_4k(e->qts, CD0, pt1.root, 1);
    qsmmu_ste_s1(s, DEV0_DEVFN, CD0);
    qsmmu_pt_init(&pt2, e->qts, true, PT_POOL2, PT_POOL_SIZE);
    qsmmu_pt_map(&pt2, IPA2, DATA2, true);
    qsmmu_ste_s2(s, DEV1_DEVFN, pt2.root, 44, 7);
    /* Three commands and their syncs: six entries of four, wrapped */
    qsmmu_cmd(s, SMMU_CMD_CFGI_STE | ((uint64_t)DEV0_DEVFN << 32), 0);
    qsmmu_cmd(s, SMMU_CMD_CFGI_STE | ((uint64_t)DEV1_DEVFN << 32), 0);
    qsmmu_cmd(s, SMMU_CMD_TLBI_NSNH_ALL, 0);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_PROD), ==, 6 & 7);
    assert_fill_lands(e, 0, IOVA1, DATA1, 0x01020304);
    assert_fill_lands(e, 1, IPA2, DATA2, 0x05060708);
    assert_fill_faults(e, 0, IOVA1 + 0x1000);
    assert_fill_faults(e, 1, IPA2 + 0x1000);
    g_assert_cmphex(qsmmu_readl(s, SMMU_EVENTQ_PROD), ==, 2);
    qsmmu_writel(s, SMMU_EVENTQ_CONS, 1);
    /* An illegal command: CMDQ_ERR pending, CONS stays on it */
    bad = s->cmdq_prod;
    qsmmu_cmd_write(s, 0x77, 0);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR) ^
                    qsmmu_readl(s, SMMU_GERRORN), ==, SMMU_GERROR_CMDQ_ERR);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==,
                    (SMMU_CERROR_ILL << 24) | bad);
    read_regs(e, vals);

    mig_save(e->qts, path);
    d = virt_load(dir->dst, e, path);
    g_assert(d);
    s = &d->smmu;
    assert_regs(d, vals);
    assert_event(d, 0, DEV0_DEVFN, IOVA1 + 0x1000);
    assert_event(d, 1, DEV1_DEVFN, IPA2 + 0x1000);
    assert_fill_lands(d, 0, IOVA1, DATA1, 0x0a0b0c0d);
    assert_fill_lands(d, 1, IPA2, DATA2, 0x0e0f1011);
    assert_fill_faults(d, 0, IOVA1 + 0x2000);
    g_assert_cmphex(qsmmu_readl(s, SMMU_EVENTQ_PROD), ==, 3);
    assert_event(d, 2, DEV0_DEVFN, IOVA1 + 0x2000);
    /*
     * The guest replaces the bad command, acknowledges, goes on.  (Upstream
     * leaves CONS.ERR as it was, which only means something while
     * GERROR.CMDQ_ERR is active; the index is what counts.)
     */
    s->cmdq_prod = bad;
    qsmmu_cmd_write(s, SMMU_CMD_SYNC, 0);
    qsmmu_writel(s, SMMU_GERRORN, qsmmu_readl(s, SMMU_GERROR));
    qsmmu_cmd_write(s, SMMU_CMD_TLBI_NSNH_ALL, 0);
    qsmmu_cmd_write(s, SMMU_CMD_SYNC, 0);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS) & 0xfffff, ==,
                    s->cmdq_prod);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR) ^
                    qsmmu_readl(s, SMMU_GERRORN), ==, 0);
    assert_fill_lands(d, 0, IOVA1, DATA1, 0x12131415);
    virt_stop(d);
    virt_stop(e);
    unlink(path);
}

/* ---- pseries, TCE tables ---- */

#define PSERIES_ARGS    "-M pseries -m 1G -nodefaults " \
                        "-device viommu-testdev,addr=4.0"
#define PS_DEVFN        QPCI_DEVFN(4, 0)
#define LIOBN_DEFAULT   0x80000000u
#define PS_DATA         0x30000000ull
#define TCE_READ        1ull
#define TCE_RW          3ull

#define LIOBN_DDW       0x80000001u
#define PS_BUID         0x800000020000000ull
#define DDW_START       0x800000000000000ull    /* both put it at 2^59 */
#define RTAS_OUT_SUCCESS 0

typedef struct SpaprEnv {
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *bus;
    QViommuTestdev td;
    uint64_t hargs, hrets;
    uint64_t rargs, rrets;
} SpaprEnv;

static void spapr_setup(SpaprEnv *e)
{
    spapr_alloc_init(&e->alloc, e->qts, ALLOC_NO_FLAGS);
    e->bus = qpci_new_spapr(e->qts, &e->alloc);
    e->hargs = guest_alloc(&e->alloc, 32 * 8);
    e->hrets = guest_alloc(&e->alloc, 32 * 8);
    e->rargs = guest_alloc(&e->alloc, 16 * 4);
    e->rrets = guest_alloc(&e->alloc, 16 * 4);
}

static SpaprEnv *spapr_start(const char *var, const char *extra)
{
    g_autofree char *args = g_strdup_printf("%s %s", PSERIES_ARGS, extra);
    SpaprEnv *e = g_new0(SpaprEnv, 1);

    e->qts = qtest_init_ext(var, args, NULL, true);
    spapr_setup(e);
    qvtd_init(&e->td, e->bus, PS_DEVFN);
    return e;
}

/* The machine @src left in @path, loaded by @var's emulator, or NULL */
static SpaprEnv *spapr_load(const char *var, SpaprEnv *src, const char *path)
{
    SpaprEnv *d = g_new0(SpaprEnv, 1);

    d->qts = mig_load(var, PSERIES_ARGS, path);
    if (!d->qts) {
        g_free(d);
        return NULL;
    }
    spapr_setup(d);
    d->td.dev = qpci_device_find(d->bus, PS_DEVFN);
    d->td.bar = src->td.bar;
    return d;
}

static int32_t rtas(SpaprEnv *e, const char *name, int n, const uint32_t *in,
                    int nret, uint32_t *out)
{
    for (int i = 0; i < n; i++) {
        qtest_writel(e->qts, e->rargs + 4 * i, in[i]);
    }
    g_assert_cmpuint(qtest_rtas_call(e->qts, name, n, e->rargs, nret,
                                     e->rrets), ==, 0);
    for (int i = 0; i < nret; i++) {
        out[i] = qtest_readl(e->qts, e->rrets + 4 * i);
    }
    return out[0];
}

/* A DDW of 2^@window_shift bytes of 2^@page_shift pages: its LIOBN */
static uint32_t ddw_create(SpaprEnv *e, uint32_t page_shift,
                           uint32_t window_shift)
{
    uint32_t in[] = { PS_DEVFN << 8, PS_BUID >> 32, (uint32_t)PS_BUID,
                      page_shift, window_shift };
    uint32_t out[4];

    g_assert_cmpint(rtas(e, "ibm,create-pe-dma-window", 5, in, 4, out), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(((uint64_t)out[2] << 32) | out[3], ==, DDW_START);
    return out[1];
}

static void ddw_remove(SpaprEnv *e, uint32_t liobn)
{
    uint32_t out;

    g_assert_cmpint(rtas(e, "ibm,remove-pe-dma-window", 1, &liobn, 1, &out),
                    ==, RTAS_OUT_SUCCESS);
}

static void spapr_stop(SpaprEnv *e)
{
    qvtd_free(&e->td);
    qpci_free_spapr(e->bus);
    alloc_destroy(&e->alloc);
    qtest_quit(e->qts);
    g_free(e);
}

static int64_t hcall(SpaprEnv *e, uint64_t op, int n, const uint64_t *in,
                     uint64_t *out, int nout)
{
    return qtest_spapr_hcall(e->qts, e->hargs, e->hrets, op, n, in, out,
                             nout);
}

static uint64_t get_tce_of(SpaprEnv *e, uint32_t liobn, uint64_t ioba)
{
    uint64_t in[] = { liobn, ioba }, tce = 0xdeadbeef;

    g_assert_cmpint(hcall(e, H_GET_TCE, 2, in, &tce, 1), ==, H_SUCCESS);
    return tce;
}

static uint64_t get_tce(SpaprEnv *e, uint64_t ioba)
{
    return get_tce_of(e, LIOBN_DEFAULT, ioba);
}

/* FILL 8 bytes at bus address @addr; assert they landed at @pa */
static void spapr_fill_lands(SpaprEnv *e, uint64_t addr, uint64_t pa,
                             uint32_t seed)
{
    qtest_writeq(e->qts, pa, 0);
    qvtd_wr(&e->td, R_PATTERN, seed);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, addr, 8), ==, RES_OK);
    assert_filled(e->qts, pa, seed);
}

/*
 * Where the TCEs go in the default window, and what they hold.  H_STUFF_TCE
 * clears, as guests use it: the fork refuses to stuff a mapping, as KVM
 * does (and so upstream under KVM)
 */
static const struct {
    uint64_t ioba;
    uint64_t tce;
} ps_tces[] = {
    { 0x1000, PS_DATA | TCE_RW },               /* H_PUT_TCE */
    { 0x10000, (PS_DATA + 0x1000) | TCE_RW },   /* H_PUT_TCE_INDIRECT */
    { 0x11000, 0 },                             /* ... then H_STUFF_TCE */
    { 0x12000, (PS_DATA + 0x3000) | TCE_RW },
    { 0x13000, (PS_DATA + 0x4000) | TCE_READ },
    { 0x3fff0000, (PS_DATA + 0x5000) | TCE_RW },  /* the last but 15 */
    { 0x2000, 0 },                              /* never set */
    { 0x24000, 0 },
};

static void spapr_put_tces(SpaprEnv *e)
{
    uint64_t list = guest_alloc(&e->alloc, 0x1000);
    uint64_t put1[] = { LIOBN_DEFAULT, 0x1000, PS_DATA | TCE_RW };
    uint64_t indirect[] = { LIOBN_DEFAULT, 0x10000, list, 4 };
    uint64_t stuff[] = { LIOBN_DEFAULT, 0x11000, 0, 1 };
    uint64_t put2[] = { LIOBN_DEFAULT, 0x3fff0000,
                        (PS_DATA + 0x5000) | TCE_RW };

    g_assert_cmpint(hcall(e, H_PUT_TCE, 3, put1, NULL, 0), ==, H_SUCCESS);
    for (int i = 0; i < 4; i++) {
        qtest_writeq(e->qts, list + 8 * i, i == 1 ? (PS_DATA + 0x2000) |
                     TCE_RW : ps_tces[1 + i].tce);
    }
    g_assert_cmpint(hcall(e, H_PUT_TCE_INDIRECT, 4, indirect, NULL, 0), ==,
                    H_SUCCESS);
    g_assert_cmpint(hcall(e, H_STUFF_TCE, 4, stuff, NULL, 0), ==, H_SUCCESS);
    g_assert_cmpint(hcall(e, H_PUT_TCE, 3, put2, NULL, 0), ==, H_SUCCESS);
}

static void spapr_assert_dma(SpaprEnv *e, uint32_t seed)
{
    /* Through the H_PUT_TCE one, and the last of the indirect ones */
    static const uint64_t at[][2] = {
        { 0x1008, PS_DATA + 8 }, { 0x12010, PS_DATA + 0x3010 },
        { 0x3fff0100, PS_DATA + 0x5100 },
    };

    for (int i = 0; i < ARRAY_SIZE(at); i++) {
        qtest_writeq(e->qts, at[i][1], 0);
        qvtd_wr(&e->td, R_PATTERN, seed + i);
        g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, at[i][0], 8), ==, RES_OK);
        assert_filled(e->qts, at[i][1], seed + i);
    }
    /* Read-only: refused for a write; cleared, never set: refused */
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, 0x13000, 8), !=, RES_OK);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, 0x11000, 8), !=, RES_OK);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, 0x2000, 8), !=, RES_OK);
}

/*
 * The default window, TCEs set by every hypercall: the destination's
 * H_GET_TCE answers and DMA are the source's
 */
static void test_pseries_default_window(gconstpointer opaque)
{
    const Direction *dir = opaque;
    g_autofree char *path = mig_path("pseries-default");
    SpaprEnv *e = spapr_start(dir->src, "");
    SpaprEnv *d;

    spapr_put_tces(e);
    for (int i = 0; i < ARRAY_SIZE(ps_tces); i++) {
        g_assert_cmphex(get_tce(e, ps_tces[i].ioba), ==, ps_tces[i].tce);
    }
    spapr_assert_dma(e, 0x1000);
    mig_save(e->qts, path);

    d = spapr_load(dir->dst, e, path);
    g_assert(d);
    for (int i = 0; i < ARRAY_SIZE(ps_tces); i++) {
        g_assert_cmphex(get_tce(d, ps_tces[i].ioba), ==, ps_tces[i].tce);
    }
    spapr_assert_dma(d, 0x2000);
    spapr_stop(d);
    spapr_stop(e);
    unlink(path);
}

/* Where the DDW's 64 KiB TCEs go, and what they hold */
static const struct {
    uint64_t ioba;
    uint64_t tce;
} ddw_tces[] = {
    { DDW_START + 0x10000, (PS_DATA + 0x100000) | TCE_RW },    /* PUT */
    { DDW_START + 0xff0000, (PS_DATA + 0x130000) | TCE_RW },   /* INDIRECT */
    { DDW_START + 0x1000000, (PS_DATA + 0x130000) | TCE_RW },
    { DDW_START + 0x1010000, (PS_DATA + 0x120000) | TCE_READ },
    { DDW_START + 0x1020000, 0 },                   /* ... then STUFF 0 */
    { DDW_START + 0xfffff0000ull, (PS_DATA + 0x140000) | TCE_RW }, /* last */
    { DDW_START, 0 },
};

static void ddw_put_tces(SpaprEnv *e, uint32_t liobn)
{
    uint64_t list = guest_alloc(&e->alloc, 0x1000);
    uint64_t put1[] = { liobn, ddw_tces[0].ioba, ddw_tces[0].tce };
    uint64_t indirect[] = { liobn, ddw_tces[1].ioba, list, 4 };
    uint64_t stuff[] = { liobn, ddw_tces[4].ioba, 0, 1 };
    uint64_t put2[] = { liobn, ddw_tces[5].ioba, ddw_tces[5].tce };

    g_assert_cmpint(hcall(e, H_PUT_TCE, 3, put1, NULL, 0), ==, H_SUCCESS);
    for (int i = 0; i < 4; i++) {
        qtest_writeq(e->qts, list + 8 * i, i == 3 ?
                     (PS_DATA + 0x110000) | TCE_RW : ddw_tces[1 + i].tce);
    }
    g_assert_cmpint(hcall(e, H_PUT_TCE_INDIRECT, 4, indirect, NULL, 0), ==,
                    H_SUCCESS);
    g_assert_cmpint(hcall(e, H_STUFF_TCE, 4, stuff, NULL, 0), ==, H_SUCCESS);
    g_assert_cmpint(hcall(e, H_PUT_TCE, 3, put2, NULL, 0), ==, H_SUCCESS);
}

static void ddw_assert(SpaprEnv *e, uint32_t liobn, uint32_t seed)
{
    for (int i = 0; i < ARRAY_SIZE(ddw_tces); i++) {
        g_assert_cmphex(get_tce_of(e, liobn, ddw_tces[i].ioba), ==,
                        ddw_tces[i].tce);
    }
    spapr_fill_lands(e, ddw_tces[0].ioba + 0x8, PS_DATA + 0x100008, seed);
    spapr_fill_lands(e, ddw_tces[2].ioba + 0xfff8, PS_DATA + 0x13fff8,
                     seed + 0x10);
    spapr_fill_lands(e, ddw_tces[5].ioba + 0x100, PS_DATA + 0x140100,
                     seed + 0x20);
    /* Read-only, cleared, never set */
    for (int i = 3; i <= 4; i++) {
        g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, ddw_tces[i].ioba, 8), !=,
                         RES_OK);
    }
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, ddw_tces[6].ioba, 8), !=,
                     RES_OK);
}

/*
 * One DDW of 64 KiB pages beside the default window, TCEs set by every
 * hypercall: the same answers and DMA on the destination
 */
static void test_pseries_ddw_64k(gconstpointer opaque)
{
    const Direction *dir = opaque;
    g_autofree char *path = mig_path("pseries-ddw");
    SpaprEnv *e = spapr_start(dir->src, "");
    SpaprEnv *d;
    uint32_t liobn = ddw_create(e, 16, 36);

    g_assert_cmphex(liobn, ==, LIOBN_DDW);
    ddw_put_tces(e, liobn);
    spapr_put_tces(e);
    ddw_assert(e, liobn, 0x100);
    mig_save(e->qts, path);

    d = spapr_load(dir->dst, e, path);
    g_assert(d);
    ddw_assert(d, liobn, 0x200);
    for (int i = 0; i < ARRAY_SIZE(ps_tces); i++) {
        g_assert_cmphex(get_tce(d, ps_tces[i].ioba), ==, ps_tces[i].tce);
    }
    spapr_stop(d);
    spapr_stop(e);
    unlink(path);
}

/*
 * The default window removed, a DDW in its place, as Linux does when the
 * query reports no free window: the destination has no default window
 */
static void test_pseries_default_removed(gconstpointer opaque)
{
    const Direction *dir = opaque;
    g_autofree char *path = mig_path("pseries-removed");
    uint64_t in[] = { LIOBN_DEFAULT, 0x1000 }, tce;
    SpaprEnv *e = spapr_start(dir->src, "");
    SpaprEnv *d;
    uint32_t liobn = ddw_create(e, 16, 36);

    ddw_remove(e, LIOBN_DEFAULT);
    ddw_put_tces(e, liobn);
    mig_save(e->qts, path);

    d = spapr_load(dir->dst, e, path);
    g_assert(d);
    g_assert_cmpint(hcall(d, H_GET_TCE, 2, in, &tce, 1), ==, H_PARAMETER);
    ddw_assert(d, liobn, 0x300);
    spapr_stop(d);
    spapr_stop(e);
    unlink(path);
}

/*
 * What only the fork has is refused by upstream, by its name, and the
 * source runs on: a window sent sparse, as a management tool asks for it
 * at run time (qom-set) once it knows the destination
 */
static void test_pseries_fork_only_refused(void)
{
    g_autofree char *path = mig_path("pseries-sparse");
    SpaprEnv *e = spapr_start(ENV_FORK, "");
    uint32_t liobn = ddw_create(e, 16, 36);

    ddw_put_tces(e, liobn);
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'qom-set', 'arguments': "
                             "{ 'path': 'tce-table-80000001', "
                             "'property': 'sparse-migration', "
                             "'value': true } }");
    mig_save(e->qts, path);
    g_assert_null(spapr_load(ENV_REF, e, path));
    g_assert_nonnull(strstr(last_load_error, "spapr_iommu/sparse"));
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'cont' }");
    ddw_assert(e, liobn, 0x400);
    spapr_stop(e);
    unlink(path);
}

/* The same on virt: an SMMU whose guest saw MSIs */
static void test_virt_fork_only_refused(void)
{
    g_autofree char *path = mig_path("virt-msi");
    g_autofree char *args = g_strdup_printf("%s -global arm-smmuv3.msi=on",
                                            VIRT_ARGS);
    VirtEnv *e = g_new0(VirtEnv, 1);

    e->qts = qtest_init_ext(ENV_FORK, args, NULL, true);
    qpci_init_generic(&e->gbus, e->qts, NULL, false);
    qvtd_init(&e->td[0], &e->gbus.bus, DEV0_DEVFN);
    qvtd_init(&e->td[1], &e->gbus.bus, DEV1_DEVFN);
    qsmmu_init(&e->smmu, e->qts, QSMMU_VIRT_BASE);
    mig_save(e->qts, path);
    g_assert_null(virt_load(ENV_REF, e, path));
    g_assert_nonnull(strstr(last_load_error, "smmuv3/fork-idr"));
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'cont' }");
    assert_fill_lands(e, 0, DATA1, DATA1, 0x44444444);
    virt_stop(e);
    unlink(path);
}

static void add(const char *what, const Direction *dir, GTestDataFunc fn)
{
    g_autofree char *name = g_strdup_printf("/upstream-migration/%s/%s",
                                            dir->name, what);

    qtest_add_data_func(name, dir, fn);
}

int main(int argc, char **argv)
{
    const char *arch = qtest_get_arch();
    static const Direction *dirs[] = { &to_fork, &to_upstream };

    g_test_init(&argc, &argv, NULL);
    if (!getenv(ENV_REF)) {
        g_test_skip("no reference emulator: " ENV_REF " is not set");
        return g_test_run();
    }
    for (int i = 0; i < ARRAY_SIZE(dirs); i++) {
        if (!strcmp(arch, "aarch64")) {
            add("virt/smmu-off", dirs[i], test_virt_smmu_off);
            add("virt/smmu-busy", dirs[i], test_virt_smmu_busy);
        } else if (!strcmp(arch, "ppc64")) {
            add("pseries/default-window", dirs[i],
                test_pseries_default_window);
            add("pseries/ddw-64k", dirs[i], test_pseries_ddw_64k);
            add("pseries/default-window-removed", dirs[i],
                test_pseries_default_removed);
        }
    }
    if (!strcmp(arch, "aarch64")) {
        qtest_add_func("/upstream-migration/fork-to-upstream/virt/"
                       "fork-only-refused", test_virt_fork_only_refused);
    } else if (!strcmp(arch, "ppc64")) {
        qtest_add_func("/upstream-migration/fork-to-upstream/pseries/"
                       "fork-only-refused", test_pseries_fork_only_refused);
    }
    return g_test_run();
}
