/*
 * sPAPR TCE tables: the IOMMU of pSeries PHBs and VIO devices
 *
 * A TCE table (one LIOBN) translates one DMA window: TCE i maps the bus
 * page at bus_offset + (i << page_shift) to the page its address names,
 * for reads (bit 0), writes (bit 1) or both.  The guest writes TCEs with
 * the H_PUT_TCE, H_PUT_TCE_INDIRECT and H_STUFF_TCE hypercalls and reads
 * them with H_GET_TCE.
 *
 * Windows can be huge (a 64-bit DDW covers all of RAM and more) while a
 * guest maps only what it uses, so this model keeps only the TCEs that
 * are set, in a hash table that grows with them: creating a window
 * allocates nothing, and migration carries the set TCEs only.  Under KVM
 * with in-kernel TCE acceleration the table is the kernel's flat array,
 * as the kernel defines it.
 *
 * The SpaprTceTable API (include/hw/ppc/spapr.h) is the one spapr's PHBs,
 * VIO and the DDW calls use; this file is the fork's implementation of it.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/rcu.h"
#include "qapi/error.h"
#include "system/kvm.h"
#include "system/address-spaces.h"
#include "kvm_ppc.h"
#include "migration/vmstate.h"
#include "trace.h"
#include "hw/ppc/spapr.h"
#include "hw/pci-host/spapr.h"
#include "hw/ppc/spapr_vio.h"
#include "hw/iommu/side-effect-free-lookup.h"
#include "hw/iommu/viommu-notify.h"
#include <libfdt.h>

/* TCE bits 1:0 */
#define TCE_READ            1ull    /* the device may read the page */
#define TCE_WRITE           2ull    /* the device may write it */

/* Writes to the TCE set, one 4 KiB list at most per H_PUT_TCE_INDIRECT */
#define TCE_INDIRECT_MAX    512

/*
 * The TCEs that are set, when KVM does not keep the table.
 *
 * Guests map what they use: a few scattered TCEs in a huge 64-bit window,
 * or long runs (Linux maps all of RAM through its DDW, 512 TCEs per
 * H_PUT_TCE_INDIRECT).  Scattered TCEs live in a hash of single TCEs, the
 * "set".  A chunk of TCE_LEAF_SIZE consecutive TCEs that a bulk hypercall
 * fills gets a flat leaf instead, found through a second, small hash of
 * leaves.  So memory and the migration stream grow with the TCEs set, and
 * a dense window costs about what a flat table would.
 *
 * Lookups run under RCU without the BQL (a dataplane device's DMA), while
 * hypercalls, with the BQL, change the TCEs.  So a slot never moves while
 * its array lives: a cleared entry keeps its key (a tombstone), and an
 * array is rebuilt and swapped under RCU when tombstones or growth call
 * for it.  A lookup tries the set first, then the leaves; a chunk's TCEs
 * are copied into its new leaf and published before they leave the set,
 * so a lookup racing with that finds them in one or the other.
 */
#define TCE_SLOT_EMPTY      UINT64_MAX
#define TCE_SET_MIN_BITS    4
#define TCE_LEAF_BITS       9
#define TCE_LEAF_SIZE       (1u << TCE_LEAF_BITS)   /* 4 KiB of TCEs */
#define TCE_LEAF_MASK       (TCE_LEAF_SIZE - 1)
/* A bulk write of at least this many TCEs into one chunk gives it a leaf */
#define TCE_LEAF_PROMOTE    64
#define TCE_LEAVES_MIN_BITS 2

typedef struct SpaprTceSlot {
    uint64_t index;
    uint64_t tce;
} SpaprTceSlot;

typedef struct SpaprTceSet {
    struct rcu_head rcu;
    unsigned bits;
    SpaprTceSlot slot[];
} SpaprTceSet;

typedef struct SpaprTceLeaf {
    struct rcu_head rcu;
    uint32_t live;              /* TCEs set in it; BQL */
    uint64_t tce[TCE_LEAF_SIZE];
} SpaprTceLeaf;

typedef struct SpaprTceLeafSlot {
    uint64_t chunk;             /* TCE index >> TCE_LEAF_BITS */
    SpaprTceLeaf *leaf;         /* NULL once the chunk's leaf is gone */
} SpaprTceLeafSlot;

typedef struct SpaprTceLeaves {
    struct rcu_head rcu;
    unsigned bits;
    SpaprTceLeafSlot slot[];
} SpaprTceLeaves;

/*
 * A window of at most TCE_DIR_MAX_CHUNKS chunks also finds its leaves by
 * index, once it has one: a DMA lookup is then two loads, as in a flat
 * table.
 */
#define TCE_DIR_MAX_CHUNKS  (1u << 16)      /* 2^25 TCEs; 512 KiB */

typedef struct SpaprTceDir {
    struct rcu_head rcu;
    uint64_t chunks;
    SpaprTceLeaf *leaf[];
} SpaprTceDir;

typedef struct SpaprTceTableState {
    SpaprTceTable tcet;         /* what the rest of spapr sees; first */

    SpaprPhbEeh *pe;            /* the PE's EEH, for an emulated PHB's */
    SpaprTceSet *set;           /* NULL while no single TCE is set */
    uint64_t live;              /* TCEs in the set */
    uint64_t used;              /* slots holding a key: live + tombstones */
    SpaprTceLeaves *leaves;     /* NULL until a chunk gets a leaf */
    SpaprTceDir *dir;           /* the same leaves by chunk, or NULL */
    uint64_t leaf_live;         /* TCEs in leaves */
    uint64_t leaf_keys;         /* leaf slots holding a key */

    /* Migration: the set TCEs, as two arrays */
    uint32_t mig_count;
    uint64_t *mig_index;
    uint64_t *mig_tce;
    uint32_t mig_page_shift;
    uint64_t mig_bus_offset;
} SpaprTceTableState;

#define TCE_STATE(t) container_of(t, SpaprTceTableState, tcet)

static QLIST_HEAD(, SpaprTceTable) spapr_tce_tables =
    QLIST_HEAD_INITIALIZER(spapr_tce_tables);

/* ---- the set ---- */

/*
 * Runs of 8 consecutive TCEs share a spread-out home and stay next to
 * each other (128 bytes), so that DMA walking a buffer page by page
 * stays within a few cache lines.
 */
#define TCE_RUN_BITS        3

static inline uint64_t tce_slot_hash(uint64_t index, unsigned bits)
{
    uint64_t run = ((index >> TCE_RUN_BITS) * 0x9e3779b97f4a7c15ull) >>
                   (64 - bits);

    return ((run << TCE_RUN_BITS) | (index & ((1u << TCE_RUN_BITS) - 1))) &
           ((1ull << bits) - 1);
}

/*
 * The TCE of @index in the set, 0 if it has none.  Called from an RCU
 * read-side critical section, or with the BQL.
 */
static inline uint64_t tce_set_lookup(SpaprTceTableState *ts, uint64_t index)
{
    SpaprTceSet *set = qatomic_rcu_read(&ts->set);
    uint64_t mask, i;

    if (!set) {
        return 0;
    }
    mask = (1ull << set->bits) - 1;
    /* The set is at most half full: an empty slot ends every probe */
    for (i = tce_slot_hash(index, set->bits); ; i = (i + 1) & mask) {
        uint64_t key = qatomic_read(&set->slot[i].index);

        if (key == index) {
            smp_rmb();      /* pairs with tce_set_store(): key, then TCE */
            return qatomic_read(&set->slot[i].tce);
        }
        if (key == TCE_SLOT_EMPTY) {
            return 0;
        }
    }
}

static SpaprTceSet *tce_set_alloc(unsigned bits)
{
    SpaprTceSet *set = g_try_malloc(sizeof(*set) +
                                    (sizeof(SpaprTceSlot) << bits));
    uint64_t i;

    if (!set) {
        return NULL;
    }
    set->bits = bits;
    for (i = 0; i < (1ull << bits); i++) {
        set->slot[i].index = TCE_SLOT_EMPTY;
        set->slot[i].tce = 0;
    }
    return set;
}

/* Insert into a set nobody reads yet */
static void tce_set_insert_new(SpaprTceSet *set, uint64_t index, uint64_t tce)
{
    uint64_t mask = (1ull << set->bits) - 1;
    uint64_t i = tce_slot_hash(index, set->bits);

    while (set->slot[i].index != TCE_SLOT_EMPTY) {
        i = (i + 1) & mask;
    }
    set->slot[i].index = index;
    set->slot[i].tce = tce;
}

/*
 * Replace the set by one sized for @want live TCEs at most a quarter full,
 * without tombstones.  The old array goes after an RCU grace period.
 * False, with the set as it was, if there is no memory for it.
 */
static bool tce_set_rebuild(SpaprTceTableState *ts, uint64_t want)
{
    SpaprTceSet *old = ts->set, *set = NULL;
    unsigned bits = TCE_SET_MIN_BITS;
    uint64_t i;

    if (want) {
        while ((1ull << bits) < want * 4) {
            bits++;
        }
        set = tce_set_alloc(bits);
        if (!set) {
            return false;
        }
        for (i = 0; old && i < (1ull << old->bits); i++) {
            if (old->slot[i].index != TCE_SLOT_EMPTY && old->slot[i].tce) {
                tce_set_insert_new(set, old->slot[i].index, old->slot[i].tce);
            }
        }
    }
    qatomic_rcu_set(&ts->set, set);
    ts->used = ts->live;
    if (old) {
        g_free_rcu(old, rcu);
    }
    return true;
}

/*
 * Set TCE @index to @tce (0 clears it) in the set, and its old value in
 * @old.  False, with nothing changed, if the set cannot grow.  BQL held.
 */
static bool tce_set_store(SpaprTceTableState *ts, uint64_t index,
                          uint64_t tce, uint64_t *old)
{
    SpaprTceSet *set = ts->set;
    SpaprTceSlot *free_slot = NULL;
    uint64_t mask, i, n;

    *old = 0;
    if (set) {
        mask = (1ull << set->bits) - 1;
        i = tce_slot_hash(index, set->bits);
        for (n = 0; n <= mask; n++, i = (i + 1) & mask) {
            SpaprTceSlot *s = &set->slot[i];

            if (s->index == index) {
                *old = s->tce;
                qatomic_set(&s->tce, tce);
                ts->live += (tce != 0) - (*old != 0);
                if (!tce && ts->live * 16 < (1ull << set->bits) &&
                    set->bits > TCE_SET_MIN_BITS) {
                    tce_set_rebuild(ts, ts->live);
                }
                return true;
            }
            if (s->index == TCE_SLOT_EMPTY) {
                break;
            }
            if (!s->tce && !free_slot) {
                free_slot = s;      /* a tombstone of another key */
            }
        }
    }
    if (!tce) {
        return true;
    }

    if (!free_slot) {
        if (!set || (ts->used + 1) * 2 > (1ull << set->bits)) {
            if (!tce_set_rebuild(ts, ts->live + 1)) {
                return false;
            }
            set = ts->set;
        }
        mask = (1ull << set->bits) - 1;
        i = tce_slot_hash(index, set->bits);
        while (set->slot[i].index != TCE_SLOT_EMPTY) {
            i = (i + 1) & mask;
        }
        free_slot = &set->slot[i];
        ts->used++;
    }
    /* A reader sees the slot as a tombstone until its TCE is there */
    qatomic_set(&free_slot->index, index);
    smp_wmb();          /* pairs with tce_set_lookup(): key, then TCE */
    qatomic_set(&free_slot->tce, tce);
    ts->live++;
    return true;
}

/* ---- the leaves ---- */

static inline uint64_t tce_leaf_hash(uint64_t chunk, unsigned bits)
{
    return (chunk * 0x9e3779b97f4a7c15ull) >> (64 - bits);
}

/*
 * The leaf of @chunk, or NULL.  Called from an RCU read-side critical
 * section, or with the BQL.
 */
static inline SpaprTceLeaf *tce_leaf_find(SpaprTceLeaves *lv, uint64_t chunk)
{
    uint64_t mask = (1ull << lv->bits) - 1, i;

    /* At most half the slots hold a key: an empty slot ends every probe */
    for (i = tce_leaf_hash(chunk, lv->bits); ; i = (i + 1) & mask) {
        uint64_t key = qatomic_read(&lv->slot[i].chunk);

        if (key == chunk) {
            smp_rmb();      /* pairs with tce_leaf_publish(): leaf, key */
            return qatomic_rcu_read(&lv->slot[i].leaf);
        }
        if (key == TCE_SLOT_EMPTY) {
            return NULL;
        }
    }
}

/*
 * The leaf of @chunk, or NULL.  Called from an RCU read-side critical
 * section, or with the BQL.
 */
static inline SpaprTceLeaf *tce_leaf_of(SpaprTceTableState *ts,
                                        uint64_t chunk)
{
    SpaprTceDir *dir = qatomic_rcu_read(&ts->dir);
    SpaprTceLeaves *lv;

    if (dir) {
        /* A reader may race with a resize: the directory has its size */
        return likely(chunk < dir->chunks) ?
               qatomic_rcu_read(&dir->leaf[chunk]) : NULL;
    }
    lv = qatomic_rcu_read(&ts->leaves);
    return lv ? tce_leaf_find(lv, chunk) : NULL;
}

/*
 * Index the leaves of a window small enough, from its first leaf on.
 * Without memory for it the leaves are found by hash alone.  BQL held.
 */
static void tce_dir_update(SpaprTceTableState *ts, uint64_t chunk,
                           SpaprTceLeaf *leaf)
{
    uint64_t chunks = DIV_ROUND_UP((uint64_t)ts->tcet.nb_table,
                                   TCE_LEAF_SIZE);
    SpaprTceLeaves *lv = ts->leaves;
    SpaprTceDir *dir = ts->dir;
    uint64_t i;

    if (!dir) {
        if (chunks > TCE_DIR_MAX_CHUNKS) {
            return;
        }
        dir = g_try_malloc0(sizeof(*dir) + chunks * sizeof(dir->leaf[0]));
        if (!dir) {
            return;
        }
        dir->chunks = chunks;
        for (i = 0; lv && i < (1ull << lv->bits); i++) {
            if (lv->slot[i].leaf && lv->slot[i].chunk < chunks) {
                dir->leaf[lv->slot[i].chunk] = lv->slot[i].leaf;
            }
        }
        qatomic_rcu_set(&ts->dir, dir);
    }
    if (chunk < dir->chunks) {
        qatomic_rcu_set(&dir->leaf[chunk], leaf);
    }
}

/* Put (@chunk, @leaf) in an array nobody reads yet */
static void tce_leaves_insert_new(SpaprTceLeaves *lv, uint64_t chunk,
                                  SpaprTceLeaf *leaf)
{
    uint64_t mask = (1ull << lv->bits) - 1;
    uint64_t i = tce_leaf_hash(chunk, lv->bits);

    while (lv->slot[i].chunk != TCE_SLOT_EMPTY) {
        i = (i + 1) & mask;
    }
    lv->slot[i].chunk = chunk;
    lv->slot[i].leaf = leaf;
}

/* Put @leaf in the hash of leaves for @chunk; false without memory */
static bool tce_leaves_add(SpaprTceTableState *ts, uint64_t chunk,
                           SpaprTceLeaf *leaf)
{
    SpaprTceLeaves *lv = ts->leaves;
    uint64_t mask, i, n, live = 0;
    unsigned bits = TCE_LEAVES_MIN_BITS;

    if (lv) {
        /* A chunk whose leaf went keeps its slot: use it again */
        mask = (1ull << lv->bits) - 1;
        for (i = tce_leaf_hash(chunk, lv->bits);
             lv->slot[i].chunk != TCE_SLOT_EMPTY; i = (i + 1) & mask) {
            if (lv->slot[i].chunk == chunk) {
                qatomic_rcu_set(&lv->slot[i].leaf, leaf);
                return true;
            }
        }
    }
    if (!lv || (ts->leaf_keys + 1) * 2 > (1ull << lv->bits)) {
        /* Rebuild without the slots of leaves that went */
        SpaprTceLeaves *old = lv;

        for (n = 0; old && n < (1ull << old->bits); n++) {
            live += old->slot[n].leaf != NULL;
        }
        while ((1ull << bits) < (live + 1) * 4) {
            bits++;
        }
        lv = g_try_malloc(sizeof(*lv) + (sizeof(SpaprTceLeafSlot) << bits));
        if (!lv) {
            return false;
        }
        lv->bits = bits;
        for (n = 0; n < (1ull << bits); n++) {
            lv->slot[n].chunk = TCE_SLOT_EMPTY;
            lv->slot[n].leaf = NULL;
        }
        for (n = 0; old && n < (1ull << old->bits); n++) {
            if (old->slot[n].leaf) {
                tce_leaves_insert_new(lv, old->slot[n].chunk,
                                      old->slot[n].leaf);
            }
        }
        tce_leaves_insert_new(lv, chunk, leaf);
        ts->leaf_keys = live + 1;
        qatomic_rcu_set(&ts->leaves, lv);
        if (old) {
            g_free_rcu(old, rcu);
        }
        return true;
    }
    mask = (1ull << lv->bits) - 1;
    i = tce_leaf_hash(chunk, lv->bits);
    while (lv->slot[i].chunk != TCE_SLOT_EMPTY) {
        i = (i + 1) & mask;
    }
    qatomic_set(&lv->slot[i].leaf, leaf);
    smp_wmb();          /* pairs with tce_leaf_find(): key, then leaf */
    qatomic_set(&lv->slot[i].chunk, chunk);
    ts->leaf_keys++;
    return true;
}

/* Make @leaf the leaf of @chunk, which has none; false without memory */
static bool tce_leaf_publish(SpaprTceTableState *ts, uint64_t chunk,
                             SpaprTceLeaf *leaf)
{
    if (!tce_leaves_add(ts, chunk, leaf)) {
        return false;
    }
    tce_dir_update(ts, chunk, leaf);
    return true;
}

/* @chunk's leaf is empty: let it go, after readers are done with it */
static void tce_leaf_drop(SpaprTceTableState *ts, uint64_t chunk)
{
    SpaprTceLeaves *lv = ts->leaves;
    uint64_t mask = (1ull << lv->bits) - 1, i;

    for (i = tce_leaf_hash(chunk, lv->bits); ; i = (i + 1) & mask) {
        if (lv->slot[i].chunk == chunk) {
            SpaprTceLeaf *leaf = lv->slot[i].leaf;

            qatomic_rcu_set(&lv->slot[i].leaf, NULL);
            if (ts->dir && chunk < ts->dir->chunks) {
                qatomic_rcu_set(&ts->dir->leaf[chunk], NULL);
            }
            g_free_rcu(leaf, rcu);
            return;
        }
    }
}

/*
 * Give @chunk a leaf, moving its TCEs out of the set.  Without memory for
 * it, the chunk stays in the set.  BQL held.
 */
static void tce_leaf_make(SpaprTceTableState *ts, uint64_t chunk)
{
    SpaprTceLeaf *leaf = g_try_new0(SpaprTceLeaf, 1);
    uint64_t base = chunk << TCE_LEAF_BITS, old;
    unsigned i;

    if (!leaf) {
        return;
    }
    for (i = 0; ts->live && i < TCE_LEAF_SIZE; i++) {
        leaf->tce[i] = tce_set_lookup(ts, base + i);
        leaf->live += !!leaf->tce[i];
    }
    if (!tce_leaf_publish(ts, chunk, leaf)) {
        g_free(leaf);
        return;
    }
    ts->leaf_live += leaf->live;
    /* Lookups try the set first, and find these in the leaf once gone */
    smp_wmb();
    for (i = 0; leaf->live && i < TCE_LEAF_SIZE; i++) {
        if (leaf->tce[i]) {
            tce_set_store(ts, base + i, 0, &old);
        }
    }
}

/*
 * Before a bulk write of @n TCEs from @first: give a leaf to each chunk
 * it writes at least TCE_LEAF_PROMOTE TCEs of.
 */
static void tce_leaves_for_bulk(SpaprTceTableState *ts, uint64_t first,
                                uint64_t n)
{
    uint64_t chunk, lo, hi;

    for (chunk = first >> TCE_LEAF_BITS;
         n && chunk <= (first + n - 1) >> TCE_LEAF_BITS; chunk++) {
        lo = MAX(first, chunk << TCE_LEAF_BITS);
        hi = MIN(first + n, (chunk + 1) << TCE_LEAF_BITS);
        if (hi - lo >= TCE_LEAF_PROMOTE && !tce_leaf_of(ts, chunk)) {
            tce_leaf_make(ts, chunk);
        }
    }
}

/* ---- the store: the set and the leaves together ---- */

/* Called from an RCU read-side critical section, or with the BQL */
static inline uint64_t tce_store_lookup(SpaprTceTableState *ts,
                                        uint64_t index)
{
    uint64_t tce = tce_set_lookup(ts, index);
    SpaprTceLeaf *leaf;

    if (tce) {
        return tce;
    }
    smp_rmb();          /* pairs with tce_leaf_make(): leaf, then set */
    leaf = tce_leaf_of(ts, index >> TCE_LEAF_BITS);
    return leaf ? qatomic_read(&leaf->tce[index & TCE_LEAF_MASK]) : 0;
}

/* tce_set_store(), or into the chunk's leaf if it has one.  BQL held. */
static bool tce_store_write(SpaprTceTableState *ts, uint64_t index,
                            uint64_t tce, uint64_t *old)
{
    uint64_t chunk = index >> TCE_LEAF_BITS;
    SpaprTceLeaf *leaf = tce_leaf_of(ts, chunk);

    if (!leaf) {
        return tce_set_store(ts, index, tce, old);
    }
    *old = leaf->tce[index & TCE_LEAF_MASK];
    qatomic_set(&leaf->tce[index & TCE_LEAF_MASK], tce);
    leaf->live += (tce != 0) - (*old != 0);
    ts->leaf_live += (tce != 0) - (*old != 0);
    if (!leaf->live) {
        tce_leaf_drop(ts, chunk);
    }
    return true;
}

typedef void TceVisit(uint64_t index, uint64_t tce, void *opaque);

/* Call @fn for each TCE set, leaves first, chunk by chunk.  BQL held. */
static void tce_store_for_each(SpaprTceTableState *ts, TceVisit *fn,
                               void *opaque)
{
    SpaprTceLeaves *lv = ts->leaves;
    SpaprTceSet *set = ts->set;
    uint64_t i;
    unsigned k;

    for (i = 0; lv && i < (1ull << lv->bits); i++) {
        SpaprTceLeaf *leaf = lv->slot[i].leaf;

        for (k = 0; leaf && k < TCE_LEAF_SIZE; k++) {
            if (leaf->tce[k]) {
                fn((lv->slot[i].chunk << TCE_LEAF_BITS) + k, leaf->tce[k],
                   opaque);
            }
        }
    }
    for (i = 0; set && i < (1ull << set->bits); i++) {
        if (set->slot[i].index != TCE_SLOT_EMPTY && set->slot[i].tce) {
            fn(set->slot[i].index, set->slot[i].tce, opaque);
        }
    }
}

static void tce_store_clear(SpaprTceTableState *ts)
{
    SpaprTceLeaves *lv = ts->leaves;
    SpaprTceDir *dir = ts->dir;
    uint64_t i;

    ts->live = 0;
    tce_set_rebuild(ts, 0);
    qatomic_rcu_set(&ts->dir, NULL);
    if (dir) {
        g_free_rcu(dir, rcu);
    }
    qatomic_rcu_set(&ts->leaves, NULL);
    for (i = 0; lv && i < (1ull << lv->bits); i++) {
        if (lv->slot[i].leaf) {
            g_free_rcu(lv->slot[i].leaf, rcu);
        }
    }
    if (lv) {
        g_free_rcu(lv, rcu);
    }
    ts->leaf_live = ts->leaf_keys = 0;
}

/* ---- a table's TCEs, whichever way they are kept ---- */

static inline uint64_t tce_read(SpaprTceTable *tcet, uint64_t index)
{
    if (tcet->table) {
        return qatomic_read(&tcet->table[index]);
    }
    return tce_store_lookup(TCE_STATE(tcet), index);
}

/*
 * Set TCE @index to @tce, and its old value in @old; false, with nothing
 * changed, when there is no memory to keep it.
 */
static bool tce_write(SpaprTceTable *tcet, uint64_t index, uint64_t tce,
                      uint64_t *old)
{
    if (tcet->table) {
        *old = tcet->table[index];
        qatomic_set(&tcet->table[index], tce);
        return true;
    }
    return tce_store_write(TCE_STATE(tcet), index, tce, old);
}

/* Call @fn for every TCE that is set */
static void tce_for_each(SpaprTceTable *tcet, TceVisit *fn, void *opaque)
{
    uint64_t i;

    if (!tcet->table) {
        tce_store_for_each(TCE_STATE(tcet), fn, opaque);
        return;
    }
    for (i = 0; i < tcet->nb_table; i++) {
        if (tcet->table[i]) {
            fn(i, tcet->table[i], opaque);
        }
    }
}

static IOMMUAccessFlags tce_perm(uint64_t tce)
{
    return (tce & TCE_READ ? IOMMU_RO : 0) | (tce & TCE_WRITE ? IOMMU_WO : 0);
}

static hwaddr tce_page(SpaprTceTable *tcet, uint64_t tce)
{
    return tce & ~((1ull << tcet->page_shift) - 1);
}

/* ---- storage: the kernel's table under KVM, or the set ---- */

/* Under KVM, ask for an in-kernel table; the set otherwise */
static void tce_storage_create(SpaprTceTable *tcet)
{
    tcet->fd = -1;
    tcet->table = NULL;
    if (kvm_enabled()) {
        tcet->table = kvmppc_create_spapr_tce(tcet->liobn, tcet->page_shift,
                                              tcet->bus_offset,
                                              tcet->nb_table, &tcet->fd,
                                              tcet->need_vfio);
        if (!tcet->table) {
            tcet->fd = -1;
        }
    }
    trace_spapr_iommu_new_table(tcet->liobn, tcet->table, tcet->fd);
}

static void tce_storage_destroy(SpaprTceTable *tcet)
{
    if (tcet->table) {
        kvmppc_remove_spapr_tce(tcet->table, tcet->fd, tcet->nb_table);
    }
    tcet->table = NULL;
    tcet->fd = -1;
    tce_store_clear(TCE_STATE(tcet));
}

/* ---- the IOMMU region ---- */

static inline IOMMUTLBEntry tce_entry(SpaprTceTable *tcet, hwaddr addr,
                                      uint64_t tce, IOMMUAccessFlags perm)
{
    uint64_t mask = (1ull << tcet->page_shift) - 1;

    return (IOMMUTLBEntry) {
        .target_as = &address_space_memory,
        .iova = addr & ~mask,
        .translated_addr = tce & ~mask,
        .addr_mask = mask,
        .perm = perm,
    };
}

/*
 * What tce_translate() leaves out of its fast path: the trace, and a
 * device's access the TCE refuses or a stopped PE drops (which may freeze
 * the PE).  Lookups for notifiers and replay (IOMMU_NONE) see the TCE as
 * it is.
 */
static IOMMUTLBEntry G_GNUC_NO_INLINE
tce_translate_slow(SpaprTceTable *tcet, hwaddr addr, IOMMUAccessFlags flag,
                   uint64_t tce)
{
    SpaprPhbEeh *pe = TCE_STATE(tcet)->pe;
    IOMMUTLBEntry ret = tce_entry(tcet, addr, tce, tce_perm(tce));

    trace_spapr_iommu_xlate(tcet->liobn, addr, ret.translated_addr, ret.perm,
                            ret.addr_mask);
    if (pe && flag != IOMMU_NONE) {
        if (spapr_phb_eeh_dma_stopped(pe)) {
            ret.perm = IOMMU_NONE;
        } else if ((ret.perm & flag) != flag) {
            spapr_phb_eeh_dma_fault(pe, tcet->liobn, addr, flag & IOMMU_WO);
        }
    }
    return ret;
}

/*
 * Called from an RCU read-side critical section.  The fast path makes no
 * call, so that it needs no stack frame.
 */
static IOMMUTLBEntry tce_translate(IOMMUMemoryRegion *iommu, hwaddr addr,
                                   IOMMUAccessFlags flag, int iommu_idx)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);
    SpaprPhbEeh *pe = TCE_STATE(tcet)->pe;
    uint64_t index = addr >> tcet->page_shift;
    uint64_t tce = likely(index < tcet->nb_table) ? tce_read(tcet, index) : 0;

    if (unlikely(trace_event_get_state_backends(TRACE_SPAPR_IOMMU_XLATE) ||
                 (pe && flag != IOMMU_NONE &&
                  (spapr_phb_eeh_dma_stopped(pe) ||
                   (tce_perm(tce) & flag) != flag)))) {
        return tce_translate_slow(tcet, addr, flag, tce);
    }
    return tce_entry(tcet, addr, tce, tce_perm(tce));
}

typedef struct TceReplay {
    SpaprTceTable *tcet;
    IOMMUNotifier *n;
} TceReplay;

static void tce_replay_one(uint64_t index, uint64_t tce, void *opaque)
{
    TceReplay *r = opaque;

    if (tce_perm(tce)) {
        viommu_replay_map(r->n, index << r->tcet->page_shift,
                          tce_page(r->tcet, tce), 1ull << r->tcet->page_shift,
                          tce_perm(tce));
    }
}

/* Only the TCEs that are set, not the whole window */
static void tce_replay(IOMMUMemoryRegion *iommu, IOMMUNotifier *n)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);
    TceReplay r = { tcet, n };

    if (!tcet->skipping_replay) {
        tce_for_each(tcet, tce_replay_one, &r);
    }
}

static uint64_t tce_min_page_size(IOMMUMemoryRegion *iommu)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);

    return 1ull << tcet->page_shift;
}

static int tce_get_attr(IOMMUMemoryRegion *iommu,
                              enum IOMMUMemoryRegionAttr attr, void *data)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);

    if (attr == IOMMU_ATTR_SPAPR_TCE_FD && kvmppc_has_cap_spapr_vfio()) {
        *(int *)data = tcet->fd;
        return 0;
    }
    return -EINVAL;
}

static int tce_notify_flag_changed(IOMMUMemoryRegion *iommu,
                                         IOMMUNotifierFlag old,
                                         IOMMUNotifierFlag new, Error **errp)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);

    if (new & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) {
        error_setg(errp, "sPAPR TCE tables have no device IOTLB");
        return -EINVAL;
    }
    if ((old == IOMMU_NOTIFIER_NONE) != (new == IOMMU_NOTIFIER_NONE)) {
        spapr_tce_set_need_vfio(tcet, new != IOMMU_NOTIFIER_NONE);
    }
    return 0;
}

/* ---- the API ---- */

SpaprTceTable *spapr_tce_find_by_liobn(target_ulong liobn)
{
    SpaprTceTable *tcet;

    if (liobn >> 32) {
        return NULL;
    }
    QLIST_FOREACH(tcet, &spapr_tce_tables, list) {
        if (tcet->liobn == liobn) {
            return tcet;
        }
    }
    return NULL;
}

static void tce_to_table(uint64_t index, uint64_t tce, void *opaque)
{
    SpaprTceTable *tcet = opaque;

    tcet->table[index] = tce;
}

/*
 * VFIO needs a table the kernel can reach: under KVM, one made with
 * need_vfio.  Move the TCEs over when the kind of table has to change.
 */
void spapr_tce_set_need_vfio(SpaprTceTable *tcet, bool need_vfio)
{
    uint64_t *old_table = tcet->table;
    int old_fd = tcet->fd;
    uint64_t i;

    if (tcet->need_vfio == need_vfio) {
        return;
    }
    tcet->need_vfio = need_vfio;
    if (!need_vfio || !kvm_enabled() || !tcet->nb_table ||
        (tcet->fd != -1 && kvmppc_has_cap_spapr_vfio())) {
        return;
    }

    tce_storage_create(tcet);
    if (old_table) {
        /* From the old kernel table into the new table or the store */
        for (i = 0; i < tcet->nb_table; i++) {
            uint64_t old;

            if (old_table[i] && !tce_write(tcet, i, old_table[i], &old)) {
                error_report("TCE table 0x%x: no memory for its TCEs; "
                             "TCE %" PRIu64 " on is lost", tcet->liobn, i);
                break;
            }
        }
        kvmppc_remove_spapr_tce(old_table, old_fd, tcet->nb_table);
    } else if (tcet->table) {
        /* From the set into the kernel's table */
        tce_store_for_each(TCE_STATE(tcet), tce_to_table, tcet);
        tce_store_clear(TCE_STATE(tcet));
    }
}

SpaprTceTable *spapr_tce_new_table(DeviceState *owner, uint32_t liobn)
{
    g_autofree char *name = g_strdup_printf("tce-table-%x", liobn);
    SpaprPhbState *sphb = (SpaprPhbState *)
        object_dynamic_cast(OBJECT(owner), TYPE_SPAPR_PCI_HOST_BRIDGE);
    SpaprTceTable *tcet;

    if (spapr_tce_find_by_liobn(liobn)) {
        error_report("a TCE table with LIOBN 0x%x already exists", liobn);
        return NULL;
    }
    tcet = SPAPR_TCE_TABLE(object_new(TYPE_SPAPR_TCE_TABLE));
    tcet->liobn = liobn;
    if (sphb && sphb->eeh.emulated) {
        TCE_STATE(tcet)->pe = &sphb->eeh;
    }
    object_property_add_child(OBJECT(owner), name, OBJECT(tcet));
    object_unref(OBJECT(tcet));
    qdev_realize(DEVICE(tcet), NULL, &error_abort);
    return tcet;
}

void spapr_tce_table_enable(SpaprTceTable *tcet, uint32_t page_shift,
                            uint64_t bus_offset, uint32_t nb_table)
{
    if (tcet->nb_table) {
        warn_report("TCE table 0x%x is already enabled", tcet->liobn);
        return;
    }
    tcet->page_shift = page_shift;
    tcet->bus_offset = bus_offset;
    tcet->nb_table = nb_table;
    tce_storage_create(tcet);
    memory_region_set_size(MEMORY_REGION(&tcet->iommu),
                           (uint64_t)nb_table << page_shift);
    memory_region_add_subregion(&tcet->root, bus_offset,
                                MEMORY_REGION(&tcet->iommu));
}

/*
 * Whether a window is a PHB's default one is a fact of how it was made
 * (spapr_phb_dma_reset() sets def_win), not of its LIOBN: a DDW may get
 * the default window's LIOBN once that window is removed.  So a window
 * that goes takes the flag with it.
 */
void spapr_tce_table_disable(SpaprTceTable *tcet)
{
    if (!tcet->nb_table) {
        return;
    }
    memory_region_del_subregion(&tcet->root, MEMORY_REGION(&tcet->iommu));
    memory_region_set_size(MEMORY_REGION(&tcet->iommu), 0);
    tce_storage_destroy(tcet);
    tcet->bus_offset = 0;
    tcet->page_shift = 0;
    tcet->nb_table = 0;
    tcet->def_win = false;
}

MemoryRegion *spapr_tce_get_iommu(SpaprTceTable *tcet)
{
    return &tcet->root;
}

int spapr_dma_dt(void *fdt, int node_off, const char *propname,
                 uint32_t liobn, uint64_t window, uint32_t size)
{
    /* LIOBN, then a two-cell bus address and a two-cell size */
    uint32_t prop[] = {
        cpu_to_be32(liobn),
        cpu_to_be32(window >> 32), cpu_to_be32(window),
        0, cpu_to_be32(size),
    };
    int ret;

    ret = fdt_setprop_cell(fdt, node_off, "ibm,#dma-address-cells", 2);
    if (ret >= 0) {
        ret = fdt_setprop_cell(fdt, node_off, "ibm,#dma-size-cells", 2);
    }
    if (ret >= 0) {
        ret = fdt_setprop(fdt, node_off, propname, prop, sizeof(prop));
    }
    return ret < 0 ? ret : 0;
}

int spapr_tcet_dma_dt(void *fdt, int node_off, const char *propname,
                      SpaprTceTable *tcet)
{
    return tcet ? spapr_dma_dt(fdt, node_off, propname, tcet->liobn, 0,
                               tcet->nb_table << tcet->page_shift) : 0;
}

/* ---- hypercalls ---- */

/*
 * The TCE index of @ioba in @tcet's window, for @npages pages; false when
 * any of them is outside it.
 */
static bool tce_index(SpaprTceTable *tcet, target_ulong ioba, uint64_t npages,
                      uint64_t *index)
{
    uint64_t i;

    i = (ioba - tcet->bus_offset) >> tcet->page_shift;
    if (ioba < tcet->bus_offset || i >= tcet->nb_table ||
        npages > tcet->nb_table - i) {
        qemu_log_mask(LOG_GUEST_ERROR, "TCE hcall: %" PRIu64 " pages at IOBA "
                      "0x" TARGET_FMT_lx " leave LIOBN 0x%x's window\n",
                      npages, ioba, tcet->liobn);
        return false;
    }
    *index = i;
    return true;
}

/*
 * Set one TCE and tell the notifiers what changed.  False, with nothing
 * changed, when there is no memory to keep it (see tce_set_rebuild()).
 */
static bool tce_put(SpaprTceTable *tcet, uint64_t index, uint64_t tce)
{
    uint64_t size = 1ull << tcet->page_shift;
    uint64_t iova = index << tcet->page_shift;
    uint64_t old;

    if (!tce_write(tcet, index, tce, &old)) {
        qemu_log_mask(LOG_GUEST_ERROR, "TCE table 0x%x: no memory for "
                      "another TCE\n", tcet->liobn);
        return false;
    }
    if (old == tce || QLIST_EMPTY(&tcet->iommu.iommu_notify)) {
        return true;
    }
    if (tce_perm(old)) {
        viommu_notify_unmap(&tcet->iommu, 0, iova, size);
    }
    if (tce_perm(tce)) {
        viommu_notify_map(&tcet->iommu, 0, iova, tce_page(tcet, tce), size,
                          tce_perm(tce));
    }
    return true;
}

/*
 * The table for a TCE hcall: H_PARAMETER for an unknown LIOBN,
 * H_CONSTRAINED for one whose window was removed.
 */
static SpaprTceTable *tce_hcall_table(target_ulong liobn, target_ulong *ret)
{
    SpaprTceTable *tcet = spapr_tce_find_by_liobn(liobn);

    if (!tcet) {
        qemu_log_mask(LOG_GUEST_ERROR, "TCE hcall on unknown LIOBN 0x"
                      TARGET_FMT_lx "\n", liobn);
        *ret = H_PARAMETER;
        return NULL;
    }
    if (!tcet->nb_table) {
        qemu_log_mask(LOG_GUEST_ERROR, "TCE hcall on LIOBN 0x%x, whose "
                      "window is removed\n", tcet->liobn);
        *ret = H_CONSTRAINED;
        return NULL;
    }
    return tcet;
}

static target_ulong h_put_tce(PowerPCCPU *cpu, SpaprMachineState *spapr,
                              target_ulong opcode, target_ulong *args)
{
    target_ulong liobn = args[0], ioba = args[1], tce = args[2];
    target_ulong ret = H_SUCCESS;
    SpaprTceTable *tcet = tce_hcall_table(liobn, &ret);
    uint64_t index;

    if (tcet) {
        if (!tce_index(tcet, ioba, 1, &index)) {
            ret = H_PARAMETER;
        } else if (!tce_put(tcet, index, tce)) {
            ret = H_HARDWARE;
        }
    }
    trace_spapr_iommu_put(liobn, ioba, tce, ret);
    return ret;
}

static target_ulong h_get_tce(PowerPCCPU *cpu, SpaprMachineState *spapr,
                              target_ulong opcode, target_ulong *args)
{
    target_ulong liobn = args[0], ioba = args[1];
    target_ulong ret = H_SUCCESS;
    SpaprTceTable *tcet = tce_hcall_table(liobn, &ret);
    uint64_t index, tce = 0;

    if (tcet) {
        if (tce_index(tcet, ioba, 1, &index)) {
            tce = tce_read(tcet, index);
            args[0] = tce;
        } else {
            ret = H_PARAMETER;
        }
    }
    trace_spapr_iommu_get(liobn, ioba, ret, tce);
    return ret;
}

/*
 * Up to 512 TCEs from a 4 KiB-aligned big-endian list in guest memory.
 * The whole range and the whole list are checked before any TCE changes.
 */
static target_ulong h_put_tce_indirect(PowerPCCPU *cpu,
                                       SpaprMachineState *spapr,
                                       target_ulong opcode, target_ulong *args)
{
    target_ulong liobn = args[0], ioba = args[1];
    target_ulong list = args[2], npages = args[3];
    target_ulong ret = H_SUCCESS;
    SpaprTceTable *tcet = tce_hcall_table(liobn, &ret);
    uint64_t tces[TCE_INDIRECT_MAX];
    uint64_t index, i;

    if (!tcet) {
        goto out;
    }
    if (npages > TCE_INDIRECT_MAX || (list & SPAPR_TCE_PAGE_MASK) ||
        !tce_index(tcet, ioba, npages, &index)) {
        ret = H_PARAMETER;
        goto out;
    }
    if (address_space_read(CPU(cpu)->as, list, MEMTXATTRS_UNSPECIFIED, tces,
                           npages * sizeof(tces[0])) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "H_PUT_TCE_INDIRECT: the list at 0x"
                      TARGET_FMT_lx " is not in memory\n", list);
        ret = H_PARAMETER;
        goto out;
    }
    if (!tcet->table) {
        tce_leaves_for_bulk(TCE_STATE(tcet), index, npages);
    }
    for (i = 0; i < npages; i++) {
        if (!tce_put(tcet, index + i, be64_to_cpu(tces[i]))) {
            ret = H_HARDWARE;
            break;
        }
    }
out:
    trace_spapr_iommu_indirect(liobn, ioba, list, npages, 0, ret);
    return ret;
}

typedef struct TceClearRange {
    uint64_t first, count;
    uint64_t *index;
    uint64_t n;
} TceClearRange;

static void tce_collect_in_range(uint64_t index, uint64_t tce, void *opaque)
{
    TceClearRange *r = opaque;

    if (index - r->first < r->count) {
        r->index[r->n++] = index;
    }
}

/*
 * Clear @count TCEs from @first, visiting only those set: a guest may
 * clear all of a huge window that holds a few.
 */
static void tce_clear_range(SpaprTceTable *tcet, uint64_t first,
                            uint64_t count)
{
    SpaprTceTableState *ts = TCE_STATE(tcet);
    TceClearRange r = { first, count, NULL, 0 };
    uint64_t i;

    r.index = g_new(uint64_t, ts->live + ts->leaf_live);
    tce_for_each(tcet, tce_collect_in_range, &r);
    for (i = 0; i < r.n; i++) {
        tce_put(tcet, r.index[i], 0);       /* a clear needs no memory */
    }
    g_free(r.index);
}

static target_ulong h_stuff_tce(PowerPCCPU *cpu, SpaprMachineState *spapr,
                                target_ulong opcode, target_ulong *args)
{
    target_ulong liobn = args[0], ioba = args[1];
    target_ulong tce = args[2], npages = args[3];
    target_ulong ret = H_SUCCESS;
    SpaprTceTable *tcet = tce_hcall_table(liobn, &ret);
    SpaprTceTableState *ts;
    uint64_t index, i;

    if (!tcet) {
        goto out;
    }
    if (!tce_index(tcet, ioba, npages, &index)) {
        ret = H_PARAMETER;
        goto out;
    }
    ts = TCE_STATE(tcet);
    if (!tce && !tcet->table && ts->live + ts->leaf_live < npages) {
        tce_clear_range(tcet, index, npages);
        goto out;
    }
    if (tce && !tcet->table) {
        tce_leaves_for_bulk(ts, index, npages);
    }
    for (i = 0; i < npages; i++) {
        if (!tce_put(tcet, index + i, tce)) {
            ret = H_HARDWARE;
            break;
        }
    }
out:
    trace_spapr_iommu_stuff(liobn, ioba, tce, npages, ret);
    return ret;
}

/* ---- migration ---- */

typedef struct TceMigFill {
    SpaprTceTableState *ts;
    uint32_t n;
} TceMigFill;

static void tce_mig_fill(uint64_t index, uint64_t tce, void *opaque)
{
    TceMigFill *f = opaque;

    f->ts->mig_index[f->n] = index;
    f->ts->mig_tce[f->n] = tce;
    f->n++;
}

static uint64_t tce_count(SpaprTceTable *tcet)
{
    uint64_t n = 0, i;

    if (!tcet->table) {
        return TCE_STATE(tcet)->live + TCE_STATE(tcet)->leaf_live;
    }
    for (i = 0; i < tcet->nb_table; i++) {
        n += !!tcet->table[i];
    }
    return n;
}

static int spapr_tce_table_pre_save(void *opaque)
{
    SpaprTceTableState *ts = opaque;
    SpaprTceTable *tcet = &ts->tcet;
    TceMigFill f = { ts, 0 };
    uint64_t count = tce_count(tcet);

    if (count > UINT32_MAX) {
        error_report("TCE table 0x%x: %" PRIu64 " TCEs are too many to "
                     "migrate", tcet->liobn, count);
        return -E2BIG;
    }
    g_free(ts->mig_index);
    g_free(ts->mig_tce);
    ts->mig_count = count;
    ts->mig_index = g_new(uint64_t, count);
    ts->mig_tce = g_new(uint64_t, count);
    tce_for_each(tcet, tce_mig_fill, &f);
    ts->mig_page_shift = tcet->page_shift;
    ts->mig_bus_offset = tcet->bus_offset;
    tcet->mig_nb_table = tcet->nb_table;
    trace_spapr_iommu_pre_save(tcet->liobn, tcet->nb_table, tcet->bus_offset,
                               tcet->page_shift);
    return 0;
}

static int spapr_tce_table_post_save(void *opaque)
{
    SpaprTceTableState *ts = opaque;

    g_free(ts->mig_index);
    g_free(ts->mig_tce);
    ts->mig_index = ts->mig_tce = NULL;
    ts->mig_count = 0;
    return 0;
}

static int spapr_tce_table_post_load(void *opaque, int version_id)
{
    SpaprTceTableState *ts = opaque;
    SpaprTceTable *tcet = &ts->tcet;
    uint32_t before = tcet->nb_table;
    int ret = 0;
    uint32_t i;

    if (tcet->vdev) {
        spapr_vio_set_bypass(tcet->vdev, tcet->bypass);
    }
    spapr_tce_table_disable(tcet);
    if (tcet->mig_nb_table) {
        if (ts->mig_page_shift < 12 || ts->mig_page_shift > 63 ||
            (uint64_t)tcet->mig_nb_table << ts->mig_page_shift >>
            ts->mig_page_shift != tcet->mig_nb_table) {
            error_report("TCE table 0x%x: a window of %u pages of 2^%u "
                         "bytes cannot be", tcet->liobn, tcet->mig_nb_table,
                         ts->mig_page_shift);
            ret = -EINVAL;
            goto out;
        }
        spapr_tce_table_enable(tcet, ts->mig_page_shift, ts->mig_bus_offset,
                               tcet->mig_nb_table);
        for (i = 0; i < ts->mig_count; i++) {
            uint64_t chunk = ts->mig_index[i] >> TCE_LEAF_BITS, old;
            uint32_t run;

            if (ts->mig_index[i] >= tcet->nb_table) {
                error_report("TCE table 0x%x: TCE %" PRIu64 " is outside "
                             "its window", tcet->liobn, ts->mig_index[i]);
                ret = -EINVAL;
                goto out;
            }
            /* A leaf's TCEs come chunk by chunk: make them a leaf again */
            if (!tcet->table && (i == 0 || ts->mig_index[i - 1] >>
                                 TCE_LEAF_BITS != chunk)) {
                for (run = 1; run < TCE_LEAF_PROMOTE &&
                     i + run < ts->mig_count &&
                     ts->mig_index[i + run] >> TCE_LEAF_BITS == chunk;
                     run++) {
                    /* count up to TCE_LEAF_PROMOTE */
                }
                if (run >= TCE_LEAF_PROMOTE && !tce_leaf_of(ts, chunk)) {
                    tce_leaf_make(ts, chunk);
                }
            }
            if (!tce_write(tcet, ts->mig_index[i], ts->mig_tce[i], &old)) {
                error_report("TCE table 0x%x: no memory for %u TCEs",
                             tcet->liobn, ts->mig_count);
                ret = -ENOMEM;
                goto out;
            }
        }
    }
    trace_spapr_iommu_post_load(tcet->liobn, before, tcet->nb_table,
                                tcet->bus_offset, tcet->page_shift);
out:
    spapr_tce_table_post_save(ts);
    return ret;
}

static const VMStateDescription vmstate_spapr_tce_table = {
    .name = "spapr_iommu",
    .version_id = 4,
    .minimum_version_id = 4,
    .pre_save = spapr_tce_table_pre_save,
    .post_save = spapr_tce_table_post_save,
    .post_load = spapr_tce_table_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32_EQUAL(tcet.liobn, SpaprTceTableState, NULL),
        VMSTATE_UINT32(tcet.mig_nb_table, SpaprTceTableState),
        VMSTATE_UINT32(mig_page_shift, SpaprTceTableState),
        VMSTATE_UINT64(mig_bus_offset, SpaprTceTableState),
        VMSTATE_BOOL(tcet.bypass, SpaprTceTableState),
        VMSTATE_BOOL(tcet.def_win, SpaprTceTableState),
        VMSTATE_UINT32(mig_count, SpaprTceTableState),
        VMSTATE_VARRAY_UINT32_ALLOC(mig_index, SpaprTceTableState, mig_count,
                                    0, vmstate_info_uint64, uint64_t),
        VMSTATE_VARRAY_UINT32_ALLOC(mig_tce, SpaprTceTableState, mig_count,
                                    0, vmstate_info_uint64, uint64_t),
        VMSTATE_END_OF_LIST()
    },
};

/* ---- the device ---- */

static void spapr_tce_table_realize(DeviceState *dev, Error **errp)
{
    SpaprTceTable *tcet = SPAPR_TCE_TABLE(dev);
    g_autofree char *root = g_strdup_printf("tce-root-%x", tcet->liobn);
    g_autofree char *iommu = g_strdup_printf("tce-iommu-%x", tcet->liobn);

    tcet->fd = -1;
    tcet->need_vfio = false;
    memory_region_init(&tcet->root, OBJECT(tcet), root, UINT64_MAX);
    memory_region_init_iommu(&tcet->iommu, sizeof(tcet->iommu),
                             TYPE_SPAPR_IOMMU_MEMORY_REGION, OBJECT(tcet),
                             iommu, 0);
    QLIST_INSERT_HEAD(&spapr_tce_tables, tcet, list);
    vmstate_register(VMSTATE_IF(tcet), tcet->liobn, &vmstate_spapr_tce_table,
                     tcet);
}

static void spapr_tce_table_unrealize(DeviceState *dev)
{
    SpaprTceTable *tcet = SPAPR_TCE_TABLE(dev);

    vmstate_unregister(VMSTATE_IF(tcet), &vmstate_spapr_tce_table, tcet);
    QLIST_REMOVE(tcet, list);
    spapr_tce_table_disable(tcet);
}

/* Every TCE cleared; the window stays as it is */
static void spapr_tce_reset(DeviceState *dev)
{
    SpaprTceTable *tcet = SPAPR_TCE_TABLE(dev);

    if (tcet->table) {
        memset(tcet->table, 0, tcet->nb_table * sizeof(tcet->table[0]));
    }
    tce_store_clear(TCE_STATE(tcet));
}

static void spapr_tce_table_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);

    dc->realize = spapr_tce_table_realize;
    dc->unrealize = spapr_tce_table_unrealize;
    device_class_set_legacy_reset(dc, spapr_tce_reset);
    /* Made by the PHBs and VIO devices that own the windows */
    dc->user_creatable = false;

    spapr_register_hypercall(H_PUT_TCE, h_put_tce);
    spapr_register_hypercall(H_GET_TCE, h_get_tce);
    spapr_register_hypercall(H_PUT_TCE_INDIRECT, h_put_tce_indirect);
    spapr_register_hypercall(H_STUFF_TCE, h_stuff_tce);
}

static void tce_iommu_region_class_init(ObjectClass *klass,
                                                 const void *data)
{
    IOMMUMemoryRegionClass *imrc = IOMMU_MEMORY_REGION_CLASS(klass);

    imrc->get_attr = tce_get_attr;
    imrc->notify_flag_changed = tce_notify_flag_changed;
    imrc->get_min_page_size = tce_min_page_size;
    imrc->replay = tce_replay;
    imrc->translate = tce_translate;
}

static const TypeInfo spapr_iommu_types[] = {
    {
        .name = TYPE_SPAPR_TCE_TABLE,
        .parent = TYPE_DEVICE,
        .instance_size = sizeof(SpaprTceTableState),
        .class_init = spapr_tce_table_class_init,
    }, {
        .name = TYPE_SPAPR_IOMMU_MEMORY_REGION,
        .parent = TYPE_IOMMU_MEMORY_REGION,
        .class_init = tce_iommu_region_class_init,
        /* A lookup reads the TCE and changes nothing */
        .interfaces = (const InterfaceInfo[]) {
            { TYPE_IOMMU_SIDE_EFFECT_FREE_LOOKUP },
            { }
        },
    },
};

DEFINE_TYPES(spapr_iommu_types)
