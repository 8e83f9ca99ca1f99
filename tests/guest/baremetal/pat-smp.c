/*
 * pat-smp: one vCPU re-points PAT entries while the others read through
 * the window, under multi-threaded TCG.
 *
 * CPU 0 is the writer; every other CPU is a reader.  Eight RAM pages hold
 * patterns that name the page and the word.  Round r re-points entry
 * r % 2 at another page with one 32-bit TABLE store, then CPU 0 reads the
 * window itself, issues a DSB and publishes r (a store-release); it starts
 * round r + 1 only when every reader has acknowledged r.  So every load
 * has an exact expected value:
 *
 * - CPU 0's load right after its own TABLE store must see the new page;
 * - a reader that loads r (load-acquire) and then, in the same straight
 *   line of code, reads both window pages must see round r's pages: the
 *   TABLE store retired before r was published, and a retired TABLE
 *   store leaves no vCPU with the old entry;
 * - while it still loads r - 1, the entry being re-pointed may show its
 *   old or its new page, the other entry its page of round r - 1.
 *
 * Each reader counts the round-r loads that missed ("stale") and the
 * other loads that showed neither page ("torn"); CPU 0 reports them.
 * Readers that find no new round after a while sleep in WFI until CPU 0
 * sends an SGI, as an idle OS's CPUs do; TCG then flushes their TLBs
 * before they run again, and CPU 0 does not wait for them.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "baremetal.h"

#ifndef ROUNDS
#define ROUNDS          20000u
#endif
#define NPAGES          8u
#define PAGES_BASE      0x44000000ull
#define WORDS           (PAGE_SIZE / 4)
#define TIMEOUT_S       20
/*
 * How many times a reader looks before it sleeps until CPU 0 wakes it:
 * readers that sleep let -smp 4 run on two host cores; POLLS 0 (the
 * pat-smp-spin build) keeps them spinning, the harder case, where every
 * round waits for each reader to leave the TB it is in, so that build
 * runs fewer rounds.
 */
#ifndef POLLS
#define POLLS           256
#endif

typedef struct Reader {           /* flags: atomics only */
    uint32_t ready;
    uint32_t acked;             /* the last round checked */
    uint32_t exact, stale, early, torn;
    uint32_t first_stale_round, first_stale_value;
} Reader;

static Reader readers[BM_MAX_CPUS];
static uint32_t published;      /* the last round CPU 0 finished; atomics */

static uint64_t page_pa(unsigned page)
{
    return PAGES_BASE + page * 2ull * PAGE_SIZE;    /* every other page */
}

static uint32_t pattern(unsigned page, unsigned word)
{
    return 0xa5000000u | page << 16 | word;
}

/* The page round @r points its entry (r % 2) at */
static unsigned target(uint32_t r)
{
    return (r >> 1) % NPAGES;
}

/* The page entry @e shows once round @r is done (round 0: the start) */
static unsigned page_after(unsigned e, uint32_t r)
{
    uint32_t last = (r & 1) == e ? r : r - 1;

    if (r == 0 || last == 0) {
        return e ? NPAGES - 1 : 0;
    }
    return target(last);
}

/* Word @word of window page @e */
static uint64_t window_word(unsigned e, unsigned word)
{
    return PAT_WINDOW + e * PAGE_SIZE + word * 4;
}

static uint64_t now(void)
{
    return READ_SYSREG(cntvct_el0);
}

static void reader(unsigned cpu)
{
    Reader *me = &readers[cpu];
    uint32_t round = 0, polls = 0;

    bm_gic_cpu_init();
    __atomic_store_n(&me->ready, 1, __ATOMIC_RELEASE);
    while (round < ROUNDS) {
        unsigned word = (cpu * 97 + round * 13) % WORDS;
        uint32_t seen, v0, v1, want0, want1;

        /* The round, then both pages, with no branch in between */
        seen = __atomic_load_n(&published, __ATOMIC_ACQUIRE);
        v0 = MMIO32(window_word(0, word));
        v1 = MMIO32(window_word(1, word));

        want0 = pattern(page_after(0, round), word);
        want1 = pattern(page_after(1, round), word);
        if (seen == round) {
            /* Round + 1 may be re-pointing its entry right now */
            unsigned e = (round + 1) & 1;
            uint32_t next = pattern(target(round + 1), word);
            uint32_t v = e ? v1 : v0, old = e ? want1 : want0;

            if ((e ? v0 != want0 : v1 != want1) || (v != old && v != next)) {
                me->torn++;
            } else {
                me->early++;
            }
            if (POLLS && ++polls == POLLS) {
                bm_wait_for_sgi();
                polls = 0;
            }
            continue;
        }
        round = seen;
        polls = 0;
        want0 = pattern(page_after(0, round), word);
        want1 = pattern(page_after(1, round), word);
        if (v0 == want0 && v1 == want1) {
            me->exact++;
        } else {
            if (!me->stale) {
                me->first_stale_round = round;
                me->first_stale_value = v0 != want0 ? v0 : v1;
            }
            me->stale++;
        }
        __atomic_store_n(&me->acked, round, __ATOMIC_RELEASE);
    }
}

void bm_secondary_main(uint64_t cpu)
{
    reader(cpu);
    bm_halt();
}

void bm_main(uint64_t cpu)
{
    unsigned ncpus = 1, i, p, w;
    uint32_t own_stale = 0, r;
    uint64_t deadline;
    bool on_time = true;

    (void)cpu;
    bm_plan(5);
    for (p = 0; p < NPAGES; p++) {
        for (w = 0; w < WORDS; w++) {
            MMIO32(page_pa(p) + w * 4) = pattern(p, w);
        }
    }
    bm_gic_init();
    bm_gic_cpu_init();
    pat_map(0, page_pa(0));
    pat_map(1, page_pa(NPAGES - 1));
    pat_on(TI_PAT_PAGE_4K);
    bm_ok(MMIO32(PAT_MMRS + TI_PAT_PID) == TI_PAT_PID_VALUE &&
          MMIO32(window_word(0, 3)) == pattern(0, 3) &&
          MMIO32(window_word(1, 3)) == pattern(NPAGES - 1, 3),
          "PAT on at 0x%llx, window pages 0 and 1 show RAM pages 0 and %u",
          PAT_WINDOW, NPAGES - 1);

    while (ncpus < BM_MAX_CPUS && bm_cpu_on(ncpus, ncpus) == 0) {
        ncpus++;
    }
    deadline = now() + TIMEOUT_S * READ_SYSREG(cntfrq_el0);
    for (i = 1; i < ncpus; i++) {
        while (!__atomic_load_n(&readers[i].ready, __ATOMIC_ACQUIRE) &&
               now() < deadline) {
            /* wait */
        }
    }
    bm_ok(ncpus >= 2, "%u vCPUs: CPU 0 writes, %u read", ncpus, ncpus - 1);

    for (r = 1; r <= ROUNDS && on_time; r++) {
        unsigned e = r & 1, word = r % WORDS;

        /* One TABLE store re-points the entry; then look through it */
        MMIO32(PAT_TABLE + TI_PAT_ENTRY_OFFSET(e)) =
            TI_PAT_ADDRL(page_pa(target(r)));
        if (MMIO32(window_word(e, word)) != pattern(target(r), word)) {
            own_stale++;
        }
        DSB();
        __atomic_store_n(&published, r, __ATOMIC_RELEASE);
        DSB();
        bm_wake_others();
        for (i = 1; i < ncpus; i++) {
            while (__atomic_load_n(&readers[i].acked, __ATOMIC_ACQUIRE) != r) {
                if (now() > deadline) {
                    on_time = false;
                    break;
                }
            }
        }
    }
    r--;

    bm_ok(on_time, "%u rounds of re-pointing within %u s", r, TIMEOUT_S);
    bm_ok(own_stale == 0, "CPU 0 loaded through each entry right after its "
          "own TABLE store: %u of %u loads stale", own_stale, r);
    {
        bool all = true;

        for (i = 1; i < ncpus; i++) {
            Reader *rd = &readers[i];

            all &= rd->exact == r && rd->stale == 0 && rd->torn == 0;
            bm_printf("# reader %u: %u round loads exact, %u stale (first in "
                      "round %u: 0x%x), %u loads during a re-point, %u torn\n",
                      i, rd->exact, rd->stale, rd->first_stale_round,
                      rd->first_stale_value, rd->early, rd->torn);
        }
        bm_ok(all, "%u readers: every load after a round's handover saw that "
              "round's pages (%u rounds each), none saw a page that was "
              "neither old nor new", ncpus - 1, r);
    }
    bm_exit_tap();
}
