/*
 * Programming an Arm SMMUv3 from qtest: registers, a linear stream table,
 * an event queue, STEs, CDs and stage-1 AArch64 4 KiB page tables built in
 * guest memory.
 *
 * Encodings follow the SMMUv3 architecture (IHI 0070) and the VMSAv8-64
 * translation table format; only what the fork's tests and benchmarks
 * program is named here.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_SMMUV3_H
#define LIBQOS_SMMUV3_H

#include "../libqtest.h"

/* Where -M virt,iommu=smmuv3 puts the SMMU's registers */
#define QSMMU_VIRT_BASE     0x09050000ull

/* Register offsets (page 0, and page 1 for the queue pointers) */
#define SMMU_IDR0           0x00
#define SMMU_IDR1           0x04
#define SMMU_IDR3           0x0c
#define SMMU_IDR5           0x14
#define SMMU_IIDR           0x18
#define SMMU_AIDR           0x1c
#define SMMU_CR0            0x20
#define SMMU_CR0ACK         0x24
#define SMMU_CR1            0x28
#define SMMU_CR2            0x2c
#define SMMU_GBPA           0x44
#define SMMU_IRQ_CTRL       0x50
#define SMMU_IRQ_CTRLACK    0x54
#define SMMU_GERROR         0x60
#define SMMU_GERRORN        0x64
#define SMMU_GERROR_IRQ_CFG0 0x68
#define SMMU_GERROR_IRQ_CFG1 0x70
#define SMMU_GERROR_IRQ_CFG2 0x74
#define SMMU_STRTAB_BASE    0x80
#define SMMU_STRTAB_CFG     0x88
#define SMMU_CMDQ_BASE      0x90
#define SMMU_CMDQ_PROD      0x98
#define SMMU_CMDQ_CONS      0x9c
#define SMMU_EVENTQ_BASE    0xa0
#define SMMU_EVENTQ_IRQ_CFG0 0xb0
#define SMMU_EVENTQ_IRQ_CFG1 0xb8
#define SMMU_EVENTQ_IRQ_CFG2 0xbc
#define SMMU_EVENTQ_PROD    0x100a8
#define SMMU_EVENTQ_CONS    0x100ac
#define SMMU_CR0_SMMUEN     (1u << 0)
#define SMMU_CR0_EVENTQEN   (1u << 2)
#define SMMU_CR0_CMDQEN     (1u << 3)
#define SMMU_GBPA_ABORT     (1u << 20)
#define SMMU_GBPA_UPDATE    (1u << 31)
#define SMMU_IRQ_CTRL_GERROR_IRQEN  (1u << 0)
#define SMMU_IRQ_CTRL_EVENTQ_IRQEN  (1u << 2)
#define SMMU_GERROR_CMDQ_ERR        (1u << 0)
#define SMMU_GERROR_EVENTQ_ABT_ERR  (1u << 2)
#define SMMU_GERROR_MSI_CMDQ_ABT_ERR (1u << 4)
#define SMMU_Q_OVF          (1u << 31)
#define SMMU_CMDQ_CONS_ERR(c)   (((c) >> 24) & 0x7f)
#define SMMU_CERROR_ILL     1
#define SMMU_CERROR_ABT     2

/* Command opcodes */
#define SMMU_CMD_CFGI_STE       0x03
#define SMMU_CMD_CFGI_STE_RANGE 0x04
#define SMMU_CMD_CFGI_CD        0x05
#define SMMU_CMD_TLBI_NH_ALL    0x10
#define SMMU_CMD_TLBI_NH_ASID   0x11
#define SMMU_CMD_TLBI_NH_VA     0x12
#define SMMU_CMD_TLBI_NH_VAA    0x13
#define SMMU_CMD_TLBI_EL2_ALL   0x20
#define SMMU_CMD_TLBI_EL2_ASID  0x21
#define SMMU_CMD_TLBI_EL2_VA    0x22
#define SMMU_CMD_TLBI_EL2_VAA   0x23
#define SMMU_CMD_TLBI_S12_VMALL 0x28
#define SMMU_CMD_TLBI_S2_IPA    0x2a
#define SMMU_CMD_TLBI_NSNH_ALL  0x30
#define SMMU_CMD_SYNC           0x46
/* CMD_SYNC.CS */
#define SMMU_SYNC_CS_IRQ        (1ull << 12)

/* Event record types (first byte of an event) */
#define SMMU_EVT_C_BAD_STREAMID 0x02
#define SMMU_EVT_F_STE_FETCH    0x03
#define SMMU_EVT_C_BAD_STE      0x04
#define SMMU_EVT_F_CD_FETCH     0x09
#define SMMU_EVT_C_BAD_CD       0x0a
#define SMMU_EVT_F_WALK_EABT    0x0b
#define SMMU_EVT_F_TRANSLATION  0x10
#define SMMU_EVT_F_ADDR_SIZE    0x11
#define SMMU_EVT_F_ACCESS       0x12
#define SMMU_EVT_F_PERMISSION   0x13

/* Sizes of the in-memory structures */
#define QSMMU_STE_SIZE      64
#define QSMMU_CD_SIZE       64
#define QSMMU_EVT_SIZE      32

/* Stage-1 4 KiB granule translation tables */
#define QSMMU_PAGE_SIZE     0x1000ull
#define QSMMU_PT_ENTRIES    512

typedef struct QSMMUv3 {
    QTestState *qts;
    uint64_t base;          /* MMIO base of the SMMU */
    uint64_t strtab;        /* linear stream table, in guest memory */
    unsigned strtab_log2size;
    uint64_t eventq;        /* event queue, in guest memory */
    unsigned eventq_log2size;
    uint64_t cmdq;          /* command queue, in guest memory */
    unsigned cmdq_log2size;
    uint32_t cmdq_prod;     /* where the next command goes */
} QSMMUv3;

void qsmmu_init(QSMMUv3 *s, QTestState *qts, uint64_t base);
uint32_t qsmmu_readl(QSMMUv3 *s, uint64_t off);
void qsmmu_writel(QSMMUv3 *s, uint64_t off, uint32_t val);

/* Write CR0 and assert that CR0ACK follows it */
void qsmmu_set_cr0(QSMMUv3 *s, uint32_t val);

/*
 * Point the SMMU at an all-invalid linear stream table of 2^strtab_log2size
 * entries at @strtab and at an empty event queue of 2^eventq_log2size
 * records at @eventq.  Both must be aligned to their size.
 */
void qsmmu_setup_tables(QSMMUv3 *s, uint64_t strtab, unsigned strtab_log2size,
                        uint64_t eventq, unsigned eventq_log2size);

/*
 * Point the SMMU at an empty command queue of 2^log2size commands at
 * @cmdq and enable it, with what CR0 already enables.
 */
void qsmmu_setup_cmdq(QSMMUv3 *s, uint64_t cmdq, unsigned log2size);

/* Write a command where the next one goes, without telling the SMMU */
void qsmmu_cmd_write(QSMMUv3 *s, uint64_t w0, uint64_t w1);

/* Publish the commands written (CMDQ_PROD) */
void qsmmu_cmd_publish(QSMMUv3 *s);

/*
 * Queue a command and a CMD_SYNC, publish them, and assert that the SMMU
 * consumed both without error.
 */
void qsmmu_cmd(QSMMUv3 *s, uint64_t w0, uint64_t w1);

/* The event record at index @idx of the event queue */
void qsmmu_event(QSMMUv3 *s, unsigned idx, uint64_t evt[4]);
/* Assert that the event record at index @idx is exactly @w0 .. @w3 */
void qsmmu_assert_event(QSMMUv3 *s, unsigned idx, uint64_t w0, uint64_t w1,
                        uint64_t w2, uint64_t w3);

/* An STE for @sid from eight raw words */
void qsmmu_ste_raw(QSMMUv3 *s, uint32_t sid, const uint64_t dw[8]);

/* STE for @sid that lets the stream through untranslated */
void qsmmu_ste_bypass(QSMMUv3 *s, uint32_t sid);

/* STE for @sid: stage-1 translation through the single CD at @cd */
void qsmmu_ste_s1(QSMMUv3 *s, uint32_t sid, uint64_t cd);

/*
 * STE for @sid: stage-2 translation only, AArch64 4 KiB granule, an IPA
 * range of @ipa_bits (40, 42, 44 or 48: a walk from level 0) through the
 * table at @vttb, faults recorded, @vmid.  The SMMU must support stage 2
 * (upstream's arm-smmuv3 with stage=2 or stage=nested).
 */
void qsmmu_ste_s2(QSMMUv3 *s, uint32_t sid, uint64_t vttb,
                  unsigned ipa_bits, uint16_t vmid);

/*
 * STE for @sid: nested, stage 1 through the single CD at IPA @cd_ipa, then
 * stage 2 as qsmmu_ste_s2() describes it.
 */
void qsmmu_ste_nested(QSMMUv3 *s, uint32_t sid, uint64_t cd_ipa,
                      uint64_t vttb, unsigned ipa_bits, uint16_t vmid);

/*
 * A valid AArch64 CD at @cd: TTB0 = @ttb0 with a 48-bit input range and a
 * 4 KiB granule, TTB1 disabled, faults recorded, @asid.
 */
void qsmmu_cd_s1_4k(QTestState *qts, uint64_t cd, uint64_t ttb0,
                    uint16_t asid);

/*
 * A four-level page table with a 4 KiB granule, walked from level 0: a
 * stage-1 table over 48-bit input addresses, or a stage-2 table over up to
 * 48 bits of IPA.  Table pages come from [pool, pool + pool_size) in guest
 * memory, handed out in order and zeroed as they are taken.
 */
typedef struct QSMMUPageTable {
    QTestState *qts;
    bool stage2;
    uint64_t root;          /* level-0 table: TTB0 */
    uint64_t pool;
    uint64_t next;          /* next free table page in the pool */
    uint64_t end;
} QSMMUPageTable;

void qsmmu_pt_init(QSMMUPageTable *pt, QTestState *qts, bool stage2,
                   uint64_t pool, uint64_t pool_size);

/*
 * Map the 4 KiB page at @iova (an IPA for stage 2) to @pa, readable (at
 * stage 1 by privileged and unprivileged requests alike), and writable if
 * @writable.
 */
void qsmmu_pt_map(QSMMUPageTable *pt, uint64_t iova, uint64_t pa,
                  bool writable);

/* Map the 1 GiB block at @iova to @pa, writable */
void qsmmu_pt_map_1g(QSMMUPageTable *pt, uint64_t iova, uint64_t pa);

/*
 * The same kind of table, built in bulk: @npages 4 KiB pages from @iova,
 * page i mapped to @pa_of(i, @opaque), writable.  @iova is 2 MiB aligned
 * and the pages stay within one 1 GiB block.  The tables take consecutive
 * pages from @pool.  Table addresses in descriptors, and the result, are
 * the tables' PAs plus @table_offset (an IPA offset, when stage 2 maps
 * the tables).
 */
uint64_t qsmmu_pt_build_linear(QTestState *qts, bool stage2, uint64_t pool,
                               uint64_t iova, unsigned npages,
                               uint64_t (*pa_of)(unsigned i, void *opaque),
                               void *opaque, uint64_t table_offset);

/* Table pages taken from the pool so far */
unsigned qsmmu_pt_tables_used(const QSMMUPageTable *pt);

#endif
