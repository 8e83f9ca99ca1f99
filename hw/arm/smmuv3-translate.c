/*
 * Arm SMMUv3: translating one transaction
 *
 * The hot path is an IOTLB hit: the stream's decoded configuration is
 * cached in its SMMUv3Device, and the translation in the shared IOTLB,
 * keyed by the configuration's regime, VMID and ASID.  A hit takes no
 * lock: it reads under the model's seqlock, and retries the slow way if
 * anything changed meanwhile.  A miss takes the model's mutex, walks the
 * tables and caches the result; a fault is reported as one event record.
 * Lookups that ask for no access (IOMMU_NONE) report nothing: the
 * translation is the same, but no transaction took place.
 *
 * Whatever the thread, nothing here takes the BQL: see
 * smmuv3-internal.h.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "system/address-spaces.h"
#include "hw/iommu/side-effect-free-lookup.h"
#include "smmuv3-internal.h"
#include "trace.h"

/*
 * The kind of access a transaction makes.  Every transaction is
 * unprivileged data, as the architecture treats PCIe traffic without a
 * PASID prefix (this SMMU has no substreams, so none carries one, and
 * QEMU's MSIs are PCIe writes too); STE.PRIVCFG and STE.INSTCFG override
 * that.  A write is never an instruction fetch.
 */
static bool access_priv(const SMMUv3StreamConfig *cfg)
{
    return cfg->privcfg == STE_ATTRCFG_PRIV_INST;
}

static bool access_inst(const SMMUv3StreamConfig *cfg, bool is_write)
{
    return !is_write && cfg->instcfg == STE_ATTRCFG_PRIV_INST;
}

/* The permission bit an access needs: execute stands for read */
static uint16_t perm_bit(bool priv, bool inst, bool write)
{
    unsigned bit = inst ? 2 : write ? 1 : 0;

    return 1u << (bit + (priv ? 0 : 3));
}

static void set_access_perms(SMMUv3StreamConfig *cfg)
{
    bool priv = access_priv(cfg);

    cfg->perm_read = perm_bit(priv, access_inst(cfg, false), false);
    cfg->perm_write = perm_bit(priv, false, true);
}

/* IOMMU_RO/WO of a permission set, for this stream's accesses */
static inline IOMMUAccessFlags iommu_perm(const SMMUv3StreamConfig *cfg,
                                          uint16_t perm)
{
    return (perm & cfg->perm_read ? IOMMU_RO : 0) |
           (perm & cfg->perm_write ? IOMMU_WO : 0);
}

static inline uint16_t access_need(const SMMUv3StreamConfig *cfg,
                                   IOMMUAccessFlags flag)
{
    return (flag & IOMMU_RO ? cfg->perm_read : 0) |
           (flag & IOMMU_WO ? cfg->perm_write : 0);
}

/*
 * The address stage 1 translates and the IOTLB keys: with TBI for the
 * half that bit 55 selects, the top byte is dropped (bits 63:56 become
 * copies of bit 55), so a tagged address and the plain one share their
 * translation and its invalidation
 */
static inline uint64_t tlb_key(const SMMUv3StreamConfig *cfg, uint64_t addr)
{
    unsigned shift = cfg->tbi_shift[extract64(addr, 55, 1)];

    return (uint64_t)((int64_t)(addr << shift) >> shift);
}

static void report_fault(SMMUv3State *s, const SMMUv3StreamConfig *cfg,
                         const SMMUv3Fault *fault, uint64_t input_addr,
                         bool is_write)
{
    uint64_t evt[4] = { 0 };
    bool inst = access_inst(cfg, is_write);

    trace_smmuv3_translate_fault(cfg->sid, input_addr, fault->type,
                                 fault->s2, fault->class, fault->record);
    if (!fault->record) {
        return;
    }
    evt[0] = ((uint64_t)fault->type << EVT_0_TYPE_SHIFT) |
             ((uint64_t)cfg->sid << EVT_0_SID_SHIFT);
    switch (fault->type) {
    case SMMU_EVT_F_STE_FETCH:
    case SMMU_EVT_F_CD_FETCH:
        evt[3] = fault->fetch_addr & EVT_3_FETCH_MASK;
        break;
    case SMMU_EVT_F_TRANSLATION:
    case SMMU_EVT_F_ADDR_SIZE:
    case SMMU_EVT_F_ACCESS:
    case SMMU_EVT_F_PERMISSION:
        /* Stage 2 refused a stage 1 table read: TTRnW says it was a read */
        if (fault->s2 && fault->class == SMMU_CLASS_TT) {
            evt[1] |= EVT_1_TTRNW;
        }
        /* fall through */
    case SMMU_EVT_F_WALK_EABT:
        evt[1] |= (access_priv(cfg) ? EVT_1_PNU : 0) |
                  (inst ? EVT_1_IND : 0) | (is_write ? 0 : EVT_1_RNW) |
                  (fault->s2 ? EVT_1_S2 : 0) |
                  ((uint64_t)fault->class << EVT_1_CLASS_SHIFT);
        evt[2] = input_addr;
        if (fault->type == SMMU_EVT_F_WALK_EABT) {
            evt[3] = fault->fetch_addr & EVT_3_FETCH_MASK;
        } else if (fault->s2) {
            evt[3] = fault->ipa & EVT_3_IPA_MASK;
        }
        break;
    default:
        break;
    }
    smmuv3_record_event(s, evt);
}

/* A stage 1 fault outside any table: the input beyond the input size */
static void addr_size_fault(SMMUv3Fault *fault)
{
    *fault = (SMMUv3Fault) {
        .type = SMMU_EVT_F_ADDR_SIZE,
        .record = true,
        .class = SMMU_CLASS_IN,
    };
}

typedef struct IpaCtx {
    SMMUv3State *s;
    const SMMUv3StreamConfig *cfg;
    /*
     * The stage 2 block the walk used last: its table reads and its
     * output often share one, and nothing can invalidate it meanwhile
     */
    SMMUv3Walk last;
    uint64_t last_ipa;
} IpaCtx;

/*
 * The stage 2 translation of the block holding @ipa, for @c's VMID: the
 * one the walk used last, or from the IOTLB, where it is cached as a
 * stage-2-only translation, or from a walk that puts it there
 */
static bool s2_block(IpaCtx *c, uint64_t ipa, uint8_t class,
                     SMMUv3Walk *w, SMMUv3Fault *fault)
{
    const SMMUv3StreamConfig *cfg = c->cfg;
    uint64_t ctx = smmuv3_ctx_tag(SMMUV3_REGIME_S2, cfg->vmid, 0);
    ViommuIotlbEntry *e;

    if (c->last.size_shift &&
        !((ipa ^ c->last_ipa) >> c->last.size_shift)) {
        *w = c->last;
        return true;
    }
    e = viommu_iotlb_lookup(&c->s->iotlb, ctx, ipa, cfg->s2_tlb_sizes);
    if (e) {
        *w = (SMMUv3Walk) {
            .out = e->out, .size_shift = e->size_shift, .perm = e->perm,
        };
    } else {
        if (!smmuv3_walk_s2(cfg, ipa, class, w, fault)) {
            return false;
        }
        viommu_iotlb_insert(&c->s->iotlb, ctx, ipa, w->size_shift, w->out,
                            w->perm, 0, false);
        w->out &= ~MAKE_64BIT_MASK(0, w->size_shift);
    }
    c->last = *w;
    c->last_ipa = ipa;
    return true;
}

/*
 * SMMUv3IpaFn: stage 2 for an IPA that a stage 1 walk or a CD fetch
 * reads.  Such reads need stage 2 read permission.
 */
static bool ipa_to_pa(void *opaque, uint64_t ipa, uint8_t class,
                      uint64_t *pa, SMMUv3Fault *fault)
{
    IpaCtx *c = opaque;
    SMMUv3Walk w;

    if (!s2_block(c, ipa, class, &w, fault)) {
        return false;
    }
    if (!(w.perm & SMMUV3_PERM_PRIV_R)) {
        *fault = (SMMUv3Fault) {
            .type = SMMU_EVT_F_PERMISSION,
            .record = c->cfg->s2_record,
            .s2 = true,
            .class = class,
            .ipa = ipa,
        };
        return false;
    }
    *pa = w.out | (ipa & MAKE_64BIT_MASK(0, w.size_shift));
    return true;
}

/*
 * Walk both stages for @key, checking the permission bits @need as it
 * goes (none for a lookup without access), and cache the translation when
 * both stages give one.
 */
static ViommuIotlbEntry *walk_and_cache(SMMUv3State *s,
                                        const SMMUv3StreamConfig *cfg,
                                        uint64_t key, uint16_t need,
                                        SMMUv3Fault *fault)
{
    IpaCtx ipa_ctx = { .s = s, .cfg = cfg };
    bool s2 = smmuv3_regime_s2(cfg->regime);
    SMMUv3Walk w1 = {
        .out = key, .size_shift = 63, .perm = SMMUV3_PERM_ALL,
    };
    SMMUv3Walk w2;
    uint64_t ipa, out;
    unsigned shift;
    uint16_t perm;

    if (smmuv3_regime_s1(cfg->regime)) {
        if (!smmuv3_walk_s1(cfg, key, s2 ? ipa_to_pa : NULL, &ipa_ctx, &w1,
                            fault)) {
            return NULL;
        }
        if ((w1.perm & need) != need) {
            *fault = (SMMUv3Fault) {
                .type = SMMU_EVT_F_PERMISSION,
                .record = cfg->s1_record,
                .class = SMMU_CLASS_IN,
            };
            return NULL;
        }
        w1.out |= key & MAKE_64BIT_MASK(0, w1.size_shift);
    }
    ipa = w1.out;
    out = ipa;
    shift = w1.size_shift;
    perm = w1.perm;
    if (cfg->regime == SMMUV3_REGIME_NESTED) {
        /* The output's stage 2 is cached like the tables' */
        if (!s2_block(&ipa_ctx, ipa, SMMU_CLASS_IN, &w2, fault)) {
            return NULL;
        }
    } else if (s2 && !smmuv3_walk_s2(cfg, ipa, SMMU_CLASS_IN, &w2, fault)) {
        return NULL;
    }
    if (s2) {
        if ((w2.perm & need) != need) {
            *fault = (SMMUv3Fault) {
                .type = SMMU_EVT_F_PERMISSION,
                .record = cfg->s2_record,
                .s2 = true,
                .class = SMMU_CLASS_IN,
                .ipa = ipa,
            };
            return NULL;
        }
        shift = MIN(shift, w2.size_shift);
        out = w2.out | (ipa & MAKE_64BIT_MASK(0, w2.size_shift));
        perm &= w2.perm;
    }
    return viommu_iotlb_insert(&s->iotlb, cfg->tlb_ctx, key, shift, out,
                               perm, 0, w1.global);
}

/* What a refused lookup answers: no access to its 4 KiB page */
static IOMMUTLBEntry translation_refused(hwaddr addr)
{
    return (IOMMUTLBEntry) {
        .target_as = &address_space_memory,
        .iova = addr & ~0xfffull,
        .translated_addr = addr & ~0xfffull,
        .addr_mask = 0xfff,
        .perm = IOMMU_NONE,
    };
}

/* What a bypassing stream answers: its 4 KiB page, untranslated */
static IOMMUTLBEntry translation_identity(hwaddr addr)
{
    IOMMUTLBEntry entry = translation_refused(addr);

    entry.perm = IOMMU_RW;
    return entry;
}

/* The answer for @addr from an IOTLB entry's block */
static inline IOMMUTLBEntry translation_of(const SMMUv3StreamConfig *cfg,
                                           hwaddr addr, uint64_t out,
                                           unsigned size_shift, uint16_t perm)
{
    uint64_t mask = (1ull << size_shift) - 1;

    return (IOMMUTLBEntry) {
        .target_as = &address_space_memory,
        .iova = addr & ~mask,
        .translated_addr = out,
        .addr_mask = mask,
        .perm = iommu_perm(cfg, perm),
    };
}

/* A translation is handed out: notifiers must later hear of its block */
static void note_handed(SMMUv3Device *sdev, unsigned size_shift)
{
    if (sdev->notifier_flags) {
        sdev->handed_sizes |= VIOMMU_IOTLB_SIZE(size_shift);
    }
}

/*
 * Decode the stream's configuration if it is not cached; false, with
 * *@fault, when it cannot be used
 */
static bool stream_config(SMMUv3State *s, SMMUv3Device *sdev,
                          SMMUv3Fault *fault)
{
    SMMUv3StreamConfig *cfg = &sdev->cfg;
    IpaCtx ipa_ctx = { .s = s, .cfg = cfg };

    if (sdev->cfg_valid) {
        return true;
    }
    if (!smmuv3_stream_config(s, smmuv3_sid(sdev), cfg, ipa_to_pa, &ipa_ctx,
                              fault)) {
        return false;
    }
    set_access_perms(cfg);
    sdev->cfg_valid = true;
    if (cfg->kind == SMMUV3_STREAM_BYPASS) {
        /* Later transactions skip the IOMMU region altogether */
        qemu_bh_schedule(s->bypass_bh);
    }
    return true;
}

/*
 * Everything a hit does not cover; mutex held.  @missed: the lookup that
 * the hot path made still holds, and found nothing.
 */
static IOMMUTLBEntry translate_locked(SMMUv3Device *sdev, hwaddr addr,
                                      IOMMUAccessFlags flag, bool missed)
{
    SMMUv3State *s = sdev->smmu;
    SMMUv3StreamConfig *cfg = &sdev->cfg;
    bool is_write = flag & IOMMU_WO;
    SMMUv3Fault fault = { 0 };
    ViommuIotlbEntry *e;
    uint16_t need;
    uint64_t key;

    if (!smmuv3_enabled(s)) {
        /*
         * GBPA: bypass, or abort without a record; an address beyond the
         * output size aborts too (the bypass region ends there)
         */
        if (FIELD_EX32(s->gbpa, GBPA, ABORT) || addr >> s->oas) {
            return translation_refused(addr);
        }
        return translation_identity(addr);
    }
    if (!stream_config(s, sdev, &fault)) {
        goto fail;
    }
    switch (cfg->kind) {
    case SMMUV3_STREAM_ABORT:
        return translation_refused(addr);
    case SMMUV3_STREAM_BYPASS:
        /* Untranslated, the input must fit the output size */
        if (addr >> s->oas) {
            addr_size_fault(&fault);
            goto fail;
        }
        return translation_identity(addr);
    case SMMUV3_STREAM_TRANSLATE:
        break;
    }

    /* Stage 1 bypassed: the input is an IPA, which must fit the IAS */
    if (cfg->regime == SMMUV3_REGIME_S2 && addr >> s->oas) {
        addr_size_fault(&fault);
        goto fail;
    }
    need = access_need(cfg, flag);
    key = tlb_key(cfg, addr);
    e = missed ? NULL : viommu_iotlb_lookup(&s->iotlb, cfg->tlb_ctx, key,
                                            cfg->tlb_sizes);
    if (!e || (e->perm & need) != need) {
        e = walk_and_cache(s, cfg, key, need, &fault);
    }
    if (!e) {
        goto fail;
    }
    note_handed(sdev, e->size_shift);
    trace_smmuv3_translate(cfg->sid, addr,
                           e->out | (addr & MAKE_64BIT_MASK(0,
                                                            e->size_shift)),
                           iommu_perm(cfg, e->perm));
    return translation_of(cfg, addr, e->out, e->size_shift, e->perm);

fail:
    if (flag != IOMMU_NONE) {
        report_fault(s, cfg, &fault, addr, is_write);
    }
    return translation_refused(addr);
}

/*
 * With @missed, the hot path's lookup at sequence @seq found nothing: if
 * nothing changed since, the miss stands and the lookup is not repeated
 */
static G_GNUC_NO_INLINE IOMMUTLBEntry
smmuv3_translate_slow(SMMUv3Device *sdev, hwaddr addr, IOMMUAccessFlags flag,
                      bool missed, unsigned seq)
{
    SMMUv3State *s = sdev->smmu;
    IOMMUTLBEntry entry;

    qemu_mutex_lock(&s->mutex);
    missed = missed && !seqlock_read_retry(&s->seqlock, seq);
    smmuv3_change_begin(s);
    entry = translate_locked(sdev, addr, flag, missed);
    smmuv3_change_end(s);
    qemu_mutex_unlock(&s->mutex);
    smmuv3_irq_flush(s);
    return entry;
}

/*
 * The hot path: SMMU enabled, the stream's configuration cached and
 * translating, an IOTLB entry that permits the access, and nothing
 * changed meanwhile.  Anything else goes the slow way, with the mutex.
 */
static IOMMUTLBEntry smmuv3_translate(IOMMUMemoryRegion *mr, hwaddr addr,
                                      IOMMUAccessFlags flag, int idx)
{
    SMMUv3Device *sdev = container_of(mr, SMMUv3Device, iommu);
    SMMUv3State *s = sdev->smmu;
    const SMMUv3StreamConfig *cfg = &sdev->cfg;
    unsigned seq = seqlock_read_begin(&s->seqlock);
    bool missed = false;

    if (likely(smmuv3_enabled(s) && sdev->cfg_valid &&
               cfg->kind == SMMUV3_STREAM_TRANSLATE && flag != IOMMU_NONE)) {
        uint16_t need = access_need(cfg, flag);
        ViommuIotlbEntry *e = viommu_iotlb_lookup(&s->iotlb, cfg->tlb_ctx,
                                                  tlb_key(cfg, addr),
                                                  cfg->tlb_sizes);

        missed = !e;
        if (likely(e)) {
            uint64_t out = e->out;
            unsigned size_shift = e->size_shift;
            uint16_t perm = e->perm;
            bool told = !sdev->notifier_flags ||
                        (sdev->handed_sizes & VIOMMU_IOTLB_SIZE(size_shift));

            if (likely((perm & need) == need && told && size_shift &&
                       !seqlock_read_retry(&s->seqlock, seq))) {
                trace_smmuv3_translate(cfg->sid, addr,
                                       out | (addr & ((1ull << size_shift) -
                                                      1)),
                                       iommu_perm(cfg, perm));
                return translation_of(cfg, addr, out, size_shift, perm);
            }
        }
    }
    return smmuv3_translate_slow(sdev, addr, flag, missed, seq);
}

static int smmuv3_notify_flag_changed(IOMMUMemoryRegion *mr,
                                      IOMMUNotifierFlag old,
                                      IOMMUNotifierFlag new, Error **errp)
{
    SMMUv3Device *sdev = container_of(mr, SMMUv3Device, iommu);
    SMMUv3State *s = sdev->smmu;

    if (new & IOMMU_NOTIFIER_MAP) {
        /*
         * SMMUv3 has no caching mode: a mapping becomes visible without
         * any command, so a MAP notifier could never be told.
         */
        error_setg(errp, "arm-smmuv3 cannot notify new mappings (needed by "
                   "%s), which host device assignment needs; use "
                   "virtio-iommu for that", memory_region_name(MEMORY_REGION(
                       mr)));
        return -EINVAL;
    }
    trace_smmuv3_notify_flags(smmuv3_sid(sdev), old, new);
    qemu_mutex_lock(&s->mutex);
    smmuv3_change_begin(s);
    if (!old) {
        /* No notifier has been handed anything yet */
        sdev->handed_sizes = 0;
    }
    sdev->notifier_flags = new;
    smmuv3_change_end(s);
    qemu_mutex_unlock(&s->mutex);
    return 0;
}

/*
 * Only UNMAP and DEVIOTLB_UNMAP notifiers exist (MAP ones are refused),
 * and they need no replay: nothing they have been told of is still
 * mapped that they would not hear about.
 */
static void smmuv3_replay(IOMMUMemoryRegion *mr, IOMMUNotifier *n)
{
}

void smmuv3_iommu_memory_region_class_init(ObjectClass *klass,
                                           const void *data)
{
    IOMMUMemoryRegionClass *imrc = IOMMU_MEMORY_REGION_CLASS(klass);

    imrc->translate = smmuv3_translate;
    imrc->notify_flag_changed = smmuv3_notify_flag_changed;
    imrc->replay = smmuv3_replay;
}

/* ---- bypass ---- */

/* Whether a stream's DMA should skip the IOMMU region; mutex held */
static bool device_bypasses(SMMUv3State *s, SMMUv3Device *sdev)
{
    if (!smmuv3_enabled(s)) {
        return !FIELD_EX32(s->gbpa, GBPA, ABORT);
    }
    return sdev->cfg_valid && sdev->cfg.kind == SMMUV3_STREAM_BYPASS;
}

void smmuv3_update_bypass(SMMUv3State *s)
{
    SMMUv3Device *sdev;

    memory_region_transaction_begin();
    QLIST_FOREACH(sdev, &s->devices, next) {
        bool bypass;

        qemu_mutex_lock(&s->mutex);
        bypass = device_bypasses(s, sdev);
        qemu_mutex_unlock(&s->mutex);
        if (bypass != sdev->bypass.enabled) {
            trace_smmuv3_bypass(pci_bus_num(sdev->bus), sdev->devfn, bypass);
        }
        /* Above the output size the IOMMU region still answers */
        memory_region_set_enabled(&sdev->bypass, bypass);
    }
    memory_region_transaction_commit();
}

void smmuv3_bypass_bh(void *opaque)
{
    smmuv3_update_bypass(opaque);
}
