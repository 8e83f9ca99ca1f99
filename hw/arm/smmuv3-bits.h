/*
 * Arm SMMUv3: the architectural encodings this model uses
 *
 * Registers, stream table and context descriptor fields, commands and
 * event records, named as the Arm System Memory Management Unit
 * Architecture Specification (IHI 0070) names them, so that the model can
 * be read against the manual.  Nothing here but encodings.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_ARM_SMMUV3_BITS_H
#define HW_ARM_SMMUV3_BITS_H

#include "hw/registerfields.h"

/* ---- Registers, page 0 ---- */

REG32(IDR0,                 0x00)
    FIELD(IDR0, S2P,            0, 1)
    FIELD(IDR0, S1P,            1, 1)
    FIELD(IDR0, TTF,            2, 2)
    FIELD(IDR0, COHACC,         4, 1)
    FIELD(IDR0, BTM,            5, 1)
    FIELD(IDR0, HTTU,           6, 2)
    FIELD(IDR0, HYP,            9, 1)
    FIELD(IDR0, ATS,            10, 1)
    FIELD(IDR0, ASID16,         12, 1)
    FIELD(IDR0, MSI,            13, 1)
    FIELD(IDR0, SEV,            14, 1)
    FIELD(IDR0, PRI,            16, 1)
    FIELD(IDR0, VMID16,         18, 1)
    FIELD(IDR0, TTENDIAN,       21, 2)
    FIELD(IDR0, STALL_MODEL,    24, 2)
    FIELD(IDR0, TERM_MODEL,     26, 1)
    FIELD(IDR0, ST_LEVEL,       27, 2)
REG32(IDR1,                 0x04)
    FIELD(IDR1, SIDSIZE,        0, 6)
    FIELD(IDR1, SSIDSIZE,       6, 5)
    FIELD(IDR1, PRIQS,          11, 5)
    FIELD(IDR1, EVENTQS,        16, 5)
    FIELD(IDR1, CMDQS,          21, 5)
    FIELD(IDR1, ATTR_PERMS_OVR, 26, 1)
    FIELD(IDR1, ATTR_TYPES_OVR, 27, 1)
REG32(IDR2,                 0x08)
REG32(IDR3,                 0x0c)
    FIELD(IDR3, RIL,            10, 1)
REG32(IDR4,                 0x10)
REG32(IDR5,                 0x14)
    FIELD(IDR5, OAS,            0, 3)
    FIELD(IDR5, GRAN4K,         4, 1)
    FIELD(IDR5, GRAN16K,        5, 1)
    FIELD(IDR5, GRAN64K,        6, 1)
REG32(IIDR,                 0x18)
REG32(AIDR,                 0x1c)
REG32(CR0,                  0x20)
    FIELD(CR0, SMMUEN,          0, 1)
    FIELD(CR0, EVENTQEN,        2, 1)
    FIELD(CR0, CMDQEN,          3, 1)
REG32(CR0ACK,               0x24)
REG32(CR1,                  0x28)
    FIELD(CR1, QUEUE_IC,        0, 2)
    FIELD(CR1, QUEUE_OC,        2, 2)
    FIELD(CR1, QUEUE_SH,        4, 2)
    FIELD(CR1, TABLE_IC,        6, 2)
    FIELD(CR1, TABLE_OC,        8, 2)
    FIELD(CR1, TABLE_SH,        10, 2)
REG32(CR2,                  0x2c)
    FIELD(CR2, E2H,             0, 1)
    FIELD(CR2, RECINVSID,       1, 1)
    FIELD(CR2, PTM,             2, 1)
REG32(STATUSR,              0x40)
REG32(GBPA,                 0x44)
    FIELD(GBPA, MEMATTR,        0, 4)
    FIELD(GBPA, MTCFG,          4, 1)
    FIELD(GBPA, ALLOCCFG,       8, 4)
    FIELD(GBPA, SHCFG,          12, 2)
    FIELD(GBPA, PRIVCFG,        16, 2)
    FIELD(GBPA, INSTCFG,        18, 2)
    FIELD(GBPA, ABORT,          20, 1)
    FIELD(GBPA, UPDATE,         31, 1)
REG32(AGBPA,                0x48)
REG32(IRQ_CTRL,             0x50)
    FIELD(IRQ_CTRL, GERROR_IRQEN,   0, 1)
    FIELD(IRQ_CTRL, PRIQ_IRQEN,     1, 1)
    FIELD(IRQ_CTRL, EVENTQ_IRQEN,   2, 1)
REG32(IRQ_CTRLACK,          0x54)
REG32(GERROR,               0x60)
    FIELD(GERROR, CMDQ_ERR,         0, 1)
    FIELD(GERROR, EVENTQ_ABT_ERR,   2, 1)
    FIELD(GERROR, MSI_CMDQ_ABT_ERR, 4, 1)
    FIELD(GERROR, MSI_EVENTQ_ABT_ERR, 5, 1)
    FIELD(GERROR, MSI_GERROR_ABT_ERR, 7, 1)
    /* The PRI queue's and service failure's: this SMMU never raises them */
    FIELD(GERROR, PRIQ_ABT_ERR,     3, 1)
    FIELD(GERROR, MSI_PRIQ_ABT_ERR, 6, 1)
    FIELD(GERROR, SFM_ERR,          8, 1)
REG32(GERRORN,              0x64)
REG64(GERROR_IRQ_CFG0,      0x68)
    FIELD(GERROR_IRQ_CFG0, ADDR,    2, 50)
REG32(GERROR_IRQ_CFG1,      0x70)
REG32(GERROR_IRQ_CFG2,      0x74)
    FIELD(GERROR_IRQ_CFG2, MEMATTR, 0, 4)
    FIELD(GERROR_IRQ_CFG2, SH,      4, 2)
REG64(STRTAB_BASE,          0x80)
    FIELD(STRTAB_BASE, ADDR,    6, 46)
    FIELD(STRTAB_BASE, RA,      62, 1)
REG32(STRTAB_BASE_CFG,      0x88)
    FIELD(STRTAB_BASE_CFG, LOG2SIZE,    0, 6)
    FIELD(STRTAB_BASE_CFG, SPLIT,       6, 5)
    FIELD(STRTAB_BASE_CFG, FMT,         16, 2)
REG64(CMDQ_BASE,            0x90)
    FIELD(CMDQ_BASE, LOG2SIZE,  0, 5)
    FIELD(CMDQ_BASE, ADDR,      5, 47)
    FIELD(CMDQ_BASE, RA,        62, 1)
REG32(CMDQ_PROD,            0x98)
REG32(CMDQ_CONS,            0x9c)
    FIELD(CMDQ_CONS, ERR,       24, 7)
REG64(EVENTQ_BASE,          0xa0)
REG64(EVENTQ_IRQ_CFG0,      0xb0)
REG32(EVENTQ_IRQ_CFG1,      0xb8)
REG32(EVENTQ_IRQ_CFG2,      0xbc)
REG64(PRIQ_BASE,            0xc0)
REG64(PRIQ_IRQ_CFG0,        0xd0)
REG32(PRIQ_IRQ_CFG1,        0xd8)
REG32(PRIQ_IRQ_CFG2,        0xdc)

/* Page 1: the queue pointers software updates in the hot path */
#define SMMUV3_PAGE1            0x10000
REG32(EVENTQ_PROD,          SMMUV3_PAGE1 + 0xa8)
    FIELD(EVENTQ_PROD, OVFLG,   31, 1)
REG32(EVENTQ_CONS,          SMMUV3_PAGE1 + 0xac)
    FIELD(EVENTQ_CONS, OVACKFLG, 31, 1)
REG32(PRIQ_PROD,            SMMUV3_PAGE1 + 0xc8)
REG32(PRIQ_CONS,            SMMUV3_PAGE1 + 0xcc)

/* CoreSight identification registers, page 0 */
#define A_PIDR4                 0xfd0
#define A_CIDR3                 0xffc

/*
 * The event queue's base and interrupt registers are laid out as the
 * command queue's and GERROR's
 */
#define SMMU_Q_BASE_LOG2SIZE(b) FIELD_EX64((b), CMDQ_BASE, LOG2SIZE)
#define SMMU_Q_BASE_ADDR(b)     ((b) & R_CMDQ_BASE_ADDR_MASK)
#define SMMU_Q_BASE_MASK        (R_CMDQ_BASE_LOG2SIZE_MASK | \
                                 R_CMDQ_BASE_ADDR_MASK | R_CMDQ_BASE_RA_MASK)
#define SMMU_MSI_ADDR_MASK      R_GERROR_IRQ_CFG0_ADDR_MASK
#define SMMU_MSI_ATTR_MASK      (R_GERROR_IRQ_CFG2_MEMATTR_MASK | \
                                 R_GERROR_IRQ_CFG2_SH_MASK)
/* The overflow flag of EVENTQ_PROD, and its acknowledgement in CONS */
#define SMMU_Q_OVF              R_EVENTQ_PROD_OVFLG_MASK

/* Every GERROR (and GERRORN) bit the architecture defines */
#define SMMU_GERROR_MASK        (R_GERROR_CMDQ_ERR_MASK | \
                                 R_GERROR_EVENTQ_ABT_ERR_MASK | \
                                 R_GERROR_PRIQ_ABT_ERR_MASK | \
                                 R_GERROR_MSI_CMDQ_ABT_ERR_MASK | \
                                 R_GERROR_MSI_EVENTQ_ABT_ERR_MASK | \
                                 R_GERROR_MSI_PRIQ_ABT_ERR_MASK | \
                                 R_GERROR_MSI_GERROR_ABT_ERR_MASK | \
                                 R_GERROR_SFM_ERR_MASK)
/* The GERROR bits this SMMU raises (no PRI queue, no service failure) */
#define SMMU_GERROR_RAISED_MASK (R_GERROR_CMDQ_ERR_MASK | \
                                 R_GERROR_EVENTQ_ABT_ERR_MASK | \
                                 R_GERROR_MSI_CMDQ_ABT_ERR_MASK | \
                                 R_GERROR_MSI_EVENTQ_ABT_ERR_MASK | \
                                 R_GERROR_MSI_GERROR_ABT_ERR_MASK)

/* GBPA without Secure state: NSCFG, bits [15:14], is RES0 */
#define SMMU_GBPA_MASK          (R_GBPA_MEMATTR_MASK | R_GBPA_MTCFG_MASK | \
                                 R_GBPA_ALLOCCFG_MASK | R_GBPA_SHCFG_MASK | \
                                 R_GBPA_PRIVCFG_MASK | R_GBPA_INSTCFG_MASK | \
                                 R_GBPA_ABORT_MASK)

#define SMMU_CR1_MASK           (R_CR1_QUEUE_IC_MASK | R_CR1_QUEUE_OC_MASK | \
                                 R_CR1_QUEUE_SH_MASK | R_CR1_TABLE_IC_MASK | \
                                 R_CR1_TABLE_OC_MASK | R_CR1_TABLE_SH_MASK)

/* Values of the fields above */
#define SMMU_IDR0_TTF_AARCH64       2
#define SMMU_IDR0_TTENDIAN_LE       2
#define SMMU_IDR0_STALL_NONE        1
#define SMMU_IDR0_ST_LEVEL_2LVL     1
#define SMMU_STRTAB_FMT_LINEAR      0
#define SMMU_STRTAB_FMT_2LVL        1

/* CMDQ_CONS.ERR */
#define SMMU_CERROR_NONE        0
#define SMMU_CERROR_ILL         1
#define SMMU_CERROR_ABT         2

/* IDR5.OAS and the *PS / IPS encodings of an output address size */
#define SMMU_OAS_44             4
#define SMMU_OAS_48             5

/* ---- Stream table ---- */

#define SMMU_STE_SIZE           64
#define SMMU_L1STD_SIZE         8
#define SMMU_L1STD_SPAN(d)      extract64((d), 0, 5)
/* L1STD.L2Ptr: bits [51:6], as STRTAB_BASE.ADDR */
#define SMMU_ADDR_51_6(v)       ((v) & R_STRTAB_BASE_ADDR_MASK)
/* CD.TTBx, STE.S2TTB: bits [51:4] */
#define SMMU_ADDR_51_4(v)       ((v) & MAKE_64BIT_MASK(4, 48))
#define SMMU_L1STD_L2PTR(d)     SMMU_ADDR_51_6(d)

/* An STE as eight 64-bit words; field (word, start, length) */
#define STE_FIELD(ste, w, s, l) extract64((ste)[w], (s), (l))
#define STE_VALID(s)            STE_FIELD(s, 0, 0, 1)
#define STE_CONFIG(s)           STE_FIELD(s, 0, 1, 3)
#define STE_S1FMT(s)            STE_FIELD(s, 0, 4, 2)
#define STE_S1CTXPTR(s)         ((s)[0] & MAKE_64BIT_MASK(6, 50))  /* [55:6] */
#define STE_S1CDMAX(s)          STE_FIELD(s, 0, 59, 5)
#define STE_S1DSS(s)            STE_FIELD(s, 1, 0, 2)
#define STE_S1STALLD(s)         STE_FIELD(s, 1, 27, 1)
#define STE_EATS(s)             STE_FIELD(s, 1, 28, 2)
#define STE_STRW(s)             STE_FIELD(s, 1, 30, 2)
#define STE_PRIVCFG(s)          STE_FIELD(s, 1, 48, 2)
#define STE_INSTCFG(s)          STE_FIELD(s, 1, 50, 2)
#define STE_S2VMID(s)           STE_FIELD(s, 2, 0, 16)
#define STE_S2T0SZ(s)           STE_FIELD(s, 2, 32, 6)
#define STE_S2SL0(s)            STE_FIELD(s, 2, 38, 2)
#define STE_S2TG(s)             STE_FIELD(s, 2, 46, 2)
#define STE_S2PS(s)             STE_FIELD(s, 2, 48, 3)
#define STE_S2AA64(s)           STE_FIELD(s, 2, 51, 1)
#define STE_S2ENDI(s)           STE_FIELD(s, 2, 52, 1)
#define STE_S2AFFD(s)           STE_FIELD(s, 2, 53, 1)
#define STE_S2PTW(s)            STE_FIELD(s, 2, 54, 1)
#define STE_S2HD(s)             STE_FIELD(s, 2, 55, 1)
#define STE_S2HA(s)             STE_FIELD(s, 2, 56, 1)
#define STE_S2S(s)              STE_FIELD(s, 2, 57, 1)
#define STE_S2R(s)              STE_FIELD(s, 2, 58, 1)
#define STE_S2TTB(s)            SMMU_ADDR_51_4((s)[3])

/* STE.Config */
#define STE_CONFIG_ABORT        0
#define STE_CONFIG_BYPASS       4
#define STE_CONFIG_S1           5
#define STE_CONFIG_S2           6
#define STE_CONFIG_NESTED       7
/* STE.STRW */
#define STE_STRW_NSEL1          0
#define STE_STRW_EL2            2
/* STE.PRIVCFG and STE.INSTCFG */
#define STE_ATTRCFG_INCOMING    0
#define STE_ATTRCFG_UNPRIV_DATA 2
#define STE_ATTRCFG_PRIV_INST   3

/* STE.S2TG, and the granule a stage-2 walk uses */
#define STE_S2TG_4K             0
#define STE_S2TG_64K            1
#define STE_S2TG_16K            2

/* ---- Context descriptors ---- */

#define SMMU_CD_SIZE            64

#define CD_FIELD(cd, w, s, l)   extract64((cd)[w], (s), (l))
#define CD_T0SZ(c)              CD_FIELD(c, 0, 0, 6)
#define CD_TG0(c)               CD_FIELD(c, 0, 6, 2)
#define CD_EPD0(c)              CD_FIELD(c, 0, 14, 1)
#define CD_ENDI(c)              CD_FIELD(c, 0, 15, 1)
#define CD_T1SZ(c)              CD_FIELD(c, 0, 16, 6)
#define CD_TG1(c)               CD_FIELD(c, 0, 22, 2)
#define CD_EPD1(c)              CD_FIELD(c, 0, 30, 1)
#define CD_VALID(c)             CD_FIELD(c, 0, 31, 1)
#define CD_IPS(c)               CD_FIELD(c, 0, 32, 3)
#define CD_AFFD(c)              CD_FIELD(c, 0, 35, 1)
#define CD_WXN(c)               CD_FIELD(c, 0, 36, 1)
#define CD_UWXN(c)              CD_FIELD(c, 0, 37, 1)
#define CD_TBI0(c)              CD_FIELD(c, 0, 38, 1)
#define CD_TBI1(c)              CD_FIELD(c, 0, 39, 1)
#define CD_PAN(c)               CD_FIELD(c, 0, 40, 1)
#define CD_AA64(c)              CD_FIELD(c, 0, 41, 1)
#define CD_HD(c)                CD_FIELD(c, 0, 42, 1)
#define CD_HA(c)                CD_FIELD(c, 0, 43, 1)
#define CD_S(c)                 CD_FIELD(c, 0, 44, 1)
#define CD_R(c)                 CD_FIELD(c, 0, 45, 1)
#define CD_A(c)                 CD_FIELD(c, 0, 46, 1)
#define CD_ASID(c)              CD_FIELD(c, 0, 48, 16)
#define CD_TTB0(c)              SMMU_ADDR_51_4((c)[1])
#define CD_TTB1(c)              SMMU_ADDR_51_4((c)[2])

/* CD.TG0 is TCR_ELx.TG0's encoding, CD.TG1 is TCR_ELx.TG1's */
#define CD_TG0_4K               0
#define CD_TG0_64K              1
#define CD_TG0_16K              2
#define CD_TG1_16K              1
#define CD_TG1_4K               2
#define CD_TG1_64K              3

/* ---- Translation table descriptors (VMSAv8-64) ---- */

#define PTE_VALID               (1ull << 0)
#define PTE_TABLE               (1ull << 1)     /* or page, at the last level */
#define PTE_AP1_UNPRIV          (1ull << 6)     /* stage 1: AP[1] */
#define PTE_AP2_RDONLY          (1ull << 7)     /* stage 1: AP[2] */
#define PTE_S2AP_READ           (1ull << 6)
#define PTE_S2AP_WRITE          (1ull << 7)
#define PTE_AF                  (1ull << 10)
#define PTE_NG                  (1ull << 11)
#define PTE_PXN                 (1ull << 53)
#define PTE_UXN                 (1ull << 54)    /* XN at EL2, and stage 2 */
/* Hierarchical attributes of stage-1 table descriptors */
#define PTE_PXNTABLE            (1ull << 59)
#define PTE_UXNTABLE            (1ull << 60)
#define PTE_APTABLE_NO_UNPRIV   (1ull << 61)
#define PTE_APTABLE_RDONLY      (1ull << 62)
#define PTE_ADDR_MASK           MAKE_64BIT_MASK(12, 36)     /* [47:12] */

/* ---- Commands ---- */

#define SMMU_CMD_SIZE           16
#define CMD_OPCODE(c)           extract64((c)[0], 0, 8)
#define CMD_SSEC(c)             extract64((c)[0], 10, 1)
#define CMD_SSV(c)              extract64((c)[0], 11, 1)
#define CMD_SID(c)              extract64((c)[0], 32, 32)
#define CMD_CFGI_RANGE(c)       extract64((c)[1], 0, 5)
#define CMD_TLBI_NUM(c)         extract64((c)[0], 12, 5)
#define CMD_TLBI_SCALE(c)       extract64((c)[0], 20, 5)
#define CMD_TLBI_VMID(c)        extract64((c)[0], 32, 16)
#define CMD_TLBI_ASID(c)        extract64((c)[0], 48, 16)
#define CMD_TLBI_TTL(c)         extract64((c)[1], 8, 2)
#define CMD_TLBI_TG(c)          extract64((c)[1], 10, 2)
#define CMD_TLBI_ADDR(c)        ((c)[1] & ~MAKE_64BIT_MASK(0, 12))
/* TLBI_S2_IPA: an IPA, bits [51:12] */
#define CMD_TLBI_IPA(c)         ((c)[1] & MAKE_64BIT_MASK(12, 40))
#define CMD_SYNC_CS(c)          extract64((c)[0], 12, 2)
#define CMD_SYNC_MSIATTR(c)     extract64((c)[0], 24, 4)
#define CMD_SYNC_MSIDATA(c)     extract64((c)[0], 32, 32)
#define CMD_SYNC_MSIADDR(c)     ((c)[1] & SMMU_MSI_ADDR_MASK)

enum {
    SMMU_CMD_PREFETCH_CONFIG    = 0x01,
    SMMU_CMD_PREFETCH_ADDR      = 0x02,
    SMMU_CMD_CFGI_STE           = 0x03,
    SMMU_CMD_CFGI_STE_RANGE     = 0x04,
    SMMU_CMD_CFGI_CD            = 0x05,
    SMMU_CMD_CFGI_CD_ALL        = 0x06,
    SMMU_CMD_CFGI_VMS_PIDM      = 0x07,
    SMMU_CMD_TLBI_NH_ALL        = 0x10,
    SMMU_CMD_TLBI_NH_ASID       = 0x11,
    SMMU_CMD_TLBI_NH_VA         = 0x12,
    SMMU_CMD_TLBI_NH_VAA        = 0x13,
    SMMU_CMD_TLBI_EL3_ALL       = 0x18,
    SMMU_CMD_TLBI_EL3_VA        = 0x1a,
    SMMU_CMD_TLBI_EL2_ALL       = 0x20,
    SMMU_CMD_TLBI_EL2_ASID      = 0x21,
    SMMU_CMD_TLBI_EL2_VA        = 0x22,
    SMMU_CMD_TLBI_EL2_VAA       = 0x23,
    SMMU_CMD_TLBI_S12_VMALL     = 0x28,
    SMMU_CMD_TLBI_S2_IPA        = 0x2a,
    SMMU_CMD_TLBI_NSNH_ALL      = 0x30,
    SMMU_CMD_ATC_INV            = 0x40,
    SMMU_CMD_PRI_RESP           = 0x41,
    SMMU_CMD_RESUME             = 0x44,
    SMMU_CMD_STALL_TERM         = 0x45,
    SMMU_CMD_SYNC               = 0x46,
};

/* CMD_SYNC.CS */
#define CMD_SYNC_CS_NONE        0
#define CMD_SYNC_CS_IRQ         1
#define CMD_SYNC_CS_SEV         2

/* ---- Event records ---- */

#define SMMU_EVT_SIZE           32

enum {
    SMMU_EVT_F_UUT              = 0x01,
    SMMU_EVT_C_BAD_STREAMID     = 0x02,
    SMMU_EVT_F_STE_FETCH        = 0x03,
    SMMU_EVT_C_BAD_STE          = 0x04,
    SMMU_EVT_F_BAD_ATS_TREQ     = 0x05,
    SMMU_EVT_F_STREAM_DISABLED  = 0x06,
    SMMU_EVT_F_TRANSL_FORBIDDEN = 0x07,
    SMMU_EVT_C_BAD_SUBSTREAMID  = 0x08,
    SMMU_EVT_F_CD_FETCH         = 0x09,
    SMMU_EVT_C_BAD_CD           = 0x0a,
    SMMU_EVT_F_WALK_EABT        = 0x0b,
    SMMU_EVT_F_TRANSLATION      = 0x10,
    SMMU_EVT_F_ADDR_SIZE        = 0x11,
    SMMU_EVT_F_ACCESS           = 0x12,
    SMMU_EVT_F_PERMISSION       = 0x13,
};

/* Event record word 0 and 1 fields; words 2 and 3 are addresses */
#define EVT_0_TYPE_SHIFT        0
#define EVT_0_SID_SHIFT         32
#define EVT_1_PNU               (1ull << 33)
#define EVT_1_IND               (1ull << 34)
#define EVT_1_RNW               (1ull << 35)
#define EVT_1_S2                (1ull << 39)
#define EVT_1_CLASS_SHIFT       40
#define EVT_1_TTRNW             (1ull << 44)
#define EVT_3_IPA_MASK          MAKE_64BIT_MASK(12, 40)     /* [51:12] */
#define EVT_3_FETCH_MASK        MAKE_64BIT_MASK(3, 49)      /* [51:3] */

/* The CLASS of a fault: what was being fetched or accessed */
#define SMMU_CLASS_CD           0
#define SMMU_CLASS_TT           1
#define SMMU_CLASS_IN           2

#endif /* HW_ARM_SMMUV3_BITS_H */
