/*
 * The bare-metal test programs' runtime; see baremetal.h
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdarg.h>

#include "baremetal.h"

static unsigned tap_planned, tap_run, tap_failed;
static uint32_t console_lock;     /* atomics only */
BmAbort bm_abort;
void (*bm_on_smc)(void);

void *bm_memset(void *s, int c, size_t n)
{
    volatile uint8_t *p = s;    /* volatile: not turned back into memset */

    while (n--) {
        *p++ = c;
    }
    return s;
}

/* What the compiler may call for a structure's initialisation */
void *memset(void *s, int c, size_t n)
{
    return bm_memset(s, c, n);
}

uint64_t bm_console = VIRT_UART;

void bm_putc(char c)
{
    MMIO32(bm_console + PL011_DR) = (uint8_t)c;
}

void bm_puts(const char *s)
{
    while (*s) {
        bm_putc(*s++);
    }
}

static void put_number(uint64_t v, unsigned base, unsigned width, char pad)
{
    char digits[24];
    unsigned n = 0;

    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width > n) {
        bm_putc(pad);
        width--;
    }
    while (n) {
        bm_putc(digits[--n]);
    }
}

/* %[0][width][l|ll](d|u|x|s|c) and %% */
static void vprint(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        unsigned width = 0, longs = 0;
        char pad = ' ';
        uint64_t v;

        if (*fmt != '%') {
            bm_putc(*fmt);
            continue;
        }
        fmt++;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }
        while (*fmt == 'l') {
            longs++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
            {
                int64_t s = longs ? va_arg(ap, int64_t) : va_arg(ap, int);

                if (s < 0) {
                    bm_putc('-');
                    s = -s;
                }
                put_number(s, 10, width, pad);
            }
            break;
        case 'u':
        case 'x':
            v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            put_number(v, *fmt == 'u' ? 10 : 16, width, pad);
            break;
        case 's':
            bm_puts(va_arg(ap, const char *));
            break;
        case 'c':
            bm_putc(va_arg(ap, int));
            break;
        default:
            bm_putc('%');
            bm_putc(*fmt);
            break;
        }
    }
}

static void lock_console(void)
{
    while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE)) {
        /* spin */
    }
}

static void unlock_console(void)
{
    __atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

void bm_printf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    lock_console();
    vprint(fmt, ap);
    unlock_console();
    va_end(ap);
}

void bm_plan(unsigned n)
{
    tap_planned = n;
    bm_printf("1..%u\n", n);
}

bool bm_ok(bool ok, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    lock_console();
    tap_run++;
    if (!ok) {
        tap_failed++;
    }
    bm_puts(ok ? "ok " : "not ok ");
    put_number(tap_run, 10, 0, ' ');
    bm_puts(" - ");
    vprint(fmt, ap);
    bm_putc('\n');
    unlock_console();
    va_end(ap);
    return ok;
}

void bm_exit(unsigned status)
{
    /* SYS_EXIT with ADP_Stopped_ApplicationExit: QEMU exits with @status */
    static volatile uint64_t block[2];

    block[0] = 0x20026;
    block[1] = status;
    asm volatile("mov x0, #0x18\n\t"
                 "mov x1, %0\n\t"
                 "hlt #0xf000"
                 :: "r"(block) : "x0", "x1", "memory");
    for (;;) {
        asm volatile("wfe");
    }
}

void bm_exit_tap(void)
{
    if (tap_run != tap_planned) {
        bm_printf("# planned %u tests, ran %u\n", tap_planned, tap_run);
    }
    bm_exit(tap_failed || tap_run != tap_planned);
}

int bm_cpu_on(uint64_t mpidr, uint64_t cpu)
{
    register uint64_t x0 asm("x0") = 0xc4000003;   /* CPU_ON, SMC64 */
    register uint64_t x1 asm("x1") = mpidr;
    register uint64_t x2 asm("x2") = (uintptr_t)bm_secondary;
    register uint64_t x3 asm("x3") = cpu;

    asm volatile("hvc #0" : "+r"(x0) : "r"(x1), "r"(x2), "r"(x3) : "memory");
    return (int)x0;
}

#define GICD_CTLR       0x000
#define GICD_ISENABLER0 0x100
#define GICD_SGIR       0xf00
#define GICC_CTLR       0x000
#define GICC_PMR        0x004
#define GICC_IAR        0x00c
#define GICC_EOIR       0x010
#define GIC_SPURIOUS    1023

void bm_gic_init(void)
{
    MMIO32(VIRT_GICD + GICD_CTLR) = 1;
}

void bm_gic_cpu_init(void)
{
    MMIO32(VIRT_GICD + GICD_ISENABLER0) = 0xffff;   /* SGIs, banked */
    MMIO32(VIRT_GICC + GICC_PMR) = 0xff;
    MMIO32(VIRT_GICC + GICC_CTLR) = 1;
}

void bm_wait_for_sgi(void)
{
    uint32_t iar;

    asm volatile("wfi" : : : "memory");
    iar = MMIO32(VIRT_GICC + GICC_IAR);
    if ((iar & 0x3ff) != GIC_SPURIOUS) {
        MMIO32(VIRT_GICC + GICC_EOIR) = iar;
    }
}

void bm_wake_others(void)
{
    MMIO32(VIRT_GICD + GICD_SGIR) = 1u << 24;      /* all but self, SGI 0 */
}

void bm_expect_abort(void)
{
    bm_abort.taken = false;
    bm_abort.armed = true;
}

/*
 * From start.S, for every exception.  @kind: the vector's index (0-3
 * current EL with SP0, 4-7 current EL with SPx, 8-15 lower ELs; within
 * each group synchronous, IRQ, FIQ, SError).
 */
void bm_exception(uint64_t kind)
{
    uint64_t esr, far, elr;

    if (current_el() == 3) {
        esr = READ_SYSREG(esr_el3);
        far = READ_SYSREG(far_el3);
        elr = READ_SYSREG(elr_el3);
    } else {
        esr = READ_SYSREG(esr_el1);
        far = READ_SYSREG(far_el1);
        elr = READ_SYSREG(elr_el1);
    }
    if (kind % 4 == 0 && bm_abort.armed) {
        bm_abort.armed = false;
        bm_abort.taken = true;
        bm_abort.esr = esr;
        bm_abort.far = far;
        if (current_el() == 3) {
            WRITE_SYSREG(elr_el3, elr + 4);
        } else {
            WRITE_SYSREG(elr_el1, elr + 4);
        }
        return;
    }
    /* An SMC from a lower EL, as a test's way back to EL3 */
    if (kind == 8 && esr >> 26 == 0x17 && bm_on_smc) {
        bm_on_smc();
    }
    bm_printf("not ok - unexpected exception at EL%u: vector %lu, ESR 0x%lx, "
              "FAR 0x%lx, ELR 0x%lx\n", current_el(), kind, esr, far, elr);
    bm_exit(1);
}

/* ---- MMU ---- */

#define PTE_VALID       (1ull << 0)
#define PTE_TABLE       (1ull << 1)
#define PTE_ATTR(i)     ((uint64_t)(i) << 2)
#define PTE_SH_INNER    (3ull << 8)
#define PTE_AF          (1ull << 10)
#define ATTR_DEVICE     0   /* MAIR index: Device-nGnRnE */
#define ATTR_NORMAL     1   /* MAIR index: Normal, write-back */

static uint64_t level0[512] __attribute__((aligned(4096)));
static uint64_t level1[512] __attribute__((aligned(4096)));

void bm_mmu_on(const unsigned *normal_gib, unsigned n)
{
    /* T0SZ 16 (48 bits), write-back inner shareable walks, 4 KiB granule */
    const uint64_t tcr_walk = 16 | 1 << 8 | 1 << 10 | 3 << 12;
    uint64_t sctlr;
    unsigned i;

    for (i = 0; i < 512; i++) {
        level1[i] = (uint64_t)i << 30 | PTE_VALID | PTE_AF |
                    PTE_ATTR(ATTR_DEVICE);
    }
    level1[1] = 1ull << 30 | PTE_VALID | PTE_AF | PTE_SH_INNER |
                PTE_ATTR(ATTR_NORMAL);
    for (i = 0; i < n; i++) {
        level1[normal_gib[i]] = (uint64_t)normal_gib[i] << 30 | PTE_VALID |
                                PTE_AF | PTE_SH_INNER | PTE_ATTR(ATTR_NORMAL);
    }
    level0[0] = (uintptr_t)level1 | PTE_VALID | PTE_TABLE;
    DSB();

    if (current_el() == 3) {
        WRITE_SYSREG(mair_el3, 0xffull << (8 * ATTR_NORMAL));
        /* RES1 bits 31 and 23; PS 48 bits */
        WRITE_SYSREG(tcr_el3, tcr_walk | 1ull << 31 | 1ull << 23 |
                              5ull << 16);
        WRITE_SYSREG(ttbr0_el3, (uintptr_t)level0);
        ISB();
        asm volatile("tlbi alle3" : : : "memory");
        DSB();
        ISB();
        sctlr = READ_SYSREG(sctlr_el3);
        sctlr = (sctlr | 1 << 0 | 1 << 2 | 1 << 12) & ~(uint64_t)(1 << 1);
        WRITE_SYSREG(sctlr_el3, sctlr);
    } else {
        WRITE_SYSREG(mair_el1, 0xffull << (8 * ATTR_NORMAL));
        /* EPD1: no TTBR1 walks; IPS 48 bits */
        WRITE_SYSREG(tcr_el1, tcr_walk | 1ull << 23 | 5ull << 32);
        WRITE_SYSREG(ttbr0_el1, (uintptr_t)level0);
        ISB();
        asm volatile("tlbi vmalle1" : : : "memory");
        DSB();
        ISB();
        sctlr = READ_SYSREG(sctlr_el1);
        sctlr = (sctlr | 1 << 0 | 1 << 2 | 1 << 12) & ~(uint64_t)(1 << 1);
        WRITE_SYSREG(sctlr_el1, sctlr);
    }
    ISB();
}
