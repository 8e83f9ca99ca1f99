/*
 * A translation cache shared by the fork's vIOMMU models
 *
 * Each entry maps one naturally aligned block of input addresses, of
 * 2^size_shift bytes, to an output address, within a context: a 64-bit
 * tag the model builds from whatever its translations depend on (for
 * SMMUv3 the translation regime, VMID and ASID).  Permissions and flags
 * are the model's to define; the cache only stores them.
 *
 * The cache is bounded.  When full it evicts one entry, chosen by the
 * CLOCK approximation of least recently used, and never empties itself.
 * A hit costs a handful of hash probes (one per block size the caller
 * says may be present) and allocates nothing.  Invalidation by context,
 * by a pattern of contexts or by a range within a context costs in
 * proportion to the entries it removes, not to the size of the cache.
 *
 * The cache does no locking: its owner serialises every call.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_IOMMU_VIOMMU_IOTLB_H
#define HW_IOMMU_VIOMMU_IOTLB_H

typedef struct ViommuIotlbEntry {
    uint64_t context;
    uint64_t iova;          /* aligned to 1 << size_shift */
    uint64_t out;           /* output address of the block's first byte */
    uint16_t perm;          /* the model's permission bits */
    uint16_t flags;         /* the model's other bits */
    uint8_t size_shift;     /* 0 marks a free slot */
    bool referenced;        /* used since the clock hand last passed */
    /* Links, as slot numbers; VIOMMU_IOTLB_NONE ends a chain */
    uint32_t hash_next;
    uint32_t ctx_prev;
    uint32_t ctx_next;
} ViommuIotlbEntry;

#define VIOMMU_IOTLB_NONE       UINT32_MAX

typedef struct ViommuIotlbStats {
    uint64_t hits;
    uint64_t misses;
    uint64_t inserts;
    uint64_t evictions;
    uint64_t invalidated;
} ViommuIotlbStats;

typedef struct ViommuIotlb {
    ViommuIotlbEntry *slots;
    uint32_t capacity;
    uint32_t used;
    uint32_t *buckets;
    uint32_t bucket_mask;
    unsigned bucket_bits;   /* log2 of the number of buckets */
    uint32_t free_head;     /* free slots, chained through hash_next */
    uint32_t clock_hand;
    /* context tag -> ViommuIotlbContext, for invalidation only */
    GHashTable *contexts;
    struct ViommuIotlbContext *last_context;
    ViommuIotlbStats stats;
} ViommuIotlb;

/* A bit per block size a lookup should try: 1ull << size_shift */
#define VIOMMU_IOTLB_SIZE(shift)    (1ull << (shift))

void viommu_iotlb_init(ViommuIotlb *tlb, uint32_t capacity);
void viommu_iotlb_destroy(ViommuIotlb *tlb);

/*
 * The entry of @context that covers @iova, trying each block size in
 * @size_mask from the smallest, or NULL.  The pointer is valid until the
 * next call that changes the cache.
 */
ViommuIotlbEntry *viommu_iotlb_lookup(ViommuIotlb *tlb, uint64_t context,
                                      uint64_t iova, uint64_t size_mask);

/*
 * Cache a block of 2^@size_shift bytes (12 <= @size_shift <= 63) at
 * @iova (its low bits are ignored).  An entry already cached for the
 * same block is replaced.  Returns the entry, valid as a lookup's is.
 */
ViommuIotlbEntry *viommu_iotlb_insert(ViommuIotlb *tlb, uint64_t context,
                                      uint64_t iova, unsigned size_shift,
                                      uint64_t out, uint16_t perm,
                                      uint16_t flags);

/* Remove every entry; the statistics stay */
void viommu_iotlb_flush(ViommuIotlb *tlb);

/* Remove the entries of @context; returns how many there were */
uint32_t viommu_iotlb_invalidate_context(ViommuIotlb *tlb, uint64_t context);

/* Remove the entries of every context with (context & @mask) == @match */
uint32_t viommu_iotlb_invalidate_contexts(ViommuIotlb *tlb, uint64_t mask,
                                          uint64_t match);

/*
 * Remove the entries of the contexts that match as above and whose block
 * overlaps [@start, @start + @size), @size > 0.  With @flags_mask set,
 * only entries with (flags & @flags_mask) == @flags_match go.
 */
uint32_t viommu_iotlb_invalidate_range(ViommuIotlb *tlb, uint64_t mask,
                                       uint64_t match, uint64_t start,
                                       uint64_t size, uint16_t flags_mask,
                                       uint16_t flags_match);

#endif /* HW_IOMMU_VIOMMU_IOTLB_H */
