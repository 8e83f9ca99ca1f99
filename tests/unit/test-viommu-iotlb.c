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

/* A context tag laid out as a model might: VMID << 16 | ASID */
#define CTX(vmid, asid) (((uint64_t)(vmid) << 16) | (asid))
#define VMID_MASK       0xffff0000ull

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

    viommu_iotlb_init(&tlb, 64);
    viommu_iotlb_insert(&tlb, CTX(1, 1), 0x12345678, SZ_4K, 0x80001000, 3, 0);
    viommu_iotlb_insert(&tlb, CTX(1, 1), 0x40123456, SZ_2M, 0x90000000, 1, 0);
    viommu_iotlb_insert(&tlb, CTX(1, 1), 0x80000000, SZ_1G, 0x100000000, 2,
                        0);
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

    viommu_iotlb_init(&tlb, 8);
    viommu_iotlb_insert(&tlb, CTX(0, 7), 0x1000, SZ_4K, 0xa000, 1, 0);
    viommu_iotlb_insert(&tlb, CTX(0, 7), 0x1234, SZ_4K, 0xb000, 3, 5);
    g_assert_cmpuint(tlb.used, ==, 1);
    assert_maps(&tlb, CTX(0, 7), 0x1010, 0xb010, 3);
    g_assert_cmpuint(viommu_iotlb_lookup(&tlb, CTX(0, 7), 0x1000,
                                         SIZES_4K)->flags, ==, 5);
    viommu_iotlb_destroy(&tlb);
}

static void test_full_evicts_one(void)
{
    ViommuIotlb tlb;
    const uint32_t cap = 16;

    viommu_iotlb_init(&tlb, cap);
    for (uint32_t i = 0; i < cap; i++) {
        viommu_iotlb_insert(&tlb, CTX(0, 1), (uint64_t)i << 12, SZ_4K,
                            0x100000 + ((uint64_t)i << 12), 1, 0);
    }
    g_assert_cmpuint(tlb.used, ==, cap);
    /*
     * Every entry was used once (inserted): the clock hand clears them
     * all on its first lap and then evicts exactly one, slot 0.
     */
    viommu_iotlb_insert(&tlb, CTX(0, 1), 0x100000, SZ_4K, 0x900000, 1, 0);
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
    viommu_iotlb_insert(&tlb, CTX(0, 1), 0x200000, SZ_4K, 0xa00000, 1, 0);
    g_assert_cmpuint(tlb.stats.evictions, ==, 2);
    g_assert_cmpuint(tlb.used, ==, cap);
    assert_misses(&tlb, CTX(0, 1), 1 << 12);
    assert_maps(&tlb, CTX(0, 1), 0x100000, 0x900000, 1);
    assert_maps(&tlb, CTX(0, 1), 0x200000, 0xa00000, 1);
    viommu_iotlb_destroy(&tlb);
}

static void test_invalidate_context(void)
{
    ViommuIotlb tlb;

    viommu_iotlb_init(&tlb, 64);
    for (int i = 0; i < 5; i++) {
        viommu_iotlb_insert(&tlb, CTX(1, 1), i << 12, SZ_4K, 0, 1, 0);
        viommu_iotlb_insert(&tlb, CTX(1, 2), i << 12, SZ_4K, 0, 1, 0);
        viommu_iotlb_insert(&tlb, CTX(2, 1), i << 12, SZ_4K, 0, 1, 0);
    }
    g_assert_cmpuint(viommu_iotlb_invalidate_context(&tlb, CTX(1, 2)), ==, 5);
    g_assert_cmpuint(viommu_iotlb_invalidate_context(&tlb, CTX(1, 2)), ==, 0);
    g_assert_cmpuint(tlb.used, ==, 10);
    assert_misses(&tlb, CTX(1, 2), 0x3000);
    assert_maps(&tlb, CTX(1, 1), 0x3000, 0, 1);
    assert_maps(&tlb, CTX(2, 1), 0x3000, 0, 1);

    /* Every ASID of VMID 1 */
    viommu_iotlb_insert(&tlb, CTX(1, 9), 0x9000, SZ_4K, 0, 1, 0);
    g_assert_cmpuint(viommu_iotlb_invalidate_contexts(&tlb, VMID_MASK,
                                                      CTX(1, 0)), ==, 6);
    g_assert_cmpuint(tlb.used, ==, 5);
    assert_misses(&tlb, CTX(1, 1), 0);
    assert_misses(&tlb, CTX(1, 9), 0x9000);
    assert_maps(&tlb, CTX(2, 1), 0x4000, 0, 1);
    g_assert_cmpuint(tlb.stats.invalidated, ==, 11);

    viommu_iotlb_flush(&tlb);
    g_assert_cmpuint(tlb.used, ==, 0);
    assert_misses(&tlb, CTX(2, 1), 0x4000);
    viommu_iotlb_destroy(&tlb);
}

static void test_invalidate_range(void)
{
    ViommuIotlb tlb;

    viommu_iotlb_init(&tlb, 256);
    /* 4K pages 0..63 at 0x10000000, a 2M block below, a 1G block above */
    for (int i = 0; i < 64; i++) {
        viommu_iotlb_insert(&tlb, CTX(0, 1), 0x10000000 + (i << 12), SZ_4K,
                            0x1000 * i, 1, i & 1);
    }
    viommu_iotlb_insert(&tlb, CTX(0, 1), 0x0fe00000, SZ_2M, 0, 1, 0);
    viommu_iotlb_insert(&tlb, CTX(0, 1), 0x40000000, SZ_1G, 0, 1, 0);
    viommu_iotlb_insert(&tlb, CTX(0, 2), 0x10001000, SZ_4K, 0, 1, 0);

    /* Pages 1 and 2: exactly those two, of context 1 only */
    g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, UINT64_MAX,
                                                   CTX(0, 1), 0x10001000,
                                                   0x2000, 0, 0), ==, 2);
    assert_maps(&tlb, CTX(0, 1), 0x10000000, 0, 1);
    assert_misses(&tlb, CTX(0, 1), 0x10001000);
    assert_misses(&tlb, CTX(0, 1), 0x10002000);
    assert_maps(&tlb, CTX(0, 1), 0x10003000, 0x3000, 1);
    assert_maps(&tlb, CTX(0, 2), 0x10001000, 0, 1);

    /* One byte inside a block takes the whole block */
    g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, UINT64_MAX,
                                                   CTX(0, 1), 0x7fffffff,
                                                   1, 0, 0), ==, 1);
    assert_misses(&tlb, CTX(0, 1), 0x40000000);

    /* Only the entries with flag 1 (odd pages), over a wide range */
    g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, UINT64_MAX,
                                                   CTX(0, 1), 0x10000000,
                                                   0x40000, 1, 1), ==, 31);
    assert_maps(&tlb, CTX(0, 1), 0x10004000, 0x4000, 1);
    assert_misses(&tlb, CTX(0, 1), 0x10005000);

    /* A range reaching past 2^64 does not wrap to address 0 */
    viommu_iotlb_insert(&tlb, CTX(0, 3), 0, SZ_4K, 0, 1, 0);
    viommu_iotlb_insert(&tlb, CTX(0, 3), 0xfffffffffffff000ull, SZ_4K, 0, 1,
                        0);
    g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, UINT64_MAX,
                                                   CTX(0, 3),
                                                   0xffffffffffffe000ull,
                                                   0x4000, 0, 0), ==, 1);
    assert_maps(&tlb, CTX(0, 3), 0x10, 0x10, 1);

    /*
     * A wide range walks the contexts: the 31 even pages and the 2M block
     * of context 1, and one entry each of contexts 2 and 3
     */
    g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, VMID_MASK, 0,
                                                   0, 1ull << 40, 0, 0), ==,
                     31 + 1 + 1 + 1);
    g_assert_cmpuint(tlb.used, ==, 0);
    viommu_iotlb_destroy(&tlb);
}

/*
 * Random operations against a plain array that never forgets: with room
 * for everything, the cache must answer exactly as the array does.
 */
typedef struct RefEntry {
    uint64_t ctx, iova, out;
    unsigned shift;
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

static void test_random_against_reference(void)
{
    g_autoptr(GRand) rng = g_rand_new_with_seed(0x10b5eed);
    enum { N = 4000 };
    RefEntry *ref = g_new0(RefEntry, N);
    ViommuIotlb tlb;
    int n = 0;

    viommu_iotlb_init(&tlb, N);
    for (int step = 0; step < 20000; step++) {
        uint64_t ctx = CTX(g_rand_int_range(rng, 0, 3),
                           g_rand_int_range(rng, 0, 3));
        uint64_t iova = (uint64_t)g_rand_int_range(rng, 0, 1 << 20) << 12;
        int op = g_rand_int_range(rng, 0, 100);

        if (op < 40 && n < N) {
            unsigned shift = g_rand_int_range(rng, 0, 8) ? SZ_4K : SZ_2M;
            uint64_t block = iova & ~((1ull << shift) - 1);
            /* Keep the reference free of overlapping blocks */
            bool clash = false;

            for (int i = 0; i < n; i++) {
                uint64_t s = ref[i].shift > shift ? ref[i].shift : shift;

                if (ref[i].live && ref[i].ctx == ctx &&
                    (ref[i].iova >> s) == (block >> s)) {
                    clash = true;
                    break;
                }
            }
            if (!clash) {
                ref[n++] = (RefEntry) { ctx, block, block ^ 0x5550000000ull,
                                        shift, true };
                viommu_iotlb_insert(&tlb, ctx, block, shift,
                                    block ^ 0x5550000000ull, 1, 0);
            }
        } else if (op < 45) {
            uint64_t size = (uint64_t)g_rand_int_range(rng, 1, 64) << 12;
            uint32_t want = 0;

            for (int i = 0; i < n; i++) {
                uint64_t last = ref[i].iova + (1ull << ref[i].shift) - 1;

                if (ref[i].live && ref[i].ctx == ctx &&
                    ref[i].iova < iova + size && last >= iova) {
                    ref[i].live = false;
                    want++;
                }
            }
            g_assert_cmpuint(viommu_iotlb_invalidate_range(&tlb, UINT64_MAX,
                                                           ctx, iova, size,
                                                           0, 0), ==, want);
        } else if (op < 46) {
            uint32_t want = 0;

            for (int i = 0; i < n; i++) {
                if (ref[i].live && ref[i].ctx == ctx) {
                    ref[i].live = false;
                    want++;
                }
            }
            g_assert_cmpuint(viommu_iotlb_invalidate_context(&tlb, ctx), ==,
                             want);
        } else {
            const RefEntry *r = ref_lookup(ref, n, ctx, iova | 0x123);
            ViommuIotlbEntry *e = viommu_iotlb_lookup(&tlb, ctx, iova | 0x123,
                                                      SIZES_4K);

            g_assert_cmpint(!!e, ==, !!r);
            if (e) {
                g_assert_cmphex(e->iova, ==, r->iova);
                g_assert_cmphex(e->out, ==, r->out);
            }
        }
    }
    g_assert_cmpuint(tlb.stats.evictions, ==, 0);
    viommu_iotlb_destroy(&tlb);
    g_free(ref);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/viommu-iotlb/hit-each-block-size", test_hit_each_size);
    g_test_add_func("/viommu-iotlb/same-block-replaces",
                    test_reinsert_replaces);
    g_test_add_func("/viommu-iotlb/full-evicts-exactly-one",
                    test_full_evicts_one);
    g_test_add_func("/viommu-iotlb/invalidate-context-and-vmid",
                    test_invalidate_context);
    g_test_add_func("/viommu-iotlb/invalidate-range-exact",
                    test_invalidate_range);
    g_test_add_func("/viommu-iotlb/random-against-reference",
                    test_random_against_reference);
    return g_test_run();
}
