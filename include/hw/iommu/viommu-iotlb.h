/*
 * A translation cache shared by the fork's vIOMMU models
 *
 * Each entry maps one naturally aligned block of input addresses, of
 * 2^size_shift bytes, to an output address, within a context: a 64-bit
 * tag the model builds from whatever its translations depend on.
 * Contexts fall into groups: the context tag with only the bits of the
 * group mask given at init (for SMMUv3 a context is a translation regime,
 * VMID and ASID, and its group the regime and VMID).  An entry may be
 * global: it belongs to the context that cached it, and the invalidations
 * of a group's global entries find it too (an SMMUv3 TLBI by VA removes
 * the global entries of every ASID).  Permissions and flags are the
 * model's to define; the cache only stores them.
 *
 * What each operation costs, whatever the guest does:
 * - a lookup probes one hash chain per block size the caller says may be
 *   present, and allocates nothing.  Chains are keyed with a secret drawn
 *   when the cache is made, so no choice of addresses or contexts piles
 *   entries into one chain;
 * - an insert costs O(log n), and allocates only for the first entry of a
 *   context, a group, or a run of 16 consecutive blocks;
 * - an invalidation costs O(log n) to find what it removes, plus O(1) per
 *   entry removed and O(log n) per run it empties: each context and each
 *   group keeps its runs of blocks in interval trees, so a range that
 *   matches nothing costs a descent of a tree, whatever the cache holds.
 *   Removing whole contexts or groups costs O(1) per entry;
 * - the cache is bounded.  When full it evicts one entry, chosen by the
 *   CLOCK approximation of least recently used, and never empties itself.
 *
 * Concurrency: the cache takes no lock; its owner serialises every call
 * except viommu_iotlb_lookup().  A lookup may run while another thread
 * changes the cache, provided the owner can tell (a seqlock around the
 * changes) and then discards what the lookup returned: a lookup reads
 * only the cache's own slots, always ends, and may meanwhile see an entry
 * half rewritten.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_IOMMU_VIOMMU_IOTLB_H
#define HW_IOMMU_VIOMMU_IOTLB_H

#include "qemu/interval-tree.h"

/* What a lookup reads: one slot of the cache */
typedef struct ViommuIotlbEntry {
    uint64_t context;
    uint64_t iova;          /* aligned to 1 << size_shift */
    uint64_t out;           /* output address of the block's first byte */
    uint16_t perm;          /* the model's permission bits */
    uint16_t flags;         /* the model's other bits */
    uint8_t size_shift;     /* 0 marks a free slot */
    bool referenced;        /* used since the clock hand last passed */
    bool global;
    uint32_t hash_next;     /* slot number; VIOMMU_IOTLB_NONE ends a chain */
} ViommuIotlbEntry;

#define VIOMMU_IOTLB_NONE       UINT32_MAX

typedef struct ViommuIotlbStats {
    uint64_t inserts;
    uint64_t evictions;
    uint64_t invalidated;
} ViommuIotlbStats;

typedef struct ViommuIotlbLinks ViommuIotlbLinks;
typedef struct ViommuIotlbContext ViommuIotlbContext;

typedef struct ViommuIotlb {
    ViommuIotlbEntry *slots;
    ViommuIotlbLinks *links;    /* per slot: its places in the trees */
    uint32_t capacity;
    uint32_t used;
    uint32_t never_used;        /* slots from here on were never taken */
    uint32_t free_head;         /* freed slots, chained through hash_next */
    uint32_t clock_hand;
    uint32_t *buckets;
    uint32_t bucket_mask;
    unsigned bucket_bits;       /* log2 of the number of buckets */
    uint64_t hash_key[2];       /* the chains' secret */
    uint64_t group_mask;
    GHashTable *contexts;       /* tag -> ViommuIotlbContext */
    GHashTable *groups;         /* tag -> ViommuIotlbGroup */
    IntervalTreeRoot group_tags; /* the groups, ordered by tag */
    ViommuIotlbContext *last_context;
    void *free_runs[2];         /* emptied runs, kept for reuse */
    ViommuIotlbStats stats;
} ViommuIotlb;

/* A bit per block size a lookup should try: 1ull << size_shift */
#define VIOMMU_IOTLB_SIZE(shift)    (1ull << (shift))

/*
 * A cache of @capacity entries (at least 1) whose contexts group by the
 * bits of @group_mask
 */
void viommu_iotlb_init(ViommuIotlb *tlb, uint32_t capacity,
                       uint64_t group_mask);
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
                                      uint16_t flags, bool global);

/* Remove every entry; the statistics stay.  O(entries) */
void viommu_iotlb_flush(ViommuIotlb *tlb);

/*
 * The invalidations; each returns how many entries it removed.  A range
 * is [@start, @start + @size), @size > 0, and stops at 2^64.
 */

/* Every entry of @context */
uint32_t viommu_iotlb_invalidate_context(ViommuIotlb *tlb, uint64_t context);

/* The entries of @context overlapping the range */
uint32_t viommu_iotlb_invalidate_range(ViommuIotlb *tlb, uint64_t context,
                                       uint64_t start, uint64_t size);

/*
 * The entries of any context of group @group overlapping the range: all
 * of them, or only the global ones
 */
uint32_t viommu_iotlb_invalidate_group_range(ViommuIotlb *tlb,
                                             uint64_t group, uint64_t start,
                                             uint64_t size, bool global_only);

/* Every entry of the groups whose tag lies in [@first, @last] */
uint32_t viommu_iotlb_invalidate_groups(ViommuIotlb *tlb, uint64_t first,
                                        uint64_t last);

#endif /* HW_IOMMU_VIOMMU_IOTLB_H */
