/*
 * EEH for the PE of an emulated pSeries PHB
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PPC_SPAPR_PCI_EEH_H
#define HW_PPC_SPAPR_PCI_EEH_H

#include "qemu/atomic.h"
#include "system/memory.h"

typedef struct SpaprPhbState SpaprPhbState;

/* What the PE records about the error that stopped it */
typedef struct SpaprEehError {
    uint8_t type;               /* LoPAR's error log type; 0: none */
    uint8_t initiator;          /* and its initiator and target */
    uint8_t target;
    uint64_t addr;              /* the bus address, or 0 */
} SpaprEehError;

/* A PCI device's configuration before a PE reset, for ibm,configure-pe */
typedef struct SpaprEehConfig {
    uint32_t addr;              /* bus << 16 | devfn << 8 */
    uint32_t word[16];          /* dwords 0x00-0x3c */
} SpaprEehConfig;

/* Over one of the CPU's windows onto the PHB, while an injection waits */
typedef struct SpaprEehTrap {
    struct SpaprPhbEeh *eeh;
    MemoryRegion mr;
    uint64_t pci_base;          /* the bus address of the window's start */
    bool io;                    /* the I/O window */
} SpaprEehTrap;

/*
 * An emulated PHB is one PE.  Its state is one of PAPR's
 * RTAS_EEH_PE_STATE_* values; anything but NORMAL stops the PE's DMA and
 * its MSIs, and STOPPED_IO_DMA, RESET and UNAVAIL also fence its MMIO,
 * I/O and configuration space.
 */
typedef struct SpaprPhbEeh {
    bool emulated;              /* "eeh" property: model EEH for this PHB */
    bool realized;              /* the regions below are in place */
    bool enabled;               /* the guest enabled EEH; read lock-free */
    uint32_t state;             /* read lock-free by TCE lookups */
    uint32_t dma_inject;        /* a DMA error injection is armed */

    SpaprEehError error;

    /* An armed ibm,errinjct ioa-bus-error(-64): function 0-19, or ~0 */
    uint32_t inject_func;
    uint32_t inject_config_addr;
    uint64_t inject_addr;
    uint64_t inject_mask;

    /* Taken at reset, given back by ibm,configure-pe */
    int32_t config_count;
    SpaprEehConfig *config;

    QEMUBH *apply_bh;           /* fences a freeze from outside the BQL */
    MemoryRegion mmio_fence;    /* over the PHB's memory space */
    MemoryRegion io_fence;      /* over its I/O space */
    MemoryRegion mmio_unclaimed; /* under every BAR: an unsupported request */
    MemoryRegion io_unclaimed;
    MemoryRegion dma_unmapped;  /* under its DMA windows */
    MemoryRegion msi_gate;      /* over its MSI window */
    /* Over the CPU's windows while a load or store injection is armed */
    SpaprEehTrap trap[3];
    bool trap_as_ready;
    MemoryRegion mem_view;
    AddressSpace mem_as, io_as; /* what a trap passes accesses on to */
} SpaprPhbEeh;

extern const VMStateDescription vmstate_spapr_phb_eeh;

void spapr_phb_eeh_realize(SpaprPhbState *sphb);
void spapr_phb_eeh_unrealize(SpaprPhbState *sphb);
void spapr_phb_eeh_machine_reset(SpaprPhbState *sphb);

/*
 * The PHB's EEH is this model's (not VFIO's): its RTAS calls go to the
 * functions below, which answer as LoPAR says, with RTAS statuses.
 */
bool spapr_phb_eeh_emulated(SpaprPhbState *sphb);
int spapr_phb_eeh_set_option(SpaprPhbState *sphb, uint32_t addr,
                             uint32_t option);
int spapr_phb_eeh_config_addr_info(SpaprPhbState *sphb, uint32_t addr,
                                   uint32_t function, uint32_t *info);
int spapr_phb_eeh_read_state(SpaprPhbState *sphb, uint32_t addr,
                             uint32_t *state, uint32_t *unavail_info);
int spapr_phb_eeh_reset(SpaprPhbState *sphb, uint32_t addr,
                        uint32_t option);
int spapr_phb_eeh_configure(SpaprPhbState *sphb, uint32_t addr);
int spapr_phb_eeh_slot_error_detail(SpaprPhbState *sphb, uint32_t addr,
                                    uint64_t buf, uint32_t len,
                                    uint32_t function);
/*
 * A configuration access of the PHB (NULL: none): true when the PE drops
 * it, a read then returning all ones
 */
bool spapr_phb_eeh_config_blocked(SpaprPhbState *sphb, PCIDevice *pdev,
                                  uint32_t reg, bool is_write);
/* The "ibm,errinjct-tokens" of /rtas, when a PHB models EEH */
void spapr_phb_eeh_dt_rtas(void *fdt, int rtas);

/*
 * A DMA of the PE that the TCE allows, or refuses (@refused): true when
 * the PE drops it (it is stopped, or an injected error fires now).  A
 * refused DMA freezes the PE if the guest enabled EEH.  Safe outside the
 * BQL; only called when spapr_phb_eeh_dma_watched() or @refused.
 */
bool spapr_phb_eeh_dma_stop(SpaprPhbEeh *eeh, uint32_t liobn, hwaddr addr,
                            bool is_write, bool refused);

/* The PE's DMA needs a look: it is stopped, or an injection is armed */
static inline bool spapr_phb_eeh_dma_watched(SpaprPhbEeh *eeh)
{
    return qatomic_read(&eeh->state) | qatomic_read(&eeh->dma_inject);
}

#endif
