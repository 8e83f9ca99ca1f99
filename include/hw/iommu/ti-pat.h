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

/*
 * A base property left at this value is for the machine to choose, before
 * it realizes the device; it maps the regions and describes them (a
 * ti,j721e-pat DT node) after.
 */
#define TI_PAT_BASE_AUTO UINT64_MAX

/* The SysBus MMIO regions, in the order of the DT node's reg-names */
enum {
    TI_PAT_REGION_MMRS,
    TI_PAT_REGION_TABLE,
    TI_PAT_REGION_WINDOW,
    TI_PAT_REGION_COUNT,
};

typedef struct TIPATOutput TIPATOutput;

struct TIPATState {
    SysBusDevice parent_obj;

    MemoryRegion mmrs;
    MemoryRegion table;
    IOMMUMemoryRegion window;
    QTAILQ_ENTRY(TIPATState) next;
    TIPATOutput *output[2];     /* per translation index */

    /* Guest-visible state */
    uint32_t control;
    uint32_t num_entries;       /* the entry count, for VMState */
    uint64_t *entries;          /* ADDRH << 32 | ADDRL, one per page */
    unsigned long *enabled;     /* entries with ENABLE set, for replay */

    /* Properties */
    uint64_t base[TI_PAT_REGION_COUNT];
    uint64_t size[TI_PAT_REGION_COUNT];
    uint32_t prop_entries;
    MemoryRegion *memory;
    MemoryRegion *secure_memory;
};

#endif /* HW_IOMMU_TI_PAT_H */
