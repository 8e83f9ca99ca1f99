/*
 * x-viommu-identity: the cheapest IOMMU there can be, for benchmarks
 *
 * It puts an IOMMU memory region in front of a PCI bus whose translate()
 * returns every address as it came, 4 KiB at a time, with read and write
 * permission.  DMA through it costs what QEMU's memory API costs for any
 * IOMMU region, and nothing more: the floor against which make bench
 * measures the vIOMMU models' translation paths.  It is not an IOMMU a
 * guest could use (it has no registers), hence the x- prefix.
 *
 * Usage: -device x-viommu-identity,primary-bus=pcie.0, before the devices
 * of that bus.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bus.h"
#include "hw/qdev-properties.h"
#include "system/address-spaces.h"
#include "system/memory.h"

#define TYPE_VIOMMU_IDENTITY            "x-viommu-identity"
#define TYPE_VIOMMU_IDENTITY_IOMMU_MR   "x-viommu-identity-iommu-memory-region"

OBJECT_DECLARE_SIMPLE_TYPE(ViommuIdentityState, VIOMMU_IDENTITY)

typedef struct ViommuIdentitySpace {
    IOMMUMemoryRegion iommu;
    AddressSpace as;
} ViommuIdentitySpace;

struct ViommuIdentityState {
    DeviceState parent_obj;

    PCIBus *primary_bus;
    /* One address space per bus and devfn, as PCI wants */
    GHashTable *spaces;
};

static IOMMUTLBEntry viommu_identity_translate(IOMMUMemoryRegion *mr,
                                               hwaddr addr,
                                               IOMMUAccessFlags flag,
                                               int idx)
{
    return (IOMMUTLBEntry) {
        .target_as = &address_space_memory,
        .iova = addr & ~0xfffull,
        .translated_addr = addr & ~0xfffull,
        .addr_mask = 0xfff,
        .perm = IOMMU_RW,
    };
}

static AddressSpace *viommu_identity_get_address_space(PCIBus *bus,
                                                       void *opaque,
                                                       int devfn)
{
    ViommuIdentityState *s = opaque;
    char *key = g_strdup_printf("%p/%d", bus, devfn);
    ViommuIdentitySpace *sp = g_hash_table_lookup(s->spaces, key);
    g_autofree char *name = NULL;

    if (sp) {
        g_free(key);
    } else {
        sp = g_new0(ViommuIdentitySpace, 1);
        name = g_strdup_printf("%s-%02x.%x", TYPE_VIOMMU_IDENTITY,
                               PCI_SLOT(devfn), PCI_FUNC(devfn));
        memory_region_init_iommu(&sp->iommu, sizeof(sp->iommu),
                                 TYPE_VIOMMU_IDENTITY_IOMMU_MR, OBJECT(s),
                                 name, UINT64_MAX);
        address_space_init(&sp->as, MEMORY_REGION(&sp->iommu), name);
        g_hash_table_insert(s->spaces, key, sp);
    }
    return &sp->as;
}

static const PCIIOMMUOps viommu_identity_ops = {
    .get_address_space = viommu_identity_get_address_space,
};

static void viommu_identity_realize(DeviceState *dev, Error **errp)
{
    ViommuIdentityState *s = VIOMMU_IDENTITY(dev);

    if (!s->primary_bus) {
        error_setg(errp, "%s needs primary-bus", TYPE_VIOMMU_IDENTITY);
        return;
    }
    s->spaces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    pci_setup_iommu(s->primary_bus, &viommu_identity_ops, s);
}

static const Property viommu_identity_properties[] = {
    DEFINE_PROP_LINK("primary-bus", ViommuIdentityState, primary_bus,
                     TYPE_PCI_BUS, PCIBus *),
};

static void viommu_identity_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);

    dc->realize = viommu_identity_realize;
    dc->desc = "identity IOMMU, the floor of IOMMU benchmarks";
    dc->user_creatable = true;
    device_class_set_props(dc, viommu_identity_properties);
}

static void viommu_identity_mr_class_init(ObjectClass *klass,
                                          const void *data)
{
    IOMMU_MEMORY_REGION_CLASS(klass)->translate = viommu_identity_translate;
}

static const TypeInfo viommu_identity_types[] = {
    {
        .name = TYPE_VIOMMU_IDENTITY,
        .parent = TYPE_DEVICE,
        .instance_size = sizeof(ViommuIdentityState),
        .class_init = viommu_identity_class_init,
    },
    {
        .name = TYPE_VIOMMU_IDENTITY_IOMMU_MR,
        .parent = TYPE_IOMMU_MEMORY_REGION,
        .class_init = viommu_identity_mr_class_init,
    },
};

DEFINE_TYPES(viommu_identity_types)
