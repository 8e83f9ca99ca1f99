/*
 * EEH for the PE of an emulated pSeries PHB
 *
 * On a real PHB, an error between the PHB and a partitionable endpoint
 * (PE) -- a DMA the IOMMU refuses, a load or store no device claims, an
 * error injected to test recovery -- stops the PE: its MMIO loads and
 * configuration reads return all ones, its stores are dropped, its DMA
 * and MSIs are blocked, until the OS notices (ibm,read-slot-reset-state2)
 * and recovers it (ibm,set-eeh-option to thaw MMIO then DMA, or
 * ibm,set-slot-reset and ibm,configure-pe).  Upstream models this only
 * for VFIO PHBs, by passing the calls to the host.  Here an emulated PHB
 * with "eeh=on" is one PE that behaves as LoPAR's "Enhanced I/O Error
 * Handling" and "Error Injection" options say, so that a guest's own EEH
 * recovery, and tests of it, run against the TCE model.  EEH is off by
 * default: then the PHB answers the EEH calls as upstream does.
 *
 * The RTAS calls stay in hw/ppc/spapr_pci.c; for such a PHB they come
 * here for their answer.  ibm,open-errinjct, ibm,errinjct and
 * ibm,close-errinjct are here, registered once a PHB models EEH.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_bridge.h"
#include "hw/pci/pci_host.h"
#include "hw/pci-host/spapr.h"
#include "hw/ppc/spapr.h"
#include "migration/vmstate.h"
#include "migration/qemu-file-types.h"
#include "system/address-spaces.h"
#include "system/reset.h"
#include "trace.h"
#include <libfdt.h>

/* LoPAR statuses that include/hw/ppc/spapr.h has no name for */
#define RTAS_OUT_UNEXPECTED_STATE   (-7)    /* EEH: the state rules it out */
#define RTAS_OUT_ERRINJCT_CALL      (-4)    /* errinjct: not the opener */

/* LoPAR error log, fixed part: version 6; initiators and targets; types */
#define EEH_LOG_VERSION         6
#define EEH_LOG_SEV_ERROR       (4 << 5)
#define EEH_LOG_NOT_RECOVERED   (2 << 3)
#define EEH_LOG_CPU             1
#define EEH_LOG_PCI             2
#define EEH_LOG_MEMORY          4
#define EEH_LOG_TCE_ERR         2
#define EEH_LOG_TIMEOUT         4
#define EEH_LOG_DATA_PARITY     5
#define EEH_LOG_ADDR_PARITY     6
#define EEH_LOG_ADDR_INVALID    8
#define EEH_LOG_BYTES           8

/*
 * ibm,errinjct: the two error classes modelled, with their tokens in
 * "ibm,errinjct-tokens", and the functions of their work buffer (LoPAR
 * "ioa-bus-error Sixth Word and ioa-bus-error-64 Eighth Word Values")
 */
#define ERRINJCT_IOA_BUS_ERROR      7
#define ERRINJCT_IOA_BUS_ERROR_64   8
#define ERRINJCT_BUF_ALIGN          1024
#define INJ_LOAD_MEM_ADDR           0   /* then data, for each space... */
#define INJ_STORE_MEM_ADDR          6
#define INJ_DMA_READ_ADDR           12
#define INJ_DMA_WRITE_ADDR          16
#define INJ_MAX                     19
#define INJ_DISABLE                 20
#define INJ_QUERY                   21
#define INJ_NONE                    UINT32_MAX

typedef enum {
    INJ_SPACE_MEM, INJ_SPACE_IO, INJ_SPACE_CONFIG, INJ_SPACE_DMA,
} InjSpace;

static SpaprPhbState *eeh_phb(SpaprPhbEeh *eeh)
{
    return container_of(eeh, SpaprPhbState, eeh);
}

static PCIBus *eeh_bus(SpaprPhbEeh *eeh)
{
    return PCI_HOST_BRIDGE(eeh_phb(eeh))->bus;
}

static bool eeh_mmio_stopped(uint32_t state)
{
    return state == RTAS_EEH_PE_STATE_STOPPED_IO_DMA ||
           state == RTAS_EEH_PE_STATE_RESET ||
           state == RTAS_EEH_PE_STATE_UNAVAIL;
}

/* ---- injections ---- */

static InjSpace inj_space(uint32_t func)
{
    static const InjSpace space[] = {
        INJ_SPACE_MEM, INJ_SPACE_MEM, INJ_SPACE_IO, INJ_SPACE_IO,
        INJ_SPACE_CONFIG, INJ_SPACE_CONFIG,
    };

    return func >= INJ_DMA_READ_ADDR ? INJ_SPACE_DMA : space[func % 6];
}

/* A store (INJ_SPACE_*), or a DMA write */
static bool inj_write(uint32_t func)
{
    return func >= INJ_DMA_WRITE_ADDR ||
           (func >= INJ_STORE_MEM_ADDR && func < INJ_DMA_READ_ADDR);
}

/* The error log that an injected error leaves */
static SpaprEehError inj_error(uint32_t func, uint64_t addr)
{
    static const uint8_t dma_type[] = {
        EEH_LOG_ADDR_PARITY, EEH_LOG_DATA_PARITY, EEH_LOG_TIMEOUT,
        EEH_LOG_ADDR_INVALID,
    };
    bool dma = func >= INJ_DMA_READ_ADDR;

    return (SpaprEehError) {
        .type = dma ? dma_type[(func - INJ_DMA_READ_ADDR) % 4] :
                func % 2 ? EEH_LOG_DATA_PARITY : EEH_LOG_ADDR_PARITY,
        .initiator = dma ? EEH_LOG_PCI : EEH_LOG_CPU,
        .target = dma ? EEH_LOG_MEMORY : EEH_LOG_PCI,
        .addr = addr,
    };
}

static bool inj_matches(SpaprPhbEeh *eeh, uint64_t addr)
{
    return (addr & eeh->inject_mask) ==
           (eeh->inject_addr & eeh->inject_mask);
}

static void eeh_traps_set(SpaprPhbEeh *eeh, bool on, bool io)
{
    int i;

    memory_region_transaction_begin();
    for (i = 0; i < ARRAY_SIZE(eeh->trap); i++) {
        if (eeh->trap[i].eeh) {
            memory_region_set_enabled(&eeh->trap[i].mr,
                                      on && eeh->trap[i].io == io);
        }
    }
    memory_region_transaction_commit();
}

/* No injection waits any more.  BQL held. */
static void eeh_disarm(SpaprPhbEeh *eeh)
{
    qatomic_set(&eeh->dma_inject, 0);
    eeh->inject_func = INJ_NONE;
    eeh_traps_set(eeh, false, false);
}

/* ---- the PE's state ---- */

/* Make the fences match the state.  Needs the BQL. */
static void eeh_apply(SpaprPhbEeh *eeh)
{
    bool fence = eeh_mmio_stopped(qatomic_read(&eeh->state));

    /* A DMA injection that fired is gone */
    if (eeh->inject_func != INJ_NONE &&
        inj_space(eeh->inject_func) == INJ_SPACE_DMA &&
        !qatomic_read(&eeh->dma_inject)) {
        eeh->inject_func = INJ_NONE;
    }

    memory_region_transaction_begin();
    memory_region_set_enabled(&eeh->mmio_fence, fence);
    memory_region_set_enabled(&eeh->io_fence, fence);
    memory_region_transaction_commit();
}

static void eeh_set_state(SpaprPhbEeh *eeh, uint32_t state)
{
    uint32_t old;

    /* Before a DMA thread may freeze the PE again and record why */
    if (state == RTAS_EEH_PE_STATE_NORMAL) {
        eeh->error = (SpaprEehError) { 0 };
    }
    old = qatomic_xchg(&eeh->state, state);
    if (old != state) {
        trace_spapr_pci_eeh_state(eeh_phb(eeh)->buid, old, state);
        eeh_apply(eeh);
    }
}

static void eeh_apply_bh(void *opaque)
{
    eeh_apply(opaque);
}

/*
 * An error between the PHB and the PE: freeze the PE, if the guest
 * enabled EEH and it runs, and record @err for ibm,slot-error-detail.
 * Safe outside the BQL.  True if this froze the PE.
 */
static bool eeh_freeze(SpaprPhbEeh *eeh, SpaprEehError err)
{
    if (!qatomic_read(&eeh->enabled) ||
        qatomic_cmpxchg(&eeh->state, RTAS_EEH_PE_STATE_NORMAL,
                        RTAS_EEH_PE_STATE_STOPPED_IO_DMA) !=
        RTAS_EEH_PE_STATE_NORMAL) {
        return false;
    }
    qatomic_set(&eeh->error.type, err.type);
    qatomic_set(&eeh->error.initiator, err.initiator);
    qatomic_set(&eeh->error.target, err.target);
    qatomic_set(&eeh->error.addr, err.addr);
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
    return true;
}

/*
 * A DMA of the PE: through a window (LIOBN @liobn) or through none, and
 * refused by the TCE or by the lack of one (@refused).  True when the PE
 * drops it.
 */
static bool eeh_dma(SpaprPhbEeh *eeh, hwaddr addr, bool is_write,
                    bool refused, bool in_window, uint32_t liobn)
{
    uint32_t state = qatomic_read(&eeh->state);

    trace_spapr_pci_eeh_dma(eeh_phb(eeh)->buid, liobn, addr, is_write,
                            refused, state);
    if (state != RTAS_EEH_PE_STATE_NORMAL) {
        return true;            /* stopped: dropped, and not news */
    }
    if (qatomic_read(&eeh->dma_inject)) {
        smp_rmb();              /* pairs with the arming: values, flag */
        if (inj_write(eeh->inject_func) == is_write &&
            inj_matches(eeh, addr) &&
            qatomic_cmpxchg(&eeh->dma_inject, 1, 0) == 1) {
            qemu_log_mask(LOG_GUEST_ERROR, "spapr-pci %s: injected error "
                          "%u on the DMA %s bus address 0x%" HWADDR_PRIx
                          "\n", eeh_phb(eeh)->dtbusname, eeh->inject_func,
                          is_write ? "write to" : "read from", addr);
            eeh_freeze(eeh, inj_error(eeh->inject_func, addr));
            return true;
        }
    }
    if (refused) {
        qemu_log_mask(LOG_GUEST_ERROR, "spapr-pci %s: DMA %s bus address 0x%"
                      HWADDR_PRIx " refused (%s)%s\n",
                      eeh_phb(eeh)->dtbusname,
                      is_write ? "write to" : "read from", addr,
                      in_window ? "no TCE with the permission" : "no window",
                      qatomic_read(&eeh->enabled) ? "; PE frozen" : "");
        eeh_freeze(eeh, (SpaprEehError) {
            .type = in_window ? EEH_LOG_TCE_ERR : EEH_LOG_ADDR_INVALID,
            .initiator = EEH_LOG_PCI, .target = EEH_LOG_MEMORY,
            .addr = addr,
        });
    }
    return false;
}

bool spapr_phb_eeh_dma_stop(SpaprPhbEeh *eeh, uint32_t liobn, hwaddr addr,
                            bool is_write, bool refused)
{
    return eeh_dma(eeh, addr, is_write, refused, true, liobn);
}

/* ---- what the PE's regions answer ---- */

/* A stopped PE: all ones, stores dropped (a PCI master abort) */
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
 * A load or store that no BAR claims ends in an unsupported request,
 * which freezes a PE with EEH enabled (Linux's eeh_dev_break makes one
 * on purpose).  Without EEH it stays what it was: a decode error.
 */
static bool eeh_unclaimed_accepts(void *opaque, hwaddr addr, unsigned size,
                                  bool is_write, MemTxAttrs attrs)
{
    SpaprPhbEeh *eeh = opaque;

    return qatomic_read(&eeh->enabled);
}

static MemTxResult eeh_unclaimed_write(void *opaque, hwaddr addr,
                                       uint64_t data, unsigned size,
                                       MemTxAttrs attrs)
{
    SpaprPhbEeh *eeh = opaque;
    SpaprEehError err = {
        .type = EEH_LOG_ADDR_INVALID, .initiator = EEH_LOG_CPU,
        .target = EEH_LOG_PCI, .addr = addr,
    };

    if (eeh_freeze(eeh, err)) {
        qemu_log_mask(LOG_GUEST_ERROR, "spapr-pci %s: no device claims bus "
                      "address 0x%" HWADDR_PRIx "; PE frozen\n",
                      eeh_phb(eeh)->dtbusname, addr);
    }
    return MEMTX_OK;
}

static MemTxResult eeh_unclaimed_read(void *opaque, hwaddr addr,
                                      uint64_t *data, unsigned size,
                                      MemTxAttrs attrs)
{
    eeh_unclaimed_write(opaque, addr, 0, size, attrs);
    return eeh_fence_read(opaque, addr, data, size, attrs);
}

static const MemoryRegionOps eeh_unclaimed_ops = {
    .read_with_attrs = eeh_unclaimed_read,
    .write_with_attrs = eeh_unclaimed_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
        .accepts = eeh_unclaimed_accepts,
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
    eeh_dma(opaque, addr, is_write, true, false, 0);
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

/* LoPAR: the DMA Stopped state blocks MSIs, which are DMA writes */
static MemTxResult eeh_msi_read(void *opaque, hwaddr addr, uint64_t *data,
                                unsigned size, MemTxAttrs attrs)
{
    SpaprPhbState *sphb = opaque;

    return memory_region_dispatch_read(&sphb->msiwindow, addr, data,
                                       size_memop(size) | MO_LE, attrs);
}

static MemTxResult eeh_msi_write(void *opaque, hwaddr addr, uint64_t data,
                                 unsigned size, MemTxAttrs attrs)
{
    SpaprPhbState *sphb = opaque;

    if (qatomic_read(&sphb->eeh.state) != RTAS_EEH_PE_STATE_NORMAL) {
        trace_spapr_pci_eeh_msi_dropped(sphb->buid, data);
        return MEMTX_OK;
    }
    return memory_region_dispatch_write(&sphb->msiwindow, addr, data,
                                        size_memop(size) | MO_LE, attrs);
}

static const MemoryRegionOps eeh_msi_ops = {
    .read_with_attrs = eeh_msi_read,
    .write_with_attrs = eeh_msi_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
};

/*
 * A CPU access through one of the PHB's windows while a load or store
 * injection waits: the one it is armed for gets the error, the others go
 * on to the PHB's space as if the trap were not there.
 */
static bool eeh_trap_fires(SpaprEehTrap *t, hwaddr addr, bool is_write)
{
    SpaprPhbEeh *eeh = t->eeh;
    uint64_t pci = t->pci_base + addr;
    uint32_t func = eeh->inject_func;

    if (func == INJ_NONE ||
        inj_space(func) != (t->io ? INJ_SPACE_IO : INJ_SPACE_MEM) ||
        inj_write(func) != is_write || !inj_matches(eeh, pci)) {
        return false;
    }
    qemu_log_mask(LOG_GUEST_ERROR, "spapr-pci %s: injected error %u on the "
                  "%s %s bus address 0x%" PRIx64 "\n",
                  eeh_phb(eeh)->dtbusname, func, is_write ? "store to" :
                  "load from", t->io ? "I/O" : "memory", pci);
    eeh_disarm(eeh);
    eeh_freeze(eeh, inj_error(func, pci));
    return true;
}

static MemTxResult eeh_trap_read(void *opaque, hwaddr addr, uint64_t *data,
                                 unsigned size, MemTxAttrs attrs)
{
    SpaprEehTrap *t = opaque;
    uint8_t buf[8];
    MemTxResult r;

    if (eeh_trap_fires(t, addr, false)) {
        return eeh_fence_read(opaque, addr, data, size, attrs);
    }
    r = address_space_read(t->io ? &t->eeh->io_as : &t->eeh->mem_as,
                           t->pci_base + addr, attrs, buf, size);
    *data = ldn_le_p(buf, size);
    return r;
}

static MemTxResult eeh_trap_write(void *opaque, hwaddr addr, uint64_t data,
                                  unsigned size, MemTxAttrs attrs)
{
    SpaprEehTrap *t = opaque;
    uint8_t buf[8];

    if (eeh_trap_fires(t, addr, true)) {
        return MEMTX_OK;
    }
    stn_le_p(buf, size, data);
    return address_space_write(t->io ? &t->eeh->io_as : &t->eeh->mem_as,
                               t->pci_base + addr, attrs, buf, size);
}

static const MemoryRegionOps eeh_trap_ops = {
    .read_with_attrs = eeh_trap_read,
    .write_with_attrs = eeh_trap_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = {
        .min_access_size = 1,
        .max_access_size = 8,
    },
};

static void eeh_trap_init(SpaprPhbEeh *eeh, int i, const char *name,
                          hwaddr cpu_base, uint64_t pci_base, uint64_t size,
                          bool io)
{
    SpaprEehTrap *t = &eeh->trap[i];

    t->eeh = eeh;
    t->pci_base = pci_base;
    t->io = io;
    memory_region_init_io(&t->mr, OBJECT(eeh_phb(eeh)), &eeh_trap_ops, t,
                          name, size);
    /* It passes accesses on, maybe to another region of the PHB's */
    t->mr.disable_reentrancy_guard = true;
    memory_region_set_enabled(&t->mr, false);
    memory_region_add_subregion_overlap(get_system_memory(), cpu_base,
                                        &t->mr, 1);
}

/* ---- the PHB's lifecycle ---- */

static void errinjct_register(void);

void spapr_phb_eeh_realize(SpaprPhbState *sphb)
{
    SpaprPhbEeh *eeh = &sphb->eeh;

    eeh->state = RTAS_EEH_PE_STATE_NORMAL;
    eeh->inject_func = INJ_NONE;
    if (!eeh->emulated) {
        return;
    }
    errinjct_register();
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
    /* Below every BAR and bridge window */
    memory_region_init_io(&eeh->mmio_unclaimed, OBJECT(sphb),
                          &eeh_unclaimed_ops, eeh,
                          "spapr-pci-eeh-mmio-unclaimed", UINT64_MAX);
    memory_region_add_subregion_overlap(&sphb->memspace, 0,
                                        &eeh->mmio_unclaimed, -1);
    memory_region_init_io(&eeh->io_unclaimed, OBJECT(sphb),
                          &eeh_unclaimed_ops, eeh,
                          "spapr-pci-eeh-io-unclaimed",
                          memory_region_size(&sphb->iospace));
    memory_region_add_subregion_overlap(&sphb->iospace, 0,
                                        &eeh->io_unclaimed, -1);
    eeh->apply_bh = qemu_bh_new(eeh_apply_bh, eeh);
    /* Below the windows and the MSI window: DMA no window takes */
    memory_region_init_io(&eeh->dma_unmapped, OBJECT(sphb), &eeh_unmapped_ops,
                          eeh, "spapr-pci-dma-unmapped", UINT64_MAX);
    memory_region_add_subregion_overlap(&sphb->iommu_root, 0,
                                        &eeh->dma_unmapped, -1);
    /* Over the MSI window, and over any DMA window that covers it */
    memory_region_init_io(&eeh->msi_gate, OBJECT(sphb), &eeh_msi_ops, sphb,
                          "spapr-pci-eeh-msi-gate",
                          memory_region_size(&sphb->msiwindow));
    /* It passes MSIs on to the PHB's own MSI window */
    eeh->msi_gate.disable_reentrancy_guard = true;
    memory_region_add_subregion_overlap(&sphb->iommu_root,
                                        SPAPR_PCI_MSI_WINDOW,
                                        &eeh->msi_gate, 1);
    /* Over the CPU's windows, for load and store injections */
    eeh_trap_init(eeh, 0, "spapr-pci-eeh-mem32-trap", sphb->mem_win_addr,
                  SPAPR_PCI_MEM_WIN_BUS_OFFSET, sphb->mem_win_size, false);
    if (sphb->mem64_win_size) {
        eeh_trap_init(eeh, 1, "spapr-pci-eeh-mem64-trap",
                      sphb->mem64_win_addr, sphb->mem64_win_pciaddr,
                      sphb->mem64_win_size, false);
    }
    eeh_trap_init(eeh, 2, "spapr-pci-eeh-io-trap", sphb->io_win_addr, 0,
                  SPAPR_PCI_IO_WIN_SIZE, true);
    eeh->realized = true;
}

void spapr_phb_eeh_unrealize(SpaprPhbState *sphb)
{
    SpaprPhbEeh *eeh = &sphb->eeh;
    int i;

    /* Also after a realize that failed before it came here */
    if (!eeh->realized) {
        return;
    }
    memory_region_del_subregion(&sphb->memspace, &eeh->mmio_fence);
    memory_region_del_subregion(&sphb->iospace, &eeh->io_fence);
    memory_region_del_subregion(&sphb->memspace, &eeh->mmio_unclaimed);
    memory_region_del_subregion(&sphb->iospace, &eeh->io_unclaimed);
    memory_region_del_subregion(&sphb->iommu_root, &eeh->dma_unmapped);
    memory_region_del_subregion(&sphb->iommu_root, &eeh->msi_gate);
    for (i = 0; i < ARRAY_SIZE(eeh->trap); i++) {
        if (eeh->trap[i].eeh) {
            memory_region_del_subregion(get_system_memory(),
                                        &eeh->trap[i].mr);
        }
    }
    if (eeh->trap_as_ready) {
        address_space_destroy(&eeh->mem_as);
        address_space_destroy(&eeh->io_as);
        eeh->trap_as_ready = false;
    }
    qemu_bh_delete(eeh->apply_bh);
    eeh->apply_bh = NULL;
    g_free(eeh->config);
    eeh->config = NULL;
    eeh->config_count = 0;
    eeh->realized = false;
}

void spapr_phb_eeh_machine_reset(SpaprPhbState *sphb)
{
    SpaprPhbEeh *eeh = &sphb->eeh;

    qatomic_set(&eeh->enabled, false);
    if (eeh->realized) {
        eeh_disarm(eeh);
        eeh_set_state(eeh, RTAS_EEH_PE_STATE_NORMAL);
        g_free(eeh->config);
        eeh->config = NULL;
        eeh->config_count = 0;
    }
}

/* ---- the PE's addresses ---- */

bool spapr_phb_eeh_emulated(SpaprPhbState *sphb)
{
    return sphb->eeh.realized && !spapr_phb_eeh_available(sphb);
}

/* One PE per PHB: its PE configuration address names the root bus */
static uint32_t eeh_pe_addr(SpaprPhbEeh *eeh)
{
    return (pci_bus_num(eeh_bus(eeh)) << 16) | 1;
}

static PCIDevice *eeh_find_dev(SpaprPhbEeh *eeh, uint32_t addr)
{
    if (addr & 0xff) {
        return NULL;        /* LoPAR: the register field is 0 */
    }
    return pci_find_device(eeh_bus(eeh), (addr >> 16) & 0xff,
                           (addr >> 8) & 0xff);
}

/* @addr names the PE: its PE address, or a device in it */
static bool eeh_addr_ok(SpaprPhbEeh *eeh, uint32_t addr, const char *call)
{
    if (addr == eeh_pe_addr(eeh) || eeh_find_dev(eeh, addr)) {
        return true;
    }
    qemu_log_mask(LOG_GUEST_ERROR, "%s: 0x%x is neither PE 0x%x of PHB 0x%"
                  PRIx64 " nor a device in it\n", call, addr,
                  eeh_pe_addr(eeh), eeh_phb(eeh)->buid);
    return false;
}

typedef struct EehForEach {
    pci_bus_dev_fn fn;
    void *opaque;
} EehForEach;

static void eeh_for_each_on_bus(PCIBus *bus, void *opaque)
{
    EehForEach *each = opaque;

    pci_for_each_device_under_bus(bus, each->fn, each->opaque);
}

/* Every PCI device of the PE: on the root bus and behind its bridges */
static void eeh_for_each_dev(SpaprPhbEeh *eeh, pci_bus_dev_fn fn,
                             void *opaque)
{
    EehForEach each = { fn, opaque };

    pci_for_each_bus(eeh_bus(eeh), eeh_for_each_on_bus, &each);
}

typedef struct EehDevScan {
    unsigned functions;
    bool enabled;
} EehDevScan;

static void eeh_scan_dev(PCIBus *bus, PCIDevice *pdev, void *opaque)
{
    EehDevScan *scan = opaque;

    scan->functions += !IS_PCI_BRIDGE(pdev);
    scan->enabled |= !!(pci_get_word(pdev->config + PCI_COMMAND) &
                        (PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
                         PCI_COMMAND_MASTER));
}

static EehDevScan eeh_scan(SpaprPhbEeh *eeh)
{
    EehDevScan scan = { 0 };

    eeh_for_each_dev(eeh, eeh_scan_dev, &scan);
    return scan;
}

/* ---- the RTAS calls' answers ---- */

int spapr_phb_eeh_set_option(SpaprPhbState *sphb, uint32_t addr,
                             uint32_t option)
{
    SpaprPhbEeh *eeh = &sphb->eeh;
    uint32_t state = qatomic_read(&eeh->state);
    int ret = RTAS_OUT_SUCCESS;

    if (!eeh_addr_ok(eeh, addr, "ibm,set-eeh-option")) {
        return RTAS_OUT_PARAM_ERROR;
    }
    /* LoPAR's "PE State Control" table decides each status */
    switch (option) {
    case RTAS_EEH_ENABLE:
        qatomic_set(&eeh->enabled, true);
        break;
    case RTAS_EEH_DISABLE:
        /* A PE whose devices are enabled keeps EEH on */
        if (!eeh_scan(eeh).enabled) {
            qatomic_set(&eeh->enabled, false);
            eeh_disarm(eeh);
            if (state != RTAS_EEH_PE_STATE_UNAVAIL) {
                eeh_set_state(eeh, RTAS_EEH_PE_STATE_NORMAL);
            }
        }
        break;
    case RTAS_EEH_THAW_IO:
        if (state == RTAS_EEH_PE_STATE_STOPPED_IO_DMA) {
            eeh_set_state(eeh, RTAS_EEH_PE_STATE_STOPPED_DMA);
        } else if (state == RTAS_EEH_PE_STATE_NORMAL ||
                   state == RTAS_EEH_PE_STATE_STOPPED_DMA) {
            ret = RTAS_OUT_PARAM_ERROR;
        } else {
            ret = RTAS_OUT_UNEXPECTED_STATE;
        }
        break;
    case RTAS_EEH_THAW_DMA:
        if (state == RTAS_EEH_PE_STATE_STOPPED_DMA) {
            eeh_set_state(eeh, RTAS_EEH_PE_STATE_NORMAL);
        } else if (state == RTAS_EEH_PE_STATE_NORMAL) {
            ret = RTAS_OUT_PARAM_ERROR;
        } else {
            ret = RTAS_OUT_UNEXPECTED_STATE;
        }
        break;
    default:
        /* No io-event interrupts (options 4 and 5) */
        ret = RTAS_OUT_PARAM_ERROR;
        break;
    }
    trace_spapr_pci_eeh_option(sphb->buid, addr, option, ret);
    if (ret != RTAS_OUT_SUCCESS) {
        qemu_log_mask(LOG_GUEST_ERROR, "ibm,set-eeh-option: option %u on "
                      "0x%x of PHB 0x%" PRIx64 " in state %u refused\n",
                      option, addr, sphb->buid, state);
    }
    return ret;
}

int spapr_phb_eeh_config_addr_info(SpaprPhbState *sphb, uint32_t addr,
                                   uint32_t function, uint32_t *info)
{
    SpaprPhbEeh *eeh = &sphb->eeh;

    if (!eeh_find_dev(eeh, addr)) {
        qemu_log_mask(LOG_GUEST_ERROR, "ibm,get-config-addr-info2: no "
                      "device at 0x%x of PHB 0x%" PRIx64 "\n", addr,
                      sphb->buid);
        return RTAS_OUT_PARAM_ERROR;
    }
    switch (function) {
    case RTAS_GET_PE_ADDR:
        /* Every device of the PHB is in its one PE */
        *info = eeh_pe_addr(eeh);
        return RTAS_OUT_SUCCESS;
    case RTAS_GET_PE_MODE:
        *info = eeh_scan(eeh).functions > 1 ? RTAS_PE_MODE_SHARED :
                                               RTAS_PE_MODE_NOT_SHARED;
        return RTAS_OUT_SUCCESS;
    default:
        return RTAS_OUT_PARAM_ERROR;
    }
}

int spapr_phb_eeh_read_state(SpaprPhbState *sphb, uint32_t addr,
                             uint32_t *state, uint32_t *unavail_info)
{
    SpaprPhbEeh *eeh = &sphb->eeh;

    if (!eeh_addr_ok(eeh, addr, "ibm,read-slot-reset-state2")) {
        return RTAS_OUT_PARAM_ERROR;
    }
    *state = qatomic_read(&eeh->state);
    /* Unavailable for good after ibm,slot-error-detail function 2 */
    *unavail_info = *state == RTAS_EEH_PE_STATE_UNAVAIL ? 0 :
                    RTAS_EEH_PE_UNAVAIL_INFO;
    return RTAS_OUT_SUCCESS;
}

/* ---- reset, and configuration given back after it ---- */

typedef struct EehConfigSave {
    SpaprEehConfig *config;
    int32_t n, max;
} EehConfigSave;

static void eeh_config_count(PCIBus *bus, PCIDevice *pdev, void *opaque)
{
    ((EehConfigSave *)opaque)->max++;
}

static void eeh_config_save_dev(PCIBus *bus, PCIDevice *pdev, void *opaque)
{
    EehConfigSave *save = opaque;
    SpaprEehConfig *c;
    int i;

    if (save->n == save->max) {
        return;
    }
    c = &save->config[save->n++];
    c->addr = (pci_dev_bus_num(pdev) << 16) | (pdev->devfn << 8);
    for (i = 0; i < ARRAY_SIZE(c->word); i++) {
        c->word[i] = pci_host_config_read_common(pdev, i * 4,
                                                 pci_config_size(pdev), 4);
    }
}

static int eeh_config_by_bus(const void *a, const void *b)
{
    const SpaprEehConfig *x = a, *y = b;

    return (x->addr >> 16) != (y->addr >> 16) ?
           (int)(x->addr >> 16) - (int)(y->addr >> 16) :
           (int)x->addr - (int)y->addr;
}

/*
 * What ibm,configure-pe gives back after a reset: the configuration the
 * PE's bridges and devices were delivered with.  The PCI devices of one
 * PHB, not the guest, decide how much that is.
 */
static void eeh_config_save(SpaprPhbEeh *eeh)
{
    EehConfigSave save = { 0 };

    g_free(eeh->config);
    eeh_for_each_dev(eeh, eeh_config_count, &save);
    save.config = g_new0(SpaprEehConfig, save.max);
    eeh_for_each_dev(eeh, eeh_config_save_dev, &save);
    /* Bridges first, so that the buses below them exist again */
    qsort(save.config, save.n, sizeof(save.config[0]), eeh_config_by_bus);
    eeh->config = save.config;
    eeh->config_count = save.n;
}

static void eeh_config_restore(SpaprPhbEeh *eeh)
{
    int32_t i;
    int k;

    for (i = 0; i < eeh->config_count; i++) {
        SpaprEehConfig *c = &eeh->config[i];
        PCIDevice *pdev = pci_find_device(eeh_bus(eeh), c->addr >> 16,
                                          (c->addr >> 8) & 0xff);

        if (!pdev) {
            continue;
        }
        /* BARs, bus numbers, windows and the like; the command last */
        for (k = PCI_CACHE_LINE_SIZE / 4; k < ARRAY_SIZE(c->word); k++) {
            pci_host_config_write_common(pdev, k * 4, pci_config_size(pdev),
                                         c->word[k], 4);
        }
        pci_host_config_write_common(pdev, PCI_COMMAND, pci_config_size(pdev),
                                     c->word[PCI_COMMAND / 4] & 0xffff, 2);
    }
    g_free(eeh->config);
    eeh->config = NULL;
    eeh->config_count = 0;
}

int spapr_phb_eeh_reset(SpaprPhbState *sphb, uint32_t addr, uint32_t option)
{
    SpaprPhbEeh *eeh = &sphb->eeh;
    uint32_t state = qatomic_read(&eeh->state);
    int ret = RTAS_OUT_SUCCESS;

    if (!eeh_addr_ok(eeh, addr, "ibm,set-slot-reset")) {
        return RTAS_OUT_PARAM_ERROR;
    }
    switch (option) {
    case RTAS_SLOT_RESET_HOT:
    case RTAS_SLOT_RESET_FUNDAMENTAL:
        if (state == RTAS_EEH_PE_STATE_UNAVAIL) {
            ret = RTAS_OUT_UNEXPECTED_STATE;
        } else if (state != RTAS_EEH_PE_STATE_RESET) {
            /* Assert reset: the PE's devices lose their state now */
            eeh_set_state(eeh, RTAS_EEH_PE_STATE_RESET);
            eeh_config_save(eeh);
            bus_cold_reset(BUS(eeh_bus(eeh)));
        }
        break;
    case RTAS_SLOT_RESET_DEACTIVATE:
        /* Out of reset the PE runs, frozen or not before */
        if (state == RTAS_EEH_PE_STATE_RESET) {
            eeh_set_state(eeh, RTAS_EEH_PE_STATE_NORMAL);
        } else if (state == RTAS_EEH_PE_STATE_STOPPED_DMA) {
            ret = RTAS_OUT_PARAM_ERROR;
        } else if (state != RTAS_EEH_PE_STATE_NORMAL) {
            ret = RTAS_OUT_UNEXPECTED_STATE;
        }
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "ibm,set-slot-reset: no option %u\n",
                      option);
        return RTAS_OUT_PARAM_ERROR;
    }
    trace_spapr_pci_eeh_reset(sphb->buid, addr, option, ret);
    return ret;
}

int spapr_phb_eeh_configure(SpaprPhbState *sphb, uint32_t addr)
{
    SpaprPhbEeh *eeh = &sphb->eeh;

    if (!eeh_addr_ok(eeh, addr, "ibm,configure-pe")) {
        return RTAS_OUT_PARAM_ERROR;
    }
    /* Once after each reset; nothing to do if there was none */
    eeh_config_restore(eeh);
    return RTAS_OUT_SUCCESS;
}

int spapr_phb_eeh_slot_error_detail(SpaprPhbState *sphb, uint32_t addr,
                                    uint64_t buf, uint32_t len,
                                    uint32_t function)
{
    SpaprPhbEeh *eeh = &sphb->eeh;
    uint32_t state = qatomic_read(&eeh->state);
    SpaprEehError err = {
        .type = qatomic_read(&eeh->error.type),
        .initiator = qatomic_read(&eeh->error.initiator),
        .target = qatomic_read(&eeh->error.target),
    };
    uint8_t log[EEH_LOG_BYTES] = { 0 };

    if (!eeh_addr_ok(eeh, addr, "ibm,slot-error-detail") ||
        (function != RTAS_SLOT_TEMP_ERR_LOG &&
         function != RTAS_SLOT_PERM_ERR_LOG)) {
        return RTAS_OUT_PARAM_ERROR;
    }
    if (function == RTAS_SLOT_PERM_ERR_LOG) {
        /* The OS gives the PE up: unavailable until the machine resets */
        eeh_disarm(eeh);
        eeh_set_state(eeh, RTAS_EEH_PE_STATE_UNAVAIL);
    }
    if (!err.type) {
        return RTAS_OUT_NO_ERRORS_FOUND;
    }
    /* LoPAR's fixed part: no extended log */
    log[0] = EEH_LOG_VERSION;
    log[1] = EEH_LOG_SEV_ERROR | EEH_LOG_NOT_RECOVERED;
    log[2] = err.initiator << 4 | err.target;
    log[3] = err.type;
    if (len < sizeof(log) ||
        address_space_write(&address_space_memory, buf,
                            MEMTXATTRS_UNSPECIFIED, log, sizeof(log)) !=
        MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "ibm,slot-error-detail: no room for "
                      "the error log at 0x%" PRIx64 " (%u bytes)\n", buf,
                      len);
        return RTAS_OUT_PARAM_ERROR;
    }
    trace_spapr_pci_eeh_error_log(sphb->buid, state, err.type);
    return RTAS_OUT_SUCCESS;
}

bool spapr_phb_eeh_config_blocked(SpaprPhbState *sphb, PCIDevice *pdev,
                                  uint32_t reg, bool is_write)
{
    SpaprPhbEeh *eeh = sphb ? &sphb->eeh : NULL;
    uint32_t func, dev;

    if (!eeh || !eeh->realized) {
        return false;
    }
    /* PowerVM: a stopped PE's configuration space reads all ones */
    if (eeh_mmio_stopped(qatomic_read(&eeh->state))) {
        return true;
    }
    /* A configuration injection: the device, then the register */
    func = eeh->inject_func;
    dev = (pci_dev_bus_num(pdev) << 16) | (pdev->devfn << 8);
    if (func == INJ_NONE || inj_space(func) != INJ_SPACE_CONFIG ||
        inj_write(func) != is_write || dev != eeh->inject_config_addr ||
        !inj_matches(eeh, reg)) {
        return false;
    }
    qemu_log_mask(LOG_GUEST_ERROR, "spapr-pci %s: injected error %u on the "
                  "configuration %s of register 0x%x of 0x%x\n",
                  sphb->dtbusname, func, is_write ? "write" : "read", reg,
                  dev);
    eeh_disarm(eeh);
    eeh_freeze(eeh, inj_error(func, reg));
    return true;
}

/* ---- error injection: ibm,open-errinjct, ibm,errinjct, -close ---- */

/* The partition's one ERRINJCT session: its Open Token, 0 when closed */
typedef struct SpaprErrinjct {
    uint32_t token;
    uint32_t last;
} SpaprErrinjct;

static SpaprErrinjct errinjct;

static const VMStateDescription vmstate_spapr_errinjct = {
    .name = "spapr-errinjct",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(token, SpaprErrinjct),
        VMSTATE_UINT32(last, SpaprErrinjct),
        VMSTATE_END_OF_LIST()
    },
};

static void errinjct_reset(void *opaque)
{
    errinjct.token = 0;
}

static void rtas_ibm_open_errinjct(PowerPCCPU *cpu, SpaprMachineState *spapr,
                                   uint32_t token, uint32_t nargs,
                                   target_ulong args, uint32_t nret,
                                   target_ulong rets)
{
    int status = RTAS_OUT_SUCCESS;

    if (nargs != 0 || nret != 2) {
        status = RTAS_OUT_PARAM_ERROR;
    } else if (errinjct.token) {
        status = RTAS_OUT_ERRINJCT_CALL;        /* already open */
    } else {
        errinjct.token = ++errinjct.last ?: ++errinjct.last;
    }
    trace_spapr_pci_errinjct_open(errinjct.token, status);
    /* LoPAR: the Open Token comes first, the status second */
    rtas_st(rets, 0, status ? 0 : errinjct.token);
    rtas_st(rets, 1, status);
}

static void rtas_ibm_close_errinjct(PowerPCCPU *cpu, SpaprMachineState *spapr,
                                    uint32_t token, uint32_t nargs,
                                    target_ulong args, uint32_t nret,
                                    target_ulong rets)
{
    int status = RTAS_OUT_SUCCESS;

    if (nargs != 1 || nret != 1) {
        status = RTAS_OUT_PARAM_ERROR;
    } else if (!errinjct.token || rtas_ld(args, 0) != errinjct.token) {
        status = RTAS_OUT_ERRINJCT_CALL;
    } else {
        /*
         * An injection that has not fired yet stays armed: it fires at
         * most once, and a tool such as powerpc-utils' errinjct closes
         * the session right after the call that armed it.  Function 20
         * disarms it; so does a reset of the machine.
         */
        errinjct.token = 0;
    }
    trace_spapr_pci_errinjct_close(nargs ? rtas_ld(args, 0) : 0, status);
    rtas_st(rets, 0, status);
}

/* Arm @eeh for @func; the previous injection, if any, is replaced */
static void eeh_arm(SpaprPhbEeh *eeh, uint32_t func, uint64_t addr,
                    uint64_t mask, uint32_t config_addr)
{
    eeh_disarm(eeh);
    eeh->inject_addr = addr;
    eeh->inject_mask = mask;
    eeh->inject_config_addr = config_addr;
    eeh->inject_func = func;
    switch (inj_space(func)) {
    case INJ_SPACE_DMA:
        smp_wmb();          /* pairs with spapr_phb_eeh_dma_stop() */
        qatomic_set(&eeh->dma_inject, 1);
        break;
    case INJ_SPACE_MEM:
    case INJ_SPACE_IO:
        if (!eeh->trap_as_ready) {
            /*
             * The PHB's memory space below 2^63, where its windows are:
             * a flat view of all of it would need a range of 2^64 bytes
             */
            memory_region_init_alias(&eeh->mem_view, OBJECT(eeh_phb(eeh)),
                                     "spapr-pci-eeh-mem-view",
                                     &eeh_phb(eeh)->memspace, 0, 1ull << 63);
            address_space_init(&eeh->mem_as, &eeh->mem_view,
                               "spapr-pci-eeh-mem");
            address_space_init(&eeh->io_as, &eeh_phb(eeh)->iospace,
                               "spapr-pci-eeh-io");
            eeh->trap_as_ready = true;
        }
        eeh_traps_set(eeh, true, inj_space(func) == INJ_SPACE_IO);
        break;
    case INJ_SPACE_CONFIG:
        break;
    }
}

/* Function 21: what is armed, in the work buffer's own format */
static void errinjct_query(SpaprPhbEeh *eeh, uint32_t *w, bool is64)
{
    uint32_t func = eeh->inject_func;

    if (func != INJ_NONE && inj_space(func) == INJ_SPACE_DMA &&
        !qatomic_read(&eeh->dma_inject)) {
        func = INJ_NONE;                /* it fired */
    }
    if (func == INJ_NONE) {
        w[is64 ? 7 : 5] = INJ_DISABLE;
        return;
    }
    if (is64) {
        w[0] = eeh->inject_addr >> 32;
        w[1] = eeh->inject_addr;
        w[2] = eeh->inject_mask >> 32;
        w[3] = eeh->inject_mask;
        w[4] = eeh->inject_config_addr;
        w[7] = func;
    } else {
        w[0] = eeh->inject_addr;
        w[1] = eeh->inject_mask;
        w[2] = eeh->inject_config_addr;
        w[5] = func;
    }
}

static int errinjct_ioa_bus_error(SpaprMachineState *spapr, hwaddr buf,
                                  bool is64)
{
    uint32_t w[8];
    uint64_t addr, mask, buid;
    uint32_t config_addr, func;
    SpaprPhbState *sphb;
    int i;

    if (address_space_read(&address_space_memory, buf, MEMTXATTRS_UNSPECIFIED,
                           w, sizeof(w)) != MEMTX_OK) {
        return RTAS_OUT_PARAM_ERROR;
    }
    for (i = 0; i < ARRAY_SIZE(w); i++) {
        w[i] = be32_to_cpu(w[i]);
    }
    if (is64) {
        addr = (uint64_t)w[0] << 32 | w[1];
        mask = (uint64_t)w[2] << 32 | w[3];
        config_addr = w[4];
        buid = (uint64_t)w[5] << 32 | w[6];
        func = w[7];
    } else {
        /* A 32-bit address matches 32-bit bus addresses only */
        addr = w[0];
        mask = 0xffffffff00000000ull | w[1];
        config_addr = w[2];
        buid = (uint64_t)w[3] << 32 | w[4];
        func = w[5];
    }
    sphb = spapr_pci_find_phb(spapr, buid);
    if (!sphb || !spapr_phb_eeh_emulated(sphb) ||
        !eeh_addr_ok(&sphb->eeh, config_addr, "ibm,errinjct")) {
        qemu_log_mask(LOG_GUEST_ERROR, "ibm,errinjct: no PE with EEH at "
                      "0x%x of PHB 0x%" PRIx64 "\n", config_addr, buid);
        return RTAS_OUT_PARAM_ERROR;
    }
    switch (func) {
    case INJ_QUERY:
        errinjct_query(&sphb->eeh, w, is64);
        for (i = 0; i < ARRAY_SIZE(w); i++) {
            w[i] = cpu_to_be32(w[i]);
        }
        return address_space_write(&address_space_memory, buf,
                                   MEMTXATTRS_UNSPECIFIED, w, sizeof(w)) ==
               MEMTX_OK ? RTAS_OUT_SUCCESS : RTAS_OUT_PARAM_ERROR;
    case INJ_DISABLE:
        eeh_disarm(&sphb->eeh);
        return RTAS_OUT_SUCCESS;
    }
    /* LoPAR: only into a PE whose EEH is enabled */
    if (func > INJ_MAX || !qatomic_read(&sphb->eeh.enabled)) {
        qemu_log_mask(LOG_GUEST_ERROR, "ibm,errinjct: function %u, PHB 0x%"
                      PRIx64 " with EEH %s\n", func, buid,
                      qatomic_read(&sphb->eeh.enabled) ? "on" : "off");
        return RTAS_OUT_PARAM_ERROR;
    }
    eeh_arm(&sphb->eeh, func, addr, mask, config_addr);
    trace_spapr_pci_errinjct_arm(buid, func, addr, mask);
    return RTAS_OUT_SUCCESS;
}

static void rtas_ibm_errinjct(PowerPCCPU *cpu, SpaprMachineState *spapr,
                              uint32_t token, uint32_t nargs,
                              target_ulong args, uint32_t nret,
                              target_ulong rets)
{
    uint32_t type, buf;
    int status;

    if (nargs != 3 || nret != 1) {
        rtas_st(rets, 0, RTAS_OUT_PARAM_ERROR);
        return;
    }
    type = rtas_ld(args, 0);
    buf = rtas_ld(args, 2);
    if (!errinjct.token || rtas_ld(args, 1) != errinjct.token) {
        status = RTAS_OUT_ERRINJCT_CALL;
    } else if ((type != ERRINJCT_IOA_BUS_ERROR &&
                type != ERRINJCT_IOA_BUS_ERROR_64) ||
               (buf & (ERRINJCT_BUF_ALIGN - 1))) {
        status = RTAS_OUT_PARAM_ERROR;
    } else {
        status = errinjct_ioa_bus_error(spapr, buf,
                                        type == ERRINJCT_IOA_BUS_ERROR_64);
    }
    if (status) {
        qemu_log_mask(LOG_GUEST_ERROR, "ibm,errinjct: class %u, buffer 0x%x: "
                      "status %d\n", type, buf, status);
    }
    rtas_st(rets, 0, status);
}

/*
 * The calls exist, and are in the device tree, once a PHB models EEH:
 * a machine whose PHBs do not is the same as upstream's.
 */
static bool errinjct_registered;

static void errinjct_register(void)
{
    if (errinjct_registered) {
        return;
    }
    errinjct_registered = true;
    spapr_rtas_register(RTAS_IBM_OPEN_ERRINJCT, "ibm,open-errinjct",
                        rtas_ibm_open_errinjct);
    spapr_rtas_register(RTAS_IBM_ERRINJCT, "ibm,errinjct", rtas_ibm_errinjct);
    spapr_rtas_register(RTAS_IBM_CLOSE_ERRINJCT, "ibm,close-errinjct",
                        rtas_ibm_close_errinjct);
    vmstate_register(NULL, 0, &vmstate_spapr_errinjct, &errinjct);
    qemu_register_reset(errinjct_reset, NULL);
}

void spapr_phb_eeh_dt_rtas(void *fdt, int rtas)
{
    static const char bus32[] = "ioa-bus-error", bus64[] = "ioa-bus-error-64";
    uint8_t prop[sizeof(bus32) + sizeof(bus64) + 8];
    uint8_t *p = prop;

    if (!errinjct_registered) {
        return;
    }
    /* (name, token) pairs: a NUL-terminated string, a 32-bit cell */
    memcpy(p, bus32, sizeof(bus32));
    p += sizeof(bus32);
    stl_be_p(p, ERRINJCT_IOA_BUS_ERROR);
    p += 4;
    memcpy(p, bus64, sizeof(bus64));
    p += sizeof(bus64);
    stl_be_p(p, ERRINJCT_IOA_BUS_ERROR_64);
    fdt_setprop(fdt, rtas, "ibm,errinjct-tokens", prop, sizeof(prop));
}

/* ---- migration ---- */

static bool eeh_needed(void *opaque)
{
    SpaprPhbState *sphb = opaque;
    SpaprPhbEeh *eeh = &sphb->eeh;

    return eeh->enabled || eeh->state != RTAS_EEH_PE_STATE_NORMAL ||
           eeh->inject_func != INJ_NONE || eeh->config_count;
}

static int eeh_pre_load(void *opaque)
{
    SpaprPhbState *sphb = opaque;

    g_free(sphb->eeh.config);
    sphb->eeh.config = NULL;
    sphb->eeh.config_count = 0;
    return 0;
}

static int eeh_post_load(void *opaque, int version_id)
{
    SpaprPhbState *sphb = opaque;
    SpaprPhbEeh *eeh = &sphb->eeh;
    uint32_t func = eeh->inject_func;

    switch (eeh->state) {
    case RTAS_EEH_PE_STATE_NORMAL:
    case RTAS_EEH_PE_STATE_RESET:
    case RTAS_EEH_PE_STATE_STOPPED_IO_DMA:
    case RTAS_EEH_PE_STATE_STOPPED_DMA:
    case RTAS_EEH_PE_STATE_UNAVAIL:
        break;
    default:
        return -EINVAL;
    }
    if (!eeh->realized) {
        return eeh->state == RTAS_EEH_PE_STATE_NORMAL && func == INJ_NONE &&
               !eeh->config_count ? 0 : -EINVAL;
    }
    eeh->inject_func = INJ_NONE;
    if (func > INJ_MAX && func != INJ_NONE) {
        return -EINVAL;
    }
    /* A DMA injection that fired on the source stays fired */
    if (func != INJ_NONE &&
        (inj_space(func) != INJ_SPACE_DMA || eeh->dma_inject)) {
        eeh_arm(eeh, func, eeh->inject_addr, eeh->inject_mask,
                eeh->inject_config_addr);
    } else {
        qatomic_set(&eeh->dma_inject, 0);
    }
    eeh_apply(eeh);
    return 0;
}

static const VMStateDescription vmstate_spapr_eeh_config = {
    .name = "spapr_pci/eeh/config",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(addr, SpaprEehConfig),
        VMSTATE_UINT32_ARRAY(word, SpaprEehConfig, 16),
        VMSTATE_END_OF_LIST()
    },
};

/* A PHB has at most 256 buses of 256 functions */
static bool eeh_config_count_ok(void *opaque, int version_id)
{
    SpaprPhbState *sphb = opaque;

    return sphb->eeh.config_count >= 0 && sphb->eeh.config_count <= 65536;
}

const VMStateDescription vmstate_spapr_phb_eeh = {
    .name = "spapr_pci/eeh",
    .version_id = 2,
    .minimum_version_id = 2,
    .needed = eeh_needed,
    .pre_load = eeh_pre_load,
    .post_load = eeh_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(eeh.enabled, SpaprPhbState),
        VMSTATE_UINT32(eeh.state, SpaprPhbState),
        VMSTATE_UINT8(eeh.error.type, SpaprPhbState),
        VMSTATE_UINT8(eeh.error.initiator, SpaprPhbState),
        VMSTATE_UINT8(eeh.error.target, SpaprPhbState),
        VMSTATE_UINT64(eeh.error.addr, SpaprPhbState),
        VMSTATE_UINT32(eeh.inject_func, SpaprPhbState),
        VMSTATE_UINT32(eeh.dma_inject, SpaprPhbState),
        VMSTATE_UINT32(eeh.inject_config_addr, SpaprPhbState),
        VMSTATE_UINT64(eeh.inject_addr, SpaprPhbState),
        VMSTATE_UINT64(eeh.inject_mask, SpaprPhbState),
        VMSTATE_INT32(eeh.config_count, SpaprPhbState),
        VMSTATE_VALIDATE("EEH configurations", eeh_config_count_ok),
        VMSTATE_STRUCT_VARRAY_ALLOC(eeh.config, SpaprPhbState,
                                    eeh.config_count, 0,
                                    vmstate_spapr_eeh_config,
                                    SpaprEehConfig),
        VMSTATE_END_OF_LIST()
    },
};
