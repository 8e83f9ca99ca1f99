/*
 * viommu-testdev's command engine, shared by its two transports
 *
 * The device's registers, data buffer and commands (decoding, transfers
 * cut into requests, bursts, the outcome rules of
 * docs/specs/viommu-testdev.rst, the asynchronous DMA thread) live here
 * once.  A transport gives them a bus: viommu-testdev.c puts the device on
 * QEMU's PCI bus and moves its requests through the memory API;
 * viommu-testdev-vfio-user.c serves the same device to a vfio-user client
 * from a process of its own.  A transport hands each DMA request to its
 * bus through ViommuTestdevCoreOps and raises the interrupt; the engine
 * never sees a PCIDevice or an AddressSpace.
 *
 * Threads: everything here runs in the device's context (with the BQL in
 * QEMU, on the server's main loop out of it), except a command with
 * OP.ASYNC, whose DMA requests run on the engine's DMA thread.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_IOMMU_VIOMMU_TESTDEV_CORE_H
#define HW_IOMMU_VIOMMU_TESTDEV_CORE_H

#include "exec/hwaddr.h"
#include "exec/memattrs.h"
#include "qemu/thread.h"
#include "hw/iommu/viommu-testdev.h"

typedef struct ViommuTestdevCore ViommuTestdevCore;
typedef struct QEMUBH QEMUBH;

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

    /* Outcome, published by viommu_testdev_core_complete() */
    uint32_t memtx;
    uint64_t fault_addr;
    uint32_t done_bytes;
    uint32_t burst_done;
    /* How its requests went (DMA_PATH, DIRECT_REQS, MESSAGE_REQS) */
    ViommuTestdevDmaPath last_path;
    uint32_t direct_reqs;
    uint32_t message_reqs;
    /*
     * Run by the DMA thread (OP.ASYNC): the outcome waits in @result for
     * the bottom half that publishes it in the device's context
     */
    bool on_thread;
    ViommuTestdevResult result;
} ViommuTestdevCommand;

/* What a transport gives the engine */
typedef struct ViommuTestdevCoreOps {
    /*
     * Issue one DMA request of at most @len bytes at bus address @addr,
     * between @buf and the bus (@is_write: from the device), with @attrs.
     * @len never crosses a VIOMMU_TESTDEV_REQ_BOUNDARY.  The request is
     * looked up once; *@moved is what it moved, which may be less than
     * @len when the translation ends first (the engine then issues the
     * rest as a request of its own).  On failure, for MEMTX_DECODE_ERROR,
     * *@fault names what refused it (TRANSLATION_FAULT, PERMISSION_FAULT
     * or DECODE_ERROR).  *@path says how the request went.  Runs in the
     * device's context, or on the DMA thread for OP.ASYNC.
     */
    MemTxResult (*dma)(ViommuTestdevCore *core, uint64_t addr, uint8_t *buf,
                       uint32_t len, bool is_write, MemTxAttrs attrs,
                       uint32_t *moved, ViommuTestdevResult *fault,
                       ViommuTestdevDmaPath *path);
    /* The requester ID the device's requests carry */
    uint16_t (*requester_id)(ViommuTestdevCore *core);
    /* Whether the guest enabled the PASID capability (only asked with one) */
    bool (*pasid_enabled)(ViommuTestdevCore *core);
    /*
     * The registers that drive the interrupt changed: send the MSI if
     * @completed and CTRL.IRQ_EN ask for one, and set the INTx level
     */
    void (*irq_update)(ViommuTestdevCore *core, bool completed);

    /*
     * Optional.  ATS_TRANSLATE and PRI_REQUEST, once the engine found the
     * capability present and the attributes valid; WATCH, REPLAY (false:
     * no watch to replay to) and UNWATCH.  A transport without them
     * answers as a device behind no IOMMU region does.
     */
    void (*ats)(ViommuTestdevCore *core, ViommuTestdevCommand *cmd,
                uint32_t pasid);
    void (*pri)(ViommuTestdevCore *core, ViommuTestdevCommand *cmd,
                uint32_t pasid);
    void (*watch)(ViommuTestdevCore *core, ViommuTestdevCommand *cmd);
    bool (*replay)(ViommuTestdevCore *core);
    void (*unwatch)(ViommuTestdevCore *core);
    /* Optional: registers of the transport's own, in the reserved space */
    bool (*read_reg)(ViommuTestdevCore *core, hwaddr addr, uint32_t *val);
} ViommuTestdevCoreOps;

/*
 * OP.ASYNC runs a command's DMA on a thread of the device's own, outside
 * the device's context, as a dataplane device's does: the IOMMU in front
 * translates it on that thread.
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
    /* Device context: from the doorbell until the bottom half completes it */
    bool busy;
    QEMUBH *done_bh;
} ViommuTestdevDmaThread;

struct ViommuTestdevCore {
    const ViommuTestdevCoreOps *ops;
    void *opaque;               /* the transport's */

    /* Configuration, fixed before the first access */
    bool has_ats;
    bool has_pri;
    bool has_pasid;
    bool secure_dma;
    /*
     * The longest burst taken, 1 .. VIOMMU_TESTDEV_BURST_MAX_COUNT; 0
     * means that maximum.  A fuzzer lowers it: its DMA hook costs time
     * in the accesses already made, so a burst's cost grows with the
     * square of its length there.
     */
    uint32_t burst_max_count;

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
    uint32_t stop_stalls;
    uint32_t dma_path;
    uint32_t direct_reqs;
    uint32_t message_reqs;
    /* A page request is outstanding: STATUS.BUSY */
    bool pri_pending;

    /* Counts resets, so that a command that spans one never completes */
    uint32_t epoch;

    ViommuTestdevDmaThread dma_thread;

    uint8_t buf[VIOMMU_TESTDEV_BUF_SIZE];
};

void viommu_testdev_core_init(ViommuTestdevCore *core,
                              const ViommuTestdevCoreOps *ops, void *opaque);
/* Stop the DMA thread (waiting for its command) and free what init took */
void viommu_testdev_core_finalize(ViommuTestdevCore *core);
/* Every register to its reset value; a running command never completes */
void viommu_testdev_core_reset(ViommuTestdevCore *core);

/* Register accesses: aligned 4 bytes at @addr < VIOMMU_TESTDEV_REGS_SIZE */
uint32_t viommu_testdev_core_reg_read(ViommuTestdevCore *core, hwaddr addr);
void viommu_testdev_core_reg_write(ViommuTestdevCore *core, hwaddr addr,
                                   uint32_t val);

/* STATUS.BUSY: a page request or an asynchronous command is outstanding */
bool viommu_testdev_core_busy(ViommuTestdevCore *core);
/* The ATTR bits the guest may set */
uint32_t viommu_testdev_core_attr_mask(ViommuTestdevCore *core);

/*
 * Wait until the DMA thread has no command, for at most
 * VIOMMU_TESTDEV_STOP_WAIT_MS, then publish its outcome; count a wait
 * that gave up in STOP_STALLS.  For the transport's "stop".
 */
void viommu_testdev_core_drain(ViommuTestdevCore *core);

/* For the transport's ATS, PRI and WATCH commands */
bool viommu_testdev_core_cancelled(ViommuTestdevCore *core,
                                   const ViommuTestdevCommand *cmd);
void viommu_testdev_core_complete(ViommuTestdevCore *core,
                                  ViommuTestdevCommand *cmd,
                                  ViommuTestdevResult result);
void viommu_testdev_core_bad_command(ViommuTestdevCore *core,
                                     ViommuTestdevCommand *cmd,
                                     const char *why);
/* Set RESULT, count the completion and interrupt: for a page response */
void viommu_testdev_core_signal(ViommuTestdevCore *core, uint32_t opcode,
                                ViommuTestdevResult result);

#endif /* HW_IOMMU_VIOMMU_TESTDEV_CORE_H */
