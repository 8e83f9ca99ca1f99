/*
 * Arm SMMUv3: the command queue, the event queue, global errors and
 * interrupts
 *
 * The command queue runs when software moves CMDQ_PROD.  One MMIO write
 * executes at most SMMUV3_CMDQ_BATCH commands and leaves the rest to a
 * bottom half, so a queue full of anything cannot hold the vCPU for
 * long.  An illegal command, or one that cannot be read, stops the queue
 * at it with CMDQ_CONS.ERR and GERROR.CMDQ_ERR; once software
 * acknowledges the error in GERRORN the queue resumes at CMDQ_CONS, so it
 * may fix or replace the command, or move CONS past it.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "system/address-spaces.h"
#include "system/dma.h"
#include "hw/irq.h"
#include "smmuv3-internal.h"
#include "trace.h"

uint32_t smmuv3_queue_log2size(uint64_t base, unsigned max)
{
    return MIN(SMMU_Q_BASE_LOG2SIZE(base), max);
}

/*
 * Queue pointers: an index of log2size bits (none for a queue of one
 * entry) and a wrap bit above it
 */
static inline uint32_t q_index(uint32_t p, unsigned log2size)
{
    return p & ((1u << log2size) - 1);
}

static inline uint32_t q_wrap(uint32_t p, unsigned log2size)
{
    return (p >> log2size) & 1;
}

static inline uint32_t q_ptr(uint32_t p, unsigned log2size)
{
    return p & ((2u << log2size) - 1);
}

static inline bool q_empty(uint32_t prod, uint32_t cons, unsigned log2size)
{
    return q_ptr(prod, log2size) == q_ptr(cons, log2size);
}

static inline bool q_full(uint32_t prod, uint32_t cons, unsigned log2size)
{
    return q_index(prod, log2size) == q_index(cons, log2size) &&
           q_wrap(prod, log2size) != q_wrap(cons, log2size);
}

static inline uint32_t q_next(uint32_t p, unsigned log2size)
{
    return q_ptr(q_ptr(p, log2size) + 1, log2size);
}

/*
 * Signal an interrupt: the MSI that @msi describes when MSIs are on and
 * it has an address, else the wired line.  Returns false when the MSI
 * write failed.
 */
static bool signal_irq(SMMUv3State *s, SMMUv3Irq irq, const SMMUv3MsiCfg *msi)
{
    uint64_t addr = msi->addr & SMMU_MSI_ADDR_MASK;
    MemTxResult r;

    if (FIELD_EX32(s->idr[0], IDR0, MSI) && addr) {
        address_space_stl_le(&address_space_memory, addr, msi->data,
                             MEMTXATTRS_UNSPECIFIED, &r);
        trace_smmuv3_msi(irq, addr, msi->data, r);
        return r == MEMTX_OK;
    }
    trace_smmuv3_irq(irq);
    qemu_irq_pulse(s->irq[irq]);
    return true;
}

void smmuv3_gerror_raise(SMMUv3State *s, uint32_t bits)
{
    /* A bit toggles only when the previous error was acknowledged */
    uint32_t active = s->gerror ^ s->gerrorn;
    uint32_t toggle = bits & ~active;

    if (!toggle) {
        return;
    }
    s->gerror ^= toggle;
    trace_smmuv3_gerror(s->gerror, s->gerrorn);
    if (FIELD_EX32(s->irq_ctrl, IRQ_CTRL, GERROR_IRQEN) &&
        !signal_irq(s, SMMUV3_IRQ_GERROR, &s->gerror_msi)) {
        /* Reported, but it cannot interrupt about itself */
        s->gerror ^= R_GERROR_MSI_GERROR_ABT_ERR_MASK &
                     ~(s->gerror ^ s->gerrorn);
    }
}

void smmuv3_gerrorn_write(SMMUv3State *s, uint32_t val)
{
    uint32_t was_active = s->gerror ^ s->gerrorn;

    s->gerrorn = val & 0x1fd;
    trace_smmuv3_gerror(s->gerror, s->gerrorn);
    if ((was_active & R_GERROR_CMDQ_ERR_MASK) &&
        !((s->gerror ^ s->gerrorn) & R_GERROR_CMDQ_ERR_MASK)) {
        smmuv3_cmdq_consume(s);
    }
}

void smmuv3_record_event(SMMUv3State *s, uint64_t evt[4])
{
    unsigned log2size = smmuv3_queue_log2size(s->eventq.base,
                                              SMMUV3_EVENTQS);
    uint32_t prod = s->eventq.prod, cons = s->eventq.cons;
    uint64_t addr;
    MemTxResult r;

    if (!FIELD_EX32(s->cr[0], CR0, EVENTQEN)) {
        trace_smmuv3_event_dropped(extract64(evt[0], 0, 8), "queue disabled");
        return;
    }
    if ((s->gerror ^ s->gerrorn) & R_GERROR_EVENTQ_ABT_ERR_MASK) {
        /* The queue could not be written: nothing more until acknowledged */
        trace_smmuv3_event_dropped(extract64(evt[0], 0, 8), "queue aborted");
        return;
    }
    if (q_full(prod, cons, log2size)) {
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

    addr = SMMU_Q_BASE_ADDR(s->eventq.base) +
           (uint64_t)q_index(prod, log2size) * SMMU_EVT_SIZE;
    for (int i = 0; i < 4; i++) {
        evt[i] = cpu_to_le64(evt[i]);
    }
    r = dma_memory_write(&address_space_memory, addr, evt, SMMU_EVT_SIZE,
                         MEMTXATTRS_UNSPECIFIED);
    if (r != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: event queue write at 0x%"
                      PRIx64 " failed\n", addr);
        smmuv3_gerror_raise(s, R_GERROR_EVENTQ_ABT_ERR_MASK);
        return;
    }
    s->eventq.prod = (prod & SMMU_Q_OVF) | q_next(prod, log2size);
    trace_smmuv3_event(extract64(le64_to_cpu(evt[0]), 0, 8),
                       extract64(le64_to_cpu(evt[0]), 32, 32),
                       le64_to_cpu(evt[2]), s->eventq.prod);

    if (FIELD_EX32(s->irq_ctrl, IRQ_CTRL, EVENTQ_IRQEN) &&
        !signal_irq(s, SMMUV3_IRQ_EVENTQ, &s->eventq_msi)) {
        smmuv3_gerror_raise(s, R_GERROR_MSI_EVENTQ_ABT_ERR_MASK);
    }
}

/* ---- commands ---- */

static unsigned tlbi_granule_shift(unsigned tg)
{
    static const uint8_t shift[4] = { 0, 12, 14, 16 };

    return shift[tg & 3];
}

/*
 * The address range of a TLBI by address: a single address, or with
 * range invalidation (TG != 0) (NUM + 1) << SCALE granules.
 */
static void tlbi_range(SMMUv3State *s, const uint64_t cmd[2], uint64_t *start,
                       uint64_t *size)
{
    unsigned tg = CMD_TLBI_TG(cmd);

    *start = CMD_TLBI_ADDR(cmd);
    *size = 1;
    if (tg && FIELD_EX32(s->idr[3], IDR3, RIL)) {
        unsigned shift = tlbi_granule_shift(tg) + CMD_TLBI_SCALE(cmd);

        *start &= ~((1ull << tlbi_granule_shift(tg)) - 1);
        /* At most 32 << (31 + 16) bytes: no overflow */
        *size = (uint64_t)(CMD_TLBI_NUM(cmd) + 1) << shift;
    }
}

#define CTX_REGIME(r)   ((uint64_t)(r) << SMMUV3_CTX_REGIME_SHIFT)
#define CTX_VMID(v)     ((uint64_t)(v) << SMMUV3_CTX_VMID_SHIFT)
#define MASK_RV         (SMMUV3_CTX_REGIME_MASK | SMMUV3_CTX_VMID_MASK)
#define MASK_RVA        (MASK_RV | SMMUV3_CTX_ASID_MASK)

static void tlbi_all(SMMUv3State *s, uint64_t mask, uint64_t match)
{
    smmuv3_invalidate_tlb(s, mask, match, 0, UINT64_MAX, true);
}

/*
 * Stage 1 by address for one ASID (or every ASID, @any_asid) of a regime.
 * Global entries (nG == 0) answer to every ASID: while any may be cached,
 * an invalidation by ASID covers all of the regime's ASIDs.
 */
static void tlbi_s1_va(SMMUv3State *s, SMMUv3Regime regime, uint16_t vmid,
                       uint16_t asid, bool any_asid, uint64_t start,
                       uint64_t size)
{
    uint64_t match = CTX_REGIME(regime) | CTX_VMID(vmid) | asid;

    if (any_asid || s->global_cached) {
        smmuv3_invalidate_tlb(s, MASK_RV, match & MASK_RV, start, size, true);
    } else {
        smmuv3_invalidate_tlb(s, MASK_RVA, match, start, size, true);
    }
}

/* Execute one command; returns its CMDQ_CONS.ERR code */
static uint32_t smmuv3_cmd(SMMUv3State *s, const uint64_t cmd[2])
{
    uint32_t op = CMD_OPCODE(cmd);
    bool s1p = FIELD_EX32(s->idr[0], IDR0, S1P);
    bool s2p = FIELD_EX32(s->idr[0], IDR0, S2P);
    bool hyp = FIELD_EX32(s->idr[0], IDR0, HYP);
    /* With stage 2 implemented, stage 1 invalidations name a VMID */
    uint16_t vmid = s2p ? CMD_TLBI_VMID(cmd) : 0;
    uint16_t asid = CMD_TLBI_ASID(cmd);
    uint64_t start, size;

    switch (op) {
    case SMMU_CMD_PREFETCH_CONFIG:
    case SMMU_CMD_PREFETCH_ADDR:
        /* Hints: nothing is prefetched */
        return CMD_SSV(cmd) ? SMMU_CERROR_ILL : SMMU_CERROR_NONE;

    case SMMU_CMD_CFGI_STE:
        if (CMD_SSV(cmd)) {
            return SMMU_CERROR_ILL;
        }
        smmuv3_invalidate_config(s, CMD_SID(cmd), CMD_SID(cmd));
        return SMMU_CERROR_NONE;
    case SMMU_CMD_CFGI_STE_RANGE: {
        unsigned range = CMD_CFGI_RANGE(cmd);
        uint64_t first, count;

        if (range == 31) {
            smmuv3_invalidate_config(s, 0, UINT32_MAX);
            return SMMU_CERROR_NONE;
        }
        count = 2ull << range;
        first = CMD_SID(cmd) & ~(count - 1);
        smmuv3_invalidate_config(s, first, MIN(first + count - 1,
                                               UINT32_MAX));
        return SMMU_CERROR_NONE;
    }
    case SMMU_CMD_CFGI_CD:
    case SMMU_CMD_CFGI_CD_ALL:
        /* Substreams are not supported: SubstreamID must be absent */
        if (CMD_SSV(cmd)) {
            return SMMU_CERROR_ILL;
        }
        smmuv3_invalidate_config(s, CMD_SID(cmd), CMD_SID(cmd));
        return SMMU_CERROR_NONE;

    case SMMU_CMD_TLBI_NH_ALL:
        if (!s1p) {
            return SMMU_CERROR_ILL;
        }
        tlbi_all(s, MASK_RV, CTX_REGIME(SMMUV3_REGIME_S1) | CTX_VMID(vmid));
        tlbi_all(s, MASK_RV,
                 CTX_REGIME(SMMUV3_REGIME_NESTED) | CTX_VMID(vmid));
        return SMMU_CERROR_NONE;
    case SMMU_CMD_TLBI_NH_ASID:
        if (!s1p) {
            return SMMU_CERROR_ILL;
        }
        tlbi_all(s, MASK_RVA,
                 CTX_REGIME(SMMUV3_REGIME_S1) | CTX_VMID(vmid) | asid);
        tlbi_all(s, MASK_RVA,
                 CTX_REGIME(SMMUV3_REGIME_NESTED) | CTX_VMID(vmid) | asid);
        return SMMU_CERROR_NONE;
    case SMMU_CMD_TLBI_NH_VA:
    case SMMU_CMD_TLBI_NH_VAA:
        if (!s1p) {
            return SMMU_CERROR_ILL;
        }
        tlbi_range(s, cmd, &start, &size);
        tlbi_s1_va(s, SMMUV3_REGIME_S1, vmid, asid,
                   op == SMMU_CMD_TLBI_NH_VAA, start, size);
        tlbi_s1_va(s, SMMUV3_REGIME_NESTED, vmid, asid,
                   op == SMMU_CMD_TLBI_NH_VAA, start, size);
        return SMMU_CERROR_NONE;

    case SMMU_CMD_TLBI_EL2_ALL:
        if (!hyp) {
            return SMMU_CERROR_ILL;
        }
        tlbi_all(s, SMMUV3_CTX_REGIME_MASK, CTX_REGIME(SMMUV3_REGIME_EL2));
        tlbi_all(s, SMMUV3_CTX_REGIME_MASK,
                 CTX_REGIME(SMMUV3_REGIME_EL2_E2H));
        return SMMU_CERROR_NONE;
    case SMMU_CMD_TLBI_EL2_ASID:
        if (!hyp) {
            return SMMU_CERROR_ILL;
        }
        tlbi_all(s, MASK_RVA, CTX_REGIME(SMMUV3_REGIME_EL2_E2H) | asid);
        return SMMU_CERROR_NONE;
    case SMMU_CMD_TLBI_EL2_VA:
    case SMMU_CMD_TLBI_EL2_VAA:
        if (!hyp) {
            return SMMU_CERROR_ILL;
        }
        tlbi_range(s, cmd, &start, &size);
        tlbi_s1_va(s, SMMUV3_REGIME_EL2, 0, 0, true, start, size);
        tlbi_s1_va(s, SMMUV3_REGIME_EL2_E2H, 0, asid,
                   op == SMMU_CMD_TLBI_EL2_VAA, start, size);
        return SMMU_CERROR_NONE;

    case SMMU_CMD_TLBI_S12_VMALL:
        if (!s2p) {
            return SMMU_CERROR_ILL;
        }
        vmid = CMD_TLBI_VMID(cmd);
        tlbi_all(s, MASK_RV, CTX_REGIME(SMMUV3_REGIME_S1) | CTX_VMID(vmid));
        tlbi_all(s, MASK_RV, CTX_REGIME(SMMUV3_REGIME_S2) | CTX_VMID(vmid));
        tlbi_all(s, MASK_RV,
                 CTX_REGIME(SMMUV3_REGIME_NESTED) | CTX_VMID(vmid));
        return SMMU_CERROR_NONE;
    case SMMU_CMD_TLBI_S2_IPA:
        if (!s2p) {
            return SMMU_CERROR_ILL;
        }
        vmid = CMD_TLBI_VMID(cmd);
        tlbi_range(s, cmd, &start, &size);
        start &= 0x000fffffffffffffull;
        smmuv3_invalidate_tlb(s, MASK_RV,
                              CTX_REGIME(SMMUV3_REGIME_S2) | CTX_VMID(vmid),
                              start, size, true);
        /*
         * A nested translation is cached by VA: which ones went through
         * this IPA is not known, so all of the VMID's go
         */
        smmuv3_invalidate_tlb(s, MASK_RV,
                              CTX_REGIME(SMMUV3_REGIME_NESTED) |
                              CTX_VMID(vmid), 0, UINT64_MAX, false);
        return SMMU_CERROR_NONE;
    case SMMU_CMD_TLBI_NSNH_ALL:
        tlbi_all(s, SMMUV3_CTX_REGIME_MASK, CTX_REGIME(SMMUV3_REGIME_S1));
        tlbi_all(s, SMMUV3_CTX_REGIME_MASK, CTX_REGIME(SMMUV3_REGIME_S2));
        tlbi_all(s, SMMUV3_CTX_REGIME_MASK,
                 CTX_REGIME(SMMUV3_REGIME_NESTED));
        return SMMU_CERROR_NONE;

    case SMMU_CMD_SYNC:
        switch (CMD_SYNC_CS(cmd)) {
        case CMD_SYNC_CS_NONE:
        case CMD_SYNC_CS_SEV:
            /* SEV wakes WFE waiters; nothing here waits */
            break;
        case CMD_SYNC_CS_IRQ: {
            SMMUv3MsiCfg msi = {
                .addr = CMD_SYNC_MSIADDR(cmd),
                .data = CMD_SYNC_MSIDATA(cmd),
                .attr = CMD_SYNC_MSIATTR(cmd),
            };

            if (!signal_irq(s, SMMUV3_IRQ_CMD_SYNC, &msi)) {
                smmuv3_gerror_raise(s, R_GERROR_MSI_CMDQ_ABT_ERR_MASK);
            }
            break;
        }
        default:
            return SMMU_CERROR_ILL;
        }
        return SMMU_CERROR_NONE;

    default:
        /*
         * Unknown, or needing what this SMMU does not implement: Secure
         * state (EL3), ATS, PRI, stalls, virtual machine structures
         */
        return SMMU_CERROR_ILL;
    }
}

static void cmdq_stop(SMMUv3State *s, uint32_t err, uint64_t cmd0)
{
    s->cmdq.cons = FIELD_DP32(s->cmdq.cons, CMDQ_CONS, ERR, err);
    trace_smmuv3_cmd_error(s->cmdq.cons, extract64(cmd0, 0, 8), err);
    smmuv3_gerror_raise(s, R_GERROR_CMDQ_ERR_MASK);
}

void smmuv3_cmdq_consume(SMMUv3State *s)
{
    unsigned log2size = smmuv3_queue_log2size(s->cmdq.base, SMMUV3_CMDQS);

    if (!FIELD_EX32(s->cr[0], CR0, CMDQEN) ||
        ((s->gerror ^ s->gerrorn) & R_GERROR_CMDQ_ERR_MASK)) {
        return;
    }

    for (unsigned n = 0; n < SMMUV3_CMDQ_BATCH; n++) {
        uint32_t cons = s->cmdq.cons;
        uint64_t addr, cmd[2] = { 0, 0 };
        uint32_t err;

        if (q_empty(s->cmdq.prod, cons, log2size)) {
            return;
        }
        addr = SMMU_Q_BASE_ADDR(s->cmdq.base) +
               (uint64_t)q_index(cons, log2size) * SMMU_CMD_SIZE;
        if (dma_memory_read(&address_space_memory, addr, cmd, sizeof(cmd),
                            MEMTXATTRS_UNSPECIFIED) != MEMTX_OK) {
            qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: command read at 0x%"
                          PRIx64 " failed\n", addr);
            cmdq_stop(s, SMMU_CERROR_ABT, 0);
            return;
        }
        cmd[0] = le64_to_cpu(cmd[0]);
        cmd[1] = le64_to_cpu(cmd[1]);
        trace_smmuv3_cmd(cons, CMD_OPCODE(cmd), cmd[0], cmd[1]);

        err = smmuv3_cmd(s, cmd);
        if (err) {
            qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: illegal command 0x%02x "
                          "(0x%016" PRIx64 " 0x%016" PRIx64 ")\n",
                          (unsigned)CMD_OPCODE(cmd), cmd[0], cmd[1]);
            cmdq_stop(s, err, cmd[0]);
            return;
        }
        /* The command may have changed the queue (a reset, say) */
        if (s->cmdq.cons != cons) {
            return;
        }
        s->cmdq.cons = q_next(cons, log2size);
    }
    /* More than a batch: the vCPU goes on, the rest follows */
    qemu_bh_schedule(s->cmdq_bh);
}
