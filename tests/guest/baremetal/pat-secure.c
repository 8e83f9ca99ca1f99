/*
 * pat-secure: the PAT's window from EL3 on virt,secure=on, and from
 * Non-secure EL1 on the same machine.
 *
 * An access keeps its security state through the PAT: a Secure access
 * through the window reaches what the Secure address space has at the
 * entry's output (the Secure-only UART and RAM included), a Non-secure
 * one what the Non-secure space has there (nothing, for those two).  The
 * program points four entries at the Non-secure UART, the Secure UART,
 * Secure RAM and Non-secure RAM, checks each from EL3, then drops to
 * Non-secure EL1, checks again and comes back with an SMC.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "baremetal.h"

#define ENTRY_UART          0
#define ENTRY_SECURE_UART   1
#define ENTRY_SECURE_RAM    2
#define ENTRY_RAM           3
#define SECURE_RAM_PAGE     (VIRT_SECURE_RAM + 0x1000)
#define RAM_PAGE            0x44000000ull
#define NS_STACK_TOP        0x44200000ull

#define PL011_PERIPHID0_VALUE   0x11
#define PL011_CELLID0_VALUE     0x0d

#define ESR_EC(esr)         ((esr) >> 26)
#define EC_DABT_SAME_EL     0x25
#define ESR_DFSC(esr)       ((esr) & 0x3f)
#define DFSC_EXTERNAL       0x10

static uint64_t window(unsigned entry, uint64_t offset)
{
    return PAT_WINDOW + entry * PAGE_SIZE + offset;
}

/* What Non-secure EL1 saw, for EL3 to report */
static struct {
    uint32_t el, uart_id, ram;
    bool secure_uart_aborted, secure_ram_aborted;
    uint64_t secure_uart_esr, secure_ram_esr;
} ns;

static void ns_main(void)
{
    ns.el = current_el();
    ns.uart_id = MMIO32(window(ENTRY_UART, PL011_PERIPHID0));
    ns.ram = MMIO32(window(ENTRY_RAM, 0x40));

    bm_expect_abort();
    (void)MMIO32(window(ENTRY_SECURE_UART, PL011_PERIPHID0));
    ns.secure_uart_aborted = bm_abort.taken;
    ns.secure_uart_esr = bm_abort.esr;

    bm_expect_abort();
    (void)MMIO32(window(ENTRY_SECURE_RAM, 0x40));
    ns.secure_ram_aborted = bm_abort.taken;
    ns.secure_ram_esr = bm_abort.esr;

    asm volatile("smc #0" : : : "memory");
    bm_halt();
}

static bool external_abort(bool taken, uint64_t esr)
{
    return taken && ESR_EC(esr) == EC_DABT_SAME_EL &&
           ESR_DFSC(esr) == DFSC_EXTERNAL;
}

/* Back at EL3 from ns_main()'s SMC */
static void after_ns(void)
{
    bm_ok(ns.el == 1 && ns.uart_id == PL011_PERIPHID0_VALUE &&
          ns.ram == 0x600d0040,
          "Non-secure EL1: through entry 0 the UART's PeriphID0 0x%x, "
          "through entry 3 RAM 0x%x", ns.uart_id, ns.ram);
    bm_ok(external_abort(ns.secure_uart_aborted, ns.secure_uart_esr) &&
          external_abort(ns.secure_ram_aborted, ns.secure_ram_esr),
          "Non-secure EL1: entries 1 and 2 lead where the Non-secure space "
          "has nothing, an external abort each (ESR 0x%lx, 0x%lx)",
          ns.secure_uart_esr, ns.secure_ram_esr);
    bm_exit_tap();
}

static void enter_ns_el1(void)
{
    /* SCR_EL3: NS, RW (AArch64 below), SMD clear (SMC allowed) */
    WRITE_SYSREG(scr_el3, (READ_SYSREG(scr_el3) | 1 << 0 | 1 << 10) &
                          ~(uint64_t)(1 << 7));
    WRITE_SYSREG(sp_el1, NS_STACK_TOP);
    WRITE_SYSREG(spsr_el3, 0x3c5);          /* EL1h, DAIF masked */
    WRITE_SYSREG(elr_el3, (uintptr_t)ns_main);
    ISB();
    asm volatile("eret");
    __builtin_unreachable();
}

/*
 * At EL3, through @entry, which names @frame: a load reads what was
 * stored at the frame's word @off, a store to the next word lands there
 */
static void check_ram(unsigned entry, uint64_t frame, uint64_t off,
                      uint32_t seed, const char *what)
{
    uint32_t v;

    MMIO32(frame + off) = seed + off;
    MMIO32(window(entry, off + 4)) = seed + off + 4;
    v = MMIO32(window(entry, off));
    bm_ok(v == seed + off && MMIO32(frame + off + 4) == seed + off + 4,
          "EL3 through %s: a load reads 0x%x, a store lands at 0x%lx", what,
          v, frame + off + 4);
}

void bm_main(uint64_t cpu)
{
    uint32_t id, cell;
    uint64_t console;

    (void)cpu;
    bm_plan(8);
    bm_ok(current_el() == 3 && !(READ_SYSREG(scr_el3) & 1),
          "running at EL3, Secure (SCR_EL3 0x%lx)", READ_SYSREG(scr_el3));

    pat_map(ENTRY_UART, VIRT_UART);
    pat_map(ENTRY_SECURE_UART, VIRT_SECURE_UART);
    pat_map(ENTRY_SECURE_RAM, SECURE_RAM_PAGE);
    pat_map(ENTRY_RAM, RAM_PAGE);
    pat_on(TI_PAT_PAGE_4K);

    id = MMIO32(window(ENTRY_UART, PL011_PERIPHID0));
    cell = MMIO32(window(ENTRY_UART, PL011_CELLID0));
    bm_ok(id == PL011_PERIPHID0_VALUE && cell == PL011_CELLID0_VALUE,
          "EL3 through entry 0 to the UART: PeriphID0 0x%x, CellID0 0x%x",
          id, cell);

    console = bm_console;
    bm_console = window(ENTRY_UART, 0);
    bm_ok(true, "this line was stored byte by byte through entry 0 into the "
          "UART's data register");
    bm_console = console;

    id = MMIO32(window(ENTRY_SECURE_UART, PL011_PERIPHID0));
    bm_ok(id == PL011_PERIPHID0_VALUE, "EL3 through entry 1 to the Secure "
          "UART, which only the Secure space has: PeriphID0 0x%x", id);

    check_ram(ENTRY_SECURE_RAM, SECURE_RAM_PAGE, 0x20, 0x5ec00000,
              "entry 2 to Secure RAM");
    check_ram(ENTRY_RAM, RAM_PAGE, 0x40, 0x600d0000,
              "entry 3 to Non-secure RAM");

    bm_on_smc = after_ns;
    enter_ns_el1();
}

void bm_secondary_main(uint64_t cpu)
{
    (void)cpu;
    bm_halt();
}
