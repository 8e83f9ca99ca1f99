/*
 * generic-fuzz-viommu-ti-pat: the fork's TI PAT, fuzzed through its MMRS,
 * TABLE and window and viommu-testdev's DMA into the window
 *
 * generic-fuzz writes and reads the PAT's three regions (the window by the
 * CPU, through the PAT) and the test device's registers and buffer; a
 * doorbell makes the device DMA, into the window or elsewhere.  The PAT's
 * table is its own memory, so nothing needs building in guest memory:
 * the seeds in tests/fuzz/corpus/ti-pat turn the PAT on and write entries.
 *
 * After each command, a DMA the device completed is checked against an
 * independent model of the PAT, which reads CONTROL, CONFIG and the
 * entries through MMRS and TABLE: a request in the window lands at
 * entry + offset in the page, or fails as the PAT's decode error (PAT
 * off, entry disabled, past the table, into the window) and the device
 * reports TRANSLATION_FAULT, as it does for any IOMMU it cannot ask;
 * anything outside the window reaches RAM untranslated.  The PAT caches
 * nothing, so every command is checked.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "tests/qtest/fuzz/fuzz.h"
#include "tests/qtest/fuzz/generic_fuzz.h"
#include "tests/qtest/libqos/ti-pat.h"
#include "viommu-fuzz.h"

#define DEVFN           QPCI_DEVFN(4, 0)

/* One PAT with a 16 MiB window; its 2048 entries of 4 KiB cover half */
#define PAT_MMRS        TI_PAT_AUTO_MMRS(0)
#define PAT_TABLE       TI_PAT_AUTO_TABLE(0)
#define PAT_WINDOW      TI_PAT_AUTO_WINDOW(0)
#define PAT_WINDOW_SIZE (16 * MiB)

typedef struct PatFuzz {
    QTestState *qts;
    QGenericPCIBus gbus;
    VFuzzTestdev td;
} PatFuzz;

static PatFuzz pf;

static const unsigned page_shift[4] = {
    [TI_PAT_PAGE_4K] = 12, [TI_PAT_PAGE_16K] = 14,
    [TI_PAT_PAGE_64K] = 16, [TI_PAT_PAGE_1M] = 20,
};

static bool in_window(uint64_t addr)
{
    return addr - PAT_WINDOW < PAT_WINDOW_SIZE;
}

static VFuzzDma pat_resolve(void *opaque, uint64_t addr, bool is_write)
{
    const VFuzzDma fault = { VFUZZ_DMA_FAULT, 0, RES_TRANSLATION_FAULT };
    uint32_t control, addrl, addrh;
    uint64_t index, page, out;
    unsigned shift;

    if (!in_window(addr)) {
        return (VFuzzDma) { VFUZZ_DMA_RAM, addr };
    }
    control = qtest_readl(pf.qts, PAT_MMRS + TI_PAT_CONTROL);
    if (!(control & TI_PAT_CONTROL_EN)) {
        return fault;
    }
    shift = page_shift[(control >> 4) & 3];
    index = (addr - PAT_WINDOW) >> shift;
    if (index >= qtest_readl(pf.qts, PAT_MMRS + TI_PAT_CONFIG)) {
        return fault;
    }
    addrl = qtest_readl(pf.qts, PAT_TABLE + TI_PAT_ENTRY_OFFSET(index));
    addrh = qtest_readl(pf.qts, PAT_TABLE + TI_PAT_ENTRY_OFFSET(index) + 4);
    if (!(addrh & TI_PAT_ADDRH_ENABLE)) {
        return fault;
    }
    page = ((uint64_t)(addrh & 0xf) << 44) | ((uint64_t)addrl << 12);
    out = page + (addr & ((1ull << shift) - 1));
    if (in_window(out)) {
        return fault;
    }
    if (page < PAT_WINDOW + PAT_WINDOW_SIZE &&
        PAT_WINDOW < page + (1ull << shift)) {
        /* The page reaches into the window, this access does not */
        return (VFuzzDma) { VFUZZ_DMA_UNKNOWN };
    }
    return (VFuzzDma) { VFUZZ_DMA_RAM, out };
}

static void pat_before_input(QTestState *s)
{
    pf.qts = s;
    vfuzz_virt_input_begin(s, &pf.gbus, &pf.td, DEVFN, 16 * MiB);
}

static void pat_after_command(QTestState *s)
{
    vfuzz_command_done("a TI PAT input's command");
    vfuzz_testdev_after_command(&pf.td, pat_resolve, NULL);
    vfuzz_clock_restart();
}

static const GenericFuzzConfig ti_pat_config = {
    .name = "viommu-ti-pat",
    .description = "The fork's TI PAT: MMRS, TABLE, the window, and "
                   "viommu-testdev's DMA into it, checked against a model "
                   "of the table",
    .args = "-M virt -cpu max -nodefaults "
            "-device viommu-testdev,addr=4.0,"
            "x-burst-max-count=" VFUZZ_BURST_MAX " "
            "-device ti-pat,entries=2048,window-size=0x1000000",
    .objects = "ti-pat viommu-testdev-*",
    .before_input = pat_before_input,
    .after_command = pat_after_command,
};

static void register_ti_pat_fuzz(void)
{
    generic_fuzz_add_config(&ti_pat_config);
}

fuzz_target_init(register_ti_pat_fuzz);
