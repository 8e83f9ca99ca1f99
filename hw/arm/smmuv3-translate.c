/*
 * Arm SMMUv3: translating one transaction
 *
 * The hot path is an IOTLB hit: the stream's decoded configuration is
 * cached in its SMMUv3Device, and the translation in the shared IOTLB,
 * keyed by the configuration's regime, VMID and ASID.  A miss walks the
 * tables and caches the result; a fault is reported as one event record.
 * Lookups that ask for no access (IOMMU_NONE) report nothing: the
 * translation is the same, but no transaction took place.
 *
 * Every entry point runs under the BQL; translate() takes it when a
 * caller (an iothread) does not hold it, as the memory core does for
 * MMIO.
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
#include "hw/iommu/viommu-notify.h"
#include "smmuv3-internal.h"
#include "trace.h"

/* IOMMU indexes: what the memory API tells us of a transaction */
enum {
    SMMUV3_IDX_UNSPECIFIED,     /* no attributes, as PCIe without a PASID */
    SMMUV3_IDX_UNPRIV,
    SMMUV3_IDX_PRIV,
    SMMUV3_NR_IDX,
};

/*
 * The privilege and kind of a transaction.  One without attributes is
 * unprivileged data, as the architecture treats PCIe traffic without a
 * PASID prefix; STE.PRIVCFG and STE.INSTCFG may override either.
 */
static void access_kind(const SMMUv3StreamConfig *cfg, int idx, bool *priv,
                        bool *inst)
{
    *priv = idx == SMMUV3_IDX_PRIV;
    *inst = false;
    if (cfg->privcfg == STE_ATTRCFG_UNPRIV_DATA) {
        *priv = false;
    } else if (cfg->privcfg == STE_ATTRCFG_PRIV_INST) {
        *priv = true;
    }
    if (cfg->instcfg == STE_ATTRCFG_PRIV_INST) {
        *inst = true;
    } else if (cfg->instcfg == STE_ATTRCFG_UNPRIV_DATA) {
        *inst = false;
    }
}

/* The permission bit an access needs: execute stands for read */
static uint16_t perm_bit(bool priv, bool inst, bool write)
{
    unsigned bit = inst ? 2 : write ? 1 : 0;

    return 1u << (bit + (priv ? 0 : 3));
}

/* IOMMU_RO/WO of a permission set, for an access of this privilege */
static IOMMUAccessFlags iommu_perm(uint16_t perm, bool priv, bool inst)
{
    IOMMUAccessFlags f = IOMMU_NONE;

    if (perm & perm_bit(priv, inst, false)) {
        f |= IOMMU_RO;
    }
    if (perm & perm_bit(priv, false, true)) {
        f |= IOMMU_WO;
    }
    return f;
}

void smmuv3_report_fault(SMMUv3State *s, uint32_t sid, SMMUv3Fault *fault,
                         uint64_t input_addr, bool priv, bool inst,
                         bool is_write)
{
    uint64_t evt[4] = { 0 };

    trace_smmuv3_translate_fault(sid, input_addr, fault->type, fault->s2,
                                 fault->class, fault->record);
    if (!fault->record) {
        return;
    }
    evt[0] = ((uint64_t)fault->type << EVT_0_TYPE_SHIFT) |
             ((uint64_t)sid << EVT_0_SID_SHIFT);
    if (fault->ssv) {
        evt[0] |= EVT_0_SSV | ((uint64_t)fault->ssid << EVT_0_SSID_SHIFT);
    }
    switch (fault->type) {
    case SMMU_EVT_F_STE_FETCH:
    case SMMU_EVT_F_CD_FETCH:
        evt[3] = fault->fetch_addr & EVT_3_FETCH_MASK;
        break;
    case SMMU_EVT_F_WALK_EABT:
    case SMMU_EVT_F_TRANSLATION:
    case SMMU_EVT_F_ADDR_SIZE:
    case SMMU_EVT_F_ACCESS:
    case SMMU_EVT_F_PERMISSION:
        evt[1] = (priv ? EVT_1_PNU : 0) | (inst ? EVT_1_IND : 0) |
                 (is_write ? 0 : EVT_1_RNW) |
                 ((uint64_t)fault->class << EVT_1_CLASS_SHIFT);
        if (fault->s2) {
            evt[1] |= EVT_1_S2;
        }
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

/*
 * The stage 2 translation of @ipa for @cfg's VMID: from the IOTLB, where
 * it is cached as a stage-2-only translation, or from a walk that puts
 * it there.  The entry is valid until the IOTLB next changes.
 */
static ViommuIotlbEntry *s2_entry(SMMUv3State *s,
                                  const SMMUv3StreamConfig *cfg, uint64_t ipa,
                                  uint8_t class, SMMUv3Fault *fault)
{
    uint64_t ctx = smmuv3_ctx_tag(SMMUV3_REGIME_S2, cfg->vmid, 0);
    ViommuIotlbEntry *e = viommu_iotlb_lookup(&s->iotlb, ctx, ipa,
                                              cfg->s2_tlb_sizes);
    SMMUv3Walk w;

    if (e) {
        return e;
    }
    if (!smmuv3_walk_s2(s, cfg, ipa, class, &w, fault)) {
        return NULL;
    }
    return viommu_iotlb_insert(&s->iotlb, ctx, ipa, w.size_shift, w.out,
                               w.perm, 0);
}

/*
 * Stage 2 for an IPA that a stage 1 walk or a CD fetch reads.  Such
 * reads need stage 2 read permission.
 */
bool smmuv3_translate_ipa(SMMUv3State *s, const SMMUv3StreamConfig *cfg,
                          uint64_t ipa, uint8_t class, uint64_t *pa,
                          SMMUv3Fault *fault)
{
    ViommuIotlbEntry *e = s2_entry(s, cfg, ipa, class, fault);

    if (!e) {
        return false;
    }
    if (!(e->perm & SMMUV3_PERM_PRIV_R)) {
        *fault = (SMMUv3Fault) {
            .type = SMMU_EVT_F_PERMISSION,
            .record = cfg->s2_record,
            .s2 = true,
            .class = class,
            .ipa = ipa,
        };
        return false;
    }
    *pa = e->out | (ipa & ((1ull << e->size_shift) - 1));
    return true;
}

/*
 * Walk both stages for @addr, checking an access as it goes unless
 * @check is 0, and cache the translation when both stages give one.
 */
static bool walk_and_cache(SMMUv3State *s, SMMUv3StreamConfig *cfg,
                           uint64_t addr, uint16_t check,
                           ViommuIotlbEntry **hit, SMMUv3Fault *fault)
{
    SMMUv3Walk w1 = {
        .out = addr, .size_shift = 63, .perm = SMMUV3_PERM_ALL,
    };
    SMMUv3Walk w2;
    uint64_t ipa, out;
    unsigned shift;
    uint16_t perm;

    if (cfg->s1) {
        if (!smmuv3_walk_s1(s, cfg, addr, cfg->s2, &w1, fault)) {
            return false;
        }
        if (check && !(w1.perm & check)) {
            *fault = (SMMUv3Fault) {
                .type = SMMU_EVT_F_PERMISSION,
                .record = cfg->s1_record,
                .class = SMMU_CLASS_IN,
            };
            return false;
        }
        w1.out |= addr & ((1ull << w1.size_shift) - 1);
    }
    ipa = w1.out;
    out = ipa;
    shift = w1.size_shift;
    perm = w1.perm;
    if (cfg->s2 && cfg->s1) {
        /* Nested: the output's stage 2 is cached like the tables' */
        ViommuIotlbEntry *e2 = s2_entry(s, cfg, ipa, SMMU_CLASS_IN, fault);

        if (!e2) {
            return false;
        }
        w2 = (SMMUv3Walk) {
            .out = e2->out, .size_shift = e2->size_shift, .perm = e2->perm,
        };
    } else if (cfg->s2 &&
               !smmuv3_walk_s2(s, cfg, ipa, SMMU_CLASS_IN, &w2, fault)) {
        return false;
    }
    if (cfg->s2) {
        if (check && !(w2.perm & check)) {
            *fault = (SMMUv3Fault) {
                .type = SMMU_EVT_F_PERMISSION,
                .record = cfg->s2_record,
                .s2 = true,
                .class = SMMU_CLASS_IN,
                .ipa = ipa,
            };
            return false;
        }
        shift = MIN(shift, w2.size_shift);
        out = w2.out | (ipa & ((1ull << w2.size_shift) - 1));
        perm &= w2.perm;
    }

    *hit = viommu_iotlb_insert(&s->iotlb, cfg->tlb_ctx, addr, shift, out,
                               perm, 0);
    s->global_cached |= w1.global;
    return true;
}

/* What a transaction needs of an entry's permissions, and its kind */
static inline QEMU_ALWAYS_INLINE uint16_t
access_need(const SMMUv3StreamConfig *cfg, IOMMUAccessFlags flag, int idx,
            bool *priv, bool *inst)
{
    uint16_t need = 0;

    access_kind(cfg, idx, priv, inst);
    if (flag & IOMMU_RO) {
        need |= perm_bit(*priv, *inst, false);
    }
    if (flag & IOMMU_WO) {
        need |= perm_bit(*priv, false, true);
    }
    return need;
}

/*
 * The answer for @addr from an IOTLB entry, built as the caller's return
 * value itself: a copy through a local stalls on store forwarding, which
 * cost a hit a third of its time.
 */
static inline QEMU_ALWAYS_INLINE IOMMUTLBEntry
translation_of(const SMMUv3StreamConfig *cfg, const ViommuIotlbEntry *e,
               hwaddr addr, bool priv, bool inst)
{
    uint64_t mask = (1ull << e->size_shift) - 1;
    IOMMUAccessFlags perm = iommu_perm(e->perm, priv, inst);

    trace_smmuv3_translate(cfg->sid, addr, e->out | (addr & mask), perm);
    return (IOMMUTLBEntry) {
        .target_as = &address_space_memory,
        .iova = addr & ~mask,
        .translated_addr = e->out,
        .addr_mask = mask,
        .perm = perm,
    };
}

/* What a refused lookup answers: no access to its 4 KiB page */
static IOMMUTLBEntry translation_refused(hwaddr addr, IOMMUAccessFlags perm)
{
    return (IOMMUTLBEntry) {
        .target_as = &address_space_memory,
        .iova = addr & ~0xfffull,
        .translated_addr = addr & ~0xfffull,
        .addr_mask = 0xfff,
        .perm = perm,
    };
}

/*
 * A translating stream whose IOTLB lookup missed, or hit an entry that
 * does not permit the access: walk to learn the translation, or exactly
 * why there is none.
 */
static G_GNUC_NO_INLINE IOMMUTLBEntry
smmuv3_translate_miss(SMMUv3Device *sdev, hwaddr addr, IOMMUAccessFlags flag,
                      uint16_t need, bool priv, bool inst)
{
    SMMUv3State *s = sdev->smmu;
    SMMUv3StreamConfig *cfg = &sdev->cfg;
    SMMUv3Fault fault = { 0 };
    ViommuIotlbEntry *e;

    if (!walk_and_cache(s, cfg, addr, need, &e, &fault)) {
        if (flag != IOMMU_NONE) {
            smmuv3_report_fault(s, cfg->sid, &fault, addr, priv, inst,
                                flag & IOMMU_WO);
        }
        return translation_refused(addr, IOMMU_NONE);
    }
    return translation_of(cfg, e, addr, priv, inst);
}

/*
 * Everything before an IOTLB lookup that the hit path does not handle:
 * a caller without the BQL, SMMU disabled, a stream whose configuration
 * is not cached yet or that does not translate, a lookup without an
 * access.  Kept out of line so that a hit sets up none of it.
 */
static G_GNUC_NO_INLINE IOMMUTLBEntry
smmuv3_translate_slow(SMMUv3Device *sdev, hwaddr addr, IOMMUAccessFlags flag,
                      int idx)
{
    SMMUv3State *s = sdev->smmu;
    SMMUv3StreamConfig *cfg = &sdev->cfg;
    SMMUv3Fault fault = { 0 };
    ViommuIotlbEntry *e;
    bool priv, inst;
    uint16_t need;

    if (!bql_locked()) {
        /* An iothread's DMA: the SMMU's state is the BQL's */
        BQL_LOCK_GUARD();
        return smmuv3_translate_slow(sdev, addr, flag, idx);
    }
    if (!smmuv3_enabled(s)) {
        /* GBPA: bypass, or abort without a record */
        return translation_refused(addr, FIELD_EX32(s->gbpa, GBPA, ABORT) ?
                                   IOMMU_NONE : IOMMU_RW);
    }
    if (!sdev->cfg_valid) {
        if (!smmuv3_stream_config(s, sdev, cfg, &fault)) {
            if (flag != IOMMU_NONE) {
                smmuv3_report_fault(s, cfg->sid, &fault, addr, false, false,
                                    flag & IOMMU_WO);
            }
            return translation_refused(addr, IOMMU_NONE);
        }
        sdev->cfg_valid = true;
        if (cfg->kind == SMMUV3_STREAM_BYPASS) {
            /* Later transactions skip the IOMMU region altogether */
            qemu_bh_schedule(s->bypass_bh);
        }
    }
    switch (cfg->kind) {
    case SMMUV3_STREAM_ABORT:
        return translation_refused(addr, IOMMU_NONE);
    case SMMUV3_STREAM_BYPASS:
        return translation_refused(addr, IOMMU_RW);
    case SMMUV3_STREAM_TRANSLATE:
        break;
    }

    need = access_need(cfg, flag, idx, &priv, &inst);
    e = viommu_iotlb_lookup(&s->iotlb, cfg->tlb_ctx, addr, cfg->tlb_sizes);
    if (!e || (e->perm & need) != need) {
        return smmuv3_translate_miss(sdev, addr, flag, need, priv, inst);
    }
    return translation_of(cfg, e, addr, priv, inst);
}

/*
 * The hot path is a translating stream whose configuration is cached and
 * an IOTLB entry that permits the access.  A miss goes straight to the
 * walk; anything else the slow way.
 */
static IOMMUTLBEntry smmuv3_translate(IOMMUMemoryRegion *mr, hwaddr addr,
                                      IOMMUAccessFlags flag, int idx)
{
    SMMUv3Device *sdev = container_of(mr, SMMUv3Device, iommu);
    SMMUv3State *s = sdev->smmu;
    const SMMUv3StreamConfig *cfg = &sdev->cfg;
    ViommuIotlbEntry *e;
    bool priv, inst;
    uint16_t need;

    /* Without the BQL (an iothread), even the state is not ours to read */
    if (unlikely(!bql_locked() || !smmuv3_enabled(s) || !sdev->cfg_valid ||
                 cfg->kind != SMMUV3_STREAM_TRANSLATE ||
                 flag == IOMMU_NONE)) {
        return smmuv3_translate_slow(sdev, addr, flag, idx);
    }
    need = access_need(cfg, flag, idx, &priv, &inst);
    e = viommu_iotlb_lookup(&s->iotlb, cfg->tlb_ctx, addr, cfg->tlb_sizes);
    if (unlikely(!e || (e->perm & need) != need)) {
        return smmuv3_translate_miss(sdev, addr, flag, need, priv, inst);
    }
    return translation_of(cfg, e, addr, priv, inst);
}

static int smmuv3_attrs_to_index(IOMMUMemoryRegion *mr, MemTxAttrs attrs)
{
    if (attrs.unspecified) {
        return SMMUV3_IDX_UNSPECIFIED;
    }
    return attrs.user ? SMMUV3_IDX_UNPRIV : SMMUV3_IDX_PRIV;
}

static int smmuv3_num_indexes(IOMMUMemoryRegion *mr)
{
    return SMMUV3_NR_IDX;
}

static int smmuv3_notify_flag_changed(IOMMUMemoryRegion *mr,
                                      IOMMUNotifierFlag old,
                                      IOMMUNotifierFlag new, Error **errp)
{
    SMMUv3Device *sdev = container_of(mr, SMMUv3Device, iommu);

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
    sdev->notifier_flags = new;
    return 0;
}

/*
 * Only UNMAP notifiers exist (MAP ones are refused), and they need no
 * replay: nothing they have been told of is still mapped that they
 * would not hear about.
 */
static void smmuv3_replay(IOMMUMemoryRegion *mr, IOMMUNotifier *n)
{
}

void smmuv3_iommu_memory_region_class_init(ObjectClass *klass,
                                           const void *data)
{
    IOMMUMemoryRegionClass *imrc = IOMMU_MEMORY_REGION_CLASS(klass);

    imrc->translate = smmuv3_translate;
    imrc->attrs_to_index = smmuv3_attrs_to_index;
    imrc->num_indexes = smmuv3_num_indexes;
    imrc->notify_flag_changed = smmuv3_notify_flag_changed;
    imrc->replay = smmuv3_replay;
}

/* ---- invalidation ---- */

static void notify_unmap_all(SMMUv3Device *sdev)
{
    if (sdev->notifier_flags & IOMMU_NOTIFIER_UNMAP) {
        viommu_notify_unmap(&sdev->iommu, 0, 0, UINT64_MAX);
    }
}

void smmuv3_invalidate_config(SMMUv3State *s, uint32_t first, uint32_t last)
{
    SMMUv3Device *sdev;

    trace_smmuv3_invalidate_config(first, last);
    QLIST_FOREACH(sdev, &s->devices, next) {
        uint32_t sid = smmuv3_sid(sdev);

        if (sid < first || sid > last) {
            continue;
        }
        if (sdev->cfg_valid) {
            sdev->cfg_valid = false;
            notify_unmap_all(sdev);
        }
    }
    /* A stream that bypassed must meet the IOMMU again, before CMD_SYNC */
    smmuv3_update_bypass(s);
}

/*
 * Remove the translations of the contexts that match, overlapping
 * [start, start + size), and tell the notifiers of every stream whose
 * context matches.  @by_va says the range is of that context's input
 * addresses; otherwise (stage 2 by IPA) streams that translate from
 * VAs lose everything.
 */
void smmuv3_invalidate_tlb(SMMUv3State *s, uint64_t mask, uint64_t match,
                           uint64_t start, uint64_t size, bool by_va)
{
    uint32_t removed;
    SMMUv3Device *sdev;

    removed = viommu_iotlb_invalidate_range(&s->iotlb, mask, match, start,
                                            size, 0, 0);
    trace_smmuv3_invalidate_tlb(mask, match, start, size, removed);
    QLIST_FOREACH(sdev, &s->devices, next) {
        if (!sdev->cfg_valid || !(sdev->notifier_flags &
                                  IOMMU_NOTIFIER_UNMAP) ||
            (sdev->cfg.tlb_ctx & mask) != match) {
            continue;
        }
        if (by_va && size == 1) {
            /*
             * One address: the entry that holds it, at least the stream's
             * smallest page.  Notifiers unmap whole pages.
             */
            unsigned shift = sdev->cfg.tlb_sizes ?
                             ctz64(sdev->cfg.tlb_sizes) : 12;

            viommu_notify_unmap(&sdev->iommu, 0,
                                start & ~((1ull << shift) - 1),
                                1ull << shift);
        } else if (by_va) {
            viommu_notify_unmap(&sdev->iommu, 0, start, size);
        } else {
            notify_unmap_all(sdev);
        }
    }
}

void smmuv3_flush_all(SMMUv3State *s)
{
    SMMUv3Device *sdev;

    viommu_iotlb_flush(&s->iotlb);
    s->global_cached = false;
    QLIST_FOREACH(sdev, &s->devices, next) {
        if (sdev->cfg_valid) {
            sdev->cfg_valid = false;
        }
        notify_unmap_all(sdev);
    }
}
