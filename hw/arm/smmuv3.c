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
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/qdev-properties.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_host.h"
#include "hw/iommu/side-effect-free-lookup.h"
#include "migration/vmstate.h"
#include "system/address-spaces.h"
#include "system/runstate.h"
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
    /*
     * Bypass reaches what the output address size does; above it the
     * IOMMU region answers, and aborts
     */
    memory_region_init_alias(&sdev->bypass, OBJECT(s), name,
                             get_system_memory(), 0, 1ull << s->oas);
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
    /*
     * EL2 StreamWorlds: RES0 unless both stages are there.  HYP and MSI
     * are the fork's: upstream's SMMUv3 has neither, and a guest that saw
     * them could not move to it (see vmstate_smmuv3)
     */
    idr0 = FIELD_DP32(idr0, IDR0, HYP, s->hyp && s1 && s2);
    idr0 = FIELD_DP32(idr0, IDR0, ASID16, 1);
    idr0 = FIELD_DP32(idr0, IDR0, MSI, s->msi);
    idr0 = FIELD_DP32(idr0, IDR0, VMID16, s2);
    idr0 = FIELD_DP32(idr0, IDR0, TTENDIAN, SMMU_IDR0_TTENDIAN_LE);
    idr0 = FIELD_DP32(idr0, IDR0, STALL_MODEL, SMMU_IDR0_STALL_NONE);
    idr0 = FIELD_DP32(idr0, IDR0, TERM_MODEL, 1);
    idr0 = FIELD_DP32(idr0, IDR0, ST_LEVEL, SMMU_IDR0_ST_LEVEL_2LVL);

    idr1 = FIELD_DP32(idr1, IDR1, SIDSIZE, SMMUV3_SIDSIZE);
    idr1 = FIELD_DP32(idr1, IDR1, EVENTQS, SMMUV3_EVENTQS);
    idr1 = FIELD_DP32(idr1, IDR1, CMDQS, SMMUV3_CMDQS);
    /* STE.PRIVCFG and STE.INSTCFG are honoured when this says so */
    idr1 = FIELD_DP32(idr1, IDR1, ATTR_PERMS_OVR, s->attr_perms_ovr);

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
    case A_CR0ACK:
        /* Every change of CR0 takes effect at once */
        return s->cr[0];
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
    qemu_mutex_lock(&s->mutex);
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
    qemu_mutex_unlock(&s->mutex);
    trace_smmuv3_read(offset, *data, size);
    return MEMTX_OK;
}

/* What a register write leaves to do once the mutex is released */
enum {
    AFTER_FLUSH = 1 << 0,       /* SMMUEN changed: caches, bypass */
    AFTER_BYPASS = 1 << 1,      /* GBPA changed */
    AFTER_CMDQ = 1 << 2,        /* the command queue may run */
};

/* The pending interrupts IRQ_CTRL lets be */
static uint32_t smmuv3_irq_enabled(SMMUv3State *s)
{
    return (FIELD_EX32(s->irq_ctrl, IRQ_CTRL, EVENTQ_IRQEN) ?
            SMMUV3_PENDING_EVENTQ : 0) |
           (FIELD_EX32(s->irq_ctrl, IRQ_CTRL, GERROR_IRQEN) ?
            SMMUV3_PENDING_GERROR : 0);
}

/* CR2's writable fields: E2H only with IDR0.HYP, PTM only with BTM (0) */
static uint32_t smmuv3_cr2_mask(SMMUv3State *s)
{
    return R_CR2_RECINVSID_MASK |
           (FIELD_EX32(s->idr[0], IDR0, HYP) ? R_CR2_E2H_MASK : 0);
}

static bool smmuv3_reg_locked(SMMUv3State *s, hwaddr offset, uint32_t en,
                              const char *what)
{
    if (s->cr[0] & en) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: write to %s (0x%" HWADDR_PRIx
                      ") while it is in use ignored\n", what, offset);
        return true;
    }
    return false;
}

/* An interrupt's *_IRQ_CFG0/1/2 are read-only while it is enabled */
static bool smmuv3_irq_cfg_locked(SMMUv3State *s, hwaddr offset,
                                  uint32_t irqen)
{
    if (s->irq_ctrl & irqen) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: write to 0x%" HWADDR_PRIx
                      " while its interrupt is enabled ignored\n", offset);
        return true;
    }
    return false;
}

static unsigned smmuv3_write_cr0(SMMUv3State *s, uint32_t val)
{
    uint32_t old = s->cr[0];
    unsigned after = 0;

    smmuv3_change_begin(s);
    s->cr[0] = val & (R_CR0_SMMUEN_MASK | R_CR0_EVENTQEN_MASK |
                      R_CR0_CMDQEN_MASK);
    smmuv3_change_end(s);
    if ((old ^ s->cr[0]) & R_CR0_SMMUEN_MASK) {
        /* Nothing cached before survives a change of SMMUEN */
        after |= AFTER_FLUSH;
    }
    if (!(old & R_CR0_CMDQEN_MASK) && (s->cr[0] & R_CR0_CMDQEN_MASK)) {
        after |= AFTER_CMDQ;
    }
    return after;
}

/* A 64-bit register, or one half of it at @shift */
static bool smmuv3_write64(SMMUv3State *s, hwaddr offset, uint64_t val,
                           unsigned shift, unsigned len)
{
    switch (offset) {
    case A_GERROR_IRQ_CFG0:
        if (!smmuv3_irq_cfg_locked(s, offset, R_IRQ_CTRL_GERROR_IRQEN_MASK)) {
            s->gerror_msi.addr = deposit64(s->gerror_msi.addr, shift, len,
                                           val) & SMMU_MSI_ADDR_MASK;
        }
        return true;
    case A_EVENTQ_IRQ_CFG0:
        if (!smmuv3_irq_cfg_locked(s, offset, R_IRQ_CTRL_EVENTQ_IRQEN_MASK)) {
            s->eventq_msi.addr = deposit64(s->eventq_msi.addr, shift, len,
                                           val) & SMMU_MSI_ADDR_MASK;
        }
        return true;
    case A_STRTAB_BASE:
        if (!smmuv3_reg_locked(s, offset, R_CR0_SMMUEN_MASK, "STRTAB_BASE")) {
            s->strtab_base = deposit64(s->strtab_base, shift, len, val) &
                             (R_STRTAB_BASE_ADDR_MASK |
                              R_STRTAB_BASE_RA_MASK);
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

static unsigned smmuv3_write32(SMMUv3State *s, hwaddr offset, uint32_t val)
{
    unsigned cmdq_log2 = smmuv3_queue_log2size(s->cmdq.base, SMMUV3_CMDQS);
    unsigned evtq_log2 = smmuv3_queue_log2size(s->eventq.base,
                                               SMMUV3_EVENTQS);
    uint32_t was_active;

    switch (offset) {
    case A_CR0:
        return smmuv3_write_cr0(s, val);
    case A_CR1:
        s->cr[1] = val & SMMU_CR1_MASK;
        return 0;
    case A_CR2:
        if (!smmuv3_reg_locked(s, offset, R_CR0_SMMUEN_MASK, "CR2")) {
            s->cr[2] = val & smmuv3_cr2_mask(s);
        }
        return 0;
    case A_GBPA:
        /* Only a write with UPDATE set changes it, and at once */
        if (!FIELD_EX32(val, GBPA, UPDATE)) {
            return 0;
        }
        s->gbpa = val & SMMU_GBPA_MASK;
        return AFTER_BYPASS;
    case A_IRQ_CTRL:
        /*
         * Interrupts raised before a source was disabled are signalled
         * first (smmuv3_write() saw to it); none is raised for what
         * happened before it was enabled
         */
        s->irq_ctrl = val & (R_IRQ_CTRL_GERROR_IRQEN_MASK |
                             R_IRQ_CTRL_EVENTQ_IRQEN_MASK);
        s->irq_pending &= smmuv3_irq_enabled(s);
        return 0;
    case A_GERRORN:
        was_active = s->gerror ^ s->gerrorn;
        s->gerrorn = val & SMMU_GERROR_MASK;
        trace_smmuv3_gerror(s->gerror, s->gerrorn);
        if ((was_active & R_GERROR_CMDQ_ERR_MASK) &&
            !((s->gerror ^ s->gerrorn) & R_GERROR_CMDQ_ERR_MASK)) {
            return AFTER_CMDQ;
        }
        return 0;
    case A_GERROR_IRQ_CFG1:
        if (!smmuv3_irq_cfg_locked(s, offset, R_IRQ_CTRL_GERROR_IRQEN_MASK)) {
            s->gerror_msi.data = val;
        }
        return 0;
    case A_GERROR_IRQ_CFG2:
        if (!smmuv3_irq_cfg_locked(s, offset, R_IRQ_CTRL_GERROR_IRQEN_MASK)) {
            s->gerror_msi.attr = val & SMMU_MSI_ATTR_MASK;
        }
        return 0;
    case A_STRTAB_BASE_CFG:
        if (!smmuv3_reg_locked(s, offset, R_CR0_SMMUEN_MASK,
                               "STRTAB_BASE_CFG")) {
            s->strtab_base_cfg = val & (R_STRTAB_BASE_CFG_LOG2SIZE_MASK |
                                        R_STRTAB_BASE_CFG_SPLIT_MASK |
                                        R_STRTAB_BASE_CFG_FMT_MASK);
        }
        return 0;
    case A_CMDQ_PROD:
        s->cmdq.prod = smmuv3_q_ptr(val, cmdq_log2);
        return AFTER_CMDQ;
    case A_CMDQ_CONS:
        if (!smmuv3_reg_locked(s, offset, R_CR0_CMDQEN_MASK, "CMDQ_CONS")) {
            s->cmdq.cons = (val & R_CMDQ_CONS_ERR_MASK) |
                           smmuv3_q_ptr(val, cmdq_log2);
        }
        return 0;
    case A_EVENTQ_IRQ_CFG1:
        if (!smmuv3_irq_cfg_locked(s, offset, R_IRQ_CTRL_EVENTQ_IRQEN_MASK)) {
            s->eventq_msi.data = val;
        }
        return 0;
    case A_EVENTQ_IRQ_CFG2:
        if (!smmuv3_irq_cfg_locked(s, offset, R_IRQ_CTRL_EVENTQ_IRQEN_MASK)) {
            s->eventq_msi.attr = val & SMMU_MSI_ATTR_MASK;
        }
        return 0;
    case A_EVENTQ_PROD:
        if (!smmuv3_reg_locked(s, offset, R_CR0_EVENTQEN_MASK,
                               "EVENTQ_PROD")) {
            s->eventq.prod = (val & SMMU_Q_OVF) | smmuv3_q_ptr(val, evtq_log2);
        }
        return 0;
    case A_EVENTQ_CONS:
        s->eventq.cons = (val & SMMU_Q_OVF) | smmuv3_q_ptr(val, evtq_log2);
        return 0;
    case A_PRIQ_IRQ_CFG1:
    case A_PRIQ_IRQ_CFG2:
    case A_PRIQ_PROD:
    case A_PRIQ_CONS:
        return 0;
    }
    if (smmuv3_write64(s, offset & ~7ull, val, (offset & 4) * 8, 32)) {
        return 0;
    }
    qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: write 0x%" PRIx32 " to "
                  "read-only or reserved offset 0x%" HWADDR_PRIx " ignored\n",
                  val, offset);
    return 0;
}

static MemTxResult smmuv3_write(void *opaque, hwaddr offset, uint64_t data,
                                unsigned size, MemTxAttrs attrs)
{
    SMMUv3State *s = opaque;
    unsigned after = 0;

    trace_smmuv3_write(offset, data, size);
    if (offset & (size - 1)) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: unaligned write at 0x%"
                      HWADDR_PRIx " ignored\n", offset);
        return MEMTX_OK;
    }
    if (offset == A_IRQ_CTRL) {
        /* Disabling completes once earlier interrupts are out */
        smmuv3_irq_flush(s);
    }
    qemu_mutex_lock(&s->mutex);
    if (size == 8 && smmuv3_write64(s, offset, data, 0, 64)) {
        /* done */
    } else if (size == 8) {
        after = smmuv3_write32(s, offset, data);
        after |= smmuv3_write32(s, offset + 4, data >> 32);
    } else {
        after = smmuv3_write32(s, offset, data);
    }
    qemu_mutex_unlock(&s->mutex);

    if (after & AFTER_FLUSH) {
        smmuv3_flush_all(s);
    }
    if (after & (AFTER_FLUSH | AFTER_BYPASS)) {
        smmuv3_update_bypass(s);
    }
    if (after & AFTER_CMDQ) {
        smmuv3_cmdq_consume(s);
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

/*
 * Like upstream's model: the primary bus is a PCIe root bus, the machine's
 * own or a pxb-pcie's
 */
static bool smmuv3_bus_usable(PCIBus *bus)
{
    if (!pci_bus_is_express(bus) || !pci_bus_is_root(bus) ||
        !object_dynamic_cast(OBJECT(bus)->parent, TYPE_PCI_HOST_BRIDGE)) {
        return false;
    }
    /* An extra root bus must be a pxb-pcie's, not a pxb-cxl's */
    return !bus->parent_dev ||
           object_dynamic_cast(OBJECT(bus), TYPE_PXB_PCIE_BUS);
}

/* The memory map changed: RAM pages may have gone, forget them all */
static void smmuv3_ram_changed(MemoryListener *listener)
{
    SMMUv3State *s = container_of(listener, SMMUv3State, ram_listener);

    qemu_mutex_lock(&s->mutex);
    smmuv3_ram_cache_reset(&s->ram_cache);
    qemu_mutex_unlock(&s->mutex);
}

/* Queue work and interrupts wait while the VM is stopped */
static void smmuv3_vm_state_change(void *opaque, bool running,
                                   RunState state)
{
    SMMUv3State *s = opaque;

    if (running) {
        qemu_bh_schedule(s->cmdq_bh);
        qemu_bh_schedule(s->irq_bh);
    }
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
    if (!smmuv3_bus_usable(s->primary_bus)) {
        error_setg(errp, "arm-smmuv3: primary-bus %s is not the default PCIe "
                   "root bus (pcie.0) nor a pxb-pcie's",
                   s->primary_bus->qbus.name);
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

    qemu_mutex_init(&s->mutex);
    seqlock_init(&s->seqlock);
    viommu_iotlb_init(&s->iotlb, s->iotlb_entries, SMMUV3_CTX_GROUP_MASK);
    smmuv3_ram_cache_reset(&s->ram_cache);
    s->ram_listener = (MemoryListener) {
        .name = "arm-smmuv3-ram",
        .commit = smmuv3_ram_changed,
    };
    memory_listener_register(&s->ram_listener, &address_space_memory);
    QLIST_INIT(&s->devices);
    s->devices_by_bdf = g_hash_table_new_full(smmuv3_key_hash,
                                              smmuv3_key_equal, g_free,
                                              NULL);
    s->cmdq_bh = qemu_bh_new_guarded(smmuv3_cmdq_bh, s,
                                     &dev->mem_reentrancy_guard);
    s->irq_bh = qemu_bh_new_guarded(smmuv3_irq_bh, s,
                                    &dev->mem_reentrancy_guard);
    s->bypass_bh = qemu_bh_new(smmuv3_bypass_bh, s);
    s->vmstate_change = qemu_add_vm_change_state_handler(
        smmuv3_vm_state_change, s);
    /*
     * One SMMU per PCIe root bus (machines set smmu_per_bus for the SMMUs
     * users create): the bus's pxb-pcie neighbours are not behind it
     */
    if (s->smmu_per_bus) {
        pci_setup_iommu_per_bus(s->primary_bus, &smmuv3_iommu_ops, s);
    } else {
        pci_setup_iommu(s->primary_bus, &smmuv3_iommu_ops, s);
    }
}

static void smmuv3_reset_hold(Object *obj, ResetType type)
{
    SMMUv3State *s = ARM_SMMUV3(obj);

    qemu_mutex_lock(&s->mutex);
    smmuv3_change_begin(s);
    memset(s->cr, 0, sizeof(s->cr));
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
    s->irq_pending = 0;
    smmuv3_change_end(s);
    qemu_mutex_unlock(&s->mutex);
    smmuv3_flush_all(s);
}

static void smmuv3_reset_exit(Object *obj, ResetType type)
{
    smmuv3_update_bypass(ARM_SMMUV3(obj));
}

static int smmuv3_pre_load(void *opaque)
{
    SMMUv3State *s = opaque;

    s->stream_idr_present = false;
    return 0;
}

/*
 * The fields of upstream's section that this model keeps elsewhere, as
 * upstream's SMMUv3 would have them for the same registers
 */
static int smmuv3_pre_save(void *opaque)
{
    SMMUv3State *s = opaque;
    bool two_level = FIELD_EX32(s->strtab_base_cfg, STRTAB_BASE_CFG, FMT) ==
                     SMMU_STRTAB_FMT_2LVL;

    s->mig_features = two_level ? SMMUV3_MIG_FEATURE_2LVL_STE : 0;
    s->mig_sid_size = 0;        /* upstream never sets it, nor reads it */
    s->mig_sid_split = two_level ?
        FIELD_EX32(s->strtab_base_cfg, STRTAB_BASE_CFG, SPLIT) : 0;
    s->mig_cr0ack = s->cr[0];
    s->mig_statusr = 0;
    s->cmdq.mig_log2size = smmuv3_queue_log2size(s->cmdq.base, SMMUV3_CMDQS);
    s->eventq.mig_log2size = smmuv3_queue_log2size(s->eventq.base,
                                                   SMMUV3_EVENTQS);
    return 0;
}

/*
 * The first property that makes the ID registers other than upstream's
 * (which has none of them but "stage"), or NULL; "hyp" does only with
 * both stages
 */
static const char *smmuv3_fork_idr_property(SMMUv3State *s)
{
    if (FIELD_EX32(s->idr[0], IDR0, MSI)) {
        return "msi";
    }
    if (FIELD_EX32(s->idr[0], IDR0, HYP)) {
        return "hyp";
    }
    if (FIELD_EX32(s->idr[1], IDR1, ATTR_PERMS_OVR)) {
        return "attr-perms-ovr";
    }
    if (!s->ril) {
        return "ril";
    }
    return s->oas != 44 ? "oas" : NULL;
}

/*
 * Whether the properties that set the ID registers are all as upstream's
 * SMMUv3 has them (it has none of them but ``stage``): a stream without
 * "smmuv3/fork-idr" comes from such an SMMU, upstream's or ours
 */
static bool smmuv3_upstream_idr(SMMUv3State *s)
{
    return !smmuv3_fork_idr_property(s);
}

/* The property a difference in the ID registers comes from */
static const char *smmuv3_idr_property(const uint32_t *a, const uint32_t *b)
{
    if ((a[0] ^ b[0]) & (R_IDR0_S1P_MASK | R_IDR0_S2P_MASK)) {
        return "stage";
    }
    if ((a[0] ^ b[0]) & R_IDR0_HYP_MASK) {
        return "hyp";
    }
    if ((a[0] ^ b[0]) & R_IDR0_MSI_MASK) {
        return "msi";
    }
    if ((a[1] ^ b[1]) & R_IDR1_ATTR_PERMS_OVR_MASK) {
        return "attr-perms-ovr";
    }
    if ((a[5] ^ b[5]) & R_IDR5_OAS_MASK) {
        return "oas";
    }
    if ((a[3] ^ b[3]) & R_IDR3_RIL_MASK) {
        return "ril";
    }
    return NULL;
}

/*
 * What upstream's SMMUv3 could not have sent: a stream is input from
 * elsewhere, and trusting these would index the queues and the stream
 * table past what the guest set up
 */
static bool smmuv3_stream_sane(SMMUv3State *s)
{
    if (s->mig_features & ~SMMUV3_MIG_FEATURE_2LVL_STE) {
        error_report("arm-smmuv3: the migration stream has unknown features "
                     "0x%x", s->mig_features);
        return false;
    }
    if (s->cmdq.mig_log2size > SMMUV3_CMDQS ||
        s->eventq.mig_log2size > SMMUV3_EVENTQS) {
        error_report("arm-smmuv3: the migration stream has a queue of 2^%u "
                     "entries, above IDR1's limit of 2^%u",
                     MAX(s->cmdq.mig_log2size, s->eventq.mig_log2size),
                     SMMUV3_CMDQS);
        return false;
    }
    return true;
}

/*
 * A stream is input from elsewhere: what a guest could not have written
 * is not accepted from it either, and one made for an SMMU that differs
 * in what the guest saw of it is refused.  The queue sizes and the
 * stream table's format come from the registers, as they do when the
 * guest writes them; cr0ack and statusr of upstream's stream are what
 * CR0 and 0 are here, and its sid_size is always 0.
 */
static int smmuv3_post_load(void *opaque, int version_id)
{
    SMMUv3State *s = opaque;
    unsigned cmdq_log2, evtq_log2;

    if (!smmuv3_stream_sane(s)) {
        return -EINVAL;
    }
    if (s->stream_idr_present &&
        memcmp(s->stream_idr, s->idr, sizeof(s->idr))) {
        const char *prop = smmuv3_idr_property(s->stream_idr, s->idr);

        error_report("arm-smmuv3: the migration stream is of an SMMU with "
                     "other ID registers%s%s%s", prop ? " (property " : "",
                     prop ?: "", prop ? " differs)" : "");
        return -EINVAL;
    }
    if (!s->stream_idr_present && !smmuv3_upstream_idr(s)) {
        error_report("arm-smmuv3: the migration stream is of an SMMU with "
                     "upstream QEMU's ID registers, this one differs "
                     "(property %s)", smmuv3_fork_idr_property(s));
        return -EINVAL;
    }

    qemu_mutex_lock(&s->mutex);
    smmuv3_change_begin(s);
    s->cr[0] &= R_CR0_SMMUEN_MASK | R_CR0_EVENTQEN_MASK | R_CR0_CMDQEN_MASK;
    s->cr[1] &= SMMU_CR1_MASK;
    s->cr[2] &= smmuv3_cr2_mask(s);
    s->gbpa &= SMMU_GBPA_MASK;
    s->strtab_base &= R_STRTAB_BASE_ADDR_MASK | R_STRTAB_BASE_RA_MASK;
    s->strtab_base_cfg &= R_STRTAB_BASE_CFG_LOG2SIZE_MASK |
                          R_STRTAB_BASE_CFG_SPLIT_MASK |
                          R_STRTAB_BASE_CFG_FMT_MASK;
    s->cmdq.base &= SMMU_Q_BASE_MASK;
    s->eventq.base &= SMMU_Q_BASE_MASK;
    cmdq_log2 = smmuv3_queue_log2size(s->cmdq.base, SMMUV3_CMDQS);
    evtq_log2 = smmuv3_queue_log2size(s->eventq.base, SMMUV3_EVENTQS);
    s->cmdq.prod = smmuv3_q_ptr(s->cmdq.prod, cmdq_log2);
    s->cmdq.cons = (s->cmdq.cons & R_CMDQ_CONS_ERR_MASK) |
                   smmuv3_q_ptr(s->cmdq.cons, cmdq_log2);
    s->eventq.prod = (s->eventq.prod & SMMU_Q_OVF) |
                     smmuv3_q_ptr(s->eventq.prod, evtq_log2);
    s->eventq.cons = (s->eventq.cons & SMMU_Q_OVF) |
                     smmuv3_q_ptr(s->eventq.cons, evtq_log2);
    s->gerror &= SMMU_GERROR_RAISED_MASK;
    s->gerrorn &= SMMU_GERROR_MASK;
    s->irq_ctrl &= R_IRQ_CTRL_GERROR_IRQEN_MASK |
                   R_IRQ_CTRL_EVENTQ_IRQEN_MASK;
    s->gerror_msi.addr &= SMMU_MSI_ADDR_MASK;
    s->gerror_msi.attr &= SMMU_MSI_ATTR_MASK;
    s->eventq_msi.addr &= SMMU_MSI_ADDR_MASK;
    s->eventq_msi.attr &= SMMU_MSI_ATTR_MASK;
    s->irq_pending &= smmuv3_irq_enabled(s);
    smmuv3_change_end(s);
    qemu_mutex_unlock(&s->mutex);

    /* The caches start empty; queue work waits for the VM to run */
    smmuv3_flush_all(s);
    smmuv3_update_bypass(s);
    return 0;
}

/*
 * The wire format is upstream QEMU's "smmuv3" section, version 1: the
 * same fields in the same order and sizes, and its subsection for GBPA,
 * so that a guest moves between upstream and the fork in both directions
 * (docs/system/devices/arm-smmuv3.rst, "Migration").  What only the fork
 * has goes in subsections sent only when the guest's state needs them;
 * upstream refuses such a stream by the subsection it does not know.
 */
static const VMStateDescription vmstate_smmuv3_queue = {
    .name = "smmuv3_queue",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base, SMMUv3Queue),
        VMSTATE_UINT32(prod, SMMUv3Queue),
        VMSTATE_UINT32(cons, SMMUv3Queue),
        VMSTATE_UINT8(mig_log2size, SMMUv3Queue),
        VMSTATE_END_OF_LIST()
    },
};

static bool smmuv3_gbpa_needed(void *opaque)
{
    SMMUv3State *s = opaque;

    return s->gbpa != SMMUV3_GBPA_RESET;
}

static const VMStateDescription vmstate_smmuv3_gbpa = {
    .name = "smmuv3/gbpa",
    .needed = smmuv3_gbpa_needed,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        /* Only when the guest changed it from its reset value */
        VMSTATE_UINT32(gbpa, SMMUv3State),
        VMSTATE_END_OF_LIST()
    },
};

/*
 * Only when the guest saw ID registers upstream's SMMUv3 never shows
 * (see smmuv3_upstream_idr())
 */
static bool smmuv3_idr_needed(void *opaque)
{
    return !smmuv3_upstream_idr(opaque);
}

static int smmuv3_idr_post_load(void *opaque, int version_id)
{
    SMMUv3State *s = opaque;

    s->stream_idr_present = true;
    return 0;
}

static int smmuv3_idr_pre_save(void *opaque)
{
    SMMUv3State *s = opaque;

    memcpy(s->stream_idr, s->idr, sizeof(s->idr));
    return 0;
}

/* The ID registers the guest saw, which the destination must match */
static const VMStateDescription vmstate_smmuv3_idr = {
    .name = "smmuv3/fork-idr",
    .needed = smmuv3_idr_needed,
    .pre_save = smmuv3_idr_pre_save,
    .post_load = smmuv3_idr_post_load,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32_ARRAY(stream_idr, SMMUv3State, 6),
        VMSTATE_END_OF_LIST()
    },
};

static bool smmuv3_irq_pending_needed(void *opaque)
{
    SMMUv3State *s = opaque;

    return s->irq_pending;
}

/* Interrupts recorded while the VM was stopping, not yet signalled */
static const VMStateDescription vmstate_smmuv3_irq_pending = {
    .name = "smmuv3/fork-irq-pending",
    .needed = smmuv3_irq_pending_needed,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(irq_pending, SMMUv3State),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_smmuv3 = {
    .name = "smmuv3",
    /* Before the devices whose DMA it translates */
    .priority = MIG_PRI_IOMMU,
    .pre_save = smmuv3_pre_save,
    .pre_load = smmuv3_pre_load,
    .post_load = smmuv3_post_load,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(mig_features, SMMUv3State),
        VMSTATE_UINT8(mig_sid_size, SMMUv3State),
        VMSTATE_UINT8(mig_sid_split, SMMUv3State),
        VMSTATE_UINT32_ARRAY(cr, SMMUv3State, 3),
        VMSTATE_UINT32(mig_cr0ack, SMMUv3State),
        VMSTATE_UINT32(mig_statusr, SMMUv3State),
        VMSTATE_UINT32(irq_ctrl, SMMUv3State),
        VMSTATE_UINT32(gerror, SMMUv3State),
        VMSTATE_UINT32(gerrorn, SMMUv3State),
        VMSTATE_UINT64(gerror_msi.addr, SMMUv3State),
        VMSTATE_UINT32(gerror_msi.data, SMMUv3State),
        VMSTATE_UINT32(gerror_msi.attr, SMMUv3State),
        VMSTATE_UINT64(strtab_base, SMMUv3State),
        VMSTATE_UINT32(strtab_base_cfg, SMMUv3State),
        VMSTATE_UINT64(eventq_msi.addr, SMMUv3State),
        VMSTATE_UINT32(eventq_msi.data, SMMUv3State),
        VMSTATE_UINT32(eventq_msi.attr, SMMUv3State),
        VMSTATE_STRUCT(cmdq, SMMUv3State, 0, vmstate_smmuv3_queue,
                       SMMUv3Queue),
        VMSTATE_STRUCT(eventq, SMMUv3State, 0, vmstate_smmuv3_queue,
                       SMMUv3Queue),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_smmuv3_gbpa,
        &vmstate_smmuv3_idr,
        &vmstate_smmuv3_irq_pending,
        NULL
    },
};

static const Property smmuv3_properties[] = {
    DEFINE_PROP_LINK("primary-bus", SMMUv3State, primary_bus, TYPE_PCI_BUS,
                     PCIBus *),
    DEFINE_PROP_STRING("stage", SMMUv3State, stage),
    DEFINE_PROP_BOOL("smmu_per_bus", SMMUv3State, smmu_per_bus, false),
    /* Upstream's, which it ignores too: primary-bus names the bus */
    DEFINE_PROP_UINT8("bus_num", SMMUv3State, bus_num, 0),
    DEFINE_PROP_BOOL("ril", SMMUv3State, ril, true),
    DEFINE_PROP_UINT8("oas", SMMUv3State, oas, 44),
    DEFINE_PROP_UINT32("iotlb-entries", SMMUv3State, iotlb_entries,
                       SMMUV3_IOTLB_ENTRIES),
    /*
     * What upstream's SMMUv3 does not have, off by default on every
     * machine type, since all are upstream's too: a guest that saw them
     * could not move to upstream QEMU
     */
    DEFINE_PROP_BOOL("msi", SMMUv3State, msi, false),
    DEFINE_PROP_BOOL("hyp", SMMUv3State, hyp, false),
    DEFINE_PROP_BOOL("attr-perms-ovr", SMMUv3State, attr_perms_ovr, false),
};

/*
 * x-cmdq-longest-run-ns and x-cmdq-longest-run-wall-ns: the longest the
 * command queue ran in one MMIO write or bottom half, with the BQL held,
 * in CPU time of the thread and on the wall clock; a write of any value
 * sets both back to 0.  For make bench, which shows that no run grows
 * past a slice, whatever the queue holds.
 */
static void smmuv3_get_longest_run(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    SMMUv3State *s = ARM_SMMUV3(obj);

    visit_type_uint64(v, name, &s->cmdq_longest_run[!!opaque], errp);
}

static void smmuv3_set_longest_run(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    SMMUv3State *s = ARM_SMMUV3(obj);
    uint64_t value;

    if (visit_type_uint64(v, name, &value, errp)) {
        s->cmdq_longest_run[0] = s->cmdq_longest_run[1] = 0;
    }
}

static void smmuv3_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    object_class_property_add(klass, "x-cmdq-longest-run-ns", "uint64",
                              smmuv3_get_longest_run, smmuv3_set_longest_run,
                              NULL, NULL);
    object_class_property_add(klass, "x-cmdq-longest-run-wall-ns", "uint64",
                              smmuv3_get_longest_run, smmuv3_set_longest_run,
                              NULL, (void *)1);

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
