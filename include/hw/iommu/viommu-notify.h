/*
 * Telling IOMMU notifiers what a vIOMMU model mapped and invalidated
 *
 * The memory API delivers one IOMMUTLBEvent per naturally aligned block
 * of a power-of-two size.  A model changes arbitrary ranges (a TLBI by
 * range, a table entry rewritten); these turn such a range into the
 * fewest events that cover exactly it.
 *
 * A MAP event also carries the output address, and the memory API
 * computes an address inside the block as translated_addr | offset, so
 * a MAP block must be aligned in its output as well as its input.  The
 * memory API's own cropping of an event to a notifier's range moves the
 * input start without the output; the MAP helpers therefore clip to each
 * notifier before splitting, and hand it only blocks that lie inside.
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

/*
 * Send MAP for @size bytes of @mr at @iova, translated to @pa in system
 * memory with @perm, to every MAP notifier of @iommu_idx.
 */
void viommu_notify_map(IOMMUMemoryRegion *mr, int iommu_idx, uint64_t iova,
                       hwaddr pa, uint64_t size, IOMMUAccessFlags perm);

/*
 * The same for one notifier: what a model's replay() sends for each live
 * mapping.
 */
void viommu_replay_map(IOMMUNotifier *n, uint64_t iova, hwaddr pa,
                       uint64_t size, IOMMUAccessFlags perm);

#endif /* HW_IOMMU_VIOMMU_NOTIFY_H */
