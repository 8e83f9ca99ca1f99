/*
 * Arm SMMUv3: state and the interfaces between the model's files
 *
 * The files form layers; each calls only those below it:
 *
 *   smmuv3.c            the device: registers, per-stream address
 *                       spaces, reset, migration
 *   smmuv3-cmdq.c       the command queue, and the invalidations its
 *                       commands make: TLBI and CFGI decoding, the caches,
 *                       IOMMU notifiers
 *   smmuv3-translate.c  the translation of one transaction: the IOMMU
 *                       region, the IOTLB, faults; which streams bypass
 *   smmuv3-config.c     stream table and context descriptor decoding
 *   smmuv3-walk.c       VMSAv8-64 translation table walks, and reads of
 *                       the SMMU's structures in guest memory
 *   smmuv3-events.c     the event queue, GERROR and interrupts
 *
 * Walk and config are leaves: where a nested walk needs stage 2 for a
 * table or CD address, the caller passes them a function that translates
 * an IPA.
 *
 * Threads.  translate() runs on vCPUs, the main loop and iothreads, with
 * or without the BQL, and never takes the BQL.  The state it shares with
 * the rest of the model (the stream configuration cache, the IOTLB, the
 * event queue's producer side and the registers those read) is guarded by
 * SMMUv3State.mutex; a hit reads it without the mutex, under the seqlock
 * that every change of it bumps.  Nothing that may call into another
 * device (an MSI write, a wired interrupt, an IOMMU notifier) runs with
 * the mutex held: interrupts are delivered after it is released, by the
 * caller when it holds the BQL, else by a bottom half.  Everything else
 * (the command queue, MMIO) runs with the BQL.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_ARM_SMMUV3_INTERNAL_H
#define HW_ARM_SMMUV3_INTERNAL_H

#include "hw/sysbus.h"
#include "hw/pci/pci.h"
#include "qemu/seqlock.h"
#include "qemu/thread.h"
#include "system/memory.h"
#include "hw/arm/smmuv3.h"
#include "hw/iommu/viommu-iotlb.h"
#include "smmuv3-bits.h"

#define SMMUV3_SIDSIZE          16
#define SMMUV3_CMDQS            19
#define SMMUV3_EVENTQS          19
#define SMMUV3_IOTLB_ENTRIES    16384
/*
 * How long one MMIO write or bottom half may spend on commands before
 * the rest goes to a bottom half (the BQL is held throughout)
 */
#define SMMUV3_CMDQ_SLICE_NS    (250 * SCALE_US)

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
 * IOTLB context tags: translation regime, VMID and ASID.  The IOTLB
 * groups them by regime and VMID, the scope of the TLBIs that name no
 * ASID.  (A substream's CD carries its own ASID, so substreams need no
 * room of their own.)
 */
#define SMMUV3_CTX_ASID_SHIFT   0
#define SMMUV3_CTX_VMID_SHIFT   16
#define SMMUV3_CTX_REGIME_SHIFT 32
#define SMMUV3_CTX_GROUP_MASK   (~0xffffull)

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

/*
 * The host addresses of the RAM pages the SMMU read its structures from
 * last, so that a walk finds its tables without a lookup in the memory
 * map.  A page is cached only when all of it is RAM; a change of the
 * memory map empties the cache.  Mutex held.
 */
#define SMMUV3_RAM_CACHE_BITS   6

typedef struct SMMUv3RamCache {
    uint64_t page[1 << SMMUV3_RAM_CACHE_BITS];      /* PA, or -1 */
    uint8_t *host[1 << SMMUV3_RAM_CACHE_BITS];
} SMMUv3RamCache;

/* What a stream is configured to do, decoded from its STE and CD */
typedef enum SMMUv3StreamKind {
    SMMUV3_STREAM_ABORT,        /* abort, record nothing */
    SMMUV3_STREAM_BYPASS,
    SMMUV3_STREAM_TRANSLATE,
} SMMUv3StreamKind;

typedef struct SMMUv3StreamConfig {
    SMMUv3StreamKind kind;
    uint32_t sid;
    SMMUv3RamCache *ram;    /* the SMMU's, for the walks */
    SMMUv3Regime regime;    /* and so the stages that translate */
    uint8_t privcfg;        /* STE.PRIVCFG and INSTCFG */
    uint8_t instcfg;
    /* The SMMUV3_PERM_* bit a read, and a write, of this stream needs */
    uint16_t perm_read;
    uint16_t perm_write;
    /* Stage 1 */
    uint16_t asid;
    bool s1_record;         /* CD.R */
    bool affd;
    bool wxn;
    bool pan;
    SMMUv3TTParams tt[2];   /* TTB0 and TTB1 */
    /* Left shift then arithmetic right shift that drops a TBI tag */
    uint8_t tbi_shift[2];
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

static inline bool smmuv3_regime_s1(SMMUv3Regime regime)
{
    return regime != SMMUV3_REGIME_S2 && regime != SMMUV3_REGIME_NONE;
}

static inline bool smmuv3_regime_s2(SMMUv3Regime regime)
{
    return regime == SMMUV3_REGIME_S2 || regime == SMMUV3_REGIME_NESTED;
}

/* One privilege level: EL2 without E2H ignores AP[1] and PXN */
static inline bool smmuv3_regime_one_el(SMMUv3Regime regime)
{
    return regime == SMMUV3_REGIME_EL2;
}

/* A fault, as an event record will describe it */
typedef struct SMMUv3Fault {
    uint8_t type;           /* SMMU_EVT_*, 0 when there is none */
    bool record;            /* STE/CD say to record it */
    bool s2;
    uint8_t class;
    uint64_t ipa;
    uint64_t fetch_addr;
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
    /* The mutex's, and the seqlock's for what a hit reads */
    IOMMUNotifierFlag notifier_flags;
    bool cfg_valid;
    SMMUv3StreamConfig cfg;
    /*
     * Block sizes translate() handed out since the notifiers were last
     * told to drop everything: an invalidation tells them to drop whole
     * blocks of these sizes
     */
    uint64_t handed_sizes;
    /* BQL: an UNMAP still to send, [unmap_start, unmap_last] */
    bool unmap_pending;
    uint64_t unmap_start;
    uint64_t unmap_last;
    QLIST_ENTRY(SMMUv3Device) next;
} SMMUv3Device;

typedef struct SMMUv3Queue {
    uint64_t base;
    uint32_t prod;
    uint32_t cons;
    uint8_t mig_log2size;       /* the stream's; the base's field rules */
} SMMUv3Queue;

/* Where an interrupt goes as an MSI: a queue's *_IRQ_CFG0, CFG1, CFG2 */
typedef struct SMMUv3MsiCfg {
    uint64_t addr;
    uint32_t data;
    uint32_t attr;
} SMMUv3MsiCfg;

/* Interrupts recorded but not yet signalled: SMMUv3State.irq_pending */
#define SMMUV3_PENDING_EVENTQ   (1u << SMMUV3_IRQ_EVENTQ)
#define SMMUV3_PENDING_GERROR   (1u << SMMUV3_IRQ_GERROR)

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
    /* What upstream's SMMUv3 lacks: off unless asked for (see post_load) */
    bool msi;
    bool hyp;
    bool attr_perms_ovr;

    /* Registers: identification and control; idr[] is constant */
    uint32_t idr[6];
    uint32_t cr[3];
    uint32_t gbpa;
    /* the stream table and the queues */
    uint64_t strtab_base;
    uint32_t strtab_base_cfg;
    SMMUv3Queue cmdq;           /* BQL */
    SMMUv3Queue eventq;
    /* errors and interrupts */
    uint32_t gerror;
    uint32_t gerrorn;
    uint32_t irq_ctrl;
    SMMUv3MsiCfg gerror_msi;
    SMMUv3MsiCfg eventq_msi;

    /*
     * Guards what translate() shares; see the top of this file.  The
     * registers above that translate() reads (CR0, CR2, GBPA, STRTAB_*,
     * EVENTQ_*, GERROR*, IRQ_CTRL) are written under it, the others under
     * the BQL alone.
     */
    QemuMutex mutex;
    QemuSeqLock seqlock;
    uint32_t irq_pending;       /* SMMUV3_PENDING_*; migrated */
    ViommuIotlb iotlb;          /* rebuilt as needed, never migrated */
    SMMUv3RamCache ram_cache;
    MemoryListener ram_listener;

    /* BQL */
    QLIST_HEAD(, SMMUv3Device) devices;
    GHashTable *devices_by_bdf;
    QEMUBH *cmdq_bh;
    QEMUBH *bypass_bh;
    QEMUBH *irq_bh;
    VMChangeStateEntry *vmstate_change;
    /*
     * The longest the command queue ran in one go, in ns of the thread's
     * CPU time and of the wall clock; for make bench
     */
    uint64_t cmdq_longest_run[2];

    /* The ID registers of a migration stream, checked at its end */
    uint32_t stream_idr[6];
    bool stream_idr_present;
    /*
     * Upstream's section carries these too; the fork derives them from
     * the registers (STRTAB_BASE_CFG, CR0) and fills them in to send
     */
    uint32_t mig_features;      /* SMMUV3_MIG_FEATURE_* */
    uint8_t mig_sid_size;
    uint8_t mig_sid_split;
    uint32_t mig_cr0ack;
    uint32_t mig_statusr;
};

/* Upstream's SMMUv3State.features: the stream table is two-level */
#define SMMUV3_MIG_FEATURE_2LVL_STE (1u << 0)

static inline bool smmuv3_enabled(SMMUv3State *s)
{
    return FIELD_EX32(s->cr[0], CR0, SMMUEN);
}

/* Changes of what a hit reads: mutex held */
static inline void smmuv3_change_begin(SMMUv3State *s)
{
    seqlock_write_begin(&s->seqlock);
}

static inline void smmuv3_change_end(SMMUv3State *s)
{
    seqlock_write_end(&s->seqlock);
}

/*
 * Queue pointers: an index of log2size bits (none for a queue of one
 * entry) and a wrap bit above it
 */
static inline uint32_t smmuv3_q_index(uint32_t p, unsigned log2size)
{
    /* extract32() takes no field of 0 bits */
    return log2size ? extract32(p, 0, log2size) : 0;
}

static inline uint32_t smmuv3_q_ptr(uint32_t p, unsigned log2size)
{
    return extract32(p, 0, log2size + 1);
}

static inline bool smmuv3_q_empty(uint32_t prod, uint32_t cons,
                                  unsigned log2size)
{
    return smmuv3_q_ptr(prod, log2size) == smmuv3_q_ptr(cons, log2size);
}

static inline bool smmuv3_q_full(uint32_t prod, uint32_t cons,
                                 unsigned log2size)
{
    return smmuv3_q_index(prod, log2size) == smmuv3_q_index(cons, log2size) &&
           !smmuv3_q_empty(prod, cons, log2size);
}

static inline uint32_t smmuv3_q_next(uint32_t p, unsigned log2size)
{
    return smmuv3_q_ptr(smmuv3_q_ptr(p, log2size) + 1, log2size);
}

/* smmuv3-events.c */
uint32_t smmuv3_queue_log2size(uint64_t base, unsigned max);
/* Mutex held; the interrupts they raise wait for smmuv3_irq_flush() */
void smmuv3_record_event(SMMUv3State *s, const uint64_t evt[4]);
void smmuv3_gerror_raise(SMMUv3State *s, uint32_t bits);
/* Mutex not held: signal what is pending, now or from a bottom half */
void smmuv3_irq_flush(SMMUv3State *s);
void smmuv3_irq_bh(void *opaque);
/* BQL: one interrupt, by MSI or wire; false when the MSI write failed */
bool smmuv3_signal(SMMUv3State *s, SMMUv3Irq irq, const SMMUv3MsiCfg *msi);

/* smmuv3-walk.c */
void smmuv3_ram_cache_reset(SMMUv3RamCache *c);
/* @c: NULL, or the SMMU's cache with the mutex held */
bool smmuv3_read_ram(SMMUv3RamCache *c, uint64_t pa, void *buf,
                     unsigned len);
bool smmuv3_write_ram(uint64_t pa, const void *buf, unsigned len);

/*
 * Translate @ipa, the address of a table or CD that stage 2 maps, for
 * the access @class; on failure fill in *@fault
 */
typedef bool SMMUv3IpaFn(void *opaque, uint64_t ipa, uint8_t class,
                         uint64_t *pa, SMMUv3Fault *fault);

typedef struct SMMUv3Walk {
    uint64_t out;           /* output address of the block */
    uint8_t size_shift;     /* log2 of the block */
    uint16_t perm;          /* SMMUV3_PERM_* this stage allows */
    bool global;
} SMMUv3Walk;

/* @ipa_fn is NULL when stage 1's tables are at PAs */
bool smmuv3_walk_s1(const SMMUv3StreamConfig *cfg, uint64_t va,
                    SMMUv3IpaFn *ipa_fn, void *opaque, SMMUv3Walk *walk,
                    SMMUv3Fault *fault);
bool smmuv3_walk_s2(const SMMUv3StreamConfig *cfg, uint64_t ipa,
                    uint8_t class, SMMUv3Walk *walk, SMMUv3Fault *fault);
bool smmuv3_tt_params_valid(SMMUv3TTParams *tt, bool stage2, unsigned sl0);
uint64_t smmuv3_tt_block_sizes(const SMMUv3TTParams *tt);

/* smmuv3-config.c */
uint32_t smmuv3_sid(SMMUv3Device *sdev);
unsigned smmuv3_ps_bits(unsigned ps_field, unsigned oas_bits);
/* Mutex held */
bool smmuv3_stream_config(SMMUv3State *s, uint32_t sid,
                          SMMUv3StreamConfig *cfg, SMMUv3IpaFn *ipa_fn,
                          void *opaque, SMMUv3Fault *fault);

/* smmuv3-translate.c */
void smmuv3_iommu_memory_region_class_init(ObjectClass *klass,
                                           const void *data);
/* BQL, mutex not held: switch each stream to bypass or to translation */
void smmuv3_update_bypass(SMMUv3State *s);
void smmuv3_bypass_bh(void *opaque);

/* smmuv3-cmdq.c; BQL, mutex not held */
void smmuv3_cmdq_consume(SMMUv3State *s);
void smmuv3_cmdq_bh(void *opaque);
void smmuv3_flush_all(SMMUv3State *s);
/* Send the UNMAPs that invalidations left pending */
void smmuv3_notify_pending(SMMUv3State *s);

#endif /* HW_ARM_SMMUV3_INTERNAL_H */
