/*
 * TI Page-based Address Translator (PAT), as on TI K3 SoCs (J721E)
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_IOMMU_TI_PAT_H
#define HW_IOMMU_TI_PAT_H

#include "hw/sysbus.h"
#include "qom/object.h"
#include "qemu/queue.h"

#define TYPE_TI_PAT "ti-pat"
OBJECT_DECLARE_SIMPLE_TYPE(TIPATState, TI_PAT)

#define TYPE_TI_PAT_IOMMU_MEMORY_REGION "ti-pat-iommu-memory-region"

/* A base property left at this value is chosen by the machine */
#define TI_PAT_BASE_AUTO UINT64_MAX

/* The SysBus MMIO regions, in the order of the DT node's reg-names */
enum {
    TI_PAT_REGION_MMRS,
    TI_PAT_REGION_TABLE,
    TI_PAT_REGION_WINDOW,
    TI_PAT_REGION_COUNT,
};

struct TIPATState {
    SysBusDevice parent_obj;

    MemoryRegion mmrs;
    MemoryRegion table;
    IOMMUMemoryRegion window;
    QTAILQ_ENTRY(TIPATState) next;

    /* Guest-visible state */
    uint32_t control;
    uint32_t num_entries;       /* the entry count, for VMState */
    uint64_t *entries;          /* ADDRH << 32 | ADDRL, one per page */
    unsigned long *enabled;     /* entries with ENABLE set, for replay */

    /* Properties */
    uint64_t base[TI_PAT_REGION_COUNT];
    uint64_t size[TI_PAT_REGION_COUNT];
    uint32_t prop_entries;
};

/*
 * Place @s in @sysmem, where the regions whose base properties were left
 * to the machine go in a row that starts at the J721E's first window
 * (0x48_0000_0000), and describe it in @fdt (whose root has two address
 * and two size cells) when there is one.  Fails, saying why, when a
 * region overlaps another of its own, another PAT's, or anything mapped
 * in @sysmem.
 */
bool ti_pat_plug(TIPATState *s, MemoryRegion *sysmem, void *fdt,
                 Error **errp);

#endif /* HW_IOMMU_TI_PAT_H */
