/*
 * viommu-testdev's command engine: registers, buffer, commands and their
 * outcome rules, shared by the in-QEMU device and the out-of-process one.
 * See include/hw/iommu/viommu-testdev-core.h and
 * docs/specs/viommu-testdev.rst.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitops.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "hw/iommu/viommu-testdev-core.h"
#include "trace.h"

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

uint32_t viommu_testdev_core_attr_mask(ViommuTestdevCore *core)
{
    uint32_t mask = VIOMMU_TESTDEV_ATTR_MASK;

    /* Secure-world DMA is the machine's to grant, not the guest's */
    if (!core->secure_dma) {
        mask &= ~R_ATTR_SECURE_MASK;
    }
    return mask;
}

bool viommu_testdev_core_busy(ViommuTestdevCore *core)
{
    return core->pri_pending || core->dma_thread.busy;
}

void viommu_testdev_core_signal(ViommuTestdevCore *core, uint32_t opcode,
                                ViommuTestdevResult result)
{
    core->result = result;
    core->completions++;
    core->irq_pending = true;
    trace_viommu_testdev_complete(opcode, result, core->memtx,
                                  core->fault_addr, core->done_bytes,
                                  core->burst_done);
    core->ops->irq_update(core, true);
}

bool viommu_testdev_core_cancelled(ViommuTestdevCore *core,
                                   const ViommuTestdevCommand *cmd)
{
    /* The DMA thread reads it outside the device's context */
    return cmd->epoch != qatomic_read(&core->epoch);
}

void viommu_testdev_core_complete(ViommuTestdevCore *core,
                                  ViommuTestdevCommand *cmd,
                                  ViommuTestdevResult result)
{
    if (cmd->on_thread) {
        cmd->result = result;
        return;
    }
    if (viommu_testdev_core_cancelled(core, cmd)) {
        /* The device was reset under the command: it never happened */
        trace_viommu_testdev_cancelled(cmd->opcode, result);
        return;
    }
    core->memtx = cmd->memtx;
    core->fault_addr = cmd->fault_addr;
    core->done_bytes = cmd->done_bytes;
    core->burst_done = cmd->burst_done;
    core->dma_path = FIELD_DP32(0, DMA_PATH, LAST, cmd->last_path);
    core->direct_reqs = cmd->direct_reqs;
    core->message_reqs = cmd->message_reqs;
    viommu_testdev_core_signal(core, cmd->opcode, result);
}

void viommu_testdev_core_bad_command(ViommuTestdevCore *core,
                                     ViommuTestdevCommand *cmd,
                                     const char *why)
{
    qemu_log_mask(LOG_GUEST_ERROR, "%s: rejected command %u: %s\n",
                  TYPE_VIOMMU_TESTDEV, cmd->opcode, why);
    viommu_testdev_core_complete(core, cmd, VIOMMU_TESTDEV_RES_BAD_COMMAND);
}

/*
 * Work out the transaction attributes and the PASID of a request.
 * Returns false, with @why set, when the device cannot issue it.
 */
static bool viommu_testdev_request_attrs(ViommuTestdevCore *core,
                                         const ViommuTestdevCommand *cmd,
                                         bool for_dma, MemTxAttrs *attrs,
                                         uint32_t *pasid, const char **why)
{
    *attrs = (MemTxAttrs) {
        .user = !FIELD_EX32(cmd->regs.attr, ATTR, PRIV),
        .secure = FIELD_EX32(cmd->regs.attr, ATTR, SECURE),
        .requester_id = core->ops->requester_id(core),
    };
    *pasid = VIOMMU_TESTDEV_NO_PASID;

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
    if (!core->has_pasid) {
        *why = "PASID_EN set but the device has no PASID capability";
        return false;
    }
    if (!core->ops->pasid_enabled(core)) {
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

static void viommu_testdev_count_path(ViommuTestdevCommand *cmd,
                                      ViommuTestdevDmaPath path)
{
    cmd->last_path = path;
    if (path == VIOMMU_TESTDEV_PATH_DIRECT) {
        cmd->direct_reqs++;
    } else if (path == VIOMMU_TESTDEV_PATH_MESSAGE) {
        cmd->message_reqs++;
    }
}

/*
 * Move @len bytes between @buf and bus address @addr as a sequence of
 * requests that each stay within one VIOMMU_TESTDEV_REQ_BOUNDARY block.
 * With @buf NULL, write the command's pattern instead, made one request
 * at a time.  Stops at the first request that fails, or when the device
 * has been reset under the command: *@moved counts the bytes of the
 * requests that completed, *@fail is the bus address of the first request
 * not completed and, for a decode error, *@fault what refused it.
 *
 * Each request is looked up once by the transport, as a device with an
 * address translation cache would do: one refused transaction must give
 * one fault record, as on real hardware.
 */
static MemTxResult viommu_testdev_dma(ViommuTestdevCore *core,
                                      ViommuTestdevCommand *cmd,
                                      uint64_t addr, uint8_t *buf,
                                      uint32_t len, bool is_write,
                                      MemTxAttrs attrs, uint32_t *moved,
                                      uint64_t *fail,
                                      ViommuTestdevResult *fault)
{
    /*
     * A FILL's share of the pattern, one request at a time.  It lives
     * here rather than on the stack: QEMU builds with
     * -ftrivial-auto-var-init=zero, which would clear it for every call.
     */
    static __thread uint8_t piece[VIOMMU_TESTDEV_REQ_BOUNDARY];
    MemTxResult r = MEMTX_OK;
    uint32_t done = 0;

    while (done < len && !viommu_testdev_core_cancelled(core, cmd)) {
        uint64_t cur = addr + done;
        uint32_t room = VIOMMU_TESTDEV_REQ_BOUNDARY -
                        (cur & (VIOMMU_TESTDEV_REQ_BOUNDARY - 1));
        uint32_t chunk = MIN(len - done, room);
        ViommuTestdevDmaPath path = VIOMMU_TESTDEV_PATH_NONE;
        uint8_t *data = buf ? buf + done : piece;
        uint32_t n = 0;

        if (!buf) {
            viommu_testdev_pattern(cmd->regs.pattern, done, piece, chunk);
        }
        r = core->ops->dma(core, cur, data, chunk, is_write, attrs, &n,
                           fault, &path);
        viommu_testdev_count_path(cmd, path);
        if (r != MEMTX_OK) {
            break;
        }
        done += n;
    }
    *moved = done;
    *fail = addr + done;
    return r;
}

/* Record a failed request in the outcome and complete with its result */
static void viommu_testdev_dma_failed(ViommuTestdevCore *core,
                                      ViommuTestdevCommand *cmd,
                                      MemTxResult r, uint64_t fail,
                                      bool is_write, ViommuTestdevResult fault)
{
    ViommuTestdevResult res;

    cmd->memtx = r;
    cmd->fault_addr = fail;
    trace_viommu_testdev_dma_fault(fail, is_write, r);
    if (r & MEMTX_DECODE_ERROR) {
        res = fault;
    } else if (r & MEMTX_ACCESS_ERROR) {
        res = VIOMMU_TESTDEV_RES_ACCESS_ERROR;
    } else {
        res = VIOMMU_TESTDEV_RES_BUS_ERROR;
    }
    viommu_testdev_core_complete(core, cmd, res);
}

static bool viommu_testdev_range_wraps(uint64_t addr, uint64_t len)
{
    return len && addr + (len - 1) < addr;
}

static void viommu_testdev_cmd_transfer(ViommuTestdevCore *core,
                                        ViommuTestdevCommand *cmd)
{
    ViommuTestdevResult fault = VIOMMU_TESTDEV_RES_DECODE_ERROR;
    const char *why = NULL;
    uint32_t pasid, moved;
    MemTxAttrs attrs;
    uint64_t fail;
    MemTxResult r;

    if (cmd->regs.len == 0 || cmd->regs.len > VIOMMU_TESTDEV_BUF_SIZE) {
        viommu_testdev_core_bad_command(core, cmd, "LEN out of range");
        return;
    }
    if (viommu_testdev_range_wraps(cmd->regs.dma_addr, cmd->regs.len) ||
        (cmd->opcode == VIOMMU_TESTDEV_OP_COPY &&
         viommu_testdev_range_wraps(cmd->regs.dst_addr, cmd->regs.len))) {
        viommu_testdev_core_bad_command(core, cmd, "transfer wraps around "
                                        "the bus address space");
        return;
    }
    if (!viommu_testdev_request_attrs(core, cmd, true, &attrs, &pasid, &why)) {
        viommu_testdev_core_bad_command(core, cmd, why);
        return;
    }

    switch (cmd->opcode) {
    case VIOMMU_TESTDEV_OP_WRITE:
    case VIOMMU_TESTDEV_OP_FILL:
        r = viommu_testdev_dma(core, cmd, cmd->regs.dma_addr,
                               cmd->opcode == VIOMMU_TESTDEV_OP_FILL ?
                               NULL : core->buf,
                               cmd->regs.len, true, attrs, &moved, &fail,
                               &fault);
        cmd->done_bytes = moved;
        if (r != MEMTX_OK) {
            viommu_testdev_dma_failed(core, cmd, r, fail, true, fault);
            return;
        }
        break;

    case VIOMMU_TESTDEV_OP_READ:
    case VIOMMU_TESTDEV_OP_COMPARE:
    case VIOMMU_TESTDEV_OP_COPY:
        r = viommu_testdev_dma(core, cmd, cmd->regs.dma_addr, core->buf,
                               cmd->regs.len, false, attrs, &moved, &fail,
                               &fault);
        cmd->done_bytes = moved;
        if (r != MEMTX_OK) {
            viommu_testdev_dma_failed(core, cmd, r, fail, false, fault);
            return;
        }
        if (viommu_testdev_core_cancelled(core, cmd)) {
            break;
        }
        if (cmd->opcode == VIOMMU_TESTDEV_OP_COMPARE) {
            for (uint32_t i = 0; i < cmd->regs.len; i++) {
                uint8_t want = viommu_testdev_pattern_byte(cmd->regs.pattern,
                                                           i);

                if (core->buf[i] != want) {
                    cmd->fault_addr = cmd->regs.dma_addr + i;
                    cmd->done_bytes = i;
                    trace_viommu_testdev_mismatch(cmd->fault_addr,
                                                  core->buf[i], want);
                    viommu_testdev_core_complete(core, cmd,
                                                 VIOMMU_TESTDEV_RES_MISMATCH);
                    return;
                }
            }
        } else if (cmd->opcode == VIOMMU_TESTDEV_OP_COPY) {
            r = viommu_testdev_dma(core, cmd, cmd->regs.dst_addr, core->buf,
                                   cmd->regs.len, true, attrs, &moved, &fail,
                                   &fault);
            cmd->done_bytes = moved;
            if (r != MEMTX_OK) {
                viommu_testdev_dma_failed(core, cmd, r, fail, true, fault);
                return;
            }
        }
        break;

    default:
        g_assert_not_reached();
    }

    viommu_testdev_core_complete(core, cmd, VIOMMU_TESTDEV_RES_OK);
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

static void viommu_testdev_cmd_burst(ViommuTestdevCore *core,
                                     ViommuTestdevCommand *cmd, bool is_write)
{
    ViommuTestdevResult fault = VIOMMU_TESTDEV_RES_DECODE_ERROR;
    const char *why = NULL;
    uint32_t pasid, moved;
    uint64_t total = 0, fail;
    MemTxAttrs attrs;
    MemTxResult r;

    if (cmd->regs.len == 0 || cmd->regs.len > VIOMMU_TESTDEV_BUF_SIZE) {
        viommu_testdev_core_bad_command(core, cmd, "LEN out of range");
        return;
    }
    if (cmd->regs.burst_count > (core->burst_max_count ?:
                                 VIOMMU_TESTDEV_BURST_MAX_COUNT) ||
        (uint64_t)cmd->regs.burst_count * cmd->regs.len >
        VIOMMU_TESTDEV_BURST_MAX_BYTES) {
        viommu_testdev_core_bad_command(core, cmd, "burst too long");
        return;
    }
    if (viommu_testdev_burst_wraps(cmd)) {
        viommu_testdev_core_bad_command(core, cmd, "burst wraps around the "
                                        "bus address space");
        return;
    }
    if (!viommu_testdev_request_attrs(core, cmd, true, &attrs, &pasid, &why)) {
        viommu_testdev_core_bad_command(core, cmd, why);
        return;
    }

    for (uint32_t i = 0; i < cmd->regs.burst_count; i++) {
        /* i < 2^20 and the stride < 2^32, so this cannot overflow */
        uint64_t off = (uint64_t)i * cmd->regs.burst_stride;

        if (viommu_testdev_core_cancelled(core, cmd)) {
            break;
        }
        if (cmd->regs.burst_span) {
            off %= cmd->regs.burst_span;
        }
        r = viommu_testdev_dma(core, cmd, cmd->regs.dma_addr + off, core->buf,
                               cmd->regs.len, is_write, attrs, &moved, &fail,
                               &fault);
        total += moved;
        if (r != MEMTX_OK) {
            cmd->done_bytes = total;
            viommu_testdev_dma_failed(core, cmd, r, fail, is_write, fault);
            return;
        }
        cmd->burst_done++;
    }
    /* The byte limit above keeps this within 32 bits */
    cmd->done_bytes = total;
    viommu_testdev_core_complete(core, cmd, VIOMMU_TESTDEV_RES_OK);
}

static void viommu_testdev_cmd_ats(ViommuTestdevCore *core,
                                   ViommuTestdevCommand *cmd)
{
    const char *why = NULL;
    MemTxAttrs attrs;
    uint32_t pasid;

    if (!core->has_ats || !core->ops->ats) {
        viommu_testdev_core_bad_command(core, cmd,
                                        "the device has no ATS capability");
        return;
    }
    if (!viommu_testdev_request_attrs(core, cmd, false, &attrs, &pasid,
                                      &why)) {
        viommu_testdev_core_bad_command(core, cmd, why);
        return;
    }
    core->ops->ats(core, cmd, pasid);
}

static void viommu_testdev_cmd_pri(ViommuTestdevCore *core,
                                   ViommuTestdevCommand *cmd)
{
    const char *why = NULL;
    MemTxAttrs attrs;
    uint32_t pasid;

    if (!core->has_pri || !core->ops->pri) {
        viommu_testdev_core_bad_command(core, cmd,
                                        "the device has no PRI capability");
        return;
    }
    if (!viommu_testdev_request_attrs(core, cmd, false, &attrs, &pasid,
                                      &why)) {
        viommu_testdev_core_bad_command(core, cmd, why);
        return;
    }
    core->ops->pri(core, cmd, pasid);
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

static void viommu_testdev_run_data_command(ViommuTestdevCore *core,
                                            ViommuTestdevCommand *cmd)
{
    switch (cmd->opcode) {
    case VIOMMU_TESTDEV_OP_BURST_READ:
        viommu_testdev_cmd_burst(core, cmd, false);
        break;
    case VIOMMU_TESTDEV_OP_BURST_WRITE:
        viommu_testdev_cmd_burst(core, cmd, true);
        break;
    default:
        viommu_testdev_cmd_transfer(core, cmd);
        break;
    }
}

static void *viommu_testdev_dma_thread_fn(void *opaque)
{
    ViommuTestdevCore *core = opaque;
    ViommuTestdevDmaThread *t = &core->dma_thread;

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

        viommu_testdev_run_data_command(core, &cmd);

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

/* Publish what the DMA thread did, in the device's context */
static void viommu_testdev_async_done(void *opaque)
{
    ViommuTestdevCore *core = opaque;
    ViommuTestdevDmaThread *t = &core->dma_thread;
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
    viommu_testdev_core_complete(core, &cmd, cmd.result);
}

static void viommu_testdev_async_start(ViommuTestdevCore *core,
                                       const ViommuTestdevCommand *cmd)
{
    ViommuTestdevDmaThread *t = &core->dma_thread;

    if (!t->started) {
        qemu_thread_create(&t->thread, "viommu-testdev-dma",
                           viommu_testdev_dma_thread_fn, core,
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

void viommu_testdev_core_drain(ViommuTestdevCore *core)
{
    ViommuTestdevDmaThread *t = &core->dma_thread;
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
        core->stop_stalls++;
        qemu_log_mask(LOG_GUEST_ERROR, "%s: an asynchronous command's DMA "
                      "still runs %d ms after the VM was asked to stop\n",
                      TYPE_VIOMMU_TESTDEV, VIOMMU_TESTDEV_STOP_WAIT_MS);
        return;
    }
    qemu_bh_cancel(t->done_bh);
    viommu_testdev_async_done(core);
}

static void viommu_testdev_doorbell(ViommuTestdevCore *core)
{
    ViommuTestdevCommand cmd = {
        .regs = core->cmd_regs,
        .opcode = FIELD_EX32(core->cmd_regs.op, OP, OPCODE),
        .no_write = FIELD_EX32(core->cmd_regs.op, OP, NO_WRITE),
        .epoch = core->epoch,
    };

    if (viommu_testdev_core_busy(core)) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: doorbell while busy ignored\n",
                      TYPE_VIOMMU_TESTDEV);
        trace_viommu_testdev_busy(core->cmd_regs.op);
        return;
    }

    trace_viommu_testdev_command(cmd.regs.op, cmd.regs.dma_addr,
                                 cmd.regs.dst_addr, cmd.regs.len,
                                 cmd.regs.attr, cmd.regs.pasid);
    core->memtx = MEMTX_OK;
    core->fault_addr = 0;
    core->done_bytes = 0;
    core->burst_done = 0;
    core->dma_path = 0;
    core->direct_reqs = 0;
    core->message_reqs = 0;

    if (FIELD_EX32(cmd.regs.op, OP, ASYNC)) {
        if (viommu_testdev_async_capable(cmd.opcode)) {
            viommu_testdev_async_start(core, &cmd);
        } else {
            viommu_testdev_core_bad_command(core, &cmd, "OP.ASYNC with a "
                                            "command that moves no data");
        }
        return;
    }

    switch (cmd.opcode) {
    case VIOMMU_TESTDEV_OP_NOP:
        viommu_testdev_core_complete(core, &cmd, VIOMMU_TESTDEV_RES_OK);
        break;
    case VIOMMU_TESTDEV_OP_READ:
    case VIOMMU_TESTDEV_OP_WRITE:
    case VIOMMU_TESTDEV_OP_FILL:
    case VIOMMU_TESTDEV_OP_COMPARE:
    case VIOMMU_TESTDEV_OP_COPY:
    case VIOMMU_TESTDEV_OP_BURST_READ:
    case VIOMMU_TESTDEV_OP_BURST_WRITE:
        viommu_testdev_run_data_command(core, &cmd);
        break;
    case VIOMMU_TESTDEV_OP_ATS_TRANSLATE:
        viommu_testdev_cmd_ats(core, &cmd);
        break;
    case VIOMMU_TESTDEV_OP_PRI_REQUEST:
        viommu_testdev_cmd_pri(core, &cmd);
        break;
    case VIOMMU_TESTDEV_OP_WATCH:
        if (!core->ops->watch) {
            viommu_testdev_core_bad_command(core, &cmd,
                                            "no IOMMU region at DMA_ADDR");
            break;
        }
        core->ops->watch(core, &cmd);
        break;
    case VIOMMU_TESTDEV_OP_REPLAY:
        if (!core->ops->replay || !core->ops->replay(core)) {
            viommu_testdev_core_bad_command(core, &cmd,
                                            "REPLAY without a WATCH");
            break;
        }
        viommu_testdev_core_complete(core, &cmd, VIOMMU_TESTDEV_RES_OK);
        break;
    case VIOMMU_TESTDEV_OP_UNWATCH:
        if (core->ops->unwatch) {
            core->ops->unwatch(core);
        }
        viommu_testdev_core_complete(core, &cmd, VIOMMU_TESTDEV_RES_OK);
        break;
    default:
        viommu_testdev_core_bad_command(core, &cmd, "unknown opcode");
        break;
    }
}

static uint32_t viommu_testdev_cap(ViommuTestdevCore *core)
{
    uint32_t cap = 0;

    cap = FIELD_DP32(cap, CAP, ATS, core->has_ats);
    cap = FIELD_DP32(cap, CAP, PRI, core->has_pri);
    cap = FIELD_DP32(cap, CAP, PASID, core->has_pasid);
    cap = FIELD_DP32(cap, CAP, SECURE_DMA, core->secure_dma);
    return FIELD_DP32(cap, CAP, BUF_SHIFT, VIOMMU_TESTDEV_BUF_SHIFT);
}

static uint32_t viommu_testdev_status(ViommuTestdevCore *core)
{
    uint32_t st = 0;

    st = FIELD_DP32(st, STATUS, BUSY, viommu_testdev_core_busy(core));
    st = FIELD_DP32(st, STATUS, IRQ, core->irq_pending);
    return FIELD_DP32(st, STATUS, RESULT, core->result);
}

uint32_t viommu_testdev_core_reg_read(ViommuTestdevCore *core, hwaddr addr)
{
    uint32_t val;

    switch (addr) {
    case A_ID:
        val = VIOMMU_TESTDEV_ID_VALUE;
        break;
    case A_VERSION:
        val = VIOMMU_TESTDEV_VERSION;
        break;
    case A_CAP:
        val = viommu_testdev_cap(core);
        break;
    case A_CTRL:
        val = core->ctrl;
        break;
    case A_DMA_ADDR_LO:
        val = extract64(core->cmd_regs.dma_addr, 0, 32);
        break;
    case A_DMA_ADDR_HI:
        val = extract64(core->cmd_regs.dma_addr, 32, 32);
        break;
    case A_DST_ADDR_LO:
        val = extract64(core->cmd_regs.dst_addr, 0, 32);
        break;
    case A_DST_ADDR_HI:
        val = extract64(core->cmd_regs.dst_addr, 32, 32);
        break;
    case A_LEN:
        val = core->cmd_regs.len;
        break;
    case A_OP:
        val = core->cmd_regs.op;
        break;
    case A_ATTR:
        val = core->cmd_regs.attr;
        break;
    case A_PASID:
        val = core->cmd_regs.pasid;
        break;
    case A_PATTERN:
        val = core->cmd_regs.pattern;
        break;
    case A_BURST_COUNT:
        val = core->cmd_regs.burst_count;
        break;
    case A_BURST_STRIDE:
        val = core->cmd_regs.burst_stride;
        break;
    case A_BURST_SPAN:
        val = core->cmd_regs.burst_span;
        break;
    case A_STATUS:
        val = viommu_testdev_status(core);
        break;
    case A_MEMTX:
        val = core->memtx;
        break;
    case A_FAULT_ADDR_LO:
        val = extract64(core->fault_addr, 0, 32);
        break;
    case A_FAULT_ADDR_HI:
        val = extract64(core->fault_addr, 32, 32);
        break;
    case A_DONE_BYTES:
        val = core->done_bytes;
        break;
    case A_COMPLETIONS:
        val = core->completions;
        break;
    case A_ATS_ADDR_LO:
        val = extract64(core->ats_addr, 0, 32);
        break;
    case A_ATS_ADDR_HI:
        val = extract64(core->ats_addr, 32, 32);
        break;
    case A_ATS_MASK_LO:
        val = extract64(core->ats_mask, 0, 32);
        break;
    case A_ATS_MASK_HI:
        val = extract64(core->ats_mask, 32, 32);
        break;
    case A_ATS_PERM:
        val = core->ats_perm;
        break;
    case A_PRI_RESP:
        val = core->pri_resp;
        break;
    case A_BURST_DONE:
        val = core->burst_done;
        break;
    case A_BUF_ATTRS:
        val = core->buf_attrs;
        break;
    case A_IOMMU_REQ_STATUS:
        val = core->iommu_req_status;
        break;
    case A_STOP_STALLS:
        val = core->stop_stalls;
        break;
    case A_DMA_PATH:
        val = core->dma_path;
        break;
    case A_DIRECT_REQS:
        val = core->direct_reqs;
        break;
    case A_MESSAGE_REQS:
        val = core->message_reqs;
        break;
    default:
        /* The transport's own registers; DOORBELL, IRQ_ACK, reserved: 0 */
        if (!core->ops->read_reg || !core->ops->read_reg(core, addr, &val)) {
            val = 0;
        }
        break;
    }

    trace_viommu_testdev_reg_read(addr, val);
    return val;
}

void viommu_testdev_core_reg_write(ViommuTestdevCore *core, hwaddr addr,
                                   uint32_t val)
{
    trace_viommu_testdev_reg_write(addr, val);

    switch (addr) {
    case A_CTRL:
        core->ctrl = val & R_CTRL_IRQ_EN_MASK;
        core->ops->irq_update(core, false);
        break;
    case A_DMA_ADDR_LO:
        core->cmd_regs.dma_addr = deposit64(core->cmd_regs.dma_addr, 0, 32,
                                            val);
        break;
    case A_DMA_ADDR_HI:
        core->cmd_regs.dma_addr = deposit64(core->cmd_regs.dma_addr, 32, 32,
                                            val);
        break;
    case A_DST_ADDR_LO:
        core->cmd_regs.dst_addr = deposit64(core->cmd_regs.dst_addr, 0, 32,
                                            val);
        break;
    case A_DST_ADDR_HI:
        core->cmd_regs.dst_addr = deposit64(core->cmd_regs.dst_addr, 32, 32,
                                            val);
        break;
    case A_LEN:
        core->cmd_regs.len = val;
        break;
    case A_OP:
        core->cmd_regs.op = val & VIOMMU_TESTDEV_OP_MASK;
        break;
    case A_ATTR:
        core->cmd_regs.attr = val & viommu_testdev_core_attr_mask(core);
        break;
    case A_PASID:
        core->cmd_regs.pasid = val & R_PASID_PASID_MASK;
        break;
    case A_PATTERN:
        core->cmd_regs.pattern = val;
        break;
    case A_BURST_COUNT:
        core->cmd_regs.burst_count = val;
        break;
    case A_BURST_STRIDE:
        core->cmd_regs.burst_stride = val;
        break;
    case A_BURST_SPAN:
        core->cmd_regs.burst_span = val;
        break;
    case A_DOORBELL:
        viommu_testdev_doorbell(core);
        break;
    case A_IRQ_ACK:
        core->irq_pending = false;
        core->ops->irq_update(core, false);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "%s: write 0x%" PRIx32 " to read-only or reserved "
                      "offset 0x%" HWADDR_PRIx " ignored\n",
                      TYPE_VIOMMU_TESTDEV, val, addr);
        break;
    }
}

void viommu_testdev_core_reset(ViommuTestdevCore *core)
{
    /* A command that is running now must not complete after the reset */
    qatomic_set(&core->epoch, core->epoch + 1);
    core->pri_pending = false;
    core->ctrl = 0;
    core->cmd_regs = (ViommuTestdevCommandRegs) { 0 };
    core->result = VIOMMU_TESTDEV_RES_OK;
    core->irq_pending = false;
    core->memtx = MEMTX_OK;
    core->fault_addr = 0;
    core->done_bytes = 0;
    core->completions = 0;
    core->ats_addr = 0;
    core->ats_mask = 0;
    core->ats_perm = 0;
    core->pri_resp = 0;
    core->burst_done = 0;
    core->buf_attrs = 0;
    core->iommu_req_status = 0;
    core->stop_stalls = 0;
    core->dma_path = 0;
    core->direct_reqs = 0;
    core->message_reqs = 0;
    memset(core->buf, 0, sizeof(core->buf));
}

void viommu_testdev_core_init(ViommuTestdevCore *core,
                              const ViommuTestdevCoreOps *ops, void *opaque)
{
    core->ops = ops;
    core->opaque = opaque;
    qemu_mutex_init(&core->dma_thread.lock);
    qemu_cond_init(&core->dma_thread.cond);
    core->dma_thread.done_bh = qemu_bh_new(viommu_testdev_async_done, core);
}

void viommu_testdev_core_finalize(ViommuTestdevCore *core)
{
    ViommuTestdevDmaThread *t = &core->dma_thread;

    if (t->started) {
        qemu_mutex_lock(&t->lock);
        t->quit = true;
        qemu_cond_broadcast(&t->cond);
        qemu_mutex_unlock(&t->lock);
        qemu_thread_join(&t->thread);
        t->started = false;
    }
    qemu_bh_delete(t->done_bh);
    qemu_cond_destroy(&t->cond);
    qemu_mutex_destroy(&t->lock);
}
