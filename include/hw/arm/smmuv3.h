/*
 * Arm SMMUv3: what machines need to create one
 *
 * The model itself is private to hw/arm/smmuv3*.c.  A machine creates
 * TYPE_ARM_SMMUV3 as a sysbus device, links "primary-bus" to the PCI bus
 * whose devices it translates, maps its MMIO region 0 (128 KiB, two
 * pages) and connects its four edge-triggered interrupts, in this order:
 * event queue, PRI queue, CMD_SYNC completion and global error.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_ARM_SMMUV3_H
#define HW_ARM_SMMUV3_H

#include "qom/object.h"

#define TYPE_ARM_SMMUV3                 "arm-smmuv3"
#define TYPE_SMMUV3_IOMMU_MEMORY_REGION "smmuv3-iommu-memory-region"

OBJECT_DECLARE_SIMPLE_TYPE(SMMUv3State, ARM_SMMUV3)

/* The sysbus interrupts, in the order a machine connects them */
typedef enum SMMUv3Irq {
    SMMUV3_IRQ_EVENTQ,
    SMMUV3_IRQ_PRIQ,
    SMMUV3_IRQ_CMD_SYNC,
    SMMUV3_IRQ_GERROR,
    SMMUV3_NR_IRQS,
} SMMUv3Irq;

#define SMMUV3_MMIO_SIZE    0x20000

#endif /* HW_ARM_SMMUV3_H */
