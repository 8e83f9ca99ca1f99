/*
 * What the bare-metal test programs share: the console, TAP output,
 * leaving QEMU, PSCI, system registers and the PAT's registers
 *
 * The programs run on -M virt with no firmware and no OS; see
 * docs/devel/testing/viommu-guest-tests.rst.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BAREMETAL_H
#define BAREMETAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ti-pat.h"

/* virt's memory map */
#define VIRT_GICD           0x08000000ull   /* GICv2 (gic-version=2) */
#define VIRT_GICC           0x08010000ull
#define VIRT_UART           0x09000000ull   /* PL011, the console */
#define VIRT_SECURE_UART    0x09040000ull   /* only in the Secure space */
#define VIRT_SECURE_RAM     0x0e000000ull   /* only in the Secure space */
#define VIRT_RAM            0x40000000ull
#define PAGE_SIZE           4096u

#define PL011_DR            0x000
#define PL011_PERIPHID0     0xfe0
#define PL011_CELLID0       0xff0

/* Registers and memory a test reads or writes: every access happens */
#define MMIO64(a)   (*(volatile uint64_t *)(uintptr_t)(a))  /* volatile: MMIO */
#define MMIO32(a)   (*(volatile uint32_t *)(uintptr_t)(a))  /* volatile: MMIO */
#define MMIO8(a)    (*(volatile uint8_t *)(uintptr_t)(a))   /* volatile: MMIO */

#define DSB()       asm volatile("dsb sy" : : : "memory")
#define ISB()       asm volatile("isb" : : : "memory")

#define READ_SYSREG(r) ({                                       \
    uint64_t v_;                                                \
    asm volatile("mrs %0, " #r : "=r"(v_));                     \
    v_;                                                         \
})
#define WRITE_SYSREG(r, v) asm volatile("msr " #r ", %0" :: "r"((uint64_t)(v)))

static inline unsigned current_el(void)
{
    return (READ_SYSREG(CurrentEL) >> 2) & 3;
}

/*
 * Console: the PL011 QEMU connects to -serial, or where a test points
 * bm_console (such as a PAT window page that shows the PL011).  Safe from
 * any CPU.
 */
extern uint64_t bm_console;
void bm_putc(char c);
void bm_puts(const char *s);
void bm_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* TAP: bm_plan(n), then one bm_ok() per test, then bm_exit_tap() */
void bm_plan(unsigned n);
bool bm_ok(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Leave QEMU (semihosting SYS_EXIT): status 0 if every test passed */
void bm_exit_tap(void) __attribute__((noreturn));
void bm_exit(unsigned status) __attribute__((noreturn));

/* PSCI through HVC (plain virt): start CPU @mpidr at bm_secondary */
int bm_cpu_on(uint64_t mpidr, uint64_t cpu);

/*
 * Sleeping and waking CPUs with GICv2 SGIs (-M virt,gic-version=2):
 * bm_gic_init() on CPU 0 first, bm_gic_cpu_init() on every CPU, then
 * bm_wait_for_sgi() halts in WFI until an SGI is pending (interrupts stay
 * masked: it is taken by hand) and bm_wake_others() sends one to every
 * other CPU.
 */
void bm_gic_init(void);
void bm_gic_cpu_init(void);
void bm_wait_for_sgi(void);
void bm_wake_others(void);

/*
 * An exception a test provokes on purpose: bm_expect_abort() arms it, the
 * handler records ESR and FAR, steps over the faulting instruction and
 * disarms.  Any other exception ends the run with a "not ok" line.
 */
typedef struct BmAbort {
    volatile bool armed;            /* volatile: the handler changes them */
    volatile bool taken;            /* volatile: see above */
    volatile uint64_t esr, far;     /* volatile: see above */
} BmAbort;

/* The first bm_secondary() runs on a CPU PSCI starts */
void bm_secondary(void);
extern BmAbort bm_abort;
void bm_expect_abort(void);

/* At EL3: what an SMC from a lower EL runs; it must not return */
extern void (*bm_on_smc)(void);

/*
 * Identity-map the first 512 GiB at the current EL with 1 GiB blocks:
 * [1, 2) GiB (RAM) and every 1 GiB block in @normal_gib as Normal memory,
 * the rest as Device-nGnRnE, then turn the MMU on.  Normal memory lets a
 * test make unaligned accesses.  At EL3 the blocks are Secure.
 */
void bm_mmu_on(const unsigned *normal_gib, unsigned n);

void *bm_memset(void *s, int c, size_t n);

/*
 * What start.S calls: bm_main() on the CPUs QEMU starts,
 * bm_secondary_main() on those bm_cpu_on() starts
 */
void bm_main(uint64_t cpu);
void bm_secondary_main(uint64_t cpu);
void bm_halt(void) __attribute__((noreturn));

/* The first ti-pat the machine placed */
#define PAT_MMRS            TI_PAT_AUTO_MMRS(0)
#define PAT_TABLE           TI_PAT_AUTO_TABLE(0)
#define PAT_WINDOW          TI_PAT_AUTO_WINDOW(0)

/* Point entry @i at @pa (enabled), as a driver writes it: ADDRH, ADDRL */
static inline void pat_map(unsigned i, uint64_t pa)
{
    MMIO32(PAT_TABLE + TI_PAT_ENTRY_OFFSET(i) + 4) =
        TI_PAT_ADDRH(pa) | TI_PAT_ADDRH_ENABLE;
    MMIO32(PAT_TABLE + TI_PAT_ENTRY_OFFSET(i)) = TI_PAT_ADDRL(pa);
}

static inline void pat_on(unsigned page_size)
{
    MMIO32(PAT_MMRS + TI_PAT_CONTROL) = TI_PAT_CONTROL_EN |
                                        TI_PAT_CONTROL_PAGE_SIZE(page_size);
}

#endif
