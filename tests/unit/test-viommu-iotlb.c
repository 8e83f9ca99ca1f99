/*
 * Unit tests for the shared vIOMMU translation cache (hw/iommu)
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/iommu/viommu-iotlb.h"

#define SZ_4K       12
#define SZ_2M       21
#define SZ_1G       30
#define SIZES_4K    (VIOMMU_IOTLB_SIZE(SZ_4K) | VIOMMU_IOTLB_SIZE(SZ_2M) | \
                     VIOMMU_IOTLB_SIZE(SZ_1G))

/* Context tags laid out as a model might: VMID << 16 | ASID, by VMID */
#define CTX(vmid, asid) (((uint64_t)(vmid) << 16) | (asid))
#define GROUP_MASK      0xffff0000ull
#define GROUP(vmid)     CTX(vmid, 0)

static void init(ViommuIotlb *tlb, uint32_t capacity)
{
    viommu_iotlb_init(tlb, capacity, GROUP_MASK);
}

/* A non-global entry */
static void insert(ViommuIotlb *tlb, uint64_t ctx, uint64_t iova,
                   unsigned shift, uint64_t out, uint16_t perm)
{
    viommu_iotlb_insert(tlb, ctx, iova, shift, out, perm, 0, false);
}

static void assert_maps(ViommuIotlb *tlb, uint64_t ctx, uint64_t iova,
                        uint64_t out, uint16_t perm)
{
    ViommuIotlbEntry *e = viommu_iotlb_lookup(tlb, ctx, iova, SIZES_4K);

    g_assert_nonnull(e);
    g_assert_cmphex(e->out + (iova - e->iova), ==, out);
    g_assert_cmphex(e->perm, ==, perm);
}

static void assert_misses(ViommuIotlb *tlb, uint64_t ctx, uint64_t iova)
{
    g_assert_null(viommu_iotlb_lookup(tlb, ctx, iova, SIZES_4K));
}

static void test_hit_each_size(void)
{
    ViommuIotlb tlb;

    init(&tlb, 64);
    insert(&tlb, CTX(1, 1), 0x12345678, SZ_4K, 0x80001000, 3);
    insert(&tlb, CTX(1, 1), 0x40123456, SZ_2M, 0x90000000, 1);
    insert(&tlb, CTX(1, 1), 0x80000000, SZ_1G, 0x100000000, 2);
    assert_maps(&tlb, CTX(1, 1), 0x12345fff, 0x80001fff, 3);
    assert_misses(&tlb, CTX(1, 1), 0x12346000);
    assert_maps(&tlb, CTX(1, 1), 0x40000000, 0x90000000, 1);
    assert_maps(&tlb, CTX(1, 1), 0x401fffff, 0x901fffff, 1);
    assert_misses(&tlb, CTX(1, 1), 0x40200000);
    assert_maps(&tlb, CTX(1, 1), 0xbfffffff, 0x13fffffff, 2);
    /* Another context, or a size the caller rules out, does not hit */
    assert_misses(&tlb, CTX(1, 2), 0x12345678);
    assert_misses(&tlb, CTX(2, 1), 0x12345678);
    g_assert_null(viommu_iotlb_lookup(&tlb, CTX(1, 1), 0x40000000,
                                      VIOMMU_IOTLB_SIZE(SZ_4K)));
    g_assert_cmpuint(tlb.used, ==, 3);
    viommu_iotlb_destroy(&tlb);
}

static void test_reinsert_replaces(void)
{
    ViommuIotlb tlb;

    init(&tlb, 8);
    insert(&tlb, CTX(0, 7), 0x1000, SZ_4K, 0xa000, 1);
    viommu_iotlb_insert(&tlb, CTX(0, 7), 0x1234, SZ_4K, 0xb000, 3, 5, false);
    g_assert_cmpuint(tlb.used, ==, 1);
    assert_maps(&tlb, CTX(0, 7), 0x1010, 0xb010, 3);
    g_assert_cmpuint(viommu_iotlb_lookup(&tlb, CTX(0, 7), 0x1000,
                                         SIZES_4K)->flags, ==, 5);
    /* Now global: one entry still, found by the group's global search */
    viommu_iotlb_insert(&tlb, CTX(0, 7), 0x1000, SZ_4K, 0xc000, 3, 0, true);
    g_assert_cmpuint(tlb.used, ==, 1);
    assert_maps(&tlb, CTX(0, 7), 0x1010, 0xc010, 3);
    g_assert_cmpuint(viommu_iotlb_invalidate_group_range(&tlb, GROUP(0),
                                                         0x1000, 1, true),
                     ==, 1);
    g_assert_cmpuint(tlb.used, ==, 0);
    viommu_iotlb_destroy(&tlb);
}

static void test_full_evicts_one(void)
{
    ViommuIotlb tlb;
    const uint32_t cap = 16;

    init(&tlb, cap);
    for (uint32_t i = 0; i < cap; i++) {
        insert(&tlb, CTX(0, 1), (uint64_t)i << 12, SZ_4K,
               0x100000 + ((uint64_t)i << 12), 1);
    }
    g_assert_cmpuint(tlb.used, ==, cap);
    /*
     * Every entry was used once (inserted): the clock hand clears them
     * all on its first lap and then evicts exactly one, slot 0.
     */
    insert(&tlb, CTX(0, 1), 0x100000, SZ_4K, 0x900000, 1);
    g_assert_cmpuint(tlb.used, ==, cap);
    g_assert_cmpuint(tlb.stats.evictions, ==, 1);
    assert_misses(&tlb, CTX(0, 1), 0);
    for (uint32_t i = 1; i < cap; i++) {
        assert_maps(&tlb, CTX(0, 1), (uint64_t)i << 12,
                    0x100000 + ((uint64_t)i << 12), 1);
    }
    /*
     * All survivors were just used again; slot 0 holds the newest entry.
     * The next eviction takes the first slot past the hand that has not
     * been used since the hand cleared it: entry 1.
     */
    insert(&tlb, CTX(0, 1), 0x200000, SZ_4K, 0xa00000, 1);
    g_assert_cmpuint(tlb.stats.evictions, ==, 2);
    g_assert_cmpuint(tlb.used, ==, cap);
    assert_misses(&tlb, CTX(0, 1), 1 << 12);
    assert_maps(&tlb, CTX(0, 1), 0x100000, 0x900000, 1);
    assert_maps(&tlb, CTX(0, 1), 0x200000, 0xa00000, 1);
    /* Evicting a context's last entry drops the context, not the rest */
    for (uint32_t i = 0; i < 3 * cap; i++) {
        insert(&tlb, CTX(i % 5, i % 3), (uint64_t)i << 21, SZ_2M, 0, 1);
    }
    g_assert_cmpuint(tlb.used, ==, cap);
    assert_maps(&tlb, CTX(47 % 5, 47 % 3), 47ull << 21, 0, 1);
    viommu_iotlb_flush(&tlb);
    g_assert_cmpuint(tlb.used, ==, 0);
    viommu_iotlb_destroy(&tlb);
}

static void test_invalidate_context_and_group(void)
{
    ViommuIotlb tlb;

    init(&tlb, 64);
    for (int i = 0; i < 5; i++) {
        insert(&tlb, CTX(1, 1), i << 12, SZ_4K, 0, 1);
        insert(&tlb, CTX(1, 2), i << 12, SZ_4K, 0, 1);
        insert(&tlb, CTX(2, 1), i << 12, SZ_4K, 0, 1);
    }
    g_assert_cmpuint(viommu_iotlb_invalidate_context(&tlb, CTX(1, 2)), ==, 5);
    g_assert_cmpuint(viommu_iotlb_invalidate_context(&tlb, CTX(1, 2)), ==, 0);
    g_assert_cmpuint(tlb.used, ==, 10);
    assert_misses(&tlb, CTX(1, 2), 0x3000);
    assert_maps(&tlb, CTX(1, 1), 0x3000, 0, 1);
    assert_maps(&tlb, CTX(2, 1), 0x3000, 0, 1);

    /* Every ASID of VMID 1: the groups whose tag lies in a range */
    insert(&tlb, CTX(1, 9), 0x9000, SZ_4K, 0, 1);
    g_assert_cmpuint(viommu_iotlb_invalidate_groups(&tlb, GROUP(1),
                                                    GROUP(1)), ==, 6);
    g_assert_cmpuint(tlb.used, ==, 5);
    assert_misses(&tlb, CTX(1, 1), 0);
    assert_misses(&tlb, CTX(1, 9), 0x9000);
    assert_maps(&tlb, CTX(2, 1), 0x4000, 0, 1);
    g_assert_cmpuint(tlb.stats.invalidated, ==, 11);
    /* A range of groups: VMIDs 2 to 7 */
    insert(&tlb, CTX(7, 3), 0x9000, SZ_4K, 0, 1);
    insert(&tlb, CTX(8, 3), 0x9000, SZ_4K, 0, 1);
    g_assert_cmpuint(viommu_iotlb_invalidate_groups(&tlb, GROUP(2),
                                                    GROUP(7) | 0xffff), ==,
                     6);
    assert_maps(&tlb, CTX(8, 3), 0x9000, 0, 1);

    viommu_iotlb_flush(&tlb);
    g_assert_cmpuint(tlb.used, ==, 0);
    assert_misses(&tlb, CTX(8, 3), 0x9000);
    viommu_iotlb_destroy(&tlb);
}

static void test_invalidate_range(void)
{
    ViommuIotlb tlb;

    init(&tlb, 256);
    /* 4K pages 0..63 at 0x10000000, a 2M block below, a 1G block above */
    for (int i = 0; i < 64; i++) {
        insert(&tlb, CTX(0, 1), 0x10000000 + (i << 12), SZ_4K, 0x1000 * i, 1);
    }
    insert(&tlb, CTX(0, 1), 0x0fe00000, SZ_2M, 0, 1);
    insert(&tlb, CTX(0, 1), 0x40000000, SZ_1G, 0, 1);
    insert(&tlb, CTX(0, 2), 0x10001000, SZ_4K, 0, 1);

    /* Pages 1 and 2: exactly those two, of context 1 only */
    g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, CTX(0, 1),
                                                   0x10001000, 0x2000), ==,
                     2);
    assert_maps(&tlb, CTX(0, 1), 0x10000000, 0, 1);
    assert_misses(&tlb, CTX(0, 1), 0x10001000);
    assert_misses(&tlb, CTX(0, 1), 0x10002000);
    assert_maps(&tlb, CTX(0, 1), 0x10003000, 0x3000, 1);
    assert_maps(&tlb, CTX(0, 2), 0x10001000, 0, 1);

    /* One byte inside a block takes the whole block */
    g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, CTX(0, 1),
                                                   0x7fffffff, 1), ==, 1);
    assert_misses(&tlb, CTX(0, 1), 0x40000000);

    /* A range that holds nothing, whatever its size */
    g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, CTX(0, 1),
                                                   0x100000000ull,
                                                   1ull << 50), ==, 0);

    /* A range reaching past 2^64 does not wrap to address 0 */
    insert(&tlb, CTX(0, 3), 0, SZ_4K, 0, 1);
    insert(&tlb, CTX(0, 3), 0xfffffffffffff000ull, SZ_4K, 0, 1);
    g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, CTX(0, 3),
                                                   0xffffffffffffe000ull,
                                                   0x4000), ==, 1);
    assert_maps(&tlb, CTX(0, 3), 0x10, 0x10, 1);

    /*
     * Over the group: the 62 pages and the 2M block of context 1, and
     * one entry each of contexts 2 and 3
     */
    g_assert_cmpuint(viommu_iotlb_invalidate_group_range(&tlb, GROUP(0), 0,
                                                         1ull << 40, false),
                     ==, 62 + 1 + 1 + 1);
    g_assert_cmpuint(tlb.used, ==, 0);
    viommu_iotlb_destroy(&tlb);
}

/* Global entries: found by the group's global search, from any context */
static void test_global_entries(void)
{
    ViommuIotlb tlb;

    init(&tlb, 64);
    viommu_iotlb_insert(&tlb, CTX(1, 1), 0x5000, SZ_4K, 0x1000, 1, 0, true);
    viommu_iotlb_insert(&tlb, CTX(1, 2), 0x5000, SZ_4K, 0x2000, 1, 0, true);
    viommu_iotlb_insert(&tlb, CTX(2, 2), 0x5000, SZ_4K, 0x3000, 1, 0, true);
    insert(&tlb, CTX(1, 3), 0x5000, SZ_4K, 0x4000, 1);
    /* Global entries of VMID 1 at 0x5000: ASIDs 1 and 2, not ASID 3's */
    g_assert_cmpuint(viommu_iotlb_invalidate_group_range(&tlb, GROUP(1),
                                                         0x5008, 8, true),
                     ==, 2);
    assert_misses(&tlb, CTX(1, 1), 0x5000);
    assert_misses(&tlb, CTX(1, 2), 0x5000);
    assert_maps(&tlb, CTX(1, 3), 0x5000, 0x4000, 1);
    assert_maps(&tlb, CTX(2, 2), 0x5000, 0x3000, 1);
    /* Every entry of the group at 0x5000: global or not */
    viommu_iotlb_insert(&tlb, CTX(1, 1), 0x5000, SZ_4K, 0x1000, 1, 0, true);
    g_assert_cmpuint(viommu_iotlb_invalidate_group_range(&tlb, GROUP(1),
                                                         0x5000, 0x1000,
                                                         false), ==, 2);
    g_assert_cmpuint(tlb.used, ==, 1);
    viommu_iotlb_destroy(&tlb);
}

/* The longest hash chain, a walk of the whole bucket array */
static unsigned longest_chain(const ViommuIotlb *tlb)
{
    unsigned longest = 0;

    for (uint32_t b = 0; b <= tlb->bucket_mask; b++) {
        unsigned len = 0;

        for (uint32_t i = tlb->buckets[b]; i != VIOMMU_IOTLB_NONE;
             i = tlb->slots[i].hash_next) {
            len++;
        }
        longest = MAX(longest, len);
    }
    return longest;
}

/*
 * No choice of addresses makes long chains.  With the secret fixed, so
 * that the outcome is the same every run: 16000 pages of one context at
 * every power-of-two stride from a page to 2^40 and a page either side of
 * it; no chain gets longer than 12 (8 with these keys today).
 */
static void test_chains_stay_short(void)
{
    static const uint64_t keys[][2] = {
        { 0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull },
        { 0x94d049bb133111ebull, 0x2545f4914f6cdd1dull },
        { 0xd6e8feb86659fd93ull, 0xff51afd7ed558ccdull },
    };
    enum { N = 16000 };

    for (int k = 0; k < ARRAY_SIZE(keys); k++) {
        for (int shift = 12; shift <= 40; shift++) {
            for (int delta = -1; delta <= 1; delta++) {
                uint64_t stride = (1ull << shift) + delta * 0x1000;
                ViommuIotlb tlb;

                if (shift == 12 && delta) {
                    continue;
                }
                init(&tlb, 16384);
                tlb.hash_key[0] = keys[k][0];
                tlb.hash_key[1] = keys[k][1];
                for (uint64_t i = 0; i < N; i++) {
                    insert(&tlb, CTX(1, 1), 0x10000000 + i * stride, SZ_4K,
                           0, 1);
                }
                g_assert_cmpuint(tlb.used, ==, N);
                g_assert_cmpuint(longest_chain(&tlb), <=, 12);
                viommu_iotlb_destroy(&tlb);
            }
        }
    }
}

/*
 * Random operations against a plain array that never forgets: with room
 * for everything, the cache must answer exactly as the array does.
 */
typedef struct RefEntry {
    uint64_t ctx, iova, out;
    unsigned shift;
    bool global;
    bool live;
} RefEntry;

static const RefEntry *ref_lookup(const RefEntry *ref, int n, uint64_t ctx,
                                  uint64_t iova)
{
    for (int i = 0; i < n; i++) {
        uint64_t mask = ~((1ull << ref[i].shift) - 1);

        if (ref[i].live && ref[i].ctx == ctx &&
            ref[i].iova == (iova & mask)) {
            return &ref[i];
        }
    }
    return NULL;
}

static bool ref_overlaps(const RefEntry *r, uint64_t start, uint64_t size)
{
    uint64_t last = r->iova + (1ull << r->shift) - 1;

    return r->iova < start + size && last >= start;
}

/*
 * Random inserts, lookups and invalidations of every kind, held against a
 * plain list; blocks drawn from 2^@page_bits pages (a few runs of blocks
 * when that is small, mostly one block per run when it is large)
 */
static void assert_removed(uint32_t removed, uint32_t want, bool evicts)
{
    if (evicts) {
        g_assert_cmpuint(removed, <=, want);
    } else {
        g_assert_cmpuint(removed, ==, want);
    }
}

static void check_random_against_reference(unsigned page_bits, uint32_t seed,
                                           uint32_t capacity)
{
    g_autoptr(GRand) rng = g_rand_new_with_seed(seed);
    enum { N = 4000 };
    RefEntry *ref = g_new0(RefEntry, N);
    ViommuIotlb tlb;
    int n = 0;

    /*
     * With fewer slots than entries, evictions make the cache hold less:
     * it may find less, and remove less, but never what is not there
     */
    bool evicts = capacity < N;

    init(&tlb, capacity);
    for (int step = 0; step < 30000; step++) {
        uint64_t ctx = CTX(g_rand_int_range(rng, 0, 3),
                           g_rand_int_range(rng, 0, 3));
        uint64_t iova = (uint64_t)g_rand_int_range(rng, 0, 1 << page_bits)
                        << 12;
        uint64_t size = (uint64_t)g_rand_int_range(rng, 1, 64) << 12;
        int op = g_rand_int_range(rng, 0, 100);
        uint32_t want = 0;

        if (op < 40 && n < N) {
            unsigned shift = g_rand_int_range(rng, 0, 8) ? SZ_4K : SZ_2M;
            uint64_t block = iova & ~((1ull << shift) - 1);
            bool global = g_rand_int_range(rng, 0, 4) == 0;
            /* Keep the reference free of overlapping blocks */
            bool clash = false;

            for (int i = 0; i < n; i++) {
                uint64_t s = MAX(ref[i].shift, shift);

                if (ref[i].live && ref[i].ctx == ctx &&
                    (ref[i].iova >> s) == (block >> s)) {
                    clash = true;
                    break;
                }
            }
            if (!clash) {
                ref[n++] = (RefEntry) { ctx, block, block ^ 0x5550000000ull,
                                        shift, global, true };
                viommu_iotlb_insert(&tlb, ctx, block, shift,
                                    block ^ 0x5550000000ull, 1, 0, global);
            }
        } else if (op < 44) {
            for (int i = 0; i < n; i++) {
                if (ref[i].live && ref[i].ctx == ctx &&
                    ref_overlaps(&ref[i], iova, size)) {
                    ref[i].live = false;
                    want++;
                }
            }
            assert_removed(viommu_iotlb_invalidate_range(&tlb, ctx, iova,
                                                           size), want, evicts);
        } else if (op < 48) {
            bool global_only = g_rand_boolean(rng);

            for (int i = 0; i < n; i++) {
                if (ref[i].live &&
                    (ref[i].ctx & GROUP_MASK) == (ctx & GROUP_MASK) &&
                    (ref[i].global || !global_only) &&
                    ref_overlaps(&ref[i], iova, size)) {
                    ref[i].live = false;
                    want++;
                }
            }
            assert_removed(viommu_iotlb_invalidate_group_range(
                                 &tlb, ctx & GROUP_MASK, iova, size,
                                 global_only), want, evicts);
        } else if (op < 49) {
            for (int i = 0; i < n; i++) {
                if (ref[i].live && ref[i].ctx == ctx) {
                    ref[i].live = false;
                    want++;
                }
            }
            assert_removed(viommu_iotlb_invalidate_context(&tlb, ctx), want,
                           evicts);
        } else if (op < 50) {
            for (int i = 0; i < n; i++) {
                if (ref[i].live &&
                    (ref[i].ctx & GROUP_MASK) == (ctx & GROUP_MASK)) {
                    ref[i].live = false;
                    want++;
                }
            }
            assert_removed(viommu_iotlb_invalidate_groups(&tlb,
                                                          ctx & GROUP_MASK,
                                                          ctx & GROUP_MASK),
                           want, evicts);
        } else {
            const RefEntry *r = ref_lookup(ref, n, ctx, iova | 0x123);
            ViommuIotlbEntry *e = viommu_iotlb_lookup(&tlb, ctx, iova | 0x123,
                                                      SIZES_4K);

            g_assert(!e || r);
            g_assert(e || !r || evicts);
            if (e) {
                g_assert_cmphex(e->iova, ==, r->iova);
                g_assert_cmphex(e->out, ==, r->out);
                g_assert_cmpint(e->global, ==, r->global);
            }
        }
    }
    g_assert(evicts || !tlb.stats.evictions);
    viommu_iotlb_destroy(&tlb);
    g_free(ref);
}

static void test_random_sparse(void)
{
    check_random_against_reference(20, 0x10b5eed, 4000);
}

static void test_random_dense(void)
{
    check_random_against_reference(11, 0xde5e, 4000);
}

static void test_random_evicting(void)
{
    check_random_against_reference(11, 0xe71c, 64);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/viommu-iotlb/hit-each-block-size", test_hit_each_size);
    g_test_add_func("/viommu-iotlb/same-block-replaces",
                    test_reinsert_replaces);
    g_test_add_func("/viommu-iotlb/full-evicts-exactly-one",
                    test_full_evicts_one);
    g_test_add_func("/viommu-iotlb/invalidate-context-and-groups",
                    test_invalidate_context_and_group);
    g_test_add_func("/viommu-iotlb/invalidate-range-exact",
                    test_invalidate_range);
    g_test_add_func("/viommu-iotlb/global-entries", test_global_entries);
    g_test_add_func("/viommu-iotlb/chains-stay-short-for-any-stride",
                    test_chains_stay_short);
    g_test_add_func("/viommu-iotlb/random-against-reference-sparse",
                    test_random_sparse);
    g_test_add_func("/viommu-iotlb/random-against-reference-dense",
                    test_random_dense);
    g_test_add_func("/viommu-iotlb/random-against-reference-evicting",
                    test_random_evicting);
    return g_test_run();
}
