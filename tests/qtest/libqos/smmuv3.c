/*
 * Programming an Arm SMMUv3 from qtest; see smmuv3.h.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "smmuv3.h"

/* STE, first doubleword */
#define STE0_V              (1ull << 0)
#define STE0_CONFIG_SHIFT   1
#define STE_CONFIG_BYPASS   0x4     /* no stage translates */
#define STE_CONFIG_S1       0x5     /* stage 1 only */
#define STE_CONFIG_S2       0x6     /* stage 2 only */
#define STE_CONFIG_NESTED   0x7     /* stage 1, then stage 2 */
#define STE0_CTXPTR_MASK    0x000fffffffffffc0ull   /* [51:6] */
/* STE, second doubleword: SHCFG (0b01: use the incoming shareability) */
#define STE1_SHCFG_INCOMING (1ull << 44)
/* STE, third doubleword: stage-2 configuration */
#define STE2_S2VMID_SHIFT   0
#define STE2_S2T0SZ_SHIFT   32
#define STE2_S2SL0_L0_4K    (2ull << 38)    /* 4 KiB granule: start at L0 */
#define STE2_S2IR0_WBWA     (1ull << 40)
#define STE2_S2OR0_WBWA     (1ull << 42)
#define STE2_S2SH0_INNER    (3ull << 44)
#define STE2_S2TG_4K        (0ull << 46)
#define STE2_S2PS_SHIFT     48
#define STE2_S2AA64         (1ull << 51)
#define STE2_S2R            (1ull << 58)    /* record faults */
/* STE, fourth doubleword: S2TTB */
#define STE3_S2TTB_MASK     0x000ffffffffffff0ull   /* [51:4] */

/* CD, first doubleword */
#define CD0_T0SZ_SHIFT      0
#define CD0_TG0_4K          (0ull << 6)
#define CD0_IR0_WBWA        (1ull << 8)
#define CD0_OR0_WBWA        (1ull << 10)
#define CD0_SH0_INNER       (3ull << 12)
#define CD0_EPD1            (1ull << 30)
#define CD0_V               (1ull << 31)
#define CD0_IPS_48          (5ull << 32)
#define CD0_AA64            (1ull << 41)
#define CD0_R               (1ull << 45)    /* record faults */
#define CD0_A               (1ull << 46)    /* abort (not stall) on fault */
#define CD0_ASID_SHIFT      48
/* CD, second doubleword: TTB0 */
#define CD1_TTB_MASK        0x000ffffffffffff0ull   /* [51:4] */
/* CD, fourth doubleword: MAIR; attribute 0 is Normal write-back memory */
#define CD3_MAIR_ATTR0_WB   0xffull

/* VMSAv8-64 descriptors, 4 KiB granule */
#define PTE_VALID           (1ull << 0)
#define PTE_TABLE_OR_PAGE   (1ull << 1)
#define PTE_AP_UNPRIV       (1ull << 6)     /* AP[1] */
#define PTE_AP_RDONLY       (1ull << 7)     /* AP[2] */
#define PTE_S2_MEMATTR_WB   (0xfull << 2)   /* Normal, write-back */
#define PTE_S2AP_READ       (1ull << 6)
#define PTE_S2AP_WRITE      (1ull << 7)
#define PTE_SH_INNER        (3ull << 8)
#define PTE_AF              (1ull << 10)
#define PTE_ADDR_MASK       0x0000fffffffff000ull   /* [47:12] */

#define IA_BITS             48
#define T0SZ_48             (64 - IA_BITS)

void qsmmu_init(QSMMUv3 *s, QTestState *qts, uint64_t base)
{
    memset(s, 0, sizeof(*s));
    s->qts = qts;
    s->base = base;
}

uint32_t qsmmu_readl(QSMMUv3 *s, uint64_t off)
{
    return qtest_readl(s->qts, s->base + off);
}

void qsmmu_writel(QSMMUv3 *s, uint64_t off, uint32_t val)
{
    qtest_writel(s->qts, s->base + off, val);
}

void qsmmu_set_cr0(QSMMUv3 *s, uint32_t val)
{
    qsmmu_writel(s, SMMU_CR0, val);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CR0ACK), ==, val);
}

void qsmmu_setup_tables(QSMMUv3 *s, uint64_t strtab, unsigned strtab_log2size,
                        uint64_t eventq, unsigned eventq_log2size)
{
    s->strtab = strtab;
    s->strtab_log2size = strtab_log2size;
    s->eventq = eventq;
    s->eventq_log2size = eventq_log2size;

    qtest_memset(s->qts, strtab, 0, QSMMU_STE_SIZE << strtab_log2size);
    qtest_memset(s->qts, eventq, 0, QSMMU_EVT_SIZE << eventq_log2size);
    qtest_writeq(s->qts, s->base + SMMU_STRTAB_BASE, strtab);
    /* FMT 0 (linear) in the upper bits, so only LOG2SIZE is set */
    qsmmu_writel(s, SMMU_STRTAB_CFG, strtab_log2size);
    qtest_writeq(s->qts, s->base + SMMU_EVENTQ_BASE, eventq | eventq_log2size);
    qsmmu_writel(s, SMMU_EVENTQ_PROD, 0);
    qsmmu_writel(s, SMMU_EVENTQ_CONS, 0);
}

/* Structures are little-endian; write them in one qtest round trip */
static void write_le64s(QTestState *qts, uint64_t addr, uint64_t *dw,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dw[i] = cpu_to_le64(dw[i]);
    }
    qtest_memwrite(qts, addr, dw, n * sizeof(*dw));
}

void qsmmu_ste_raw(QSMMUv3 *s, uint32_t sid, const uint64_t dw[8])
{
    uint64_t ste[QSMMU_STE_SIZE / 8];

    g_assert(s->strtab);
    g_assert_cmpuint(sid, <, 1u << s->strtab_log2size);
    memcpy(ste, dw, sizeof(ste));
    write_le64s(s->qts, s->strtab + (uint64_t)sid * QSMMU_STE_SIZE, ste,
                ARRAY_SIZE(ste));
}

static void write_ste(QSMMUv3 *s, uint32_t sid, uint64_t dw0, uint64_t dw1,
                      uint64_t dw2, uint64_t dw3)
{
    const uint64_t ste[QSMMU_STE_SIZE / 8] = { dw0, dw1, dw2, dw3 };

    qsmmu_ste_raw(s, sid, ste);
}

void qsmmu_setup_cmdq(QSMMUv3 *s, uint64_t cmdq, unsigned log2size)
{
    s->cmdq = cmdq;
    s->cmdq_log2size = log2size;
    s->cmdq_prod = 0;
    qtest_memset(s->qts, cmdq, 0, 16 << log2size);
    qtest_writeq(s->qts, s->base + SMMU_CMDQ_BASE, cmdq | log2size);
    qsmmu_writel(s, SMMU_CMDQ_PROD, 0);
    qsmmu_writel(s, SMMU_CMDQ_CONS, 0);
    qsmmu_set_cr0(s, qsmmu_readl(s, SMMU_CR0) | SMMU_CR0_CMDQEN);
}

void qsmmu_cmd_write(QSMMUv3 *s, uint64_t w0, uint64_t w1)
{
    uint32_t idx = s->cmdq_prod & ((1u << s->cmdq_log2size) - 1);
    uint64_t cmd[2] = { w0, w1 };

    g_assert(s->cmdq);
    write_le64s(s->qts, s->cmdq + idx * 16, cmd, 2);
    s->cmdq_prod = (s->cmdq_prod + 1) & ((2u << s->cmdq_log2size) - 1);
}

void qsmmu_cmd_publish(QSMMUv3 *s)
{
    qsmmu_writel(s, SMMU_CMDQ_PROD, s->cmdq_prod);
}

void qsmmu_cmd(QSMMUv3 *s, uint64_t w0, uint64_t w1)
{
    qsmmu_cmd_write(s, w0, w1);
    qsmmu_cmd_write(s, SMMU_CMD_SYNC, 0);
    qsmmu_cmd_publish(s);
    g_assert_cmphex(qsmmu_readl(s, SMMU_CMDQ_CONS), ==, s->cmdq_prod);
    g_assert_cmphex((qsmmu_readl(s, SMMU_GERROR) ^
                     qsmmu_readl(s, SMMU_GERRORN)) & SMMU_GERROR_CMDQ_ERR,
                    ==, 0);
}

void qsmmu_event(QSMMUv3 *s, unsigned idx, uint64_t evt[4])
{
    qtest_memread(s->qts, s->eventq + (uint64_t)idx * QSMMU_EVT_SIZE, evt,
                  QSMMU_EVT_SIZE);
    for (int i = 0; i < 4; i++) {
        evt[i] = le64_to_cpu(evt[i]);
    }
}

void qsmmu_assert_event(QSMMUv3 *s, unsigned idx, uint64_t w0, uint64_t w1,
                        uint64_t w2, uint64_t w3)
{
    uint64_t evt[4];

    qsmmu_event(s, idx, evt);
    g_assert_cmphex(evt[0], ==, w0);
    g_assert_cmphex(evt[1], ==, w1);
    g_assert_cmphex(evt[2], ==, w2);
    g_assert_cmphex(evt[3], ==, w3);
}

void qsmmu_ste_bypass(QSMMUv3 *s, uint32_t sid)
{
    write_ste(s, sid, STE0_V | (STE_CONFIG_BYPASS << STE0_CONFIG_SHIFT),
              STE1_SHCFG_INCOMING, 0, 0);
}

void qsmmu_ste_s1(QSMMUv3 *s, uint32_t sid, uint64_t cd)
{
    /* S1Fmt 0 and S1CDMax 0: one CD, no substreams */
    g_assert_cmphex(cd & ~STE0_CTXPTR_MASK, ==, 0);
    write_ste(s, sid, STE0_V | (STE_CONFIG_S1 << STE0_CONFIG_SHIFT) | cd,
              STE1_SHCFG_INCOMING, 0, 0);
}

/* The PS encoding of an address size, as in STE.S2PS */
static uint64_t ps_encoding(unsigned bits)
{
    switch (bits) {
    case 40:
        return 2;
    case 42:
        return 3;
    case 44:
        return 4;
    case 48:
        return 5;
    }
    g_assert_not_reached();
}

/*
 * STE word 2 for a stage-2 walk from level 0 over @ipa_bits.  Output size
 * as large as the input, so that any IPA the table maps can be a PA too.
 */
static uint64_t ste2_s2_l0_4k(unsigned ipa_bits, uint16_t vmid)
{
    return ((uint64_t)vmid << STE2_S2VMID_SHIFT) |
           ((uint64_t)(64 - ipa_bits) << STE2_S2T0SZ_SHIFT) |
           STE2_S2SL0_L0_4K | STE2_S2IR0_WBWA | STE2_S2OR0_WBWA |
           STE2_S2SH0_INNER | STE2_S2TG_4K |
           (ps_encoding(ipa_bits) << STE2_S2PS_SHIFT) | STE2_S2AA64 |
           STE2_S2R;
}

void qsmmu_ste_s2(QSMMUv3 *s, uint32_t sid, uint64_t vttb,
                  unsigned ipa_bits, uint16_t vmid)
{
    g_assert_cmphex(vttb & ~STE3_S2TTB_MASK, ==, 0);
    write_ste(s, sid, STE0_V | (STE_CONFIG_S2 << STE0_CONFIG_SHIFT),
              STE1_SHCFG_INCOMING, ste2_s2_l0_4k(ipa_bits, vmid), vttb);
}

void qsmmu_ste_nested(QSMMUv3 *s, uint32_t sid, uint64_t cd_ipa,
                      uint64_t vttb, unsigned ipa_bits, uint16_t vmid)
{
    g_assert_cmphex(cd_ipa & ~STE0_CTXPTR_MASK, ==, 0);
    g_assert_cmphex(vttb & ~STE3_S2TTB_MASK, ==, 0);
    write_ste(s, sid, STE0_V | (STE_CONFIG_NESTED << STE0_CONFIG_SHIFT) |
              cd_ipa, STE1_SHCFG_INCOMING, ste2_s2_l0_4k(ipa_bits, vmid),
              vttb);
}

void qsmmu_cd_s1_4k(QTestState *qts, uint64_t cd, uint64_t ttb0,
                    uint16_t asid)
{
    uint64_t dw[QSMMU_CD_SIZE / 8] = { 0 };

    g_assert_cmphex(ttb0 & ~CD1_TTB_MASK, ==, 0);
    dw[0] = ((uint64_t)T0SZ_48 << CD0_T0SZ_SHIFT) | CD0_TG0_4K |
            CD0_IR0_WBWA | CD0_OR0_WBWA | CD0_SH0_INNER | CD0_EPD1 | CD0_V |
            CD0_IPS_48 | CD0_AA64 | CD0_R | CD0_A |
            ((uint64_t)asid << CD0_ASID_SHIFT);
    dw[1] = ttb0;
    dw[3] = CD3_MAIR_ATTR0_WB;
    write_le64s(qts, cd, dw, ARRAY_SIZE(dw));
}

static uint64_t pt_new_table(QSMMUPageTable *pt)
{
    uint64_t table = pt->next;

    g_assert_cmphex(table + QSMMU_PAGE_SIZE, <=, pt->end);
    pt->next += QSMMU_PAGE_SIZE;
    qtest_memset(pt->qts, table, 0, QSMMU_PAGE_SIZE);
    return table;
}

void qsmmu_pt_init(QSMMUPageTable *pt, QTestState *qts, bool stage2,
                   uint64_t pool, uint64_t pool_size)
{
    g_assert_cmphex(pool & (QSMMU_PAGE_SIZE - 1), ==, 0);
    pt->qts = qts;
    pt->stage2 = stage2;
    pt->pool = pool;
    pt->next = pool;
    pt->end = pool + pool_size;
    pt->root = pt_new_table(pt);
}

/*
 * A leaf: AF set, since a fault on first use would stop the DMA; at stage
 * 1 AP[1] set, as device requests are unprivileged unless they say so
 */
static uint64_t pt_leaf(bool stage2, uint64_t pa, bool writable)
{
    uint64_t desc = pa | PTE_AF | PTE_SH_INNER | PTE_TABLE_OR_PAGE |
                    PTE_VALID;

    if (stage2) {
        desc |= PTE_S2_MEMATTR_WB | PTE_S2AP_READ |
                (writable ? PTE_S2AP_WRITE : 0);
    } else {
        desc |= PTE_AP_UNPRIV | (writable ? 0 : PTE_AP_RDONLY);
    }
    return desc;
}

/* Index of @iova in a table of @level (0 .. 3) */
static unsigned pt_index(uint64_t iova, int level)
{
    return (iova >> (12 + 9 * (3 - level))) & (QSMMU_PT_ENTRIES - 1);
}

void qsmmu_pt_map(QSMMUPageTable *pt, uint64_t iova, uint64_t pa,
                  bool writable)
{
    uint64_t table = pt->root;
    uint64_t desc;

    g_assert_cmphex(iova & (QSMMU_PAGE_SIZE - 1), ==, 0);
    g_assert_cmphex(iova >> IA_BITS, ==, 0);
    g_assert_cmphex(pa & ~PTE_ADDR_MASK, ==, 0);

    for (int level = 0; level < 3; level++) {
        uint64_t slot = table + pt_index(iova, level) * 8;

        desc = qtest_readq(pt->qts, slot);
        if (!(desc & PTE_VALID)) {
            uint64_t next = pt_new_table(pt);

            qtest_writeq(pt->qts, slot,
                         next | PTE_TABLE_OR_PAGE | PTE_VALID);
            table = next;
        } else {
            /* Only this builder writes here: no blocks at this level */
            g_assert(desc & PTE_TABLE_OR_PAGE);
            table = desc & PTE_ADDR_MASK;
        }
    }

    qtest_writeq(pt->qts, table + pt_index(iova, 3) * 8,
                 pt_leaf(pt->stage2, pa, writable));
}

void qsmmu_pt_map_1g(QSMMUPageTable *pt, uint64_t iova, uint64_t pa)
{
    uint64_t slot = pt->root + pt_index(iova, 0) * 8;
    uint64_t desc = qtest_readq(pt->qts, slot);
    uint64_t l1;

    g_assert_cmphex((iova | pa) & ((1ull << 30) - 1), ==, 0);
    g_assert_cmphex(iova >> IA_BITS, ==, 0);
    if (desc & PTE_VALID) {
        g_assert(desc & PTE_TABLE_OR_PAGE);
        l1 = desc & PTE_ADDR_MASK;
    } else {
        l1 = pt_new_table(pt);
        qtest_writeq(pt->qts, slot, l1 | PTE_TABLE_OR_PAGE | PTE_VALID);
    }
    /* A block: the leaf's attributes without the table/page bit */
    qtest_writeq(pt->qts, l1 + pt_index(iova, 1) * 8,
                 pt_leaf(pt->stage2, pa, true) & ~PTE_TABLE_OR_PAGE);
}

uint64_t qsmmu_pt_build_linear(QTestState *qts, bool stage2, uint64_t pool,
                               uint64_t iova, unsigned npages,
                               uint64_t (*pa_of)(unsigned i, void *opaque),
                               void *opaque, uint64_t table_offset)
{
    unsigned nl3 = DIV_ROUND_UP(npages, QSMMU_PT_ENTRIES);
    uint64_t l0 = pool, l1 = pool + 0x1000, l2 = pool + 0x2000;
    uint64_t l3 = pool + 0x3000;
    g_autofree uint64_t *table = g_new(uint64_t, QSMMU_PT_ENTRIES);

    g_assert_cmphex(iova & 0x1fffff, ==, 0);
    g_assert_cmphex(iova >> 30, ==,
                    (iova + (uint64_t)npages * QSMMU_PAGE_SIZE - 1) >> 30);
    qtest_memset(qts, pool, 0, 0x3000);
    qtest_writeq(qts, l0 + pt_index(iova, 0) * 8,
                 (l1 + table_offset) | PTE_TABLE_OR_PAGE | PTE_VALID);
    qtest_writeq(qts, l1 + pt_index(iova, 1) * 8,
                 (l2 + table_offset) | PTE_TABLE_OR_PAGE | PTE_VALID);
    for (unsigned t = 0; t < nl3; t++) {
        uint64_t va = iova + (uint64_t)t * QSMMU_PT_ENTRIES * QSMMU_PAGE_SIZE;

        memset(table, 0, QSMMU_PT_ENTRIES * 8);
        for (unsigned j = 0; j < QSMMU_PT_ENTRIES; j++) {
            unsigned i = t * QSMMU_PT_ENTRIES + j;

            if (i < npages) {
                table[j] = cpu_to_le64(pt_leaf(stage2, pa_of(i, opaque),
                                               true));
            }
        }
        qtest_memwrite(qts, l3 + t * 0x1000, table, QSMMU_PAGE_SIZE);
        qtest_writeq(qts, l2 + pt_index(va, 2) * 8,
                     (l3 + t * 0x1000 + table_offset) | PTE_TABLE_OR_PAGE |
                     PTE_VALID);
    }
    return l0 + table_offset;
}

unsigned qsmmu_pt_tables_used(const QSMMUPageTable *pt)
{
    return (pt->next - pt->pool) / QSMMU_PAGE_SIZE;
}
