/*
 * Telling IOMMU notifiers what a vIOMMU model invalidated
 *
 * The memory API delivers one IOMMUTLBEvent per naturally aligned block
 * of a power-of-two size.  A model invalidates arbitrary ranges (a TLBI
 * by range, a table entry rewritten); this turns such a range into the
 * fewest events that cover exactly it.  The memory API then gives each
 * notifier the events that overlap its range and match its flags.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_IOMMU_VIOMMU_NOTIFY_H
#define HW_IOMMU_VIOMMU_NOTIFY_H

#include "system/memory.h"

/*
 * Send UNMAP for [@start, @start + @size) of @mr, as at most 128 events;
 * a range reaching past 2^64 stops there.  Returns the number sent.
 */
unsigned viommu_notify_unmap(IOMMUMemoryRegion *mr, int iommu_idx,
                             uint64_t start, uint64_t size);

#endif /* HW_IOMMU_VIOMMU_NOTIFY_H */
