/*
 * viommu-testdev: a PCI device that performs DMA on request and reports
 * exactly what happened, so that IOMMU models can be tested from qtests
 * and from guest programs.  See docs/specs/viommu-testdev.rst.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
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
#include "hw/iommu/viommu-testdev.h"
#include "trace.h"

OBJECT_DECLARE_SIMPLE_TYPE(ViommuTestdevState, VIOMMU_TESTDEV)

#define VIOMMU_TESTDEV_PASID_WIDTH      20
#define VIOMMU_TESTDEV_PRI_OUTSTANDING  1

/* The registers that make up a command */
typedef struct ViommuTestdevCommandRegs {
    uint64_t dma_addr;
    uint64_t dst_addr;
    uint32_t len;
    uint32_t op;
    uint32_t attr;
    uint32_t pasid;
    uint32_t pattern;
    uint32_t burst_count;
    uint32_t burst_stride;
    uint32_t burst_span;
} ViommuTestdevCommandRegs;

/*
 * One command, as the doorbell found the registers.  A command's own DMA
 * can reach the device's configuration space, or reset the device through
 * a bridge above it, so it never reads the registers again: it works on
 * this copy and publishes its outcome when it completes.
 */
typedef struct ViommuTestdevCommand {
    ViommuTestdevCommandRegs regs;
    ViommuTestdevOpcode opcode;
    bool no_write;
    /* The device's epoch when the doorbell rang; a reset moves it on */
    uint32_t epoch;

    /* Outcome, published by viommu_testdev_complete() */
    uint32_t memtx;
    uint64_t fault_addr;
    uint32_t done_bytes;
    uint32_t burst_done;
    /* A request was refused because bus mastering is off on the way up */
    bool master_blocked;
    /*
     * Run by the DMA thread (OP.ASYNC): the outcome waits in @result for
     * the bottom half that publishes it with the BQL
     */
    bool on_thread;
    ViommuTestdevResult result;
} ViommuTestdevCommand;

/*
 * OP.ASYNC runs a command's DMA on a thread of the device's own, outside
 * the BQL, as a dataplane device's does: the IOMMU in front translates it
 * on that thread.  Stopping the VM waits for that DMA to end, with the
 * BQL held, as virtio-blk waits for its iothread; an IOMMU that took the
 * BQL to translate would hang there, and STOP_STALLS counts each wait
 * that had to give up.
 */
typedef struct ViommuTestdevDmaThread {
    QemuThread thread;
    bool started;
    QemuMutex lock;
    QemuCond cond;              /* work queued, work done, or quit */
    /* Under @lock */
    bool queued;
    bool running;
    bool quit;
    ViommuTestdevCommand cmd;
    /* BQL: from the doorbell until the bottom half completes it */
    bool busy;
    QEMUBH *done_bh;
} ViommuTestdevDmaThread;

struct ViommuTestdevState {
    PCIDevice parent_obj;

    MemoryRegion bar;
    MemoryRegion regs;
    MemoryRegion bufmr;
    VMChangeStateEntry *vm_state_change;
    /* The bridges between the device and its root bus, nearest first */
    PCIDevice **upstream_bridges;
    unsigned nr_upstream_bridges;

    /* Properties */
    bool has_ats;
    bool has_pri;
    bool has_pasid;
    bool secure_dma;

    /* Guest-visible registers */
    uint32_t ctrl;
    ViommuTestdevCommandRegs cmd_regs;
    uint8_t result;
    bool irq_pending;
    uint32_t memtx;
    uint64_t fault_addr;
    uint32_t done_bytes;
    uint32_t completions;
    uint64_t ats_addr;
    uint64_t ats_mask;
    uint32_t ats_perm;
    uint32_t pri_resp;
    uint32_t burst_done;
    uint32_t buf_attrs;
    uint32_t iommu_req_status;

    /* Counts resets, so that a command that spans one never completes */
    uint32_t epoch;

    /* Page request in flight: STATUS.BUSY is pri_pending */
    bool pri_pending;
    uint32_t pri_pasid;
    uint16_t pri_prgi;
    /* Which PASID the notifier is registered for; not migrated */
    bool pri_registered;
    uint32_t pri_registered_pasid;
    /* Loaded with a request outstanding: register for it when the VM runs */
    bool pri_rearm;
    IOMMUPRINotifier pri_notifier;

    ViommuTestdevDmaThread dma_thread;
    uint32_t stop_stalls;

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

    uint8_t buf[VIOMMU_TESTDEV_BUF_SIZE];
};

static inline uint8_t viommu_testdev_pattern_byte(uint32_t seed, uint32_t i)
{
    return (seed + (i >> 2)) >> ((i & 3) * 8);
}

static void viommu_testdev_pattern(uint32_t seed, uint32_t offset,
                                   uint8_t *out, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        out[i] = viommu_testdev_pattern_byte(seed, offset + i);
    }
}

/*
 * Write one request's share of the FILL pattern.  The staging buffer lives
 * here, not in viommu_testdev_dma(): QEMU builds with
 * -ftrivial-auto-var-init=zero, which would clear it for every request of
 * every command otherwise.
 */
static MemTxResult viommu_testdev_write_pattern(AddressSpace *as,
                                                dma_addr_t addr,
                                                uint32_t seed,
                                                uint32_t offset,
                                                uint32_t len,
                                                MemTxAttrs attrs)
{
    uint8_t piece[VIOMMU_TESTDEV_REQ_BOUNDARY];

    len = MIN(len, sizeof(piece));
    viommu_testdev_pattern(seed, offset, piece, len);
    return dma_memory_write(as, addr, piece, len, attrs);
}

static uint32_t viommu_testdev_attr_mask(ViommuTestdevState *s)
{
    uint32_t mask = VIOMMU_TESTDEV_ATTR_MASK;

    /* Secure-world DMA is the machine's to grant, not the guest's */
    if (!s->secure_dma) {
        mask &= ~R_ATTR_SECURE_MASK;
    }
    return mask;
}

static void viommu_testdev_update_intx(ViommuTestdevState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool level = !msi_enabled(pdev) && s->irq_pending &&
                 FIELD_EX32(s->ctrl, CTRL, IRQ_EN);

    pci_set_irq(pdev, level);
}

/* Set RESULT, count the completion and interrupt as CTRL asks */
static void viommu_testdev_signal(ViommuTestdevState *s, uint32_t opcode,
                                  ViommuTestdevResult result)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    s->result = result;
    s->completions++;
    s->irq_pending = true;
    trace_viommu_testdev_complete(opcode, result, s->memtx, s->fault_addr,
                                  s->done_bytes, s->burst_done);

    if (FIELD_EX32(s->ctrl, CTRL, IRQ_EN) && msi_enabled(pdev)) {
        msi_notify(pdev, 0);
    }
    viommu_testdev_update_intx(s);
}

static bool viommu_testdev_cancelled(ViommuTestdevState *s,
                                     const ViommuTestdevCommand *cmd)
{
    /* The DMA thread reads it without the BQL */
    return cmd->epoch != qatomic_read(&s->epoch);
}

static void viommu_testdev_complete(ViommuTestdevState *s,
                                    ViommuTestdevCommand *cmd,
                                    ViommuTestdevResult result)
{
    if (cmd->on_thread) {
        cmd->result = result;
        return;
    }
    if (viommu_testdev_cancelled(s, cmd)) {
        /* The device was reset under the command: it never happened */
        trace_viommu_testdev_cancelled(cmd->opcode, result);
        return;
    }
    s->memtx = cmd->memtx;
    s->fault_addr = cmd->fault_addr;
    s->done_bytes = cmd->done_bytes;
    s->burst_done = cmd->burst_done;
    viommu_testdev_signal(s, cmd->opcode, result);
}

static void viommu_testdev_bad_command(ViommuTestdevState *s,
                                       ViommuTestdevCommand *cmd,
                                       const char *why)
{
    qemu_log_mask(LOG_GUEST_ERROR, "%s: rejected command %u: %s\n",
                  TYPE_VIOMMU_TESTDEV, cmd->opcode, why);
    viommu_testdev_complete(s, cmd, VIOMMU_TESTDEV_RES_BAD_COMMAND);
}

/*
 * Work out the transaction attributes and the PASID of a request.
 * Returns false, with @why set, when the device cannot issue it.
 */
static bool viommu_testdev_request_attrs(ViommuTestdevState *s,
                                         const ViommuTestdevCommand *cmd,
                                         bool for_dma, MemTxAttrs *attrs,
                                         uint32_t *pasid, const char **why)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    *attrs = (MemTxAttrs) {
        .user = !FIELD_EX32(cmd->regs.attr, ATTR, PRIV),
        .secure = FIELD_EX32(cmd->regs.attr, ATTR, SECURE),
        .requester_id = pci_requester_id(pdev),
    };
    *pasid = PCI_NO_PASID;

    if (!FIELD_EX32(cmd->regs.attr, ATTR, PASID_EN)) {
        /*
         * QEMU's memory API has no "PASID valid" bit: its IOMMU models
         * read a request without a PASID as one whose attributes are
         * unspecified, as pci_dma_rw() issues them.  pid 0 alone would be
         * PASID 0.
         */
        attrs->unspecified = true;
        return true;
    }
    if (!s->has_pasid) {
        *why = "PASID_EN set but the device has no PASID capability";
        return false;
    }
    if (!pcie_pasid_enabled(pdev)) {
        *why = "PASID_EN set but the PASID capability is not enabled";
        return false;
    }
    *pasid = FIELD_EX32(cmd->regs.pasid, PASID, PASID);
    if (for_dma) {
        /* The memory API carries fewer PASID bits than PCIe does */
        attrs->pid = *pasid;
        if (attrs->pid != *pasid) {
            *why = "PASID too wide for a DMA access";
            return false;
        }
    }
    return true;
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
 * Move @len bytes between @buf and bus address @addr as a sequence of
 * requests that each stay within one VIOMMU_TESTDEV_REQ_BOUNDARY block.
 * With @buf NULL, write the command's pattern instead, made one request
 * at a time.  Stops at the first request that fails, or when the device
 * has been reset under the command: *@moved counts the bytes of the
 * requests that completed, and *@fail is the bus address of the first
 * request not completed.
 *
 * Each request is looked up once, as a device with an address translation
 * cache would do, and then moved in the address space the lookup names.
 * Handing the whole request to pci_dma_rw() instead would let QEMU's
 * memory core look a refused request up again for every few bytes it
 * could not move, and an IOMMU records a fault for every lookup: one
 * refused transaction must give one fault record, as on real hardware.
 */
static MemTxResult viommu_testdev_dma(ViommuTestdevState *s,
                                      ViommuTestdevCommand *cmd,
                                      uint64_t addr, uint8_t *buf,
                                      uint32_t len, DMADirection dir,
                                      MemTxAttrs attrs, uint32_t *moved,
                                      uint64_t *fail)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    AddressSpace *as = pci_get_address_space(pdev);
    bool is_write = dir == DMA_DIRECTION_FROM_DEVICE;
    IOMMUAccessFlags need = is_write ? IOMMU_WO : IOMMU_RO;
    MemTxResult r = MEMTX_OK;
    uint32_t done = 0;

    RCU_READ_LOCK_GUARD();
    while (done < len && !viommu_testdev_cancelled(s, cmd)) {
        uint64_t cur = addr + done;
        uint32_t room = VIOMMU_TESTDEV_REQ_BOUNDARY -
                        (cur & (VIOMMU_TESTDEV_REQ_BOUNDARY - 1));
        uint32_t chunk = MIN(len - done, room);
        PCIDevice *blocker = viommu_testdev_master_blocker(s);
        IOMMUTLBEntry entry;
        uint64_t offset;

        if (blocker) {
            qemu_log_mask(LOG_GUEST_ERROR, "%s: DMA at 0x%" PRIx64
                          " refused: bus mastering is off in %02x:%02x.%x\n",
                          TYPE_VIOMMU_TESTDEV, cur, pci_dev_bus_num(blocker),
                          PCI_SLOT(blocker->devfn), PCI_FUNC(blocker->devfn));
            trace_viommu_testdev_master_off(cur, pci_dev_bus_num(blocker),
                                            blocker->devfn);
            cmd->master_blocked = true;
            r = MEMTX_DECODE_ERROR;
            break;
        }
        entry = address_space_get_iotlb_entry(as, cur, is_write, attrs);
        if ((entry.perm & need) != need) {
            r = MEMTX_DECODE_ERROR;
            break;
        }
        offset = cur & entry.addr_mask;
        if (entry.addr_mask - offset < chunk - 1) {
            chunk = entry.addr_mask - offset + 1;
        }
        if (buf) {
            r = dma_memory_rw(entry.target_as,
                              entry.translated_addr | offset, buf + done,
                              chunk, dir, attrs);
        } else {
            r = viommu_testdev_write_pattern(entry.target_as,
                                             entry.translated_addr | offset,
                                             cmd->regs.pattern, done, chunk,
                                             attrs);
        }
        if (r != MEMTX_OK) {
            break;
        }
        done += chunk;
    }
    *moved = done;
    *fail = addr + done;
    return r;
}

/*
 * A refused IOMMU lookup and an address nobody decodes both surface as
 * MEMTX_DECODE_ERROR; only the IOMMU itself can tell which one it was,
 * and only one that keeps no record of lookups may be asked.
 */
static ViommuTestdevResult
viommu_testdev_classify_decode_error(ViommuTestdevState *s,
                                     const ViommuTestdevCommand *cmd,
                                     uint64_t addr, bool is_write,
                                     MemTxAttrs attrs)
{
    AddressSpace *as = pci_device_iommu_address_space(PCI_DEVICE(s));
    IOMMUAccessFlags need = is_write ? IOMMU_WO : IOMMU_RO;
    IOMMUMemoryRegionClass *imrc;
    IOMMUMemoryRegion *iommu_mr;
    MemoryRegionSection sec;
    ViommuTestdevResult res;
    IOMMUTLBEntry entry;
    int idx;

    if (cmd->master_blocked) {
        return VIOMMU_TESTDEV_RES_DECODE_ERROR;
    }

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

/* Record a failed request in the outcome and complete with its result */
static void viommu_testdev_dma_failed(ViommuTestdevState *s,
                                      ViommuTestdevCommand *cmd,
                                      MemTxResult r, uint64_t fail,
                                      DMADirection dir, MemTxAttrs attrs)
{
    bool is_write = dir == DMA_DIRECTION_FROM_DEVICE;
    ViommuTestdevResult res;

    cmd->memtx = r;
    cmd->fault_addr = fail;
    trace_viommu_testdev_dma_fault(fail, is_write, r);
    if (r & MEMTX_DECODE_ERROR) {
        res = viommu_testdev_classify_decode_error(s, cmd, fail, is_write,
                                                   attrs);
    } else if (r & MEMTX_ACCESS_ERROR) {
        res = VIOMMU_TESTDEV_RES_ACCESS_ERROR;
    } else {
        res = VIOMMU_TESTDEV_RES_BUS_ERROR;
    }
    viommu_testdev_complete(s, cmd, res);
}

static bool viommu_testdev_range_wraps(uint64_t addr, uint64_t len)
{
    return len && addr + (len - 1) < addr;
}

static void viommu_testdev_cmd_transfer(ViommuTestdevState *s,
                                        ViommuTestdevCommand *cmd)
{
    const char *why = NULL;
    uint32_t pasid, moved;
    MemTxAttrs attrs;
    uint64_t fail;
    MemTxResult r;

    if (cmd->regs.len == 0 || cmd->regs.len > VIOMMU_TESTDEV_BUF_SIZE) {
        viommu_testdev_bad_command(s, cmd, "LEN out of range");
        return;
    }
    if (viommu_testdev_range_wraps(cmd->regs.dma_addr, cmd->regs.len) ||
        (cmd->opcode == VIOMMU_TESTDEV_OP_COPY &&
         viommu_testdev_range_wraps(cmd->regs.dst_addr, cmd->regs.len))) {
        viommu_testdev_bad_command(s, cmd, "transfer wraps around the bus "
                                   "address space");
        return;
    }
    if (!viommu_testdev_request_attrs(s, cmd, true, &attrs, &pasid, &why)) {
        viommu_testdev_bad_command(s, cmd, why);
        return;
    }

    switch (cmd->opcode) {
    case VIOMMU_TESTDEV_OP_WRITE:
    case VIOMMU_TESTDEV_OP_FILL:
        r = viommu_testdev_dma(s, cmd, cmd->regs.dma_addr,
                               cmd->opcode == VIOMMU_TESTDEV_OP_FILL ?
                               NULL : s->buf,
                               cmd->regs.len, DMA_DIRECTION_FROM_DEVICE, attrs,
                               &moved, &fail);
        cmd->done_bytes = moved;
        if (r != MEMTX_OK) {
            viommu_testdev_dma_failed(s, cmd, r, fail,
                                      DMA_DIRECTION_FROM_DEVICE, attrs);
            return;
        }
        break;

    case VIOMMU_TESTDEV_OP_READ:
    case VIOMMU_TESTDEV_OP_COMPARE:
    case VIOMMU_TESTDEV_OP_COPY:
        r = viommu_testdev_dma(s, cmd, cmd->regs.dma_addr, s->buf,
                               cmd->regs.len, DMA_DIRECTION_TO_DEVICE, attrs,
                               &moved, &fail);
        cmd->done_bytes = moved;
        if (r != MEMTX_OK) {
            viommu_testdev_dma_failed(s, cmd, r, fail,
                                      DMA_DIRECTION_TO_DEVICE, attrs);
            return;
        }
        if (viommu_testdev_cancelled(s, cmd)) {
            break;
        }
        if (cmd->opcode == VIOMMU_TESTDEV_OP_COMPARE) {
            for (uint32_t i = 0; i < cmd->regs.len; i++) {
                uint8_t want = viommu_testdev_pattern_byte(cmd->regs.pattern,
                                                           i);

                if (s->buf[i] != want) {
                    cmd->fault_addr = cmd->regs.dma_addr + i;
                    cmd->done_bytes = i;
                    trace_viommu_testdev_mismatch(cmd->fault_addr, s->buf[i],
                                                  want);
                    viommu_testdev_complete(s, cmd,
                                            VIOMMU_TESTDEV_RES_MISMATCH);
                    return;
                }
            }
        } else if (cmd->opcode == VIOMMU_TESTDEV_OP_COPY) {
            r = viommu_testdev_dma(s, cmd, cmd->regs.dst_addr, s->buf,
                                   cmd->regs.len, DMA_DIRECTION_FROM_DEVICE,
                                   attrs, &moved, &fail);
            cmd->done_bytes = moved;
            if (r != MEMTX_OK) {
                viommu_testdev_dma_failed(s, cmd, r, fail,
                                          DMA_DIRECTION_FROM_DEVICE, attrs);
                return;
            }
        }
        break;

    default:
        g_assert_not_reached();
    }

    viommu_testdev_complete(s, cmd, VIOMMU_TESTDEV_RES_OK);
}

/*
 * The bytes a burst may touch, [DMA_ADDR, DMA_ADDR + reach + LEN), where
 * reach bounds every access's offset: must not wrap past 2^64.
 */
static bool viommu_testdev_burst_wraps(const ViommuTestdevCommand *cmd)
{
    uint64_t reach = 0;

    if (cmd->regs.burst_count) {
        reach = (uint64_t)(cmd->regs.burst_count - 1) * cmd->regs.burst_stride;
    }
    if (cmd->regs.burst_span) {
        reach = MIN(reach, cmd->regs.burst_span - 1);
    }
    return cmd->regs.dma_addr + reach < cmd->regs.dma_addr ||
           viommu_testdev_range_wraps(cmd->regs.dma_addr + reach,
                                      cmd->regs.len);
}

static void viommu_testdev_cmd_burst(ViommuTestdevState *s,
                                     ViommuTestdevCommand *cmd, bool is_write)
{
    DMADirection dir = is_write ? DMA_DIRECTION_FROM_DEVICE :
                                  DMA_DIRECTION_TO_DEVICE;
    const char *why = NULL;
    uint32_t pasid, moved;
    uint64_t total = 0, fail;
    MemTxAttrs attrs;
    MemTxResult r;

    if (cmd->regs.len == 0 || cmd->regs.len > VIOMMU_TESTDEV_BUF_SIZE) {
        viommu_testdev_bad_command(s, cmd, "LEN out of range");
        return;
    }
    if (cmd->regs.burst_count > VIOMMU_TESTDEV_BURST_MAX_COUNT ||
        (uint64_t)cmd->regs.burst_count * cmd->regs.len >
        VIOMMU_TESTDEV_BURST_MAX_BYTES) {
        viommu_testdev_bad_command(s, cmd, "burst too long");
        return;
    }
    if (viommu_testdev_burst_wraps(cmd)) {
        viommu_testdev_bad_command(s, cmd, "burst wraps around the bus "
                                   "address space");
        return;
    }
    if (!viommu_testdev_request_attrs(s, cmd, true, &attrs, &pasid, &why)) {
        viommu_testdev_bad_command(s, cmd, why);
        return;
    }

    for (uint32_t i = 0; i < cmd->regs.burst_count; i++) {
        /* i < 2^20 and the stride < 2^32, so this cannot overflow */
        uint64_t off = (uint64_t)i * cmd->regs.burst_stride;

        if (viommu_testdev_cancelled(s, cmd)) {
            break;
        }
        if (cmd->regs.burst_span) {
            off %= cmd->regs.burst_span;
        }
        r = viommu_testdev_dma(s, cmd, cmd->regs.dma_addr + off, s->buf,
                               cmd->regs.len, dir, attrs, &moved, &fail);
        total += moved;
        if (r != MEMTX_OK) {
            cmd->done_bytes = total;
            viommu_testdev_dma_failed(s, cmd, r, fail, dir, attrs);
            return;
        }
        cmd->burst_done++;
    }
    /* The byte limit above keeps this within 32 bits */
    cmd->done_bytes = total;
    viommu_testdev_complete(s, cmd, VIOMMU_TESTDEV_RES_OK);
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

static void viommu_testdev_cmd_ats(ViommuTestdevState *s,
                                   ViommuTestdevCommand *cmd)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    IOMMUTLBEntry entry = { .perm = IOMMU_NONE };
    uint32_t pasid, err_count = 0;
    const char *why = NULL;
    MemTxAttrs attrs;
    ssize_t n;

    if (!s->has_ats) {
        viommu_testdev_bad_command(s, cmd, "the device has no ATS capability");
        return;
    }
    if (!viommu_testdev_request_attrs(s, cmd, false, &attrs, &pasid, &why)) {
        viommu_testdev_bad_command(s, cmd, why);
        return;
    }

    n = pci_ats_request_translation(pdev, pasid,
                                    FIELD_EX32(cmd->regs.attr, ATTR, PRIV),
                                    FIELD_EX32(cmd->regs.attr, ATTR, EXEC),
                                    cmd->regs.dma_addr, 1, cmd->no_write,
                                    &entry, 1, &err_count);
    trace_viommu_testdev_ats(cmd->regs.dma_addr, pasid, n, err_count,
                             entry.translated_addr, entry.addr_mask,
                             entry.perm);
    if (viommu_testdev_cancelled(s, cmd)) {
        return;
    }
    s->iommu_req_status = viommu_testdev_req_status(n);
    if (n < 1 || err_count || entry.perm == IOMMU_NONE) {
        s->ats_addr = 0;
        s->ats_mask = 0;
        s->ats_perm = 0;
        viommu_testdev_complete(s, cmd, VIOMMU_TESTDEV_RES_ATS_FAILED);
        return;
    }

    s->ats_mask = entry.addr_mask;
    s->ats_addr = (entry.translated_addr & ~entry.addr_mask) |
                  (cmd->regs.dma_addr & entry.addr_mask);
    s->ats_perm = FIELD_DP32(0, ATS_PERM, READ, !!(entry.perm & IOMMU_RO));
    s->ats_perm = FIELD_DP32(s->ats_perm, ATS_PERM, WRITE,
                             !!(entry.perm & IOMMU_WO));
    viommu_testdev_complete(s, cmd, VIOMMU_TESTDEV_RES_OK);
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
    uint32_t code;

    trace_viommu_testdev_pri_response(response->prgi,
                                      response->response_code);
    if (!s->pri_pending || response->prgi != s->pri_prgi) {
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
    s->pri_resp = FIELD_DP32(code, PRI_RESP, VALID, 1);
    s->pri_pending = false;
    viommu_testdev_signal(s, VIOMMU_TESTDEV_OP_PRI_REQUEST,
                          code == VIOMMU_TESTDEV_PRI_SUCCESS ?
                          VIOMMU_TESTDEV_RES_OK :
                          VIOMMU_TESTDEV_RES_PRI_FAILED);
}

static void viommu_testdev_cmd_pri(ViommuTestdevState *s,
                                   ViommuTestdevCommand *cmd)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    const char *why = NULL;
    MemTxAttrs attrs;
    uint32_t pasid;
    uint16_t prgi;
    int ret;

    if (!s->has_pri) {
        viommu_testdev_bad_command(s, cmd, "the device has no PRI capability");
        return;
    }
    if (!viommu_testdev_request_attrs(s, cmd, false, &attrs, &pasid, &why)) {
        viommu_testdev_bad_command(s, cmd, why);
        return;
    }

    s->pri_resp = 0;
    /* A function whose PRI is off sends no page request at all */
    ret = pcie_pri_enabled(pdev) ? viommu_testdev_pri_register(s, pasid) :
                                   -EPERM;
    s->iommu_req_status = viommu_testdev_req_status(ret);
    if (ret) {
        trace_viommu_testdev_pri_request(cmd->regs.dma_addr, pasid, 0, ret);
        viommu_testdev_complete(s, cmd, VIOMMU_TESTDEV_RES_PRI_FAILED);
        return;
    }

    prgi = (s->pri_prgi + 1) & PCI_PRI_PRGI_MASK;
    s->pri_prgi = prgi;
    s->pri_pasid = pasid;
    s->pri_pending = true;
    ret = pci_pri_request_page(pdev, pasid,
                               FIELD_EX32(cmd->regs.attr, ATTR, PRIV),
                               FIELD_EX32(cmd->regs.attr, ATTR, EXEC),
                               cmd->regs.dma_addr & ~(uint64_t)0xfff, true,
                               prgi, true, !cmd->no_write);
    trace_viommu_testdev_pri_request(cmd->regs.dma_addr, pasid, prgi, ret);
    if (viommu_testdev_cancelled(s, cmd)) {
        return;
    }
    s->iommu_req_status = viommu_testdev_req_status(ret);
    /* The response may already have arrived from inside the request */
    if (ret && s->pri_pending) {
        s->pri_pending = false;
        viommu_testdev_complete(s, cmd, VIOMMU_TESTDEV_RES_PRI_FAILED);
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

static void viommu_testdev_unwatch(ViommuTestdevState *s)
{
    if (s->watch_mr) {
        memory_region_unregister_iommu_notifier(MEMORY_REGION(s->watch_mr),
                                                &s->watch);
        s->watch_mr = NULL;
    }
}

/*
 * Register an IOMMU notifier on the IOMMU region that DMA_ADDR falls in,
 * for LEN bytes from there (0: to the region's end), with PATTERN's flags.
 */
static void viommu_testdev_cmd_watch(ViommuTestdevState *s,
                                     ViommuTestdevCommand *cmd)
{
    AddressSpace *as = pci_device_iommu_address_space(PCI_DEVICE(s));
    uint64_t addr = cmd->regs.dma_addr;
    IOMMUNotifierFlag flags = 0;
    IOMMUMemoryRegion *iommu_mr;
    MemoryRegionSection sec;
    Error *err = NULL;
    uint64_t last;

    viommu_testdev_unwatch(s);
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
        viommu_testdev_bad_command(s, cmd, "WATCH for no notification");
        return;
    }
    sec = memory_region_find(as->root, addr, 1);
    iommu_mr = sec.mr ? memory_region_get_iommu(sec.mr) : NULL;
    if (!iommu_mr) {
        if (sec.mr) {
            memory_region_unref(sec.mr);
        }
        viommu_testdev_bad_command(s, cmd, "no IOMMU region at DMA_ADDR");
        return;
    }
    last = memory_region_size(sec.mr) - 1;
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
        s->iommu_req_status = VIOMMU_TESTDEV_REQ_ERROR;
        viommu_testdev_complete(s, cmd, VIOMMU_TESTDEV_RES_BAD_COMMAND);
        return;
    }
    s->watch_mr = iommu_mr;
    s->iommu_req_status = VIOMMU_TESTDEV_REQ_ANSWERED;
    viommu_testdev_complete(s, cmd, VIOMMU_TESTDEV_RES_OK);
}

/* The commands the DMA thread runs: those that only move data */
static bool viommu_testdev_async_capable(ViommuTestdevOpcode opcode)
{
    switch (opcode) {
    case VIOMMU_TESTDEV_OP_READ:
    case VIOMMU_TESTDEV_OP_WRITE:
    case VIOMMU_TESTDEV_OP_FILL:
    case VIOMMU_TESTDEV_OP_COMPARE:
    case VIOMMU_TESTDEV_OP_COPY:
    case VIOMMU_TESTDEV_OP_BURST_READ:
    case VIOMMU_TESTDEV_OP_BURST_WRITE:
        return true;
    default:
        return false;
    }
}

static void viommu_testdev_run_data_command(ViommuTestdevState *s,
                                            ViommuTestdevCommand *cmd)
{
    switch (cmd->opcode) {
    case VIOMMU_TESTDEV_OP_BURST_READ:
        viommu_testdev_cmd_burst(s, cmd, false);
        break;
    case VIOMMU_TESTDEV_OP_BURST_WRITE:
        viommu_testdev_cmd_burst(s, cmd, true);
        break;
    default:
        viommu_testdev_cmd_transfer(s, cmd);
        break;
    }
}

static void *viommu_testdev_dma_thread_fn(void *opaque)
{
    ViommuTestdevState *s = opaque;
    ViommuTestdevDmaThread *t = &s->dma_thread;

    rcu_register_thread();
    qemu_mutex_lock(&t->lock);
    for (;;) {
        ViommuTestdevCommand cmd;

        while (!t->queued && !t->quit) {
            qemu_cond_wait(&t->cond, &t->lock);
        }
        if (t->quit) {
            break;
        }
        t->queued = false;
        t->running = true;
        cmd = t->cmd;
        qemu_mutex_unlock(&t->lock);

        viommu_testdev_run_data_command(s, &cmd);

        qemu_mutex_lock(&t->lock);
        t->cmd = cmd;
        t->running = false;
        qemu_cond_broadcast(&t->cond);
        qemu_bh_schedule(t->done_bh);
    }
    qemu_mutex_unlock(&t->lock);
    rcu_unregister_thread();
    return NULL;
}

/* Publish what the DMA thread did, with the BQL.  BQL held. */
static void viommu_testdev_async_done(void *opaque)
{
    ViommuTestdevState *s = opaque;
    ViommuTestdevDmaThread *t = &s->dma_thread;
    ViommuTestdevCommand cmd;

    qemu_mutex_lock(&t->lock);
    if (!t->busy || t->queued || t->running) {
        qemu_mutex_unlock(&t->lock);
        return;
    }
    cmd = t->cmd;
    t->busy = false;
    qemu_mutex_unlock(&t->lock);

    cmd.on_thread = false;
    viommu_testdev_complete(s, &cmd, cmd.result);
}

static void viommu_testdev_async_start(ViommuTestdevState *s,
                                       const ViommuTestdevCommand *cmd)
{
    ViommuTestdevDmaThread *t = &s->dma_thread;

    if (!t->started) {
        qemu_thread_create(&t->thread, "viommu-testdev-dma",
                           viommu_testdev_dma_thread_fn, s,
                           QEMU_THREAD_JOINABLE);
        t->started = true;
    }
    qemu_mutex_lock(&t->lock);
    t->cmd = *cmd;
    t->cmd.on_thread = true;
    t->queued = true;
    t->busy = true;
    qemu_cond_broadcast(&t->cond);
    qemu_mutex_unlock(&t->lock);
}

/*
 * Wait, holding the BQL, until the DMA thread has no command, for at most
 * VIOMMU_TESTDEV_STOP_WAIT_MS; then publish its outcome, so that a saved
 * VM holds no command half done.
 */
static void viommu_testdev_async_drain(ViommuTestdevState *s)
{
    ViommuTestdevDmaThread *t = &s->dma_thread;
    int64_t deadline = qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                       VIOMMU_TESTDEV_STOP_WAIT_MS;
    bool idle;

    if (!t->busy) {
        return;
    }
    qemu_mutex_lock(&t->lock);
    while (t->queued || t->running) {
        int64_t left = deadline - qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

        if (left <= 0) {
            break;
        }
        qemu_cond_timedwait(&t->cond, &t->lock, left);
    }
    idle = !t->queued && !t->running;
    qemu_mutex_unlock(&t->lock);

    if (!idle) {
        s->stop_stalls++;
        qemu_log_mask(LOG_GUEST_ERROR, "%s: an asynchronous command's DMA "
                      "still runs %d ms after the VM was asked to stop\n",
                      TYPE_VIOMMU_TESTDEV, VIOMMU_TESTDEV_STOP_WAIT_MS);
        return;
    }
    qemu_bh_cancel(t->done_bh);
    viommu_testdev_async_done(s);
}

static void viommu_testdev_doorbell(ViommuTestdevState *s)
{
    ViommuTestdevCommand cmd = {
        .regs = s->cmd_regs,
        .opcode = FIELD_EX32(s->cmd_regs.op, OP, OPCODE),
        .no_write = FIELD_EX32(s->cmd_regs.op, OP, NO_WRITE),
        .epoch = s->epoch,
    };

    if (s->pri_pending || s->dma_thread.busy) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: doorbell while busy ignored\n",
                      TYPE_VIOMMU_TESTDEV);
        trace_viommu_testdev_busy(s->cmd_regs.op);
        return;
    }

    trace_viommu_testdev_command(cmd.regs.op, cmd.regs.dma_addr,
                                 cmd.regs.dst_addr, cmd.regs.len,
                                 cmd.regs.attr, cmd.regs.pasid);
    s->memtx = MEMTX_OK;
    s->fault_addr = 0;
    s->done_bytes = 0;
    s->burst_done = 0;

    if (FIELD_EX32(cmd.regs.op, OP, ASYNC)) {
        if (viommu_testdev_async_capable(cmd.opcode)) {
            viommu_testdev_async_start(s, &cmd);
        } else {
            viommu_testdev_bad_command(s, &cmd, "OP.ASYNC with a command "
                                       "that moves no data");
        }
        return;
    }

    switch (cmd.opcode) {
    case VIOMMU_TESTDEV_OP_NOP:
        viommu_testdev_complete(s, &cmd, VIOMMU_TESTDEV_RES_OK);
        break;
    case VIOMMU_TESTDEV_OP_READ:
    case VIOMMU_TESTDEV_OP_WRITE:
    case VIOMMU_TESTDEV_OP_FILL:
    case VIOMMU_TESTDEV_OP_COMPARE:
    case VIOMMU_TESTDEV_OP_COPY:
        viommu_testdev_cmd_transfer(s, &cmd);
        break;
    case VIOMMU_TESTDEV_OP_ATS_TRANSLATE:
        viommu_testdev_cmd_ats(s, &cmd);
        break;
    case VIOMMU_TESTDEV_OP_PRI_REQUEST:
        viommu_testdev_cmd_pri(s, &cmd);
        break;
    case VIOMMU_TESTDEV_OP_BURST_READ:
        viommu_testdev_cmd_burst(s, &cmd, false);
        break;
    case VIOMMU_TESTDEV_OP_BURST_WRITE:
        viommu_testdev_cmd_burst(s, &cmd, true);
        break;
    case VIOMMU_TESTDEV_OP_WATCH:
        viommu_testdev_cmd_watch(s, &cmd);
        break;
    case VIOMMU_TESTDEV_OP_REPLAY:
        if (!s->watch_mr) {
            viommu_testdev_bad_command(s, &cmd, "REPLAY without a WATCH");
            break;
        }
        memory_region_iommu_replay(s->watch_mr, &s->watch);
        viommu_testdev_complete(s, &cmd, VIOMMU_TESTDEV_RES_OK);
        break;
    case VIOMMU_TESTDEV_OP_UNWATCH:
        viommu_testdev_unwatch(s);
        viommu_testdev_complete(s, &cmd, VIOMMU_TESTDEV_RES_OK);
        break;
    default:
        viommu_testdev_bad_command(s, &cmd, "unknown opcode");
        break;
    }
}

static uint32_t viommu_testdev_cap(ViommuTestdevState *s)
{
    uint32_t cap = 0;

    cap = FIELD_DP32(cap, CAP, ATS, s->has_ats);
    cap = FIELD_DP32(cap, CAP, PRI, s->has_pri);
    cap = FIELD_DP32(cap, CAP, PASID, s->has_pasid);
    cap = FIELD_DP32(cap, CAP, SECURE_DMA, s->secure_dma);
    return FIELD_DP32(cap, CAP, BUF_SHIFT, VIOMMU_TESTDEV_BUF_SHIFT);
}

static uint32_t viommu_testdev_status(ViommuTestdevState *s)
{
    uint32_t st = 0;

    st = FIELD_DP32(st, STATUS, BUSY, s->pri_pending || s->dma_thread.busy);
    st = FIELD_DP32(st, STATUS, IRQ, s->irq_pending);
    return FIELD_DP32(st, STATUS, RESULT, s->result);
}

static uint64_t viommu_testdev_regs_read(void *opaque, hwaddr addr,
                                         unsigned size)
{
    ViommuTestdevState *s = opaque;
    uint64_t val;

    switch (addr) {
    case A_ID:
        val = VIOMMU_TESTDEV_ID_VALUE;
        break;
    case A_VERSION:
        val = VIOMMU_TESTDEV_VERSION;
        break;
    case A_CAP:
        val = viommu_testdev_cap(s);
        break;
    case A_CTRL:
        val = s->ctrl;
        break;
    case A_DMA_ADDR_LO:
        val = extract64(s->cmd_regs.dma_addr, 0, 32);
        break;
    case A_DMA_ADDR_HI:
        val = extract64(s->cmd_regs.dma_addr, 32, 32);
        break;
    case A_DST_ADDR_LO:
        val = extract64(s->cmd_regs.dst_addr, 0, 32);
        break;
    case A_DST_ADDR_HI:
        val = extract64(s->cmd_regs.dst_addr, 32, 32);
        break;
    case A_LEN:
        val = s->cmd_regs.len;
        break;
    case A_OP:
        val = s->cmd_regs.op;
        break;
    case A_ATTR:
        val = s->cmd_regs.attr;
        break;
    case A_PASID:
        val = s->cmd_regs.pasid;
        break;
    case A_PATTERN:
        val = s->cmd_regs.pattern;
        break;
    case A_BURST_COUNT:
        val = s->cmd_regs.burst_count;
        break;
    case A_BURST_STRIDE:
        val = s->cmd_regs.burst_stride;
        break;
    case A_BURST_SPAN:
        val = s->cmd_regs.burst_span;
        break;
    case A_STATUS:
        val = viommu_testdev_status(s);
        break;
    case A_MEMTX:
        val = s->memtx;
        break;
    case A_FAULT_ADDR_LO:
        val = extract64(s->fault_addr, 0, 32);
        break;
    case A_FAULT_ADDR_HI:
        val = extract64(s->fault_addr, 32, 32);
        break;
    case A_DONE_BYTES:
        val = s->done_bytes;
        break;
    case A_COMPLETIONS:
        val = s->completions;
        break;
    case A_ATS_ADDR_LO:
        val = extract64(s->ats_addr, 0, 32);
        break;
    case A_ATS_ADDR_HI:
        val = extract64(s->ats_addr, 32, 32);
        break;
    case A_ATS_MASK_LO:
        val = extract64(s->ats_mask, 0, 32);
        break;
    case A_ATS_MASK_HI:
        val = extract64(s->ats_mask, 32, 32);
        break;
    case A_ATS_PERM:
        val = s->ats_perm;
        break;
    case A_PRI_RESP:
        val = s->pri_resp;
        break;
    case A_BURST_DONE:
        val = s->burst_done;
        break;
    case A_BUF_ATTRS:
        val = s->buf_attrs;
        break;
    case A_IOMMU_REQ_STATUS:
        val = s->iommu_req_status;
        break;
    case A_NOTIFY_COUNT:
        val = s->notify_count;
        break;
    case A_STOP_STALLS:
        val = s->stop_stalls;
        break;
    case VIOMMU_TESTDEV_NOTIFY_LOG ...
         VIOMMU_TESTDEV_NOTIFY_LOG +
         VIOMMU_TESTDEV_NOTIFY_LOG_LEN * VIOMMU_TESTDEV_NOTIFY_REC_SIZE - 1: {
        hwaddr off = addr - VIOMMU_TESTDEV_NOTIFY_LOG;
        unsigned slot = off / VIOMMU_TESTDEV_NOTIFY_REC_SIZE;
        uint64_t word = 0;

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
        val = off & 4 ? word >> 32 : (uint32_t)word;
        break;
    }
    default:
        /* DOORBELL, IRQ_ACK and reserved offsets */
        val = 0;
        break;
    }

    trace_viommu_testdev_reg_read(addr, val);
    return val;
}

static void viommu_testdev_regs_write(void *opaque, hwaddr addr,
                                      uint64_t val64, unsigned size)
{
    ViommuTestdevState *s = opaque;
    uint32_t val = val64;

    trace_viommu_testdev_reg_write(addr, val);

    switch (addr) {
    case A_CTRL:
        s->ctrl = val & R_CTRL_IRQ_EN_MASK;
        viommu_testdev_update_intx(s);
        break;
    case A_DMA_ADDR_LO:
        s->cmd_regs.dma_addr = deposit64(s->cmd_regs.dma_addr, 0, 32, val);
        break;
    case A_DMA_ADDR_HI:
        s->cmd_regs.dma_addr = deposit64(s->cmd_regs.dma_addr, 32, 32, val);
        break;
    case A_DST_ADDR_LO:
        s->cmd_regs.dst_addr = deposit64(s->cmd_regs.dst_addr, 0, 32, val);
        break;
    case A_DST_ADDR_HI:
        s->cmd_regs.dst_addr = deposit64(s->cmd_regs.dst_addr, 32, 32, val);
        break;
    case A_LEN:
        s->cmd_regs.len = val;
        break;
    case A_OP:
        s->cmd_regs.op = val & VIOMMU_TESTDEV_OP_MASK;
        break;
    case A_ATTR:
        s->cmd_regs.attr = val & viommu_testdev_attr_mask(s);
        break;
    case A_PASID:
        s->cmd_regs.pasid = val & R_PASID_PASID_MASK;
        break;
    case A_PATTERN:
        s->cmd_regs.pattern = val;
        break;
    case A_BURST_COUNT:
        s->cmd_regs.burst_count = val;
        break;
    case A_BURST_STRIDE:
        s->cmd_regs.burst_stride = val;
        break;
    case A_BURST_SPAN:
        s->cmd_regs.burst_span = val;
        break;
    case A_DOORBELL:
        viommu_testdev_doorbell(s);
        break;
    case A_IRQ_ACK:
        s->irq_pending = false;
        viommu_testdev_update_intx(s);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: write 0x%" PRIx32 " to read-only or reserved "
                      "offset 0x%" HWADDR_PRIx " ignored\n",
                      TYPE_VIOMMU_TESTDEV, val, addr);
        break;
    }
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

    s->buf_attrs = viommu_testdev_buf_attrs(attrs);
    *data = ldn_le_p(s->buf + addr, size);
    return MEMTX_OK;
}

static MemTxResult viommu_testdev_buf_write(void *opaque, hwaddr addr,
                                            uint64_t data, unsigned size,
                                            MemTxAttrs attrs)
{
    ViommuTestdevState *s = opaque;

    s->buf_attrs = viommu_testdev_buf_attrs(attrs);
    stn_le_p(s->buf + addr, size, data);
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
 * A page request that was outstanding when the VM was saved is waited
 * for again once the VM runs: registering the response notifier calls
 * into the IOMMU, which may not have loaded yet while the device loads.
 */
static void viommu_testdev_vm_state_change(void *opaque, bool running,
                                           RunState state)
{
    ViommuTestdevState *s = opaque;

    if (!running) {
        viommu_testdev_async_drain(s);
        return;
    }
    if (!s->pri_rearm) {
        return;
    }
    s->pri_rearm = false;
    /* A registration made before the load may no longer be the IOMMU's */
    viommu_testdev_pri_unregister(s);
    if (s->pri_pending && viommu_testdev_pri_register(s, s->pri_pasid)) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: page request lost in migration\n",
                      TYPE_VIOMMU_TESTDEV);
        s->pri_pending = false;
        viommu_testdev_signal(s, VIOMMU_TESTDEV_OP_PRI_REQUEST,
                              VIOMMU_TESTDEV_RES_PRI_FAILED);
    }
}

static void viommu_testdev_realize(PCIDevice *pdev, Error **errp)
{
    ViommuTestdevState *s = VIOMMU_TESTDEV(pdev);
    uint8_t *conf = pdev->config;
    bool express = pci_bus_is_express(pci_get_bus(pdev));

    if ((s->has_ats || s->has_pri || s->has_pasid) && !express) {
        error_setg(errp, "ats, pri and pasid need the device on a PCIe bus");
        return;
    }
    if (s->has_pri && !s->has_ats) {
        /* PRI requests carry untranslated addresses that ATS resolves */
        error_setg(errp, "pri=on needs ats=on");
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
        if (s->has_ats) {
            pcie_ats_init(pdev, next, true);
            next += PCI_EXT_CAP_ATS_SIZEOF;
        }
        if (s->has_pasid) {
            pcie_pasid_init(pdev, next, VIOMMU_TESTDEV_PASID_WIDTH,
                            true, true);
            next += PCI_EXT_CAP_PASID_SIZEOF;
        }
        if (s->has_pri) {
            pcie_pri_init(pdev, next, VIOMMU_TESTDEV_PRI_OUTSTANDING,
                          s->has_pasid);
        }
    }

    viommu_testdev_find_upstream_bridges(s);
    s->pri_notifier.notify = viommu_testdev_pri_notify;
    qemu_mutex_init(&s->dma_thread.lock);
    qemu_cond_init(&s->dma_thread.cond);
    s->dma_thread.done_bh = qemu_bh_new(viommu_testdev_async_done, s);
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
    if (s->dma_thread.started) {
        qemu_mutex_lock(&s->dma_thread.lock);
        s->dma_thread.quit = true;
        qemu_cond_broadcast(&s->dma_thread.cond);
        qemu_mutex_unlock(&s->dma_thread.lock);
        /* Its DMA may need the BQL, for an MMIO target */
        bql_unlock();
        qemu_thread_join(&s->dma_thread.thread);
        bql_lock();
    }
    qemu_bh_delete(s->dma_thread.done_bh);
    qemu_cond_destroy(&s->dma_thread.cond);
    qemu_mutex_destroy(&s->dma_thread.lock);
    g_free(s->upstream_bridges);
    s->upstream_bridges = NULL;
    viommu_testdev_pri_unregister(s);
    viommu_testdev_unwatch(s);
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

    trace_viommu_testdev_reset(s->pri_pending);
    /* A command that is running now must not complete after the reset */
    qatomic_set(&s->epoch, s->epoch + 1);
    viommu_testdev_pri_unregister(s);
    viommu_testdev_unwatch(s);
    s->notify_count = 0;
    memset(s->notify_log, 0, sizeof(s->notify_log));
    s->pri_pending = false;
    s->pri_pasid = 0;
    s->pri_prgi = 0;

    s->ctrl = 0;
    s->cmd_regs = (ViommuTestdevCommandRegs) { 0 };
    s->result = VIOMMU_TESTDEV_RES_OK;
    s->irq_pending = false;
    s->memtx = MEMTX_OK;
    s->fault_addr = 0;
    s->done_bytes = 0;
    s->completions = 0;
    s->ats_addr = 0;
    s->ats_mask = 0;
    s->ats_perm = 0;
    s->pri_resp = 0;
    s->burst_done = 0;
    s->buf_attrs = 0;
    s->iommu_req_status = 0;
    s->stop_stalls = 0;
    memset(s->buf, 0, sizeof(s->buf));
}

static int viommu_testdev_post_load(void *opaque, int version_id)
{
    ViommuTestdevState *s = opaque;

    if (s->result > VIOMMU_TESTDEV_RES_PRI_FAILED ||
        s->iommu_req_status > VIOMMU_TESTDEV_REQ_ERROR ||
        (s->pri_pending && !s->has_pri)) {
        return -EINVAL;
    }
    s->ctrl &= R_CTRL_IRQ_EN_MASK;
    s->cmd_regs.op &= VIOMMU_TESTDEV_OP_MASK;
    s->cmd_regs.attr &= viommu_testdev_attr_mask(s);
    s->cmd_regs.pasid &= R_PASID_PASID_MASK;
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

    return s->pri_pending;
}

static const VMStateDescription vmstate_viommu_testdev_pri = {
    .name = "viommu-testdev/pri",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = viommu_testdev_pri_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(pri_pending, ViommuTestdevState),
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
        VMSTATE_UINT32(ctrl, ViommuTestdevState),
        VMSTATE_UINT64(cmd_regs.dma_addr, ViommuTestdevState),
        VMSTATE_UINT64(cmd_regs.dst_addr, ViommuTestdevState),
        VMSTATE_UINT32(cmd_regs.len, ViommuTestdevState),
        VMSTATE_UINT32(cmd_regs.op, ViommuTestdevState),
        VMSTATE_UINT32(cmd_regs.attr, ViommuTestdevState),
        VMSTATE_UINT32(cmd_regs.pasid, ViommuTestdevState),
        VMSTATE_UINT32(cmd_regs.pattern, ViommuTestdevState),
        VMSTATE_UINT32(cmd_regs.burst_count, ViommuTestdevState),
        VMSTATE_UINT32(cmd_regs.burst_stride, ViommuTestdevState),
        VMSTATE_UINT32(cmd_regs.burst_span, ViommuTestdevState),
        VMSTATE_UINT8(result, ViommuTestdevState),
        VMSTATE_BOOL(irq_pending, ViommuTestdevState),
        VMSTATE_UINT32(memtx, ViommuTestdevState),
        VMSTATE_UINT64(fault_addr, ViommuTestdevState),
        VMSTATE_UINT32(done_bytes, ViommuTestdevState),
        VMSTATE_UINT32(completions, ViommuTestdevState),
        VMSTATE_UINT64(ats_addr, ViommuTestdevState),
        VMSTATE_UINT64(ats_mask, ViommuTestdevState),
        VMSTATE_UINT32(ats_perm, ViommuTestdevState),
        VMSTATE_UINT32(pri_resp, ViommuTestdevState),
        VMSTATE_UINT32(burst_done, ViommuTestdevState),
        VMSTATE_UINT16(pri_prgi, ViommuTestdevState),
        VMSTATE_BUFFER(buf, ViommuTestdevState),
        VMSTATE_UINT32_V(buf_attrs, ViommuTestdevState, 2),
        VMSTATE_UINT32_V(iommu_req_status, ViommuTestdevState, 2),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_viommu_testdev_pri,
        NULL
    },
};

static const Property viommu_testdev_properties[] = {
    DEFINE_PROP_BOOL("ats", ViommuTestdevState, has_ats, false),
    DEFINE_PROP_BOOL("pri", ViommuTestdevState, has_pri, false),
    DEFINE_PROP_BOOL("pasid", ViommuTestdevState, has_pasid, false),
    DEFINE_PROP_BOOL("secure-dma", ViommuTestdevState, secure_dma, false),
};

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
