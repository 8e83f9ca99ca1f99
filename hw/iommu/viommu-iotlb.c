/*
 * A translation cache shared by the fork's vIOMMU models; see
 * include/hw/iommu/viommu-iotlb.h.
 *
 * Slots live in one array allocated at init; what only writers need lives
 * in a parallel array, so that a lookup touches one 40-byte slot.  A slot
 * is on one hash chain (by context, block address and block size); freed
 * slots are chained through hash_next; slots never used yet are those
 * from never_used on, so that a large cache costs memory only as it fills.
 *
 * The ordered indexes that invalidations search hold runs, not entries: a
 * run is 2^RUN_BITS consecutive, aligned blocks of one size.  Each context
 * keeps its runs in an interval tree, with a bit per block it has cached;
 * each group keeps the runs of all its contexts' entries (and, apart, of
 * its global ones), with a list per block of the entries cached there.
 * An invalidation visits the runs it overlaps and, in each, only the
 * blocks it covers that are cached: what it removes, plus at most two
 * runs per block size at the ends of its range.  A DMA stream fills runs
 * one block after another, so most inserts and evictions only flip a bit
 * and link a list, and a tree changes once per run.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/bitops.h"
#include "qemu/host-utils.h"
#include "qemu/queue.h"
#include "hw/iommu/viommu-iotlb.h"

#define NONE    VIOMMU_IOTLB_NONE

/* Blocks hash, and are indexed, in runs of this many consecutive ones */
#define RUN_BITS    4
#define RUN_BLOCKS  (1u << RUN_BITS)

/* A context's run: which of its blocks the context has cached */
typedef struct IotlbRun {
    IntervalTreeNode node;          /* the bytes the run spans */
    uint16_t mask;
    uint8_t shift;                  /* the block size */
} IotlbRun;

/* A group's run: the entries of all its contexts, per block */
typedef struct IotlbGroupRun {
    IotlbRun run;                   /* mask: the blocks with entries */
    uint32_t heads[RUN_BLOCKS];     /* lists through ViommuIotlbLinks */
} IotlbGroupRun;

struct ViommuIotlbLinks {
    ViommuIotlbContext *ctx;
    IotlbRun *run;
    IotlbGroupRun *grun;
    uint32_t gprev, gnext;          /* the entries of the same group block */
};

typedef struct ViommuIotlbGroup {
    uint64_t tag;               /* first: the hash table's key points here */
    IntervalTreeRoot runs[2];   /* [global]: the entries, the global ones */
    IotlbGroupRun *last_run[2]; /* where the last insert went */
    IntervalTreeNode by_tag;    /* in ViommuIotlb.group_tags */
    QLIST_HEAD(, ViommuIotlbContext) contexts;
} ViommuIotlbGroup;

struct ViommuIotlbContext {
    uint64_t tag;               /* first: the hash table's key points here */
    IntervalTreeRoot runs;
    IotlbRun *last_run;         /* where the last insert went */
    uint32_t count;
    ViommuIotlbGroup *group;
    QLIST_ENTRY(ViommuIotlbContext) in_group;
};

/*
 * The bucket of a block.  A run of 2^RUN_BITS consecutive blocks of one
 * context and size takes consecutive buckets, so that a DMA stream over
 * consecutive pages shares cache lines of the bucket array; where a run
 * goes is a multiply-shift hash keyed by the cache's secret, so a guest
 * that knows neither key cannot choose addresses or contexts that meet in
 * one chain.
 */
static inline uint32_t iotlb_hash(const ViommuIotlb *tlb, uint64_t context,
                                  uint64_t block, unsigned shift)
{
    uint64_t n = block >> shift;
    uint64_t ctx = (context ^ ((uint64_t)shift << 58)) * tlb->hash_key[1];
    uint64_t h = ((n >> RUN_BITS) ^ ctx) * tlb->hash_key[0];

    return ((uint32_t)(h >> (64 - tlb->bucket_bits)) +
            (uint32_t)(n & (RUN_BLOCKS - 1))) & tlb->bucket_mask;
}

/* ---- runs ---- */

/* The bits a run of blocks of 2^@shift bytes spans */
static inline unsigned run_span(unsigned shift)
{
    return MIN(shift + RUN_BITS, 64);
}

static inline uint64_t run_start(uint64_t block, unsigned shift)
{
    return run_span(shift) == 64 ? 0 :
           block & ~MAKE_64BIT_MASK(0, run_span(shift));
}

static inline unsigned run_bit(const IotlbRun *r, uint64_t block)
{
    return (block - r->node.start) >> r->shift;
}

static void run_init(IotlbRun *r, uint64_t block, unsigned shift)
{
    r->shift = shift;
    r->node.start = run_start(block, shift);
    r->node.last = r->node.start + MAKE_64BIT_MASK(0, run_span(shift));
}

/* The bits of @r's blocks that overlap [start, last] */
static uint16_t run_bits_in(const IotlbRun *r, uint64_t start, uint64_t last)
{
    uint64_t lo = MAX(start, r->node.start), hi = MIN(last, r->node.last);
    unsigned first = (lo - r->node.start) >> r->shift;
    unsigned end = (hi - r->node.start) >> r->shift;

    return MAKE_64BIT_MASK(first, end - first + 1);
}

/*
 * The run of @tree with blocks of 2^@shift bytes that holds @block, or
 * NULL.  Runs of one size do not overlap, so at most one per size holds it.
 */
static IotlbRun *run_find(IntervalTreeRoot *tree, uint64_t block,
                          unsigned shift)
{
    IntervalTreeNode *n = interval_tree_iter_first(tree, block, block);

    while (n) {
        IotlbRun *r = container_of(n, IotlbRun, node);

        if (r->shift == shift) {
            return r;
        }
        n = interval_tree_iter_next(n, block, block);
    }
    return NULL;
}

static inline bool run_holds(const IotlbRun *r, uint64_t block,
                             unsigned shift)
{
    return r && r->shift == shift && block >= r->node.start &&
           block <= r->node.last;
}

/*
 * Runs come and go as streams move on: emptied ones are kept on a free
 * list, [0] a context's, [1] a group's, and reused, so that a run that
 * an invalidation empties and the next DMA refills costs no allocation
 */
typedef struct IotlbFreeRun {
    struct IotlbFreeRun *next;
} IotlbFreeRun;

static void *run_alloc(ViommuIotlb *tlb, bool group)
{
    IotlbFreeRun *f = tlb->free_runs[group];

    if (!f) {
        return group ? (void *)g_new(IotlbGroupRun, 1) :
                       (void *)g_new(IotlbRun, 1);
    }
    tlb->free_runs[group] = f->next;
    return f;
}

static void run_free(ViommuIotlb *tlb, bool group, void *run)
{
    IotlbFreeRun *f = run;

    f->next = tlb->free_runs[group];
    tlb->free_runs[group] = f;
}

/* ---- the cache ---- */

void viommu_iotlb_init(ViommuIotlb *tlb, uint32_t capacity,
                       uint64_t group_mask)
{
    uint32_t nbuckets;

    capacity = MAX(capacity, 1);
    nbuckets = pow2ceil(MAX(capacity, 1u << RUN_BITS) * 2);

    memset(tlb, 0, sizeof(*tlb));
    tlb->capacity = capacity;
    tlb->slots = g_new0(ViommuIotlbEntry, capacity);
    tlb->links = g_new0(ViommuIotlbLinks, capacity);
    tlb->buckets = g_new(uint32_t, nbuckets);
    memset(tlb->buckets, 0xff, nbuckets * sizeof(uint32_t));
    tlb->bucket_mask = nbuckets - 1;
    tlb->bucket_bits = ctz32(nbuckets);
    tlb->free_head = NONE;
    /* Odd multipliers, as multiply-shift hashing wants */
    for (int i = 0; i < 2; i++) {
        tlb->hash_key[i] = ((uint64_t)g_random_int() << 32 |
                            g_random_int()) | 1;
    }
    tlb->group_mask = group_mask;
    tlb->contexts = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                          NULL, g_free);
    tlb->groups = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                        NULL, g_free);
}

void viommu_iotlb_destroy(ViommuIotlb *tlb)
{
    viommu_iotlb_flush(tlb);
    for (int i = 0; i < 2; i++) {
        while (tlb->free_runs[i]) {
            IotlbFreeRun *f = tlb->free_runs[i];

            tlb->free_runs[i] = f->next;
            g_free(f);
        }
    }
    g_hash_table_destroy(tlb->contexts);
    g_hash_table_destroy(tlb->groups);
    g_free(tlb->buckets);
    g_free(tlb->links);
    g_free(tlb->slots);
    memset(tlb, 0, sizeof(*tlb));
}

ViommuIotlbEntry *viommu_iotlb_lookup(ViommuIotlb *tlb, uint64_t context,
                                      uint64_t iova, uint64_t size_mask)
{
    while (size_mask) {
        unsigned shift = ctz64(size_mask);
        uint64_t block = iova & ~((1ull << shift) - 1);
        uint32_t i = tlb->buckets[iotlb_hash(tlb, context, block, shift)];

        /*
         * While another thread changes the cache a chain may be seen mid
         * change; no chain is longer than the cache, so stop there
         */
        for (uint32_t left = tlb->capacity; i != NONE && left; left--) {
            ViommuIotlbEntry *e = &tlb->slots[i];

            if (e->iova == block && e->context == context &&
                e->size_shift == shift) {
                if (!e->referenced) {
                    qatomic_set(&e->referenced, true);
                }
                return e;
            }
            i = qatomic_read(&e->hash_next);
        }
        size_mask &= size_mask - 1;
    }
    return NULL;
}

/* The slot holding exactly this block, or NONE (writers only) */
static uint32_t iotlb_find(const ViommuIotlb *tlb, uint64_t context,
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

/* Take slot @i off its hash chain, and free it */
static void iotlb_release(ViommuIotlb *tlb, uint32_t i)
{
    ViommuIotlbEntry *e = &tlb->slots[i];
    uint32_t *link = &tlb->buckets[iotlb_hash(tlb, e->context, e->iova,
                                              e->size_shift)];

    while (*link != i) {
        g_assert(*link != NONE);
        link = &tlb->slots[*link].hash_next;
    }
    qatomic_set(link, e->hash_next);
    qatomic_set(&e->size_shift, 0);
    e->hash_next = tlb->free_head;
    tlb->free_head = i;
    tlb->used--;
    tlb->stats.invalidated++;
}

static ViommuIotlbGroup *iotlb_group(ViommuIotlb *tlb, uint64_t tag)
{
    return g_hash_table_lookup(tlb->groups, &tag);
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

static ViommuIotlbContext *iotlb_new_context(ViommuIotlb *tlb, uint64_t tag)
{
    uint64_t gtag = tag & tlb->group_mask;
    ViommuIotlbGroup *g = iotlb_group(tlb, gtag);
    ViommuIotlbContext *ctx;

    if (!g) {
        g = g_new0(ViommuIotlbGroup, 1);
        g->tag = gtag;
        g->by_tag.start = g->by_tag.last = gtag;
        QLIST_INIT(&g->contexts);
        g_hash_table_insert(tlb->groups, &g->tag, g);
        interval_tree_insert(&g->by_tag, &tlb->group_tags);
    }
    ctx = g_new0(ViommuIotlbContext, 1);
    ctx->tag = tag;
    ctx->group = g;
    QLIST_INSERT_HEAD(&g->contexts, ctx, in_group);
    g_hash_table_insert(tlb->contexts, &ctx->tag, ctx);
    tlb->last_context = ctx;
    return ctx;
}

/*
 * Forget an empty context (its runs are gone with its entries), and its
 * group with it if that is empty too
 */
static void iotlb_drop_context(ViommuIotlb *tlb, ViommuIotlbContext *ctx)
{
    ViommuIotlbGroup *g = ctx->group;

    if (tlb->last_context == ctx) {
        tlb->last_context = NULL;
    }
    QLIST_REMOVE(ctx, in_group);
    g_hash_table_remove(tlb->contexts, &ctx->tag);
    if (QLIST_EMPTY(&g->contexts)) {
        interval_tree_remove(&g->by_tag, &tlb->group_tags);
        g_hash_table_remove(tlb->groups, &g->tag);
    }
}

/* Whether removing slot @i drops its group (and context) record */
static bool iotlb_last_of_group(ViommuIotlb *tlb, uint32_t i)
{
    ViommuIotlbContext *ctx = tlb->links[i].ctx;

    return ctx->count == 1 && QLIST_FIRST(&ctx->group->contexts) == ctx &&
           !QLIST_NEXT(ctx, in_group);
}

/* Enter slot @i, just filled, in its context's and its group's runs */
static void iotlb_index(ViommuIotlb *tlb, uint32_t i, ViommuIotlbContext *ctx)
{
    const ViommuIotlbEntry *e = &tlb->slots[i];
    ViommuIotlbGroup *g = ctx->group;
    ViommuIotlbLinks *l = &tlb->links[i];
    IotlbGroupRun **gcache = &g->last_run[e->global];
    IotlbGroupRun *grun = *gcache;
    IotlbRun *run = ctx->last_run;
    unsigned bit;

    if (!run_holds(run, e->iova, e->size_shift)) {
        run = run_find(&ctx->runs, e->iova, e->size_shift);
        if (!run) {
            run = run_alloc(tlb, false);
            *run = (IotlbRun) { 0 };
            run_init(run, e->iova, e->size_shift);
            interval_tree_insert(&run->node, &ctx->runs);
        }
        ctx->last_run = run;
    }
    bit = run_bit(run, e->iova);
    run->mask |= 1u << bit;

    if (!grun || !run_holds(&grun->run, e->iova, e->size_shift)) {
        IotlbRun *r = run_find(&g->runs[e->global], e->iova, e->size_shift);

        grun = r ? container_of(r, IotlbGroupRun, run) : NULL;
        if (!grun) {
            grun = run_alloc(tlb, true);
            grun->run = (IotlbRun) { 0 };
            run_init(&grun->run, e->iova, e->size_shift);
            memset(grun->heads, 0xff, sizeof(grun->heads));
            interval_tree_insert(&grun->run.node, &g->runs[e->global]);
        }
        *gcache = grun;
    }
    grun->run.mask |= 1u << bit;
    l->ctx = ctx;
    l->run = run;
    l->grun = grun;
    l->gprev = NONE;
    l->gnext = grun->heads[bit];
    if (l->gnext != NONE) {
        tlb->links[l->gnext].gprev = i;
    }
    grun->heads[bit] = i;
    ctx->count++;
}

/* Take slot @i out of its runs, freeing those it leaves empty */
static void iotlb_unindex(ViommuIotlb *tlb, uint32_t i)
{
    const ViommuIotlbEntry *e = &tlb->slots[i];
    ViommuIotlbLinks *l = &tlb->links[i];
    ViommuIotlbContext *ctx = l->ctx;
    ViommuIotlbGroup *g = ctx->group;
    IotlbGroupRun *grun = l->grun;
    IotlbRun *run = l->run;
    unsigned bit = run_bit(run, e->iova);

    run->mask &= ~(1u << bit);
    if (!run->mask) {
        interval_tree_remove(&run->node, &ctx->runs);
        if (ctx->last_run == run) {
            ctx->last_run = NULL;
        }
        run_free(tlb, false, run);
    }

    if (l->gprev != NONE) {
        tlb->links[l->gprev].gnext = l->gnext;
    } else {
        grun->heads[bit] = l->gnext;
    }
    if (l->gnext != NONE) {
        tlb->links[l->gnext].gprev = l->gprev;
    }
    if (grun->heads[bit] == NONE) {
        grun->run.mask &= ~(1u << bit);
        if (!grun->run.mask) {
            interval_tree_remove(&grun->run.node, &g->runs[e->global]);
            if (g->last_run[e->global] == grun) {
                g->last_run[e->global] = NULL;
            }
            run_free(tlb, true, grun);
        }
    }
    l->ctx = NULL;
    ctx->count--;
}

/* Remove slot @i from everything; drop its context once that is empty */
static void iotlb_remove(ViommuIotlb *tlb, uint32_t i)
{
    ViommuIotlbContext *ctx = tlb->links[i].ctx;

    iotlb_unindex(tlb, i);
    iotlb_release(tlb, i);
    if (!ctx->count) {
        iotlb_drop_context(tlb, ctx);
    }
}

/* Every entry of @ctx, and the record.  O(entries + runs) */
static uint32_t iotlb_empty_context(ViommuIotlb *tlb, ViommuIotlbContext *ctx)
{
    uint32_t removed = ctx->count;
    IntervalTreeNode *n;

    while ((n = interval_tree_iter_first(&ctx->runs, 0, UINT64_MAX))) {
        IotlbRun *run = container_of(n, IotlbRun, node);
        uint64_t start = run->node.start;
        unsigned shift = run->shift;
        uint16_t mask = run->mask;

        /* The last block's removal frees the run */
        while (mask) {
            unsigned bit = ctz32(mask);
            uint64_t block = start + ((uint64_t)bit << shift);
            uint32_t i = iotlb_find(tlb, ctx->tag, block, shift);

            mask &= mask - 1;
            g_assert(i != NONE);
            iotlb_unindex(tlb, i);
            iotlb_release(tlb, i);
        }
    }
    iotlb_drop_context(tlb, ctx);
    return removed;
}

static uint32_t iotlb_empty_group(ViommuIotlb *tlb, ViommuIotlbGroup *g)
{
    ViommuIotlbContext *ctx, *next;
    uint32_t removed = 0;

    /* The last context's drop frees the group: never look at it again */
    QLIST_FOREACH_SAFE(ctx, &g->contexts, in_group, next) {
        removed += iotlb_empty_context(tlb, ctx);
    }
    return removed;
}

/* Second chance: pass over referenced slots once, take the first other */
static void iotlb_evict(ViommuIotlb *tlb)
{
    for (;;) {
        uint32_t i = tlb->clock_hand;
        ViommuIotlbEntry *e = &tlb->slots[i];

        tlb->clock_hand = i + 1 < tlb->capacity ? i + 1 : 0;
        if (e->referenced) {
            qatomic_set(&e->referenced, false);
            continue;
        }
        tlb->stats.evictions++;
        tlb->stats.invalidated--;       /* counted by the removal */
        iotlb_remove(tlb, i);
        return;
    }
}

/* A free slot, evicting one if there is none */
static uint32_t iotlb_take_slot(ViommuIotlb *tlb)
{
    uint32_t i;

    if (tlb->free_head == NONE && tlb->never_used == tlb->capacity) {
        iotlb_evict(tlb);
    }
    if (tlb->free_head != NONE) {
        i = tlb->free_head;
        tlb->free_head = tlb->slots[i].hash_next;
    } else {
        i = tlb->never_used++;
    }
    tlb->used++;
    return i;
}

ViommuIotlbEntry *viommu_iotlb_insert(ViommuIotlb *tlb, uint64_t context,
                                      uint64_t iova, unsigned size_shift,
                                      uint64_t out, uint16_t perm,
                                      uint16_t flags, bool global)
{
    uint64_t block = iova & ~((1ull << size_shift) - 1);
    ViommuIotlbContext *ctx;
    ViommuIotlbEntry *e;
    uint32_t i, *bucket;

    g_assert(size_shift >= 12 && size_shift <= 63);
    tlb->stats.inserts++;
    i = iotlb_find(tlb, context, block, size_shift);
    if (i != NONE && tlb->slots[i].global == global) {
        /* The same block again: a rewalk after a change, keep one entry */
        e = &tlb->slots[i];
        e->out = out & ~((1ull << size_shift) - 1);
        e->perm = perm;
        e->flags = flags;
        e->referenced = true;
        return e;
    }
    if (i != NONE) {
        iotlb_remove(tlb, i);
        tlb->stats.invalidated--;
    }

    /* Evict first: that may drop the context record this one needs */
    i = iotlb_take_slot(tlb);
    ctx = iotlb_context(tlb, context);
    if (!ctx) {
        ctx = iotlb_new_context(tlb, context);
    }

    e = &tlb->slots[i];
    e->context = context;
    e->iova = block;
    e->out = out & ~((1ull << size_shift) - 1);
    e->perm = perm;
    e->flags = flags;
    e->referenced = true;
    e->global = global;
    bucket = &tlb->buckets[iotlb_hash(tlb, context, block, size_shift)];
    e->hash_next = *bucket;
    /* Complete before a lookup can reach it */
    qatomic_set(&e->size_shift, size_shift);
    qatomic_store_release(bucket, i);
    iotlb_index(tlb, i, ctx);
    return e;
}

void viommu_iotlb_flush(ViommuIotlb *tlb)
{
    IntervalTreeNode *n;

    while ((n = interval_tree_iter_first(&tlb->group_tags, 0, UINT64_MAX))) {
        iotlb_empty_group(tlb, container_of(n, ViommuIotlbGroup, by_tag));
    }
}

/* The last byte of a range, stopping at 2^64 */
static uint64_t range_last(uint64_t start, uint64_t size)
{
    uint64_t last = start + size - 1;

    return last < start ? UINT64_MAX : last;
}

uint32_t viommu_iotlb_invalidate_context(ViommuIotlb *tlb, uint64_t context)
{
    ViommuIotlbContext *ctx = iotlb_context(tlb, context);

    return ctx ? iotlb_empty_context(tlb, ctx) : 0;
}

uint32_t viommu_iotlb_invalidate_range(ViommuIotlb *tlb, uint64_t context,
                                       uint64_t start, uint64_t size)
{
    ViommuIotlbContext *ctx = iotlb_context(tlb, context);
    uint64_t last = range_last(start, size);
    uint32_t removed = 0;
    IntervalTreeNode *n;

    if (!size || !ctx) {
        return 0;
    }
    n = interval_tree_iter_first(&ctx->runs, start, last);
    while (n) {
        IntervalTreeNode *next = interval_tree_iter_next(n, start, last);
        IotlbRun *run = container_of(n, IotlbRun, node);
        uint64_t base = run->node.start;
        unsigned shift = run->shift;
        uint16_t mask = run->mask & run_bits_in(run, start, last);

        /* The run may go with its last block, the context with its last */
        while (mask) {
            unsigned bit = ctz32(mask);
            uint32_t i = iotlb_find(tlb, context,
                                    base + ((uint64_t)bit << shift), shift);
            bool last_one = ctx->count == 1;

            mask &= mask - 1;
            iotlb_remove(tlb, i);
            removed++;
            if (last_one) {
                return removed;
            }
        }
        n = next;
    }
    return removed;
}

/* Remove the entries of @g's runs (or global runs) overlapping the range */
static uint32_t iotlb_prune_group(ViommuIotlb *tlb, ViommuIotlbGroup *g,
                                  bool global, uint64_t start, uint64_t last,
                                  bool *group_gone)
{
    IntervalTreeNode *n = interval_tree_iter_first(&g->runs[global], start,
                                                   last);
    uint32_t removed = 0;

    while (n) {
        IntervalTreeNode *next = interval_tree_iter_next(n, start, last);
        IotlbGroupRun *grun = container_of(n, IotlbGroupRun, run.node);
        uint16_t mask = grun->run.mask & run_bits_in(&grun->run, start, last);

        /* Every entry of each block; the run goes with its last */
        while (mask) {
            unsigned bit = ctz32(mask);
            bool list_done;

            mask &= mask - 1;
            do {
                uint32_t i = grun->heads[bit];
                bool run_gone = grun->run.mask == 1u << bit &&
                                tlb->links[i].gnext == NONE;

                list_done = tlb->links[i].gnext == NONE;
                if (iotlb_last_of_group(tlb, i)) {
                    iotlb_remove(tlb, i);
                    *group_gone = true;
                    return removed + 1;
                }
                iotlb_remove(tlb, i);
                removed++;
                if (run_gone) {
                    mask = 0;
                    break;
                }
            } while (!list_done);
        }
        n = next;
    }
    return removed;
}

uint32_t viommu_iotlb_invalidate_group_range(ViommuIotlb *tlb,
                                             uint64_t group, uint64_t start,
                                             uint64_t size, bool global_only)
{
    ViommuIotlbGroup *g = iotlb_group(tlb, group);
    uint64_t last = range_last(start, size);
    bool gone = false;
    uint32_t removed;

    if (!size || !g) {
        return 0;
    }
    removed = iotlb_prune_group(tlb, g, true, start, last, &gone);
    if (!global_only && !gone) {
        removed += iotlb_prune_group(tlb, g, false, start, last, &gone);
    }
    return removed;
}

uint32_t viommu_iotlb_invalidate_groups(ViommuIotlb *tlb, uint64_t first,
                                        uint64_t last)
{
    IntervalTreeNode *n = interval_tree_iter_first(&tlb->group_tags, first,
                                                   last);
    uint32_t removed = 0;

    while (n) {
        IntervalTreeNode *next = interval_tree_iter_next(n, first, last);

        removed += iotlb_empty_group(tlb, container_of(n, ViommuIotlbGroup,
                                                       by_tag));
        n = next;
    }
    return removed;
}
