/*
 * viommu-testdev: a PCI device that performs DMA on request and reports
 * exactly what happened, so that IOMMU models can be tested from qtests
 * and from guest programs.  See docs/specs/viommu-testdev.rst.
 *
 * This is the device's in-QEMU transport: the PCI function, its BAR, its
 * requests through QEMU's memory API and the IOMMU in front, ATS, PRI and
 * WATCH.  The registers and commands are the engine's
 * (viommu-testdev-core.c), which the out-of-process device
 * (viommu-testdev-vfio-user.c) shares.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/rcu.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pcie.h"
#include "hw/pci/msi.h"
#include "hw/qdev-properties.h"
#include "hw/iommu/side-effect-free-lookup.h"
#include "migration/vmstate.h"
#include "system/dma.h"
#include "system/memory.h"
#include "system/runstate.h"
#include "hw/iommu/viommu-testdev-core.h"
#include "trace.h"

OBJECT_DECLARE_SIMPLE_TYPE(ViommuTestdevState, VIOMMU_TESTDEV)

#define VIOMMU_TESTDEV_PASID_WIDTH      20
#define VIOMMU_TESTDEV_PRI_OUTSTANDING  1

QEMU_BUILD_BUG_ON(VIOMMU_TESTDEV_NO_PASID != PCI_NO_PASID);

struct ViommuTestdevState {
    PCIDevice parent_obj;

    MemoryRegion bar;
    MemoryRegion regs;
    MemoryRegion bufmr;
    VMChangeStateEntry *vm_state_change;
    /* The bridges between the device and its root bus, nearest first */
    PCIDevice **upstream_bridges;
    unsigned nr_upstream_bridges;

    /* Registers, buffer and commands; properties set its configuration */
    ViommuTestdevCore core;

    /* Page request in flight: core.pri_pending */
    uint32_t pri_pasid;
    uint16_t pri_prgi;
    /* Which PASID the notifier is registered for; not migrated */
    bool pri_registered;
    uint32_t pri_registered_pasid;
    /* Loaded with a request outstanding: register for it when the VM runs */
    bool pri_rearm;
    IOMMUPRINotifier pri_notifier;

    /* WATCH: an IOMMU notifier and what it heard; not migrated */
    IOMMUNotifier watch;
    IOMMUMemoryRegion *watch_mr;    /* NULL: no watch */
    hwaddr watch_bus_offset;        /* bus address - region offset */
    uint32_t notify_count;
    struct {
        uint32_t type;
        uint32_t perm;
        uint64_t iova;
        uint64_t translated;
        uint64_t addr_mask;
    } notify_log[VIOMMU_TESTDEV_NOTIFY_LOG_LEN];
};

static ViommuTestdevState *viommu_testdev_of(ViommuTestdevCore *core)
{
    return core->opaque;
}

static void viommu_testdev_irq_update(ViommuTestdevCore *core,
                                      bool completed)
{
    PCIDevice *pdev = PCI_DEVICE(viommu_testdev_of(core));
    bool irq_en = FIELD_EX32(core->ctrl, CTRL, IRQ_EN);

    if (completed && irq_en && msi_enabled(pdev)) {
        msi_notify(pdev, 0);
    }
    pci_set_irq(pdev, !msi_enabled(pdev) && core->irq_pending && irq_en);
}

static uint16_t viommu_testdev_requester_id(ViommuTestdevCore *core)
{
    return pci_requester_id(PCI_DEVICE(viommu_testdev_of(core)));
}

static bool viommu_testdev_pasid_enabled(ViommuTestdevCore *core)
{
    return pcie_pasid_enabled(PCI_DEVICE(viommu_testdev_of(core)));
}

/*
 * The device itself, or a bridge between it and its root bus, whose Bus
 * Master Enable is clear, or NULL.  A bridge forwards no upstream request
 * without it; QEMU's bus-master address space follows only the device's
 * own bit.  Asked for every request, so it only reads cached state.
 */
static PCIDevice *viommu_testdev_master_blocker(ViommuTestdevState *s)
{
    if (!s->parent_obj.is_master) {
        return &s->parent_obj;
    }
    for (unsigned i = 0; i < s->nr_upstream_bridges; i++) {
        if (!s->upstream_bridges[i]->is_master) {
            return s->upstream_bridges[i];
        }
    }
    return NULL;
}

/* The bridges above the device cannot change while it is plugged in */
static void viommu_testdev_find_upstream_bridges(ViommuTestdevState *s)
{
    PCIBus *bus = pci_get_bus(PCI_DEVICE(s));
    GPtrArray *bridges = g_ptr_array_new();

    while (!pci_bus_is_root(bus) && bus->parent_dev) {
        g_ptr_array_add(bridges, bus->parent_dev);
        bus = pci_get_bus(bus->parent_dev);
    }
    s->nr_upstream_bridges = bridges->len;
    s->upstream_bridges = (PCIDevice **)g_ptr_array_free(bridges, false);
}

/*
 * A refused IOMMU lookup and an address nobody decodes both surface as
 * MEMTX_DECODE_ERROR; only the IOMMU itself can tell which one it was,
 * and only one that keeps no record of lookups may be asked.
 */
static ViommuTestdevResult
viommu_testdev_classify_decode_error(ViommuTestdevState *s, uint64_t addr,
                                     bool is_write, MemTxAttrs attrs)
{
    AddressSpace *as = pci_device_iommu_address_space(PCI_DEVICE(s));
    IOMMUAccessFlags need = is_write ? IOMMU_WO : IOMMU_RO;
    IOMMUMemoryRegionClass *imrc;
    IOMMUMemoryRegion *iommu_mr;
    MemoryRegionSection sec;
    ViommuTestdevResult res;
    IOMMUTLBEntry entry;
    int idx;

    sec = memory_region_find(as->root, addr, 1);
    if (!sec.mr) {
        return VIOMMU_TESTDEV_RES_DECODE_ERROR;
    }
    iommu_mr = memory_region_get_iommu(sec.mr);
    if (!iommu_mr) {
        memory_region_unref(sec.mr);
        return VIOMMU_TESTDEV_RES_DECODE_ERROR;
    }
    if (!iommu_lookup_is_side_effect_free(iommu_mr)) {
        trace_viommu_testdev_no_peek(addr,
                                     object_get_typename(OBJECT(iommu_mr)));
        memory_region_unref(sec.mr);
        return VIOMMU_TESTDEV_RES_TRANSLATION_FAULT;
    }

    imrc = IOMMU_MEMORY_REGION_GET_CLASS(iommu_mr);
    idx = memory_region_iommu_attrs_to_index(iommu_mr, attrs);
    entry = imrc->translate(iommu_mr, sec.offset_within_region, IOMMU_NONE,
                            idx);
    memory_region_unref(sec.mr);

    if ((entry.perm & need) == need) {
        /* The IOMMU let it through: the failure lies beyond it */
        res = VIOMMU_TESTDEV_RES_DECODE_ERROR;
    } else if (entry.perm == IOMMU_NONE) {
        res = VIOMMU_TESTDEV_RES_TRANSLATION_FAULT;
    } else {
        res = VIOMMU_TESTDEV_RES_PERMISSION_FAULT;
    }
    trace_viommu_testdev_peek(addr, entry.perm, res);
    return res;
}

/*
 * One request: looked up once in the device's DMA address space, then
 * moved in the address space the lookup names.  Handing the request to
 * pci_dma_rw() instead would let QEMU's memory core look a refused request
 * up again for every few bytes it could not move, and an IOMMU records a
 * fault for every lookup.
 */
static MemTxResult viommu_testdev_dma(ViommuTestdevCore *core, uint64_t addr,
                                      uint8_t *buf, uint32_t len,
                                      bool is_write, MemTxAttrs attrs,
                                      uint32_t *moved,
                                      ViommuTestdevResult *fault,
                                      ViommuTestdevDmaPath *path)
{
    ViommuTestdevState *s = viommu_testdev_of(core);
    AddressSpace *as = pci_get_address_space(PCI_DEVICE(s));
    IOMMUAccessFlags need = is_write ? IOMMU_WO : IOMMU_RO;
    PCIDevice *blocker = viommu_testdev_master_blocker(s);
    IOMMUTLBEntry entry;
    uint64_t offset;
    MemTxResult r;

    *path = VIOMMU_TESTDEV_PATH_MEMORY;
    if (blocker) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: DMA at 0x%" PRIx64
                      " refused: bus mastering is off in %02x:%02x.%x\n",
                      TYPE_VIOMMU_TESTDEV, addr, pci_dev_bus_num(blocker),
                      PCI_SLOT(blocker->devfn), PCI_FUNC(blocker->devfn));
        trace_viommu_testdev_master_off(addr, pci_dev_bus_num(blocker),
                                        blocker->devfn);
        *fault = VIOMMU_TESTDEV_RES_DECODE_ERROR;
        return MEMTX_DECODE_ERROR;
    }

    RCU_READ_LOCK_GUARD();
    entry = address_space_get_iotlb_entry(as, addr, is_write, attrs);
    if ((entry.perm & need) != need) {
        r = MEMTX_DECODE_ERROR;
    } else {
        offset = addr & entry.addr_mask;
        if (entry.addr_mask - offset < len - 1) {
            len = entry.addr_mask - offset + 1;
        }
        r = dma_memory_rw(entry.target_as, entry.translated_addr | offset,
                          buf, len, is_write ? DMA_DIRECTION_FROM_DEVICE :
                                               DMA_DIRECTION_TO_DEVICE,
                          attrs);
    }
    if (r == MEMTX_OK) {
        *moved = len;
    } else if (r & MEMTX_DECODE_ERROR) {
        *fault = viommu_testdev_classify_decode_error(s, addr, is_write,
                                                      attrs);
    }
    return r;
}

/* What the PCI core's answer to an ATS or PRI request says about it */
static uint32_t viommu_testdev_req_status(ssize_t ret)
{
    switch (ret) {
    case -EPERM:
        return VIOMMU_TESTDEV_REQ_NOT_ENABLED;
    case -ENODEV:
        return VIOMMU_TESTDEV_REQ_NO_IOMMU;
    default:
        return ret < 0 ? VIOMMU_TESTDEV_REQ_ERROR : VIOMMU_TESTDEV_REQ_ANSWERED;
    }
}

static void viommu_testdev_ats(ViommuTestdevCore *core,
                               ViommuTestdevCommand *cmd, uint32_t pasid)
{
    PCIDevice *pdev = PCI_DEVICE(viommu_testdev_of(core));
    IOMMUTLBEntry entry = { .perm = IOMMU_NONE };
    uint32_t err_count = 0;
    ssize_t n;

    n = pci_ats_request_translation(pdev, pasid,
                                    FIELD_EX32(cmd->regs.attr, ATTR, PRIV),
                                    FIELD_EX32(cmd->regs.attr, ATTR, EXEC),
                                    cmd->regs.dma_addr, 1, cmd->no_write,
                                    &entry, 1, &err_count);
    trace_viommu_testdev_ats(cmd->regs.dma_addr, pasid, n, err_count,
                             entry.translated_addr, entry.addr_mask,
                             entry.perm);
    if (viommu_testdev_core_cancelled(core, cmd)) {
        return;
    }
    core->iommu_req_status = viommu_testdev_req_status(n);
    if (n < 1 || err_count || entry.perm == IOMMU_NONE) {
        core->ats_addr = 0;
        core->ats_mask = 0;
        core->ats_perm = 0;
        viommu_testdev_core_complete(core, cmd,
                                     VIOMMU_TESTDEV_RES_ATS_FAILED);
        return;
    }

    core->ats_mask = entry.addr_mask;
    core->ats_addr = (entry.translated_addr & ~entry.addr_mask) |
                     (cmd->regs.dma_addr & entry.addr_mask);
    core->ats_perm = FIELD_DP32(0, ATS_PERM, READ, !!(entry.perm & IOMMU_RO));
    core->ats_perm = FIELD_DP32(core->ats_perm, ATS_PERM, WRITE,
                                !!(entry.perm & IOMMU_WO));
    viommu_testdev_core_complete(core, cmd, VIOMMU_TESTDEV_RES_OK);
}

static void viommu_testdev_pri_unregister(ViommuTestdevState *s)
{
    if (s->pri_registered) {
        pci_pri_unregister_notifier(PCI_DEVICE(s), s->pri_registered_pasid);
        s->pri_registered = false;
    }
}

static int viommu_testdev_pri_register(ViommuTestdevState *s, uint32_t pasid)
{
    int ret;

    if (s->pri_registered && s->pri_registered_pasid == pasid) {
        return 0;
    }
    viommu_testdev_pri_unregister(s);
    ret = pci_pri_register_notifier(PCI_DEVICE(s), pasid, &s->pri_notifier);
    if (ret == 0) {
        s->pri_registered = true;
        s->pri_registered_pasid = pasid;
    }
    return ret;
}

static void viommu_testdev_pri_notify(IOMMUPRINotifier *notifier,
                                      IOMMUPRIResponse *response)
{
    ViommuTestdevState *s = container_of(notifier, ViommuTestdevState,
                                         pri_notifier);
    ViommuTestdevCore *core = &s->core;
    uint32_t code;

    trace_viommu_testdev_pri_response(response->prgi,
                                      response->response_code);
    if (!core->pri_pending || response->prgi != s->pri_prgi) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: page response for group %u, none outstanding\n",
                      TYPE_VIOMMU_TESTDEV, response->prgi);
        return;
    }

    switch (response->response_code) {
    case IOMMU_PRI_RESP_SUCCESS:
        code = VIOMMU_TESTDEV_PRI_SUCCESS;
        break;
    case IOMMU_PRI_RESP_INVALID_REQUEST:
        code = VIOMMU_TESTDEV_PRI_INVALID_REQUEST;
        break;
    default:
        code = VIOMMU_TESTDEV_PRI_FAILURE;
        break;
    }
    core->pri_resp = FIELD_DP32(code, PRI_RESP, VALID, 1);
    core->pri_pending = false;
    viommu_testdev_core_signal(core, VIOMMU_TESTDEV_OP_PRI_REQUEST,
                               code == VIOMMU_TESTDEV_PRI_SUCCESS ?
                               VIOMMU_TESTDEV_RES_OK :
                               VIOMMU_TESTDEV_RES_PRI_FAILED);
}

static void viommu_testdev_pri(ViommuTestdevCore *core,
                               ViommuTestdevCommand *cmd, uint32_t pasid)
{
    ViommuTestdevState *s = viommu_testdev_of(core);
    PCIDevice *pdev = PCI_DEVICE(s);
    uint16_t prgi;
    int ret;

    core->pri_resp = 0;
    /* A function whose PRI is off sends no page request at all */
    ret = pcie_pri_enabled(pdev) ? viommu_testdev_pri_register(s, pasid) :
                                   -EPERM;
    core->iommu_req_status = viommu_testdev_req_status(ret);
    if (ret) {
        trace_viommu_testdev_pri_request(cmd->regs.dma_addr, pasid, 0, ret);
        viommu_testdev_core_complete(core, cmd,
                                     VIOMMU_TESTDEV_RES_PRI_FAILED);
        return;
    }

    prgi = (s->pri_prgi + 1) & PCI_PRI_PRGI_MASK;
    s->pri_prgi = prgi;
    s->pri_pasid = pasid;
    core->pri_pending = true;
    ret = pci_pri_request_page(pdev, pasid,
                               FIELD_EX32(cmd->regs.attr, ATTR, PRIV),
                               FIELD_EX32(cmd->regs.attr, ATTR, EXEC),
                               cmd->regs.dma_addr & ~(uint64_t)0xfff, true,
                               prgi, true, !cmd->no_write);
    trace_viommu_testdev_pri_request(cmd->regs.dma_addr, pasid, prgi, ret);
    if (viommu_testdev_core_cancelled(core, cmd)) {
        return;
    }
    core->iommu_req_status = viommu_testdev_req_status(ret);
    /* The response may already have arrived from inside the request */
    if (ret && core->pri_pending) {
        core->pri_pending = false;
        viommu_testdev_core_complete(core, cmd,
                                     VIOMMU_TESTDEV_RES_PRI_FAILED);
    }
}

static void viommu_testdev_watch_notify(IOMMUNotifier *n,
                                        IOMMUTLBEntry *entry)
{
    ViommuTestdevState *s = container_of(n, ViommuTestdevState, watch);
    unsigned slot = s->notify_count % VIOMMU_TESTDEV_NOTIFY_LOG_LEN;

    s->notify_log[slot].type = entry->perm == IOMMU_NONE ?
                               VIOMMU_TESTDEV_NOTIFY_UNMAP :
                               VIOMMU_TESTDEV_NOTIFY_MAP;
    s->notify_log[slot].perm = entry->perm;
    s->notify_log[slot].iova = entry->iova + s->watch_bus_offset;
    s->notify_log[slot].translated = entry->translated_addr;
    s->notify_log[slot].addr_mask = entry->addr_mask;
    s->notify_count++;
    trace_viommu_testdev_notified(entry->perm, entry->iova +
                                  s->watch_bus_offset,
                                  entry->translated_addr, entry->addr_mask);
}

static void viommu_testdev_unwatch(ViommuTestdevCore *core)
{
    ViommuTestdevState *s = viommu_testdev_of(core);

    if (s->watch_mr) {
        memory_region_unregister_iommu_notifier(MEMORY_REGION(s->watch_mr),
                                                &s->watch);
        s->watch_mr = NULL;
    }
}

static bool viommu_testdev_replay(ViommuTestdevCore *core)
{
    ViommuTestdevState *s = viommu_testdev_of(core);

    if (!s->watch_mr) {
        return false;
    }
    memory_region_iommu_replay(s->watch_mr, &s->watch);
    return true;
}

/*
 * Register an IOMMU notifier on the IOMMU region that DMA_ADDR falls in,
 * for LEN bytes from there (0: to the region's end), with PATTERN's flags.
 */
static void viommu_testdev_watch(ViommuTestdevCore *core,
                                 ViommuTestdevCommand *cmd)
{
    ViommuTestdevState *s = viommu_testdev_of(core);
    AddressSpace *as = pci_device_iommu_address_space(PCI_DEVICE(s));
    uint64_t addr = cmd->regs.dma_addr;
    IOMMUNotifierFlag flags = 0;
    IOMMUMemoryRegion *iommu_mr;
    MemoryRegionSection sec;
    Error *err = NULL;
    uint64_t last;

    viommu_testdev_unwatch(core);
    s->notify_count = 0;
    memset(s->notify_log, 0, sizeof(s->notify_log));

    if (FIELD_EX32(cmd->regs.pattern, WATCH, MAP)) {
        flags |= IOMMU_NOTIFIER_MAP;
    }
    if (FIELD_EX32(cmd->regs.pattern, WATCH, UNMAP)) {
        flags |= IOMMU_NOTIFIER_UNMAP;
    }
    if (FIELD_EX32(cmd->regs.pattern, WATCH, DEVIOTLB_UNMAP)) {
        flags |= IOMMU_NOTIFIER_DEVIOTLB_UNMAP;
    }
    if (!flags) {
        viommu_testdev_core_bad_command(core, cmd,
                                        "WATCH for no notification");
        return;
    }
    sec = memory_region_find(as->root, addr, 1);
    iommu_mr = sec.mr ? memory_region_get_iommu(sec.mr) : NULL;
    if (!iommu_mr) {
        if (sec.mr) {
            memory_region_unref(sec.mr);
        }
        viommu_testdev_core_bad_command(core, cmd,
                                        "no IOMMU region at DMA_ADDR");
        return;
    }
    /*
     * The region's last offset, from its exact size: memory_region_size()
     * reports a region of 2^64 bytes (an SMMU's) as UINT64_MAX, one short
     */
    last = int128_get64(int128_sub(sec.mr->size, int128_one()));
    if (cmd->regs.len && cmd->regs.len - 1 < last - sec.offset_within_region) {
        last = sec.offset_within_region + cmd->regs.len - 1;
    }
    s->watch_bus_offset = sec.offset_within_address_space -
                          sec.offset_within_region;
    iommu_notifier_init(&s->watch, viommu_testdev_watch_notify, flags,
                        sec.offset_within_region, last,
                        memory_region_iommu_attrs_to_index(iommu_mr,
                                                MEMTXATTRS_UNSPECIFIED));
    memory_region_unref(sec.mr);
    if (memory_region_register_iommu_notifier(MEMORY_REGION(iommu_mr),
                                              &s->watch, &err)) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: WATCH refused: %s\n",
                      TYPE_VIOMMU_TESTDEV, error_get_pretty(err));
        error_free(err);
        core->iommu_req_status = VIOMMU_TESTDEV_REQ_ERROR;
        viommu_testdev_core_complete(core, cmd,
                                     VIOMMU_TESTDEV_RES_BAD_COMMAND);
        return;
    }
    s->watch_mr = iommu_mr;
    core->iommu_req_status = VIOMMU_TESTDEV_REQ_ANSWERED;
    viommu_testdev_core_complete(core, cmd, VIOMMU_TESTDEV_RES_OK);
}

/* NOTIFY_COUNT and NOTIFY_LOG: what WATCH heard */
static bool viommu_testdev_read_reg(ViommuTestdevCore *core, hwaddr addr,
                                    uint32_t *val)
{
    ViommuTestdevState *s = viommu_testdev_of(core);
    hwaddr off = addr - VIOMMU_TESTDEV_NOTIFY_LOG;
    unsigned slot = off / VIOMMU_TESTDEV_NOTIFY_REC_SIZE;
    uint64_t word = 0;

    if (addr == A_NOTIFY_COUNT) {
        *val = s->notify_count;
        return true;
    }
    if (addr < VIOMMU_TESTDEV_NOTIFY_LOG ||
        off >= VIOMMU_TESTDEV_NOTIFY_LOG_LEN *
               VIOMMU_TESTDEV_NOTIFY_REC_SIZE) {
        return false;
    }
    switch (off % VIOMMU_TESTDEV_NOTIFY_REC_SIZE & ~7) {
    case A_NOTIFY_REC_TYPE:
        word = s->notify_log[slot].type |
               (uint64_t)s->notify_log[slot].perm << 32;
        break;
    case A_NOTIFY_REC_IOVA:
        word = s->notify_log[slot].iova;
        break;
    case A_NOTIFY_REC_XLAT:
        word = s->notify_log[slot].translated;
        break;
    case A_NOTIFY_REC_MASK:
        word = s->notify_log[slot].addr_mask;
        break;
    }
    *val = off & 4 ? word >> 32 : (uint32_t)word;
    return true;
}

static const ViommuTestdevCoreOps viommu_testdev_core_ops = {
    .dma = viommu_testdev_dma,
    .requester_id = viommu_testdev_requester_id,
    .pasid_enabled = viommu_testdev_pasid_enabled,
    .irq_update = viommu_testdev_irq_update,
    .ats = viommu_testdev_ats,
    .pri = viommu_testdev_pri,
    .watch = viommu_testdev_watch,
    .replay = viommu_testdev_replay,
    .unwatch = viommu_testdev_unwatch,
    .read_reg = viommu_testdev_read_reg,
};

static uint64_t viommu_testdev_regs_read(void *opaque, hwaddr addr,
                                         unsigned size)
{
    ViommuTestdevState *s = opaque;

    return viommu_testdev_core_reg_read(&s->core, addr);
}

static void viommu_testdev_regs_write(void *opaque, hwaddr addr,
                                      uint64_t val64, unsigned size)
{
    ViommuTestdevState *s = opaque;

    viommu_testdev_core_reg_write(&s->core, addr, val64);
}

static const MemoryRegionOps viommu_testdev_regs_ops = {
    .read = viommu_testdev_regs_read,
    .write = viommu_testdev_regs_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 4,
    .valid.max_access_size = 8,
    /* The core splits 8-byte accesses into halves, the low one first */
    .impl.min_access_size = 4,
    .impl.max_access_size = 4,
};

/* What BUF_ATTRS shows of the attributes of an access to the buffer */
static uint32_t viommu_testdev_buf_attrs(MemTxAttrs attrs)
{
    uint32_t v = 0;

    v = FIELD_DP32(v, BUF_ATTRS, UNSPECIFIED, attrs.unspecified);
    v = FIELD_DP32(v, BUF_ATTRS, SECURE, attrs.secure);
    v = FIELD_DP32(v, BUF_ATTRS, USER, attrs.user);
    v = FIELD_DP32(v, BUF_ATTRS, PID, attrs.pid);
    return FIELD_DP32(v, BUF_ATTRS, REQUESTER_ID, attrs.requester_id);
}

static MemTxResult viommu_testdev_buf_read(void *opaque, hwaddr addr,
                                           uint64_t *data, unsigned size,
                                           MemTxAttrs attrs)
{
    ViommuTestdevState *s = opaque;

    s->core.buf_attrs = viommu_testdev_buf_attrs(attrs);
    *data = ldn_le_p(s->core.buf + addr, size);
    return MEMTX_OK;
}

static MemTxResult viommu_testdev_buf_write(void *opaque, hwaddr addr,
                                            uint64_t data, unsigned size,
                                            MemTxAttrs attrs)
{
    ViommuTestdevState *s = opaque;

    s->core.buf_attrs = viommu_testdev_buf_attrs(attrs);
    stn_le_p(s->core.buf + addr, size, data);
    return MEMTX_OK;
}

static const MemoryRegionOps viommu_testdev_buf_ops = {
    .read_with_attrs = viommu_testdev_buf_read,
    .write_with_attrs = viommu_testdev_buf_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 1,
    .valid.max_access_size = 8,
    .impl.min_access_size = 1,
    .impl.max_access_size = 8,
};

/*
 * Stopping the VM (stop, and the start of every migration and snapshot)
 * waits for an asynchronous command's DMA, as stopping a virtio device
 * waits for its iothread: a stopped or saved device has no command half
 * done.
 *
 * A page request that was outstanding when the VM was saved is waited
 * for again once the VM runs: registering the response notifier calls
 * into the IOMMU, which may not have loaded yet while the device loads.
 */
static void viommu_testdev_vm_state_change(void *opaque, bool running,
                                           RunState state)
{
    ViommuTestdevState *s = opaque;

    if (!running) {
        viommu_testdev_core_drain(&s->core);
        return;
    }
    if (!s->pri_rearm) {
        return;
    }
    s->pri_rearm = false;
    /* A registration made before the load may no longer be the IOMMU's */
    viommu_testdev_pri_unregister(s);
    if (s->core.pri_pending && viommu_testdev_pri_register(s, s->pri_pasid)) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: page request lost in migration\n",
                      TYPE_VIOMMU_TESTDEV);
        s->core.pri_pending = false;
        viommu_testdev_core_signal(&s->core, VIOMMU_TESTDEV_OP_PRI_REQUEST,
                                   VIOMMU_TESTDEV_RES_PRI_FAILED);
    }
}

static void viommu_testdev_realize(PCIDevice *pdev, Error **errp)
{
    ViommuTestdevState *s = VIOMMU_TESTDEV(pdev);
    ViommuTestdevCore *core = &s->core;
    uint8_t *conf = pdev->config;
    bool express = pci_bus_is_express(pci_get_bus(pdev));

    if ((core->has_ats || core->has_pri || core->has_pasid) && !express) {
        error_setg(errp, "ats, pri and pasid need the device on a PCIe bus");
        return;
    }
    if (core->has_pri && !core->has_ats) {
        /* PRI requests carry untranslated addresses that ATS resolves */
        error_setg(errp, "pri=on needs ats=on");
        return;
    }
    if (!core->burst_max_count ||
        core->burst_max_count > VIOMMU_TESTDEV_BURST_MAX_COUNT) {
        error_setg(errp, "x-burst-max-count must be 1 to %u",
                   VIOMMU_TESTDEV_BURST_MAX_COUNT);
        return;
    }

    pci_config_set_interrupt_pin(conf, 1);

    /* Kconfig builds the device only where the machine can do MSI */
    if (msi_init(pdev, 0, 1, true, false, errp)) {
        return;
    }

    if (express) {
        uint16_t next = PCI_CONFIG_SPACE_SIZE;

        if (pcie_endpoint_cap_init(pdev, 0) < 0) {
            error_setg(errp, "cannot add the PCIe capability");
            msi_uninit(pdev);
            return;
        }
        /* Extended capabilities from 0x100 on, in this order, each present */
        if (core->has_ats) {
            pcie_ats_init(pdev, next, true);
            next += PCI_EXT_CAP_ATS_SIZEOF;
        }
        if (core->has_pasid) {
            pcie_pasid_init(pdev, next, VIOMMU_TESTDEV_PASID_WIDTH,
                            true, true);
            next += PCI_EXT_CAP_PASID_SIZEOF;
        }
        if (core->has_pri) {
            pcie_pri_init(pdev, next, VIOMMU_TESTDEV_PRI_OUTSTANDING,
                          core->has_pasid);
        }
    }

    viommu_testdev_find_upstream_bridges(s);
    s->pri_notifier.notify = viommu_testdev_pri_notify;
    viommu_testdev_core_init(core, &viommu_testdev_core_ops, s);
    s->vm_state_change =
        qemu_add_vm_change_state_handler(viommu_testdev_vm_state_change, s);

    memory_region_init(&s->bar, OBJECT(s), "viommu-testdev-bar0",
                       VIOMMU_TESTDEV_BAR_SIZE);
    memory_region_init_io(&s->regs, OBJECT(s), &viommu_testdev_regs_ops, s,
                          "viommu-testdev-regs", VIOMMU_TESTDEV_REGS_SIZE);
    memory_region_init_io(&s->bufmr, OBJECT(s), &viommu_testdev_buf_ops, s,
                          "viommu-testdev-buf", VIOMMU_TESTDEV_BUF_SIZE);
    memory_region_add_subregion(&s->bar, 0, &s->regs);
    memory_region_add_subregion(&s->bar, VIOMMU_TESTDEV_BUF_OFFSET,
                                &s->bufmr);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar);
}

static void viommu_testdev_exit(PCIDevice *pdev)
{
    ViommuTestdevState *s = VIOMMU_TESTDEV(pdev);

    qemu_del_vm_change_state_handler(s->vm_state_change);
    /* The DMA thread's last command may need the BQL, for an MMIO target */
    bql_unlock();
    viommu_testdev_core_finalize(&s->core);
    bql_lock();
    g_free(s->upstream_bridges);
    s->upstream_bridges = NULL;
    viommu_testdev_pri_unregister(s);
    viommu_testdev_unwatch(&s->core);
    msi_uninit(pdev);
    if (pci_find_capability(pdev, PCI_CAP_ID_EXP)) {
        pcie_cap_exit(pdev);
    }
}

/*
 * Whether the device is PCIe depends on the bus it is plugged into, which
 * is not known yet; the PCI core sizes the configuration space before our
 * realize runs, so always provide the extended space and decide about the
 * PCIe capabilities in realize.
 */
static void viommu_testdev_instance_init(Object *obj)
{
    PCI_DEVICE(obj)->cap_present |= QEMU_PCI_CAP_EXPRESS;
}

static void viommu_testdev_reset_hold(Object *obj, ResetType type)
{
    ViommuTestdevState *s = VIOMMU_TESTDEV(obj);

    trace_viommu_testdev_reset(s->core.pri_pending);
    viommu_testdev_core_reset(&s->core);
    viommu_testdev_pri_unregister(s);
    viommu_testdev_unwatch(&s->core);
    s->notify_count = 0;
    memset(s->notify_log, 0, sizeof(s->notify_log));
    s->pri_pasid = 0;
    s->pri_prgi = 0;
}

static int viommu_testdev_post_load(void *opaque, int version_id)
{
    ViommuTestdevState *s = opaque;
    ViommuTestdevCore *core = &s->core;

    if (core->result > VIOMMU_TESTDEV_RES_PRI_FAILED ||
        core->iommu_req_status > VIOMMU_TESTDEV_REQ_ERROR ||
        (core->pri_pending && !core->has_pri)) {
        return -EINVAL;
    }
    core->ctrl &= R_CTRL_IRQ_EN_MASK;
    core->cmd_regs.op &= VIOMMU_TESTDEV_OP_MASK;
    core->cmd_regs.attr &= viommu_testdev_core_attr_mask(core);
    core->cmd_regs.pasid &= R_PASID_PASID_MASK;
    s->pri_pasid &= R_PASID_PASID_MASK;
    s->pri_prgi &= PCI_PRI_PRGI_MASK;

    /*
     * The INTx level needs nothing here: the PCI core migrates it with
     * the device, the bus and the interrupt controller.  The page
     * request notifier is registered again when the VM runs.
     */
    s->pri_rearm = true;
    return 0;
}

static bool viommu_testdev_pri_needed(void *opaque)
{
    ViommuTestdevState *s = opaque;

    return s->core.pri_pending;
}

static const VMStateDescription vmstate_viommu_testdev_pri = {
    .name = "viommu-testdev/pri",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = viommu_testdev_pri_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(core.pri_pending, ViommuTestdevState),
        VMSTATE_UINT32(pri_pasid, ViommuTestdevState),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_viommu_testdev = {
    .name = TYPE_VIOMMU_TESTDEV,
    .version_id = 2,
    .minimum_version_id = 1,
    .post_load = viommu_testdev_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, ViommuTestdevState),
        VMSTATE_UINT32(core.ctrl, ViommuTestdevState),
        VMSTATE_UINT64(core.cmd_regs.dma_addr, ViommuTestdevState),
        VMSTATE_UINT64(core.cmd_regs.dst_addr, ViommuTestdevState),
        VMSTATE_UINT32(core.cmd_regs.len, ViommuTestdevState),
        VMSTATE_UINT32(core.cmd_regs.op, ViommuTestdevState),
        VMSTATE_UINT32(core.cmd_regs.attr, ViommuTestdevState),
        VMSTATE_UINT32(core.cmd_regs.pasid, ViommuTestdevState),
        VMSTATE_UINT32(core.cmd_regs.pattern, ViommuTestdevState),
        VMSTATE_UINT32(core.cmd_regs.burst_count, ViommuTestdevState),
        VMSTATE_UINT32(core.cmd_regs.burst_stride, ViommuTestdevState),
        VMSTATE_UINT32(core.cmd_regs.burst_span, ViommuTestdevState),
        VMSTATE_UINT8(core.result, ViommuTestdevState),
        VMSTATE_BOOL(core.irq_pending, ViommuTestdevState),
        VMSTATE_UINT32(core.memtx, ViommuTestdevState),
        VMSTATE_UINT64(core.fault_addr, ViommuTestdevState),
        VMSTATE_UINT32(core.done_bytes, ViommuTestdevState),
        VMSTATE_UINT32(core.completions, ViommuTestdevState),
        VMSTATE_UINT64(core.ats_addr, ViommuTestdevState),
        VMSTATE_UINT64(core.ats_mask, ViommuTestdevState),
        VMSTATE_UINT32(core.ats_perm, ViommuTestdevState),
        VMSTATE_UINT32(core.pri_resp, ViommuTestdevState),
        VMSTATE_UINT32(core.burst_done, ViommuTestdevState),
        VMSTATE_UINT16(pri_prgi, ViommuTestdevState),
        VMSTATE_BUFFER(core.buf, ViommuTestdevState),
        VMSTATE_UINT32_V(core.buf_attrs, ViommuTestdevState, 2),
        VMSTATE_UINT32_V(core.iommu_req_status, ViommuTestdevState, 2),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_viommu_testdev_pri,
        NULL
    },
};

static const Property viommu_testdev_properties[] = {
    DEFINE_PROP_BOOL("ats", ViommuTestdevState, core.has_ats, false),
    DEFINE_PROP_BOOL("pri", ViommuTestdevState, core.has_pri, false),
    DEFINE_PROP_BOOL("pasid", ViommuTestdevState, core.has_pasid, false),
    DEFINE_PROP_BOOL("secure-dma", ViommuTestdevState, core.secure_dma,
                     false),
    DEFINE_PROP_UINT32("x-burst-max-count", ViommuTestdevState,
                       core.burst_max_count, VIOMMU_TESTDEV_BURST_MAX_COUNT),
};

/*
 * STATUS.BUSY, for a harness that cannot read STATUS (the PE fenced by an
 * EEH freeze) and must not wait for the DMA thread holding the BQL, which
 * the thread takes for any access that is not to RAM
 */
static bool viommu_testdev_get_busy(Object *obj, Error **errp)
{
    return viommu_testdev_core_busy(&VIOMMU_TESTDEV(obj)->core);
}

static void viommu_testdev_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = viommu_testdev_realize;
    k->exit = viommu_testdev_exit;
    k->vendor_id = VIOMMU_TESTDEV_VENDOR_ID;
    k->device_id = VIOMMU_TESTDEV_DEVICE_ID;
    k->revision = VIOMMU_TESTDEV_VERSION;
    k->class_id = PCI_CLASS_OTHERS;
    rc->phases.hold = viommu_testdev_reset_hold;
    dc->vmsd = &vmstate_viommu_testdev;
    dc->desc = "DMA test device for IOMMU models";
    device_class_set_props(dc, viommu_testdev_properties);
    object_class_property_add_bool(klass, "x-busy", viommu_testdev_get_busy,
                                   NULL);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo viommu_testdev_types[] = {
    {
        .name = TYPE_VIOMMU_TESTDEV,
        .parent = TYPE_PCI_DEVICE,
        .instance_size = sizeof(ViommuTestdevState),
        .instance_init = viommu_testdev_instance_init,
        .class_init = viommu_testdev_class_init,
        .interfaces = (const InterfaceInfo[]) {
            { INTERFACE_PCIE_DEVICE },
            { INTERFACE_CONVENTIONAL_PCI_DEVICE },
            { },
        },
    },
};

DEFINE_TYPES(viommu_testdev_types)
