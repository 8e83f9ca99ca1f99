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
#define DATA                (RAM_BASE + 0x4000000)

/* In nested tests, stage 2 puts RAM at IPA RAM_BASE + NESTED_OFFSET */
#define NESTED_OFFSET       0x40000000ull

/* Event record fields (word 1) */
#define EVT1_PNU            (1ull << 33)
#define EVT1_IND            (1ull << 34)
#define EVT1_RNW            (1ull << 35)
#define EVT1_S2             (1ull << 39)
#define EVT1_CLASS(c)       ((uint64_t)(c) << 40)
#define CLASS_CD            0
#define CLASS_TT            1
#define CLASS_IN            2

typedef struct Env {
    QTestState *qts;
    QGenericPCIBus gbus;
    QViommuTestdev td[2];
    QSMMUv3 smmu;
} Env;

static Env *env_start(const char *extra)
{
    Env *e = g_new0(Env, 1);

    e->qts = qtest_initf("-M virt,iommu=smmuv3 -cpu max -m 512M -nodefaults "
                         "-device viommu-testdev,addr=4.0 "
                         "-device viommu-testdev,addr=5.0 %s", extra);
    qpci_init_generic(&e->gbus, e->qts, NULL, false);
    qvtd_init(&e->td[0], &e->gbus.bus, DEV0_DEVFN);
    qvtd_init(&e->td[1], &e->gbus.bus, DEV1_DEVFN);
    qsmmu_init(&e->smmu, e->qts, QSMMU_VIRT_BASE);
    return e;
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
    qvtd_free(&e->td[0]);
    qvtd_free(&e->td[1]);
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
        desc |= 1ull << 11;                         /* nG */
    }
    return desc;
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
} CDParams;

static void write_cd(QTestState *qts, uint64_t addr, const CDParams *p)
{
    uint64_t cd[8] = { 0 };

    cd[0] = p->t0sz | ((uint64_t)p->tg0 << 6) | (1ull << 30) /* EPD1 */ |
            (p->invalid ? 0 : 1ull << 31) | ((uint64_t)p->ips << 32) |
            (p->tbi0 ? 1ull << 38 : 0) | (p->aarch32 ? 0 : 1ull << 41) |
            (p->no_record ? 0 : 1ull << 45) | (1ull << 46) /* A */ |
            ((uint64_t)p->asid << 48);
    cd[1] = p->ttb0;
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

#define STE0_V              1ull
#define STE0_CFG(c)         ((uint64_t)(c) << 1)
#define STE_CFG_ABORT       0
#define STE_CFG_BYPASS      4
#define STE_CFG_S1          5
#define STE_CFG_S2          6
#define STE_CFG_NESTED      7
#define STE1_PRIVCFG(v)     ((uint64_t)(v) << 48)
#define STE1_INSTCFG(v)     ((uint64_t)(v) << 50)

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

    /* virt asks for stage 1 and 2 (nested) */
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR0), ==,
                    (1u << 0) | (1u << 1) | (2u << 2) | (1u << 4) |
                    (1u << 9) | (1u << 12) | (1u << 13) | (1u << 14) |
                    (1u << 18) | (2u << 21) | (1u << 24) | (1u << 26) |
                    (1u << 27));
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR1), ==,
                    16 | (19u << 16) | (19u << 21));
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR3), ==, 1u << 10);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_IDR5), ==,
                    4 | (1u << 4) | (1u << 5) | (1u << 6));
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_AIDR), ==, 2);
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_GBPA), ==, 0x1000);
    g_assert_cmphex(qsmmu_readl(&e->smmu, 0xff0), ==, 0x0d);
    g_assert_cmphex(qsmmu_readl(&e->smmu, 0xffc), ==, 0xb1);
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

/* A stage 1 table read that stage 2 does not map: S2, CLASS TT */
static void test_nested_s2_fault_on_table_walk(void)
{
    Env *e = env_start_enabled();
    PT s1, s2;

    setup_nested(e, &s1, &s2, false);
    assert_fill_refused(e, 0, 0x10000100, RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    assert_event(e, 0, evt0(0x10, SID0),
                 EVT1_S2 | EVT1_CLASS(CLASS_TT), 0x10000100,
                 s1.root + NESTED_OFFSET);
    env_stop(e);
}

/* ---- stream table ---- */

static void test_strtab_2lvl(void)
{
    Env *e = env_start("");
    QSMMUv3 *s = &e->smmu;
    uint64_t l1 = STRTAB, l2 = STRTAB + 0x10000;
    PT pt;

    /* SPLIT 8, 16-bit StreamIDs; bus 0's L2 table has 2^(6-1) STEs */
    qtest_memset(e->qts, l1, 0, 256 * 8);
    qtest_memset(e->qts, l2, 0, 32 * 64);
    qtest_writeq(e->qts, l1, l2 | 6);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_STRTAB_BASE, l1);
    qsmmu_writel(s, SMMU_STRTAB_CFG, (1u << 16) | (8u << 6) | 16);
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

/* A changed STE is used only after CFGI_STE */
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
    assert_fill_lands(e, 0, DATA + 0x48, DATA + 0x48);
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
    uint64_t nowhere = 0x800000000000ull;

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
    qsmmu_cmd_write(s, SMMU_CMD_SYNC | SMMU_SYNC_CS_IRQ, 0x800000000000ull);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qsmmu_readl(s, SMMU_GERROR), ==,
                    SMMU_GERROR_MSI_CMDQ_ABT_ERR);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, 2);
    env_stop(e);
}

static void test_msi_eventq_and_gerror(void)
{
    Env *e = env_start_enabled();
    QSMMUv3 *s = &e->smmu;

    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_EVENTQ_IRQ_CFG0, MSI_SLOT);
    qsmmu_writel(s, SMMU_EVENTQ_IRQ_CFG1, 0x1111);
    qtest_writeq(e->qts, QSMMU_VIRT_BASE + SMMU_GERROR_IRQ_CFG0,
                 MSI_SLOT + 4);
    qsmmu_writel(s, SMMU_GERROR_IRQ_CFG1, 0x2222);
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
    /* Cache all four, then move every mapping without telling the SMMU */
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x10000);
    assert_fill_lands(e, 0, 0x20000000, DATA + 0x20000);
    assert_fill_lands(e, 1, 0x10000000, DATA + 0x30000);
    assert_fill_lands(e, 1, 0x20000000, DATA + 0x40000);
    pt_remap(pt0, 0x10000000, DATA + 0x50000, 3, 0);
    pt_remap(pt0, 0x20000000, DATA + 0x60000, 3, 0);
    pt_remap(pt1, 0x10000000, DATA + 0x70000, 3, 0);
    pt_remap(pt1, 0x20000000, DATA + 0x80000, 3, 0);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x10000);
    return e;
}

static void test_tlbi_asid(void)
{
    PT pt0, pt1;
    Env *e = env_two_asids(&pt0, &pt1);

    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_ASID | (1ull << 48), 0);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x50000);
    assert_fill_lands(e, 0, 0x20000000, DATA + 0x60000);
    /* ASID 2 keeps hitting its cached translations */
    assert_fill_lands(e, 1, 0x10000000, DATA + 0x30000);
    assert_fill_lands(e, 1, 0x20000000, DATA + 0x40000);
    env_stop(e);
}

static void test_tlbi_va(void)
{
    PT pt0, pt1;
    Env *e = env_two_asids(&pt0, &pt1);

    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | (1ull << 48), 0x20000000);
    assert_fill_lands(e, 0, 0x20000000, DATA + 0x60000);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x10000);
    assert_fill_lands(e, 1, 0x20000000, DATA + 0x40000);
    /* TLBI_NH_VAA: every ASID */
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VAA, 0x10000000);
    assert_fill_lands(e, 0, 0x10000000, DATA + 0x50000);
    assert_fill_lands(e, 1, 0x10000000, DATA + 0x70000);
    assert_fill_lands(e, 1, 0x20000000, DATA + 0x40000);
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
    for (int i = 0; i < 8; i++) {
        bool gone = i >= 2 && i <= 5;

        assert_fill_lands(e, 0, 0x30000000 + i * 0x1000,
                          DATA + (gone ? 0x100000 : 0) + i * 0x1000);
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
    /* Another VMID: nothing changes */
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_S2_IPA | (5ull << 32), 0x20000000);
    assert_fill_lands(e, 0, 0x20000000, DATA);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_S2_IPA | (6ull << 32), 0x20000000);
    assert_fill_lands(e, 0, 0x20000000, DATA + 0x8000);
    assert_fill_lands(e, 0, 0x20001000, DATA + 0x1000);
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

static void test_migration(void)
{
    g_autofree char *path = g_strdup_printf("%s/smmuv3-mig-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    static const uint32_t regs[] = {
        SMMU_CR0, SMMU_CR0ACK, SMMU_GBPA, SMMU_IRQ_CTRL, SMMU_GERROR,
        SMMU_GERRORN, SMMU_STRTAB_BASE, SMMU_STRTAB_BASE + 4, SMMU_STRTAB_CFG,
        SMMU_CMDQ_BASE, SMMU_CMDQ_PROD, SMMU_CMDQ_CONS, SMMU_EVENTQ_BASE,
        SMMU_EVENTQ_PROD, SMMU_EVENTQ_CONS, SMMU_EVENTQ_IRQ_CFG0,
        SMMU_EVENTQ_IRQ_CFG1,
    };
    uint32_t vals[ARRAY_SIZE(regs)];
    Env *e = env_s1_page(0, 0, true);
    uint64_t bar0 = e->td[0].bar.addr, bar1 = e->td[1].bar.addr;
    Env *d;

    qsmmu_writel(&e->smmu, SMMU_EVENTQ_IRQ_CFG1, 0xabcd);
    qsmmu_writel(&e->smmu, SMMU_IRQ_CTRL, SMMU_IRQ_CTRL_EVENTQ_IRQEN);
    assert_fill_lands(e, 0, 0x10000000, DATA);
    assert_fill_refused(e, 0, 0x10001000, RES_TRANSLATION_FAULT);
    qsmmu_cmd_write(&e->smmu, 0x77, 0);
    qsmmu_cmd_publish(&e->smmu);
    for (int i = 0; i < ARRAY_SIZE(regs); i++) {
        vals[i] = qsmmu_readl(&e->smmu, regs[i]);
    }
    g_assert_cmphex(vals[4], ==, SMMU_GERROR_CMDQ_ERR);

    qvtd_migrate(e->qts, uri);
    env_stop(e);

    d = g_new0(Env, 1);
    d->qts = qtest_initf("-M virt,iommu=smmuv3 -cpu max -m 512M -nodefaults "
                         "-device viommu-testdev,addr=4.0 "
                         "-device viommu-testdev,addr=5.0 -incoming %s", uri);
    qvtd_wait_migration(d->qts);
    unlink(path);
    qpci_init_generic(&d->gbus, d->qts, NULL, false);
    d->td[0].dev = qpci_device_find(&d->gbus.bus, DEV0_DEVFN);
    d->td[1].dev = qpci_device_find(&d->gbus.bus, DEV1_DEVFN);
    d->td[0].bar = (QPCIBar) { .addr = bar0 };
    d->td[1].bar = (QPCIBar) { .addr = bar1 };
    qsmmu_init(&d->smmu, d->qts, QSMMU_VIRT_BASE);
    d->smmu.eventq = EVENTQ;
    for (int i = 0; i < ARRAY_SIZE(regs); i++) {
        g_assert_cmphex(qsmmu_readl(&d->smmu, regs[i]), ==, vals[i]);
    }
    /* Translation, recording and interrupts go on where they were */
    qtest_writel(d->qts, MSI_SLOT, 0);
    assert_fill_lands(d, 0, 0x10000008, DATA + 8);
    assert_fill_refused(d, 0, 0x10002000, RES_TRANSLATION_FAULT);
    assert_event(d, 1, evt0(0x10, SID0), EVT1_CLASS(CLASS_IN), 0x10002000,
                 0);
    g_assert_cmphex(evtq_prod(d), ==, 2);
    env_stop(d);
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

/* STRTAB_BASE_CFG.LOG2SIZE 63 (upstream: undefined behaviour) */
static void test_hostile_strtab_log2size(void)
{
    Env *e = env_start("");
    const uint64_t bypass[8] = { STE0_V | STE0_CFG(STE_CFG_BYPASS) };

    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_writel(&e->smmu, SMMU_STRTAB_CFG, 63);
    qsmmu_ste_raw(&e->smmu, SID0, bypass);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    assert_fill_lands(e, 0, DATA + 0x10, DATA + 0x10);
    env_stop(e);
}

/*
 * Random STEs, CDs and table entries: every DMA completes with a defined
 * result, every record has a defined type, and a sane configuration
 * written afterwards translates exactly.
 */
static void test_hostile_random_structures(void)
{
    g_autoptr(GRand) rng = g_rand_new_with_seed(0x5a17e);
    Env *e = env_start_enabled();
    static const uint8_t types[] = {
        0x02, 0x03, 0x04, 0x09, 0x0a, 0x0b, 0x10, 0x11, 0x12, 0x13,
    };
    PT pt;

    for (int round = 0; round < 200; round++) {
        uint64_t ste[8], cd[8], addr;
        uint32_t res;

        for (int i = 0; i < 8; i++) {
            ste[i] = ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng);
            cd[i] = ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng);
        }
        /* Mostly valid, translating, pointing at places that exist */
        if (g_rand_boolean(rng)) {
            ste[0] = (ste[0] & ~0x000fffffffffffc0ull) | STE0_V | CD0;
        }
        if (g_rand_boolean(rng)) {
            cd[0] |= 1ull << 31 | 1ull << 41;
            cd[1] = PT_POOL + (g_rand_int(rng) & 0xff000);
        }
        qsmmu_ste_raw(&e->smmu, SID0, ste);
        qtest_memwrite(e->qts, CD0, cd, sizeof(cd));
        for (int i = 0; i < 64; i++) {
            qtest_writeq(e->qts, PT_POOL + g_rand_int_range(rng, 0, 0x100000) * 8,
                         ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng));
        }
        qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE_RANGE, 31);
        qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NSNH_ALL, 0);
        addr = ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng);
        qvtd_wr(&e->td[0], R_PATTERN, g_rand_int(rng));
        res = qvtd_run(&e->td[0], g_rand_boolean(rng) ? OP_READ : OP_FILL,
                       addr & (g_rand_boolean(rng) ? 0xffffffffull :
                               0x0000ffffffffffffull), 64);
        g_assert(res == RES_OK || res == RES_TRANSLATION_FAULT ||
                 res == RES_PERMISSION_FAULT || res == RES_DECODE_ERROR ||
                 res == RES_ACCESS_ERROR);
        /* Keep the queue from filling: consume everything */
        qsmmu_writel(&e->smmu, SMMU_EVENTQ_CONS, evtq_prod(e));
        if (evtq_prod(e) & 0xf) {
            uint64_t evt[4];

            qsmmu_event(&e->smmu, (evtq_prod(e) - 1) & 0xf, evt);
            g_assert_nonnull(memchr(types, evt[0] & 0xff, sizeof(types)));
            g_assert_cmphex(evt[0] >> 32, ==, SID0);
        }
    }
    g_assert_cmphex(qsmmu_readl(&e->smmu, SMMU_GERROR), ==, 0);

    pt_init(&pt, e->qts, false, 12, 48, 0, PT_POOL2);
    pt_map(&pt, 0x10000000, DATA + 0x2000, 3, 0);
    write_cd_4k(e->qts, CD0, pt.root, 1);
    ste_s1(&e->smmu, SID0, CD0, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID0 << 32), 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NSNH_ALL, 0);
    assert_fill_lands(e, 0, 0x10000010, DATA + 0x2010);
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
    qtest_add_func("/smmuv3/migration", test_migration);
    qtest_add_func("/smmuv3/hostile/cd-ips-6-7", test_hostile_cd_ips);
    qtest_add_func("/smmuv3/hostile/s2aa64-0-c-bad-ste", test_hostile_s2aa64);
    qtest_add_func("/smmuv3/hostile/strtab-log2size-63",
                   test_hostile_strtab_log2size);
    qtest_add_func("/smmuv3/hostile/random-structures",
                   test_hostile_random_structures);
    qtest_add_func("/smmuv3/hostile/random-commands",
                   test_hostile_random_commands);
    qtest_add_func("/smmuv3/hostile/full-queue-of-commands",
                   test_hostile_full_queue);
    return g_test_run();
}
