/*
 * Arm SMMUv3: state and the interfaces between the model's files
 *
 *   smmuv3.c            the device: registers, per-stream address spaces,
 *                       reset, migration
 *   smmuv3-queues.c     command queue, event queue, GERROR, interrupts
 *   smmuv3-config.c     stream table and context descriptor decoding
 *   smmuv3-walk.c       VMSAv8-64 translation table walks
 *   smmuv3-translate.c  the translation of one transaction, the IOTLB,
 *                       faults, invalidation
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_ARM_SMMUV3_INTERNAL_H
#define HW_ARM_SMMUV3_INTERNAL_H

#include "hw/sysbus.h"
#include "hw/pci/pci.h"
#include "system/memory.h"
#include "hw/arm/smmuv3.h"
#include "hw/iommu/viommu-iotlb.h"
#include "smmuv3-bits.h"

#define SMMUV3_SIDSIZE          16
#define SMMUV3_CMDQS            19
#define SMMUV3_EVENTQS          19
/* Commands one MMIO write executes before the rest goes to a bottom half */
#define SMMUV3_CMDQ_BATCH       1024
#define SMMUV3_IOTLB_ENTRIES    16384

/*
 * Permissions of a translation, one bit per kind of access.  A cached
 * translation holds those both stages allow.
 */
#define SMMUV3_PERM_PRIV_R      (1u << 0)
#define SMMUV3_PERM_PRIV_W      (1u << 1)
#define SMMUV3_PERM_PRIV_X      (1u << 2)
#define SMMUV3_PERM_UNPRIV_R    (1u << 3)
#define SMMUV3_PERM_UNPRIV_W    (1u << 4)
#define SMMUV3_PERM_UNPRIV_X    (1u << 5)
#define SMMUV3_PERM_ALL         0x3f

/*
 * IOTLB context tags: translation regime, VMID and ASID.  (A substream's
 * CD carries its own ASID, so substreams need no room of their own.)
 */
#define SMMUV3_CTX_ASID_SHIFT   0
#define SMMUV3_CTX_VMID_SHIFT   16
#define SMMUV3_CTX_REGIME_SHIFT 32
#define SMMUV3_CTX_ASID_MASK    0xffffull
#define SMMUV3_CTX_VMID_MASK    (0xffffull << SMMUV3_CTX_VMID_SHIFT)
#define SMMUV3_CTX_REGIME_MASK  (0xfull << SMMUV3_CTX_REGIME_SHIFT)

typedef enum SMMUv3Regime {
    SMMUV3_REGIME_NONE,
    SMMUV3_REGIME_S1,           /* Non-secure EL1&0, stage 1 only */
    SMMUV3_REGIME_S2,           /* stage 2 only */
    SMMUV3_REGIME_NESTED,       /* EL1&0, stage 1 then stage 2 */
    SMMUV3_REGIME_EL2,          /* EL2, stage 1, no ASIDs */
    SMMUV3_REGIME_EL2_E2H,      /* EL2&0 (CR2.E2H), stage 1, ASIDs */
} SMMUv3Regime;

static inline uint64_t smmuv3_ctx_tag(SMMUv3Regime regime, uint16_t vmid,
                                      uint16_t asid)
{
    return ((uint64_t)regime << SMMUV3_CTX_REGIME_SHIFT) |
           ((uint64_t)vmid << SMMUV3_CTX_VMID_SHIFT) | asid;
}

/* How one translation table walk starts */
typedef struct SMMUv3TTParams {
    uint64_t ttb;           /* table base, an IPA when stage 1 is nested */
    uint8_t tsz;            /* the input range is 64 - tsz bits */
    uint8_t granule_shift;  /* 12, 14 or 16 */
    int8_t start_level;     /* 0 .. 3 */
    uint8_t concat;         /* log2 of the concatenated start tables */
    uint8_t out_bits;       /* output address size */
    bool disabled;          /* EPDx: any walk faults */
    bool tbi;               /* top byte ignored */
} SMMUv3TTParams;

/* What a stream is configured to do, decoded from its STE and CD */
typedef enum SMMUv3StreamKind {
    SMMUV3_STREAM_ABORT,        /* abort, record nothing */
    SMMUV3_STREAM_BYPASS,
    SMMUV3_STREAM_TRANSLATE,
} SMMUv3StreamKind;

typedef struct SMMUv3StreamConfig {
    SMMUv3StreamKind kind;
    uint32_t sid;
    SMMUv3Regime regime;
    bool s1;
    bool s2;
    uint8_t privcfg;        /* STE.PRIVCFG and INSTCFG */
    uint8_t instcfg;
    /* Stage 1 */
    uint16_t asid;
    bool s1_record;         /* CD.R */
    bool affd;
    bool wxn;
    bool pan;
    bool el2;               /* one privilege level: AP[1] and PXN ignored */
    SMMUv3TTParams tt[2];   /* TTB0 and TTB1 */
    /* Stage 2 */
    uint16_t vmid;
    bool s2_record;         /* STE.S2R */
    bool s2affd;
    SMMUv3TTParams s2tt;
    /* For the IOTLB */
    uint64_t tlb_ctx;
    uint64_t tlb_sizes;     /* block sizes the walks can produce */
    uint64_t s2_tlb_sizes;  /* those a stage 2 walk alone can */
} SMMUv3StreamConfig;

/* A fault, as an event record will describe it */
typedef struct SMMUv3Fault {
    uint8_t type;           /* SMMU_EVT_*, 0 when there is none */
    bool record;            /* STE/CD say to record it */
    bool s2;
    uint8_t class;
    uint64_t ipa;
    uint64_t fetch_addr;
    uint32_t ssid;
    bool ssv;
} SMMUv3Fault;

/* One PCI function behind the SMMU */
typedef struct SMMUv3Device {
    SMMUv3State *smmu;
    PCIBus *bus;
    int devfn;
    IOMMUMemoryRegion iommu;
    MemoryRegion root;
    MemoryRegion bypass;    /* system memory, while the stream bypasses */
    AddressSpace as;
    IOMMUNotifierFlag notifier_flags;
    bool cfg_valid;
    SMMUv3StreamConfig cfg;
    QLIST_ENTRY(SMMUv3Device) next;
} SMMUv3Device;

typedef struct SMMUv3Queue {
    uint64_t base;
    uint32_t prod;
    uint32_t cons;
} SMMUv3Queue;

/* Where an interrupt goes as an MSI: a queue's *_IRQ_CFG0, CFG1, CFG2 */
typedef struct SMMUv3MsiCfg {
    uint64_t addr;
    uint32_t data;
    uint32_t attr;
} SMMUv3MsiCfg;

struct SMMUv3State {
    SysBusDevice parent_obj;

    MemoryRegion mmio;
    qemu_irq irq[SMMUV3_NR_IRQS];

    /* Properties */
    PCIBus *primary_bus;
    char *stage;
    bool smmu_per_bus;
    uint8_t bus_num;
    bool ril;
    uint8_t oas;
    uint32_t iotlb_entries;

    /* Registers: identification and control */
    uint32_t idr[6];
    uint32_t cr[3];
    uint32_t cr0ack;
    uint32_t gbpa;
    /* the stream table and the queues */
    uint64_t strtab_base;
    uint32_t strtab_base_cfg;
    SMMUv3Queue cmdq;
    SMMUv3Queue eventq;
    /* errors and interrupts */
    uint32_t gerror;
    uint32_t gerrorn;
    uint32_t irq_ctrl;
    SMMUv3MsiCfg gerror_msi;
    SMMUv3MsiCfg eventq_msi;

    /* Not guest-visible: rebuilt as needed, never migrated */
    ViommuIotlb iotlb;
    /* A global (nG == 0) translation was cached since the last flush */
    bool global_cached;
    QLIST_HEAD(, SMMUv3Device) devices;
    GHashTable *devices_by_bdf;
    QEMUBH *cmdq_bh;
    QEMUBH *bypass_bh;
};

static inline bool smmuv3_enabled(SMMUv3State *s)
{
    return FIELD_EX32(s->cr[0], CR0, SMMUEN);
}

static inline unsigned smmuv3_oas_bits(SMMUv3State *s)
{
    return s->oas;
}

/* smmuv3.c */
void smmuv3_update_bypass(SMMUv3State *s);

/* smmuv3-queues.c */
void smmuv3_cmdq_consume(SMMUv3State *s);
void smmuv3_record_event(SMMUv3State *s, uint64_t evt[4]);
void smmuv3_gerror_raise(SMMUv3State *s, uint32_t bits);
void smmuv3_gerrorn_write(SMMUv3State *s, uint32_t val);
uint32_t smmuv3_queue_log2size(uint64_t base, unsigned max);

/* smmuv3-config.c */
bool smmuv3_stream_config(SMMUv3State *s, SMMUv3Device *sdev,
                          SMMUv3StreamConfig *cfg, SMMUv3Fault *fault);
uint32_t smmuv3_sid(SMMUv3Device *sdev);
unsigned smmuv3_ps_bits(unsigned ps_field, unsigned oas_bits);

/* smmuv3-walk.c */
typedef struct SMMUv3Walk {
    uint64_t out;           /* output address of the block */
    uint8_t size_shift;     /* log2 of the block */
    uint16_t perm;          /* SMMUV3_PERM_* this stage allows */
    bool global;
} SMMUv3Walk;

bool smmuv3_walk_s1(SMMUv3State *s, const SMMUv3StreamConfig *cfg,
                    uint64_t va, bool need_s2_for_tables,
                    SMMUv3Walk *walk, SMMUv3Fault *fault);
bool smmuv3_walk_s2(SMMUv3State *s, const SMMUv3StreamConfig *cfg,
                    uint64_t ipa, uint8_t class, SMMUv3Walk *walk,
                    SMMUv3Fault *fault);
bool smmuv3_tt_params_valid(SMMUv3TTParams *tt, bool stage2, unsigned sl0);
uint64_t smmuv3_tt_block_sizes(const SMMUv3TTParams *tt);

/* smmuv3-translate.c */
bool smmuv3_translate_ipa(SMMUv3State *s, const SMMUv3StreamConfig *cfg,
                          uint64_t ipa, uint8_t class, uint64_t *pa,
                          SMMUv3Fault *fault);
void smmuv3_report_fault(SMMUv3State *s, uint32_t sid, SMMUv3Fault *fault,
                         uint64_t input_addr, bool priv, bool inst,
                         bool is_write);
void smmuv3_invalidate_config(SMMUv3State *s, uint32_t sid_first,
                              uint32_t sid_last);
void smmuv3_invalidate_tlb(SMMUv3State *s, uint64_t mask, uint64_t match,
                           uint64_t start, uint64_t size, bool by_va);
void smmuv3_flush_all(SMMUv3State *s);
void smmuv3_iommu_memory_region_class_init(ObjectClass *klass,
                                           const void *data);

#endif /* HW_ARM_SMMUV3_INTERNAL_H */
