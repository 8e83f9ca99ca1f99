/*
 * Telling IOMMU notifiers what a vIOMMU model invalidated; see
 * include/hw/iommu/viommu-notify.h.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/host-utils.h"
#include "system/address-spaces.h"
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
        /* The largest block that starts here and does not pass @last */
        unsigned align = start ? ctz64(start) : 64;
        uint64_t left = last - start;   /* bytes after the first, < 2^64 */
        unsigned fits = left == UINT64_MAX ? 64 : 63 - clz64(left + 1);
        unsigned bits = MIN(align, fits);
        uint64_t mask = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
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
