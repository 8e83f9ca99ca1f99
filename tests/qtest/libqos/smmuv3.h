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
#define SMMU_CR0            0x20
#define SMMU_CR0ACK         0x24
#define SMMU_GBPA           0x44
#define SMMU_STRTAB_BASE    0x80
#define SMMU_STRTAB_CFG     0x88
#define SMMU_EVENTQ_BASE    0xa0
#define SMMU_EVENTQ_PROD    0x100a8
#define SMMU_EVENTQ_CONS    0x100ac
#define SMMU_CR0_SMMUEN     (1u << 0)
#define SMMU_CR0_EVENTQEN   (1u << 2)
#define SMMU_GBPA_ABORT     (1u << 20)
#define SMMU_GBPA_UPDATE    (1u << 31)

/* Event record type (first byte of an event) */
#define SMMU_EVT_C_BAD_STE  0x04

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

/* Table pages taken from the pool so far */
unsigned qsmmu_pt_tables_used(const QSMMUPageTable *pt);

#endif
