/*
 * Arm SMMUv3: VMSAv8-64 translation table walks, stage 1 and stage 2,
 * and reads of the SMMU's structures in guest memory
 *
 * A walk reads one descriptor per level from guest memory and stops at
 * the first problem it finds, describing it the way an event record
 * will: F_TRANSLATION, F_ADDR_SIZE, F_ACCESS or F_WALK_EABT, at stage 1
 * or 2.  Every loop is bounded by the number of levels, whatever the
 * tables hold.  Permissions are checked by the caller, which knows the
 * access.  A leaf: where a nested stage 1 walk reads its tables at IPAs,
 * the caller's function translates them.
 *
 * The SMMU's structures (stream table, CDs, translation tables, queues)
 * are read and written in RAM only.  A walk runs on whatever thread does
 * the DMA, without the BQL and with the model's mutex held: an access
 * that reached a device's MMIO could wait for the BQL, or call back into
 * the SMMU, and deadlock.  An address that is not RAM aborts, as an
 * address that nothing decodes does.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/rcu.h"
#include "qemu/bswap.h"
#include "system/address-spaces.h"
#include "system/memory.h"
#include "smmuv3-internal.h"
#include "trace.h"

/* 4 KiB: a page as the cache counts them, whatever the target's */
#define TARGET_PAGE_SIZE_4K     0x1000u

/* The host address of @len bytes of RAM at @pa, or NULL; RCU held */
static void *ram_ptr(uint64_t pa, unsigned len)
{
    hwaddr xlat, l = len;
    MemoryRegion *mr = address_space_translate(&address_space_memory, pa,
                                               &xlat, &l, false,
                                               MEMTXATTRS_UNSPECIFIED);

    if (l < len || !memory_access_is_direct(mr, false,
                                            MEMTXATTRS_UNSPECIFIED)) {
        return NULL;
    }
    return (uint8_t *)memory_region_get_ram_ptr(mr) + xlat;
}

void smmuv3_ram_cache_reset(SMMUv3RamCache *c)
{
    memset(c->page, 0xff, sizeof(c->page));
}

/*
 * The host address of @len bytes of RAM at @pa, or NULL; with @c, through
 * the cache when they lie within a page.  RCU held.
 */
static void *ram_ptr_cached(SMMUv3RamCache *c, uint64_t pa, unsigned len)
{
    uint64_t page = pa & ~(uint64_t)(TARGET_PAGE_SIZE_4K - 1);
    unsigned slot;

    if (!c || (pa & (TARGET_PAGE_SIZE_4K - 1)) + len > TARGET_PAGE_SIZE_4K) {
        return ram_ptr(pa, len);
    }
    slot = (page >> 12) * 0x9e3779b97f4a7c15ull >>
           (64 - SMMUV3_RAM_CACHE_BITS);
    if (c->page[slot] != page) {
        uint8_t *p = ram_ptr(page, TARGET_PAGE_SIZE_4K);

        if (!p) {
            return ram_ptr(pa, len);
        }
        c->page[slot] = page;
        c->host[slot] = p;
    }
    return c->host[slot] + (pa - page);
}

bool smmuv3_read_ram(SMMUv3RamCache *c, uint64_t pa, void *buf,
                     unsigned len)
{
    void *p;

    RCU_READ_LOCK_GUARD();
    p = ram_ptr_cached(c, pa, len);
    if (p) {
        memcpy(buf, p, len);
    }
    return p;
}

bool smmuv3_write_ram(uint64_t pa, const void *buf, unsigned len)
{
    MemoryRegionCache cache;
    int64_t l = address_space_cache_init(&cache, &address_space_memory, pa,
                                         len, true);
    bool ram = l >= len && cache.ptr;

    if (ram) {
        /* Also marks the bytes dirty, for migration and for TCG's code */
        address_space_write_cached(&cache, 0, buf, len);
    }
    address_space_cache_destroy(&cache);
    return ram;
}

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
 * concatenated at the start level.  Without FEAT_TTST, an input range is
 * 25 to 48 bits.
 */
bool smmuv3_tt_params_valid(SMMUv3TTParams *tt, bool stage2, unsigned sl0)
{
    unsigned ia_bits = 64 - tt->tsz;
    unsigned stride = tt_stride(tt);
    unsigned covered;
    int level;

    if (tt->tsz < 16 || tt->tsz > 39) {
        return false;
    }
    if (!stage2) {
        level = 4 - DIV_ROUND_UP(ia_bits - tt->granule_shift, stride);
        tt->start_level = level;
        tt->concat = 0;
        return true;
    }

    /* SL0 0, 1, 2: levels 2, 1, 0 with 4K; 3, 2, 1 with 16K and 64K */
    if (sl0 > 2) {
        return false;
    }
    level = (tt->granule_shift == 12 ? 2 : 3) - sl0;
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

/* How a walk reads its descriptors */
typedef struct TTReader {
    const SMMUv3StreamConfig *cfg;
    bool stage2;
    SMMUv3IpaFn *ipa_fn;        /* table addresses are IPAs: stage 2 */
    void *opaque;
    uint8_t s2_class;           /* a stage 2 walk's: what it translates */
} TTReader;

/*
 * Read the 64-bit descriptor at @addr.  Sets *@fault and returns false
 * when the read fails.
 */
static bool tt_read(const TTReader *r, uint64_t addr, uint64_t *desc,
                    SMMUv3Fault *fault)
{
    uint64_t pa = addr;
    void *p;

    if (r->ipa_fn &&
        !r->ipa_fn(r->opaque, addr, SMMU_CLASS_TT, &pa, fault)) {
        return false;
    }
    RCU_READ_LOCK_GUARD();
    p = ram_ptr_cached(r->cfg->ram, pa, 8);
    if (!p) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: stage %d table walk read at "
                      "0x%" PRIx64 " is not of RAM\n", r->stage2 ? 2 : 1, pa);
        *fault = (SMMUv3Fault) {
            .type = SMMU_EVT_F_WALK_EABT,
            .record = true,
            .s2 = r->stage2,
            .class = r->stage2 ? r->s2_class : SMMU_CLASS_TT,
            .fetch_addr = pa,
        };
        return false;
    }
    /* One load, as the guest's CPU may be writing the descriptor */
    *desc = ldq_le_p(p);
    return true;
}

/*
 * Walk @tt for input address @ia.  On success *@walk has the output
 * address and size of the block, and the descriptors' permission and
 * access bits folded into *@leaf_desc and *@table_bits.
 */
static bool tt_walk(const TTReader *r, const SMMUv3TTParams *tt, uint64_t ia,
                    SMMUv3Walk *walk, uint64_t *leaf_desc,
                    uint64_t *table_bits, SMMUv3Fault *fault)
{
    const SMMUv3StreamConfig *cfg = r->cfg;
    unsigned stride = tt_stride(tt);
    unsigned ia_bits = 64 - tt->tsz;
    uint64_t out_limit = MAKE_64BIT_MASK(0, tt->out_bits);
    uint64_t gran_mask = MAKE_64BIT_MASK(0, tt->granule_shift);
    int level = tt->start_level;
    uint8_t type = SMMU_EVT_F_TRANSLATION;
    /* The start table is aligned to its size; the bits below are RES0 */
    uint64_t table = tt->ttb & ~MAKE_64BIT_MASK(0, 3 + ia_bits -
                                                   tt_level_shift(tt, level));

    *table_bits = 0;
    for (; level <= 3; level++) {
        unsigned shift = tt_level_shift(tt, level);
        unsigned bits = level == tt->start_level ? ia_bits - shift : stride;
        uint64_t idx = extract64(ia, shift, bits);
        uint64_t desc, next;

        if (!tt_read(r, table + idx * 8, &desc, fault)) {
            return false;
        }
        trace_smmuv3_walk_level(r->stage2 ? 2 : 1, level, table + idx * 8,
                                desc);
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
        walk->out = desc & PTE_ADDR_MASK & ~MAKE_64BIT_MASK(0, shift);
        walk->size_shift = shift;
        if (walk->out > out_limit) {
            type = SMMU_EVT_F_ADDR_SIZE;
            goto fault;
        }
        if (!(desc & PTE_AF) && !(r->stage2 ? cfg->s2affd : cfg->affd)) {
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
        .record = r->stage2 ? cfg->s2_record : cfg->s1_record,
        .s2 = r->stage2,
        .class = r->stage2 ? r->s2_class : SMMU_CLASS_IN,
    };
    trace_smmuv3_walk_fault(r->stage2 ? 2 : 1, level, ia, type);
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

    if (smmuv3_regime_one_el(cfg->regime)) {
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

    if (high != (upper ? MAKE_64BIT_MASK(0, top - ia_bits) : 0)) {
        return NULL;
    }
    return tt;
}

bool smmuv3_walk_s1(const SMMUv3StreamConfig *cfg, uint64_t va,
                    SMMUv3IpaFn *ipa_fn, void *opaque, SMMUv3Walk *walk,
                    SMMUv3Fault *fault)
{
    const SMMUv3TTParams *tt = s1_select(cfg, va);
    TTReader r = { .cfg = cfg, .ipa_fn = ipa_fn, .opaque = opaque };
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
    if (!tt_walk(&r, tt, va, walk, &leaf, &tables, fault)) {
        return false;
    }
    walk->perm = s1_perm(cfg, leaf, tables);
    /* One regime without ASIDs, EL2: an entry is no more global there */
    walk->global = !(leaf & PTE_NG) && !smmuv3_regime_one_el(cfg->regime);
    return true;
}

bool smmuv3_walk_s2(const SMMUv3StreamConfig *cfg, uint64_t ipa,
                    uint8_t class, SMMUv3Walk *walk, SMMUv3Fault *fault)
{
    TTReader r = { .cfg = cfg, .stage2 = true, .s2_class = class };
    uint64_t leaf, tables;

    if (ipa >> (64 - cfg->s2tt.tsz)) {
        /* Outside the stage 2 input range: a translation fault there */
        *fault = (SMMUv3Fault) {
            .type = SMMU_EVT_F_TRANSLATION,
            .record = cfg->s2_record,
            .s2 = true,
            .class = class,
        };
        trace_smmuv3_walk_fault(2, -1, ipa, SMMU_EVT_F_TRANSLATION);
    } else if (tt_walk(&r, &cfg->s2tt, ipa, walk, &leaf, &tables, fault)) {
        walk->perm = s2_perm(leaf);
        walk->global = false;
        return true;
    }
    /* Faults of a stage 2 walk name the IPA */
    fault->ipa = ipa;
    return false;
}
