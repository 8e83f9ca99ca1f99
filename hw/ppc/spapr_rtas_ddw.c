/*
 * Dynamic DMA windows: the ibm,query/create/remove/reset-pe-dma-window
 * RTAS calls of pSeries PHBs
 *
 * A PHB has a default 32-bit window and room for more (its "ddw-windows"
 * property; one in all for an SR-IOV VF), each a TCE table (LIOBN) that
 * the PHB made at realize.  A guest asks which page sizes and how many
 * TCEs it may have, creates a window of 2^window_shift bytes of
 * 2^page_shift pages, removes windows and resets the PE to its default
 * window.  Every argument comes from the guest and is checked before it
 * is used; a window the PHB cannot honour is refused with an RTAS error,
 * never allocated (a window's TCE table costs nothing until TCEs are set,
 * see hw/ppc/spapr_tce_store.c).
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/host-utils.h"
#include "qapi/error.h"
#include "hw/boards.h"
#include "trace.h"
#include "hw/ppc/spapr.h"
#include "hw/pci-host/spapr.h"
#include "hw/ppc/spapr_tce.h"

/*
 * The most TCEs a window may have on any PHB: what keeps a window's TCE
 * count and size well inside the SpaprTceTable API's 32-bit count.
 */
#define DDW_MAX_TCES_SHIFT      31
/* However small the guest, windows of this many TCEs (4 GiB of 4 KiB) */
#define DDW_MIN_TCES_SHIFT      20
/* The largest window: the 64-bit window's base plus this stays below 2^64 */
#define DDW_MAX_WINDOW_SHIFT    58

/*
 * The most TCEs a window may have on this machine: one per 4 KiB of the
 * memory the guest can ever have (RAM and the hotplug area), which maps
 * all of it at any page size, and no fewer than 2^20.  A window's TCE
 * storage grows with the TCEs the guest sets, so this bounds what a
 * guest filling its windows can make QEMU allocate.  It is what the query
 * reports as the largest block, which Linux sizes its windows by.
 */
uint64_t spapr_ddw_max_tces(SpaprMachineState *spapr)
{
    MachineState *ms = MACHINE(spapr);
    uint64_t top = ms->ram_size;

    if (ms->device_memory) {
        top = MAX(top, ms->device_memory->base +
                  memory_region_size(&ms->device_memory->mr));
    }
    return MIN(MAX(pow2ceil(top) >> 12, 1ull << DDW_MIN_TCES_SHIFT),
               1ull << DDW_MAX_TCES_SHIFT);
}

/* The query's page-size bits, LoPAR order (bit 8, 2M, came last) */
static const uint8_t ddw_page_shift[] = {
    [0] = 12, [1] = 16, [2] = 24, [3] = 25, [4] = 26, [5] = 27, [6] = 28,
    [7] = 34, [8] = 21,
};

/* The page sizes that LoPAR's query can name: pgsz may have no other */
static uint64_t ddw_lopar_sizes(void)
{
    uint64_t sizes = 0;
    int i;

    for (i = 0; i < ARRAY_SIZE(ddw_page_shift); i++) {
        sizes |= 1ull << ddw_page_shift[i];
    }
    return sizes;
}

bool spapr_phb_ddw_check_pgsz(SpaprPhbState *sphb, Error **errp)
{
    if (!sphb->page_size_mask ||
        (sphb->page_size_mask & ~ddw_lopar_sizes())) {
        error_setg(errp, "pgsz=0x%" PRIx64 ": DMA window pages are 4K, 64K, "
                   "2M, 16M, 32M, 64M, 128M, 256M or 16G (mask 0x%" PRIx64
                   "), at least one of them", sphb->page_size_mask,
                   ddw_lopar_sizes());
        return false;
    }
    return true;
}

static uint32_t ddw_query_mask(SpaprPhbState *sphb)
{
    uint32_t mask = 0;
    int i;

    for (i = 0; i < ARRAY_SIZE(ddw_page_shift); i++) {
        if (sphb->page_size_mask & (1ull << ddw_page_shift[i])) {
            mask |= 1u << i;
        }
    }
    return mask;
}

/* Create takes the page sizes that the query offers, and no other */
static bool ddw_offered(SpaprPhbState *sphb, uint32_t page_shift)
{
    int i;

    for (i = 0; i < ARRAY_SIZE(ddw_page_shift); i++) {
        if (ddw_page_shift[i] == page_shift) {
            return ddw_query_mask(sphb) & (1u << i);
        }
    }
    return false;
}

/* The PHB's window @i, or NULL */
static SpaprTceTable *ddw_window(SpaprPhbState *sphb, int i)
{
    return spapr_tce_find_by_liobn(sphb->dma_liobn[i]);
}

static int ddw_windows_in_use(SpaprPhbState *sphb)
{
    int i, n = 0;

    for (i = 0; i < spapr_phb_windows_supported(sphb); i++) {
        SpaprTceTable *tcet = ddw_window(sphb, i);

        n += tcet && tcet->nb_table;
    }
    return n;
}

/* The first window not in use, or -1 */
static int ddw_free_window(SpaprPhbState *sphb)
{
    int i;

    for (i = 0; i < spapr_phb_windows_supported(sphb); i++) {
        SpaprTceTable *tcet = ddw_window(sphb, i);

        if (tcet && !tcet->nb_table) {
            return i;
        }
    }
    return -1;
}

static bool ddw_overlaps(SpaprPhbState *sphb, uint64_t start, uint64_t size)
{
    int i;

    for (i = 0; i < spapr_phb_windows_supported(sphb); i++) {
        SpaprTceTable *tcet = ddw_window(sphb, i);
        uint64_t wsize;

        if (!tcet || !tcet->nb_table) {
            continue;
        }
        wsize = (uint64_t)tcet->nb_table << tcet->page_shift;
        if (start < tcet->bus_offset + wsize &&
            tcet->bus_offset < start + size) {
            return true;
        }
    }
    return false;
}

/*
 * Where window @index of @size bytes goes.  With two windows, as
 * upstream places them: the first LIOBN's where the default window is,
 * the second's at the PHB's 64-bit base; that is also what a host sPAPR
 * IOMMU gives its windows 0 and 1, so that VFIO can follow.  With more,
 * the first window in use sits where the default one does, except on a
 * VF, whose one window is the guest's 64-bit window; the others go at or
 * above the 64-bit base, aligned to their size from it: at the base
 * itself or just past a window in use, whichever is lowest and free.
 * That is at most 1 + SPAPR_PCI_DMA_MAX_WINDOWS candidates.  UINT64_MAX
 * if none fits below 2^64.
 */
static uint64_t ddw_place(SpaprPhbState *sphb, int index, uint64_t size)
{
    uint64_t base = sphb->dma64_win_addr, best = UINT64_MAX;
    int i;

    if (spapr_phb_windows_supported(sphb) == SPAPR_PCI_DMA_DEF_WINDOWS) {
        return index ? base : sphb->dma_win_addr;
    }
    if (!ddw_windows_in_use(sphb) && !sphb->sriov_vf) {
        return sphb->dma_win_addr;
    }
    for (i = -1; i < (int)spapr_phb_windows_supported(sphb); i++) {
        uint64_t start = base;

        if (i >= 0) {
            SpaprTceTable *tcet = ddw_window(sphb, i);
            uint64_t end;

            if (!tcet || !tcet->nb_table) {
                continue;
            }
            end = tcet->bus_offset +
                  ((uint64_t)tcet->nb_table << tcet->page_shift);
            if (end <= base) {
                continue;
            }
            start = base + QEMU_ALIGN_UP(end - base, size);
            if (start < base) {
                continue;           /* past 2^64 */
            }
        }
        if (start + size - 1 >= start && start < best &&
            !ddw_overlaps(sphb, start, size)) {
            best = start;
        }
    }
    return best;
}

/*
 * The PHB that arguments 1 and 2 name, if it does DDW; otherwise NULL,
 * with the call answered: parameter error.
 */
static SpaprPhbState *ddw_phb(SpaprMachineState *spapr, target_ulong args,
                              target_ulong rets, const char *call)
{
    uint64_t buid = ((uint64_t)rtas_ld(args, 1) << 32) | rtas_ld(args, 2);
    SpaprPhbState *sphb = spapr_pci_find_phb(spapr, buid);

    if (!sphb || !sphb->ddw_enabled) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: no PHB with DDW has BUID 0x%"
                      PRIx64 "\n", call, buid);
        rtas_st(rets, 0, RTAS_OUT_PARAM_ERROR);
        return NULL;
    }
    return sphb;
}

static void ddw_refuse(target_ulong rets, int status, const char *call,
                       const char *why)
{
    qemu_log_mask(LOG_GUEST_ERROR, "%s: %s\n", call, why);
    rtas_st(rets, 0, status);
}

static void rtas_ibm_query_pe_dma_window(PowerPCCPU *cpu,
                                         SpaprMachineState *spapr,
                                         uint32_t token, uint32_t nargs,
                                         target_ulong args, uint32_t nret,
                                         target_ulong rets)
{
    static const char call[] = "ibm,query-pe-dma-window";
    uint64_t largest = spapr_ddw_max_tces(spapr);
    SpaprPhbState *sphb;
    uint32_t avail, mask;

    if (nargs != 3 || (nret != 5 && nret != 6)) {
        ddw_refuse(rets, RTAS_OUT_PARAM_ERROR, call, "wrong argument count");
        return;
    }
    sphb = ddw_phb(spapr, args, rets, call);
    if (!sphb) {
        return;
    }
    avail = spapr_phb_windows_supported(sphb) - ddw_windows_in_use(sphb);
    mask = ddw_query_mask(sphb);

    rtas_st(rets, 0, RTAS_OUT_SUCCESS);
    rtas_st(rets, 1, avail);
    if (nret == 6) {
        /* The extended form: the largest block in two cells */
        rtas_st(rets, 2, largest >> 32);
        rtas_st(rets, 3, (uint32_t)largest);
        rtas_st(rets, 4, mask);
        rtas_st(rets, 5, 0);        /* no DMA migration */
    } else {
        rtas_st(rets, 2, largest);
        rtas_st(rets, 3, mask);
        rtas_st(rets, 4, 0);
    }
    trace_spapr_iommu_ddw_query(sphb->buid, rtas_ld(args, 0), avail, largest,
                                mask);
}

static void rtas_ibm_create_pe_dma_window(PowerPCCPU *cpu,
                                          SpaprMachineState *spapr,
                                          uint32_t token, uint32_t nargs,
                                          target_ulong args, uint32_t nret,
                                          target_ulong rets)
{
    static const char call[] = "ibm,create-pe-dma-window";
    uint32_t page_shift, window_shift;
    SpaprTceTable *tcet;
    SpaprPhbState *sphb;
    uint64_t start;
    int index;

    if (nargs != 5 || nret != 4) {
        ddw_refuse(rets, RTAS_OUT_PARAM_ERROR, call, "wrong argument count");
        return;
    }
    sphb = ddw_phb(spapr, args, rets, call);
    if (!sphb) {
        return;
    }
    page_shift = rtas_ld(args, 3);
    window_shift = rtas_ld(args, 4);
    if (!ddw_offered(sphb, page_shift)) {
        ddw_refuse(rets, RTAS_OUT_PARAM_ERROR, call,
                   "the query offers no such TCE page size");
        return;
    }
    if (window_shift < page_shift || window_shift > DDW_MAX_WINDOW_SHIFT ||
        window_shift - page_shift > DDW_MAX_TCES_SHIFT) {
        ddw_refuse(rets, RTAS_OUT_PARAM_ERROR, call,
                   "the window is smaller than a page, or larger than the "
                   "PHB offers");
        return;
    }
    if (1ull << (window_shift - page_shift) > spapr_ddw_max_tces(spapr)) {
        ddw_refuse(rets, RTAS_OUT_PARAM_ERROR, call,
                   "the window has more TCEs than the query's largest block: "
                   "more than the guest's memory can use");
        return;
    }
    index = ddw_free_window(sphb);
    if (index < 0) {
        ddw_refuse(rets, RTAS_OUT_HW_ERROR, call, "every window is in use");
        return;
    }
    tcet = ddw_window(sphb, index);
    start = ddw_place(sphb, index, 1ull << window_shift);
    if (start == UINT64_MAX ||
        start + (1ull << window_shift) - 1 < start) {
        ddw_refuse(rets, RTAS_OUT_HW_ERROR, call,
                   "no room on the bus for the window");
        return;
    }
    /* A new window is empty: replaying it to VFIO would find nothing */
    tcet->skipping_replay = true;
    spapr_tce_table_enable(tcet, page_shift, start,
                           1u << (window_shift - page_shift));
    tcet->skipping_replay = false;

    trace_spapr_iommu_ddw_create(sphb->buid, rtas_ld(args, 0),
                                 1ull << page_shift, 1ull << window_shift,
                                 start, tcet->liobn);
    rtas_st(rets, 0, RTAS_OUT_SUCCESS);
    rtas_st(rets, 1, tcet->liobn);
    rtas_st(rets, 2, start >> 32);
    rtas_st(rets, 3, (uint32_t)start);
}

static void rtas_ibm_remove_pe_dma_window(PowerPCCPU *cpu,
                                          SpaprMachineState *spapr,
                                          uint32_t token, uint32_t nargs,
                                          target_ulong args, uint32_t nret,
                                          target_ulong rets)
{
    static const char call[] = "ibm,remove-pe-dma-window";
    SpaprPhbState *sphb;
    SpaprTceTable *tcet;
    bool was_default;
    Object *owner;

    if (nargs != 1 || nret != 1) {
        ddw_refuse(rets, RTAS_OUT_PARAM_ERROR, call, "wrong argument count");
        return;
    }
    tcet = spapr_tce_find_by_liobn(rtas_ld(args, 0));
    owner = tcet ? OBJECT(tcet)->parent : NULL;
    sphb = (SpaprPhbState *)object_dynamic_cast(owner,
                                                TYPE_SPAPR_PCI_HOST_BRIDGE);
    if (!sphb || !sphb->ddw_enabled || !tcet->nb_table) {
        ddw_refuse(rets, RTAS_OUT_PARAM_ERROR, call,
                   "no window of a PHB with DDW has that LIOBN");
        return;
    }
    was_default = tcet->def_win;
    spapr_tce_table_disable(tcet);
    trace_spapr_iommu_ddw_remove(tcet->liobn);

    /*
     * LoPAR: removing the PE's last window brings the default window back,
     * unless the window removed was the default one.
     */
    if (!ddw_windows_in_use(sphb) && !was_default) {
        spapr_phb_dma_reset(sphb);
        trace_spapr_iommu_ddw_reset(sphb->buid, 0);
    }
    rtas_st(rets, 0, RTAS_OUT_SUCCESS);
}

static void rtas_ibm_reset_pe_dma_window(PowerPCCPU *cpu,
                                         SpaprMachineState *spapr,
                                         uint32_t token, uint32_t nargs,
                                         target_ulong args, uint32_t nret,
                                         target_ulong rets)
{
    static const char call[] = "ibm,reset-pe-dma-window";
    SpaprPhbState *sphb;

    if (nargs != 3 || nret != 1) {
        ddw_refuse(rets, RTAS_OUT_PARAM_ERROR, call, "wrong argument count");
        return;
    }
    sphb = ddw_phb(spapr, args, rets, call);
    if (!sphb) {
        return;
    }
    spapr_phb_dma_reset(sphb);
    trace_spapr_iommu_ddw_reset(sphb->buid, rtas_ld(args, 0));
    rtas_st(rets, 0, RTAS_OUT_SUCCESS);
}

/*
 * A host sPAPR IOMMU (VFIO's legacy container) gives a PE two windows,
 * at bus addresses 0 and 2^59, and VFIO must put each of the guest's
 * windows in one of them at the same address: a third window, or a VF's
 * one 64-bit window, would land where the host has none, and VFIO could
 * only abort.  So such a PHB takes no device of a host sPAPR IOMMU.
 */
bool spapr_phb_ddw_host_iommu_ok(SpaprPhbState *sphb, const char *what,
                                 Error **errp)
{
    if (sphb->ddw_enabled &&
        (sphb->sriov_vf || sphb->dma_windows > SPAPR_PCI_DMA_DEF_WINDOWS)) {
        error_setg(errp, "%s: a host sPAPR IOMMU has DMA windows at bus "
                   "addresses 0 and 2^59 only, which PHB %u with %s cannot "
                   "keep to", what, sphb->index,
                   sphb->sriov_vf ? "sriov-vf=on" : "ddw-windows > 2");
        error_append_hint(errp, "Use a PHB with ddw-windows=2 and "
                          "sriov-vf=off for VFIO devices\n");
        return false;
    }
    return true;
}

static void spapr_rtas_ddw_register(void)
{
    spapr_rtas_register(RTAS_IBM_RESET_PE_DMA_WINDOW,
                        "ibm,reset-pe-dma-window",
                        rtas_ibm_reset_pe_dma_window);
    spapr_rtas_register(RTAS_IBM_REMOVE_PE_DMA_WINDOW,
                        "ibm,remove-pe-dma-window",
                        rtas_ibm_remove_pe_dma_window);
    spapr_rtas_register(RTAS_IBM_CREATE_PE_DMA_WINDOW,
                        "ibm,create-pe-dma-window",
                        rtas_ibm_create_pe_dma_window);
    spapr_rtas_register(RTAS_IBM_QUERY_PE_DMA_WINDOW,
                        "ibm,query-pe-dma-window",
                        rtas_ibm_query_pe_dma_window);
}

type_init(spapr_rtas_ddw_register)
