/*
 * EEH for the PE of an emulated pSeries PHB
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PPC_SPAPR_PCI_EEH_H
#define HW_PPC_SPAPR_PCI_EEH_H

#include "system/memory.h"

typedef struct SpaprPhbState SpaprPhbState;

/*
 * An emulated PHB is one PE.  Its state is one of PAPR's
 * RTAS_EEH_PE_STATE_* values; anything but NORMAL stops the PE's DMA,
 * and STOPPED_IO_DMA and RESET also fence its MMIO and I/O space.
 */
typedef struct SpaprPhbEeh {
    bool emulated;              /* "eeh" property: model EEH for this PHB */
    bool realized;              /* the regions below are in place */
    bool enabled;               /* the guest turned EEH on for the PE */
    uint32_t state;             /* read without the BQL by TCE lookups */

    QEMUBH *apply_bh;           /* fences a freeze from outside the BQL */
    MemoryRegion mmio_fence;    /* over the PHB's memory space */
    MemoryRegion io_fence;      /* over its I/O space */
    MemoryRegion dma_unmapped;  /* under its DMA windows */
} SpaprPhbEeh;

extern const VMStateDescription vmstate_spapr_phb_eeh;

void spapr_phb_eeh_realize(SpaprPhbState *sphb);
void spapr_phb_eeh_unrealize(SpaprPhbState *sphb);
void spapr_phb_eeh_machine_reset(SpaprPhbState *sphb);

/* The RTAS calls' back end: VFIO's for a PHB that has it, else ours */
bool spapr_phb_eeh_capable(SpaprPhbState *sphb);
int spapr_phb_eeh_set_option(SpaprPhbState *sphb, unsigned int addr,
                             int option);
int spapr_phb_eeh_get_state(SpaprPhbState *sphb, int *state);
int spapr_phb_eeh_reset(SpaprPhbState *sphb, int option);
int spapr_phb_eeh_configure(SpaprPhbState *sphb);

/*
 * A DMA of the PE was refused (no TCE, a TCE without the permission, or
 * no window).  Freezes the PE if the guest enabled EEH.  Safe outside
 * the BQL.
 */
void spapr_phb_eeh_dma_fault(SpaprPhbEeh *eeh, uint32_t liobn, hwaddr addr,
                             bool is_write);

static inline bool spapr_phb_eeh_dma_stopped(SpaprPhbEeh *eeh)
{
    return qatomic_read(&eeh->state) != 0;
}

#endif
