/*
 * pat-access: loads and stores of every size through the PAT's window,
 * across the boundary between two window pages whose entries point at
 * unrelated frames, and across a 4 KiB boundary inside one large PAT page.
 *
 * The MMU maps the window as Normal memory, so that the CPU may make the
 * unaligned accesses a page crossing needs.  For each access (LDRB/STRB
 * up to a 16-byte LDP/STP or a Q-register LDR/STR) at every offset that
 * straddles the boundary, and at the offsets just before and after it, a
 * load must return the bytes the two frames hold there and a store must
 * change exactly those bytes.  Then exclusives and an LSE atomic on a
 * window word, which TCG performs on the frame itself.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "baremetal.h"

#define KiB             1024ull
#define WINDOW_GIB      (PAT_WINDOW >> 30)

typedef enum Kind {
    LDRB, LDRH, LDRW, LDRX, LDPX, LDRQ, KINDS
} Kind;

static const struct {
    const char *what;
    unsigned size;
} kinds[KINDS] = {
    [LDRB] = { "LDRB/STRB", 1 },
    [LDRH] = { "LDRH/STRH", 2 },
    [LDRW] = { "LDR/STR of a W register", 4 },
    [LDRX] = { "LDR/STR of an X register", 8 },
    [LDPX] = { "LDP/STP of two X registers", 16 },
    [LDRQ] = { "LDR/STR of a Q register", 16 },
};

/* Load @size bytes at @va with @kind's instruction, little-endian */
static void load(Kind kind, uint64_t va, uint64_t out[2])
{
    uint64_t lo = 0, hi = 0;

    switch (kind) {
    case LDRB:
        asm volatile("ldrb %w0, [%1]" : "=r"(lo) : "r"(va) : "memory");
        break;
    case LDRH:
        asm volatile("ldrh %w0, [%1]" : "=r"(lo) : "r"(va) : "memory");
        break;
    case LDRW:
        asm volatile("ldr %w0, [%1]" : "=r"(lo) : "r"(va) : "memory");
        break;
    case LDRX:
        asm volatile("ldr %0, [%1]" : "=r"(lo) : "r"(va) : "memory");
        break;
    case LDPX:
        asm volatile("ldp %0, %1, [%2]" : "=&r"(lo), "=&r"(hi) : "r"(va)
                     : "memory");
        break;
    case LDRQ:
        asm volatile("ldr q0, [%2]\n\t"
                     "mov %0, v0.d[0]\n\t"
                     "mov %1, v0.d[1]"
                     : "=r"(lo), "=r"(hi) : "r"(va) : "v0", "memory");
        break;
    default:
        break;
    }
    out[0] = lo;
    out[1] = hi;
}

static void store(Kind kind, uint64_t va, const uint64_t in[2])
{
    switch (kind) {
    case LDRB:
        asm volatile("strb %w0, [%1]" :: "r"(in[0]), "r"(va) : "memory");
        break;
    case LDRH:
        asm volatile("strh %w0, [%1]" :: "r"(in[0]), "r"(va) : "memory");
        break;
    case LDRW:
        asm volatile("str %w0, [%1]" :: "r"(in[0]), "r"(va) : "memory");
        break;
    case LDRX:
        asm volatile("str %0, [%1]" :: "r"(in[0]), "r"(va) : "memory");
        break;
    case LDPX:
        asm volatile("stp %0, %1, [%2]" :: "r"(in[0]), "r"(in[1]), "r"(va)
                     : "memory");
        break;
    case LDRQ:
        asm volatile("mov v0.d[0], %0\n\t"
                     "mov v0.d[1], %1\n\t"
                     "str q0, [%2]"
                     :: "r"(in[0]), "r"(in[1]), "r"(va) : "v0", "memory");
        break;
    default:
        break;
    }
}

static uint8_t byte_of(const uint64_t v[2], unsigned i)
{
    return v[i / 8] >> (i % 8 * 8);
}

/* Where window byte @off lands: entries 0 and 1 of @page bytes each */
typedef struct Layout {
    uint64_t page;
    uint64_t frame[2];
} Layout;

static uint64_t frame_of(const Layout *l, uint64_t off)
{
    return l->frame[off / l->page] + off % l->page;
}

static uint8_t seed_byte(uint64_t pa)
{
    return (pa * 31 + (pa >> 12) * 101) & 0xff;
}

/* Fill the frames' bytes around window offset @at with a known pattern */
static void seed(const Layout *l, uint64_t at)
{
    uint64_t off;

    for (off = at - 32; off < at + 32; off++) {
        MMIO8(frame_of(l, off)) = seed_byte(frame_of(l, off));
    }
}

/*
 * Every offset of @kind around window offset @at (@at - size to @at): the
 * number that failed, and the first of them in @bad_off
 */
static unsigned check_kind(const Layout *l, uint64_t at, Kind kind,
                           uint64_t *bad_off)
{
    unsigned size = kinds[kind].size, failures = 0, i;
    uint64_t off;

    for (off = at - size; off <= at; off++) {
        uint64_t got[2], put[2], lo = off - 8, hi = off + size + 8, b;
        bool ok = true;

        seed(l, at);
        load(kind, PAT_WINDOW + off, got);
        for (i = 0; i < size; i++) {
            ok &= byte_of(got, i) == seed_byte(frame_of(l, off + i));
        }

        put[0] = 0x0123456789abcdefull ^ off;
        put[1] = 0xfedcba9876543210ull ^ off;
        store(kind, PAT_WINDOW + off, put);
        for (b = lo; b < hi; b++) {
            uint8_t want = b >= off && b < off + size ?
                           byte_of(put, b - off) : seed_byte(frame_of(l, b));

            ok &= MMIO8(frame_of(l, b)) == want;
        }
        if (!ok) {
            if (!failures) {
                *bad_off = off;
            }
            failures++;
        }
    }
    return failures;
}

static void check_boundary(const Layout *l, uint64_t at, const char *where)
{
    Kind k;

    for (k = 0; k < KINDS; k++) {
        uint64_t bad = 0;
        unsigned failures = check_kind(l, at, k, &bad);

        bm_ok(failures == 0, "%s at every offset across %s (%u offsets): "
              "%u wrong", kinds[k].what, where, kinds[k].size + 1, failures);
        if (failures) {
            bm_printf("# the first at window offset 0x%lx\n", bad);
        }
    }
}

static void check_atomics(const Layout *l)
{
    uint64_t va = PAT_WINDOW + 0x100, pa = frame_of(l, 0x100);
    uint64_t old, status;

    MMIO64(pa) = 41;
    asm volatile("1: ldaxr %0, [%2]\n\t"
                 "add %0, %0, #1\n\t"
                 "stlxr %w1, %0, [%2]\n\t"
                 "cbnz %w1, 1b"
                 : "=&r"(old), "=&r"(status) : "r"(va) : "memory");
    asm volatile(".arch_extension lse\n\t"
                 "ldadd %1, %0, [%2]"
                 : "=&r"(old) : "r"(100ull), "r"(va) : "memory");
    bm_ok(old == 42 && MMIO64(pa) == 142,
          "LDAXR/STLXR then LDADD on a window doubleword: it went 41, 42, "
          "142 in its frame (LDADD returned %lu)", old);
}

void bm_main(uint64_t cpu)
{
    static const unsigned normal[] = { WINDOW_GIB };
    /* Frames in reverse order, and apart, so that a crossing shows */
    Layout small = { 4 * KiB, { 0x44003000, 0x44000000 } };
    Layout large = { 64 * KiB, { 0x44100000, 0x44020000 } };

    (void)cpu;
    bm_plan(2 * KINDS + KINDS + 1);
    bm_mmu_on(normal, 1);

    pat_map(0, small.frame[0]);
    pat_map(1, small.frame[1]);
    pat_on(TI_PAT_PAGE_4K);
    check_boundary(&small, 4 * KiB, "the boundary of two 4 KiB PAT pages");
    check_atomics(&small);

    pat_map(0, large.frame[0]);
    pat_map(1, large.frame[1]);
    pat_on(TI_PAT_PAGE_64K);
    check_boundary(&large, 4 * KiB,
                   "a 4 KiB boundary inside one 64 KiB PAT page");
    check_boundary(&large, 64 * KiB, "the boundary of two 64 KiB PAT pages");
    bm_exit_tap();
}

void bm_secondary_main(uint64_t cpu)
{
    (void)cpu;
    bm_halt();
}
