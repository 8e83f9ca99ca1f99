/*
 * Arm SMMUv3: VMSAv8-64 translation table walks, stage 1 and stage 2
 *
 * A walk reads one descriptor per level from guest memory and stops at
 * the first problem it finds, describing it the way an event record
 * will: F_TRANSLATION, F_ADDR_SIZE, F_ACCESS or F_WALK_EABT, at stage 1
 * or 2.  Every loop is bounded by the number of levels, whatever the
 * tables hold.  Permissions are checked by the caller, which knows the
 * access.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "system/address-spaces.h"
#include "system/dma.h"
#include "smmuv3-internal.h"
#include "trace.h"

/* Input address bits one table level resolves */
static inline unsigned tt_stride(const SMMUv3TTParams *tt)
{
    return tt->granule_shift - 3;
}

/* The lowest input address bit that @level's descriptors resolve */
static inline unsigned tt_level_shift(const SMMUv3TTParams *tt, int level)
{
    return tt->granule_shift + tt_stride(tt) * (3 - level);
}

/* Levels at which a block descriptor is legal with this granule */
static bool tt_block_allowed(const SMMUv3TTParams *tt, int level)
{
    switch (tt->granule_shift) {
    case 12:
        return level == 1 || level == 2;
    default:
        /* 16K and 64K: no 52-bit addresses, so blocks at level 2 only */
        return level == 2;
    }
}

/*
 * Check a walk's parameters and work out where it starts.  A stage 1
 * walk starts wherever its input size needs; a stage 2 walk starts where
 * @sl0 says, and the input size must fit that, with up to 16 tables
 * concatenated at the start level.
 */
bool smmuv3_tt_params_valid(SMMUv3TTParams *tt, bool stage2, unsigned sl0)
{
    unsigned ia_bits = 64 - tt->tsz;
    unsigned stride = tt_stride(tt);
    unsigned covered;
    int level;

    if (tt->tsz < 16 || ia_bits < tt->granule_shift + 1) {
        return false;
    }
    if (!stage2) {
        if (tt->tsz > 39) {
            return false;
        }
        level = 4 - DIV_ROUND_UP(ia_bits - tt->granule_shift, stride);
        tt->start_level = level;
        tt->concat = 0;
        return true;
    }

    if (tt->granule_shift == 12) {
        /* SL0 0, 1, 2: levels 2, 1, 0 */
        if (sl0 > 2) {
            return false;
        }
        level = 2 - sl0;
    } else {
        /* SL0 0, 1, 2: levels 3, 2, 1 */
        if (sl0 > 2) {
            return false;
        }
        level = 3 - sl0;
    }
    covered = tt_level_shift(tt, level) + stride;
    /* The start level resolves between 1 and stride + 4 bits */
    if (ia_bits + stride < covered + 1 || ia_bits > covered + 4) {
        return false;
    }
    tt->start_level = level;
    tt->concat = ia_bits > covered ? ia_bits - covered : 0;
    return true;
}

/* A bit per block size a walk with these parameters can end in */
uint64_t smmuv3_tt_block_sizes(const SMMUv3TTParams *tt)
{
    uint64_t sizes = 0;

    for (int level = MAX(tt->start_level, 1); level <= 3; level++) {
        if (level == 3 || tt_block_allowed(tt, level)) {
            sizes |= VIOMMU_IOTLB_SIZE(tt_level_shift(tt, level));
        }
    }
    return sizes;
}

/*
 * Read the 64-bit descriptor at @addr (a PA, or an IPA that stage 2
 * translates first when @nested).  Sets *@fault and returns false when
 * the read fails.
 */
static bool tt_read(SMMUv3State *s, const SMMUv3StreamConfig *cfg,
                    uint64_t addr, bool nested, bool stage2, uint64_t *desc,
                    SMMUv3Fault *fault)
{
    uint64_t pa = addr;
    MemTxResult r;

    if (nested &&
        !smmuv3_translate_ipa(s, cfg, addr, SMMU_CLASS_TT, &pa, fault)) {
        return false;
    }
    /*
     * A load rather than dma_memory_read(): the same access, without the
     * barrier and the generic copy loop, which a walk of cold entries
     * would pay at every level.
     */
    *desc = address_space_ldq_le(&address_space_memory, pa,
                                 MEMTXATTRS_UNSPECIFIED, &r);
    if (r != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: stage %d table walk read at "
                      "0x%" PRIx64 " failed\n", stage2 ? 2 : 1, pa);
        *fault = (SMMUv3Fault) {
            .type = SMMU_EVT_F_WALK_EABT,
            .record = true,
            .s2 = stage2,
            .class = SMMU_CLASS_TT,
            .fetch_addr = pa,
        };
        return false;
    }
    return true;
}

/*
 * Walk @tt for input address @ia.  On success *@walk has the output
 * address and size of the block, and the descriptors' permission and
 * access bits folded into *@leaf_desc and *@table_bits.
 */
static bool tt_walk(SMMUv3State *s, const SMMUv3StreamConfig *cfg,
                    const SMMUv3TTParams *tt, uint64_t ia, bool stage2,
                    bool nested, SMMUv3Walk *walk, uint64_t *leaf_desc,
                    uint64_t *table_bits, SMMUv3Fault *fault)
{
    unsigned stride = tt_stride(tt);
    unsigned ia_bits = 64 - tt->tsz;
    uint64_t out_limit = tt->out_bits >= 64 ? UINT64_MAX :
                         (1ull << tt->out_bits) - 1;
    uint64_t gran_mask = (1ull << tt->granule_shift) - 1;
    uint64_t table;
    int level = tt->start_level;
    uint8_t type = SMMU_EVT_F_TRANSLATION;

    *table_bits = 0;
    /* The start table is aligned to its size; the bits below are RES0 */
    table = tt->ttb & ~((8ull << (ia_bits - tt_level_shift(tt, level))) - 1);
    if (table > out_limit) {
        type = SMMU_EVT_F_ADDR_SIZE;
        goto fault;
    }

    for (; level <= 3; level++) {
        unsigned shift = tt_level_shift(tt, level);
        unsigned bits = level == tt->start_level ? ia_bits - shift : stride;
        uint64_t idx = extract64(ia, shift, bits);
        uint64_t desc, next;

        if (!tt_read(s, cfg, table + idx * 8, nested, stage2, &desc, fault)) {
            return false;
        }
        trace_smmuv3_walk_level(stage2 ? 2 : 1, level, table + idx * 8, desc);
        if (!(desc & PTE_VALID)) {
            goto fault;
        }
        if (level < 3 && (desc & PTE_TABLE)) {
            next = desc & PTE_ADDR_MASK & ~gran_mask;
            if (next > out_limit) {
                type = SMMU_EVT_F_ADDR_SIZE;
                goto fault;
            }
            *table_bits |= desc;
            table = next;
            continue;
        }
        if (level == 3 ? !(desc & PTE_TABLE) : !tt_block_allowed(tt, level)) {
            /* A reserved encoding, or a block where none may be */
            goto fault;
        }
        walk->out = desc & PTE_ADDR_MASK & ~((1ull << shift) - 1);
        walk->size_shift = shift;
        if (walk->out > out_limit) {
            type = SMMU_EVT_F_ADDR_SIZE;
            goto fault;
        }
        if (!(desc & PTE_AF) && !(stage2 ? cfg->s2affd : cfg->affd)) {
            type = SMMU_EVT_F_ACCESS;
            goto fault;
        }
        *leaf_desc = desc;
        return true;
    }
    g_assert_not_reached();

fault:
    *fault = (SMMUv3Fault) {
        .type = type,
        .record = stage2 ? cfg->s2_record : cfg->s1_record,
        .s2 = stage2,
        .class = SMMU_CLASS_IN,
    };
    trace_smmuv3_walk_fault(stage2 ? 2 : 1, level, ia, type);
    return false;
}

/* Stage 1 permissions from a leaf and the table descriptors above it */
static uint16_t s1_perm(const SMMUv3StreamConfig *cfg, uint64_t desc,
                        uint64_t tables)
{
    bool rdonly = (desc & PTE_AP2_RDONLY) || (tables & PTE_APTABLE_RDONLY);
    bool unpriv = (desc & PTE_AP1_UNPRIV) &&
                  !(tables & PTE_APTABLE_NO_UNPRIV);
    bool uxn = (desc & PTE_UXN) || (tables & PTE_UXNTABLE);
    bool pxn = (desc & PTE_PXN) || (tables & PTE_PXNTABLE);
    uint16_t perm = SMMUV3_PERM_PRIV_R;

    if (cfg->el2) {
        /* One privilege level: AP[1] is ignored, UXN is XN */
        perm |= rdonly ? 0 : SMMUV3_PERM_PRIV_W;
        perm |= uxn ? 0 : SMMUV3_PERM_PRIV_X;
        perm |= perm << 3;
        goto wxn;
    }
    if (!rdonly) {
        perm |= SMMUV3_PERM_PRIV_W;
    }
    if (unpriv) {
        perm |= SMMUV3_PERM_UNPRIV_R;
        perm |= rdonly ? 0 : SMMUV3_PERM_UNPRIV_W;
    }
    if (!uxn) {
        perm |= SMMUV3_PERM_UNPRIV_X;
    }
    /* Memory the unprivileged may write is never privileged code */
    if (!pxn && !(unpriv && !rdonly)) {
        perm |= SMMUV3_PERM_PRIV_X;
    }
    if (cfg->pan && unpriv) {
        perm &= ~(SMMUV3_PERM_PRIV_R | SMMUV3_PERM_PRIV_W);
    }
wxn:
    if (cfg->wxn && (perm & (SMMUV3_PERM_PRIV_W | SMMUV3_PERM_UNPRIV_W))) {
        perm &= ~(SMMUV3_PERM_PRIV_X | SMMUV3_PERM_UNPRIV_X);
    }
    return perm;
}

static uint16_t s2_perm(uint64_t desc)
{
    uint16_t perm = 0;

    if (desc & PTE_S2AP_READ) {
        perm |= SMMUV3_PERM_PRIV_R | SMMUV3_PERM_UNPRIV_R;
    }
    if (desc & PTE_S2AP_WRITE) {
        perm |= SMMUV3_PERM_PRIV_W | SMMUV3_PERM_UNPRIV_W;
    }
    if (!(desc & PTE_UXN)) {
        perm |= SMMUV3_PERM_PRIV_X | SMMUV3_PERM_UNPRIV_X;
    }
    return perm;
}

/*
 * Select TTB0 or TTB1 for @va as its upper bits say: all zeros or all
 * ones above the input range (above bit 55 ignored with TBI), else none.
 */
static const SMMUv3TTParams *s1_select(const SMMUv3StreamConfig *cfg,
                                       uint64_t va)
{
    bool upper = extract64(va, 55, 1);
    const SMMUv3TTParams *tt = &cfg->tt[upper];
    unsigned ia_bits = 64 - tt->tsz;
    unsigned top = tt->tbi ? 56 : 64;
    uint64_t high = extract64(va, ia_bits, top - ia_bits);

    if (cfg->el2 && upper) {
        return NULL;        /* EL2 without E2H has one range only */
    }
    if (high != (upper ? (1ull << (top - ia_bits)) - 1 : 0)) {
        return NULL;
    }
    return tt;
}

bool smmuv3_walk_s1(SMMUv3State *s, const SMMUv3StreamConfig *cfg,
                    uint64_t va, bool need_s2_for_tables,
                    SMMUv3Walk *walk, SMMUv3Fault *fault)
{
    const SMMUv3TTParams *tt = s1_select(cfg, va);
    uint64_t leaf, tables;

    if (!tt || tt->disabled) {
        *fault = (SMMUv3Fault) {
            .type = SMMU_EVT_F_TRANSLATION,
            .record = cfg->s1_record,
            .class = SMMU_CLASS_IN,
        };
        trace_smmuv3_walk_fault(1, -1, va, SMMU_EVT_F_TRANSLATION);
        return false;
    }
    if (!tt_walk(s, cfg, tt, va, false, need_s2_for_tables, walk, &leaf,
                 &tables, fault)) {
        return false;
    }
    walk->perm = s1_perm(cfg, leaf, tables);
    walk->global = !(leaf & PTE_NG) && !cfg->el2;
    return true;
}

bool smmuv3_walk_s2(SMMUv3State *s, const SMMUv3StreamConfig *cfg,
                    uint64_t ipa, uint8_t class, SMMUv3Walk *walk,
                    SMMUv3Fault *fault)
{
    uint64_t leaf, tables;

    if (ipa >> (64 - cfg->s2tt.tsz)) {
        *fault = (SMMUv3Fault) {
            .type = SMMU_EVT_F_TRANSLATION,
            .record = cfg->s2_record,
            .s2 = true,
        };
    } else if (tt_walk(s, cfg, &cfg->s2tt, ipa, true, false, walk, &leaf,
                       &tables, fault)) {
        walk->perm = s2_perm(leaf);
        walk->global = false;
        return true;
    }
    /* Faults of a stage 2 walk name the IPA and what it was for */
    fault->class = fault->type == SMMU_EVT_F_WALK_EABT ? SMMU_CLASS_TT :
                   class;
    fault->ipa = ipa;
    return false;
}
