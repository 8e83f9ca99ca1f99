/*
 * A marker that an IOMMU memory region can be looked up without a trace
 *
 * Some IOMMU models record a fault for every refused lookup, whatever
 * asked: an SMMUv3 queues an event record, VT-d a fault record.  A device
 * model that wants to know why one of its own requests was refused must
 * not ask those again, or it would add records that no DMA caused.  An
 * IOMMU memory region class that implements this interface promises that
 * translate() with IOMMU_NONE changes nothing the guest can see: no fault
 * record, no statistics, no cache state the guest can tell apart.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_IOMMU_SIDE_EFFECT_FREE_LOOKUP_H
#define HW_IOMMU_SIDE_EFFECT_FREE_LOOKUP_H

#include "qom/object.h"
#include "system/memory.h"

#define TYPE_IOMMU_SIDE_EFFECT_FREE_LOOKUP "iommu-side-effect-free-lookup"

static inline bool iommu_lookup_is_side_effect_free(IOMMUMemoryRegion *mr)
{
    return object_dynamic_cast(OBJECT(mr),
                               TYPE_IOMMU_SIDE_EFFECT_FREE_LOOKUP) != NULL;
}

#endif /* HW_IOMMU_SIDE_EFFECT_FREE_LOOKUP_H */
