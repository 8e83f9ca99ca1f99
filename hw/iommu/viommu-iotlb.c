/*
 * A translation cache shared by the fork's vIOMMU models; see
 * include/hw/iommu/viommu-iotlb.h.
 *
 * Slots live in one array allocated at init.  A slot is on one hash chain
 * (by context, block address and block size), and on the doubly linked
 * list of its context, so that a context can be emptied without looking
 * at anything else.  Free slots are chained through hash_next.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "hw/iommu/viommu-iotlb.h"

#define NONE    VIOMMU_IOTLB_NONE

typedef struct ViommuIotlbContext {
    uint64_t tag;           /* first: the hash table's key points here */
    uint32_t head;
    uint32_t count;
    uint64_t size_mask;     /* block sizes ever cached in this context */
} ViommuIotlbContext;

/*
 * Neighbouring blocks of one context land in neighbouring buckets, so
 * that a DMA stream over consecutive pages shares cache lines of the
 * bucket array instead of missing once per page.  The bits above the
 * bucket index are folded in, so that blocks a power-of-two stride apart
 * do not all meet in one chain; the context and the block size pick
 * where a context's run of buckets starts.
 */
static inline uint32_t iotlb_hash(const ViommuIotlb *tlb, uint64_t context,
                                  uint64_t iova, unsigned shift)
{
    uint64_t n = iova >> shift;
    uint64_t base = (context + shift) * 0x9e3779b97f4a7c15ull;

    n ^= (n >> tlb->bucket_bits) ^ (n >> (2 * tlb->bucket_bits));
    return (uint32_t)(n + (base >> 32)) & tlb->bucket_mask;
}

void viommu_iotlb_init(ViommuIotlb *tlb, uint32_t capacity)
{
    uint32_t nbuckets;

    capacity = MAX(capacity, 1);
    nbuckets = pow2ceil(MAX(capacity, 8) * 2);

    memset(tlb, 0, sizeof(*tlb));
    tlb->capacity = capacity;
    tlb->slots = g_new0(ViommuIotlbEntry, capacity);
    tlb->buckets = g_new(uint32_t, nbuckets);
    tlb->bucket_mask = nbuckets - 1;
    tlb->bucket_bits = ctz32(nbuckets);
    tlb->contexts = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                          NULL, g_free);
    viommu_iotlb_flush(tlb);
}

void viommu_iotlb_destroy(ViommuIotlb *tlb)
{
    g_hash_table_destroy(tlb->contexts);
    g_free(tlb->buckets);
    g_free(tlb->slots);
    memset(tlb, 0, sizeof(*tlb));
}

void viommu_iotlb_flush(ViommuIotlb *tlb)
{
    for (uint32_t i = 0; i < tlb->capacity; i++) {
        tlb->slots[i].size_shift = 0;
        tlb->slots[i].hash_next = i + 1 < tlb->capacity ? i + 1 : NONE;
    }
    for (uint32_t b = 0; b <= tlb->bucket_mask; b++) {
        tlb->buckets[b] = NONE;
    }
    tlb->stats.invalidated += tlb->used;
    tlb->used = 0;
    tlb->free_head = 0;
    tlb->clock_hand = 0;
    tlb->last_context = NULL;
    g_hash_table_remove_all(tlb->contexts);
}

/* The slot holding exactly this block, or NONE */
static inline uint32_t iotlb_find(const ViommuIotlb *tlb, uint64_t context,
                                  uint64_t block, unsigned shift)
{
    uint32_t i = tlb->buckets[iotlb_hash(tlb, context, block, shift)];

    while (i != NONE) {
        const ViommuIotlbEntry *e = &tlb->slots[i];

        if (e->iova == block && e->context == context &&
            e->size_shift == shift) {
            break;
        }
        i = e->hash_next;
    }
    return i;
}

ViommuIotlbEntry *viommu_iotlb_lookup(ViommuIotlb *tlb, uint64_t context,
                                      uint64_t iova, uint64_t size_mask)
{
    while (size_mask) {
        unsigned shift = ctz64(size_mask);
        uint32_t i = iotlb_find(tlb, context, iova & ~((1ull << shift) - 1),
                                shift);

        if (i != NONE) {
            tlb->slots[i].referenced = true;
            tlb->stats.hits++;
            return &tlb->slots[i];
        }
        size_mask &= size_mask - 1;
    }
    tlb->stats.misses++;
    return NULL;
}

/*
 * The record of context @tag, or NULL.  Misses and evictions come in runs
 * within one context, so the last record found answers most of them
 * without hashing.
 */
static ViommuIotlbContext *iotlb_context(ViommuIotlb *tlb, uint64_t tag)
{
    ViommuIotlbContext *ctx = tlb->last_context;

    if (!ctx || ctx->tag != tag) {
        ctx = g_hash_table_lookup(tlb->contexts, &tag);
        tlb->last_context = ctx;
    }
    return ctx;
}

/* Forget a context record; it is freed */
static void iotlb_drop_context(ViommuIotlb *tlb, ViommuIotlbContext *ctx)
{
    if (tlb->last_context == ctx) {
        tlb->last_context = NULL;
    }
    g_hash_table_remove(tlb->contexts, &ctx->tag);
}

/* Take slot @i off its hash chain and its context's list, and free it */
static void iotlb_remove(ViommuIotlb *tlb, uint32_t i, ViommuIotlbContext *ctx)
{
    ViommuIotlbEntry *e = &tlb->slots[i];
    uint32_t *link = &tlb->buckets[iotlb_hash(tlb, e->context, e->iova,
                                              e->size_shift)];

    while (*link != i) {
        g_assert(*link != NONE);
        link = &tlb->slots[*link].hash_next;
    }
    *link = e->hash_next;

    if (e->ctx_prev != NONE) {
        tlb->slots[e->ctx_prev].ctx_next = e->ctx_next;
    } else {
        ctx->head = e->ctx_next;
    }
    if (e->ctx_next != NONE) {
        tlb->slots[e->ctx_next].ctx_prev = e->ctx_prev;
    }
    ctx->count--;

    e->size_shift = 0;
    e->hash_next = tlb->free_head;
    tlb->free_head = i;
    tlb->used--;
}

/* Remove slot @i; drop its context record once it is empty */
static void iotlb_remove_and_tidy(ViommuIotlb *tlb, uint32_t i)
{
    ViommuIotlbContext *ctx = iotlb_context(tlb, tlb->slots[i].context);

    iotlb_remove(tlb, i, ctx);
    if (!ctx->count) {
        iotlb_drop_context(tlb, ctx);
    }
}

/* Second chance: pass over referenced slots once, take the first other */
static uint32_t iotlb_evict(ViommuIotlb *tlb)
{
    for (;;) {
        uint32_t i = tlb->clock_hand;
        ViommuIotlbEntry *e = &tlb->slots[i];

        tlb->clock_hand = i + 1 < tlb->capacity ? i + 1 : 0;
        if (e->referenced) {
            e->referenced = false;
            continue;
        }
        tlb->stats.evictions++;
        iotlb_remove_and_tidy(tlb, i);
        return i;
    }
}

ViommuIotlbEntry *viommu_iotlb_insert(ViommuIotlb *tlb, uint64_t context,
                                      uint64_t iova, unsigned size_shift,
                                      uint64_t out, uint16_t perm,
                                      uint16_t flags)
{
    uint64_t block = iova & ~((1ull << size_shift) - 1);
    ViommuIotlbContext *ctx;
    ViommuIotlbEntry *e;
    uint32_t i, *bucket;

    g_assert(size_shift >= 12 && size_shift <= 63);
    tlb->stats.inserts++;
    i = iotlb_find(tlb, context, block, size_shift);
    if (i != NONE) {
        /* The same block again: a rewalk after a change, keep one entry */
        e = &tlb->slots[i];
        e->out = out & ~((1ull << size_shift) - 1);
        e->perm = perm;
        e->flags = flags;
        e->referenced = true;
        return e;
    }

    if (tlb->free_head == NONE) {
        iotlb_evict(tlb);
    }
    i = tlb->free_head;
    e = &tlb->slots[i];
    tlb->free_head = e->hash_next;
    tlb->used++;

    ctx = iotlb_context(tlb, context);
    if (!ctx) {
        ctx = g_new0(ViommuIotlbContext, 1);
        ctx->tag = context;
        ctx->head = NONE;
        g_hash_table_insert(tlb->contexts, &ctx->tag, ctx);
        tlb->last_context = ctx;
    }

    *e = (ViommuIotlbEntry) {
        .context = context,
        .iova = block,
        .out = out & ~((1ull << size_shift) - 1),
        .perm = perm,
        .flags = flags,
        .size_shift = size_shift,
        .referenced = true,
        .ctx_prev = NONE,
        .ctx_next = ctx->head,
    };
    if (ctx->head != NONE) {
        tlb->slots[ctx->head].ctx_prev = i;
    }
    ctx->head = i;
    ctx->count++;
    ctx->size_mask |= VIOMMU_IOTLB_SIZE(size_shift);

    bucket = &tlb->buckets[iotlb_hash(tlb, context, block, size_shift)];
    e->hash_next = *bucket;
    *bucket = i;
    return e;
}

/* Remove every entry of @ctx that @keep does not keep, by walking its list */
static uint32_t iotlb_prune_context(ViommuIotlb *tlb, ViommuIotlbContext *ctx,
                                    uint64_t start, uint64_t last,
                                    uint16_t flags_mask, uint16_t flags_match)
{
    uint32_t removed = 0, i = ctx->head;

    while (i != NONE) {
        ViommuIotlbEntry *e = &tlb->slots[i];
        uint32_t next = e->ctx_next;
        uint64_t e_last = e->iova + ((1ull << e->size_shift) - 1);

        if (e->iova <= last && e_last >= start &&
            (e->flags & flags_mask) == flags_match) {
            iotlb_remove(tlb, i, ctx);
            removed++;
        }
        i = next;
    }
    return removed;
}

/*
 * Remove the entries of @ctx overlapping [start, last] by looking each
 * block up, when that is fewer probes than walking the context's list.
 */
static uint32_t iotlb_invalidate_in_context(ViommuIotlb *tlb,
                                            ViommuIotlbContext *ctx,
                                            uint64_t start, uint64_t last,
                                            uint16_t flags_mask,
                                            uint16_t flags_match)
{
    uint64_t probes = 0, sizes = ctx->size_mask;
    uint32_t removed = 0;

    for (uint64_t m = sizes; m; m &= m - 1) {
        unsigned shift = ctz64(m);

        probes += ((last >> shift) - (start >> shift)) + 1;
        if (probes >= ctx->count) {
            return iotlb_prune_context(tlb, ctx, start, last, flags_mask,
                                       flags_match);
        }
    }

    for (; sizes; sizes &= sizes - 1) {
        unsigned shift = ctz64(sizes);
        uint64_t block = start & ~((1ull << shift) - 1);

        for (;;) {
            uint32_t i = iotlb_find(tlb, ctx->tag, block, shift);

            if (i != NONE &&
                (tlb->slots[i].flags & flags_mask) == flags_match) {
                iotlb_remove(tlb, i, ctx);
                removed++;
            }
            if (last - block < (1ull << shift)) {
                break;      /* also stops before block wraps past 2^64 */
            }
            block += 1ull << shift;
        }
    }
    return removed;
}

/* Apply @fn to every context with (tag & mask) == match */
static uint32_t iotlb_for_contexts(ViommuIotlb *tlb, uint64_t mask,
                                   uint64_t match, uint64_t start,
                                   uint64_t last, uint16_t flags_mask,
                                   uint16_t flags_match, bool whole)
{
    GHashTableIter iter;
    ViommuIotlbContext *ctx;
    uint32_t removed = 0;

    g_hash_table_iter_init(&iter, tlb->contexts);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&ctx)) {
        if ((ctx->tag & mask) != match) {
            continue;
        }
        if (whole) {
            removed += iotlb_prune_context(tlb, ctx, 0, UINT64_MAX, 0, 0);
        } else {
            removed += iotlb_invalidate_in_context(tlb, ctx, start, last,
                                                   flags_mask, flags_match);
        }
        if (!ctx->count) {
            if (tlb->last_context == ctx) {
                tlb->last_context = NULL;
            }
            g_hash_table_iter_remove(&iter);
        }
    }
    return removed;
}

uint32_t viommu_iotlb_invalidate_context(ViommuIotlb *tlb, uint64_t context)
{
    ViommuIotlbContext *ctx = iotlb_context(tlb, context);
    uint32_t removed;

    if (!ctx) {
        return 0;
    }
    removed = iotlb_prune_context(tlb, ctx, 0, UINT64_MAX, 0, 0);
    iotlb_drop_context(tlb, ctx);
    tlb->stats.invalidated += removed;
    return removed;
}

uint32_t viommu_iotlb_invalidate_contexts(ViommuIotlb *tlb, uint64_t mask,
                                          uint64_t match)
{
    uint32_t removed = iotlb_for_contexts(tlb, mask, match, 0, UINT64_MAX,
                                          0, 0, true);

    tlb->stats.invalidated += removed;
    return removed;
}

uint32_t viommu_iotlb_invalidate_range(ViommuIotlb *tlb, uint64_t mask,
                                       uint64_t match, uint64_t start,
                                       uint64_t size, uint16_t flags_mask,
                                       uint16_t flags_match)
{
    uint64_t last = start + size - 1;
    uint32_t removed;

    if (!size) {
        return 0;
    }
    if (last < start) {
        last = UINT64_MAX;
    }
    removed = iotlb_for_contexts(tlb, mask, match, start, last, flags_mask,
                                 flags_match, false);
    tlb->stats.invalidated += removed;
    return removed;
}
