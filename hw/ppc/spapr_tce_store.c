/*
 * The TCEs of one sPAPR DMA window that are set (see spapr_tce_store.h)
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/guest-random.h"
#include "hw/ppc/spapr_tce_store.h"

#define LEAF_MASK               (TCE_STORE_LEAF_SIZE - 1)
#define NODE_SIZE               (1u << TCE_STORE_NODE_BITS)

/*
 * A hashed leaf has 4 to 256 slots, at most 3/4 of them with a key: 192
 * TCEs, 2.5 KiB.  A leaf takes whichever of the two shapes is smaller for
 * its TCEs, flat over a power of two of TCEs that covers their run, or
 * hashed; more than 192 TCEs go flat.
 *
 * A leaf only grows while TCEs come and go one by one: a TCE cleared
 * leaves its leaf as it was, and a leaf without room for a new TCE is
 * made over bigger than it was.  Linux maps and unmaps a page at a time,
 * each IOBA in turn; shrinking what a clear empties would make each map
 * an allocation and each unmap a free after a grace period (20 times
 * upstream's cost for the pair, measured), where this way a chunk is
 * made over a few times on the first pass and never after.  No chunk
 * costs more than its flat leaf all the same; what frees a leaf is a
 * clear of its whole chunk (H_STUFF_TCE over it, a window's reset or
 * removal).
 */
#define HASH_MIN_SLOTS          4
#define HASH_MAX_SLOTS          256
#define HASH_MAX_LIVE           (HASH_MAX_SLOTS / 4 * 3)

typedef SpaprTceStoreNode Node;
typedef SpaprTceStoreLeaf Leaf;

static size_t node_bytes(uint32_t slots)
{
    return sizeof(Node) + slots * sizeof(void *);
}

static size_t leaf_bytes(unsigned slots, bool hashed)
{
    return sizeof(Leaf) + slots * (sizeof(uint64_t) +
                                   (hashed ? sizeof(uint16_t) : 0));
}

static uint16_t *leaf_keys(Leaf *leaf)
{
    return (uint16_t *)&leaf->tce[leaf->slots];
}

static unsigned hash_max_used(unsigned slots)
{
    return slots / 4 * 3;
}

/* The fewest slots that hold @live TCEs at most 3/4 full */
static inline unsigned hash_slots_for(unsigned live)
{
    return MAX(HASH_MIN_SLOTS, pow2ceil(DIV_ROUND_UP(live * 4, 3)));
}

/* The TCEs of chunk @chunk: 512, or fewer for the last of a window */
static unsigned chunk_tces(SpaprTceStore *s, uint64_t chunk)
{
    return MIN(TCE_STORE_LEAF_SIZE, s->nb - (chunk << TCE_STORE_LEAF_BITS));
}

/* ---- memory: fallible, counted, and bounded by the limit ---- */

static void *store_alloc(SpaprTceStore *s, size_t bytes)
{
    void *p;

    if (s->limit && s->bytes + bytes > s->limit) {
        return NULL;
    }
    p = g_try_malloc(bytes);
    if (p) {
        s->bytes += bytes;
    }
    return p;
}

static void node_free(SpaprTceStore *s, Node *n)
{
    s->bytes -= node_bytes(n->slots);
    g_free_rcu(n, rcu);
}

static void leaf_free(SpaprTceStore *s, Leaf *leaf)
{
    s->bytes -= leaf_bytes(leaf->slots, leaf->mult);
    g_free_rcu(leaf, rcu);
}

static Node *node_new(SpaprTceStore *s, uint32_t slots, uint32_t shift)
{
    Node *n = store_alloc(s, node_bytes(slots));

    if (n) {
        n->slots = slots;
        n->used = 0;
        n->shift = shift;
        memset(n->child, 0, slots * sizeof(void *));
    }
    return n;
}

/*
 * An empty leaf: flat with @slots TCEs from offset @base, or hashed with
 * @slots slots
 */
static Leaf *leaf_new(SpaprTceStore *s, unsigned slots, bool hashed,
                      unsigned base)
{
    Leaf *leaf = store_alloc(s, leaf_bytes(slots, hashed));

    if (!leaf) {
        return NULL;
    }
    s->leaves_made++;
    leaf->slots = slots;
    leaf->mult = hashed ? s->mult : 0;
    if (hashed) {
        leaf->used = 0;
    } else {
        leaf->base = base;
    }
    leaf->live = 0;
    memset(leaf->tce, 0, slots * sizeof(uint64_t));
    if (hashed) {
        memset(leaf_keys(leaf), 0xff, slots * sizeof(uint16_t));
    }
    return leaf;
}

/* ---- a leaf's TCEs ---- */

static unsigned hash_home(Leaf *leaf, unsigned off)
{
    return (uint16_t)(off * leaf->mult) >> (16 - ctz32(leaf->slots));
}

/* The slot of key @off in a hashed leaf, or of the empty slot ending it */
static unsigned hash_find(Leaf *leaf, unsigned off, bool *found)
{
    uint16_t *key = leaf_keys(leaf);
    unsigned mask = leaf->slots - 1, i = hash_home(leaf, off), n;

    *found = false;
    for (n = 0; n < leaf->slots; n++, i = (i + 1) & mask) {
        if (key[i] == off) {
            *found = true;
            return i;
        }
        if (key[i] == TCE_STORE_NO_KEY) {
            return i;
        }
    }
    return leaf->slots;     /* full: reserve() never lets that happen */
}

uint64_t spapr_tce_store_hashed_lookup(const SpaprTceStoreLeaf *leaf,
                                       unsigned off)
{
    const uint16_t *key = (const uint16_t *)&leaf->tce[leaf->slots];
    unsigned mask = leaf->slots - 1, i, n;

    i = (uint16_t)(off * leaf->mult) >> (16 - ctz32(leaf->slots));
    /* At most 3/4 of the slots have a key: an empty one ends the probe */
    for (n = 0; n < leaf->slots; n++, i = (i + 1) & mask) {
        uint16_t k = qatomic_read(&key[i]);

        if (k == off) {
            smp_rmb();          /* pairs with the store's: TCE, then key */
            return qatomic_read(&leaf->tce[i]);
        }
        if (k == TCE_STORE_NO_KEY) {
            break;
        }
    }
    return 0;
}

/* Into a leaf nobody reads yet */
static void leaf_fill(Leaf *leaf, unsigned off, uint64_t tce)
{
    bool found;
    unsigned i;

    if (!leaf->mult) {
        leaf->tce[off - leaf->base] = tce;
    } else {
        i = hash_find(leaf, off, &found);
        leaf->tce[i] = tce;
        leaf_keys(leaf)[i] = off;
        leaf->used++;
        leaf->live++;
    }
}

/* Call @fn(offset, TCE) for each TCE of @leaf, in offset order */
static void leaf_foreach(Leaf *leaf, void (*fn)(unsigned, uint64_t, void *),
                         void *opaque)
{
    uint16_t slot[TCE_STORE_LEAF_SIZE];
    uint16_t *key;
    unsigned i;

    if (!leaf->mult) {
        for (i = 0; i < leaf->slots; i++) {
            if (leaf->tce[i]) {
                fn(leaf->base + i, leaf->tce[i], opaque);
            }
        }
        return;
    }
    key = leaf_keys(leaf);
    memset(slot, 0xff, sizeof(slot));
    for (i = 0; i < leaf->slots; i++) {
        if (key[i] != TCE_STORE_NO_KEY && leaf->tce[i]) {
            slot[key[i]] = i;
        }
    }
    for (i = 0; i < TCE_STORE_LEAF_SIZE; i++) {
        if (slot[i] != TCE_STORE_NO_KEY) {
            fn(i, leaf->tce[slot[i]], opaque);
        }
    }
}

/*
 * Call @fn(offset, TCE) for each TCE of @leaf in the order they are kept:
 * a copy into another leaf needs no order, and a hashed leaf's is not
 * worth sorting for it
 */
static void leaf_foreach_kept(Leaf *leaf,
                              void (*fn)(unsigned, uint64_t, void *),
                              void *opaque)
{
    uint16_t *key;
    unsigned i;

    if (!leaf->mult) {
        leaf_foreach(leaf, fn, opaque);
        return;
    }
    key = leaf_keys(leaf);
    for (i = 0; i < leaf->slots; i++) {
        if (key[i] != TCE_STORE_NO_KEY && leaf->tce[i]) {
            fn(key[i], leaf->tce[i], opaque);
        }
    }
}

static void leaf_copy_one(unsigned off, uint64_t tce, void *opaque)
{
    leaf_fill(opaque, off, tce);
}

/* The TCEs set in @leaf: a hashed leaf counts them, a flat one is read */
static unsigned leaf_live(Leaf *leaf)
{
    unsigned i, n = 0;

    if (leaf->mult) {
        return leaf->live;
    }
    for (i = 0; i < leaf->slots; i++) {
        n += !!leaf->tce[i];
    }
    return n;
}

/* The offsets of the TCEs set in a leaf: [lo, hi], empty if lo > hi */
typedef struct OffRange {
    unsigned lo, hi;
} OffRange;

#define OFF_RANGE_EMPTY ((OffRange) { TCE_STORE_LEAF_SIZE, 0 })

static void off_range_add(OffRange *r, unsigned off)
{
    r->lo = MIN(r->lo, off);
    r->hi = MAX(r->hi, off);
}

static void off_range_one(unsigned off, uint64_t tce, void *opaque)
{
    off_range_add(opaque, off);
}

static OffRange leaf_range(Leaf *leaf)
{
    OffRange r = OFF_RANGE_EMPTY;

    if (leaf) {
        leaf_foreach_kept(leaf, off_range_one, &r);
    }
    return r;
}

/*
 * A copy of @old's TCEs with room for @live TCEs at offsets @want (which
 * covers @old's), bigger than @old: flat or hashed, whichever is smaller;
 * NULL without memory.  A flat leaf's run is a power of two, so that a
 * run growing one TCE at a time is copied a few times, not at each TCE;
 * it leaves its room on the side the run grows to (@down: below @old's).
 * As each leaf a chunk takes is bigger than the last, and none is bigger
 * than the flat leaf over the chunk, a chunk is made over a few times at
 * most, however its TCEs come and go.
 */
static Leaf *leaf_grow(SpaprTceStore *s, uint64_t chunk, Leaf *old,
                       unsigned live, OffRange want, bool down)
{
    size_t floor = old ? leaf_bytes(old->slots, old->mult) : 0;
    unsigned chunk_len = chunk_tces(s, chunk);
    unsigned run = MIN(pow2ceil(want.hi - want.lo + 1), chunk_len);
    unsigned slots = hash_slots_for(live);
    bool hashed;
    unsigned base = 0;
    Leaf *leaf;

    while (run < chunk_len && leaf_bytes(run, false) <= floor) {
        run = MIN(run * 2, chunk_len);
    }
    while (slots <= HASH_MAX_SLOTS && leaf_bytes(slots, true) <= floor) {
        slots *= 2;
    }
    hashed = live <= HASH_MAX_LIVE && slots <= HASH_MAX_SLOTS &&
             slots < chunk_len &&
             leaf_bytes(slots, true) < leaf_bytes(run, false);

    if (!hashed) {
        base = down ? MAX((int)want.hi + 1 - (int)run, 0) : want.lo;
        base = MIN(base, chunk_len - run);
    }
    leaf = leaf_new(s, hashed ? slots : run, hashed, base);
    if (leaf && old) {
        leaf_foreach_kept(old, leaf_copy_one, leaf);
    }
    return leaf;
}

/* ---- finding and placing nodes and leaves ---- */

/* The chunks of the window, each a leaf's */
static uint64_t store_chunks(SpaprTceStore *s)
{
    return DIV_ROUND_UP(s->nb, TCE_STORE_LEAF_SIZE);
}

/* Whether the root is over nodes of 512 leaves, rather than over leaves */
static bool store_has_mid(SpaprTceStore *s)
{
    return store_chunks(s) > NODE_SIZE;
}

/*
 * The node above @chunk's leaf, or NULL.  BQL held, so that the root is
 * the one made for this window: its shape follows from the window's size,
 * and the root's header, a cache line of its own, need not be read.
 */
static Node *leaf_parent(SpaprTceStore *s, uint64_t chunk)
{
    Node *n = s->root;

    if (!n || chunk >= store_chunks(s)) {
        return NULL;
    }
    return store_has_mid(s) ? n->child[chunk >> TCE_STORE_NODE_BITS] : n;
}

static unsigned leaf_slot(Node *parent, uint64_t chunk)
{
    /*
     * A node over leaves always indexes by the chunk's low bits: with the
     * mask a constant, the child's load need not wait for the node's
     * header, which is often a cache miss of its own
     */
    return chunk & (NODE_SIZE - 1);
}

/* @chunk's child pointer: NULL, a leaf, or a whole leaf's tagged pointer */
static void *leaf_child(SpaprTceStore *s, uint64_t chunk)
{
    Node *n = leaf_parent(s, chunk);

    return n ? n->child[leaf_slot(n, chunk)] : NULL;
}

static Leaf *leaf_of(SpaprTceStore *s, uint64_t chunk)
{
    return spapr_tce_store_leaf_untag(leaf_child(s, chunk));
}

/* A root for the window: over leaves, or over nodes of 512 leaves */
static Node *root_new(SpaprTceStore *s)
{
    uint64_t chunks = store_chunks(s);

    if (!store_has_mid(s)) {
        return node_new(s, chunks, TCE_STORE_LEAF_BITS);
    }
    return node_new(s, DIV_ROUND_UP(chunks, NODE_SIZE), TCE_STORE_MID_SHIFT);
}

/*
 * The node above @chunk's leaf, made (empty) if it was missing; NULL
 * without memory.  BQL held.
 */
static Node *leaf_parent_make(SpaprTceStore *s, uint64_t chunk)
{
    Node *root = s->root, *mid;
    uint64_t i;

    if (!root) {
        root = root_new(s);
        if (!root) {
            return NULL;
        }
        qatomic_rcu_set(&s->root, root);
    }
    if (!store_has_mid(s)) {
        return root;
    }
    i = chunk >> TCE_STORE_NODE_BITS;
    mid = root->child[i];
    if (!mid) {
        mid = node_new(s, NODE_SIZE, TCE_STORE_LEAF_BITS);
        if (!mid) {
            return NULL;
        }
        qatomic_rcu_set(&root->child[i], mid);
        root->used++;
    }
    return mid;
}

/*
 * Put @leaf (or NULL) in @chunk's place, whose parent exists; tagged if
 * it is flat over all 512 TCEs
 */
static void leaf_publish(SpaprTceStore *s, uint64_t chunk, Leaf *leaf)
{
    Node *parent = leaf_parent(s, chunk);
    unsigned i = leaf_slot(parent, chunk);
    Leaf *old = spapr_tce_store_leaf_untag(parent->child[i]);
    void *child = leaf;

    if (leaf && !leaf->mult && !leaf->base &&
        leaf->slots == TCE_STORE_LEAF_SIZE) {
        child = (void *)((uintptr_t)leaf | TCE_STORE_LEAF_WHOLE);
    }
    qatomic_rcu_set(&parent->child[i], child);
    parent->used += !!leaf - !!old;
    if (old) {
        leaf_free(s, old);
    }
}

/*
 * Let go of @chunk's leaf if it holds no TCE, and of nodes above it left
 * without children.  BQL held.
 */
static void chunk_prune(SpaprTceStore *s, uint64_t chunk)
{
    Node *root = s->root, *mid = leaf_parent(s, chunk);
    Leaf *leaf;
    uint64_t i;

    if (!mid) {
        if (root && !root->used) {
            qatomic_rcu_set(&s->root, NULL);
            node_free(s, root);
        }
        return;
    }
    leaf = spapr_tce_store_leaf_untag(mid->child[leaf_slot(mid, chunk)]);
    if (leaf && !leaf_live(leaf)) {
        leaf_publish(s, chunk, NULL);
    }
    if (mid != root && !mid->used) {
        i = chunk >> TCE_STORE_NODE_BITS;
        qatomic_rcu_set(&root->child[i], NULL);
        root->used--;
        node_free(s, mid);
    }
    if (!root->used) {
        qatomic_rcu_set(&s->root, NULL);
        node_free(s, root);
    }
}

/* ---- the API ---- */

void spapr_tce_store_init(SpaprTceStore *s, uint64_t nb)
{
    uint16_t mult;

    /* A multiplier the guest cannot know, so it cannot aim collisions */
    qemu_guest_getrandom_nofail(&mult, sizeof(mult));
    s->root = NULL;
    s->nb = nb;
    s->live = 0;
    s->bytes = 0;
    s->leaves_made = 0;
    s->mult = mult | 1;
}

void spapr_tce_store_destroy(SpaprTceStore *s)
{
    Node *root = s->root;
    uint32_t i, k;

    if (!root) {
        return;
    }
    qatomic_rcu_set(&s->root, NULL);
    for (i = 0; i < root->slots; i++) {
        Node *mid = root->child[i];

        if (!mid) {
            continue;
        }
        if (root->shift == TCE_STORE_LEAF_BITS) {
            leaf_free(s, spapr_tce_store_leaf_untag(root->child[i]));
            continue;
        }
        for (k = 0; k < mid->slots; k++) {
            if (mid->child[k]) {
                leaf_free(s, spapr_tce_store_leaf_untag(mid->child[k]));
            }
        }
        node_free(s, mid);
    }
    node_free(s, root);
    s->live = 0;
}

bool spapr_tce_store_reserve(SpaprTceStore *s, uint64_t first, uint64_t n,
                             const uint64_t *tces)
{
    uint64_t chunk, lo, hi, i;

    for (chunk = first >> TCE_STORE_LEAF_BITS;
         n && chunk <= (first + n - 1) >> TCE_STORE_LEAF_BITS; chunk++) {
        OffRange want = OFF_RANGE_EMPTY, had;
        unsigned k = 0;
        Leaf *leaf, *room;

        lo = MAX(first, chunk << TCE_STORE_LEAF_BITS);
        hi = MIN(first + n, (chunk + 1) << TCE_STORE_LEAF_BITS);
        for (i = lo; i < hi; i++) {
            if (!tces || tces[i - first]) {
                k++;
                off_range_add(&want, i & LEAF_MASK);
            }
        }
        if (!k) {
            continue;
        }
        if (!leaf_parent_make(s, chunk)) {
            goto fail;
        }
        leaf = leaf_of(s, chunk);
        if (leaf && (leaf->mult
                     ? leaf->used + k <= hash_max_used(leaf->slots)
                     : want.lo >= leaf->base &&
                       want.hi < leaf->base + leaf->slots)) {
            continue;               /* room already */
        }
        had = leaf_range(leaf);
        room = leaf_grow(s, chunk, leaf, (leaf ? leaf_live(leaf) : 0) + k,
                         (OffRange) { MIN(had.lo, want.lo),
                                      MAX(had.hi, want.hi) },
                         leaf && want.lo < had.lo && had.lo <= had.hi);
        if (!room) {
            goto fail;
        }
        leaf_publish(s, chunk, room);
    }
    return true;

fail:
    /* What this call made and nothing fills goes again */
    for (chunk = first >> TCE_STORE_LEAF_BITS;
         chunk <= (first + n - 1) >> TCE_STORE_LEAF_BITS; chunk++) {
        chunk_prune(s, chunk);
    }
    return false;
}

/* The TCE at @slot becomes @tce, counted in the store; returns what it was */
static inline uint64_t tce_swap(SpaprTceStore *s, uint64_t *slot,
                                uint64_t tce)
{
    uint64_t old = *slot;

    qatomic_set(slot, tce);
    s->live += !!tce - !!old;
    return old;
}

/* leaf_set() in a hashed leaf: a call, to keep the flat path small */
static uint64_t G_GNUC_NO_INLINE leaf_set_hashed(SpaprTceStore *s, Leaf *leaf,
                                                 unsigned off, uint64_t tce)
{
    bool found;
    unsigned i = hash_find(leaf, off, &found);

    if (!found) {
        if (!tce) {
            return 0;
        }
        assert(i < leaf->slots && leaf->used < hash_max_used(leaf->slots));
        qatomic_set(&leaf->tce[i], tce);
        /*
         * A reader sees the key only once the TCE is there: pairs with
         * spapr_tce_store_hashed_lookup()'s smp_rmb()
         */
        smp_wmb();
        qatomic_set(&leaf_keys(leaf)[i], off);
        leaf->used++;
        leaf->live++;
        s->live++;
        return 0;
    }
    /* A cleared TCE keeps its key: it is that key's slot again */
    leaf->live += !!tce - !!leaf->tce[i];
    return tce_swap(s, &leaf->tce[i], tce);
}

/* spapr_tce_store_set() in @chunk's @child (see leaf_child()) */
static inline uint64_t leaf_set(SpaprTceStore *s, void *child, unsigned off,
                                uint64_t tce)
{
    Leaf *leaf = spapr_tce_store_leaf_untag(child);
    unsigned i;

    if (likely(spapr_tce_store_leaf_is_whole(child))) {
        return tce_swap(s, &leaf->tce[off], tce);
    }
    if (!leaf) {
        /* Setting needs reserved room; clearing what is not set is done */
        assert(!tce);
        return 0;
    }
    if (leaf->mult) {
        return leaf_set_hashed(s, leaf, off, tce);
    }
    i = off - leaf->base;
    if (i >= leaf->slots) {
        /* Outside the run: setting needs reserved room */
        assert(!tce);
        return 0;
    }
    return tce_swap(s, &leaf->tce[i], tce);
}

uint64_t spapr_tce_store_set(SpaprTceStore *s, uint64_t index, uint64_t tce)
{
    return leaf_set(s, leaf_child(s, index >> TCE_STORE_LEAF_BITS),
                    index & LEAF_MASK, tce);
}

/* Whether leaf_set() can set TCE @off to a non-zero value without room */
static inline bool leaf_has_room(Leaf *leaf, unsigned off)
{
    bool found;

    if (!leaf->mult) {
        return off - leaf->base < leaf->slots;
    }
    if (leaf->used < hash_max_used(leaf->slots)) {
        return true;
    }
    hash_find(leaf, off, &found);
    return found;
}

bool spapr_tce_store_put(SpaprTceStore *s, uint64_t index, uint64_t tce,
                         uint64_t *old)
{
    uint64_t chunk = index >> TCE_STORE_LEAF_BITS;
    unsigned off = index & LEAF_MASK;
    void *child = leaf_child(s, chunk);
    Leaf *leaf = spapr_tce_store_leaf_untag(child);

    /*
     * Most puts land in a leaf that has room, and leave it as it is: one
     * walk down the tree, where reserve and set would make two
     */
    if (tce && !spapr_tce_store_leaf_is_whole(child) &&
        !(leaf && leaf_has_room(leaf, off))) {
        if (!spapr_tce_store_reserve(s, index, 1, NULL)) {
            return false;
        }
        child = leaf_child(s, chunk);
    }
    *old = leaf_set(s, child, off, tce);
    return true;
}

void spapr_tce_store_set_many(SpaprTceStore *s, uint64_t first, uint64_t n,
                              const uint64_t *tces, uint64_t *old)
{
    uint64_t i = 0;

    while (i < n) {
        uint64_t index = first + i;
        unsigned off = index & LEAF_MASK;
        unsigned run = MIN(n - i, TCE_STORE_LEAF_SIZE - off);
        void *child = leaf_child(s, index >> TCE_STORE_LEAF_BITS);
        Leaf *leaf = spapr_tce_store_leaf_untag(child);

        if (leaf && !leaf->mult && off >= leaf->base &&
            off + run <= leaf->base + leaf->slots) {
            /* Within a flat leaf's run: straight in, counted once */
            uint64_t *tce = &leaf->tce[off - leaf->base];
            int delta = 0;

            for (; run; run--, i++, tce++) {
                uint64_t was = *tce;

                qatomic_set(tce, tces[i]);
                delta += !!tces[i] - !!was;
                if (old) {
                    old[i] = was;
                }
            }
            s->live += delta;
            continue;
        }
        for (; run; run--, i++, off++) {
            uint64_t was = leaf_set(s, child, off, tces[i]);

            if (old) {
                old[i] = was;
            }
        }
    }
}

typedef struct ClearChunk {
    uint64_t base, lo, hi;
    SpaprTceVisit *fn;
    void *opaque;
    unsigned n;
    uint16_t off[TCE_STORE_LEAF_SIZE];
} ClearChunk;

static void clear_collect(unsigned off, uint64_t tce, void *opaque)
{
    ClearChunk *c = opaque;

    if (c->base + off >= c->lo && c->base + off < c->hi) {
        c->off[c->n++] = off;
    }
}

static void clear_visit(unsigned off, uint64_t tce, void *opaque)
{
    ClearChunk *c = opaque;

    c->fn(c->base + off, tce, c->opaque);
}

/*
 * Clear @c's TCEs in @chunk.  True when that was all of the chunk, whose
 * leaf is then gone; a leaf cleared in part stays, to be filled again.
 */
static bool clear_chunk(SpaprTceStore *s, uint64_t chunk, ClearChunk *c)
{
    Node *parent = leaf_parent(s, chunk);
    Leaf *leaf = parent ? spapr_tce_store_leaf_untag(
                              parent->child[leaf_slot(parent, chunk)]) : NULL;
    unsigned i;

    if (!leaf) {
        return false;
    }
    c->base = chunk << TCE_STORE_LEAF_BITS;
    if (c->lo <= c->base && c->base + chunk_tces(s, chunk) <= c->hi) {
        /*
         * All of the chunk: the leaf goes as it is, and is visited before
         * it is freed (after readers that found it are done)
         */
        qatomic_rcu_set(&parent->child[leaf_slot(parent, chunk)], NULL);
        parent->used--;
        s->live -= leaf_live(leaf);
        if (c->fn) {
            leaf_foreach(leaf, clear_visit, c);
        }
        leaf_free(s, leaf);
        return true;
    }
    c->n = 0;
    leaf_foreach(leaf, clear_collect, c);
    for (i = 0; i < c->n; i++) {
        uint64_t old = spapr_tce_store_set(s, c->base + c->off[i], 0);

        if (c->fn) {
            c->fn(c->base + c->off[i], old, c->opaque);
        }
    }
    return false;
}

void spapr_tce_store_clear_range(SpaprTceStore *s, uint64_t first,
                                 uint64_t n, SpaprTceVisit *fn, void *opaque)
{
    ClearChunk c = { .lo = first, .hi = first + n, .fn = fn,
                     .opaque = opaque };
    uint64_t last = first + n - 1, chunk, end;

    if (!n) {
        return;
    }
    for (chunk = first >> TCE_STORE_LEAF_BITS;
         s->root && chunk <= last >> TCE_STORE_LEAF_BITS; chunk = end) {
        /* Skip a missing node's chunks at once */
        end = chunk + 1;
        if (s->root->shift != TCE_STORE_LEAF_BITS &&
            !s->root->child[chunk >> TCE_STORE_NODE_BITS]) {
            end = (chunk | (NODE_SIZE - 1)) + 1;
            continue;
        }
        if (clear_chunk(s, chunk, &c)) {
            chunk_prune(s, chunk);
        }
    }
}

typedef struct ForEach {
    uint64_t base;
    SpaprTceVisit *fn;
    void *opaque;
} ForEach;

static void foreach_one(unsigned off, uint64_t tce, void *opaque)
{
    ForEach *f = opaque;

    f->fn(f->base + off, tce, f->opaque);
}

void spapr_tce_store_foreach(SpaprTceStore *s, SpaprTceVisit *fn,
                             void *opaque)
{
    ForEach f = { .fn = fn, .opaque = opaque };
    Node *root = s->root;
    uint64_t i, k;

    for (i = 0; root && i < root->slots; i++) {
        Node *mid = root->child[i];

        if (root->shift == TCE_STORE_LEAF_BITS) {
            if (root->child[i]) {
                f.base = i << TCE_STORE_LEAF_BITS;
                leaf_foreach(spapr_tce_store_leaf_untag(root->child[i]),
                             foreach_one, &f);
            }
            continue;
        }
        for (k = 0; mid && k < mid->slots; k++) {
            if (mid->child[k]) {
                f.base = ((i << TCE_STORE_NODE_BITS) + k) <<
                         TCE_STORE_LEAF_BITS;
                leaf_foreach(spapr_tce_store_leaf_untag(mid->child[k]),
                             foreach_one, &f);
            }
        }
    }
}
