/*
 * Arm SMMUv3: the command queue, and the invalidations its commands make
 *
 * The command queue runs when software moves CMDQ_PROD, with the BQL.
 * One MMIO write or bottom half runs commands for at most
 * SMMUV3_CMDQ_SLICE_NS and leaves the rest to a bottom half, so a queue
 * full of anything holds neither the vCPU nor the BQL for long; commands
 * complete in order, so a CMD_SYNC completes only after everything before
 * it.  An illegal command, or one that cannot be read, stops the queue at
 * it with CMDQ_CONS.ERR and GERROR.CMDQ_ERR; once software acknowledges
 * the error in GERRORN the queue resumes at CMDQ_CONS, so it may fix or
 * replace the command, or move CONS past it.  While the VM is stopped the
 * queue waits, and resumes when it runs: a VM loaded from a migration
 * stream and not yet started leaves its queue as it was saved.
 *
 * Each TLBI is decoded here into the IOTLB contexts it scopes (regime,
 * VMID, ASID) and the range it names, and costs O(log n) plus what it
 * removes (see viommu-iotlb.h).  IOMMU notifiers of the streams it may
 * concern are told to drop what they were handed: whole blocks of the
 * sizes translate() handed out, so a single-address TLBI still reaches a
 * block mapping.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/bswap.h"
#include "system/address-spaces.h"
#include "system/runstate.h"
#include "hw/iommu/viommu-notify.h"
#include "smmuv3-internal.h"
#include "trace.h"

/* ---- notifications ---- */

/*
 * Note that the notifiers of @sdev must drop [@start, @last]: widened to
 * whole blocks of every size they were handed, or to everything where a
 * TBI tag may sit in what they hold.  Mutex held, in a change.
 */
static void unmap_note(SMMUv3Device *sdev, uint64_t start, uint64_t last)
{
    if (!sdev->notifier_flags || !sdev->handed_sizes) {
        return;
    }
    if (sdev->cfg.tbi_shift[0] || sdev->cfg.tbi_shift[1]) {
        start = 0;
        last = UINT64_MAX;
    } else {
        uint64_t mask = MAKE_64BIT_MASK(0, 63 - clz64(sdev->handed_sizes));

        start &= ~mask;
        last |= mask;
    }
    if (sdev->unmap_pending) {
        start = MIN(start, sdev->unmap_start);
        last = MAX(last, sdev->unmap_last);
    }
    sdev->unmap_pending = true;
    sdev->unmap_start = start;
    sdev->unmap_last = last;
    if (start == 0 && last == UINT64_MAX) {
        /* They will hold nothing */
        sdev->handed_sizes = 0;
    }
}

static void notify_unmap(SMMUv3Device *sdev, uint64_t start, uint64_t last)
{
    IOMMUMemoryRegion *mr = &sdev->iommu;

    if (sdev->notifier_flags & IOMMU_NOTIFIER_UNMAP) {
        if (start == 0 && last == UINT64_MAX) {
            IOMMUNotifier *n;

            IOMMU_NOTIFIER_FOREACH(n, mr) {
                if (n->notifier_flags & IOMMU_NOTIFIER_UNMAP) {
                    memory_region_unmap_iommu_notifier_range(n);
                }
            }
        } else {
            viommu_notify_unmap(mr, 0, start, last - start + 1);
        }
    }
    if (sdev->notifier_flags & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) {
        /*
         * vhost with a device IOTLB listens for these instead: without
         * ATS there is no separate device TLB, so it hears every TLBI
         */
        IOMMUTLBEvent event = {
            .type = IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
            .entry = {
                .target_as = &address_space_memory,
                .iova = start,
                .addr_mask = last - start,
                .perm = IOMMU_NONE,
            },
        };

        memory_region_notify_iommu(mr, 0, event);
    }
}

void smmuv3_notify_pending(SMMUv3State *s)
{
    SMMUv3Device *sdev;

    QLIST_FOREACH(sdev, &s->devices, next) {
        if (sdev->unmap_pending) {
            sdev->unmap_pending = false;
            notify_unmap(sdev, sdev->unmap_start, sdev->unmap_last);
        }
    }
}

/* The translating streams whose IOTLB context tag lies in [first, last] */
static void note_contexts(SMMUv3State *s, uint64_t first, uint64_t last,
                          uint64_t start, uint64_t size)
{
    uint64_t end = start + size - 1;
    SMMUv3Device *sdev;

    if (end < start) {
        end = UINT64_MAX;
    }
    QLIST_FOREACH(sdev, &s->devices, next) {
        if (sdev->cfg_valid && sdev->cfg.kind == SMMUV3_STREAM_TRANSLATE &&
            sdev->cfg.tlb_ctx >= first && sdev->cfg.tlb_ctx <= last) {
            unmap_note(sdev, start, end);
        }
    }
}

/* ---- invalidation ---- */

/* Invalidations run with the mutex, as a change of what a hit reads */
static void inval_begin(SMMUv3State *s)
{
    qemu_mutex_lock(&s->mutex);
    smmuv3_change_begin(s);
}

static void inval_end(SMMUv3State *s)
{
    smmuv3_change_end(s);
    qemu_mutex_unlock(&s->mutex);
    smmuv3_notify_pending(s);
}

static uint64_t group_of(SMMUv3Regime regime, uint16_t vmid)
{
    return smmuv3_ctx_tag(regime, vmid, 0);
}

/* Every translation of the regime's VMID @vmid, or of every VMID */
static void tlbi_vmid(SMMUv3State *s, SMMUv3Regime regime, int vmid)
{
    uint64_t first = group_of(regime, vmid < 0 ? 0 : vmid);
    uint64_t last = group_of(regime, vmid < 0 ? 0xffff : vmid) | 0xffff;
    uint32_t removed = viommu_iotlb_invalidate_groups(&s->iotlb, first,
                                                      last);

    trace_smmuv3_invalidate_tlb(first, last, 0, UINT64_MAX, removed);
    note_contexts(s, first, last, 0, UINT64_MAX);
}

/* Every non-global translation of one ASID */
static void tlbi_asid(SMMUv3State *s, SMMUv3Regime regime, uint16_t vmid,
                      uint16_t asid)
{
    uint64_t ctx = smmuv3_ctx_tag(regime, vmid, asid);
    uint32_t removed = viommu_iotlb_invalidate_context(&s->iotlb, ctx);

    trace_smmuv3_invalidate_tlb(ctx, ctx, 0, UINT64_MAX, removed);
    note_contexts(s, ctx, ctx, 0, UINT64_MAX);
}

/*
 * By address, in one regime and VMID: the translations of ASID @asid and
 * the global ones of every ASID, or (@asid < 0) every translation.  The
 * notifiers of every ASID hear of it: the global entries any of them was
 * handed are gone too.
 */
static void tlbi_va(SMMUv3State *s, SMMUv3Regime regime, uint16_t vmid,
                    int asid, uint64_t start, uint64_t size)
{
    uint64_t group = group_of(regime, vmid);
    uint32_t removed = 0;

    if (asid >= 0) {
        removed = viommu_iotlb_invalidate_range(&s->iotlb,
                                                group | asid, start, size);
    }
    removed += viommu_iotlb_invalidate_group_range(&s->iotlb, group, start,
                                                   size, asid >= 0);
    trace_smmuv3_invalidate_tlb(group, group | 0xffff, start, size,
                                removed);
    note_contexts(s, group, group | 0xffff, start, size);
}

/* Stage 2 by IPA, for one VMID */
static void tlbi_ipa(SMMUv3State *s, uint16_t vmid, uint64_t start,
                     uint64_t size)
{
    uint64_t group = group_of(SMMUV3_REGIME_S2, vmid);
    uint32_t removed = viommu_iotlb_invalidate_group_range(&s->iotlb, group,
                                                           start, size,
                                                           false);

    trace_smmuv3_invalidate_tlb(group, group, start, size, removed);
    /*
     * Including the stage 2 translations nested walks use.  The nested
     * translations themselves, cached by VA, stay: as for IPAS2E1, the
     * architecture leaves them to the TLBI_NH_ALL or TLBI_NH_VAA that
     * software issues with it.
     */
    note_contexts(s, group, group, start, size);
}

static unsigned tlbi_granule_shift(unsigned tg)
{
    static const uint8_t shift[4] = { 0, 12, 14, 16 };

    return shift[tg & 3];
}

/*
 * A range TLBI of one granule without a level hint (TTL 0, which is
 * also what TTL 1 with 16K granules means without IDR5.DS) is reserved
 */
static bool tlbi_range_reserved(SMMUv3State *s, const uint64_t cmd[2])
{
    unsigned ttl = CMD_TLBI_TTL(cmd);

    if (!CMD_TLBI_TG(cmd) || !FIELD_EX32(s->idr[3], IDR3, RIL)) {
        return false;
    }
    if (CMD_TLBI_TG(cmd) == 2 && ttl == 1) {
        ttl = 0;
    }
    return !CMD_TLBI_NUM(cmd) && !CMD_TLBI_SCALE(cmd) && !ttl;
}

/*
 * The address range of a TLBI by address at @addr: a single address, or
 * with range invalidation (TG != 0) (NUM + 1) << SCALE granules
 */
static void tlbi_range(SMMUv3State *s, const uint64_t cmd[2], uint64_t addr,
                       uint64_t *start, uint64_t *size)
{
    unsigned tg = CMD_TLBI_TG(cmd);

    *start = addr;
    *size = 1;
    if (tg && FIELD_EX32(s->idr[3], IDR3, RIL)) {
        unsigned shift = tlbi_granule_shift(tg);

        *start &= ~MAKE_64BIT_MASK(0, shift);
        /* At most 32 << (31 + 16) bytes: no overflow */
        *size = (uint64_t)(CMD_TLBI_NUM(cmd) + 1) <<
                (shift + CMD_TLBI_SCALE(cmd));
    }
}

/*
 * The VA range of a stage 1 TLBI, as the IOTLB keys it: the top byte
 * dropped as TBI drops it (no translation is cached at an address whose
 * top byte is not a copy of bit 55 unless TBI made it so)
 */
static void tlbi_va_range(SMMUv3State *s, const uint64_t cmd[2],
                          uint64_t *start, uint64_t *size)
{
    tlbi_range(s, cmd, sextract64(CMD_TLBI_ADDR(cmd), 0, 56), start, size);
}

/* Invalidate the cached configurations of StreamIDs [first, last] */
static void cfgi(SMMUv3State *s, uint32_t first, uint32_t last)
{
    SMMUv3Device *sdev;

    trace_smmuv3_invalidate_config(first, last);
    inval_begin(s);
    QLIST_FOREACH(sdev, &s->devices, next) {
        uint32_t sid = smmuv3_sid(sdev);

        if (sid >= first && sid <= last && sdev->cfg_valid) {
            sdev->cfg_valid = false;
            unmap_note(sdev, 0, UINT64_MAX);
        }
    }
    inval_end(s);
    /* A stream that bypassed must meet the IOMMU again, before CMD_SYNC */
    smmuv3_update_bypass(s);
}

void smmuv3_flush_all(SMMUv3State *s)
{
    SMMUv3Device *sdev;

    inval_begin(s);
    viommu_iotlb_flush(&s->iotlb);
    QLIST_FOREACH(sdev, &s->devices, next) {
        sdev->cfg_valid = false;
        unmap_note(sdev, 0, UINT64_MAX);
    }
    inval_end(s);
}

/* ---- commands ---- */

/* A TLBI command: the invalidation, or false when it is ILLEGAL */
static bool tlbi(SMMUv3State *s, const uint64_t cmd[2])
{
    bool s1p = FIELD_EX32(s->idr[0], IDR0, S1P);
    bool s2p = FIELD_EX32(s->idr[0], IDR0, S2P);
    bool hyp = FIELD_EX32(s->idr[0], IDR0, HYP);
    /* With stage 2 implemented, stage 1 invalidations name a VMID */
    uint16_t vmid = s2p ? CMD_TLBI_VMID(cmd) : 0;
    uint16_t asid = CMD_TLBI_ASID(cmd);
    uint32_t op = CMD_OPCODE(cmd);
    uint64_t start, size;

    switch (op) {
    case SMMU_CMD_TLBI_NH_ALL:
    case SMMU_CMD_TLBI_NH_ASID:
    case SMMU_CMD_TLBI_NH_VA:
    case SMMU_CMD_TLBI_NH_VAA:
        if (!s1p) {
            return false;
        }
        break;
    case SMMU_CMD_TLBI_EL2_ALL:
    case SMMU_CMD_TLBI_EL2_ASID:
    case SMMU_CMD_TLBI_EL2_VA:
    case SMMU_CMD_TLBI_EL2_VAA:
        if (!hyp) {
            return false;
        }
        break;
    case SMMU_CMD_TLBI_S12_VMALL:
    case SMMU_CMD_TLBI_S2_IPA:
        if (!s2p) {
            return false;
        }
        break;
    }
    if ((op == SMMU_CMD_TLBI_NH_VA || op == SMMU_CMD_TLBI_NH_VAA ||
         op == SMMU_CMD_TLBI_EL2_VA || op == SMMU_CMD_TLBI_EL2_VAA ||
         op == SMMU_CMD_TLBI_S2_IPA) && tlbi_range_reserved(s, cmd)) {
        return false;
    }

    inval_begin(s);
    switch (op) {
    case SMMU_CMD_TLBI_NH_ALL:
        tlbi_vmid(s, SMMUV3_REGIME_S1, vmid);
        tlbi_vmid(s, SMMUV3_REGIME_NESTED, vmid);
        break;
    case SMMU_CMD_TLBI_NH_ASID:
        tlbi_asid(s, SMMUV3_REGIME_S1, vmid, asid);
        tlbi_asid(s, SMMUV3_REGIME_NESTED, vmid, asid);
        break;
    case SMMU_CMD_TLBI_NH_VA:
    case SMMU_CMD_TLBI_NH_VAA:
        tlbi_va_range(s, cmd, &start, &size);
        tlbi_va(s, SMMUV3_REGIME_S1, vmid,
                op == SMMU_CMD_TLBI_NH_VA ? asid : -1, start, size);
        tlbi_va(s, SMMUV3_REGIME_NESTED, vmid,
                op == SMMU_CMD_TLBI_NH_VA ? asid : -1, start, size);
        break;
    case SMMU_CMD_TLBI_EL2_ALL:
        tlbi_vmid(s, SMMUV3_REGIME_EL2, -1);
        tlbi_vmid(s, SMMUV3_REGIME_EL2_E2H, -1);
        break;
    case SMMU_CMD_TLBI_EL2_ASID:
        tlbi_asid(s, SMMUV3_REGIME_EL2_E2H, 0, asid);
        break;
    case SMMU_CMD_TLBI_EL2_VA:
    case SMMU_CMD_TLBI_EL2_VAA:
        /* EL2 without E2H has no ASIDs: the address alone decides */
        tlbi_va_range(s, cmd, &start, &size);
        tlbi_va(s, SMMUV3_REGIME_EL2, 0, -1, start, size);
        tlbi_va(s, SMMUV3_REGIME_EL2_E2H, 0,
                op == SMMU_CMD_TLBI_EL2_VA ? asid : -1, start, size);
        break;
    case SMMU_CMD_TLBI_S12_VMALL:
        tlbi_vmid(s, SMMUV3_REGIME_S1, vmid);
        tlbi_vmid(s, SMMUV3_REGIME_S2, vmid);
        tlbi_vmid(s, SMMUV3_REGIME_NESTED, vmid);
        break;
    case SMMU_CMD_TLBI_S2_IPA:
        tlbi_range(s, cmd, CMD_TLBI_IPA(cmd), &start, &size);
        tlbi_ipa(s, vmid, start, size);
        break;
    case SMMU_CMD_TLBI_NSNH_ALL:
        tlbi_vmid(s, SMMUV3_REGIME_S1, -1);
        tlbi_vmid(s, SMMUV3_REGIME_S2, -1);
        tlbi_vmid(s, SMMUV3_REGIME_NESTED, -1);
        break;
    default:
        g_assert_not_reached();
    }
    inval_end(s);
    return true;
}

/* Execute one command; returns its CMDQ_CONS.ERR code */
static uint32_t smmuv3_cmd(SMMUv3State *s, const uint64_t cmd[2])
{
    switch (CMD_OPCODE(cmd)) {
    case SMMU_CMD_PREFETCH_CONFIG:
    case SMMU_CMD_PREFETCH_ADDR:
    case SMMU_CMD_CFGI_STE:
    case SMMU_CMD_CFGI_STE_RANGE:
    case SMMU_CMD_CFGI_CD:
    case SMMU_CMD_CFGI_CD_ALL:
        /* SSec 1, a Secure StreamID, is ILLEGAL on this queue */
        if (CMD_SSEC(cmd)) {
            return SMMU_CERROR_ILL;
        }
        break;
    }

    switch (CMD_OPCODE(cmd)) {
    case SMMU_CMD_PREFETCH_CONFIG:
    case SMMU_CMD_PREFETCH_ADDR:
        /* Hints: nothing is prefetched, whatever the SubstreamID */
        return SMMU_CERROR_NONE;

    case SMMU_CMD_CFGI_CD:
    case SMMU_CMD_CFGI_CD_ALL:
        if (!FIELD_EX32(s->idr[0], IDR0, S1P)) {
            return SMMU_CERROR_ILL;
        }
        /* fall through */
    case SMMU_CMD_CFGI_STE:
        /*
         * No substreams: a CD is its stream's, as the STE is, whatever
         * SubstreamID CFGI_CD names; bit 11 is RES0, and taken as ILLEGAL
         */
        if (CMD_SSV(cmd)) {
            return SMMU_CERROR_ILL;
        }
        cfgi(s, CMD_SID(cmd), CMD_SID(cmd));
        return SMMU_CERROR_NONE;
    case SMMU_CMD_CFGI_STE_RANGE: {
        unsigned range = CMD_CFGI_RANGE(cmd);
        uint64_t count, first;

        /* 2^(Range + 1) STEs from the StreamID rounded down to that */
        if (range == 31) {
            cfgi(s, 0, UINT32_MAX);
            return SMMU_CERROR_NONE;
        }
        count = 2ull << range;
        first = CMD_SID(cmd) & ~(count - 1);
        cfgi(s, first, MIN(first + count - 1, UINT32_MAX));
        return SMMU_CERROR_NONE;
    }

    case SMMU_CMD_TLBI_NH_ALL:
    case SMMU_CMD_TLBI_NH_ASID:
    case SMMU_CMD_TLBI_NH_VA:
    case SMMU_CMD_TLBI_NH_VAA:
    case SMMU_CMD_TLBI_EL2_ALL:
    case SMMU_CMD_TLBI_EL2_ASID:
    case SMMU_CMD_TLBI_EL2_VA:
    case SMMU_CMD_TLBI_EL2_VAA:
    case SMMU_CMD_TLBI_S12_VMALL:
    case SMMU_CMD_TLBI_S2_IPA:
    case SMMU_CMD_TLBI_NSNH_ALL:
        return tlbi(s, cmd) ? SMMU_CERROR_NONE : SMMU_CERROR_ILL;

    case SMMU_CMD_SYNC:
        /* Interrupts of records written so far go before the sync's */
        smmuv3_irq_flush(s);
        switch (CMD_SYNC_CS(cmd)) {
        case CMD_SYNC_CS_NONE:
        case CMD_SYNC_CS_SEV:
            /*
             * IDR0.SEV is 0: a PE's WFE does not sleep under QEMU, so
             * there is no one to wake, and SEV completes as NONE does
             */
            break;
        case CMD_SYNC_CS_IRQ: {
            SMMUv3MsiCfg msi = {
                .addr = CMD_SYNC_MSIADDR(cmd),
                .data = CMD_SYNC_MSIDATA(cmd),
                .attr = CMD_SYNC_MSIATTR(cmd),
            };

            if (!smmuv3_signal(s, SMMUV3_IRQ_CMD_SYNC, &msi)) {
                qemu_mutex_lock(&s->mutex);
                smmuv3_gerror_raise(s, R_GERROR_MSI_CMDQ_ABT_ERR_MASK);
                qemu_mutex_unlock(&s->mutex);
                smmuv3_irq_flush(s);
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

/* Whether the queue may run: enabled, and no error unacknowledged */
static bool cmdq_runnable(SMMUv3State *s)
{
    bool ok;

    qemu_mutex_lock(&s->mutex);
    ok = FIELD_EX32(s->cr[0], CR0, CMDQEN) &&
         !((s->gerror ^ s->gerrorn) & R_GERROR_CMDQ_ERR_MASK);
    qemu_mutex_unlock(&s->mutex);
    return ok;
}

static void cmdq_stop(SMMUv3State *s, uint32_t err, uint32_t opcode)
{
    s->cmdq.cons = FIELD_DP32(s->cmdq.cons, CMDQ_CONS, ERR, err);
    trace_smmuv3_cmd_error(s->cmdq.cons, opcode, err);
    qemu_mutex_lock(&s->mutex);
    smmuv3_gerror_raise(s, R_GERROR_CMDQ_ERR_MASK);
    qemu_mutex_unlock(&s->mutex);
    smmuv3_irq_flush(s);
}

/* Run commands for at most a slice of time; BQL held */
static void cmdq_run(SMMUv3State *s, int64_t start)
{
    unsigned log2size = smmuv3_queue_log2size(s->cmdq.base, SMMUV3_CMDQS);
    int64_t deadline = start + SMMUV3_CMDQ_SLICE_NS;

    for (unsigned n = 1; ; n++) {
        uint32_t cons = s->cmdq.cons;
        uint64_t addr, cmd[2];
        uint32_t err;

        if (smmuv3_q_empty(s->cmdq.prod, cons, log2size)) {
            return;
        }
        if (!(n % 16) &&
            get_clock() > deadline) {
            /* The vCPU and the BQL go on; the rest follows */
            trace_smmuv3_cmdq_slice(n - 1, cons);
            qemu_bh_schedule(s->cmdq_bh);
            return;
        }
        addr = (SMMU_Q_BASE_ADDR(s->cmdq.base) +
                (uint64_t)smmuv3_q_index(cons, log2size) * SMMU_CMD_SIZE) &
               MAKE_64BIT_MASK(0, s->oas);
        if (!smmuv3_read_ram(NULL, addr, cmd, sizeof(cmd))) {
            qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: command read at 0x%"
                          PRIx64 " is not of RAM\n", addr);
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
            cmdq_stop(s, err, CMD_OPCODE(cmd));
            return;
        }
        s->cmdq.cons = smmuv3_q_next(cons, log2size);
    }
}

/* The CPU time of this thread, in ns */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

void smmuv3_cmdq_consume(SMMUv3State *s)
{
    int64_t start, cpu;

    /* A stopped VM's SMMU waits; its change state handler resumes it */
    if (!runstate_is_running() || !cmdq_runnable(s)) {
        return;
    }
    start = get_clock();
    cpu = thread_cpu_ns();
    cmdq_run(s, start);
    /*
     * For make bench: how long one run held the BQL, at most, by the
     * thread's CPU time (which other tenants of the host cannot stretch)
     * and by the wall clock
     */
    s->cmdq_longest_run[0] = MAX(s->cmdq_longest_run[0],
                                 thread_cpu_ns() - cpu);
    s->cmdq_longest_run[1] = MAX(s->cmdq_longest_run[1],
                                 get_clock() - start);
}

void smmuv3_cmdq_bh(void *opaque)
{
    smmuv3_cmdq_consume(opaque);
}
