/*
 * qtests for the fork's Arm SMMUv3, through viommu-testdev
 *
 * Every test builds its structures in guest memory, has the test device
 * DMA, and asserts the exact outcome: the bytes at the translated address,
 * the test device's result, the 32-byte event record, GERROR, the MSI
 * written.  Encodings are written out here from the SMMUv3 architecture
 * (IHI 0070) and VMSAv8-64, not taken from the model.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/bitops.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"
#include "libqos/smmuv3.h"
#include "libqos/viommu-testdev-pci.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"

#define RAM_BASE            0x40000000ull
#define RAM_SIZE            0x20000000ull
#define GICD_BASE           0x08000000ull
/* virt's SMMU: SPIs 74..77, GIC interrupts 106..109 */
#define SMMU_GIC_IRQ(n)     (32 + 74 + (n))

#define DEV0_DEVFN          QPCI_DEVFN(4, 0)
#define DEV1_DEVFN          QPCI_DEVFN(5, 0)
#define SID0                DEV0_DEVFN
#define SID1                DEV1_DEVFN

/* Guest memory */
#define STRTAB              (RAM_BASE + 0x1000000)
#define STRTAB_LOG2         6
#define EVENTQ              (RAM_BASE + 0x1010000)
#define EVENTQ_LOG2         4
#define CMDQ                (RAM_BASE + 0x1020000)
#define CMDQ_LOG2           6
#define CD0                 (RAM_BASE + 0x1030000)
#define CD1                 (RAM_BASE + 0x1030040)
#define MSI_SLOT            (RAM_BASE + 0x1040000)
#define PT_POOL             (RAM_BASE + 0x1100000)
#define PT_POOL2            (RAM_BASE + 0x1800000)
#define PT_POOL_SIZE        0x400000ull
#define NOWHERE             0x80000000000ull    /* no RAM, within 44 bits */
#define STRTAB_L2           (RAM_BASE + 0x2000000)
#define DATA                (RAM_BASE + 0x4000000)

/* In nested tests, stage 2 puts RAM at IPA RAM_BASE + NESTED_OFFSET */
#define NESTED_OFFSET       0x40000000ull

/* Event record fields (word 1) */
#define EVT1_PNU            (1ull << 33)
#define EVT1_IND            (1ull << 34)
#define EVT1_RNW            (1ull << 35)
#define EVT1_S2             (1ull << 39)
#define EVT1_CLASS(c)       ((uint64_t)(c) << 40)
#define EVT1_TTRNW          (1ull << 44)
#define CLASS_CD            0
#define CLASS_TT            1
#define CLASS_IN            2

typedef struct Env {
    QTestState *qts;
    QGenericPCIBus gbus;
    QViommuTestdev td[3];   /* the third on a pxb-pcie, if pxb_setup() */
    QSMMUv3 smmu;
} Env;

/*
 * The machine's SMMU (iommu=smmuv3), or with @smmu_args one created with
 * -device: the platform bus maps it at its start
 */
#define USER_SMMU_BASE      0x0c000000ull

/*
 * The features upstream's SMMUv3 lacks are off by default; the cases run
 * with them on, but for those that check the defaults (UPSTREAM_IDR)
 */
#define FORK_FEATURES       "-global arm-smmuv3.msi=on " \
                            "-global arm-smmuv3.hyp=on " \
                            "-global arm-smmuv3.attr-perms-ovr=on "
#define UPSTREAM_IDR        "-global arm-smmuv3.msi=off " \
                            "-global arm-smmuv3.hyp=off " \
                            "-global arm-smmuv3.attr-perms-ovr=off "

static Env *env_start_smmu(const char *smmu_args, const char *extra)
{
    Env *e = g_new0(Env, 1);

    e->qts = qtest_initf("-M virt%s -cpu max -m 512M -nodefaults %s "
                         "-device viommu-testdev,bus=pcie.0,addr=4.0 "
                         "-device viommu-testdev,bus=pcie.0,addr=5.0 "
                         FORK_FEATURES "%s",
                         smmu_args ? "" : ",iommu=smmuv3",
                         smmu_args ? smmu_args : "", extra);
    qpci_init_generic(&e->gbus, e->qts, NULL, false);
    qvtd_init(&e->td[0], &e->gbus.bus, DEV0_DEVFN);
    qvtd_init(&e->td[1], &e->gbus.bus, DEV1_DEVFN);
    qsmmu_init(&e->smmu, e->qts, smmu_args ? USER_SMMU_BASE : QSMMU_VIRT_BASE);
    return e;
}

static Env *env_start(const char *extra)
{
    return env_start_smmu(NULL, extra);
}

/* Stream table, event and command queues, SMMU on */
static Env *env_start_enabled(void)
{
    Env *e = env_start("");

    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qsmmu_setup_cmdq(&e->smmu, CMDQ, CMDQ_LOG2);
    return e;
}

static void env_stop(Env *e)
{
    for (int i = 0; i < ARRAY_SIZE(e->td); i++) {
        if (e->td[i].dev) {
            qvtd_free(&e->td[i]);
        }
    }
    qtest_quit(e->qts);
    g_free(e);
}

/* ---- translation tables ---- */

typedef struct PT {
    QTestState *qts;
    bool s2;
    unsigned gshift;        /* granule: 12, 14 or 16 */
    unsigned ia_bits;
    int start;              /* start level */
    uint64_t root;          /* PA of the start table */
    uint64_t next, end;     /* the pool tables come from */
    uint64_t addr_offset;   /* added to table addresses in descriptors */
} PT;

/* Descriptor options */
#define PT_RO           (1u << 0)   /* stage 1 AP[2], stage 2 no S2AP[1] */
#define PT_PRIV_ONLY    (1u << 1)   /* stage 1: AP[1] clear */
#define PT_XN           (1u << 2)   /* UXN (stage 1), XN (stage 2) */
#define PT_NO_AF        (1u << 3)
#define PT_NO_READ      (1u << 4)   /* stage 2: no S2AP[0] */
#define PT_GLOBAL       (1u << 5)   /* stage 1: nG clear */
#define PT_PXN          (1u << 6)   /* stage 1: PXN */

static unsigned lvl_shift(const PT *pt, int level)
{
    return pt->gshift + (pt->gshift - 3) * (3 - level);
}

static uint64_t pt_alloc(PT *pt, uint64_t size)
{
    uint64_t align = MAX(size, 1ull << pt->gshift);
    uint64_t t = ROUND_UP(pt->next, align);

    g_assert_cmphex(t + align, <=, pt->end);
    pt->next = t + align;
    qtest_memset(pt->qts, t, 0, align);
    return t;
}

static void pt_init(PT *pt, QTestState *qts, bool s2, unsigned gshift,
                    unsigned ia_bits, int start, uint64_t pool)
{
    *pt = (PT) {
        .qts = qts, .s2 = s2, .gshift = gshift, .ia_bits = ia_bits,
        .start = start, .next = pool, .end = pool + PT_POOL_SIZE,
    };
    pt->root = pt_alloc(pt, 8ull << (ia_bits - lvl_shift(pt, start)));
}

static uint64_t pt_index(const PT *pt, uint64_t ia, int level)
{
    unsigned bits = level == pt->start ? pt->ia_bits - lvl_shift(pt, level)
                                       : pt->gshift - 3;

    return (ia >> lvl_shift(pt, level)) & ((1ull << bits) - 1);
}

/* The slot of @level's descriptor for @ia, making tables on the way */
static uint64_t pt_slot(PT *pt, uint64_t ia, int level)
{
    uint64_t table = pt->root;

    for (int l = pt->start; l < level; l++) {
        uint64_t slot = table + pt_index(pt, ia, l) * 8;
        uint64_t desc = qtest_readq(pt->qts, slot);

        if (!(desc & 1)) {
            uint64_t next = pt_alloc(pt, 1ull << pt->gshift);

            qtest_writeq(pt->qts, slot, (next + pt->addr_offset) | 3);
            table = next;
        } else {
            g_assert(desc & 2);
            table = (desc & 0x0000fffffffff000ull) - pt->addr_offset;
        }
    }
    return table + pt_index(pt, ia, level) * 8;
}

static uint64_t pt_desc(const PT *pt, uint64_t out, int level, unsigned opts)
{
    uint64_t desc = out | 1 | (level == 3 ? 2 : 0) | (3ull << 8);

    if (!(opts & PT_NO_AF)) {
        desc |= 1ull << 10;
    }
    if (pt->s2) {
        desc |= 0xfull << 2;                        /* MemAttr: WB */
        desc |= (opts & PT_NO_READ) ? 0 : 1ull << 6;
        desc |= (opts & PT_RO) ? 0 : 1ull << 7;
        desc |= (opts & PT_XN) ? 1ull << 54 : 0;
    } else {
        desc |= (opts & PT_PRIV_ONLY) ? 0 : 1ull << 6;
        desc |= (opts & PT_RO) ? 1ull << 7 : 0;
        desc |= (opts & PT_XN) ? 1ull << 54 : 0;
        desc |= (opts & PT_PXN) ? 1ull << 53 : 0;
        desc |= (opts & PT_GLOBAL) ? 0 : 1ull << 11;    /* nG */
    }
    return desc;
}

/* Table descriptor attributes, stage 1: the bits of the table descriptor */
#define TD_PXNTABLE         (1ull << 59)
#define TD_UXNTABLE         (1ull << 60)
#define TD_APTABLE_NO_EL0   (1ull << 61)
#define TD_APTABLE_RO       (1ull << 62)

/* OR @bits into the table descriptor of @level that leads to @ia */
static void pt_table_bits(PT *pt, uint64_t ia, int level, uint64_t bits)
{
    uint64_t slot = pt_slot(pt, ia, level);

    g_assert_cmphex(qtest_readq(pt->qts, slot) & 3, ==, 3);
    qtest_writeq(pt->qts, slot, qtest_readq(pt->qts, slot) | bits);
}

/* Map the block of @level holding @ia to @out */
static void pt_map(PT *pt, uint64_t ia, uint64_t out, int level,
                   unsigned opts)
{
    uint64_t mask = (1ull << lvl_shift(pt, level)) - 1;

    qtest_writeq(pt->qts, pt_slot(pt, ia, level),
                 pt_desc(pt, out & ~mask, level, opts));
}

/* Rewrite the leaf of @level for @ia to @out (no TLBI) */
#define pt_remap pt_map

/* ---- CDs and STEs ---- */

typedef struct CDParams {
    uint64_t ttb0;
    unsigned t0sz;
    unsigned tg0;       /* CD.TG0 encoding: 0 4K, 1 64K, 2 16K */
    unsigned ips;       /* CD.IPS encoding */
    uint16_t asid;
    bool no_record;
    bool tbi0;
    bool invalid;
    bool aarch32;
    /* TTB1, used when ttb1 is set; CD.TG1 encoding: 2 4K */
    uint64_t ttb1;
    unsigned t1sz;
    unsigned tg1;
    bool tbi1;
    bool epd0;
    bool wxn;
    bool pan;
    bool affd;
    bool no_a;          /* CD.A clear: terminate RAZ/WI rather than abort */
    bool ha;
    bool hd;
} CDParams;

static void write_cd(QTestState *qts, uint64_t addr, const CDParams *p)
{
    uint64_t cd[8] = { 0 };

    cd[0] = p->t0sz | ((uint64_t)p->tg0 << 6) |
            (p->epd0 ? 1ull << 14 : 0) | ((uint64_t)p->t1sz << 16) |
            ((uint64_t)p->tg1 << 22) | (p->ttb1 ? 0 : 1ull << 30) |
            (p->invalid ? 0 : 1ull << 31) | ((uint64_t)p->ips << 32) |
            (p->affd ? 1ull << 35 : 0) | (p->wxn ? 1ull << 36 : 0) |
            (p->tbi0 ? 1ull << 38 : 0) | (p->tbi1 ? 1ull << 39 : 0) |
            (p->pan ? 1ull << 40 : 0) | (p->aarch32 ? 0 : 1ull << 41) |
            (p->hd ? 1ull << 42 : 0) | (p->ha ? 1ull << 43 : 0) |
            (p->no_record ? 0 : 1ull << 45) | (p->no_a ? 0 : 1ull << 46) |
            ((uint64_t)p->asid << 48);
    cd[1] = p->ttb0;
    cd[2] = p->ttb1;
    for (int i = 0; i < 8; i++) {
        cd[i] = cpu_to_le64(cd[i]);
    }
    qtest_memwrite(qts, addr, cd, sizeof(cd));
}

/* A stage 1 CD over a 48-bit VA space with a 4K granule */
static void write_cd_4k(QTestState *qts, uint64_t addr, uint64_t ttb0,
                        uint16_t asid)
{
    CDParams p = { .ttb0 = ttb0, .t0sz = 16, .tg0 = 0, .ips = 5,
                   .asid = asid };

    write_cd(qts, addr, &p);
}

#define CR2_E2H             (1u << 0)
#define CR2_RECINVSID       (1u << 1)

#define STE0_V              1ull
#define STE0_CFG(c)         ((uint64_t)(c) << 1)
#define STE_CFG_ABORT       0
#define STE_CFG_BYPASS      4
#define STE_CFG_S1          5
#define STE_CFG_S2          6
#define STE_CFG_NESTED      7
#define STE1_S1STALLD       (1ull << 27)
#define STE1_STRW(v)        ((uint64_t)(v) << 30)
#define STE1_PRIVCFG(v)     ((uint64_t)(v) << 48)
#define STE1_INSTCFG(v)     ((uint64_t)(v) << 50)
#define STRW_EL1            0
#define STRW_SECURE         1
#define STRW_EL2            2

static void ste_s1(QSMMUv3 *s, uint32_t sid, uint64_t cd, uint64_t w1)
{
    const uint64_t ste[8] = { STE0_V | STE0_CFG(STE_CFG_S1) | cd, w1 };

    qsmmu_ste_raw(s, sid, ste);
}

/* Stage 2 STE word 2: VMID, T0SZ, SL0, TG, PS 48 bits, AArch64, record */
static uint64_t ste2_s2(uint16_t vmid, unsigned ia_bits, unsigned sl0,
                        unsigned s2tg)
{
    return vmid | ((uint64_t)(64 - ia_bits) << 32) | ((uint64_t)sl0 << 38) |
           ((uint64_t)s2tg << 46) | (5ull << 48) | (1ull << 51) |
           (1ull << 58);
}

static void ste_s2(QSMMUv3 *s, uint32_t sid, uint64_t cfg, uint64_t cd,
                   uint64_t w2, uint64_t vttb)
{
    const uint64_t ste[8] = { STE0_V | STE0_CFG(cfg) | cd, 0, w2, vttb };

    qsmmu_ste_raw(s, sid, ste);
}

/* Stage 2 STE word 2 with another S2PS (encoding) than 48 bits */
static uint64_t ste2_ps(uint64_t w2, unsigned ps)
{
    return (w2 & ~(7ull << 48)) | ((uint64_t)ps << 48);
}

/* ---- outcomes ---- */

static void assert_event(Env *e, unsigned idx, uint64_t w0, uint64_t w1,
                         uint64_t w2, uint64_t w3)
{
    uint64_t evt[4];

    qsmmu_event(&e->smmu, idx, evt);
    g_assert_cmphex(evt[0], ==, w0);
    g_assert_cmphex(evt[1], ==, w1);
    g_assert_cmphex(evt[2], ==, w2);
    g_assert_cmphex(evt[3], ==, w3);
}

static uint32_t evtq_prod(Env *e)
{
    return qsmmu_readl(&e->smmu, SMMU_EVENTQ_PROD);
}

static uint64_t evt0(uint32_t type, uint32_t sid)
{
    return type | ((uint64_t)sid << 32);
}

/* FILL 8 bytes of a fresh pattern at @iova; the result */
static uint32_t fill8(Env *e, int dev, uint64_t iova, uint32_t seed)
{
    qvtd_wr(&e->td[dev], R_PATTERN, seed);
    return qvtd_run(&e->td[dev], OP_FILL, iova, 8);
}

/* FILL 8 bytes at @iova and assert they landed at @pa, and only there */
static void assert_fill_lands(Env *e, int dev, uint64_t iova, uint64_t pa)
{
    static uint32_t seed = 0x10203040;

    seed += 0x01010101;
    qtest_writeq(e->qts, pa - 8, 0);
    qtest_writeq(e->qts, pa, 0);
    qtest_writeq(e->qts, pa + 8, 0);
    g_assert_cmpuint(fill8(e, dev, iova, seed), ==, RES_OK);
    qvtd_assert_outcome(&e->td[dev], 0, 0, 8);
    g_assert_cmphex(qtest_readq(e->qts, pa), ==,
                    (uint64_t)seed | (uint64_t)(seed + 1) << 32);
    g_assert_cmphex(qtest_readq(e->qts, pa - 8), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, pa + 8), ==, 0);
}

/* FILL 8 bytes at @iova and assert the SMMU refused it */
static void assert_fill_refused(Env *e, int dev, uint64_t iova,
                                uint32_t result)
{
    g_assert_cmpuint(fill8(e, dev, iova, 0x5a5a5a5a), ==, result);
    qvtd_assert_outcome(&e->td[dev], MEMTX_DECODE_ERROR, iova, 0);
}

/* ---- registers ---- */

static void test_idr(void)
{
    Env *e = env_start("");

    /*
     * virt asks for stage 1 and 2 (nested); no SEV (bit 14): nothing here
     * sends wake-up events
     */
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR0), ==,
                    (1u << 0) | (1u << 1) | (2u << 2) | (1u << 4) |
                    (1u << 9) | (1u << 12) | (1u << 13) |
                    (1u << 18) | (2u << 21) | (1u << 24) | (1u << 26) |
                    (1u << 27));
    /* ATTR_PERMS_OVR: STE.PRIVCFG and INSTCFG are honoured */
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR1), ==,
                    16 | (19u << 16) | (19u << 21) | (1u << 26));
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR3), ==, 1u << 10);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR5), ==,
                    4 | (1u << 4) | (1u << 5) | (1u << 6));
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_AIDR), ==, 2);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_GBPA), ==, 0x1000);
    g_assert_cmphex(qsmmu_readl(&e->smmu, 0xff0), ==, 0x0d);
    g_assert_cmphex(qsmmu_readl(&e->smmu, 0xffc), ==, 0xb1);
    env_stop(e);
}

/*
 * By default, upstream QEMU 10.2's SMMUv3 as a guest sees it, but for
 * what this model does not implement (HAD, XNX, BBML) and AIDR: no HYP,
 * no MSI, no ATTR_PERMS_OVR
 */
static void test_idr_upstream_defaults(void)
{
    Env *e = env_start(UPSTREAM_IDR);

    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR0), ==,
                    (1u << 0) | (1u << 1) | (2u << 2) | (1u << 4) |
                    (1u << 12) | (1u << 18) | (2u << 21) | (1u << 24) |
                    (1u << 26) | (1u << 27));
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR1), ==,
                    16 | (19u << 16) | (19u << 21));
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR3), ==, 1u << 10);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR5), ==,
                    4 | (1u << 4) | (1u << 5) | (1u << 6));
    env_stop(e);
}

static void test_properties(void)
{
    Env *e = env_start("-global arm-smmuv3.ril=off -global arm-smmuv3.oas=48");

    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR3), ==, 0);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR5) & 7, ==, 5);
    env_stop(e);
}

static void test_cr0_gbpa_regs(void)
{
    Env *e = env_start("");
    QSMMUv3 *s = &e->smmu;

    qsmmu_writel(s, SMMU_CR0, 0xffffffff);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CR0), ==, 0xd);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CR0ACK), ==, 0xd);
    /* Tables cannot move under an enabled SMMU */
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE, 0x12340000);
    g_assert_cmphex(qtest_readq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE),
                    ==, 0);
    qsmmu_writel(s, SMMU_CR0, 0);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CR0ACK), ==, 0);
    /* 64-bit registers: one access, or two halves */
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE,
                 0x4000001234567fc0ull);
    g_assert_cmphex(qsmmu_readl(s, SMMU_STRTAB_BASE), ==, 0x34567fc0);
    g_assert_cmphex(qsmmu_readl(s, SMMU_STRTAB_BASE + 4), ==, 0x40000012);
    qsmmu_writel(s, SMMU_STRTAB_BASE + 4, 0x9);
    g_assert_cmphex(qtest_readq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE),
                    ==, 0x934567fc0ull);
    /* Bits outside ADDR and RA read as zero */
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE, UINT64_MAX);
    g_assert_cmphex(qtest_readq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE),
                    ==, 0x400fffffffffffc0ull);
    /* GBPA changes only with UPDATE, which reads back as 0 */
    qsmmu_writel(s, SMMU_GBPA, SMMU_GBPA_ABORT);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GBPA), ==, 0x1000);
    qsmmu_writel(s, SMMU_GBPA, SMMU_GBPA_UPDATE | SMMU_GBPA_ABORT);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GBPA), ==, SMMU_GBPA_ABORT);
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    qsmmu_writel(s, SMMU_GBPA, SMMU_GBPA_UPDATE);
    assert_fill_lands(e, 0, DATA, DATA);
    env_stop(e);
}

/* ---- stage 1 ---- */

static void test_s1_4k_page(void)
{
    Env *e = env_start_enabled();
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, 0x123456789000ull, DATA + 0x5000, 3, 0);
    write_cd_4k(e->qts, CD0, pt.root, 1);
    ste_s1(&e->smmu, SID0, CD0, 0);
    assert_fill_lands(e, 0, 0x123456789010ull, DATA + 0x5010);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/* One granule, a block or page at @level: DMA lands at the block offset */
static void check_s1_block(unsigned gshift, unsigned tg0, int level,
                           uint64_t iova, uint64_t pa, uint64_t offset)
{
    Env *e = env_start_enabled();
    CDParams cd = { .t0sz = 16, .tg0 = tg0, .ips = 5, .asid = 3 };
    unsigned stride = gshift - 3;
    int start = 4 - DIV_ROUND_UP(48 - gshift, stride);
    PT pt;

    pt_init(&pt, e->qts, false, gshift, 48, start, PT_POOL);
    pt_map(&pt, iova, pa, level, 0);
    cd.ttb0 = pt.root;
    write_cd(e->qts, CD0, &cd);
    ste_s1(&e->smmu, SID0, CD0, 0);
    assert_fill_lands(e, 0, iova + offset, pa + offset);
    /* The block ends where it should */
    assert_fill_refused(e, 0, iova + (1ull << lvl_shift(&pt, level)),
                        RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    env_stop(e);
}

static void test_s1_4k_block_2m(void)
{
    check_s1_block(12, 0, 2, 0x7f8040000000ull + 0x600000, RAM_BASE + 0x400000,
                   0x1ff0f0);
}

static void test_s1_4k_block_1g(void)
{
    check_s1_block(12, 0, 1, 0x40000000ull * 5, RAM_BASE, 0x1234560);
}

static void test_s1_16k_page(void)
{
    check_s1_block(14, 2, 3, 0x5555554000ull, DATA + 0xc000, 0x3ff8);
}

static void test_s1_16k_block_32m(void)
{
    check_s1_block(14, 2, 2, 0x2000000ull * 7, RAM_BASE + 0x6000000,
                   0x1abcde8);
}

static void test_s1_64k_page(void)
{
    check_s1_block(16, 1, 3, 0xabcd0000ull << 4, DATA + 0x30000, 0xfff8);
}

static void test_s1_64k_block_512m(void)
{
    check_s1_block(16, 1, 2, 0x20000000ull * 9, RAM_BASE, 0x1fedcba8);
}

/* ---- stage 2 and nested ---- */

static void check_s2(unsigned gshift, unsigned s2tg, unsigned ia_bits,
                     unsigned sl0, int start, uint64_t ipa)
{
    Env *e = env_start_enabled();
    PT pt;

    pt_init(&pt, e->qts, true, gshift, ia_bits, start, PT_POOL);
    pt_map(&pt, ipa, DATA + 0x20000, 3, 0);
    ste_s2(&e->smmu, SID0, STE_CFG_S2, 0, ste2_s2(7, ia_bits, sl0, s2tg),
           pt.root);
    assert_fill_lands(e, 0, ipa + 0x88, DATA + 0x20088);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

static void test_s2_4k(void)
{
    /* 44-bit IPA from level 0 */
    check_s2(12, 0, 44, 2, 0, 0xabc12345000ull);
}

static void test_s2_4k_concatenated(void)
{
    /* 40-bit IPA from level 1: two concatenated level 1 tables */
    check_s2(12, 0, 40, 1, 1, 0x8123456000ull);
}

static void test_s2_16k(void)
{
    check_s2(14, 2, 40, 2, 1, 0x7654320000ull);
}

static void test_s2_64k(void)
{
    check_s2(16, 1, 40, 1, 2, 0x5555550000ull);
}

/*
 * Nested: stage 2 maps IPA RAM_BASE + NESTED_OFFSET onwards to RAM with
 * one 1G block; the CD and stage 1 tables are read at their IPAs.
 */
static void setup_nested(Env *e, PT *s1, PT *s2, bool map_s1_tables)
{
    CDParams cd = { .t0sz = 16, .tg0 = 0, .ips = 5, .asid = 9 };

    pt_init(s2, e->qts, true, 12, 40, 1, PT_POOL2);
    pt_map(s2, RAM_BASE + NESTED_OFFSET, RAM_BASE, 1, 0);
    if (!map_s1_tables) {
        /* Only the CD's and the data's 2M at their IPAs */
        qtest_writeq(e->qts, s2->root + 8 * ((RAM_BASE + NESTED_OFFSET) >> 30),
                     0);
        pt_map(s2, CD0 + NESTED_OFFSET, CD0, 2, 0);
        pt_map(s2, DATA + NESTED_OFFSET, DATA, 2, 0);
    }
    /* Without the whole RAM mapped, the stage 1 tables lie outside */
    pt_init(s1, e->qts, false, 12, 48, 0,
            map_s1_tables ? PT_POOL : RAM_BASE + 0x2000000);
    s1->addr_offset = NESTED_OFFSET;
    pt_map(s1, 0x10000000, DATA + NESTED_OFFSET + 0x3000, 3, 0);
    cd.ttb0 = s1->root + NESTED_OFFSET;
    write_cd(e->qts, CD0, &cd);
    ste_s2(&e->smmu, SID0, STE_CFG_NESTED, CD0 + NESTED_OFFSET,
           ste2_s2(5, 40, 1, 0), s2->root);
}

static void test_nested_4k(void)
{
    Env *e = env_start_enabled();
    PT s1, s2;

    setup_nested(e, &s1, &s2, true);
    assert_fill_lands(e, 0, 0x10000100, DATA + 0x3100);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/*
 * A stage 1 table read that stage 2 does not map: S2, CLASS TT, and
 * TTRnW set, as the access stage 2 refused was a read
 */
static void test_nested_s2_fault_on_table_walk(void)
{
    Env *e = env_start_enabled();
    PT s1, s2;

    setup_nested(e, &s1, &s2, false);
    assert_fill_refused(e, 0, 0x10000100, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    assert_event(e, 0, evt0(0x10, SID0),
                 EVT1_S2 | EVT1_CLASS(CLASS_TT) | EVT1_TTRNW, 0x10000100,
                 s1.root + NESTED_OFFSET);
    env_stop(e);
}

/* ---- stream table ---- */

static void test_strtab_2lvl(void)
{
    Env *e = env_start("");
    QSMMUv3 *s = &e->smmu;
    uint64_t l1 = STRTAB, l2 = STRTAB_L2;
    PT pt;

    /* SPLIT 8, 16-bit StreamIDs; bus 0's L2 table has 2^(6-1) STEs */
    qtest_memset(e->qts, l1, 0, 256 * 8);
    qtest_memset(e->qts, l2, 0, 32 * 64);
    qtest_writeq(e->qts, l1, l2 | 6);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE, l1);
    qsmmu_writel(s, SMMU_STRTAB_CFG, (1u << 16) | (8u << 6) | 16);
    qsmmu_writel(s, SMMU_CR2, CR2_RECINVSID);
    qtest_memset(e->qts, EVENTQ, 0, 32 << EVENTQ_LOG2);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_EVENTQ_BASE,
                 EVENTQ | EVENTQ_LOG2);
    s->eventq = EVENTQ;
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, 0x4000, DATA + 0x7000, 3, 0);
    write_cd_4k(e->qts, CD0, pt.root, 1);
    /* SID 0x20 is beyond the span (32 STEs): C_BAD_STREAMID */
    assert_fill_refused(e, 0, 0x4000, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x02, SID0), 0, 0, 0);
    /* Span 7 covers 64 STEs */
    qtest_writeq(e->qts, l1, l2 | 7);
    qtest_memset(e->qts, l2 + 32 * 64, 0, 32 * 64);
    {
        const uint64_t ste[8] = { STE0_V | STE0_CFG(STE_CFG_S1) | CD0 };

        for (int i = 0; i < 8; i++) {
            qtest_writeq(e->qts, l2 + SID0 * 64 + i * 8, ste[i]);
        }
    }
    assert_fill_lands(e, 0, 0x4008, DATA + 0x7008);
    env_stop(e);
}

static void test_ste_bypass_and_abort(void)
{
    Env *e = env_start_enabled();
    const uint64_t bypass[8] = { STE0_V | STE0_CFG(STE_CFG_BYPASS) };
    const uint64_t abort[8] = { STE0_V | STE0_CFG(STE_CFG_ABORT) };

    qsmmu_ste_raw(&e->smmu, SID0, bypass);
    qsmmu_ste_raw(&e->smmu, SID1, abort);
    assert_fill_lands(e, 0, DATA + 0x100, DATA + 0x100);
    assert_fill_lands(e, 0, DATA + 0x200, DATA + 0x200);
    assert_fill_refused(e, 1, DATA + 0x300, RES_TRANSLATION_FAULT);
    /* An aborting STE records nothing */
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/* A changed STE is used after CFGI_STE */
static void test_cfgi_ste(void)
{
    Env *e = env_start_enabled();
    const uint64_t bypass[8] = { STE0_V | STE0_CFG(STE_CFG_BYPASS) };
    PT pt;

    qsmmu_ste_raw(&e->smmu, SID0, bypass);
    assert_fill_lands(e, 0, DATA + 0x40, DATA + 0x40);
    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, DATA, DATA + 0x9000, 3, 0);
    write_cd_4k(e->qts, CD0, pt.root, 1);
    ste_s1(&e->smmu, SID0, CD0, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID0 << 32), 0);
    assert_fill_lands(e, 0, DATA + 0x48, DATA + 0x9048);
    env_stop(e);
}

static void test_tbi(void)
{
    Env *e = env_start_enabled();
    CDParams cd = { .t0sz = 16, .tg0 = 0, .ips = 5, .asid = 1, .tbi0 = true };
    uint64_t tagged = 0x5a00000012345000ull;
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, 0x12345000, DATA + 0x2000, 3, 0);
    cd.ttb0 = pt.root;
    write_cd(e->qts, CD0, &cd);
    ste_s1(&e->smmu, SID0, CD0, 0);
    assert_fill_lands(e, 0, tagged + 0x18, DATA + 0x2018);
    /* Without TBI the top byte is part of the address: out of range */
    cd.tbi0 = false;
    write_cd(e->qts, CD0, &cd);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_CD | ((uint64_t)SID0 << 32), 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ALL, 0);
    assert_fill_refused(e, 0, tagged + 0x18, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN), tagged + 0x18,
                 0);
    env_stop(e);
}

/* ---- permissions ---- */

/* A stage 1 mapping of DATA at IOVA 0x10000000 with @opts, for SID0 */
static Env *env_s1_page(unsigned opts, uint64_t ste_w1, bool record)
{
    Env *e = env_start_enabled();
    CDParams cd = { .t0sz = 16, .tg0 = 0, .ips = 5, .asid = 1,
                    .no_record = !record };
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, 0x10000000, DATA, 3, opts);
    cd.ttb0 = pt.root;
    write_cd(e->qts, CD0, &cd);
    ste_s1(&e->smmu, SID0, CD0, ste_w1);
    return e;
}

static void test_perm_readonly_write(void)
{
    Env *e = env_s1_page(PT_RO, 0, true);

    g_assert_cmpuint(qvtd_run(&e->td[0], OP_READ, 0x10000000, 16), ==,
                     RES_OK);
    /* The device asks again, without a record: a permission fault */
    assert_fill_refused(e, 0, 0x10000010, RES_PERMISSION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    assert_event(e, 0, evt0(0x13, SID0), EVT1_CLASS(CLASS_IN), 0x10000010,
                 0);
    env_stop(e);
}

static void test_perm_unpriv_to_priv_page(void)
{
    Env *e = env_s1_page(PT_PRIV_ONLY, 0, true);

    /*
     * A PCIe request without PASID is unprivileged.  It has no access to
     * the page at all, which is all the test device can learn: it says
     * TRANSLATION_FAULT; the record says F_PERMISSION.
     */
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_READ, 0x10000040, 8), ==,
                     RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x13, SID0), EVT1_RNW | EVT1_CLASS(CLASS_IN),
                 0x10000040, 0);
    env_stop(e);

    /* STE.PRIVCFG = privileged: allowed */
    e = env_s1_page(PT_PRIV_ONLY, STE1_PRIVCFG(3), true);
    assert_fill_lands(e, 0, 0x10000048, DATA + 0x48);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

static void test_perm_instruction_fetch_xn(void)
{
    /*
     * STE.INSTCFG = instruction: every read is an instruction fetch, which
     * an XN page refuses; the page stays writable
     */
    Env *e = env_s1_page(PT_XN, STE1_INSTCFG(3), true);

    g_assert_cmpuint(qvtd_run(&e->td[0], OP_READ, 0x10000080, 8), ==,
                     RES_PERMISSION_FAULT);
    assert_event(e, 0, evt0(0x13, SID0),
                 EVT1_IND | EVT1_RNW | EVT1_CLASS(CLASS_IN), 0x10000080, 0);
    env_stop(e);

    /* The same page without XN executes */
    e = env_s1_page(0, STE1_INSTCFG(3), true);
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_READ, 0x10000080, 8), ==,
                     RES_OK);
    env_stop(e);
}

static void test_perm_s2_class(void)
{
    Env *e = env_start_enabled();
    PT pt;

    pt_init(&pt, e->qts, true, 12, 44, 0, PT_POOL);
    pt_map(&pt, 0x20000000, DATA, 3, PT_RO);
    ste_s2(&e->smmu, SID0, STE_CFG_S2, 0, ste2_s2(3, 44, 2, 0), pt.root);
    assert_fill_refused(e, 0, 0x20000008, RES_PERMISSION_FAULT);
    assert_event(e, 0, evt0(0x13, SID0), EVT1_S2 | EVT1_CLASS(CLASS_IN),
                 0x20000008, 0x20000000);
    env_stop(e);
}

/* ---- faults ---- */

static void test_fault_translation(void)
{
    Env *e = env_s1_page(0, 0, true);

    assert_fill_refused(e, 0, 0x10001000, RES_TRANSLATION_FAULT);
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_READ, 0x10002008, 8), ==,
                     RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 2);
    assert_event(e, 0, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN), 0x10001000,
                 0);
    assert_event(e, 1, evt0(0x10, SID0), EVT1_RNW | EVT1_CLASS(CLASS_IN),
                 0x10002008, 0);
    env_stop(e);
}

static void test_fault_not_recorded_when_cd_r_clear(void)
{
    Env *e = env_s1_page(0, 0, false);

    assert_fill_refused(e, 0, 0x10001000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

static void test_fault_addr_size(void)
{
    Env *e = env_start_enabled();
    CDParams cd = { .t0sz = 16, .tg0 = 0, .ips = 0 /* 32 bits */, .asid = 1 };
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, 0x10000000, 0x123450000ull, 3, 0);
    cd.ttb0 = pt.root;
    write_cd(e->qts, CD0, &cd);
    ste_s1(&e->smmu, SID0, CD0, 0);
    assert_fill_refused(e, 0, 0x10000000, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x11, SID0), EVT1_CLASS(CLASS_IN), 0x10000000,
                 0);
    env_stop(e);
}

static void test_fault_access_flag(void)
{
    Env *e = env_s1_page(PT_NO_AF, 0, true);

    assert_fill_refused(e, 0, 0x10000020, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x12, SID0), EVT1_CLASS(CLASS_IN), 0x10000020,
                 0);
    env_stop(e);
}

static void test_fault_walk_eabt(void)
{
    Env *e = env_start_enabled();
    /* A table base nothing decodes, inside the 44-bit OAS */
    uint64_t nowhere = 0x80000000000ull;

    write_cd_4k(e->qts, CD0, nowhere, 1);
    ste_s1(&e->smmu, SID0, CD0, 0);
    assert_fill_refused(e, 0, 0x10000000, RES_TRANSLATION_FAULT);
    /* The access that aborted was a table descriptor fetch: CLASS TT */
    assert_event(e, 0, evt0(0x0b, SID0), EVT1_CLASS(CLASS_TT), 0x10000000,
                 nowhere);
    env_stop(e);
}

static void test_fault_bad_streamid(void)
{
    Env *e = env_start("");

    /* A stream table of 16 STEs: StreamID 0x20 is beyond it */
    qsmmu_setup_tables(&e->smmu, STRTAB, 4, EVENTQ, EVENTQ_LOG2);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    /* Recorded only when CR2.RECINVSID allows it */
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    qsmmu_set_cr0(&e->smmu, 0);
    qsmmu_writel(&e->smmu, SMMU_CR2, CR2_RECINVSID);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x02, SID0), 0, 0, 0);
    env_stop(e);
}

static void test_fault_bad_cd(void)
{
    Env *e = env_start_enabled();
    CDParams cd = { .t0sz = 16, .tg0 = 0, .ips = 5, .invalid = true };

    write_cd(e->qts, CD0, &cd);
    ste_s1(&e->smmu, SID0, CD0, 0);
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x0a, SID0), 0, 0, 0);
    env_stop(e);
}

static void test_fault_ste_fetch(void)
{
    Env *e = env_start("");
    uint64_t nowhere = 0x800000000000ull;

    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE, nowhere);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x03, SID0), 0, 0, nowhere + SID0 * 64);
    env_stop(e);
}

static void test_fault_cd_fetch(void)
{
    Env *e = env_start_enabled();
    uint64_t nowhere = NOWHERE;

    ste_s1(&e->smmu, SID0, nowhere, 0);
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x09, SID0), 0, 0, nowhere);
    env_stop(e);
}

/* ---- queues ---- */

static void test_evtq_overflow_and_recovery(void)
{
    Env *e = env_start("");
    QSMMUv3 *s = &e->smmu;
    const uint64_t bad[8] = { 0 };

    /* A queue of two records */
    qsmmu_setup_tables(s, STRTAB, STRTAB_LOG2, EVENTQ, 1);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qsmmu_ste_raw(s, SID0, bad);
    for (int i = 0; i < 3; i++) {
        assert_fill_refused(e, 0, DATA + i * 0x1000, RES_TRANSLATION_FAULT);
    }
    /* Two records, then the third lost and the overflow flag up */
    g_assert_cmphex(evtq_prod(e), ==, SMMU_Q_OVF | 2);
    assert_event(e, 0, evt0(0x04, SID0), 0, 0, 0);
    assert_event(e, 1, evt0(0x04, SID0), 0, 0, 0);
    /* Overflow not acknowledged: records still go while there is room */
    qsmmu_writel(s, SMMU_EVENTQ_CONS, 1);
    assert_fill_refused(e, 0, DATA + 0x4000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, SMMU_Q_OVF | 3);
    /* Full again: lost, and the flag stays up (no second toggle) */
    assert_fill_refused(e, 0, DATA + 0x5000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, SMMU_Q_OVF | 3);
    /* Consume all and acknowledge: the next one is recorded, once */
    qsmmu_writel(s, SMMU_EVENTQ_CONS, SMMU_Q_OVF | 3);
    assert_fill_refused(e, 0, DATA + 0x6000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, SMMU_Q_OVF | 0);
    assert_event(e, 1, evt0(0x04, SID0), 0, 0, 0);
    /* A new overflow toggles the flag back */
    qsmmu_writel(s, SMMU_EVENTQ_CONS, SMMU_Q_OVF | 0);
    assert_fill_refused(e, 0, DATA + 0x7000, RES_TRANSLATION_FAULT);
    assert_fill_refused(e, 0, DATA + 0x8000, RES_TRANSLATION_FAULT);
    assert_fill_refused(e, 0, DATA + 0x9000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 2);
    env_stop(e);
}

static void test_cmdq_illegal_and_recovery(void)
{
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;
    uint32_t gerror;

    qsmmu_cmd_write(s, SMMU_CMD_CFGI_STE, 0);
    qsmmu_cmd_write(s, 0xff, 0);                  /* no such command */
    qsmmu_cmd_write(s, SMMU_CMD_TLBI_NSNH_ALL, 0);
    qsmmu_cmd_write(s, SMMU_CMD_SYNC, 0);
    qsmmu_cmd_publish(s);
    /* Stopped at the bad command, CERROR_ILL, GERROR.CMDQ_ERR */
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==,
                    (SMMU_CERROR_ILL << 24) | 1);
    gerror = qsmmu_readl(s, SMMU_GERROR);
    g_assert_cmphex(gerror, ==, SMMU_GERROR_CMDQ_ERR);
    /* More commands wait behind it */
    qsmmu_cmd_write(s, SMMU_CMD_SYNC, 0);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS) & 0xffffff, ==, 1);
    /* Software replaces it with a CMD_SYNC and acknowledges */
    qtest_writeq(e->qts, CMDQ + 16, SMMU_CMD_SYNC);
    qsmmu_writel(s, SMMU_GERRORN, gerror);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS) & 0xffffff, ==, 5);

    /* Or moves CONS past it, with the queue off */
    qsmmu_cmd_write(s, 0x00, 0);                  /* opcode 0: illegal */
    qsmmu_cmd_write(s, SMMU_CMD_SYNC, 0);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==,
                    (SMMU_CERROR_ILL << 24) | 5);
    gerror = qsmmu_readl(s, SMMU_GERROR);
    g_assert_cmphex(gerror, ==, 0);               /* toggled back */
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qsmmu_writel(s, SMMU_CMDQ_CONS, 6);
    qsmmu_writel(s, SMMU_GERRORN, gerror);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN | SMMU_CR0_CMDQEN);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, 7);
    env_stop(e);
}

/*
 * One command alone: it completes (@err 0), or stops the queue with
 * CERROR @err, which software skips
 */
static void assert_cmd(QSMMUv3 *s, uint64_t w0, uint64_t w1, uint32_t err)
{
    uint32_t at = s->cmdq_prod;
    uint32_t cr0 = qsmmu_readl(s, SMMU_CR0);

    qsmmu_cmd_write(s, w0, w1);
    qsmmu_cmd_publish(s);
    if (!err) {
        g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, s->cmdq_prod);
        return;
    }
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, (err << 24) | at);
    qsmmu_set_cr0(s, cr0 & ~SMMU_CR0_CMDQEN);
    qsmmu_writel(s, SMMU_CMDQ_CONS, s->cmdq_prod);
    qsmmu_writel(s, SMMU_GERRORN, qsmmu_readl(s, SMMU_GERROR));
    qsmmu_set_cr0(s, cr0);
}

#define CMD_SSEC            (1ull << 10)
#define CMD_SSV             (1ull << 11)
#define TLBI_NUM(n)         ((uint64_t)(n) << 12)
#define TLBI_SCALE(n)       ((uint64_t)(n) << 20)
#define TLBI_TTL(n)         ((uint64_t)(n) << 8)
#define TLBI_TG(n)          ((uint64_t)(n) << 10)

/*
 * The fields a command may not hold here: SSec (no Secure state), a
 * CFGI_STE SSV (RES0), a CFGI_CD without stage 1, a range TLBI of one
 * granule without a level (reserved; TTL 1 with 16K granules is TTL 0).
 * A PREFETCH names a SubstreamID freely: a hint, that does nothing.
 */
static void test_cmd_illegal_fields(void)
{
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;
    uint64_t sid = (uint64_t)SID0 << 32;

    assert_cmd(s, SMMU_CMD_CFGI_STE | sid, 0, 0);
    assert_cmd(s, SMMU_CMD_CFGI_STE | sid | CMD_SSEC, 0, SMMU_CERROR_ILL);
    assert_cmd(s, SMMU_CMD_CFGI_STE | sid | CMD_SSV, 0, SMMU_CERROR_ILL);
    assert_cmd(s, SMMU_CMD_CFGI_STE_RANGE | CMD_SSEC, 31, SMMU_CERROR_ILL);
    assert_cmd(s, SMMU_CMD_CFGI_CD | sid | CMD_SSEC, 0, SMMU_CERROR_ILL);
    assert_cmd(s, 0x01 | sid | CMD_SSV | (5ull << 12), 0, 0);
    assert_cmd(s, 0x01 | sid | CMD_SSEC, 0, SMMU_CERROR_ILL);
    assert_cmd(s, 0x02 | sid | CMD_SSV, 0x10000000, 0);
    /* Range TLBIs: TG 4K with NUM 0, SCALE 0, TTL 0 is reserved */
    assert_cmd(s, SMMU_CMD_TLBI_NH_VA | TLBI_NUM(1), TLBI_TG(1), 0);
    assert_cmd(s, SMMU_CMD_TLBI_NH_VA | TLBI_SCALE(1), TLBI_TG(1), 0);
    assert_cmd(s, SMMU_CMD_TLBI_NH_VA, TLBI_TG(1) | TLBI_TTL(3), 0);
    assert_cmd(s, SMMU_CMD_TLBI_NH_VA, TLBI_TG(1), SMMU_CERROR_ILL);
    assert_cmd(s, SMMU_CMD_TLBI_NH_VAA, TLBI_TG(3), SMMU_CERROR_ILL);
    assert_cmd(s, SMMU_CMD_TLBI_S2_IPA, TLBI_TG(2), SMMU_CERROR_ILL);
    assert_cmd(s, SMMU_CMD_TLBI_NH_VA, TLBI_TG(2) | TLBI_TTL(1),
               SMMU_CERROR_ILL);
    assert_cmd(s, SMMU_CMD_TLBI_NH_VA, TLBI_TG(2) | TLBI_TTL(2), 0);
    /* Not a range (TG 0): TTL is RES0 and ignored */
    assert_cmd(s, SMMU_CMD_TLBI_NH_VA, TLBI_TTL(1), 0);
    env_stop(e);

    /* A stage 2 only SMMU has no CDs to invalidate */
    e = env_start_smmu("-device arm-smmuv3,primary-bus=pcie.0,stage=2", "");
    s = &e->smmu;
    qsmmu_setup_tables(s, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qsmmu_setup_cmdq(s, CMDQ, CMDQ_LOG2);
    assert_cmd(s, SMMU_CMD_CFGI_STE | sid, 0, 0);
    assert_cmd(s, SMMU_CMD_CFGI_CD | sid, 0, SMMU_CERROR_ILL);
    assert_cmd(s, SMMU_CMD_TLBI_NH_ALL, 0, SMMU_CERROR_ILL);
    assert_cmd(s, SMMU_CMD_TLBI_S12_VMALL, 0, 0);
    env_stop(e);
}

static void test_cmd_sync_msi(void)
{
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;

    qtest_writel(e->qts, MSI_SLOT, 0);
    qsmmu_cmd_write(s, SMMU_CMD_SYNC | SMMU_SYNC_CS_IRQ |
                    (0xfeedf00dull << 32), MSI_SLOT);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT), ==, 0xfeedf00d);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, 1);
    /* An MSI nothing takes: GERROR.MSI_CMDQ_ABT_ERR */
    qsmmu_cmd_write(s, SMMU_CMD_SYNC | SMMU_SYNC_CS_IRQ, NOWHERE);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR), ==,
                    SMMU_GERROR_MSI_CMDQ_ABT_ERR);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, 2);
    env_stop(e);
}

/* The event queue's MSI (and GERROR's, with @gerror_data) to MSI_SLOT */
static void set_queue_msis(Env *e, uint32_t evtq_data, uint32_t gerror_data)
{
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_EVENTQ_IRQ_CFG0, MSI_SLOT);
    qsmmu_writel(&e->smmu, SMMU_EVENTQ_IRQ_CFG1, evtq_data);
    if (gerror_data) {
        qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_GERROR_IRQ_CFG0,
                     MSI_SLOT + 4);
        qsmmu_writel(&e->smmu, SMMU_GERROR_IRQ_CFG1, gerror_data);
    }
}

static void test_msi_eventq_and_gerror(void)
{
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;

    set_queue_msis(e, 0x1111, 0x2222);
    qsmmu_writel(s, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_GERROR_IRQEN |
                 SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    g_assert_cmphex(qsmmu_readl(s, SMMU_IRQ_CTRLACK), ==, 5);
    qtest_writeq(e->qts, MSI_SLOT, 0);

    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT), ==, 0x1111);
    qsmmu_cmd_write(s, 0x77, 0);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT + 4), ==, 0x2222);
    env_stop(e);
}

/* The wired lines, as edge-triggered interrupts latched by the GIC */
static bool gic_pending(Env *e, int irq)
{
    return qtest_readl(e->qts, GICD_BASE + 0x200 + irq / 32 * 4) &
           (1u << (irq % 32));
}

static void test_wired_irqs(void)
{
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;
    uint32_t icfgr = GICD_BASE + 0xc00 + SMMU_GIC_IRQ(0) / 16 * 4;

    /* Make the SMMU's four interrupts edge-triggered */
    qtest_writel(e->qts, icfgr, qtest_readl(e->qts, icfgr) | 0x0aa00000);
    qsmmu_writel(s, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_GERROR_IRQEN |
                 SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    g_assert_false(gic_pending(e, SMMU_GIC_IRQ(0)));

    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    g_assert_true(gic_pending(e, SMMU_GIC_IRQ(0)));
    qsmmu_cmd_write(s, SMMU_CMD_SYNC | SMMU_SYNC_CS_IRQ, 0);
    qsmmu_cmd_publish(s);
    g_assert_true(gic_pending(e, SMMU_GIC_IRQ(2)));
    g_assert_false(gic_pending(e, SMMU_GIC_IRQ(3)));
    qsmmu_cmd_write(s, 0x77, 0);
    qsmmu_cmd_publish(s);
    g_assert_true(gic_pending(e, SMMU_GIC_IRQ(3)));
    g_assert_false(gic_pending(e, SMMU_GIC_IRQ(1)));
    env_stop(e);
}

/* ---- invalidation ---- */

/* Two streams, ASIDs 1 and 2, each with IOVAs 0x10000000 and 0x20000000 */
static Env *env_two_asids(PT *pt0, PT *pt1)
{
    Env *e = env_start_enabled();

    pt_init(pt0, e->qts, false, 12, 48, 0, PT_POOL);
    pt_init(pt1, e->qts, false, 12, 48, 0, PT_POOL2);
    pt_map(pt0, 0x10000000, DATA + 0x10000, 3, 0);
    pt_map(pt0, 0x20000000, DATA + 0x20000, 3, 0);
    pt_map(pt1, 0x10000000, DATA + 0x30000, 3, 0);
    pt_map(pt1, 0x20000000, DATA + 0x40000, 3, 0);
    write_cd_4k(e->qts, CD0, pt0->root, 1);
    write_cd_4k(e->qts, CD1, pt1->root, 2);
    ste_s1(&e->smmu, SID0, CD0, 0);
    ste_s1(&e->smmu, SID1, CD1, 0);
    /*
     * Cache all four, then move every mapping without telling the SMMU.
     * Which old translations it still uses is its own business: the
     * tests only check that what a TLBI must remove is gone.
     */
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x10000);
    assert_fill_lands(e, 0, 0x20000000, DATA + 0x20000);
    assert_fill_lands(e, 1, 0x10000000, DATA + 0x30000);
    assert_fill_lands(e, 1, 0x20000000, DATA + 0x40000);
    pt_remap(pt0, 0x10000000, DATA + 0x50000, 3, 0);
    pt_remap(pt0, 0x20000000, DATA + 0x60000, 3, 0);
    pt_remap(pt1, 0x10000000, DATA + 0x70000, 3, 0);
    pt_remap(pt1, 0x20000000, DATA + 0x80000, 3, 0);
    return e;
}

static void test_tlbi_asid(void)
{
    PT pt0, pt1;
    Env *e = env_two_asids(&pt0, &pt1);

    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ASID | (1ull << 48), 0);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x50000);
    assert_fill_lands(e, 0, 0x20000000, DATA + 0x60000);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ASID | (2ull << 48), 0);
    assert_fill_lands(e, 1, 0x10000000, DATA + 0x70000);
    assert_fill_lands(e, 1, 0x20000000, DATA + 0x80000);
    env_stop(e);
}

static void test_tlbi_va(void)
{
    PT pt0, pt1;
    Env *e = env_two_asids(&pt0, &pt1);

    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | (1ull << 48), 0x20000000);
    assert_fill_lands(e, 0, 0x20000000, DATA + 0x60000);
    /* TLBI_NH_VAA: every ASID */
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VAA, 0x10000000);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x50000);
    assert_fill_lands(e, 1, 0x10000000, DATA + 0x70000);
    env_stop(e);
}

static void test_tlbi_range(void)
{
    Env *e = env_start_enabled();
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    for (int i = 0; i < 8; i++) {
        pt_map(&pt, 0x30000000 + i * 0x1000, DATA + i * 0x1000, 3, 0);
    }
    write_cd_4k(e->qts, CD0, pt.root, 4);
    ste_s1(&e->smmu, SID0, CD0, 0);
    for (int i = 0; i < 8; i++) {
        assert_fill_lands(e, 0, 0x30000000 + i * 0x1000, DATA + i * 0x1000);
        pt_remap(&pt, 0x30000000 + i * 0x1000, DATA + 0x100000 + i * 0x1000,
                 3, 0);
    }
    /* Pages 2..5: TG 4K, NUM 1, SCALE 1: (1 + 1) << 1 = 4 pages */
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | (4ull << 48) | (1ull << 12) |
              (1ull << 20), (0x30000000 + 0x2000) | (1ull << 10));
    for (int i = 2; i <= 5; i++) {
        assert_fill_lands(e, 0, 0x30000000 + i * 0x1000,
                          DATA + 0x100000 + i * 0x1000);
    }
    env_stop(e);
}

/* The UNMAP record @n of the test device's watch */
static void assert_unmap_rec(Env *e, uint32_t n, uint64_t iova, uint64_t mask)
{
    uint64_t at = NOTIFY_LOG + (n % NOTIFY_LOG_LEN) * NOTIFY_REC_SIZE;

    g_assert_cmpuint(qvtd_rd(&e->td[0], at + NOTIFY_REC_TYPE), ==,
                     NOTIFY_UNMAP);
    g_assert_cmpuint(qvtd_rd(&e->td[0], at + NOTIFY_REC_TYPE + 4), ==, 0);
    g_assert_cmphex(qvtd_rd64(&e->td[0], at + NOTIFY_REC_IOVA), ==, iova);
    g_assert_cmphex(qvtd_rd64(&e->td[0], at + NOTIFY_REC_MASK), ==, mask);
}

/*
 * What VFIO's notifier would hear: a TLBI by VA of the watched page, and
 * a CFGI of the stream, as UNMAPs cropped to the watch; nothing for a VA
 * outside it.  MAP notifiers are refused.
 */
static void test_tlbi_notifies_unmap(void)
{
    Env *e = env_s1_page(0, 0, true);

    qvtd_wr(&e->td[0], R_PATTERN, WATCH_MAP | WATCH_UNMAP);
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_WATCH, 0x10000000, 0x1000), ==,
                     RES_BAD_COMMAND);
    g_assert_cmpuint(qvtd_rd(&e->td[0], R_IOMMU_REQ_STATUS), ==, REQ_ERROR);

    qvtd_wr(&e->td[0], R_PATTERN, WATCH_UNMAP);
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_WATCH, 0x10000000, 0x1000), ==,
                     RES_OK);
    assert_fill_lands(e, 0, 0x10000000, DATA);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | (1ull << 48), 0x20000000);
    g_assert_cmpuint(qvtd_rd(&e->td[0], R_NOTIFY_COUNT), ==, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | (1ull << 48), 0x10000000);
    g_assert_cmpuint(qvtd_rd(&e->td[0], R_NOTIFY_COUNT), ==, 1);
    assert_unmap_rec(e, 0, 0x10000000, 0xfff);

    assert_fill_lands(e, 0, 0x10000000, DATA);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID0 << 32), 0);
    g_assert_cmpuint(qvtd_rd(&e->td[0], R_NOTIFY_COUNT), ==, 2);
    assert_unmap_rec(e, 1, 0x10000000, 0xfff);
    env_stop(e);
}

static void test_tlbi_s2_ipa_and_vmall(void)
{
    Env *e = env_start_enabled();
    PT pt;

    pt_init(&pt, e->qts, true, 12, 44, 0, PT_POOL);
    pt_map(&pt, 0x20000000, DATA, 3, 0);
    pt_map(&pt, 0x20001000, DATA + 0x1000, 3, 0);
    ste_s2(&e->smmu, SID0, STE_CFG_S2, 0, ste2_s2(6, 44, 2, 0), pt.root);
    assert_fill_lands(e, 0, 0x20000000, DATA);
    assert_fill_lands(e, 0, 0x20001000, DATA + 0x1000);
    pt_remap(&pt, 0x20000000, DATA + 0x8000, 3, 0);
    pt_remap(&pt, 0x20001000, DATA + 0x9000, 3, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_S2_IPA | (6ull << 32), 0x20000000);
    assert_fill_lands(e, 0, 0x20000000, DATA + 0x8000);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_S12_VMALL | (6ull << 32), 0);
    assert_fill_lands(e, 0, 0x20001000, DATA + 0x9000);
    env_stop(e);
}

/* ---- reset, migration ---- */

static void test_reset(void)
{
    Env *e = env_s1_page(0, 0, true);
    QSMMUv3 *s = &e->smmu;

    assert_fill_lands(e, 0, 0x10000000, DATA);
    assert_fill_refused(e, 0, 0x10001000, RES_TRANSLATION_FAULT);
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'system_reset' }");
    g_assert_cmphex(qsmmu_readl(s, SMMU_CR0), ==, 0);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CR0ACK), ==, 0);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GBPA), ==, 0x1000);
    g_assert_cmphex(qtest_readq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE),
                    ==, 0);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, 0);

    /* Nothing cached survives: the moved mapping is used at once */
    qvtd_free(&e->td[0]);
    qvtd_init(&e->td[0], &e->gbus.bus, DEV0_DEVFN);
    qsmmu_setup_tables(s, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    {
        PT pt;

        pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL2);
        pt_map(&pt, 0x10000000, DATA + 0x4000, 3, 0);
        write_cd_4k(e->qts, CD0, pt.root, 1);
    }
    ste_s1(s, SID0, CD0, 0);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x4000);
    env_stop(e);
}

/*
 * Leave work in the stopped VM's SMMU: an event queue interrupt recorded
 * (MSI 0xabcd to MSI_SLOT) and a CMD_SYNC published (MSI 0x5555 to
 * MSI_SLOT + 8), neither done
 */
static void leave_pending_work(Env *e)
{
    qtest_writeq(e->qts, MSI_SLOT, 0);
    qtest_writeq(e->qts, MSI_SLOT + 8, 0);
    set_queue_msis(e, 0xabcd, 0);
    qsmmu_writel(&e->smmu, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'stop' }");
    assert_fill_refused(e, 0, 0x10001000, RES_TRANSLATION_FAULT);
    qsmmu_cmd_write(&e->smmu, SMMU_CMD_SYNC | SMMU_SYNC_CS_IRQ |
                    (0x5555ull << 32), MSI_SLOT + 8);
    qsmmu_cmd_publish(&e->smmu);
}

/*
 * A reset while the stopped VM left work in the SMMU (commands published,
 * an interrupt recorded): the work is gone with the state it belonged to;
 * when the VM runs again nothing of it happens
 */
static void test_reset_pending_work(void)
{
    Env *e = env_s1_page(0, 0, true);
    QSMMUv3 *s = &e->smmu;

    leave_pending_work(e);
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'system_reset' }");
    g_assert_cmphex(qsmmu_readl(s, SMMU_CR0), ==, 0);
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'cont' }");
    /* A round trip through the main loop, where bottom halves run */
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'query-status' }");
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_PROD), ==, 0);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, 0);
    g_assert_cmphex(qsmmu_readl(s, SMMU_IRQ_CTRL), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, MSI_SLOT), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, MSI_SLOT + 8), ==, 0);
    /* Set up again, the SMMU runs the queue from its start */
    qsmmu_setup_cmdq(s, CMDQ, CMDQ_LOG2);
    qsmmu_cmd(s, SMMU_CMD_SYNC | SMMU_SYNC_CS_IRQ | (0x6666ull << 32),
              MSI_SLOT + 8);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT + 8), ==, 0x6666);
    env_stop(e);
}

/* ---- migration ---- */

static char *mig_path(const char *what)
{
    return g_strdup_printf("%s/smmuv3-mig-%d-%s", g_get_tmp_dir(), getpid(),
                           what);
}

/*
 * A destination for @src's machine that loads @path, with @args (such as
 * -S, or properties); the test devices keep their BARs, the SMMU its
 * queues.  NULL if the load failed.
 */
static Env *env_incoming(Env *src, const char *path, const char *args)
{
    Env *d = g_new0(Env, 1);
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    g_autofree char *status = NULL;

    d->qts = qtest_initf("-M virt,iommu=smmuv3 -cpu max -m 512M -nodefaults "
                         "-device viommu-testdev,bus=pcie.0,addr=4.0 "
                         "-device viommu-testdev,bus=pcie.0,addr=5.0 "
                         FORK_FEATURES "-incoming defer %s", args);
    qtest_qmp_assert_success(d->qts, "{ 'execute': 'migrate-incoming', "
                             "'arguments': { 'uri': %s, "
                             "'exit-on-error': false } }", uri);
    status = qvtd_incoming_status(d->qts, NULL);
    if (strcmp(status, "completed")) {
        qtest_quit(d->qts);
        g_free(d);
        return NULL;
    }
    qpci_init_generic(&d->gbus, d->qts, NULL, false);
    for (int i = 0; i < 2; i++) {
        d->td[i].dev = qpci_device_find(&d->gbus.bus, i ? DEV1_DEVFN :
                                        DEV0_DEVFN);
        d->td[i].bar = src->td[i].bar;
    }
    d->smmu = src->smmu;
    d->smmu.qts = d->qts;
    return d;
}

static void mig_save(Env *src, const char *path)
{
    g_autofree char *uri = g_strdup_printf("file:%s", path);

    qvtd_migrate(src->qts, uri);
}

/*
 * Every register the guest or the SMMU set, each to other than its reset
 * value, reads the same on the destination; translation, recording and
 * interrupts go on from there
 */
static void test_migration(void)
{
    g_autofree char *path = mig_path("regs");
    static const uint32_t regs[] = {
        SMMU_CR0, SMMU_CR0ACK, SMMU_CR1, SMMU_CR2, SMMU_GBPA, SMMU_IRQ_CTRL,
        SMMU_GERROR, SMMU_GERRORN, SMMU_GERROR_IRQ_CFG0,
        SMMU_GERROR_IRQ_CFG0 + 4, SMMU_GERROR_IRQ_CFG1, SMMU_GERROR_IRQ_CFG2,
        SMMU_STRTAB_BASE, SMMU_STRTAB_CFG, SMMU_CMDQ_BASE, SMMU_CMDQ_PROD,
        SMMU_CMDQ_CONS, SMMU_EVENTQ_BASE, SMMU_EVENTQ_PROD, SMMU_EVENTQ_CONS,
        SMMU_EVENTQ_IRQ_CFG0, SMMU_EVENTQ_IRQ_CFG0 + 4,
        SMMU_EVENTQ_IRQ_CFG1, SMMU_EVENTQ_IRQ_CFG2,
    };
    static const uint32_t reset_vals[ARRAY_SIZE(regs)] = {
        [4] = 0x1000,       /* GBPA.ABORT clear, SHCFG incoming */
    };
    uint32_t vals[ARRAY_SIZE(regs)];
    Env *e = env_s1_page(0, 0, true);
    QSMMUv3 *s = &e->smmu;
    uint64_t hi = NOWHERE;          /* a high half, within the OAS */
    Env *d;

    /* The configuration registers, with the SMMU and its queues off */
    qsmmu_set_cr0(s, 0);
    qsmmu_writel(s, SMMU_CR1, 0x555);
    qsmmu_writel(s, SMMU_CR2, CR2_RECINVSID | CR2_E2H);
    qsmmu_writel(s, SMMU_GBPA, SMMU_GBPA_UPDATE | 0x20012);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_GERROR_IRQ_CFG0,
                 hi + 0x100);
    qsmmu_writel(s, SMMU_GERROR_IRQ_CFG1, 0x1234);
    qsmmu_writel(s, SMMU_GERROR_IRQ_CFG2, 0x11);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_EVENTQ_IRQ_CFG0,
                 hi + 0x200);
    qsmmu_writel(s, SMMU_EVENTQ_IRQ_CFG1, 0xabcd);
    qsmmu_writel(s, SMMU_EVENTQ_IRQ_CFG2, 0x22);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN | SMMU_CR0_CMDQEN);
    qsmmu_writel(s, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    /* Two records, one consumed; a command error, acknowledged, again */
    assert_fill_lands(e, 0, 0x10000000, DATA);
    assert_fill_refused(e, 0, 0x10001000, RES_TRANSLATION_FAULT);
    assert_fill_refused(e, 0, 0x10001000, RES_TRANSLATION_FAULT);
    qsmmu_writel(s, SMMU_EVENTQ_CONS, 1);
    qsmmu_cmd_write(s, 0x77, 0);
    qsmmu_cmd_publish(s);
    qsmmu_writel(s, SMMU_GERRORN, SMMU_GERROR_CMDQ_ERR);
    for (int i = 0; i < ARRAY_SIZE(regs); i++) {
        vals[i] = qsmmu_readl(s, regs[i]);
        if (regs[i] != SMMU_GERROR) {
            g_assert_cmphex(vals[i], !=, reset_vals[i]);
        }
    }
    /*
     * Raised again on the retry: active, GERROR differs from GERRORN; the
     * event queue's MSI went where there is nothing: MSI_EVENTQ_ABT_ERR
     */
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR), ==, 1u << 5);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERRORN), ==, SMMU_GERROR_CMDQ_ERR);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==,
                    (SMMU_CERROR_ILL << 24) | 0);

    mig_save(e, path);
    d = env_incoming(e, path, "");
    env_stop(e);
    unlink(path);
    g_assert(d);
    for (int i = 0; i < ARRAY_SIZE(regs); i++) {
        g_assert_cmphex(qsmmu_readl(&d->smmu, regs[i]), ==, vals[i]);
    }
    qtest_qmp_assert_success(d->qts, "{ 'execute': 'cont' }");
    assert_fill_lands(d, 0, 0x10000008, DATA + 8);
    assert_fill_refused(d, 0, 0x10002000, RES_TRANSLATION_FAULT);
    assert_event(d, 2, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN), 0x10002000,
                 0);
    g_assert_cmphex(evtq_prod(d), ==, 3);
    /* Acknowledged, the queue retries: still illegal */
    qsmmu_writel(&d->smmu, SMMU_GERRORN, 0);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_GERROR), ==,
                    SMMU_GERROR_CMDQ_ERR | (1u << 5));
    env_stop(d);
}

/* Poll @reg of @s until it reads @val (a bottom half's work) */
static void wait_reg(QSMMUv3 *s, uint32_t reg, uint32_t val)
{
    for (int i = 0; i < 5000 && qsmmu_readl(s, reg) != val; i++) {
        g_usleep(1000);
    }
    g_assert_cmphex(qsmmu_readl(s, reg), ==, val);
}

/*
 * Work a stopped VM leaves in the SMMU: commands published but not yet
 * consumed (a stopped SMMU writes no guest memory), an event queue
 * interrupt recorded but not yet signalled.  Both wait for the VM to run:
 * the destination (paused, as its source was) does them on 'cont', and so
 * does the source if it is resumed instead.
 */
static void assert_pending_work(Env *e, bool done)
{
    if (done) {
        wait_reg(&e->smmu, SMMU_CMDQ_CONS, 1);
    }
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_CMDQ_CONS), ==, done);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT + 8), ==, done ? 0x5555 : 0);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT), ==, done ? 0xabcd : 0);
    g_assert_cmphex(evtq_prod(e), ==, 1);
}

static void test_migration_pending_work(void)
{
    g_autofree char *path = mig_path("pending");
    Env *e = env_s1_page(0, 0, true);
    Env *d;

    leave_pending_work(e);
    assert_pending_work(e, false);
    mig_save(e, path);
    d = env_incoming(e, path, "");
    unlink(path);
    g_assert(d);

    assert_pending_work(d, false);
    qtest_qmp_assert_success(d->qts, "{ 'execute': 'cont' }");
    assert_pending_work(d, true);
    env_stop(d);

    assert_pending_work(e, false);
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'cont' }");
    assert_pending_work(e, true);
    env_stop(e);
}

/*
 * A full event queue with its overflow flagged: the destination drops
 * records until software makes room and acknowledges the overflow
 */
static void test_migration_full_eventq(void)
{
    g_autofree char *path = mig_path("full");
    Env *e = env_start("");
    Env *d;

    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, 1);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    for (int i = 0; i < 3; i++) {
        assert_fill_refused(e, 0, DATA + i * 0x1000, RES_TRANSLATION_FAULT);
    }
    g_assert_cmphex(evtq_prod(e), ==, SMMU_Q_OVF | 2);
    mig_save(e, path);
    d = env_incoming(e, path, "");
    env_stop(e);
    unlink(path);
    g_assert(d);

    g_assert_cmphex(evtq_prod(d), ==, SMMU_Q_OVF | 2);
    assert_fill_refused(d, 0, DATA + 0x3000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(d), ==, SMMU_Q_OVF | 2);
    qsmmu_writel(&d->smmu, SMMU_EVENTQ_CONS, SMMU_Q_OVF | 2);
    g_assert_cmpuint(fill8(d, 1, 0x12340000, 1), ==, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(d), ==, SMMU_Q_OVF | 3);
    assert_event(d, 0, evt0(0x04, SID1), 0, 0, 0);
    env_stop(d);
}

/*
 * The SMMU section of a migration stream, upstream's "smmuv3" version 1:
 * the offset of its first field, after the section header (type, section
 * id, idstr, instance id, version id)
 */
static size_t mig_find_smmu_fields(const uint8_t *buf, size_t len)
{
    static const char idstr[] = "\x06" "smmuv3";

    for (size_t i = 0; i + sizeof(idstr) + 8 <= len; i++) {
        if (!memcmp(buf + i, idstr, sizeof(idstr) - 1) &&
            ldl_be_p(buf + i + sizeof(idstr) - 1) == 0 &&
            ldl_be_p(buf + i + sizeof(idstr) + 3) == 1) {
            return i + sizeof(idstr) - 1 + 8;
        }
    }
    g_assert_not_reached();
}

/* Where upstream's fields are, from the first; big-endian in the stream */
enum {
    MIG_FEATURES = 0,       /* u32 */
    MIG_SID_SIZE = 4,       /* u8 */
    MIG_SID_SPLIT = 5,      /* u8 */
    MIG_CR = 6,             /* u32[3], then cr0ack .. eventq_irq_cfg2 */
    MIG_CMDQ = 82,          /* base u64, prod u32, cons u32, log2size u8 */
    MIG_EVENTQ = 99,
    MIG_QUEUE_LOG2 = 16,    /* within a queue */
    MIG_END = 116,
    /* Then the subsections: "smmuv3/gbpa", version 1, is GBPA alone */
    MIG_GBPA_VALUE = MIG_END + 1 + 1 + 11 + 4,
};

/* QEMU_VM_SUBSECTION, the name's length and the name, the version */
static const char mig_gbpa_subsection[] =
    "\x05\x0b" "smmuv3/gbpa" "\x00\x00\x00\x01";

/* @e saved to @path, @len bytes at its field @off set to @val */
static void mig_save_patched(Env *e, const char *path, size_t off,
                             const void *val, size_t len)
{
    g_autofree uint8_t *buf = NULL;
    size_t size, at;

    mig_save(e, path);
    g_assert(g_file_get_contents(path, (char **)&buf, &size, NULL));
    at = mig_find_smmu_fields(buf, size);
    memcpy(buf + at + off, val, len);
    g_assert(g_file_set_contents(path, (char *)buf, size, NULL));
}

/*
 * Every register field of the stream set to all ones: what is loaded is
 * what a guest could have written (or the SMMU raised), queue pointers
 * within their queues; the destination runs on with it.  The fields
 * that describe the SMMU (features, StreamID size, queue sizes) keep
 * values upstream's model could send.
 */
static void test_migration_hostile_stream(void)
{
    g_autofree char *path = mig_path("hostile");
    uint8_t fields[MIG_GBPA_VALUE + 4];
    Env *e = env_s1_page(0, 0, true);
    Env *d;
    uint32_t idr1, cmdq_ptr, evtq_ptr;

    /* GBPA other than at reset: its subsection follows the fields */
    qsmmu_writel(&e->smmu, SMMU_GBPA, SMMU_GBPA_UPDATE | 0x20012);
    memset(fields, 0xff, sizeof(fields));
    stl_be_p(fields + MIG_FEATURES, 1);
    fields[MIG_SID_SIZE] = 0;
    fields[MIG_CMDQ + MIG_QUEUE_LOG2] = 19;
    fields[MIG_EVENTQ + MIG_QUEUE_LOG2] = 19;
    memcpy(fields + MIG_END, mig_gbpa_subsection,
           sizeof(mig_gbpa_subsection) - 1);
    mig_save_patched(e, path, 0, fields, sizeof(fields));
    d = env_incoming(e, path, "");
    env_stop(e);
    unlink(path);
    g_assert(d);

    idr1 = qsmmu_readl(&d->smmu, SMMU_IDR1);
    cmdq_ptr = (2u << extract32(idr1, 21, 5)) - 1;
    evtq_ptr = (2u << extract32(idr1, 16, 5)) - 1;
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_CR0), ==, 0xd);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_CR0ACK), ==, 0xd);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_CR1), ==, 0xfff);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_CR2), ==,
                    CR2_E2H | CR2_RECINVSID);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_GBPA), ==, 0x1f3f1f);
    g_assert_cmphex(qtest_readq(d->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE),
                    ==, 0x400fffffffffffc0ull);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_STRTAB_CFG), ==, 0x307ff);
    g_assert_cmphex(qtest_readq(d->qts, QSMMU_VIRT_BASE + SMMU_CMDQ_BASE),
                    ==, 0x400fffffffffffffull);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_EVENTQ_PROD), ==,
                    SMMU_Q_OVF | evtq_ptr);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_EVENTQ_CONS), ==,
                    SMMU_Q_OVF | evtq_ptr);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_GERROR), ==, 0xb5);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_GERRORN), ==, 0x1fd);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_IRQ_CTRL), ==, 0x5);
    g_assert_cmphex(qtest_readq(d->qts, QSMMU_VIRT_BASE +
                                SMMU_GERROR_IRQ_CFG0), ==,
                    0x000ffffffffffffcull);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_GERROR_IRQ_CFG2), ==, 0x3f);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_EVENTQ_IRQ_CFG2), ==, 0x3f);
    /*
     * The command queue, beyond all memory, stops at once with the
     * command error already raised: its pointers stay within the queue
     */
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_CMDQ_PROD), ==, cmdq_ptr);
    g_assert_cmphex(qsmmu_readl(&d->smmu, SMMU_CMDQ_CONS) & ~(0x7fu << 24),
                    ==, cmdq_ptr);
    /* Running, the stream table is nowhere: a DMA has a defined end */
    qtest_qmp_assert_success(d->qts, "{ 'execute': 'cont' }");
    assert_fill_refused(d, 0, DATA, RES_TRANSLATION_FAULT);
    env_stop(d);
}

/*
 * What upstream's model could not have sent is refused, not trusted: a
 * queue larger than IDR1 allows (upstream bounds log2size when the guest
 * writes the base), unknown features
 */
static void test_migration_hostile_refused(void)
{
    static const struct {
        size_t off;
        uint8_t val[4];
        size_t len;
    } patches[] = {
        { MIG_CMDQ + MIG_QUEUE_LOG2, { 20 }, 1 },
        { MIG_EVENTQ + MIG_QUEUE_LOG2, { 0xff }, 1 },
        { MIG_EVENTQ + MIG_QUEUE_LOG2, { 20 }, 1 },
        { MIG_FEATURES, { 0, 0, 0, 2 }, 4 },
    };
    g_autofree char *path = mig_path("refused");
    Env *e = env_s1_page(0, 0, true);

    for (int i = 0; i < ARRAY_SIZE(patches); i++) {
        mig_save_patched(e, path, patches[i].off, patches[i].val,
                         patches[i].len);
        g_assert_null(env_incoming(e, path, ""));
        qtest_qmp_assert_success(e->qts, "{ 'execute': 'cont' }");
    }
    /* The source runs on: its DMA lands as before */
    assert_fill_lands(e, 0, 0x10000000, DATA);
    env_stop(e);
    unlink(path);
}

/*
 * A stream from an SMMU the guest saw otherwise (stage, OAS, range
 * invalidation) is refused
 */
static void test_migration_refuses_other_smmu(void)
{
    static const char *const dests[] = {
        "-global arm-smmuv3.oas=48", "-global arm-smmuv3.ril=off",
        "-global arm-smmuv3.msi=off", UPSTREAM_IDR,
    };
    g_autofree char *path = mig_path("other");
    Env *e = env_start("");
    Env *d;

    mig_save(e, path);
    for (int i = 0; i < ARRAY_SIZE(dests); i++) {
        g_assert_null(env_incoming(e, path, dests[i]));
    }
    env_stop(e);

    /*
     * A stream without the fork's ID registers is of upstream's SMMU: an
     * SMMU with any of the fork's features refuses it, one without them
     * takes it
     */
    e = env_start(UPSTREAM_IDR);
    mig_save(e, path);
    g_assert_null(env_incoming(e, path, ""));
    g_assert_null(env_incoming(e, path, UPSTREAM_IDR
                               "-global arm-smmuv3.oas=48"));
    d = env_incoming(e, path, UPSTREAM_IDR);
    g_assert(d);
    env_stop(d);
    env_stop(e);
    unlink(path);
}

/* ---- TBI and every TLBI form ---- */

/*
 * With TBI the top byte of an address is not part of it: the translation
 * a tagged access cached is the plain address's, and every TLBI of the
 * plain address (or of another tag) removes it.  TTB0 with TBI0, or TTB1
 * (bit 55 set) with TBI1.
 */
static void check_tbi_tlbi_forms(bool upper)
{
    static const struct {
        uint64_t w0;
        bool other_tag;
        uint64_t w1;        /* besides the address */
    } forms[] = {
        { SMMU_CMD_TLBI_NH_VA | (1ull << 48) },
        { SMMU_CMD_TLBI_NH_VA | (1ull << 48), true },
        { SMMU_CMD_TLBI_NH_VAA },
        /* TG 4K, NUM 1: two pages from the address */
        { SMMU_CMD_TLBI_NH_VA | (1ull << 48) | (1ull << 12), false,
          1ull << 10 },
        { SMMU_CMD_TLBI_NH_VAA | (1ull << 12), true, 1ull << 10 },
        { SMMU_CMD_TLBI_NH_ASID | (1ull << 48) },
        { SMMU_CMD_TLBI_NH_ALL },
    };
    Env *e = env_start_enabled();
    CDParams cd = { .t0sz = 16, .tg0 = 0, .ips = 5, .asid = 1 };
    uint64_t plain = upper ? 0xffff800012345000ull : 0x12345000ull;
    uint64_t tagged = deposit64(plain, 56, 8, 0x5a);
    uint64_t other = deposit64(plain, 56, 8, upper ? 0x3c : 0xc3);
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, plain, DATA, 3, 0);
    if (upper) {
        cd.epd0 = true;
        cd.ttb1 = pt.root;
        cd.t1sz = 16;
        cd.tg1 = 2;
        cd.tbi1 = true;
    } else {
        cd.ttb0 = pt.root;
        cd.tbi0 = true;
    }
    write_cd(e->qts, CD0, &cd);
    ste_s1(&e->smmu, SID0, CD0, 0);
    for (int k = 0; k < ARRAY_SIZE(forms); k++) {
        uint64_t addr = forms[k].other_tag ? other : plain;

        assert_fill_lands(e, 0, tagged + 0x18, DATA + k * 0x1000 + 0x18);
        pt_remap(&pt, plain, DATA + (k + 1) * 0x1000, 3, 0);
        qsmmu_cmd(&e->smmu, forms[k].w0,
                  (forms[k].w0 & 0xff) == SMMU_CMD_TLBI_NH_ASID ||
                  (forms[k].w0 & 0xff) == SMMU_CMD_TLBI_NH_ALL ? 0 :
                  addr | forms[k].w1);
    }
    assert_fill_lands(e, 0, tagged + 0x18,
                      DATA + ARRAY_SIZE(forms) * 0x1000 + 0x18);
    assert_fill_lands(e, 0, plain + 0x20,
                      DATA + ARRAY_SIZE(forms) * 0x1000 + 0x20);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

static void test_tbi0_every_tlbi(void)
{
    check_tbi_tlbi_forms(false);
}

static void test_tbi1_every_tlbi(void)
{
    check_tbi_tlbi_forms(true);
}

/* ---- ILLEGAL configurations ---- */

/* SID0's DMA is refused with exactly the configuration error @type */
static void assert_config_error(Env *e, uint8_t type)
{
    uint32_t prod = evtq_prod(e);

    assert_fill_refused(e, 0, 0x10000000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, prod + 1);
    assert_event(e, prod, evt0(type, SID0), 0, 0, 0);
}

/*
 * A CD the architecture calls ILLEGAL is C_BAD_CD, recorded whatever its
 * R bit says: TTB0 beyond IPS, A clear (IDR0.TERM_MODEL is 1), HA or HD
 * set (IDR0.HTTU is 0), a reserved TG0
 */
static void test_illegal_cd(void)
{
    static const CDParams bad[] = {
        /* IPS 32 bits, TTB0 at 4 GiB */
        { .t0sz = 16, .ips = 0, .asid = 1, .ttb0 = 0x100000000ull },
        { .t0sz = 16, .ips = 0, .asid = 1, .ttb0 = 0x100000000ull,
          .no_record = true },
        { .t0sz = 16, .ips = 5, .asid = 1, .ttb0 = PT_POOL, .no_a = true },
        { .t0sz = 16, .ips = 5, .asid = 1, .ttb0 = PT_POOL, .ha = true },
        { .t0sz = 16, .ips = 5, .asid = 1, .ttb0 = PT_POOL, .hd = true },
        { .t0sz = 15, .ips = 5, .asid = 1, .ttb0 = PT_POOL },
        { .t0sz = 40, .ips = 5, .asid = 1, .ttb0 = PT_POOL },
        { .t0sz = 16, .tg0 = 3, .ips = 5, .asid = 1, .ttb0 = PT_POOL },
    };
    Env *e = env_start_enabled();

    ste_s1(&e->smmu, SID0, CD0, 0);
    for (int i = 0; i < ARRAY_SIZE(bad); i++) {
        write_cd(e->qts, CD0, &bad[i]);
        qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_CD | ((uint64_t)SID0 << 32), 0);
        assert_config_error(e, SMMU_EVT_C_BAD_CD);
    }
    env_stop(e);
}

/* ILLEGAL STEs: C_BAD_STE */
static void test_illegal_ste(void)
{
    Env *e = env_start_enabled();
    /* S2PS 40 bits, 44-bit IPA from level 0 */
    uint64_t w2 = ste2_ps(ste2_s2(1, 44, 2, 0), 2);
    const uint64_t s1 = STE0_V | STE0_CFG(STE_CFG_S1) | CD0;
    const uint64_t bad[][4] = {
        /* S2TTB beyond S2PS */
        { STE0_V | STE0_CFG(STE_CFG_S2), 0, w2, 1ull << 41 },
        /* S2T0SZ: a 48-bit IPA, beyond the IAS (the OAS, 44) */
        { STE0_V | STE0_CFG(STE_CFG_S2), 0, ste2_s2(1, 48, 2, 0), PT_POOL },
        /* S2T0SZ 40, beyond 39 */
        { STE0_V | STE0_CFG(STE_CFG_S2), 0, ste2_s2(1, 24, 0, 0), PT_POOL },
        /* S2HA, S2HD: no hardware updates */
        { STE0_V | STE0_CFG(STE_CFG_S2), 0, ste2_s2(1, 44, 2, 0) |
          (1ull << 56), PT_POOL },
        { STE0_V | STE0_CFG(STE_CFG_S2), 0, ste2_s2(1, 44, 2, 0) |
          (1ull << 55), PT_POOL },
        /* S1STALLD: stalls are not supported at all */
        { s1, STE1_S1STALLD },
        /* STRW 0b01 and 0b11 are reserved */
        { s1, STE1_STRW(STRW_SECURE) },
        { s1, STE1_STRW(3) },
        /* S1ContextPtr beyond the OAS */
        { STE0_V | STE0_CFG(STE_CFG_S1) | (1ull << 44) },
    };
    CDParams cd = { .t0sz = 16, .ips = 5, .asid = 1, .ttb0 = PT_POOL };

    write_cd(e->qts, CD0, &cd);
    for (int i = 0; i < ARRAY_SIZE(bad); i++) {
        const uint64_t ste[8] = { bad[i][0], bad[i][1], bad[i][2], bad[i][3] };

        qsmmu_ste_raw(&e->smmu, SID0, ste);
        qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID0 << 32), 0);
        assert_config_error(e, SMMU_EVT_C_BAD_STE);
    }
    env_stop(e);
}

/*
 * STE.STRW is ignored when stage 2 is enabled: the stream is NS-EL1,
 * whatever it says, EL2 included
 */
static void test_strw_ignored_with_stage2(void)
{
    Env *e = env_start_enabled();
    PT s1, s2;
    uint64_t ste[8];

    setup_nested(e, &s1, &s2, true);
    qtest_memread(e->qts, STRTAB + SID0 * 64, ste, sizeof(ste));
    ste[1] = cpu_to_le64(STE1_STRW(STRW_EL2));
    qtest_memwrite(e->qts, STRTAB + SID0 * 64, ste, sizeof(ste));
    assert_fill_lands(e, 0, 0x10000100, DATA + 0x3100);
    /* Stage 2 only, likewise, and with the reserved 0b11 */
    ste_s2(&e->smmu, SID0, STE_CFG_S2, 0, ste2_s2(5, 40, 1, 0), s2.root);
    qtest_memread(e->qts, STRTAB + SID0 * 64, ste, sizeof(ste));
    ste[1] = cpu_to_le64(STE1_STRW(3));
    qtest_memwrite(e->qts, STRTAB + SID0 * 64, ste, sizeof(ste));
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID0 << 32), 0);
    assert_fill_lands(e, 0, DATA + NESTED_OFFSET + 0x8, DATA + 0x8);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/* ---- event record fields ---- */


/*
 * An external abort on a stage 2 walk names what stage 2 translated:
 * the input (stage 2 only), a stage 1 table, or the CD.  FetchAddr is the
 * stage 2 descriptor's PA.
 */
static void test_s2_walk_eabt_class(void)
{
    Env *e = env_start_enabled();
    CDParams cd = { .t0sz = 16, .tg0 = 0, .ips = 5, .asid = 9 };
    PT s1, s2;
    uint64_t tables_ipa, l1_slot;

    /* Stage 2 only, its level 0 table nowhere: CLASS IN */
    ste_s2(&e->smmu, SID0, STE_CFG_S2, 0, ste2_s2(5, 44, 2, 0), NOWHERE);
    assert_fill_refused(e, 0, 0x12345678, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x0b, SID0), EVT1_S2 | EVT1_CLASS(CLASS_IN),
                 0x12345678, NOWHERE + 8 * (0x12345678ull >> 39));

    /*
     * Nested: stage 2 maps the CD and the data; the stage 1 tables' IPAs,
     * a gigabyte above the CD's, reach a stage 2 level 2 table nowhere:
     * CLASS TT
     */
    pt_init(&s2, e->qts, true, 12, 40, 1, PT_POOL2);
    pt_map(&s2, CD0 + NESTED_OFFSET, CD0, 2, 0);
    pt_init(&s1, e->qts, false, 12, 48, 0, RAM_BASE + 0x2000000);
    s1.addr_offset = 2 * NESTED_OFFSET;
    pt_map(&s1, 0x10000000, DATA + NESTED_OFFSET, 3, 0);
    tables_ipa = s1.root + s1.addr_offset;
    l1_slot = s2.root + 8 * (tables_ipa >> 30);
    qtest_writeq(e->qts, l1_slot, NOWHERE | 3);
    cd.ttb0 = tables_ipa;
    write_cd(e->qts, CD0, &cd);
    ste_s2(&e->smmu, SID0, STE_CFG_NESTED, CD0 + NESTED_OFFSET,
           ste2_s2(5, 40, 1, 0), s2.root);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID0 << 32), 0);
    assert_fill_refused(e, 0, 0x10000100, RES_TRANSLATION_FAULT);
    assert_event(e, 1, evt0(0x0b, SID0), EVT1_S2 | EVT1_CLASS(CLASS_TT),
                 0x10000100,
                 NOWHERE + 8 * extract64(tables_ipa, 21, 9));

    /* The CD's IPA reaches it instead: CLASS CD */
    ste_s2(&e->smmu, SID0, STE_CFG_NESTED, tables_ipa,
           ste2_s2(5, 40, 1, 0), s2.root);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID0 << 32), 0);
    assert_fill_refused(e, 0, 0x10000100, RES_TRANSLATION_FAULT);
    assert_event(e, 2, evt0(0x0b, SID0), EVT1_S2 | EVT1_CLASS(CLASS_CD),
                 0x10000100,
                 NOWHERE + 8 * extract64(tables_ipa, 21, 9));
    env_stop(e);
}

/* A write is never an instruction fetch: InD is 0 with RnW 0 */
static void test_write_under_instcfg_is_data(void)
{
    Env *e = env_s1_page(PT_RO, STE1_INSTCFG(3), true);

    assert_fill_refused(e, 0, 0x10000040, RES_PERMISSION_FAULT);
    assert_event(e, 0, evt0(0x13, SID0), EVT1_CLASS(CLASS_IN), 0x10000040,
                 0);
    env_stop(e);
}

/*
 * Stage 1 bypassed, the input is an IPA that must fit the IAS (44 bits):
 * beyond it, a stage 1 F_ADDR_SIZE.  An STE that bypasses both stages
 * checks against the OAS the same way; SMMUEN clear aborts it silently.
 */
static void test_input_beyond_ias_oas(void)
{
    Env *e = env_start_enabled();
    const uint64_t bypass[8] = { STE0_V | STE0_CFG(STE_CFG_BYPASS) };
    PT pt;

    pt_init(&pt, e->qts, true, 12, 44, 0, PT_POOL);
    ste_s2(&e->smmu, SID0, STE_CFG_S2, 0, ste2_s2(3, 44, 2, 0), pt.root);
    assert_fill_refused(e, 0, (1ull << 44) + 0x10, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x11, SID0), EVT1_CLASS(CLASS_IN),
                 (1ull << 44) + 0x10, 0);

    qsmmu_ste_raw(&e->smmu, SID1, bypass);
    assert_fill_lands(e, 1, DATA + 0x40, DATA + 0x40);
    qvtd_wr(&e->td[1], R_PATTERN, 1);
    g_assert_cmpuint(qvtd_run(&e->td[1], OP_FILL, (1ull << 44) + 0x20, 8),
                     ==, RES_TRANSLATION_FAULT);
    assert_event(e, 1, evt0(0x11, SID1), EVT1_CLASS(CLASS_IN),
                 (1ull << 44) + 0x20, 0);

    qsmmu_set_cr0(&e->smmu, SMMU_CR0_EVENTQEN | SMMU_CR0_CMDQEN);
    assert_fill_lands(e, 1, DATA + 0x80, DATA + 0x80);
    g_assert_cmpuint(qvtd_run(&e->td[1], OP_FILL, (1ull << 44) + 0x20, 8),
                     ==, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 2);
    env_stop(e);
}

/* ---- privilege ---- */

/*
 * A device's MSI is a PCIe write without a PASID, unprivileged data like
 * its DMA: a page only privileged accesses may write refuses it
 */
static void test_msi_is_unprivileged(void)
{
    Env *e = env_s1_page(PT_PRIV_ONLY, 0, true);
    QPCIDevice *dev = e->td[0].dev;
    uint8_t cap = qpci_find_capability(dev, PCI_CAP_ID_MSI, 0);
    uint32_t before;

    g_assert_cmpuint(cap, !=, 0);
    qtest_writel(e->qts, DATA + 0x30, 0);
    qpci_config_writel(dev, cap + PCI_MSI_ADDRESS_LO, 0x10000030);
    qpci_config_writel(dev, cap + PCI_MSI_ADDRESS_HI, 0);
    qpci_config_writew(dev, cap + PCI_MSI_DATA_64, 0x4567);
    qpci_config_writew(dev, cap + PCI_MSI_FLAGS,
                       qpci_config_readw(dev, cap + PCI_MSI_FLAGS) |
                       PCI_MSI_FLAGS_ENABLE);
    qvtd_wr(&e->td[0], R_CTRL, 1);              /* CTRL.IRQ_EN */
    before = qvtd_rd(&e->td[0], R_COMPLETIONS);
    qvtd_run(&e->td[0], OP_NOP, 0, 0);
    g_assert_cmpuint(qvtd_rd(&e->td[0], R_COMPLETIONS), ==, before + 1);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x30), ==, 0);
    assert_event(e, 0, evt0(0x13, SID0), EVT1_CLASS(CLASS_IN), 0x10000030,
                 0);
    env_stop(e);

    /* The same MSI through a page unprivileged accesses may write lands */
    e = env_s1_page(0, 0, true);
    dev = e->td[0].dev;
    qtest_writel(e->qts, DATA + 0x30, 0);
    qpci_config_writel(dev, cap + PCI_MSI_ADDRESS_LO, 0x10000030);
    qpci_config_writel(dev, cap + PCI_MSI_ADDRESS_HI, 0);
    qpci_config_writew(dev, cap + PCI_MSI_DATA_64, 0x4567);
    qpci_config_writew(dev, cap + PCI_MSI_FLAGS,
                       qpci_config_readw(dev, cap + PCI_MSI_FLAGS) |
                       PCI_MSI_FLAGS_ENABLE);
    qvtd_wr(&e->td[0], R_CTRL, 1);
    qvtd_run(&e->td[0], OP_NOP, 0, 0);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x30), ==, 0x4567);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/* ---- small things ---- */

/*
 * GBPA keeps what it defines (ALLOCCFG included) and drops what is
 * reserved; without Secure state, NSCFG is reserved too
 */
static void test_gbpa_fields(void)
{
    Env *e = env_start("");

    qsmmu_writel(&e->smmu, SMMU_GBPA, 0x7fffffff);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_GBPA), ==, 0x1000);
    qsmmu_writel(&e->smmu, SMMU_GBPA, 0xffffffff & ~SMMU_GBPA_ABORT);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_GBPA), ==, 0x000f3f1f);
    assert_fill_lands(e, 0, DATA + 0x10, DATA + 0x10);
    env_stop(e);
}

/* No wake-up events (IDR0.SEV 0): CMD_SYNC's SIG_SEV is SIG_NONE */
static void test_cmd_sync_sev_is_none(void)
{
    Env *e = env_start_enabled();

    qsmmu_cmd(&e->smmu, SMMU_CMD_SYNC | (2ull << 12), 0);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_GERROR), ==, 0);
    env_stop(e);
}

/*
 * A single-address TLBI reaches a notifier over the whole block it was
 * handed: a 2 MiB block, and the TLBI names one byte inside
 */
static void test_tlbi_unmap_covers_handed_block(void)
{
    Env *e = env_start_enabled();
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, 0x40000000, RAM_BASE + 0x200000, 2, 0);
    write_cd_4k(e->qts, CD0, pt.root, 1);
    ste_s1(&e->smmu, SID0, CD0, 0);
    qvtd_wr(&e->td[0], R_PATTERN, WATCH_UNMAP);
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_WATCH, 0x40000000, 0x400000), ==,
                     RES_OK);
    assert_fill_lands(e, 0, 0x40012340, RAM_BASE + 0x212340);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | (1ull << 48), 0x40155000);
    g_assert_cmpuint(qvtd_rd(&e->td[0], R_NOTIFY_COUNT), ==, 1);
    assert_unmap_rec(e, 0, 0x40000000, 0x1fffff);
    env_stop(e);
}

/* vhost's device-IOTLB notifier hears every TLBI, as UNMAP ones do */
static void test_deviotlb_notifier_notified(void)
{
    Env *e = env_s1_page(0, 0, true);

    qvtd_wr(&e->td[0], R_PATTERN, WATCH_DEVIOTLB_UNMAP);
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_WATCH, 0x10000000, 0x1000), ==,
                     RES_OK);
    assert_fill_lands(e, 0, 0x10000000, DATA);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | (1ull << 48), 0x10000000);
    g_assert_cmpuint(qvtd_rd(&e->td[0], R_NOTIFY_COUNT), ==, 1);
    assert_unmap_rec(e, 0, 0x10000000, 0xfff);
    env_stop(e);
}

/* ---- global translations, EL2 ---- */

/*
 * A global translation (nG 0) is every ASID's: a TLBI by VA of any ASID
 * of the VMID removes it, whichever ASID cached it
 */
static void test_global_tlbi_va_any_asid(void)
{
    Env *e = env_start_enabled();
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, 0x10000000, DATA + 0x10000, 3, PT_GLOBAL);
    write_cd_4k(e->qts, CD0, pt.root, 1);
    ste_s1(&e->smmu, SID0, CD0, 0);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x10000);
    pt_remap(&pt, 0x10000000, DATA + 0x20000, 3, PT_GLOBAL);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | (2ull << 48), 0x10000000);
    assert_fill_lands(e, 0, 0x10000008, DATA + 0x20008);
    /* The range form of another ASID too */
    pt_remap(&pt, 0x10000000, DATA + 0x30000, 3, PT_GLOBAL);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | (3ull << 48) | (1ull << 20),
              0x10000000 | (1ull << 10) | (3ull << 8));
    assert_fill_lands(e, 0, 0x10000010, DATA + 0x30010);
    env_stop(e);
}

/* A stream of the EL2 StreamWorld on an SMMU set up with CR2 = @cr2 */
static Env *env_el2(uint32_t cr2, unsigned opts, PT *pt)
{
    Env *e = env_start("");
    CDParams cd = { .t0sz = 16, .ips = 5, .asid = 7 };

    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_writel(&e->smmu, SMMU_CR2, cr2);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qsmmu_setup_cmdq(&e->smmu, CMDQ, CMDQ_LOG2);
    pt_init(pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(pt, 0x10000000, DATA, 3, opts);
    cd.ttb0 = pt->root;
    write_cd(e->qts, CD0, &cd);
    ste_s1(&e->smmu, SID0, CD0, STE1_STRW(STRW_EL2));
    return e;
}

/*
 * EL2 (CR2.E2H 0): one privilege level, so AP[1] does not keep the
 * (unprivileged) device out; no ASIDs: TLBI_EL2_VA ignores its ASID
 */
static void test_el2_stream_and_tlbi(void)
{
    PT pt;
    Env *e = env_el2(0, PT_PRIV_ONLY, &pt);

    assert_fill_lands(e, 0, 0x10000000, DATA);
    pt_remap(&pt, 0x10000000, DATA + 0x1000, 3, PT_PRIV_ONLY);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_EL2_VA | (0x55ull << 48), 0x10000000);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x1000);
    pt_remap(&pt, 0x10000000, DATA + 0x2000, 3, PT_PRIV_ONLY);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_EL2_VAA, 0x10000000);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x2000);
    pt_remap(&pt, 0x10000000, DATA + 0x3000, 3, PT_PRIV_ONLY);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_EL2_ALL, 0);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x3000);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    /* CR2 cannot change while SMMUEN is set */
    qsmmu_writel(&e->smmu, SMMU_CR2, CR2_E2H | CR2_RECINVSID);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_CR2), ==, 0);
    env_stop(e);
}

/*
 * EL2-E2H (CR2.E2H 1): ASIDs, and two privilege levels again; each of
 * TLBI_EL2_ASID, _VA, _VAA and _ALL removes what it names
 */
static void test_el2_e2h_stream_and_tlbi(void)
{
    static const struct {
        uint64_t w0, w1;
    } forms[] = {
        { SMMU_CMD_TLBI_EL2_ASID | (7ull << 48), 0 },
        { SMMU_CMD_TLBI_EL2_VA | (7ull << 48), 0x10000000 },
        { SMMU_CMD_TLBI_EL2_VAA, 0x10000000 },
        { SMMU_CMD_TLBI_EL2_ALL, 0 },
    };
    PT pt;
    Env *e = env_el2(CR2_E2H, PT_PRIV_ONLY, &pt);

    g_assert_cmpuint(qvtd_run(&e->td[0], OP_READ, 0x10000000, 8), ==,
                     RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x13, SID0), EVT1_RNW | EVT1_CLASS(CLASS_IN),
                 0x10000000, 0);
    pt_remap(&pt, 0x10000000, DATA, 3, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_EL2_ALL, 0);
    for (int k = 0; k < ARRAY_SIZE(forms); k++) {
        assert_fill_lands(e, 0, 0x10000000, DATA + k * 0x1000);
        pt_remap(&pt, 0x10000000, DATA + (k + 1) * 0x1000, 3, 0);
        qsmmu_cmd(&e->smmu, forms[k].w0, forms[k].w1);
    }
    assert_fill_lands(e, 0, 0x10000000, DATA + ARRAY_SIZE(forms) * 0x1000);
    env_stop(e);
}

/*
 * Without IDR0.HYP (stage 1 alone: HYP needs both stages), the EL2
 * TLBIs are CERROR_ILL and STE.STRW is RES0: an EL2 STE is EL1
 */
static void test_el2_needs_hyp(void)
{
    Env *e = env_start_smmu("-device arm-smmuv3,primary-bus=pcie.0,stage=1",
                            "");
    PT pt;

    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR0) & (1u << 9), ==, 0);
    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qsmmu_setup_cmdq(&e->smmu, CMDQ, CMDQ_LOG2);
    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, 0x10000000, DATA, 3, PT_PRIV_ONLY);
    write_cd_4k(e->qts, CD0, pt.root, 1);
    ste_s1(&e->smmu, SID0, CD0, STE1_STRW(STRW_EL2));
    /* EL1: the unprivileged device may not read a privileged page */
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_READ, 0x10000000, 8), ==,
                     RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x13, SID0), EVT1_RNW | EVT1_CLASS(CLASS_IN),
                 0x10000000, 0);
    qsmmu_cmd_write(&e->smmu, SMMU_CMD_TLBI_EL2_ALL, 0);
    qsmmu_cmd_publish(&e->smmu);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_CMDQ_CONS), ==,
                    (SMMU_CERROR_ILL << 24) | 0);
    env_stop(e);
}

/* ---- stream tables ---- */

/*
 * A pxb-pcie root bus numbered 4 beside pcie.0, a root port on it and
 * one test device behind that, on bus 5 once pxb_setup() numbers it
 */
#define PXB_BUS             4
#define PXB_DEVFN           (((PXB_BUS + 1) << 8) | QPCI_DEVFN(0, 0))
#define PXB_BUS_ARGS        "-device pxb-pcie,bus_nr=4,id=pxb1,bus=pcie.0," \
                            "addr=6.0 "
#define PXB_DEV_ARGS        "-device pcie-root-port,bus=pxb1,id=pxbrp," \
                            "chassis=9,addr=0.0 " \
                            "-device viommu-testdev,bus=pxbrp,addr=0.0"
#define PXB_ARGS            PXB_BUS_ARGS PXB_DEV_ARGS
#define PXB_DEV             2

/*
 * What firmware would do: give the root port its secondary bus; the
 * device behind it is e->td[PXB_DEV]
 */
static void pxb_setup(Env *e)
{
    QPCIDevice *rp = qpci_device_find(&e->gbus.bus, PXB_BUS << 8);

    g_assert(rp);
    qpci_config_writeb(rp, PCI_PRIMARY_BUS, PXB_BUS);
    qpci_config_writeb(rp, PCI_SECONDARY_BUS, PXB_BUS + 1);
    qpci_config_writeb(rp, PCI_SUBORDINATE_BUS, PXB_BUS + 1);
    /* Forward all of the 32-bit MMIO window, and DMA upstream */
    qpci_config_writew(rp, PCI_MEMORY_BASE, 0x1000);
    qpci_config_writew(rp, PCI_MEMORY_LIMIT, 0x3ef0);
    qpci_config_writew(rp, PCI_COMMAND,
                       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    g_free(rp);
    qvtd_init(&e->td[PXB_DEV], &e->gbus.bus, PXB_DEVFN);
}

/*
 * Two-level stream tables: SPLIT 6, 8 and 10 index the levels as they
 * say, for StreamIDs 0x20 and 0x400; an L1 descriptor of SPAN 0 is
 * invalid, and so are the StreamIDs it would cover: C_BAD_STREAMID.
 */
static void check_strtab_split(unsigned split)
{
    Env *e = env_start(PXB_ARGS);
    QSMMUv3 *s = &e->smmu;
    const uint32_t sids[] = { SID0, PXB_DEVFN };
    uint64_t l1 = STRTAB, l2 = STRTAB_L2;
    PT pt;

    pxb_setup(e);
    qtest_memset(e->qts, l1, 0, 8 << (16 - split));
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE, l1);
    qsmmu_writel(s, SMMU_STRTAB_CFG, (1u << 16) | (split << 6) | 16);
    qsmmu_writel(s, SMMU_CR2, CR2_RECINVSID);
    qtest_memset(e->qts, EVENTQ, 0, 32 << EVENTQ_LOG2);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_EVENTQ_BASE,
                 EVENTQ | EVENTQ_LOG2);
    s->eventq = EVENTQ;
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, 0x10000000, DATA + 0x7000, 3, 0);
    write_cd_4k(e->qts, CD0, pt.root, 1);
    for (int i = 0; i < ARRAY_SIZE(sids); i++) {
        uint64_t table = l2 + i * (64ull << split);
        uint64_t ste[8] = {
            cpu_to_le64(STE0_V | STE0_CFG(STE_CFG_S1) | CD0),
        };

        qtest_memset(e->qts, table, 0, 64ull << split);
        qtest_writeq(e->qts, l1 + (sids[i] >> split) * 8,
                     table | (split + 1));
        qtest_memwrite(e->qts,
                       table + extract32(sids[i], 0, split) * 64, ste,
                       sizeof(ste));
    }
    assert_fill_lands(e, 0, 0x10000010, DATA + 0x7010);
    assert_fill_lands(e, PXB_DEV, 0x10000020, DATA + 0x7020);
    /* Invalid L1 descriptor for the pxb's StreamID */
    qtest_writeq(e->qts, l1 + (PXB_DEVFN >> split) * 8, l2 + (64ull << split));
    qsmmu_setup_cmdq(s, CMDQ, CMDQ_LOG2);
    qsmmu_cmd(s, SMMU_CMD_CFGI_STE_RANGE, 31);
    assert_fill_refused(e, PXB_DEV, 0x10000020, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x02, PXB_DEVFN), 0, 0, 0);
    env_stop(e);
}

/* ---- topology ---- */

/*
 * The SMMUs users create serve one root bus each, as the IORT maps them:
 * one on pcie.0 and one on a pxb-pcie's bus, each translating its own
 * bus's devices only.  The machine's iommu=smmuv3 covers the pxb too
 * (the strtab split tests use that).
 */
static void test_topology_smmu_per_bus(void)
{
    Env *e = env_start_smmu("-device arm-smmuv3,primary-bus=pcie.0", PXB_ARGS);
    QSMMUv3 pxb_smmu;

    /* pcie.0's SMMU, on and with no valid STE, leaves the pxb alone */
    pxb_setup(e);
    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_refused(e, 0, DATA + 0x30, RES_TRANSLATION_FAULT);
    assert_fill_lands(e, PXB_DEV, DATA + 0x40, DATA + 0x40);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    env_stop(e);

    /* And with an SMMU of its own, the pxb's devices are behind that */
    e = env_start_smmu("-device arm-smmuv3,primary-bus=pcie.0 "
                       PXB_BUS_ARGS "-device arm-smmuv3,primary-bus=pxb1",
                       PXB_DEV_ARGS);
    pxb_setup(e);
    qsmmu_init(&pxb_smmu, e->qts, USER_SMMU_BASE + 0x20000);
    g_assert_cmphex(qsmmu_readl(&pxb_smmu, SMMU_IDR0), ==,
                    qsmmu_readl(&e->smmu, SMMU_IDR0));
    /* Both off: everything bypasses */
    assert_fill_lands(e, 0, DATA + 0x10, DATA + 0x10);
    assert_fill_lands(e, PXB_DEV, DATA + 0x20, DATA + 0x20);
    /* pcie.0's SMMU on, its stream table empty: only its device faults */
    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_refused(e, 0, DATA + 0x30, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x04, SID0), 0, 0, 0);
    assert_fill_lands(e, PXB_DEV, DATA + 0x40, DATA + 0x40);
    /* The pxb's SMMU on: its device faults there, with its StreamID */
    qsmmu_setup_tables(&pxb_smmu, STRTAB_L2, 12, EVENTQ + 0x1000,
                       EVENTQ_LOG2);
    qsmmu_set_cr0(&pxb_smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_refused(e, PXB_DEV, DATA + 0x50, RES_TRANSLATION_FAULT);
    {
        uint64_t evt[4];

        qsmmu_event(&pxb_smmu, 0, evt);
        g_assert_cmphex(evt[0], ==, evt0(0x04, PXB_DEVFN));
    }
    g_assert_cmphex(evtq_prod(e), ==, 1);
    env_stop(e);
}

/* The primary bus is a root bus: a root port's bus is refused */
static void test_topology_primary_bus_is_root(void)
{
    if (g_test_subprocess()) {
        qtest_quit(qtest_init("-M virt -nodefaults "
                              "-device pcie-root-port,id=rp1,chassis=1 "
                              "-device arm-smmuv3,primary-bus=rp1"));
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*primary-bus rp1 is not the default PCIe "
                              "root bus*");
}

static void test_strtab_split_6(void)
{
    check_strtab_split(6);
}

static void test_strtab_split_8(void)
{
    check_strtab_split(8);
}

static void test_strtab_split_10(void)
{
    check_strtab_split(10);
}

/*
 * CFGI_STE_RANGE invalidates 2^(Range + 1) STEs from the StreamID
 * rounded down to that: the streams it covers see their new STEs
 */
static void test_cfgi_ste_range_bounds(void)
{
    Env *e = env_start_enabled();
    const uint64_t bypass[8] = { STE0_V | STE0_CFG(STE_CFG_BYPASS) };
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(&pt, DATA, DATA + 0x9000, 3, 0);
    write_cd_4k(e->qts, CD0, pt.root, 1);
    /* 0x20: 0x21 with Range 0 is {0x20, 0x21} */
    qsmmu_ste_raw(&e->smmu, SID0, bypass);
    assert_fill_lands(e, 0, DATA + 0x48, DATA + 0x48);
    ste_s1(&e->smmu, SID0, CD0, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE_RANGE | (0x21ull << 32), 0);
    assert_fill_lands(e, 0, DATA + 0x48, DATA + 0x9048);
    /* 0x27 with Range 2 is 0x20..0x27 */
    qsmmu_ste_raw(&e->smmu, SID0, bypass);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE_RANGE | (0x27ull << 32), 2);
    assert_fill_lands(e, 0, DATA + 0x50, DATA + 0x50);
    /* 0x28 with Range 3 is 0x20..0x2f: both streams */
    qsmmu_ste_raw(&e->smmu, SID1, bypass);
    assert_fill_lands(e, 1, DATA + 0x58, DATA + 0x58);
    ste_s1(&e->smmu, SID0, CD0, 0);
    ste_s1(&e->smmu, SID1, CD0, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE_RANGE | (0x28ull << 32), 3);
    assert_fill_lands(e, 0, DATA + 0x60, DATA + 0x9060);
    assert_fill_lands(e, 1, DATA + 0x68, DATA + 0x9068);
    env_stop(e);
}

/* ---- stage 2 and nested ---- */

/* Stage 2 faults: an output beyond S2PS; AF clear unless S2AFFD */
static void test_s2_addr_size_and_access(void)
{
    Env *e = env_start_enabled();
    PT pt;

    pt_init(&pt, e->qts, true, 12, 40, 1, PT_POOL);
    pt_map(&pt, 0x20000000, 1ull << 41, 3, 0);
    pt_map(&pt, 0x20001000, DATA, 3, PT_NO_AF);
    /* S2PS 40 bits */
    ste_s2(&e->smmu, SID0, STE_CFG_S2, 0, ste2_ps(ste2_s2(3, 40, 1, 0), 2),
           pt.root);
    assert_fill_refused(e, 0, 0x20000008, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x11, SID0), EVT1_S2 | EVT1_CLASS(CLASS_IN),
                 0x20000008, 0x20000000);
    assert_fill_refused(e, 0, 0x20001010, RES_TRANSLATION_FAULT);
    assert_event(e, 1, evt0(0x12, SID0), EVT1_S2 | EVT1_CLASS(CLASS_IN),
                 0x20001010, 0x20001000);
    /* STE.S2AFFD: no access flag faults */
    ste_s2(&e->smmu, SID0, STE_CFG_S2, 0,
           ste2_ps(ste2_s2(3, 40, 1, 0), 2) | (1ull << 53), pt.root);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID0 << 32), 0);
    assert_fill_lands(e, 0, 0x20001010, DATA + 0x10);
    env_stop(e);
}

/*
 * Nested with 2 MiB stage 2 blocks for the CD, the stage 1 tables and
 * the data; stage 1 maps VA 0x10000000 to the data's IPA
 */
static void setup_nested_2m(Env *e, PT *s1, PT *s2)
{
    CDParams cd = { .t0sz = 16, .tg0 = 0, .ips = 5, .asid = 9 };

    pt_init(s2, e->qts, true, 12, 40, 1, PT_POOL2);
    pt_map(s2, CD0 + NESTED_OFFSET, CD0, 2, 0);
    pt_map(s2, PT_POOL + NESTED_OFFSET, PT_POOL, 2, 0);
    pt_map(s2, DATA + NESTED_OFFSET, DATA, 2, 0);
    pt_init(s1, e->qts, false, 12, 48, 0, PT_POOL);
    s1->addr_offset = NESTED_OFFSET;
    pt_map(s1, 0x10000000, DATA + NESTED_OFFSET + 0x3000, 3, 0);
    cd.ttb0 = s1->root + NESTED_OFFSET;
    write_cd(e->qts, CD0, &cd);
    ste_s2(&e->smmu, SID0, STE_CFG_NESTED, CD0 + NESTED_OFFSET,
           ste2_s2(5, 40, 1, 0), s2->root);
}

/*
 * TLBI_S2_IPA on nested streams: with the TLBI_NH_ALL or TLBI_NH_VAA the
 * architecture pairs it with, a changed stage 2 mapping of the data, or
 * of the stage 1 tables, is used
 */
static void test_tlbi_s2_ipa_nested(void)
{
    Env *e = env_start_enabled();
    g_autofree uint8_t *copy = g_malloc(0x200000);
    PT s1, s2;

    setup_nested_2m(e, &s1, &s2);
    assert_fill_lands(e, 0, 0x10000100, DATA + 0x3100);
    /* The data's IPA now in the next 2 MiB */
    pt_remap(&s2, DATA + NESTED_OFFSET, DATA + 0x200000, 2, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_S2_IPA | (5ull << 32),
              DATA + NESTED_OFFSET);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ALL | (5ull << 32), 0);
    assert_fill_lands(e, 0, 0x10000108, DATA + 0x203108);
    /*
     * The stage 1 tables' IPAs now reach a copy of them whose leaf
     * points elsewhere; TLBI_NH_VAA this time
     */
    qtest_memread(e->qts, PT_POOL, copy, 0x200000);
    qtest_memwrite(e->qts, PT_POOL + 0x200000, copy, 0x200000);
    qtest_writeq(e->qts, pt_slot(&s1, 0x10000000, 3) + 0x200000,
                 pt_desc(&s1, DATA + NESTED_OFFSET + 0x5000, 3, 0));
    pt_remap(&s2, PT_POOL + NESTED_OFFSET, PT_POOL + 0x200000, 2, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_S2_IPA | (5ull << 32) | (15ull << 12),
              (PT_POOL + NESTED_OFFSET) | (1ull << 10));
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VAA | (5ull << 32), 0x10000000);
    assert_fill_lands(e, 0, 0x10000110, DATA + 0x205110);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/*
 * Two stage-1 streams, the same ASID and VA, VMIDs 1 and 2 (STE.S2VMID:
 * stage 2 is implemented): translations never cross VMIDs, and
 * TLBI_NH_ALL of a VMID and TLBI_NSNH_ALL remove what they name
 */
static void test_vmid_isolation(void)
{
    Env *e = env_start_enabled();
    PT pt0, pt1;

    pt_init(&pt0, e->qts, false, 12, 48, 0, PT_POOL);
    pt_init(&pt1, e->qts, false, 12, 48, 0, PT_POOL2);
    pt_map(&pt0, 0x10000000, DATA + 0x10000, 3, PT_GLOBAL);
    pt_map(&pt1, 0x10000000, DATA + 0x20000, 3, PT_GLOBAL);
    write_cd_4k(e->qts, CD0, pt0.root, 1);
    write_cd_4k(e->qts, CD1, pt1.root, 1);
    {
        const uint64_t a[8] = { STE0_V | STE0_CFG(STE_CFG_S1) | CD0, 0, 1 };
        const uint64_t b[8] = { STE0_V | STE0_CFG(STE_CFG_S1) | CD1, 0, 2 };

        qsmmu_ste_raw(&e->smmu, SID0, a);
        qsmmu_ste_raw(&e->smmu, SID1, b);
    }
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x10000);
    assert_fill_lands(e, 1, 0x10000000, DATA + 0x20000);
    assert_fill_lands(e, 0, 0x10000008, DATA + 0x10008);
    pt_remap(&pt0, 0x10000000, DATA + 0x30000, 3, PT_GLOBAL);
    pt_remap(&pt1, 0x10000000, DATA + 0x40000, 3, PT_GLOBAL);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ALL | (2ull << 32), 0);
    assert_fill_lands(e, 1, 0x10000000, DATA + 0x40000);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ALL | (1ull << 32), 0);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x30000);
    pt_remap(&pt0, 0x10000000, DATA + 0x50000, 3, PT_GLOBAL);
    pt_remap(&pt1, 0x10000000, DATA + 0x60000, 3, PT_GLOBAL);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NSNH_ALL, 0);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x50000);
    assert_fill_lands(e, 1, 0x10000000, DATA + 0x60000);
    env_stop(e);
}

/* ---- stage 1 ranges and permissions ---- */

/*
 * TTB0 and TTB1 both in use: bit 55 selects; EPD0 makes the lower half
 * fault; an address outside both ranges faults
 */
static void test_ttb1_and_epd0(void)
{
    Env *e = env_start_enabled();
    CDParams cd = { .t0sz = 16, .ips = 5, .asid = 1, .t1sz = 16, .tg1 = 2 };
    PT pt0, pt1;

    pt_init(&pt0, e->qts, false, 12, 48, 0, PT_POOL);
    pt_init(&pt1, e->qts, false, 12, 48, 0, PT_POOL2);
    pt_map(&pt0, 0x10000000, DATA + 0x1000, 3, 0);
    pt_map(&pt1, 0xffff800010000000ull, DATA + 0x2000, 3, 0);
    cd.ttb0 = pt0.root;
    cd.ttb1 = pt1.root;
    write_cd(e->qts, CD0, &cd);
    ste_s1(&e->smmu, SID0, CD0, 0);
    assert_fill_lands(e, 0, 0x10000008, DATA + 0x1008);
    assert_fill_lands(e, 0, 0xffff800010000010ull, DATA + 0x2010);
    assert_fill_refused(e, 0, 0x0001000010000000ull, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN),
                 0x0001000010000000ull, 0);
    cd.epd0 = true;
    write_cd(e->qts, CD0, &cd);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_CD | ((uint64_t)SID0 << 32), 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ASID | (1ull << 48), 0);
    assert_fill_refused(e, 0, 0x10000008, RES_TRANSLATION_FAULT);
    assert_event(e, 1, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN), 0x10000008,
                 0);
    assert_fill_lands(e, 0, 0xffff800010000018ull, DATA + 0x2018);
    env_stop(e);
}

/* A stage 1 page at IOVA 0x10000000 for SID0 with a CD as @cd says */
static Env *env_s1_cd(CDParams *cd, unsigned opts, uint64_t ste_w1,
                      PT *pt)
{
    Env *e = env_start_enabled();

    pt_init(pt, e->qts, false, 12, 48, 0, PT_POOL);
    pt_map(pt, 0x10000000, DATA, 3, opts);
    cd->t0sz = 16;
    cd->ips = 5;
    cd->asid = 1;
    cd->ttb0 = pt->root;
    write_cd(e->qts, CD0, cd);
    ste_s1(&e->smmu, SID0, CD0, ste_w1);
    return e;
}

/* A read by SID0 at 0x10000040 and, when refused, its record */
static void assert_read(Env *e, uint32_t result, uint64_t evt1)
{
    uint32_t prod = evtq_prod(e);

    g_assert_cmpuint(qvtd_run(&e->td[0], OP_READ, 0x10000040, 8), ==,
                     result);
    if (result == RES_OK) {
        g_assert_cmphex(evtq_prod(e), ==, prod);
    } else {
        assert_event(e, prod, evt0(0x13, SID0), evt1, 0x10000040, 0);
    }
}

#define PRIV        STE1_PRIVCFG(3)
#define UNPRIV      STE1_PRIVCFG(2)
#define INST        STE1_INSTCFG(3)

/* WXN: memory that can be written is never executed */
static void test_perm_wxn(void)
{
    CDParams cd = { .wxn = true };
    PT pt;
    Env *e = env_s1_cd(&cd, 0, INST, &pt);

    assert_read(e, RES_PERMISSION_FAULT,
                EVT1_IND | EVT1_RNW | EVT1_CLASS(CLASS_IN));
    env_stop(e);
    e = env_s1_cd(&cd, PT_RO, INST, &pt);
    assert_read(e, RES_OK, 0);
    env_stop(e);
}

/* PAN: privileged data accesses to memory the unprivileged may reach */
static void test_perm_pan(void)
{
    CDParams cd = { .pan = true };
    PT pt;
    Env *e = env_s1_cd(&cd, 0, PRIV, &pt);

    assert_read(e, RES_TRANSLATION_FAULT,
                EVT1_PNU | EVT1_RNW | EVT1_CLASS(CLASS_IN));
    env_stop(e);
    e = env_s1_cd(&cd, PT_PRIV_ONLY, PRIV, &pt);
    assert_read(e, RES_OK, 0);
    env_stop(e);
    cd.pan = false;
    e = env_s1_cd(&cd, 0, PRIV, &pt);
    assert_read(e, RES_OK, 0);
    env_stop(e);
}

/*
 * The table descriptors' APTable, UXNTable and PXNTable limit every leaf
 * below them
 */
static void test_perm_table_attributes(void)
{
    CDParams cd = { 0 };
    PT pt;
    Env *e;

    /* APTable[1]: read-only below */
    e = env_s1_cd(&cd, 0, 0, &pt);
    pt_table_bits(&pt, 0x10000000, 2, TD_APTABLE_RO);
    assert_read(e, RES_OK, 0);
    assert_fill_refused(e, 0, 0x10000048, RES_PERMISSION_FAULT);
    assert_event(e, 0, evt0(0x13, SID0), EVT1_CLASS(CLASS_IN), 0x10000048,
                 0);
    env_stop(e);
    /* APTable[0]: no unprivileged access below */
    e = env_s1_cd(&cd, 0, 0, &pt);
    pt_table_bits(&pt, 0x10000000, 1, TD_APTABLE_NO_EL0);
    assert_read(e, RES_TRANSLATION_FAULT, EVT1_RNW | EVT1_CLASS(CLASS_IN));
    env_stop(e);
    /* UXNTable: unprivileged instruction fetches fault, data does not */
    e = env_s1_cd(&cd, 0, INST, &pt);
    pt_table_bits(&pt, 0x10000000, 0, TD_UXNTABLE);
    assert_read(e, RES_PERMISSION_FAULT,
                EVT1_IND | EVT1_RNW | EVT1_CLASS(CLASS_IN));
    env_stop(e);
    e = env_s1_cd(&cd, 0, 0, &pt);
    pt_table_bits(&pt, 0x10000000, 0, TD_UXNTABLE);
    assert_read(e, RES_OK, 0);
    env_stop(e);
    /*
     * PXNTable: privileged fetches fault, unprivileged ones do not (the
     * page is read-only, so nothing at all is left for the device)
     */
    e = env_s1_cd(&cd, PT_RO, PRIV | INST, &pt);
    pt_table_bits(&pt, 0x10000000, 2, TD_PXNTABLE);
    assert_read(e, RES_TRANSLATION_FAULT,
                EVT1_PNU | EVT1_IND | EVT1_RNW | EVT1_CLASS(CLASS_IN));
    env_stop(e);
    e = env_s1_cd(&cd, PT_RO, UNPRIV | INST, &pt);
    pt_table_bits(&pt, 0x10000000, 2, TD_PXNTABLE);
    assert_read(e, RES_OK, 0);
    env_stop(e);
}

/* ---- caches ---- */

/*
 * An IOTLB of 16 entries in front of 64 pages: every translation stays
 * exact while entries come and go, and a TLBI reaches all of them
 */
static void test_eviction_at_capacity(void)
{
    Env *e = env_start("-global arm-smmuv3.iotlb-entries=16");
    PT pt;

    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qsmmu_setup_cmdq(&e->smmu, CMDQ, CMDQ_LOG2);
    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    for (int i = 0; i < 64; i++) {
        pt_map(&pt, 0x10000000 + i * 0x1000, DATA + (63 - i) * 0x1000, 3, 0);
    }
    write_cd_4k(e->qts, CD0, pt.root, 1);
    ste_s1(&e->smmu, SID0, CD0, 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 64; i++) {
            int page = (i * 37 + round * 11) % 64;

            assert_fill_lands(e, 0, 0x10000000 + page * 0x1000,
                              DATA + (63 - page) * 0x1000);
        }
    }
    for (int i = 0; i < 64; i++) {
        pt_remap(&pt, 0x10000000 + i * 0x1000, DATA + 0x100000 + i * 0x1000,
                 3, 0);
    }
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ASID | (1ull << 48), 0);
    for (int i = 0; i < 64; i++) {
        assert_fill_lands(e, 0, 0x10000000 + i * 0x1000,
                          DATA + 0x100000 + i * 0x1000);
    }
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/* ---- the event queue, global errors, interrupts ---- */

/*
 * An event queue write that aborts: GERROR.EVENTQ_ABT_ERR, PROD stays,
 * and nothing is recorded until software acknowledges it
 */
static void test_eventq_abt_err(void)
{
    Env *e = env_start("");
    QSMMUv3 *s = &e->smmu;

    qsmmu_setup_tables(s, STRTAB, STRTAB_LOG2, NOWHERE, EVENTQ_LOG2);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR), ==,
                    SMMU_GERROR_EVENTQ_ABT_ERR);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    /* The queue moves to RAM, but the error is still unacknowledged */
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_EVENTQ_BASE,
                 EVENTQ | EVENTQ_LOG2);
    s->eventq = EVENTQ;
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_refused(e, 0, DATA + 0x1000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    qsmmu_writel(s, SMMU_GERRORN, SMMU_GERROR_EVENTQ_ABT_ERR);
    assert_fill_refused(e, 0, DATA + 0x2000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    assert_event(e, 0, evt0(0x04, SID0), 0, 0, 0);
    env_stop(e);
}

/*
 * MSIs that abort: the event queue's sets MSI_EVENTQ_ABT_ERR, which
 * interrupts; GERROR's own sets MSI_GERROR_ABT_ERR, which does not
 */
static void test_msi_abt_errs(void)
{
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;

    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_EVENTQ_IRQ_CFG0, NOWHERE);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_GERROR_IRQ_CFG0, MSI_SLOT);
    qsmmu_writel(s, SMMU_GERROR_IRQ_CFG1, 0x2222);
    qsmmu_writel(s, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_GERROR_IRQEN |
                 SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    qtest_writel(e->qts, MSI_SLOT, 0);
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR), ==, 1u << 5);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT), ==, 0x2222);
    qsmmu_writel(s, SMMU_GERRORN, 1u << 5);

    qsmmu_writel(s, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_GERROR_IRQ_CFG0, NOWHERE);
    qsmmu_writel(s, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_GERROR_IRQEN |
                 SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    qsmmu_cmd_write(s, 0x77, 0);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR), ==,
                    (1u << 5) | SMMU_GERROR_CMDQ_ERR | (1u << 7));
    env_stop(e);
}

/* Records are dropped, and no overflow flagged, while EVENTQEN is 0 */
static void test_events_dropped_while_eventq_disabled(void)
{
    Env *e = env_start("");
    QSMMUv3 *s = &e->smmu;

    qsmmu_setup_tables(s, STRTAB, STRTAB_LOG2, EVENTQ, 1);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN);
    for (int i = 0; i < 3; i++) {
        assert_fill_refused(e, 0, DATA + i * 0x1000, RES_TRANSLATION_FAULT);
    }
    g_assert_cmphex(evtq_prod(e), ==, 0);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    g_assert_cmpuint(fill8(e, 0, 0x12340008, 1), ==, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    assert_event(e, 0, evt0(0x04, SID0), 0, 0, 0);
    env_stop(e);
}

/*
 * IRQ_CTRL: no interrupt while a source is disabled, none afterwards for
 * what happened then; the event queue interrupts when it goes from empty
 * to not empty; a source's MSI registers are read-only while enabled
 */
static void test_irq_ctrl_gating(void)
{
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;

    set_queue_msis(e, 0x1111, 0x2222);
    qtest_writeq(e->qts, MSI_SLOT, 0);
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    qsmmu_cmd_write(s, 0x77, 0);
    qsmmu_cmd_publish(s);
    qsmmu_writel(s, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_GERROR_IRQEN |
                 SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    g_assert_cmphex(qtest_readq(e->qts, MSI_SLOT), ==, 0);
    /* The queue is not empty: another record does not interrupt */
    assert_fill_refused(e, 0, DATA + 0x1000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT), ==, 0);
    /* Empty, then a record: it does */
    qsmmu_writel(s, SMMU_EVENTQ_CONS, evtq_prod(e));
    assert_fill_refused(e, 0, DATA + 0x2000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT), ==, 0x1111);
    /* The MSI registers cannot change under an enabled source */
    qsmmu_writel(s, SMMU_EVENTQ_IRQ_CFG1, 0x3333);
    g_assert_cmphex(qsmmu_readl(s, SMMU_EVENTQ_IRQ_CFG1), ==, 0x1111);
    /*
     * GERROR: the error raised while its interrupt was off never
     * interrupts; acknowledged, the queue retries the command it stopped
     * at, and that new error does
     */
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT + 4), ==, 0);
    qsmmu_writel(s, SMMU_GERRORN, SMMU_GERROR_CMDQ_ERR);
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT + 4), ==, 0x2222);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR) ^
                    qsmmu_readl(s, SMMU_GERRORN), ==, SMMU_GERROR_CMDQ_ERR);
    env_stop(e);
}

/* ---- DMA from a thread without the BQL ---- */

/*
 * A burst of @count 8-byte reads over the 16 pages that IOVA 0x10000000
 * maps for SID0, on the test device's own thread: outside the BQL, as an
 * iothread's DMA is
 */
static Env *env_s1_16_pages(void)
{
    Env *e = env_start_enabled();
    PT pt;

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
    for (int i = 0; i < 16; i++) {
        pt_map(&pt, 0x10000000 + i * 0x1000, DATA + i * 0x1000, 3, 0);
    }
    write_cd_4k(e->qts, CD0, pt.root, 1);
    ste_s1(&e->smmu, SID0, CD0, 0);
    return e;
}

static void start_thread_burst(Env *e, uint32_t count)
{
    qvtd_wr(&e->td[0], R_BURST_COUNT, count);
    qvtd_wr(&e->td[0], R_BURST_STRIDE, 0x1000);
    qvtd_wr(&e->td[0], R_BURST_SPAN, 16 * 0x1000);
    qvtd_start_async(&e->td[0], OP_BURST_READ, 0x10000000, 8);
}

/*
 * "stop" holds the BQL while it waits for the device thread's DMA to end,
 * as vm_stop() waits for a dataplane iothread: the SMMU must translate
 * that DMA without the BQL, or stopping hangs (the test device gives up
 * after 5 s and counts it in STOP_STALLS).  Every access is translated
 * exactly, before and after the stop.
 */
static void test_thread_dma_during_stop(void)
{
    Env *e = env_s1_16_pages();
    uint32_t before;

    for (int round = 0; round < 3; round++) {
        before = qvtd_rd(&e->td[0], R_COMPLETIONS);
        start_thread_burst(e, BURST_MAX_COUNT);
        /* Still running when the stop comes */
        g_assert_cmphex(qvtd_rd(&e->td[0], R_STATUS) & STATUS_BUSY, ==,
                        STATUS_BUSY);
        qtest_qmp_assert_success(e->qts, "{ 'execute': 'stop' }");
        g_assert_cmpuint(qvtd_rd(&e->td[0], R_STOP_STALLS), ==, 0);
        g_assert_cmpuint(qvtd_wait_async(&e->td[0], before), ==, RES_OK);
        g_assert_cmpuint(qvtd_rd(&e->td[0], R_BURST_DONE), ==,
                         BURST_MAX_COUNT);
        qtest_qmp_assert_success(e->qts, "{ 'execute': 'cont' }");
    }
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/*
 * A fault on the device thread: the record is written at once, exactly
 * as on any other thread, and the event queue's MSI follows.
 */
static void test_thread_fault_record_and_msi(void)
{
    Env *e = env_s1_16_pages();
    QSMMUv3 *s = &e->smmu;
    uint32_t before;

    set_queue_msis(e, 0x5151, 0);
    qsmmu_writel(s, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    qtest_writel(e->qts, MSI_SLOT, 0);

    qvtd_wr(&e->td[0], R_PATTERN, 0x77);
    before = qvtd_rd(&e->td[0], R_COMPLETIONS);
    qvtd_start_async(&e->td[0], OP_FILL, 0x10010008, 8);
    g_assert_cmpuint(qvtd_wait_async(&e->td[0], before), ==,
                     RES_TRANSLATION_FAULT);
    qvtd_assert_outcome(&e->td[0], MEMTX_DECODE_ERROR, 0x10010008, 0);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    assert_event(e, 0, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN), 0x10010008,
                 0);
    /* A few trips through the main loop for the interrupt to go out */
    for (int i = 0; i < 100 && !qtest_readl(e->qts, MSI_SLOT); i++) {
        g_usleep(1000);
    }
    g_assert_cmphex(qtest_readl(e->qts, MSI_SLOT), ==, 0x5151);
    env_stop(e);
}

/* ---- hostile guests ---- */

/* CD.IPS 6 and 7 (upstream 10.2 aborts): the SMMU's own OAS applies */
static void test_hostile_cd_ips(void)
{
    for (unsigned ips = 6; ips <= 7; ips++) {
        Env *e = env_start_enabled();
        CDParams cd = { .t0sz = 16, .tg0 = 0, .ips = ips, .asid = 1 };
        PT pt;

        pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL);
        pt_map(&pt, 0x10000000, DATA, 3, 0);
        pt_map(&pt, 0x10001000, 1ull << 44, 3, 0);
        cd.ttb0 = pt.root;
        write_cd(e->qts, CD0, &cd);
        ste_s1(&e->smmu, SID0, CD0, 0);
        assert_fill_lands(e, 0, 0x10000000, DATA);
        /* Past the 44-bit OAS */
        assert_fill_refused(e, 0, 0x10001000, RES_TRANSLATION_FAULT);
        assert_event(e, 0, evt0(0x11, SID0), EVT1_CLASS(CLASS_IN),
                     0x10001000, 0);
        env_stop(e);
    }
}

/* STE.S2AA64 = 0 with stage 2 (upstream 10.2 aborts): C_BAD_STE */
static void test_hostile_s2aa64(void)
{
    Env *e = env_start_enabled();

    ste_s2(&e->smmu, SID0, STE_CFG_S2, 0,
           ste2_s2(1, 44, 2, 0) & ~(1ull << 51), PT_POOL);
    assert_fill_refused(e, 0, DATA, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x04, SID0), 0, 0, 0);
    env_stop(e);
}

/*
 * STRTAB_BASE_CFG.LOG2SIZE beyond SIDSIZE: the StreamIDs stop at SIDSIZE,
 * the base's alignment follows the literal value (upstream: undefined
 * behaviour at 63)
 */
static void test_hostile_strtab_log2size(void)
{
    Env *e = env_start("");
    const uint64_t bypass = STE0_V | STE0_CFG(STE_CFG_BYPASS);

    /*
     * 20: StreamIDs to SIDSIZE (16 bits), the base aligned to 2^(20 + 6)
     * bytes, the start of RAM
     */
    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_writel(&e->smmu, SMMU_STRTAB_CFG, 20);
    qtest_memset(e->qts, RAM_BASE + SID0 * 64, 0, 64);
    qtest_writeq(e->qts, RAM_BASE + SID0 * 64, bypass);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_lands(e, 0, DATA + 0x10, DATA + 0x10);
    /* 63: aligned to 2^69, the base is 0: blank flash, an invalid STE */
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_EVENTQEN);
    qsmmu_writel(&e->smmu, SMMU_STRTAB_CFG, 63);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_refused(e, 0, DATA + 0x20, RES_TRANSLATION_FAULT);
    assert_event(e, 0, evt0(0x04, SID0), 0, 0, 0);
    env_stop(e);
}

/*
 * A notifier watching the SMMU's last byte: its IOMMU region spans 2^64
 * bytes, whose size QEMU reports as UINT64_MAX, so the test device once
 * took the region's last offset as 2^64 - 2 and asked for a notifier
 * ending before it starts, which QEMU asserts against (found by the
 * SMMUv3 fuzz target).  The watch is made, and the device goes on.
 */
static void test_hostile_watch_last_byte(void)
{
    Env *e = env_s1_page(0, 0, true);

    qvtd_wr(&e->td[0], R_PATTERN, WATCH_UNMAP);
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_WATCH, UINT64_MAX, 0x1000), ==,
                     RES_OK);
    g_assert_cmpuint(qvtd_rd(&e->td[0], R_IOMMU_REQ_STATUS), ==,
                     REQ_ANSWERED);
    assert_fill_lands(e, 0, 0x10000000, DATA);
    g_assert_cmpuint(qvtd_run(&e->td[0], OP_UNWATCH, 0, 0), ==, RES_OK);
    env_stop(e);
}

/*
 * Queues of one entry (LOG2SIZE 0): PROD and CONS are a wrap bit alone.
 * The event queue takes one record, then overflows; the command queue
 * runs a command each time PROD's wrap bit flips.  make fuzz's SMMUv3
 * target found the first record aborting QEMU.
 */
static void test_hostile_queues_of_one_entry(void)
{
    Env *e = env_s1_page(0, 0, true);
    QSMMUv3 *s = &e->smmu;

    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN);
    qtest_writeq(e->qts, s->base + SMMU_EVENTQ_BASE, EVENTQ);
    qsmmu_writel(s, SMMU_EVENTQ_PROD, 0);
    qsmmu_writel(s, SMMU_EVENTQ_CONS, 0);
    qsmmu_setup_cmdq(s, CMDQ, 0);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN | SMMU_CR0_CMDQEN);

    assert_fill_refused(e, 0, 0x10001000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    assert_event(e, 0, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN), 0x10001000,
                 0);
    /* Full: the second record is lost, and PROD.OVFLG says so */
    assert_fill_refused(e, 0, 0x10002000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, SMMU_Q_OVF | 1);
    assert_event(e, 0, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN), 0x10001000,
                 0);
    /* Consumed: the next record goes in the same entry */
    qsmmu_writel(s, SMMU_EVENTQ_CONS, SMMU_Q_OVF | 1);
    assert_fill_refused(e, 0, 0x10003000, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, SMMU_Q_OVF);
    assert_event(e, 0, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN), 0x10003000,
                 0);

    for (int i = 0; i < 3; i++) {
        qsmmu_cmd_write(s, SMMU_CMD_SYNC, 0);
        qsmmu_cmd_publish(s);
        g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, (i + 1) & 1);
    }
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR) ^ qsmmu_readl(s, SMMU_GERRORN),
                    ==, 0);
    assert_fill_lands(e, 0, 0x10000010, DATA + 0x10);
    env_stop(e);
}

/* ---- an oracle ---- */

/*
 * Random stage 1 tables, changed at random and invalidated as software
 * must, with ASIDs switched and global entries among them: every DMA
 * lands exactly where a walk of the tables by the test says, or is
 * refused with exactly the record that walk predicts.
 */

#define ORACLE_IA_BITS      48
#define ORACLE_OA_BITS      44      /* the OAS caps CD.IPS (48) */
#define ORACLE_POOL_END     (RAM_BASE + 0x1c00000)
#define DESC_OA_MASK        0x0000fffffffff000ull

typedef struct Oracle {
    Env *e;
    GRand *rng;
    uint64_t root, next;
    uint16_t asid;
    bool ever_global;
    unsigned seen[0x14];    /* outcomes: 0 landed, else the record type */
} Oracle;

typedef struct Expect {
    uint32_t res;           /* the device's result */
    uint8_t type;           /* the record, when refused */
    uint64_t pa;            /* where it lands, when not */
} Expect;

static uint64_t lvl_size(int level)
{
    return 1ull << (12 + 9 * (3 - level));
}

static uint64_t oracle_index(uint64_t va, int level)
{
    return (va >> (12 + 9 * (3 - level))) & 511;
}

/* The walk the architecture describes, for an unprivileged data access */
static Expect oracle_walk(Oracle *o, uint64_t va, bool write)
{
    QTestState *qts = o->e->qts;
    uint64_t table = o->root;
    bool no_unpriv = false, rdonly = false;

    for (int level = 0; level <= 3; level++) {
        uint64_t desc = qtest_readq(qts, table + oracle_index(va, level) * 8);
        uint64_t oa = desc & DESC_OA_MASK;

        if (!(desc & 1) || (level == 3 && !(desc & 2)) ||
            (level == 0 && !(desc & 2))) {
            return (Expect) { RES_TRANSLATION_FAULT, 0x10 };
        }
        if (oa >> ORACLE_OA_BITS) {
            return (Expect) { RES_TRANSLATION_FAULT, 0x11 };
        }
        if (level < 3 && (desc & 2)) {
            no_unpriv |= desc & TD_APTABLE_NO_EL0;
            rdonly |= desc & TD_APTABLE_RO;
            table = oa;
            continue;
        }
        if (!(desc & (1ull << 10))) {
            return (Expect) { RES_TRANSLATION_FAULT, 0x12 };
        }
        /* AP[1]: the unprivileged may access; AP[2]: read-only */
        if (!(desc & (1ull << 6)) || no_unpriv) {
            return (Expect) { RES_TRANSLATION_FAULT, 0x13 };
        }
        if (write && ((desc & (1ull << 7)) || rdonly)) {
            return (Expect) { RES_PERMISSION_FAULT, 0x13 };
        }
        return (Expect) {
            .res = RES_OK,
            .pa = (oa & ~(lvl_size(level) - 1)) | (va & (lvl_size(level) - 1)),
        };
    }
    g_assert_not_reached();
}

static uint64_t oracle_rand64(Oracle *o)
{
    return ((uint64_t)g_rand_int(o->rng) << 32) | g_rand_int(o->rng);
}

static bool oracle_chance(Oracle *o, unsigned percent)
{
    return g_rand_int_range(o->rng, 0, 100) < percent;
}

/* Bits the walk ignores here, at random: software, DBM, GP, PBHA, ... */
static uint64_t oracle_ignored_bits(Oracle *o, bool table)
{
    uint64_t r = oracle_rand64(o);

    if (table) {
        /* [58:52] ignored, [11:2] ignored */
        return r & (0x07f0000000000000ull | 0xffcull);
    }
    /* [58:55] software, [54:53] XN, 51 DBM, 50 GP; [11] nG, [9:2] */
    return r & (0x07ec000000000000ull | 0x3fcull);
}

/* Bits beyond the OAS in an output address, now and then */
static uint64_t oracle_beyond_oas(Oracle *o, unsigned percent)
{
    return oracle_chance(o, percent) ?
           1ull << g_rand_int_range(o->rng, ORACLE_OA_BITS, 48) : 0;
}

static uint64_t oracle_leaf(Oracle *o, int level)
{
    uint64_t desc = oracle_ignored_bits(o, false) & ~(1ull << 11);
    uint64_t out;

    switch (level) {
    case 1:
        out = RAM_BASE;
        break;
    case 2:
        out = DATA + g_rand_int_range(o->rng, 0, 8) * lvl_size(2);
        break;
    default:
        out = DATA + g_rand_int_range(o->rng, 0, 4096) * lvl_size(3);
        break;
    }
    desc |= out | oracle_beyond_oas(o, 5);
    /* Valid mostly; a page's type bit, a block's absence of it */
    desc |= oracle_chance(o, 92) ? 1 : 0;
    desc |= (level == 3) == oracle_chance(o, 95) ? 2 : 0;
    desc |= oracle_chance(o, 90) ? 1ull << 10 : 0;           /* AF */
    desc |= oracle_chance(o, 90) ? 1ull << 6 : 0;            /* AP[1] */
    desc |= oracle_chance(o, 25) ? 1ull << 7 : 0;            /* AP[2] */
    if (oracle_chance(o, 85)) {
        desc |= 1ull << 11;                                  /* nG */
    } else if (desc & 1) {
        o->ever_global = true;
    }
    return desc;
}

/*
 * Write a random leaf of @level for @va, replacing what stands in the
 * way by new tables; the range whose translations changed
 */
static uint64_t oracle_change(Oracle *o, uint64_t va, int level)
{
    QTestState *qts = o->e->qts;
    uint64_t table = o->root;
    int changed = level;

    for (int l = 0; l < level; l++) {
        uint64_t slot = table + oracle_index(va, l) * 8;
        uint64_t desc = qtest_readq(qts, slot);
        uint64_t next, tdesc;

        if ((desc & 3) == 3 && !((desc & DESC_OA_MASK) >> ORACLE_OA_BITS) &&
            oracle_chance(o, 90)) {
            table = desc & DESC_OA_MASK;
            continue;
        }
        next = o->next;
        o->next += 0x1000;
        g_assert_cmphex(o->next, <=, ORACLE_POOL_END);
        qtest_memset(qts, next, 0, 0x1000);
        tdesc = next | 3 | oracle_ignored_bits(o, true);
        if (oracle_chance(o, 4)) {
            tdesc |= TD_APTABLE_RO;
        }
        if (oracle_chance(o, 3)) {
            tdesc |= TD_APTABLE_NO_EL0;
        }
        tdesc |= oracle_beyond_oas(o, 3);
        qtest_writeq(qts, slot, tdesc);
        changed = MIN(changed, l);
        table = next;
    }
    qtest_writeq(qts, table + oracle_index(va, level) * 8,
                 oracle_leaf(o, level));
    return lvl_size(changed);
}

#define TLBI_ASID(a)        ((uint64_t)(a) << 48)

/* One of the invalidations that covers [@base, @base + @size) */
static void oracle_invalidate(Oracle *o, uint64_t base, uint64_t size)
{
    QSMMUv3 *s = &o->e->smmu;
    unsigned scale = ctz64(size) - 12;

    switch (g_rand_int_range(o->rng, 0, 7)) {
    case 0:
        if (size == 0x1000) {
            qsmmu_cmd(s, SMMU_CMD_TLBI_NH_VA | TLBI_ASID(o->asid),
                      base + (g_rand_int(o->rng) & 0xff8));
            return;
        }
        /* fall through */
    case 1:
        if (size == 0x1000) {
            qsmmu_cmd(s, SMMU_CMD_TLBI_NH_VAA, base);
            return;
        }
        /* fall through */
    case 2:
        /* One granule needs a level: the page's */
        qsmmu_cmd(s, SMMU_CMD_TLBI_NH_VA | TLBI_ASID(o->asid) |
                  TLBI_SCALE(scale), base | TLBI_TG(1) |
                  (scale ? 0 : TLBI_TTL(3)));
        return;
    case 3:
        /* Two granules of half the size, from the same base */
        if (scale) {
            qsmmu_cmd(s, SMMU_CMD_TLBI_NH_VAA | TLBI_NUM(1) |
                      TLBI_SCALE(scale - 1), base | TLBI_TG(1));
        } else {
            qsmmu_cmd(s, SMMU_CMD_TLBI_NH_VAA, base | TLBI_TG(1) |
                      TLBI_TTL(3));
        }
        return;
    case 4:
        if (!o->ever_global) {
            qsmmu_cmd(s, SMMU_CMD_TLBI_NH_ASID | TLBI_ASID(o->asid), 0);
            return;
        }
        /* fall through */
    case 5:
        qsmmu_cmd(s, SMMU_CMD_TLBI_NH_ALL, 0);
        return;
    default:
        qsmmu_cmd(s, g_rand_boolean(o->rng) ? SMMU_CMD_TLBI_NSNH_ALL :
                  SMMU_CMD_TLBI_S12_VMALL, 0);
        return;
    }
}

/* A DMA of 8 bytes at @va, held against the walk */
static void oracle_dma(Oracle *o, uint64_t va)
{
    Env *e = o->e;
    bool write = g_rand_boolean(o->rng);
    Expect x = oracle_walk(o, va, write);
    uint32_t seed = g_rand_int(o->rng);
    uint64_t data = seed | (uint64_t)(seed + 1) << 32;
    uint32_t prod = evtq_prod(e);

    if (x.res == RES_OK && !write) {
        qtest_writeq(e->qts, x.pa, data);
    }
    qvtd_wr(&e->td[0], R_PATTERN, seed);
    g_assert_cmpuint(qvtd_run(&e->td[0], write ? OP_FILL : OP_COMPARE, va, 8),
                     ==, x.res);
    o->seen[x.type]++;
    if (x.res == RES_OK) {
        if (write) {
            g_assert_cmphex(qtest_readq(e->qts, x.pa), ==, data);
        }
        g_assert_cmphex(evtq_prod(e), ==, prod);
        return;
    }
    g_assert_cmphex(evtq_prod(e), ==, (prod + 1) & 0x1f);
    assert_event(e, prod & 0xf, evt0(x.type, SID0),
                 (write ? 0 : EVT1_RNW) | EVT1_CLASS(CLASS_IN), va, 0);
    qsmmu_writel(&e->smmu, SMMU_EVENTQ_CONS, evtq_prod(e));
}

static void test_oracle_random_tables(void)
{
    g_autoptr(GRand) rng = g_rand_new_with_seed(0x0bac1e);
    Env *e = env_start_enabled();
    Oracle o = { .e = e, .rng = rng, .next = PT_POOL, .asid = 1 };
    CDParams cd = { .t0sz = 64 - ORACLE_IA_BITS, .ips = 5, .asid = 1 };
    uint64_t slots[54];
    int n = 0;

    /* IOVAs that share tables at every level, and some that do not */
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) {
            for (int k = 0; k < 2; k++) {
                for (int r = 0; r < 3; r++) {
                    uint64_t l0 = 0x97 * a, l1 = b ? 2 * b + 1 : 0;
                    uint64_t page = r == 2 ? 511 : r;

                    slots[n++] = (l0 << 39) | (l1 << 30) |
                                 ((DATA - RAM_BASE) + k * lvl_size(2) +
                                  page * lvl_size(3));
                }
            }
        }
    }
    g_assert_cmpint(n, ==, ARRAY_SIZE(slots));
    o.root = o.next;
    o.next += 0x1000;
    qtest_memset(e->qts, o.root, 0, 0x1000);
    cd.ttb0 = o.root;
    write_cd(e->qts, CD0, &cd);
    ste_s1(&e->smmu, SID0, CD0, 0);

    for (int round = 0; round < 500; round++) {
        uint64_t va = slots[g_rand_int_range(rng, 0, n)];
        int op = g_rand_int_range(rng, 0, 10);

        if (op < 5) {
            int level = g_rand_int_range(rng, 0, 20) ?
                        g_rand_int_range(rng, 1, 4) : 0;
            uint64_t size = oracle_change(&o, va, level);

            oracle_invalidate(&o, va & ~(size - 1), size);
        } else if (op == 5) {
            /* Another ASID: the CD changes, its stale entries go */
            o.asid = g_rand_int_range(rng, 1, 4);
            cd.asid = o.asid;
            write_cd(e->qts, CD0, &cd);
            qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_CD |
                      ((uint64_t)SID0 << 32), 0);
            qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ASID |
                      TLBI_ASID(o.asid), 0);
        }
        /* Walked, then likely cached, then elsewhere */
        oracle_dma(&o, va + (g_rand_int(rng) & 0xff8));
        oracle_dma(&o, va + (g_rand_int(rng) & 0xff8));
        oracle_dma(&o, slots[g_rand_int_range(rng, 0, n)] +
                   (g_rand_int(rng) & 0xff8));
    }
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_GERROR), ==, 0);
    /* Every outcome came up, landing most often */
    for (int t = 0x10; t <= 0x13; t++) {
        g_test_message("record 0x%x: %u", t, o.seen[t]);
        g_assert_cmpuint(o.seen[t], >=, 5);
    }
    g_test_message("landed: %u", o.seen[0]);
    g_assert_cmpuint(o.seen[0], >=, 400);
    env_stop(e);
}

/*
 * A queue of random commands: each illegal one stops the queue until it
 * is replaced and acknowledged, and every legal one is consumed.
 */
static void test_hostile_random_commands(void)
{
    g_autoptr(GRand) rng = g_rand_new_with_seed(0xc0ffee);
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;
    unsigned stops = 0;

    for (int i = 0; i < 48; i++) {
        uint64_t w0 = ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng);
        uint64_t w1 = ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng);

        if (g_rand_boolean(rng)) {
            /* A known opcode with random fields */
            static const uint8_t ops[] = {
                0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12, 0x13,
                0x20, 0x21, 0x22, 0x23, 0x28, 0x2a, 0x30, 0x40, 0x46,
            };
            w0 = (w0 & ~0xffull) | ops[g_rand_int_range(rng, 0, 19)];
            if ((w0 & 0xff) == 0x46) {
                w0 &= ~(3ull << 12);    /* no MSI to random places */
            }
        }
        qsmmu_cmd_write(s, w0, w1);
    }
    qsmmu_cmd_publish(s);
    for (;;) {
        uint32_t cons = qsmmu_readl(s, SMMU_CMDQ_CONS);
        uint32_t gerror = qsmmu_readl(s, SMMU_GERROR);

        if ((cons & 0xffffff) == s->cmdq_prod) {
            break;
        }
        /* Stopped at an illegal command: replace it, acknowledge */
        g_assert_cmphex((gerror ^ qsmmu_readl(s, SMMU_GERRORN)) &
                        SMMU_GERROR_CMDQ_ERR, ==, SMMU_GERROR_CMDQ_ERR);
        g_assert_cmpuint(SMMU_CMDQ_CONS_ERR(cons), ==, SMMU_CERROR_ILL);
        qtest_writeq(e->qts, CMDQ + (cons & 0x3f) * 16, SMMU_CMD_SYNC);
        qsmmu_writel(s, SMMU_GERRORN, gerror);
        g_assert_cmpuint(++stops, <=, 48);
    }
    g_assert_cmpuint(stops, >, 10);
    g_test_message("%u illegal commands", stops);
    env_stop(e);
}

/* A full queue of 2^16 commands is all consumed, in batches */
static void test_hostile_full_queue(void)
{
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;
    uint64_t big = RAM_BASE + 0x8000000;

    /* Every byte 0x01: PREFETCH_CONFIG for StreamID 0x01010101 */
    qtest_memset(e->qts, big, 0x01, 16 << 16);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_CMDQ_BASE, big | 16);
    qsmmu_writel(s, SMMU_CMDQ_CONS, 0);
    qsmmu_writel(s, SMMU_CMDQ_PROD, 0);
    qsmmu_set_cr0(s, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN | SMMU_CR0_CMDQEN);
    qsmmu_writel(s, SMMU_CMDQ_PROD, 1u << 16);
    for (int i = 0; i < 1000 && qsmmu_readl(s, SMMU_CMDQ_CONS) != 1u << 16;
         i++) {
        qtest_clock_step(e->qts, 1000);
    }
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, 1u << 16);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR), ==, 0);
    env_stop(e);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("arm-smmuv3")) {
        return g_test_run();
    }

    qtest_add_func("/smmuv3/regs/idr", test_idr);
    qtest_add_func("/smmuv3/regs/idr-upstream-defaults",
                   test_idr_upstream_defaults);
    qtest_add_func("/smmuv3/regs/ril-off-oas-48", test_properties);
    qtest_add_func("/smmuv3/regs/cr0-strtab-gbpa-update", test_cr0_gbpa_regs);
    qtest_add_func("/smmuv3/s1/4k/page", test_s1_4k_page);
    qtest_add_func("/smmuv3/s1/4k/block-2m", test_s1_4k_block_2m);
    qtest_add_func("/smmuv3/s1/4k/block-1g", test_s1_4k_block_1g);
    qtest_add_func("/smmuv3/s1/16k/page", test_s1_16k_page);
    qtest_add_func("/smmuv3/s1/16k/block-32m", test_s1_16k_block_32m);
    qtest_add_func("/smmuv3/s1/64k/page", test_s1_64k_page);
    qtest_add_func("/smmuv3/s1/64k/block-512m", test_s1_64k_block_512m);
    qtest_add_func("/smmuv3/s1/tbi", test_tbi);
    qtest_add_func("/smmuv3/s2/4k/page", test_s2_4k);
    qtest_add_func("/smmuv3/s2/4k/concatenated-start-tables",
                   test_s2_4k_concatenated);
    qtest_add_func("/smmuv3/s2/16k/page", test_s2_16k);
    qtest_add_func("/smmuv3/s2/64k/page", test_s2_64k);
    qtest_add_func("/smmuv3/nested/4k", test_nested_4k);
    qtest_add_func("/smmuv3/nested/s2-fault-on-s1-walk-class-tt",
                   test_nested_s2_fault_on_table_walk);
    qtest_add_func("/smmuv3/strtab/2lvl-span", test_strtab_2lvl);
    qtest_add_func("/smmuv3/topology/smmu-per-bus",
                   test_topology_smmu_per_bus);
    qtest_add_func("/smmuv3/topology/primary-bus-is-root",
                   test_topology_primary_bus_is_root);
    qtest_add_func("/smmuv3/ste/bypass-and-abort", test_ste_bypass_and_abort);
    qtest_add_func("/smmuv3/cfgi/ste-change-after-cfgi",
                   test_cfgi_ste);
    qtest_add_func("/smmuv3/perm/readonly-write-f-permission",
                   test_perm_readonly_write);
    qtest_add_func("/smmuv3/perm/unpriv-to-priv-page-privcfg",
                   test_perm_unpriv_to_priv_page);
    qtest_add_func("/smmuv3/perm/instruction-fetch-xn-instcfg",
                   test_perm_instruction_fetch_xn);
    qtest_add_func("/smmuv3/perm/s2-readonly-class-in",
                   test_perm_s2_class);
    qtest_add_func("/smmuv3/fault/f-translation", test_fault_translation);
    qtest_add_func("/smmuv3/fault/cd-r-clear-no-record",
                   test_fault_not_recorded_when_cd_r_clear);
    qtest_add_func("/smmuv3/fault/f-addr-size", test_fault_addr_size);
    qtest_add_func("/smmuv3/fault/f-access-af-clear", test_fault_access_flag);
    qtest_add_func("/smmuv3/fault/f-walk-eabt", test_fault_walk_eabt);
    qtest_add_func("/smmuv3/fault/c-bad-streamid", test_fault_bad_streamid);
    qtest_add_func("/smmuv3/fault/c-bad-cd", test_fault_bad_cd);
    qtest_add_func("/smmuv3/fault/f-ste-fetch", test_fault_ste_fetch);
    qtest_add_func("/smmuv3/fault/f-cd-fetch", test_fault_cd_fetch);
    qtest_add_func("/smmuv3/evtq/overflow-and-recovery",
                   test_evtq_overflow_and_recovery);
    qtest_add_func("/smmuv3/cmdq/illegal-command-and-recovery",
                   test_cmdq_illegal_and_recovery);
    qtest_add_func("/smmuv3/cmdq/illegal-fields", test_cmd_illegal_fields);
    qtest_add_func("/smmuv3/cmdq/cmd-sync-msi", test_cmd_sync_msi);
    qtest_add_func("/smmuv3/irq/msi-eventq-and-gerror",
                   test_msi_eventq_and_gerror);
    qtest_add_func("/smmuv3/irq/wired-lines", test_wired_irqs);
    qtest_add_func("/smmuv3/tlbi/asid-exactly", test_tlbi_asid);
    qtest_add_func("/smmuv3/tlbi/va-and-vaa-exactly", test_tlbi_va);
    qtest_add_func("/smmuv3/tlbi/range-exactly", test_tlbi_range);
    qtest_add_func("/smmuv3/tlbi/notifies-unmap", test_tlbi_notifies_unmap);
    qtest_add_func("/smmuv3/tlbi/s2-ipa-and-s12-vmall",
                   test_tlbi_s2_ipa_and_vmall);
    qtest_add_func("/smmuv3/reset", test_reset);
    qtest_add_func("/smmuv3/reset-pending-work", test_reset_pending_work);
    qtest_add_func("/smmuv3/migration/regs", test_migration);
    qtest_add_func("/smmuv3/migration/pending-work",
                   test_migration_pending_work);
    qtest_add_func("/smmuv3/migration/full-eventq",
                   test_migration_full_eventq);
    qtest_add_func("/smmuv3/migration/hostile-stream",
                   test_migration_hostile_stream);
    qtest_add_func("/smmuv3/migration/refuses-other-smmu",
                   test_migration_refuses_other_smmu);
    qtest_add_func("/smmuv3/migration/hostile-stream-refused",
                   test_migration_hostile_refused);
    qtest_add_func("/smmuv3/tbi/ttb0-every-tlbi-form", test_tbi0_every_tlbi);
    qtest_add_func("/smmuv3/tbi/ttb1-every-tlbi-form", test_tbi1_every_tlbi);
    qtest_add_func("/smmuv3/illegal/cd-c-bad-cd", test_illegal_cd);
    qtest_add_func("/smmuv3/illegal/ste-c-bad-ste", test_illegal_ste);
    qtest_add_func("/smmuv3/ste/strw-ignored-with-stage-2",
                   test_strw_ignored_with_stage2);
    qtest_add_func("/smmuv3/fault/s2-walk-eabt-class-in-tt-cd",
                   test_s2_walk_eabt_class);
    qtest_add_func("/smmuv3/fault/write-under-instcfg-ind-0",
                   test_write_under_instcfg_is_data);
    qtest_add_func("/smmuv3/fault/input-beyond-ias-and-oas",
                   test_input_beyond_ias_oas);
    qtest_add_func("/smmuv3/perm/msi-is-unprivileged",
                   test_msi_is_unprivileged);
    qtest_add_func("/smmuv3/regs/gbpa-fields", test_gbpa_fields);
    qtest_add_func("/smmuv3/cmdq/cmd-sync-sev-is-none",
                   test_cmd_sync_sev_is_none);
    qtest_add_func("/smmuv3/tlbi/unmap-covers-handed-block",
                   test_tlbi_unmap_covers_handed_block);
    qtest_add_func("/smmuv3/tlbi/deviotlb-notifier-notified",
                   test_deviotlb_notifier_notified);
    qtest_add_func("/smmuv3/tlbi/global-entry-any-asid",
                   test_global_tlbi_va_any_asid);
    qtest_add_func("/smmuv3/el2/stream-and-tlbi", test_el2_stream_and_tlbi);
    qtest_add_func("/smmuv3/el2/e2h-stream-and-tlbi",
                   test_el2_e2h_stream_and_tlbi);
    qtest_add_func("/smmuv3/el2/needs-hyp", test_el2_needs_hyp);
    qtest_add_func("/smmuv3/strtab/split-6", test_strtab_split_6);
    qtest_add_func("/smmuv3/strtab/split-8", test_strtab_split_8);
    qtest_add_func("/smmuv3/strtab/split-10", test_strtab_split_10);
    qtest_add_func("/smmuv3/cfgi/ste-range-bounds",
                   test_cfgi_ste_range_bounds);
    qtest_add_func("/smmuv3/s2/f-addr-size-and-f-access",
                   test_s2_addr_size_and_access);
    qtest_add_func("/smmuv3/tlbi/s2-ipa-nested", test_tlbi_s2_ipa_nested);
    qtest_add_func("/smmuv3/tlbi/vmid-isolation", test_vmid_isolation);
    qtest_add_func("/smmuv3/s1/ttb1-and-epd0", test_ttb1_and_epd0);
    qtest_add_func("/smmuv3/perm/wxn", test_perm_wxn);
    qtest_add_func("/smmuv3/perm/pan", test_perm_pan);
    qtest_add_func("/smmuv3/perm/table-attributes",
                   test_perm_table_attributes);
    qtest_add_func("/smmuv3/iotlb/eviction-at-capacity",
                   test_eviction_at_capacity);
    qtest_add_func("/smmuv3/evtq/eventq-abt-err", test_eventq_abt_err);
    qtest_add_func("/smmuv3/irq/msi-abt-errs", test_msi_abt_errs);
    qtest_add_func("/smmuv3/evtq/dropped-while-disabled",
                   test_events_dropped_while_eventq_disabled);
    qtest_add_func("/smmuv3/irq/irq-ctrl-gating", test_irq_ctrl_gating);
    qtest_add_func("/smmuv3/thread/dma-during-stop",
                   test_thread_dma_during_stop);
    qtest_add_func("/smmuv3/thread/fault-record-and-msi",
                   test_thread_fault_record_and_msi);
    qtest_add_func("/smmuv3/hostile/cd-ips-6-7", test_hostile_cd_ips);
    qtest_add_func("/smmuv3/hostile/s2aa64-0-c-bad-ste", test_hostile_s2aa64);
    qtest_add_func("/smmuv3/hostile/strtab-log2size-63",
                   test_hostile_strtab_log2size);
    qtest_add_func("/smmuv3/hostile/queues-of-one-entry",
                   test_hostile_queues_of_one_entry);
    qtest_add_func("/smmuv3/hostile/watch-last-byte",
                   test_hostile_watch_last_byte);
    qtest_add_func("/smmuv3/oracle/random-tables",
                   test_oracle_random_tables);
    qtest_add_func("/smmuv3/hostile/random-commands",
                   test_hostile_random_commands);
    qtest_add_func("/smmuv3/hostile/full-queue-of-commands",
                   test_hostile_full_queue);
    return g_test_run();
}
