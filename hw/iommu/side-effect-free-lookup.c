/*
 * The iommu-side-effect-free-lookup marker interface; see
 * include/hw/iommu/side-effect-free-lookup.h.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/iommu/side-effect-free-lookup.h"

static const TypeInfo side_effect_free_lookup_types[] = {
    {
        .name = TYPE_IOMMU_SIDE_EFFECT_FREE_LOOKUP,
        .parent = TYPE_INTERFACE,
    },
};

DEFINE_TYPES(side_effect_free_lookup_types)
