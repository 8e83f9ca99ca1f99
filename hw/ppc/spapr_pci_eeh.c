/*
 * EEH for the PE of an emulated pSeries PHB
 *
 * On a real PHB, a DMA the IOMMU refuses freezes the device's partitionable
 * endpoint (PE): its MMIO loads return all ones, its stores and DMA are
 * dropped, until the OS notices (ibm,read-slot-reset-state2) and recovers
 * it (ibm,set-eeh-option to thaw MMIO then DMA, or ibm,set-slot-reset).
 * Upstream models this only for VFIO PHBs, by passing the calls to the
 * host.  Here an emulated PHB is one PE with the same behaviour, so that
 * guests' EEH recovery, and tests of it, run against the TCE model.
 *
 * The RTAS calls themselves stay in hw/ppc/spapr_pci.c; they come here
 * for their answer, which is VFIO's for a PHB whose container has EEH.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci-host/spapr.h"
#include "hw/ppc/spapr.h"
#include "migration/vmstate.h"
#include "trace.h"

static SpaprPhbState *eeh_phb(SpaprPhbEeh *eeh)
{
    return container_of(eeh, SpaprPhbState, eeh);
}

static bool eeh_mmio_stopped(uint32_t state)
{
    return state == RTAS_EEH_PE_STATE_STOPPED_IO_DMA ||
           state == RTAS_EEH_PE_STATE_RESET;
}

/* Make the fences match the state.  Needs the BQL. */
static void eeh_apply(SpaprPhbEeh *eeh)
{
    bool fence = eeh_mmio_stopped(qatomic_read(&eeh->state));

    memory_region_transaction_begin();
    memory_region_set_enabled(&eeh->mmio_fence, fence);
    memory_region_set_enabled(&eeh->io_fence, fence);
    memory_region_transaction_commit();
}

static void eeh_set_state(SpaprPhbEeh *eeh, uint32_t state)
{
    uint32_t old = qatomic_xchg(&eeh->state, state);

    if (old != state) {
        trace_spapr_pci_eeh_state(eeh_phb(eeh)->buid, old, state);
        eeh_apply(eeh);
    }
}

static void eeh_apply_bh(void *opaque)
{
    eeh_apply(opaque);
}

void spapr_phb_eeh_dma_fault(SpaprPhbEeh *eeh, uint32_t liobn, hwaddr addr,
                             bool is_write)
{
    uint32_t state = qatomic_read(&eeh->state);

    trace_spapr_pci_eeh_dma_fault(eeh_phb(eeh)->buid, liobn, addr, is_write,
                                  state);
    if (state != RTAS_EEH_PE_STATE_NORMAL) {
        return;                 /* stopped already: refused, not news */
    }
    qemu_log_mask(LOG_GUEST_ERROR, "spapr-pci %s: DMA %s bus address 0x%"
                  HWADDR_PRIx " refused (%s)%s\n", eeh_phb(eeh)->dtbusname,
                  is_write ? "write to" : "read from", addr,
                  liobn ? "no TCE with the permission" : "no window",
                  qatomic_read(&eeh->enabled) ? "; PE frozen" : "");
    if (!qatomic_read(&eeh->enabled) ||
        qatomic_cmpxchg(&eeh->state, RTAS_EEH_PE_STATE_NORMAL,
                        RTAS_EEH_PE_STATE_STOPPED_IO_DMA) !=
        RTAS_EEH_PE_STATE_NORMAL) {
        return;
    }
    trace_spapr_pci_eeh_state(eeh_phb(eeh)->buid, RTAS_EEH_PE_STATE_NORMAL,
                              RTAS_EEH_PE_STATE_STOPPED_IO_DMA);
    /*
     * DMA stops at once (the TCE lookup reads the state).  The MMIO fence
     * is a memory-map change: now if we hold the BQL, as a device's DMA
     * from an MMIO handler does, else from the main loop.
     */
    if (bql_locked()) {
        eeh_apply(eeh);
    } else {
        qemu_bh_schedule(eeh->apply_bh);
    }
}

/* ---- what a frozen PE, and a DMA outside every window, answer ---- */

static MemTxResult eeh_fence_read(void *opaque, hwaddr addr, uint64_t *data,
                                  unsigned size, MemTxAttrs attrs)
{
    *data = MAKE_64BIT_MASK(0, size * 8);
    return MEMTX_OK;
}

static MemTxResult eeh_fence_write(void *opaque, hwaddr addr, uint64_t data,
                                   unsigned size, MemTxAttrs attrs)
{
    return MEMTX_OK;
}

static const MemoryRegionOps eeh_fence_ops = {
    .read_with_attrs = eeh_fence_read,
    .write_with_attrs = eeh_fence_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
};

/*
 * DMA that no window takes.  Refusing it in .accepts, as the memory core
 * refuses unassigned addresses, keeps the result (MEMTX_DECODE_ERROR) and
 * address_space_access_valid()'s answer what they were without EEH.
 */
static bool eeh_unmapped_accepts(void *opaque, hwaddr addr, unsigned size,
                                 bool is_write, MemTxAttrs attrs)
{
    spapr_phb_eeh_dma_fault(opaque, 0, addr, is_write);
    return false;
}

static uint64_t eeh_unmapped_read(void *opaque, hwaddr addr, unsigned size)
{
    return 0;
}

static void eeh_unmapped_write(void *opaque, hwaddr addr, uint64_t data,
                               unsigned size)
{
}

static const MemoryRegionOps eeh_unmapped_ops = {
    .read = eeh_unmapped_read,
    .write = eeh_unmapped_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.accepts = eeh_unmapped_accepts,
};

void spapr_phb_eeh_realize(SpaprPhbState *sphb)
{
    SpaprPhbEeh *eeh = &sphb->eeh;

    eeh->state = RTAS_EEH_PE_STATE_NORMAL;
    if (!eeh->emulated) {
        return;
    }
    /* Above every BAR (the PCI core maps BARs at priority 1) */
    memory_region_init_io(&eeh->mmio_fence, OBJECT(sphb), &eeh_fence_ops,
                          eeh, "spapr-pci-eeh-mmio-fence", UINT64_MAX);
    memory_region_set_enabled(&eeh->mmio_fence, false);
    memory_region_add_subregion_overlap(&sphb->memspace, 0, &eeh->mmio_fence,
                                        INT_MAX);
    memory_region_init_io(&eeh->io_fence, OBJECT(sphb), &eeh_fence_ops,
                          eeh, "spapr-pci-eeh-io-fence",
                          memory_region_size(&sphb->iospace));
    memory_region_set_enabled(&eeh->io_fence, false);
    memory_region_add_subregion_overlap(&sphb->iospace, 0, &eeh->io_fence,
                                        INT_MAX);
    eeh->apply_bh = qemu_bh_new(eeh_apply_bh, eeh);
    /* Below the windows and the MSI window: DMA no window takes */
    memory_region_init_io(&eeh->dma_unmapped, OBJECT(sphb), &eeh_unmapped_ops,
                          eeh, "spapr-pci-dma-unmapped", UINT64_MAX);
    memory_region_add_subregion_overlap(&sphb->iommu_root, 0,
                                        &eeh->dma_unmapped, -1);
    eeh->realized = true;
}

void spapr_phb_eeh_unrealize(SpaprPhbState *sphb)
{
    SpaprPhbEeh *eeh = &sphb->eeh;

    /* Also after a realize that failed before it came here */
    if (!eeh->realized) {
        return;
    }
    memory_region_del_subregion(&sphb->memspace, &eeh->mmio_fence);
    memory_region_del_subregion(&sphb->iospace, &eeh->io_fence);
    memory_region_del_subregion(&sphb->iommu_root, &eeh->dma_unmapped);
    qemu_bh_delete(eeh->apply_bh);
    eeh->apply_bh = NULL;
    eeh->realized = false;
}

void spapr_phb_eeh_machine_reset(SpaprPhbState *sphb)
{
    SpaprPhbEeh *eeh = &sphb->eeh;

    eeh->enabled = false;
    if (eeh->emulated) {
        eeh_set_state(eeh, RTAS_EEH_PE_STATE_NORMAL);
    }
}

/* ---- the RTAS calls' answers ---- */

bool spapr_phb_eeh_capable(SpaprPhbState *sphb)
{
    return spapr_phb_eeh_available(sphb) || sphb->eeh.emulated;
}

static void eeh_bus_has_device(PCIBus *bus, PCIDevice *pdev, void *opaque)
{
    *(bool *)opaque = true;
}

int spapr_phb_eeh_set_option(SpaprPhbState *sphb, unsigned int addr,
                             int option)
{
    SpaprPhbEeh *eeh = &sphb->eeh;
    uint32_t state = qatomic_read(&eeh->state);
    bool found = false;
    int ret = RTAS_OUT_SUCCESS;

    if (spapr_phb_eeh_available(sphb)) {
        return spapr_phb_vfio_eeh_set_option(sphb, addr, option);
    }

    switch (option) {
    case RTAS_EEH_ENABLE:
        /*
         * A device's config address or the PE's address: either names a
         * bus of the PHB with a device on it.
         */
        pci_for_each_device(PCI_HOST_BRIDGE(sphb)->bus, (addr >> 16) & 0xff,
                            eeh_bus_has_device, &found);
        if (!found) {
            ret = RTAS_OUT_PARAM_ERROR;
            break;
        }
        eeh->enabled = true;
        break;
    case RTAS_EEH_DISABLE:
        eeh->enabled = false;
        eeh_set_state(eeh, RTAS_EEH_PE_STATE_NORMAL);
        break;
    case RTAS_EEH_THAW_IO:
        if (state == RTAS_EEH_PE_STATE_RESET) {
            ret = RTAS_OUT_HW_ERROR;
        } else if (state == RTAS_EEH_PE_STATE_STOPPED_IO_DMA) {
            eeh_set_state(eeh, RTAS_EEH_PE_STATE_STOPPED_DMA);
        }
        break;
    case RTAS_EEH_THAW_DMA:
        /* MMIO first: a PE with DMA on and MMIO stopped has no state */
        if (state == RTAS_EEH_PE_STATE_RESET ||
            state == RTAS_EEH_PE_STATE_STOPPED_IO_DMA) {
            ret = RTAS_OUT_HW_ERROR;
        } else {
            eeh_set_state(eeh, RTAS_EEH_PE_STATE_NORMAL);
        }
        break;
    default:
        ret = RTAS_OUT_PARAM_ERROR;
        break;
    }
    trace_spapr_pci_eeh_option(sphb->buid, addr, option, ret);
    if (ret != RTAS_OUT_SUCCESS) {
        qemu_log_mask(LOG_GUEST_ERROR, "ibm,set-eeh-option: option %d on "
                      "0x%x of PHB 0x%" PRIx64 " in state %u refused\n",
                      option, addr, sphb->buid, state);
    }
    return ret;
}

int spapr_phb_eeh_get_state(SpaprPhbState *sphb, int *state)
{
    if (spapr_phb_eeh_available(sphb)) {
        return spapr_phb_vfio_eeh_get_state(sphb, state);
    }
    *state = qatomic_read(&sphb->eeh.state);
    return RTAS_OUT_SUCCESS;
}

int spapr_phb_eeh_reset(SpaprPhbState *sphb, int option)
{
    SpaprPhbEeh *eeh = &sphb->eeh;

    if (spapr_phb_eeh_available(sphb)) {
        return spapr_phb_vfio_eeh_reset(sphb, option);
    }
    switch (option) {
    case RTAS_SLOT_RESET_HOT:
    case RTAS_SLOT_RESET_FUNDAMENTAL:
        /* Assert reset: the PE's devices lose their state now */
        eeh_set_state(eeh, RTAS_EEH_PE_STATE_RESET);
        bus_cold_reset(BUS(PCI_HOST_BRIDGE(sphb)->bus));
        return RTAS_OUT_SUCCESS;
    case RTAS_SLOT_RESET_DEACTIVATE:
        /* A PE out of reset runs, frozen or not before */
        eeh_set_state(eeh, RTAS_EEH_PE_STATE_NORMAL);
        return RTAS_OUT_SUCCESS;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "ibm,set-slot-reset: no option %d\n",
                      option);
        return RTAS_OUT_PARAM_ERROR;
    }
}

int spapr_phb_eeh_configure(SpaprPhbState *sphb)
{
    if (spapr_phb_eeh_available(sphb)) {
        return spapr_phb_vfio_eeh_configure(sphb);
    }
    /* Bridges of an emulated PE keep their configuration across reset */
    return RTAS_OUT_SUCCESS;
}

/* ---- migration ---- */

static bool eeh_needed(void *opaque)
{
    SpaprPhbState *sphb = opaque;

    return sphb->eeh.enabled ||
           sphb->eeh.state != RTAS_EEH_PE_STATE_NORMAL;
}

static int eeh_post_load(void *opaque, int version_id)
{
    SpaprPhbState *sphb = opaque;
    SpaprPhbEeh *eeh = &sphb->eeh;

    switch (eeh->state) {
    case RTAS_EEH_PE_STATE_NORMAL:
    case RTAS_EEH_PE_STATE_RESET:
    case RTAS_EEH_PE_STATE_STOPPED_IO_DMA:
    case RTAS_EEH_PE_STATE_STOPPED_DMA:
        break;
    default:
        return -EINVAL;
    }
    if (!eeh->emulated) {
        return eeh->state == RTAS_EEH_PE_STATE_NORMAL ? 0 : -EINVAL;
    }
    eeh_apply(eeh);
    return 0;
}

const VMStateDescription vmstate_spapr_phb_eeh = {
    .name = "spapr_pci/eeh",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = eeh_needed,
    .post_load = eeh_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(eeh.enabled, SpaprPhbState),
        VMSTATE_UINT32(eeh.state, SpaprPhbState),
        VMSTATE_END_OF_LIST()
    },
};
