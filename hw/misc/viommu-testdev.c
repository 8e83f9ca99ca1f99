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
#include "hw/misc/viommu-testdev.h"
#include "trace.h"

OBJECT_DECLARE_SIMPLE_TYPE(ViommuTestdevState, VIOMMU_TESTDEV)

/* Extended capability layout when the device sits on a PCIe bus */
#define VT_EXT_ATS_OFFSET       0x100
#define VT_EXT_PASID_OFFSET     (VT_EXT_ATS_OFFSET + PCI_EXT_CAP_ATS_SIZEOF)
#define VT_EXT_PRI_OFFSET       (VT_EXT_PASID_OFFSET + PCI_EXT_CAP_PASID_SIZEOF)
#define VT_PASID_WIDTH          20
#define VT_PRI_OUTSTANDING      1

struct ViommuTestdevState {
    PCIDevice parent_obj;

    MemoryRegion bar;
    MemoryRegion regs;
    MemoryRegion bufmr;

    /* Properties */
    bool has_ats;
    bool has_pri;
    bool has_pasid;

    /* Guest-visible registers */
    uint32_t ctrl;
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

    /* Page request in flight: STATUS.BUSY is pri_pending */
    bool pri_pending;
    uint32_t pri_pasid;
    uint16_t pri_prgi;
    /* Which PASID the notifier is registered for; rebuilt after migration */
    bool pri_registered;
    uint32_t pri_registered_pasid;
    IOMMUPRINotifier pri_notifier;

    uint8_t buf[VIOMMU_TESTDEV_BUF_SIZE];
    /* Staging area for FILL; its contents never outlive a command */
    uint8_t scratch[VIOMMU_TESTDEV_BUF_SIZE];
};

static inline uint8_t vt_pattern_byte(uint32_t seed, uint32_t i)
{
    return (seed + (i >> 2)) >> ((i & 3) * 8);
}

static void vt_update_intx(ViommuTestdevState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    bool level = !msi_enabled(pdev) && s->irq_pending &&
                 FIELD_EX32(s->ctrl, CTRL, IRQ_EN);

    pci_set_irq(pdev, level);
}

static void vt_complete(ViommuTestdevState *s, ViommuTestdevResult result)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    s->result = result;
    s->completions++;
    s->irq_pending = true;
    trace_viommu_testdev_complete(FIELD_EX32(s->op, OP, OPCODE), result,
                                  s->memtx, s->fault_addr, s->done_bytes,
                                  s->burst_done);

    if (FIELD_EX32(s->ctrl, CTRL, IRQ_EN) && msi_enabled(pdev)) {
        msi_notify(pdev, 0);
    }
    vt_update_intx(s);
}

static void vt_bad_command(ViommuTestdevState *s, const char *why)
{
    qemu_log_mask(LOG_GUEST_ERROR, "%s: rejected command 0x%x: %s\n",
                  TYPE_VIOMMU_TESTDEV, s->op, why);
    vt_complete(s, VIOMMU_TESTDEV_RES_BAD_COMMAND);
}

/*
 * Work out the transaction attributes and the PASID of a request from
 * ATTR and PASID.  Returns false, with @why set, when the device cannot
 * issue such a request.
 */
static bool vt_request_attrs(ViommuTestdevState *s, bool for_dma,
                             MemTxAttrs *attrs, uint32_t *pasid,
                             const char **why)
{
    PCIDevice *pdev = PCI_DEVICE(s);

    *attrs = (MemTxAttrs) {
        .user = !FIELD_EX32(s->attr, ATTR, PRIV),
        .secure = FIELD_EX32(s->attr, ATTR, SECURE),
        .requester_id = pci_requester_id(pdev),
    };
    *pasid = PCI_NO_PASID;

    if (!FIELD_EX32(s->attr, ATTR, PASID_EN)) {
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
    *pasid = FIELD_EX32(s->pasid, PASID, PASID);
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
 * Move @len bytes between @buf and bus address @addr as a sequence of
 * requests that each stay within one VIOMMU_TESTDEV_REQ_BOUNDARY block.
 * Stops at the first request that fails: *@moved counts the bytes of the
 * requests that completed and *@fail is the bus address of the failing one.
 *
 * Each request is looked up once, as a device with an address translation
 * cache would do, and then moved in the address space the lookup names.
 * Handing the whole request to pci_dma_rw() instead would let QEMU's
 * memory core look a refused request up again for every few bytes it
 * could not move, and an IOMMU records a fault for every lookup: one
 * refused transaction must give one fault record, as on real hardware.
 */
static MemTxResult vt_dma(ViommuTestdevState *s, uint64_t addr, uint8_t *buf,
                          uint32_t len, DMADirection dir, MemTxAttrs attrs,
                          uint32_t *moved, uint64_t *fail)
{
    AddressSpace *as = pci_get_address_space(PCI_DEVICE(s));
    bool is_write = dir == DMA_DIRECTION_FROM_DEVICE;
    IOMMUAccessFlags need = is_write ? IOMMU_WO : IOMMU_RO;
    uint32_t done = 0;

    RCU_READ_LOCK_GUARD();
    while (done < len) {
        uint64_t cur = addr + done;
        uint32_t room = VIOMMU_TESTDEV_REQ_BOUNDARY -
                        (cur & (VIOMMU_TESTDEV_REQ_BOUNDARY - 1));
        uint32_t chunk = MIN(len - done, room);
        IOMMUTLBEntry entry;
        MemTxResult r;

        entry = address_space_get_iotlb_entry(as, cur, is_write, attrs);
        if ((entry.perm & need) != need) {
            r = MEMTX_DECODE_ERROR;
        } else {
            uint64_t offset = cur & entry.addr_mask;

            if (entry.addr_mask - offset < chunk - 1) {
                chunk = entry.addr_mask - offset + 1;
            }
            r = dma_memory_rw(entry.target_as,
                              entry.translated_addr | offset,
                              buf + done, chunk, dir, attrs);
        }
        if (r != MEMTX_OK) {
            *moved = done;
            *fail = cur;
            return r;
        }
        done += chunk;
    }
    *moved = done;
    return MEMTX_OK;
}

/*
 * A refused IOMMU lookup and an address nobody decodes both surface as
 * MEMTX_DECODE_ERROR; only the IOMMU itself can tell which one it was.
 */
static ViommuTestdevResult vt_classify_decode_error(ViommuTestdevState *s,
                                                    uint64_t addr,
                                                    bool is_write,
                                                    MemTxAttrs attrs)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    AddressSpace *as;
    MemoryRegionSection sec;
    IOMMUMemoryRegion *iommu_mr;
    IOMMUMemoryRegionClass *imrc;
    IOMMUTLBEntry entry;
    IOMMUAccessFlags need = is_write ? IOMMU_WO : IOMMU_RO;
    ViommuTestdevResult res;
    int idx;

    if (!(pci_get_word(pdev->config + PCI_COMMAND) & PCI_COMMAND_MASTER)) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: DMA attempted with bus mastering disabled\n",
                      TYPE_VIOMMU_TESTDEV);
        return VIOMMU_TESTDEV_RES_DECODE_ERROR;
    }

    as = pci_device_iommu_address_space(pdev);
    sec = memory_region_find(as->root, addr, 1);
    if (!sec.mr) {
        return VIOMMU_TESTDEV_RES_DECODE_ERROR;
    }
    iommu_mr = memory_region_get_iommu(sec.mr);
    if (!iommu_mr) {
        memory_region_unref(sec.mr);
        return VIOMMU_TESTDEV_RES_DECODE_ERROR;
    }

    /*
     * Models that record a fault for every refused lookup (upstream
     * SMMUv3, VT-d, virtio-iommu, RISC-V) must not be asked: that would
     * put records in the guest's fault queues that no DMA caused.
     */
    if (!iommu_lookup_is_side_effect_free(iommu_mr)) {
        trace_viommu_testdev_no_peek(addr, object_get_typename(
                                               OBJECT(iommu_mr)));
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

static ViommuTestdevResult vt_classify(ViommuTestdevState *s, uint64_t addr,
                                       bool is_write, MemTxAttrs attrs,
                                       MemTxResult r)
{
    if (r & MEMTX_DECODE_ERROR) {
        return vt_classify_decode_error(s, addr, is_write, attrs);
    }
    if (r & MEMTX_ACCESS_ERROR) {
        return VIOMMU_TESTDEV_RES_ACCESS_ERROR;
    }
    return VIOMMU_TESTDEV_RES_BUS_ERROR;
}

/* Record a failed transfer in MEMTX/FAULT_ADDR and pick its result code */
static ViommuTestdevResult vt_dma_failed(ViommuTestdevState *s,
                                         MemTxResult r, uint64_t fail,
                                         DMADirection dir, MemTxAttrs attrs)
{
    bool is_write = dir == DMA_DIRECTION_FROM_DEVICE;

    s->memtx = r;
    s->fault_addr = fail;
    trace_viommu_testdev_dma_fault(fail, is_write, r);
    return vt_classify(s, fail, is_write, attrs, r);
}

static bool vt_range_wraps(uint64_t addr, uint32_t len)
{
    return addr + len - 1 < addr;
}

static void vt_cmd_transfer(ViommuTestdevState *s, ViommuTestdevOpcode cmd)
{
    DMADirection dir;
    MemTxAttrs attrs;
    uint32_t pasid, moved;
    uint64_t fail;
    const char *why = NULL;
    uint8_t *src;
    MemTxResult r;

    if (s->len == 0 || s->len > VIOMMU_TESTDEV_BUF_SIZE) {
        vt_bad_command(s, "LEN out of range");
        return;
    }
    if (vt_range_wraps(s->dma_addr, s->len) ||
        (cmd == VIOMMU_TESTDEV_OP_COPY &&
         vt_range_wraps(s->dst_addr, s->len))) {
        vt_bad_command(s, "transfer wraps around the bus address space");
        return;
    }
    if (!vt_request_attrs(s, true, &attrs, &pasid, &why)) {
        vt_bad_command(s, why);
        return;
    }

    switch (cmd) {
    case VIOMMU_TESTDEV_OP_WRITE:
    case VIOMMU_TESTDEV_OP_FILL:
        dir = DMA_DIRECTION_FROM_DEVICE;
        src = s->buf;
        if (cmd == VIOMMU_TESTDEV_OP_FILL) {
            for (uint32_t i = 0; i < s->len; i++) {
                s->scratch[i] = vt_pattern_byte(s->pattern, i);
            }
            src = s->scratch;
        }
        r = vt_dma(s, s->dma_addr, src, s->len, dir, attrs, &moved, &fail);
        s->done_bytes = moved;
        if (r != MEMTX_OK) {
            vt_complete(s, vt_dma_failed(s, r, fail, dir, attrs));
            return;
        }
        break;

    case VIOMMU_TESTDEV_OP_READ:
    case VIOMMU_TESTDEV_OP_COMPARE:
    case VIOMMU_TESTDEV_OP_COPY:
        dir = DMA_DIRECTION_TO_DEVICE;
        r = vt_dma(s, s->dma_addr, s->buf, s->len, dir, attrs, &moved, &fail);
        s->done_bytes = moved;
        if (r != MEMTX_OK) {
            vt_complete(s, vt_dma_failed(s, r, fail, dir, attrs));
            return;
        }
        if (cmd == VIOMMU_TESTDEV_OP_COMPARE) {
            for (uint32_t i = 0; i < s->len; i++) {
                if (s->buf[i] != vt_pattern_byte(s->pattern, i)) {
                    s->fault_addr = s->dma_addr + i;
                    s->done_bytes = i;
                    trace_viommu_testdev_mismatch(s->fault_addr, s->buf[i],
                                            vt_pattern_byte(s->pattern, i));
                    vt_complete(s, VIOMMU_TESTDEV_RES_MISMATCH);
                    return;
                }
            }
        } else if (cmd == VIOMMU_TESTDEV_OP_COPY) {
            dir = DMA_DIRECTION_FROM_DEVICE;
            r = vt_dma(s, s->dst_addr, s->buf, s->len, dir, attrs, &moved,
                       &fail);
            s->done_bytes = moved;
            if (r != MEMTX_OK) {
                vt_complete(s, vt_dma_failed(s, r, fail, dir, attrs));
                return;
            }
        }
        break;

    default:
        g_assert_not_reached();
    }

    vt_complete(s, VIOMMU_TESTDEV_RES_OK);
}

static void vt_cmd_burst(ViommuTestdevState *s, bool is_write)
{
    DMADirection dir = is_write ? DMA_DIRECTION_FROM_DEVICE :
                                  DMA_DIRECTION_TO_DEVICE;
    MemTxAttrs attrs;
    uint32_t pasid, moved;
    uint64_t total = 0, fail;
    const char *why = NULL;
    MemTxResult r;

    if (s->len == 0 || s->len > VIOMMU_TESTDEV_BUF_SIZE) {
        vt_bad_command(s, "LEN out of range");
        return;
    }
    if (s->burst_count > VIOMMU_TESTDEV_BURST_MAX_COUNT ||
        (uint64_t)s->burst_count * s->len > VIOMMU_TESTDEV_BURST_MAX_BYTES) {
        vt_bad_command(s, "burst too long");
        return;
    }
    if (!vt_request_attrs(s, true, &attrs, &pasid, &why)) {
        vt_bad_command(s, why);
        return;
    }

    for (uint32_t i = 0; i < s->burst_count; i++) {
        /* i < 2^20 and the stride < 2^32, so this cannot overflow */
        uint64_t off = (uint64_t)i * s->burst_stride;
        uint64_t addr;

        if (s->burst_span) {
            off %= s->burst_span;
        }
        addr = s->dma_addr + off;
        if (vt_range_wraps(addr, s->len)) {
            s->fault_addr = addr;
            s->done_bytes = total;
            vt_bad_command(s, "burst access wraps around the bus address "
                           "space");
            return;
        }
        r = vt_dma(s, addr, s->buf, s->len, dir, attrs, &moved, &fail);
        total += moved;
        if (r != MEMTX_OK) {
            s->done_bytes = total;
            vt_complete(s, vt_dma_failed(s, r, fail, dir, attrs));
            return;
        }
        s->burst_done++;
    }
    /* The byte limit above keeps this within 32 bits */
    s->done_bytes = total;
    vt_complete(s, VIOMMU_TESTDEV_RES_OK);
}

static void vt_cmd_ats(ViommuTestdevState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    IOMMUTLBEntry entry = { .perm = IOMMU_NONE };
    MemTxAttrs attrs;
    uint32_t pasid, err_count = 0;
    const char *why = NULL;
    ssize_t n;

    if (!s->has_ats) {
        vt_bad_command(s, "the device has no ATS capability");
        return;
    }
    if (!vt_request_attrs(s, false, &attrs, &pasid, &why)) {
        vt_bad_command(s, why);
        return;
    }

    s->ats_addr = 0;
    s->ats_mask = 0;
    s->ats_perm = 0;
    n = pci_ats_request_translation(pdev, pasid,
                                    FIELD_EX32(s->attr, ATTR, PRIV),
                                    FIELD_EX32(s->attr, ATTR, EXEC),
                                    s->dma_addr, 1,
                                    FIELD_EX32(s->op, OP, NO_WRITE),
                                    &entry, 1, &err_count);
    trace_viommu_testdev_ats(s->dma_addr, pasid, n, err_count,
                             entry.translated_addr, entry.addr_mask,
                             entry.perm);
    if (n < 1 || err_count || entry.perm == IOMMU_NONE) {
        vt_complete(s, VIOMMU_TESTDEV_RES_ATS_FAILED);
        return;
    }

    s->ats_mask = entry.addr_mask;
    s->ats_addr = (entry.translated_addr & ~entry.addr_mask) |
                  (s->dma_addr & entry.addr_mask);
    s->ats_perm = FIELD_DP32(0, ATS_PERM, READ, !!(entry.perm & IOMMU_RO));
    s->ats_perm = FIELD_DP32(s->ats_perm, ATS_PERM, WRITE,
                             !!(entry.perm & IOMMU_WO));
    vt_complete(s, VIOMMU_TESTDEV_RES_OK);
}

static void vt_pri_unregister(ViommuTestdevState *s)
{
    if (s->pri_registered) {
        pci_pri_unregister_notifier(PCI_DEVICE(s), s->pri_registered_pasid);
        s->pri_registered = false;
    }
}

static int vt_pri_register(ViommuTestdevState *s, uint32_t pasid)
{
    int ret;

    if (s->pri_registered && s->pri_registered_pasid == pasid) {
        return 0;
    }
    vt_pri_unregister(s);
    ret = pci_pri_register_notifier(PCI_DEVICE(s), pasid, &s->pri_notifier);
    if (ret == 0) {
        s->pri_registered = true;
        s->pri_registered_pasid = pasid;
    }
    return ret;
}

static void vt_pri_notify(IOMMUPRINotifier *notifier,
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
    vt_complete(s, code == VIOMMU_TESTDEV_PRI_SUCCESS ?
                   VIOMMU_TESTDEV_RES_OK : VIOMMU_TESTDEV_RES_PRI_FAILED);
}

static void vt_cmd_pri(ViommuTestdevState *s)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    MemTxAttrs attrs;
    uint32_t pasid;
    uint16_t prgi;
    const char *why = NULL;
    int ret;

    if (!s->has_pri) {
        vt_bad_command(s, "the device has no PRI capability");
        return;
    }
    if (!vt_request_attrs(s, false, &attrs, &pasid, &why)) {
        vt_bad_command(s, why);
        return;
    }

    s->pri_resp = 0;
    ret = vt_pri_register(s, pasid);
    if (ret) {
        trace_viommu_testdev_pri_request(s->dma_addr, pasid, 0, ret);
        vt_complete(s, VIOMMU_TESTDEV_RES_PRI_FAILED);
        return;
    }

    prgi = (s->pri_prgi + 1) & PCI_PRI_PRGI_MASK;
    s->pri_prgi = prgi;
    s->pri_pasid = pasid;
    s->pri_pending = true;
    ret = pci_pri_request_page(pdev, pasid, FIELD_EX32(s->attr, ATTR, PRIV),
                               FIELD_EX32(s->attr, ATTR, EXEC),
                               s->dma_addr & ~(uint64_t)0xfff, true, prgi,
                               true, !FIELD_EX32(s->op, OP, NO_WRITE));
    trace_viommu_testdev_pri_request(s->dma_addr, pasid, prgi, ret);
    /* The response may already have arrived from inside the request */
    if (ret && s->pri_pending) {
        s->pri_pending = false;
        vt_complete(s, VIOMMU_TESTDEV_RES_PRI_FAILED);
    }
}

static void vt_doorbell(ViommuTestdevState *s)
{
    ViommuTestdevOpcode cmd = FIELD_EX32(s->op, OP, OPCODE);

    if (s->pri_pending) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: doorbell while busy ignored\n",
                      TYPE_VIOMMU_TESTDEV);
        trace_viommu_testdev_busy(s->op);
        return;
    }

    trace_viommu_testdev_command(s->op, s->dma_addr, s->dst_addr, s->len,
                                 s->attr, s->pasid);
    s->memtx = MEMTX_OK;
    s->fault_addr = 0;
    s->done_bytes = 0;
    s->burst_done = 0;

    switch (cmd) {
    case VIOMMU_TESTDEV_OP_NOP:
        vt_complete(s, VIOMMU_TESTDEV_RES_OK);
        break;
    case VIOMMU_TESTDEV_OP_READ:
    case VIOMMU_TESTDEV_OP_WRITE:
    case VIOMMU_TESTDEV_OP_FILL:
    case VIOMMU_TESTDEV_OP_COMPARE:
    case VIOMMU_TESTDEV_OP_COPY:
        vt_cmd_transfer(s, cmd);
        break;
    case VIOMMU_TESTDEV_OP_ATS_TRANSLATE:
        vt_cmd_ats(s);
        break;
    case VIOMMU_TESTDEV_OP_PRI_REQUEST:
        vt_cmd_pri(s);
        break;
    case VIOMMU_TESTDEV_OP_BURST_READ:
        vt_cmd_burst(s, false);
        break;
    case VIOMMU_TESTDEV_OP_BURST_WRITE:
        vt_cmd_burst(s, true);
        break;
    default:
        vt_bad_command(s, "unknown opcode");
        break;
    }
}

static uint32_t vt_cap(ViommuTestdevState *s)
{
    uint32_t cap = 0;

    cap = FIELD_DP32(cap, CAP, ATS, s->has_ats);
    cap = FIELD_DP32(cap, CAP, PRI, s->has_pri);
    cap = FIELD_DP32(cap, CAP, PASID, s->has_pasid);
    return FIELD_DP32(cap, CAP, BUF_SHIFT, VIOMMU_TESTDEV_BUF_SHIFT);
}

static uint32_t vt_status(ViommuTestdevState *s)
{
    uint32_t st = 0;

    st = FIELD_DP32(st, STATUS, BUSY, s->pri_pending);
    st = FIELD_DP32(st, STATUS, IRQ, s->irq_pending);
    return FIELD_DP32(st, STATUS, RESULT, s->result);
}

static uint64_t vt_regs_read(void *opaque, hwaddr addr, unsigned size)
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
        val = vt_cap(s);
        break;
    case A_CTRL:
        val = s->ctrl;
        break;
    case A_DMA_ADDR_LO:
        val = extract64(s->dma_addr, 0, 32);
        break;
    case A_DMA_ADDR_HI:
        val = extract64(s->dma_addr, 32, 32);
        break;
    case A_DST_ADDR_LO:
        val = extract64(s->dst_addr, 0, 32);
        break;
    case A_DST_ADDR_HI:
        val = extract64(s->dst_addr, 32, 32);
        break;
    case A_LEN:
        val = s->len;
        break;
    case A_OP:
        val = s->op;
        break;
    case A_ATTR:
        val = s->attr;
        break;
    case A_PASID:
        val = s->pasid;
        break;
    case A_PATTERN:
        val = s->pattern;
        break;
    case A_BURST_COUNT:
        val = s->burst_count;
        break;
    case A_BURST_STRIDE:
        val = s->burst_stride;
        break;
    case A_BURST_SPAN:
        val = s->burst_span;
        break;
    case A_STATUS:
        val = vt_status(s);
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
    default:
        /* DOORBELL, IRQ_ACK and reserved offsets */
        val = 0;
        break;
    }

    trace_viommu_testdev_reg_read(addr, val);
    return val;
}

static void vt_regs_write(void *opaque, hwaddr addr, uint64_t val64,
                          unsigned size)
{
    ViommuTestdevState *s = opaque;
    uint32_t val = val64;

    trace_viommu_testdev_reg_write(addr, val);

    switch (addr) {
    case A_CTRL:
        s->ctrl = val & R_CTRL_IRQ_EN_MASK;
        vt_update_intx(s);
        break;
    case A_DMA_ADDR_LO:
        s->dma_addr = deposit64(s->dma_addr, 0, 32, val);
        break;
    case A_DMA_ADDR_HI:
        s->dma_addr = deposit64(s->dma_addr, 32, 32, val);
        break;
    case A_DST_ADDR_LO:
        s->dst_addr = deposit64(s->dst_addr, 0, 32, val);
        break;
    case A_DST_ADDR_HI:
        s->dst_addr = deposit64(s->dst_addr, 32, 32, val);
        break;
    case A_LEN:
        s->len = val;
        break;
    case A_OP:
        s->op = val & VIOMMU_TESTDEV_OP_MASK;
        break;
    case A_ATTR:
        s->attr = val & VIOMMU_TESTDEV_ATTR_MASK;
        break;
    case A_PASID:
        s->pasid = val & R_PASID_PASID_MASK;
        break;
    case A_PATTERN:
        s->pattern = val;
        break;
    case A_BURST_COUNT:
        s->burst_count = val;
        break;
    case A_BURST_STRIDE:
        s->burst_stride = val;
        break;
    case A_BURST_SPAN:
        s->burst_span = val;
        break;
    case A_DOORBELL:
        vt_doorbell(s);
        break;
    case A_IRQ_ACK:
        s->irq_pending = false;
        vt_update_intx(s);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: write 0x%" PRIx32 " to read-only or reserved "
                      "offset 0x%" HWADDR_PRIx " ignored\n",
                      TYPE_VIOMMU_TESTDEV, val, addr);
        break;
    }
}

static const MemoryRegionOps vt_regs_ops = {
    .read = vt_regs_read,
    .write = vt_regs_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 4,
    .valid.max_access_size = 8,
    /* The core splits 8-byte accesses into halves, the low one first */
    .impl.min_access_size = 4,
    .impl.max_access_size = 4,
};

static uint64_t vt_buf_read(void *opaque, hwaddr addr, unsigned size)
{
    ViommuTestdevState *s = opaque;

    return ldn_le_p(s->buf + addr, size);
}

static void vt_buf_write(void *opaque, hwaddr addr, uint64_t val,
                         unsigned size)
{
    ViommuTestdevState *s = opaque;

    stn_le_p(s->buf + addr, size, val);
}

static const MemoryRegionOps vt_buf_ops = {
    .read = vt_buf_read,
    .write = vt_buf_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 1,
    .valid.max_access_size = 8,
    .impl.min_access_size = 1,
    .impl.max_access_size = 8,
};

static void vt_realize(PCIDevice *pdev, Error **errp)
{
    ERRP_GUARD();
    ViommuTestdevState *s = VIOMMU_TESTDEV(pdev);
    uint8_t *conf = pdev->config;
    bool express = pci_bus_is_express(pci_get_bus(pdev));
    int ret;

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

    ret = msi_init(pdev, 0, 1, true, false, errp);
    if (ret == -ENOTSUP) {
        /* No MSI controller on this machine: INTx still works */
        error_free(*errp);
        *errp = NULL;
    } else if (ret) {
        return;
    }

    if (express) {
        ret = pcie_endpoint_cap_init(pdev, 0);
        if (ret < 0) {
            error_setg(errp, "cannot add the PCIe capability");
            msi_uninit(pdev);
            return;
        }
        if (s->has_ats) {
            pcie_ats_init(pdev, VT_EXT_ATS_OFFSET, true);
        }
        if (s->has_pasid) {
            pcie_pasid_init(pdev, VT_EXT_PASID_OFFSET, VT_PASID_WIDTH,
                            true, true);
        }
        if (s->has_pri) {
            pcie_pri_init(pdev, VT_EXT_PRI_OFFSET, VT_PRI_OUTSTANDING,
                          s->has_pasid);
        }
    }

    s->pri_notifier.notify = vt_pri_notify;

    memory_region_init(&s->bar, OBJECT(s), "viommu-testdev-bar0",
                       VIOMMU_TESTDEV_BAR_SIZE);
    memory_region_init_io(&s->regs, OBJECT(s), &vt_regs_ops, s,
                          "viommu-testdev-regs", VIOMMU_TESTDEV_REGS_SIZE);
    memory_region_init_io(&s->bufmr, OBJECT(s), &vt_buf_ops, s,
                          "viommu-testdev-buf", VIOMMU_TESTDEV_BUF_SIZE);
    memory_region_add_subregion(&s->bar, 0, &s->regs);
    memory_region_add_subregion(&s->bar, VIOMMU_TESTDEV_BUF_OFFSET,
                                &s->bufmr);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar);
}

static void vt_exit(PCIDevice *pdev)
{
    ViommuTestdevState *s = VIOMMU_TESTDEV(pdev);

    vt_pri_unregister(s);
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
static void vt_instance_init(Object *obj)
{
    PCI_DEVICE(obj)->cap_present |= QEMU_PCI_CAP_EXPRESS;
}

static void vt_reset_hold(Object *obj, ResetType type)
{
    ViommuTestdevState *s = VIOMMU_TESTDEV(obj);

    trace_viommu_testdev_reset(s->pri_pending);
    vt_pri_unregister(s);
    s->pri_pending = false;
    s->pri_pasid = 0;
    s->pri_prgi = 0;

    s->ctrl = 0;
    s->dma_addr = 0;
    s->dst_addr = 0;
    s->len = 0;
    s->op = 0;
    s->attr = 0;
    s->pasid = 0;
    s->pattern = 0;
    s->burst_count = 0;
    s->burst_stride = 0;
    s->burst_span = 0;
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
    memset(s->buf, 0, sizeof(s->buf));
    pci_set_irq(PCI_DEVICE(s), 0);
}

static int vt_post_load(void *opaque, int version_id)
{
    ViommuTestdevState *s = opaque;

    if (s->result > VIOMMU_TESTDEV_RES_PRI_FAILED) {
        return -EINVAL;
    }
    s->ctrl &= R_CTRL_IRQ_EN_MASK;
    s->op &= VIOMMU_TESTDEV_OP_MASK;
    s->attr &= VIOMMU_TESTDEV_ATTR_MASK;
    s->pasid &= R_PASID_PASID_MASK;
    s->pri_prgi &= PCI_PRI_PRGI_MASK;

    /* The IOMMU forgot our notifier: only our side knows it is waiting */
    s->pri_registered = false;
    if (s->pri_pending && vt_pri_register(s, s->pri_pasid)) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: page request lost in migration\n",
                      TYPE_VIOMMU_TESTDEV);
        s->pri_pending = false;
        s->result = VIOMMU_TESTDEV_RES_PRI_FAILED;
        s->completions++;
        s->irq_pending = true;
    }
    return 0;
}

static bool vt_pri_needed(void *opaque)
{
    ViommuTestdevState *s = opaque;

    return s->pri_pending;
}

static const VMStateDescription vmstate_vt_pri = {
    .name = "viommu-testdev/pri",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = vt_pri_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(pri_pending, ViommuTestdevState),
        VMSTATE_UINT32(pri_pasid, ViommuTestdevState),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_vt = {
    .name = TYPE_VIOMMU_TESTDEV,
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = vt_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, ViommuTestdevState),
        VMSTATE_UINT32(ctrl, ViommuTestdevState),
        VMSTATE_UINT64(dma_addr, ViommuTestdevState),
        VMSTATE_UINT64(dst_addr, ViommuTestdevState),
        VMSTATE_UINT32(len, ViommuTestdevState),
        VMSTATE_UINT32(op, ViommuTestdevState),
        VMSTATE_UINT32(attr, ViommuTestdevState),
        VMSTATE_UINT32(pasid, ViommuTestdevState),
        VMSTATE_UINT32(pattern, ViommuTestdevState),
        VMSTATE_UINT32(burst_count, ViommuTestdevState),
        VMSTATE_UINT32(burst_stride, ViommuTestdevState),
        VMSTATE_UINT32(burst_span, ViommuTestdevState),
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
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_vt_pri,
        NULL
    },
};

static const Property vt_properties[] = {
    DEFINE_PROP_BOOL("ats", ViommuTestdevState, has_ats, false),
    DEFINE_PROP_BOOL("pri", ViommuTestdevState, has_pri, false),
    DEFINE_PROP_BOOL("pasid", ViommuTestdevState, has_pasid, false),
};

static void vt_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = vt_realize;
    k->exit = vt_exit;
    k->vendor_id = VIOMMU_TESTDEV_VENDOR_ID;
    k->device_id = VIOMMU_TESTDEV_DEVICE_ID;
    k->revision = VIOMMU_TESTDEV_VERSION;
    k->class_id = PCI_CLASS_OTHERS;
    rc->phases.hold = vt_reset_hold;
    dc->vmsd = &vmstate_vt;
    dc->desc = "DMA test device for IOMMU models";
    device_class_set_props(dc, vt_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo vt_types[] = {
    {
        .name = TYPE_VIOMMU_TESTDEV,
        .parent = TYPE_PCI_DEVICE,
        .instance_size = sizeof(ViommuTestdevState),
        .instance_init = vt_instance_init,
        .class_init = vt_class_init,
        .interfaces = (const InterfaceInfo[]) {
            { INTERFACE_PCIE_DEVICE },
            { INTERFACE_CONVENTIONAL_PCI_DEVICE },
            { },
        },
    },
};

DEFINE_TYPES(vt_types)
