/*
 * Arm SMMUv3: the event queue, global errors and interrupts
 *
 * Event records are written where they arise, from any thread, with the
 * model's mutex held: the queue must be in RAM (a write elsewhere is an
 * abort, GERROR.EVENTQ_ABT_ERR), so recording never waits for anything.
 * The interrupts that records and global errors raise are only noted in
 * irq_pending, and signalled once the mutex is released: at once when the
 * thread holds the BQL, else from a bottom half, since an MSI write or a
 * wired interrupt goes to another device (the GIC), which needs the BQL.
 * While the VM is stopped they stay pending, and are migrated; they are
 * signalled when it runs again.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/bswap.h"
#include "system/address-spaces.h"
#include "system/runstate.h"
#include "hw/irq.h"
#include "smmuv3-internal.h"
#include "trace.h"

uint32_t smmuv3_queue_log2size(uint64_t base, unsigned max)
{
    return MIN(SMMU_Q_BASE_LOG2SIZE(base), max);
}

/*
 * This SMMU has both wired interrupts and MSIs: an interrupt pulses its
 * wired line, and also writes its MSI when the MSI's address is not 0
 * (the address then goes out truncated to the OAS)
 */
bool smmuv3_signal(SMMUv3State *s, SMMUv3Irq irq, const SMMUv3MsiCfg *msi)
{
    uint64_t addr = msi->addr & SMMU_MSI_ADDR_MASK;
    MemTxResult r;

    trace_smmuv3_irq(irq);
    qemu_irq_pulse(s->irq[irq]);
    if (!FIELD_EX32(s->idr[0], IDR0, MSI) || !addr) {
        return true;
    }
    addr &= MAKE_64BIT_MASK(0, s->oas);
    address_space_stl_le(&address_space_memory, addr, msi->data,
                         MEMTXATTRS_UNSPECIFIED, &r);
    trace_smmuv3_msi(irq, addr, msi->data, r);
    return r == MEMTX_OK;
}

/* Toggle GERROR bits that are not active; mutex held */
static uint32_t gerror_toggle(SMMUv3State *s, uint32_t bits)
{
    /* A bit toggles only when the previous error was acknowledged */
    uint32_t toggle = bits & ~(s->gerror ^ s->gerrorn);

    s->gerror ^= toggle;
    if (toggle) {
        trace_smmuv3_gerror(s->gerror, s->gerrorn);
    }
    return toggle;
}

void smmuv3_gerror_raise(SMMUv3State *s, uint32_t bits)
{
    if (gerror_toggle(s, bits) &&
        FIELD_EX32(s->irq_ctrl, IRQ_CTRL, GERROR_IRQEN)) {
        s->irq_pending |= SMMUV3_PENDING_GERROR;
    }
}

void smmuv3_record_event(SMMUv3State *s, const uint64_t evt[4])
{
    unsigned log2size = smmuv3_queue_log2size(s->eventq.base,
                                              SMMUV3_EVENTQS);
    uint32_t prod = s->eventq.prod, cons = s->eventq.cons;
    uint64_t addr, le[4];

    if (!FIELD_EX32(s->cr[0], CR0, EVENTQEN)) {
        trace_smmuv3_event_dropped(extract64(evt[0], 0, 8), "queue disabled");
        return;
    }
    if ((s->gerror ^ s->gerrorn) & R_GERROR_EVENTQ_ABT_ERR_MASK) {
        /* The queue could not be written: nothing more until acknowledged */
        trace_smmuv3_event_dropped(extract64(evt[0], 0, 8), "queue aborted");
        return;
    }
    if (smmuv3_q_full(prod, cons, log2size)) {
        /*
         * Overflow: the record is lost, and PROD.OVFLG says so until
         * software acknowledges it in CONS.OVACKFLG
         */
        if ((prod & SMMU_Q_OVF) == (cons & SMMU_Q_OVF)) {
            s->eventq.prod = prod ^ SMMU_Q_OVF;
        }
        trace_smmuv3_event_dropped(extract64(evt[0], 0, 8), "queue full");
        return;
    }

    addr = (SMMU_Q_BASE_ADDR(s->eventq.base) +
            (uint64_t)smmuv3_q_index(prod, log2size) * SMMU_EVT_SIZE) &
           MAKE_64BIT_MASK(0, s->oas);
    for (int i = 0; i < 4; i++) {
        le[i] = cpu_to_le64(evt[i]);
    }
    if (!smmuv3_write_ram(addr, le, SMMU_EVT_SIZE)) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: event queue write at 0x%"
                      PRIx64 " is not of RAM\n", addr);
        smmuv3_gerror_raise(s, R_GERROR_EVENTQ_ABT_ERR_MASK);
        return;
    }
    s->eventq.prod = (prod & SMMU_Q_OVF) | smmuv3_q_next(prod, log2size);
    trace_smmuv3_event(extract64(evt[0], 0, 8), extract64(evt[0], 32, 32),
                       evt[2], s->eventq.prod);
    /* The queue's interrupt says it went from empty to not empty */
    if (smmuv3_q_empty(prod, cons, log2size) &&
        FIELD_EX32(s->irq_ctrl, IRQ_CTRL, EVENTQ_IRQEN)) {
        s->irq_pending |= SMMUV3_PENDING_EVENTQ;
    }
}

/*
 * Signal what is pending, as IRQ_CTRL and the MSI registers say now.
 * BQL held, mutex not: an MSI write may reach any device, this one too.
 */
static void irq_deliver(SMMUv3State *s)
{
    /*
     * A failed MSI raises a GERROR, which may interrupt in turn; new
     * records may keep arriving from other threads: stop after a few
     * rounds and let the bottom half go on
     */
    for (int round = 0; round < 4; round++) {
        SMMUv3MsiCfg eventq_msi, gerror_msi;
        uint32_t pending, irq_ctrl;

        qemu_mutex_lock(&s->mutex);
        pending = s->irq_pending;
        s->irq_pending = 0;
        irq_ctrl = s->irq_ctrl;
        eventq_msi = s->eventq_msi;
        gerror_msi = s->gerror_msi;
        qemu_mutex_unlock(&s->mutex);
        if (!pending) {
            return;
        }

        if ((pending & SMMUV3_PENDING_EVENTQ) &&
            FIELD_EX32(irq_ctrl, IRQ_CTRL, EVENTQ_IRQEN) &&
            !smmuv3_signal(s, SMMUV3_IRQ_EVENTQ, &eventq_msi)) {
            qemu_mutex_lock(&s->mutex);
            smmuv3_gerror_raise(s, R_GERROR_MSI_EVENTQ_ABT_ERR_MASK);
            qemu_mutex_unlock(&s->mutex);
        }
        if ((pending & SMMUV3_PENDING_GERROR) &&
            FIELD_EX32(irq_ctrl, IRQ_CTRL, GERROR_IRQEN) &&
            !smmuv3_signal(s, SMMUV3_IRQ_GERROR, &gerror_msi)) {
            /* Reported, but it cannot interrupt about itself */
            qemu_mutex_lock(&s->mutex);
            gerror_toggle(s, R_GERROR_MSI_GERROR_ABT_ERR_MASK);
            qemu_mutex_unlock(&s->mutex);
        }
    }
    if (qatomic_read(&s->irq_pending)) {
        qemu_bh_schedule(s->irq_bh);
    }
}

void smmuv3_irq_flush(SMMUv3State *s)
{
    if (!qatomic_read(&s->irq_pending)) {
        return;
    }
    if (!bql_locked()) {
        qemu_bh_schedule(s->irq_bh);
    } else if (runstate_is_running()) {
        irq_deliver(s);
    }
}

void smmuv3_irq_bh(void *opaque)
{
    SMMUv3State *s = opaque;

    if (runstate_is_running()) {
        irq_deliver(s);
    }
}
