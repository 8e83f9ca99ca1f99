/*
 * Telling IOMMU notifiers what a vIOMMU model mapped and invalidated; see
 * include/hw/iommu/viommu-notify.h.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "system/address-spaces.h"
#include "system/dma.h"
#include "hw/iommu/viommu-notify.h"

unsigned viommu_notify_unmap(IOMMUMemoryRegion *mr, int iommu_idx,
                             uint64_t start, uint64_t size)
{
    uint64_t last = start + size - 1;
    unsigned sent = 0;

    if (!size) {
        return 0;
    }
    if (last < start) {
        last = UINT64_MAX;
    }
    for (;;) {
        uint64_t mask = dma_aligned_pow2_mask(start, last, 64);
        IOMMUTLBEvent event = {
            .type = IOMMU_NOTIFIER_UNMAP,
            .entry = {
                .target_as = &address_space_memory,
                .iova = start,
                .addr_mask = mask,
                .perm = IOMMU_NONE,
            },
        };

        memory_region_notify_iommu(mr, iommu_idx, event);
        sent++;
        if (last - start <= mask) {
            return sent;
        }
        start += mask + 1;
    }
}

void viommu_replay_map(IOMMUNotifier *n, uint64_t iova, hwaddr pa,
                       uint64_t size, IOMMUAccessFlags perm)
{
    uint64_t last = iova + size - 1;

    if (!size || !(n->notifier_flags & IOMMU_NOTIFIER_MAP)) {
        return;
    }
    if (last < iova) {
        last = UINT64_MAX;
    }
    if (n->start > last || n->end < iova) {
        return;
    }
    if (n->start > iova) {
        pa += n->start - iova;
        iova = n->start;
    }
    last = MIN(last, n->end);

    for (;;) {
        /* Aligned in the output too: the memory API ORs the offset in */
        uint64_t mask = MIN(dma_aligned_pow2_mask(iova, last, 64),
                            pa ? (pa & -pa) - 1 : UINT64_MAX);
        IOMMUTLBEvent event = {
            .type = IOMMU_NOTIFIER_MAP,
            .entry = {
                .target_as = &address_space_memory,
                .iova = iova,
                .translated_addr = pa,
                .addr_mask = mask,
                .perm = perm,
            },
        };

        memory_region_notify_iommu_one(n, &event);
        if (last - iova <= mask) {
            return;
        }
        iova += mask + 1;
        pa += mask + 1;
    }
}

void viommu_notify_map(IOMMUMemoryRegion *mr, int iommu_idx, uint64_t iova,
                       hwaddr pa, uint64_t size, IOMMUAccessFlags perm)
{
    IOMMUNotifier *n;

    IOMMU_NOTIFIER_FOREACH(n, mr) {
        if (n->iommu_idx == iommu_idx) {
            viommu_replay_map(n, iova, pa, size, perm);
        }
    }
}
