/*
 * Arm SMMUv3: the device
 *
 * Registers, the per-PCI-function address spaces, reset and migration.
 * A stream that bypasses the SMMU (SMMUEN clear with GBPA bypass, or an
 * STE that says so) has its address space switched to system memory, so
 * that its DMA costs what it costs without an IOMMU.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/qdev-properties.h"
#include "hw/pci/pci_bus.h"
#include "hw/iommu/side-effect-free-lookup.h"
#include "migration/vmstate.h"
#include "system/address-spaces.h"
#include "smmuv3-internal.h"
#include "trace.h"

/* GBPA after reset: bypass, shareability from the incoming transaction */
#define SMMUV3_GBPA_RESET       0x00001000

/* ---- address spaces ---- */

typedef struct SMMUv3DeviceKey {
    PCIBus *bus;
    int devfn;
} SMMUv3DeviceKey;

static guint smmuv3_key_hash(gconstpointer v)
{
    const SMMUv3DeviceKey *k = v;

    return g_direct_hash(k->bus) ^ (guint)k->devfn;
}

static gboolean smmuv3_key_equal(gconstpointer a, gconstpointer b)
{
    const SMMUv3DeviceKey *ka = a, *kb = b;

    return ka->bus == kb->bus && ka->devfn == kb->devfn;
}

/* Whether a stream's DMA should skip the IOMMU region */
static bool smmuv3_device_bypasses(SMMUv3State *s, SMMUv3Device *sdev)
{
    if (!smmuv3_enabled(s)) {
        return !FIELD_EX32(s->gbpa, GBPA, ABORT);
    }
    return sdev->cfg_valid && sdev->cfg.kind == SMMUV3_STREAM_BYPASS;
}

void smmuv3_update_bypass(SMMUv3State *s)
{
    SMMUv3Device *sdev;

    memory_region_transaction_begin();
    QLIST_FOREACH(sdev, &s->devices, next) {
        bool bypass = smmuv3_device_bypasses(s, sdev);

        if (bypass != sdev->bypass.enabled) {
            trace_smmuv3_bypass(pci_bus_num(sdev->bus), sdev->devfn, bypass);
        }
        memory_region_set_enabled(&sdev->bypass, bypass);
        memory_region_set_enabled(MEMORY_REGION(&sdev->iommu), !bypass);
    }
    memory_region_transaction_commit();
}

static void smmuv3_bypass_bh(void *opaque)
{
    smmuv3_update_bypass(opaque);
}

static AddressSpace *smmuv3_get_address_space(PCIBus *bus, void *opaque,
                                              int devfn)
{
    SMMUv3State *s = opaque;
    SMMUv3DeviceKey key = { .bus = bus, .devfn = devfn };
    SMMUv3Device *sdev = g_hash_table_lookup(s->devices_by_bdf, &key);
    SMMUv3DeviceKey *new_key;
    g_autofree char *name = NULL;

    if (sdev) {
        return &sdev->as;
    }

    sdev = g_new0(SMMUv3Device, 1);
    sdev->smmu = s;
    sdev->bus = bus;
    sdev->devfn = devfn;
    name = g_strdup_printf("%s-%s-%02x.%x", TYPE_ARM_SMMUV3,
                           bus->qbus.name, PCI_SLOT(devfn), PCI_FUNC(devfn));

    memory_region_init(&sdev->root, OBJECT(s), name, UINT64_MAX);
    memory_region_init_iommu(&sdev->iommu, sizeof(sdev->iommu),
                             TYPE_SMMUV3_IOMMU_MEMORY_REGION, OBJECT(s),
                             name, UINT64_MAX);
    memory_region_init_alias(&sdev->bypass, OBJECT(s), name,
                             get_system_memory(), 0,
                             memory_region_size(get_system_memory()));
    memory_region_add_subregion_overlap(&sdev->root, 0,
                                        MEMORY_REGION(&sdev->iommu), 0);
    memory_region_add_subregion_overlap(&sdev->root, 0, &sdev->bypass, 1);
    address_space_init(&sdev->as, &sdev->root, name);

    new_key = g_new(SMMUv3DeviceKey, 1);
    *new_key = key;
    g_hash_table_insert(s->devices_by_bdf, new_key, sdev);
    QLIST_INSERT_HEAD(&s->devices, sdev, next);
    smmuv3_update_bypass(s);
    return &sdev->as;
}

static const PCIIOMMUOps smmuv3_iommu_ops = {
    .get_address_space = smmuv3_get_address_space,
};

/* ---- registers ---- */

static void smmuv3_build_idr(SMMUv3State *s, bool s1, bool s2)
{
    uint32_t idr0 = 0, idr1 = 0, idr3 = 0, idr5 = 0;

    idr0 = FIELD_DP32(idr0, IDR0, S1P, s1);
    idr0 = FIELD_DP32(idr0, IDR0, S2P, s2);
    idr0 = FIELD_DP32(idr0, IDR0, TTF, SMMU_IDR0_TTF_AARCH64);
    idr0 = FIELD_DP32(idr0, IDR0, COHACC, 1);
    idr0 = FIELD_DP32(idr0, IDR0, HYP, s1);
    idr0 = FIELD_DP32(idr0, IDR0, ASID16, 1);
    idr0 = FIELD_DP32(idr0, IDR0, MSI, 1);
    idr0 = FIELD_DP32(idr0, IDR0, SEV, 1);
    idr0 = FIELD_DP32(idr0, IDR0, VMID16, s2);
    idr0 = FIELD_DP32(idr0, IDR0, TTENDIAN, SMMU_IDR0_TTENDIAN_LE);
    idr0 = FIELD_DP32(idr0, IDR0, STALL_MODEL, SMMU_IDR0_STALL_NONE);
    idr0 = FIELD_DP32(idr0, IDR0, TERM_MODEL, 1);
    idr0 = FIELD_DP32(idr0, IDR0, ST_LEVEL, SMMU_IDR0_ST_LEVEL_2LVL);

    idr1 = FIELD_DP32(idr1, IDR1, SIDSIZE, SMMUV3_SIDSIZE);
    idr1 = FIELD_DP32(idr1, IDR1, EVENTQS, SMMUV3_EVENTQS);
    idr1 = FIELD_DP32(idr1, IDR1, CMDQS, SMMUV3_CMDQS);

    idr3 = FIELD_DP32(idr3, IDR3, RIL, s->ril);

    idr5 = FIELD_DP32(idr5, IDR5, OAS,
                      s->oas == 48 ? SMMU_OAS_48 : SMMU_OAS_44);
    idr5 = FIELD_DP32(idr5, IDR5, GRAN4K, 1);
    idr5 = FIELD_DP32(idr5, IDR5, GRAN16K, 1);
    idr5 = FIELD_DP32(idr5, IDR5, GRAN64K, 1);

    s->idr[0] = idr0;
    s->idr[1] = idr1;
    s->idr[2] = 0;
    s->idr[3] = idr3;
    s->idr[4] = 0;
    s->idr[5] = idr5;
}

/* CoreSight peripheral and component ID registers, 0xfd0 .. 0xffc */
static uint32_t smmuv3_id_reg(hwaddr offset)
{
    /* No part number or designer is claimed; the preamble is standard */
    static const uint8_t ids[] = {
        0x00, 0x00, 0x00, 0x00,     /* PIDR4 .. PIDR7 */
        0x00, 0x00, 0x00, 0x00,     /* PIDR0 .. PIDR3 */
        0x0d, 0xf0, 0x05, 0xb1,     /* CIDR0 .. CIDR3 */
    };

    return ids[(offset - A_PIDR4) / 4];
}

static uint64_t smmuv3_read64(SMMUv3State *s, hwaddr offset, bool *ok)
{
    switch (offset) {
    case A_GERROR_IRQ_CFG0:
        return s->gerror_msi.addr;
    case A_STRTAB_BASE:
        return s->strtab_base;
    case A_CMDQ_BASE:
        return s->cmdq.base;
    case A_EVENTQ_BASE:
        return s->eventq.base;
    case A_EVENTQ_IRQ_CFG0:
        return s->eventq_msi.addr;
    case A_PRIQ_BASE:
    case A_PRIQ_IRQ_CFG0:
        return 0;
    }
    *ok = false;
    return 0;
}

static uint32_t smmuv3_read32(SMMUv3State *s, hwaddr offset)
{
    bool ok = true;
    uint64_t v64;

    switch (offset) {
    case A_IDR0 ... A_IDR5:
        return s->idr[(offset - A_IDR0) / 4];
    case A_IIDR:
        return 0;
    case A_AIDR:
        return 0x2;     /* SMMUv3.2 */
    case A_CR0:
        return s->cr[0];
    case A_CR0ACK:
        return s->cr0ack;
    case A_CR1:
        return s->cr[1];
    case A_CR2:
        return s->cr[2];
    case A_STATUSR:
        return 0;
    case A_GBPA:
        return s->gbpa;
    case A_AGBPA:
        return 0;
    case A_IRQ_CTRL:
    case A_IRQ_CTRLACK:
        return s->irq_ctrl;
    case A_GERROR:
        return s->gerror;
    case A_GERRORN:
        return s->gerrorn;
    case A_GERROR_IRQ_CFG1:
        return s->gerror_msi.data;
    case A_GERROR_IRQ_CFG2:
        return s->gerror_msi.attr;
    case A_STRTAB_BASE_CFG:
        return s->strtab_base_cfg;
    case A_CMDQ_PROD:
        return s->cmdq.prod;
    case A_CMDQ_CONS:
        return s->cmdq.cons;
    case A_EVENTQ_IRQ_CFG1:
        return s->eventq_msi.data;
    case A_EVENTQ_IRQ_CFG2:
        return s->eventq_msi.attr;
    case A_EVENTQ_PROD:
        return s->eventq.prod;
    case A_EVENTQ_CONS:
        return s->eventq.cons;
    case A_PIDR4 ... A_CIDR3:
        return smmuv3_id_reg(offset);
    }
    /* The halves of a 64-bit register */
    v64 = smmuv3_read64(s, offset & ~7ull, &ok);
    return ok ? extract64(v64, (offset & 4) * 8, 32) : 0;
}

static MemTxResult smmuv3_read(void *opaque, hwaddr offset, uint64_t *data,
                               unsigned size, MemTxAttrs attrs)
{
    SMMUv3State *s = opaque;
    bool ok = true;

    if (offset & (size - 1)) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: unaligned read at 0x%"
                      HWADDR_PRIx "\n", offset);
        *data = 0;
        return MEMTX_OK;
    }
    if (size == 8) {
        *data = smmuv3_read64(s, offset, &ok);
        if (!ok) {
            /* Two 32-bit registers, or RES0 */
            *data = smmuv3_read32(s, offset) |
                    (uint64_t)smmuv3_read32(s, offset + 4) << 32;
        }
    } else {
        *data = smmuv3_read32(s, offset);
    }
    trace_smmuv3_read(offset, *data, size);
    return MEMTX_OK;
}

static bool smmuv3_reg_locked(SMMUv3State *s, hwaddr offset, uint32_t en,
                              const char *what)
{
    if (s->cr0ack & en) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: write to %s (0x%" HWADDR_PRIx
                      ") while it is in use ignored\n", what, offset);
        return true;
    }
    return false;
}

static void smmuv3_write_cr0(SMMUv3State *s, uint32_t val)
{
    uint32_t old = s->cr[0];
    uint32_t mask = R_CR0_SMMUEN_MASK | R_CR0_EVENTQEN_MASK |
                    R_CR0_CMDQEN_MASK;

    s->cr[0] = val & mask;
    s->cr0ack = s->cr[0];
    if ((old ^ s->cr[0]) & R_CR0_SMMUEN_MASK) {
        /* Nothing cached before survives a change of SMMUEN */
        smmuv3_flush_all(s);
        smmuv3_update_bypass(s);
    }
    if (!(old & R_CR0_CMDQEN_MASK) && (s->cr[0] & R_CR0_CMDQEN_MASK)) {
        smmuv3_cmdq_consume(s);
    }
}

/* A 64-bit register, or one half of it at @shift */
static bool smmuv3_write64(SMMUv3State *s, hwaddr offset, uint64_t val,
                           unsigned shift, unsigned len)
{
    switch (offset) {
    case A_GERROR_IRQ_CFG0:
        s->gerror_msi.addr = deposit64(s->gerror_msi.addr, shift, len, val) &
                             SMMU_MSI_ADDR_MASK;
        return true;
    case A_EVENTQ_IRQ_CFG0:
        s->eventq_msi.addr = deposit64(s->eventq_msi.addr, shift, len, val) &
                             SMMU_MSI_ADDR_MASK;
        return true;
    case A_STRTAB_BASE:
        if (!smmuv3_reg_locked(s, offset, R_CR0_SMMUEN_MASK, "STRTAB_BASE")) {
            s->strtab_base = deposit64(s->strtab_base, shift, len, val) &
                             (0x000fffffffffffc0ull | R_STRTAB_BASE_RA_MASK);
        }
        return true;
    case A_CMDQ_BASE:
        if (!smmuv3_reg_locked(s, offset, R_CR0_CMDQEN_MASK, "CMDQ_BASE")) {
            s->cmdq.base = deposit64(s->cmdq.base, shift, len, val) &
                           SMMU_Q_BASE_MASK;
        }
        return true;
    case A_EVENTQ_BASE:
        if (!smmuv3_reg_locked(s, offset, R_CR0_EVENTQEN_MASK,
                               "EVENTQ_BASE")) {
            s->eventq.base = deposit64(s->eventq.base, shift, len, val) &
                             SMMU_Q_BASE_MASK;
        }
        return true;
    case A_PRIQ_BASE:
    case A_PRIQ_IRQ_CFG0:
        /* No PRI queue: RES0 */
        return true;
    }
    return false;
}

static void smmuv3_write32(SMMUv3State *s, hwaddr offset, uint32_t val)
{
    unsigned cmdq_log2 = smmuv3_queue_log2size(s->cmdq.base, SMMUV3_CMDQS);
    unsigned evtq_log2 = smmuv3_queue_log2size(s->eventq.base,
                                               SMMUV3_EVENTQS);

    switch (offset) {
    case A_CR0:
        smmuv3_write_cr0(s, val);
        return;
    case A_CR1:
        s->cr[1] = val & 0xfff;
        return;
    case A_CR2:
        s->cr[2] = val & (R_CR2_E2H_MASK | R_CR2_RECINVSID_MASK |
                          R_CR2_PTM_MASK);
        return;
    case A_GBPA:
        /* Only a write with UPDATE set changes it, and at once */
        if (val & R_GBPA_UPDATE_MASK) {
            s->gbpa = val & ~R_GBPA_UPDATE_MASK & 0x003ff3ff;
            smmuv3_update_bypass(s);
        }
        return;
    case A_IRQ_CTRL:
        s->irq_ctrl = val & (R_IRQ_CTRL_GERROR_IRQEN_MASK |
                             R_IRQ_CTRL_EVENTQ_IRQEN_MASK);
        return;
    case A_GERRORN:
        smmuv3_gerrorn_write(s, val);
        return;
    case A_GERROR_IRQ_CFG1:
        s->gerror_msi.data = val;
        return;
    case A_GERROR_IRQ_CFG2:
        s->gerror_msi.attr = val & 0x3f;
        return;
    case A_STRTAB_BASE_CFG:
        if (!smmuv3_reg_locked(s, offset, R_CR0_SMMUEN_MASK,
                               "STRTAB_BASE_CFG")) {
            s->strtab_base_cfg = val & (R_STRTAB_BASE_CFG_LOG2SIZE_MASK |
                                        R_STRTAB_BASE_CFG_SPLIT_MASK |
                                        R_STRTAB_BASE_CFG_FMT_MASK);
        }
        return;
    case A_CMDQ_PROD:
        s->cmdq.prod = extract32(val, 0, cmdq_log2 + 1);
        smmuv3_cmdq_consume(s);
        return;
    case A_CMDQ_CONS:
        if (!smmuv3_reg_locked(s, offset, R_CR0_CMDQEN_MASK, "CMDQ_CONS")) {
            s->cmdq.cons = val & (R_CMDQ_CONS_ERR_MASK |
                                  MAKE_64BIT_MASK(0, cmdq_log2 + 1));
        }
        return;
    case A_EVENTQ_IRQ_CFG1:
        s->eventq_msi.data = val;
        return;
    case A_EVENTQ_IRQ_CFG2:
        s->eventq_msi.attr = val & 0x3f;
        return;
    case A_EVENTQ_PROD:
        if (!smmuv3_reg_locked(s, offset, R_CR0_EVENTQEN_MASK,
                               "EVENTQ_PROD")) {
            s->eventq.prod = val & (SMMU_Q_OVF |
                                    MAKE_64BIT_MASK(0, evtq_log2 + 1));
        }
        return;
    case A_EVENTQ_CONS:
        s->eventq.cons = val & (SMMU_Q_OVF |
                                MAKE_64BIT_MASK(0, evtq_log2 + 1));
        return;
    case A_PRIQ_IRQ_CFG1:
    case A_PRIQ_IRQ_CFG2:
    case A_PRIQ_PROD:
    case A_PRIQ_CONS:
        return;
    }
    if (smmuv3_write64(s, offset & ~7ull, val, (offset & 4) * 8, 32)) {
        return;
    }
    qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: write 0x%" PRIx32 " to "
                  "read-only or reserved offset 0x%" HWADDR_PRIx " ignored\n",
                  val, offset);
}

static MemTxResult smmuv3_write(void *opaque, hwaddr offset, uint64_t data,
                                unsigned size, MemTxAttrs attrs)
{
    SMMUv3State *s = opaque;

    trace_smmuv3_write(offset, data, size);
    if (offset & (size - 1)) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: unaligned write at 0x%"
                      HWADDR_PRIx " ignored\n", offset);
        return MEMTX_OK;
    }
    if (size == 8 && smmuv3_write64(s, offset, data, 0, 64)) {
        return MEMTX_OK;
    }
    if (size == 8) {
        smmuv3_write32(s, offset, data);
        smmuv3_write32(s, offset + 4, data >> 32);
    } else {
        smmuv3_write32(s, offset, data);
    }
    return MEMTX_OK;
}

static const MemoryRegionOps smmuv3_mmio_ops = {
    .read_with_attrs = smmuv3_read,
    .write_with_attrs = smmuv3_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 4,
    .valid.max_access_size = 8,
    .impl.min_access_size = 4,
    .impl.max_access_size = 8,
};

/* ---- lifecycle ---- */

static void smmuv3_cmdq_bh(void *opaque)
{
    smmuv3_cmdq_consume(opaque);
}

static void smmuv3_realize(DeviceState *dev, Error **errp)
{
    SMMUv3State *s = ARM_SMMUV3(dev);
    SysBusDevice *sbd = SYS_BUS_DEVICE(dev);
    bool s1 = true, s2 = false;

    if (!s->primary_bus) {
        error_setg(errp, "arm-smmuv3: the primary-bus property is not set");
        return;
    }
    if (!s->stage || !strcmp(s->stage, "1")) {
        s1 = true;
    } else if (!strcmp(s->stage, "2")) {
        s1 = false;
        s2 = true;
    } else if (!strcmp(s->stage, "nested")) {
        s2 = true;
    } else {
        error_setg(errp, "arm-smmuv3: stage '%s' is not one of 1, 2, nested",
                   s->stage);
        return;
    }
    if (s->oas != 44 && s->oas != 48) {
        error_setg(errp, "arm-smmuv3: oas=%u is not one of 44, 48", s->oas);
        return;
    }
    if (s->iotlb_entries < 16 || s->iotlb_entries > (1u << 22)) {
        error_setg(errp, "arm-smmuv3: iotlb-entries=%u is not between 16 "
                   "and 4194304", s->iotlb_entries);
        return;
    }
    if (pci_bus_bypass_iommu(s->primary_bus)) {
        error_setg(errp, "arm-smmuv3: bus %s bypasses IOMMUs",
                   s->primary_bus->qbus.name);
        return;
    }

    smmuv3_build_idr(s, s1, s2);
    memory_region_init_io(&s->mmio, OBJECT(s), &smmuv3_mmio_ops, s,
                          TYPE_ARM_SMMUV3, SMMUV3_MMIO_SIZE);
    sysbus_init_mmio(sbd, &s->mmio);
    for (int i = 0; i < SMMUV3_NR_IRQS; i++) {
        sysbus_init_irq(sbd, &s->irq[i]);
    }

    viommu_iotlb_init(&s->iotlb, s->iotlb_entries);
    QLIST_INIT(&s->devices);
    s->devices_by_bdf = g_hash_table_new_full(smmuv3_key_hash,
                                              smmuv3_key_equal, g_free,
                                              NULL);
    s->cmdq_bh = qemu_bh_new_guarded(smmuv3_cmdq_bh, s,
                                     &dev->mem_reentrancy_guard);
    s->bypass_bh = qemu_bh_new(smmuv3_bypass_bh, s);
    pci_setup_iommu(s->primary_bus, &smmuv3_iommu_ops, s);
}

static void smmuv3_reset_hold(Object *obj, ResetType type)
{
    SMMUv3State *s = ARM_SMMUV3(obj);

    memset(s->cr, 0, sizeof(s->cr));
    s->cr0ack = 0;
    s->gbpa = SMMUV3_GBPA_RESET;
    s->strtab_base = 0;
    s->strtab_base_cfg = 0;
    s->cmdq = (SMMUv3Queue) { 0 };
    s->eventq = (SMMUv3Queue) { 0 };
    s->gerror = 0;
    s->gerrorn = 0;
    s->irq_ctrl = 0;
    s->gerror_msi = (SMMUv3MsiCfg) { 0 };
    s->eventq_msi = (SMMUv3MsiCfg) { 0 };
    smmuv3_flush_all(s);
}

static void smmuv3_reset_exit(Object *obj, ResetType type)
{
    smmuv3_update_bypass(ARM_SMMUV3(obj));
}

static int smmuv3_post_load(void *opaque, int version_id)
{
    SMMUv3State *s = opaque;

    /* What a guest could not have written is not accepted from a stream */
    s->cr[0] &= R_CR0_SMMUEN_MASK | R_CR0_EVENTQEN_MASK | R_CR0_CMDQEN_MASK;
    s->cr0ack = s->cr[0];
    s->gerror &= 0x1fd;
    s->gerrorn &= 0x1fd;
    s->cmdq.base &= SMMU_Q_BASE_MASK;
    s->eventq.base &= SMMU_Q_BASE_MASK;
    smmuv3_flush_all(s);
    smmuv3_update_bypass(s);
    return 0;
}

static const VMStateDescription vmstate_smmuv3_queue = {
    .name = "arm-smmuv3/queue",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base, SMMUv3Queue),
        VMSTATE_UINT32(prod, SMMUv3Queue),
        VMSTATE_UINT32(cons, SMMUv3Queue),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_smmuv3_msi = {
    .name = "arm-smmuv3/msi",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(addr, SMMUv3MsiCfg),
        VMSTATE_UINT32(data, SMMUv3MsiCfg),
        VMSTATE_UINT32(attr, SMMUv3MsiCfg),
        VMSTATE_END_OF_LIST()
    },
};

/* The registers; the caches are rebuilt from guest memory after a load */
static const VMStateDescription vmstate_smmuv3 = {
    .name = TYPE_ARM_SMMUV3,
    .version_id = 1,
    .minimum_version_id = 1,
    .priority = MIG_PRI_IOMMU,
    .post_load = smmuv3_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32_ARRAY(cr, SMMUv3State, 3),
        VMSTATE_UINT32(gbpa, SMMUv3State),
        VMSTATE_UINT64(strtab_base, SMMUv3State),
        VMSTATE_UINT32(strtab_base_cfg, SMMUv3State),
        VMSTATE_STRUCT(cmdq, SMMUv3State, 1, vmstate_smmuv3_queue,
                       SMMUv3Queue),
        VMSTATE_STRUCT(eventq, SMMUv3State, 1, vmstate_smmuv3_queue,
                       SMMUv3Queue),
        VMSTATE_UINT32(gerror, SMMUv3State),
        VMSTATE_UINT32(gerrorn, SMMUv3State),
        VMSTATE_UINT32(irq_ctrl, SMMUv3State),
        VMSTATE_STRUCT(gerror_msi, SMMUv3State, 1, vmstate_smmuv3_msi,
                       SMMUv3MsiCfg),
        VMSTATE_STRUCT(eventq_msi, SMMUv3State, 1, vmstate_smmuv3_msi,
                       SMMUv3MsiCfg),
        VMSTATE_END_OF_LIST()
    },
};

static const Property smmuv3_properties[] = {
    DEFINE_PROP_LINK("primary-bus", SMMUv3State, primary_bus, TYPE_PCI_BUS,
                     PCIBus *),
    DEFINE_PROP_STRING("stage", SMMUv3State, stage),
    DEFINE_PROP_BOOL("smmu_per_bus", SMMUv3State, smmu_per_bus, false),
    /* Accepted for command lines of old; primary-bus names the bus */
    DEFINE_PROP_UINT8("bus_num", SMMUv3State, bus_num, 0),
    DEFINE_PROP_BOOL("ril", SMMUv3State, ril, true),
    DEFINE_PROP_UINT8("oas", SMMUv3State, oas, 44),
    DEFINE_PROP_UINT32("iotlb-entries", SMMUv3State, iotlb_entries,
                       SMMUV3_IOTLB_ENTRIES),
};

static void smmuv3_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    dc->realize = smmuv3_realize;
    dc->vmsd = &vmstate_smmuv3;
    dc->desc = "Arm SMMUv3 (System MMU, architecture version 3)";
    dc->user_creatable = true;
    rc->phases.hold = smmuv3_reset_hold;
    rc->phases.exit = smmuv3_reset_exit;
    device_class_set_props(dc, smmuv3_properties);
}

static const TypeInfo smmuv3_types[] = {
    {
        .name = TYPE_ARM_SMMUV3,
        .parent = TYPE_SYS_BUS_DEVICE,
        .instance_size = sizeof(SMMUv3State),
        .class_init = smmuv3_class_init,
    },
    {
        .name = TYPE_SMMUV3_IOMMU_MEMORY_REGION,
        .parent = TYPE_IOMMU_MEMORY_REGION,
        .class_init = smmuv3_iommu_memory_region_class_init,
        .interfaces = (const InterfaceInfo[]) {
            { TYPE_IOMMU_SIDE_EFFECT_FREE_LOOKUP },
            { },
        },
    },
};

DEFINE_TYPES(smmuv3_types)
