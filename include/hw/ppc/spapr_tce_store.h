/*
 * The TCEs of one sPAPR DMA window that are set
 *
 * A window may have up to 2^32 TCEs while a guest sets a few of them, or
 * all.  The store keeps what is set in a radix tree of at most two levels
 * of nodes above leaves of 512 TCEs (one 4 KiB page of a flat table).  A
 * leaf is flat, indexed by the TCE's offset in its chunk: over all of the
 * chunk, or over the run of it in use, which a DMA reads as fast; or,
 * while the chunk holds few TCEs spread out, a small hash of (offset,
 * TCE) pairs.  So an untouched window costs the SpaprTceStore alone, a
 * sparse one about 20 bytes per TCE, a dense one a flat table and 1%
 * more, and nothing ever costs more than a flat table of the same chunks.
 * A chunk's leaf grows with the TCEs set in it and keeps its size as they
 * are cleared one by one, so that TCEs mapped and unmapped in turn cost
 * no allocation; it goes when its whole chunk is cleared at once.
 *
 * Lookups run without the BQL, in RCU read-side critical sections (DMA
 * from vCPUs, the main loop and iothreads), take no lock and allocate
 * nothing.  Changes run with the BQL: a node or leaf that changes shape
 * is copied, published and freed after a grace period; a TCE that
 * changes in place is one atomic store.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PPC_SPAPR_TCE_STORE_H
#define HW_PPC_SPAPR_TCE_STORE_H

#include "qemu/atomic.h"
#include "qemu/host-utils.h"
#include "qemu/rcu.h"

/* A leaf holds the TCEs of one chunk: 512, a 4 KiB page of a flat table */
#define TCE_STORE_LEAF_BITS     9
#define TCE_STORE_LEAF_SIZE     (1u << TCE_STORE_LEAF_BITS)
/* An interior node below the root indexes 512 leaves: 2^18 TCEs */
#define TCE_STORE_NODE_BITS     9
#define TCE_STORE_MID_SHIFT     (TCE_STORE_LEAF_BITS + TCE_STORE_NODE_BITS)
/* A hashed leaf's empty key */
#define TCE_STORE_NO_KEY        UINT16_MAX

typedef struct SpaprTceStoreNode {
    struct rcu_head rcu;
    uint32_t slots;             /* entries of child[] */
    uint32_t used;              /* children that are not NULL */
    /*
     * The child of TCE index i: for a root over nodes (shift
     * TCE_STORE_MID_SHIFT) child[i >> shift]; for a node over leaves
     * (shift TCE_STORE_LEAF_BITS) child[(i >> shift) % 512]
     */
    uint32_t shift;
    void *child[];
} SpaprTceStoreNode;

typedef struct SpaprTceStoreLeaf {
    struct rcu_head rcu;
    uint16_t slots;             /* entries of tce[] */
    /*
     * 0: the leaf is flat, tce[i] is the TCE at offset base + i of the
     * chunk (all of it, or the run of it that is in use).  Otherwise
     * tce[] is a hash table whose keys (offsets) follow it in a uint16_t
     * array, and this odd number is the hash's multiplier.
     */
    uint16_t mult;
    union {
        uint16_t base;          /* flat: the offset of tce[0] */
        uint16_t used;          /* hashed: slots with a key */
    };
    /*
     * Hashed: TCEs set.  A flat leaf keeps no count, so that a TCE set in
     * it writes its own line only; its TCEs are counted when a slow path
     * needs them.
     */
    uint16_t live;
    uint64_t tce[];
} SpaprTceStoreLeaf;

/*
 * A node's pointer to a leaf flat over all 512 TCEs of its chunk, which is
 * what a chunk in use soon holds, has this bit set: a lookup or a put goes
 * straight to the TCE, without reading the leaf's header, a cache line of
 * its own.  Leaves come from malloc, so bit 0 of their address is free.
 */
#define TCE_STORE_LEAF_WHOLE    ((uintptr_t)1)

static inline bool spapr_tce_store_leaf_is_whole(const void *child)
{
    return (uintptr_t)child & TCE_STORE_LEAF_WHOLE;
}

/* The leaf a node's child pointer points to */
static inline SpaprTceStoreLeaf *spapr_tce_store_leaf_untag(void *child)
{
    return (SpaprTceStoreLeaf *)((uintptr_t)child & ~TCE_STORE_LEAF_WHOLE);
}

typedef struct SpaprTceStore {
    SpaprTceStoreNode *root;    /* RCU; NULL while no TCE is set */
    uint64_t nb;                /* TCEs in the window */
    uint64_t live;              /* TCEs set */
    uint64_t bytes;             /* what the nodes and leaves allocated */
    uint64_t leaves_made;       /* leaves allocated since init, for tests */
    uint64_t limit;             /* refuse to allocate past it; 0: no limit */
    uint16_t mult;              /* hash multiplier of new hashed leaves */
} SpaprTceStore;

/* Called for a TCE with its index and value */
typedef void SpaprTceVisit(uint64_t index, uint64_t tce, void *opaque);

/* An empty store for a window of @nb TCEs; allocates nothing */
void spapr_tce_store_init(SpaprTceStore *s, uint64_t nb);
/* Every TCE cleared and the memory freed (after readers are done) */
void spapr_tce_store_destroy(SpaprTceStore *s);

/*
 * Make room for setting the TCEs @first to @first + @n - 1 (@n <= 1024),
 * those of @tces that are not zero, or all of them if @tces is NULL,
 * so that spapr_tce_store_set() needs no memory for them.  False, with
 * the TCEs as they were and nothing left allocated for them, when there
 * is no memory.
 */
bool spapr_tce_store_reserve(SpaprTceStore *s, uint64_t first, uint64_t n,
                             const uint64_t *tces);
/*
 * Set TCE @index to @tce and return its old value.  A TCE that was zero
 * becomes non-zero only in room that spapr_tce_store_reserve() made; a
 * clear leaves the room as it was, for the TCEs to come.
 */
uint64_t spapr_tce_store_set(SpaprTceStore *s, uint64_t index, uint64_t tce);
/*
 * Reserve and set TCE @index alone, its old value in @old;
 * false, with nothing changed, without memory
 */
bool spapr_tce_store_put(SpaprTceStore *s, uint64_t index, uint64_t tce,
                         uint64_t *old);
/*
 * spapr_tce_store_set() of @tces[0 .. @n - 1] into TCEs @first onwards,
 * finding each leaf once; their old values go into @old if it is not NULL
 */
void spapr_tce_store_set_many(SpaprTceStore *s, uint64_t first, uint64_t n,
                              const uint64_t *tces, uint64_t *old);
/*
 * Clear the TCEs from @first to @first + @n - 1, visiting only those set
 * (a window of 2^31 TCEs costs what is set in it), and call @fn for each
 * with its old value, if @fn is not NULL.  The leaves of the chunks it
 * clears whole go.
 */
void spapr_tce_store_clear_range(SpaprTceStore *s, uint64_t first,
                                 uint64_t n, SpaprTceVisit *fn,
                                 void *opaque);
/* Call @fn for every TCE set, in increasing index order */
void spapr_tce_store_foreach(SpaprTceStore *s, SpaprTceVisit *fn,
                             void *opaque);

/* TCE @off of a hashed @leaf, 0 if it is not set */
uint64_t spapr_tce_store_hashed_lookup(const SpaprTceStoreLeaf *leaf,
                                       unsigned off);

static inline QEMU_ALWAYS_INLINE
uint64_t spapr_tce_store_leaf_lookup(SpaprTceStoreLeaf *leaf, unsigned off)
{
    unsigned i;

    /*
     * A flat leaf is read here, in the caller's translation; probing a
     * hash is a call, so that this stays small enough to inline.
     */
    if (!leaf->mult) {
        i = off - leaf->base;
        return i < leaf->slots ? qatomic_read(&leaf->tce[i]) : 0;
    }
    return spapr_tce_store_hashed_lookup(leaf, off);
}

/*
 * TCE @index (< the window's TCEs), 0 if it is not set.  Called in an RCU
 * read-side critical section, or with the BQL.
 */
static inline QEMU_ALWAYS_INLINE
uint64_t spapr_tce_store_lookup(SpaprTceStore *s, uint64_t index)
{
    SpaprTceStoreNode *n = qatomic_rcu_read(&s->root);
    SpaprTceStoreLeaf *leaf;
    uint64_t i;

    if (!n) {
        return 0;
    }
    if (n->shift != TCE_STORE_LEAF_BITS) {
        i = index >> n->shift;
        /* A reader racing with a new window: stay inside this one */
        if (unlikely(i >= n->slots)) {
            return 0;
        }
        n = qatomic_rcu_read((SpaprTceStoreNode **)&n->child[i]);
        if (!n) {
            return 0;
        }
    }
    /* A node over leaves indexes by the chunk's low bits (a constant mask) */
    i = (index >> TCE_STORE_LEAF_BITS) & ((1u << TCE_STORE_NODE_BITS) - 1);
    if (unlikely(i >= n->slots)) {
        return 0;
    }
    leaf = qatomic_rcu_read((SpaprTceStoreLeaf **)&n->child[i]);
    if (likely(spapr_tce_store_leaf_is_whole(leaf))) {
        /* 512 TCEs: any offset is inside, even in a window being replaced */
        return qatomic_read(&spapr_tce_store_leaf_untag(leaf)->tce[
                                index & (TCE_STORE_LEAF_SIZE - 1)]);
    }
    return leaf ? spapr_tce_store_leaf_lookup(leaf, index &
                                              (TCE_STORE_LEAF_SIZE - 1)) : 0;
}

#endif
