/*
 * Arm SMMUv3: finding and decoding a stream's configuration
 *
 * The stream table (linear or two-level) gives the STE of a StreamID; a
 * translating STE points at a context descriptor for stage 1 and holds
 * the stage 2 parameters itself.  Every field comes from guest memory and
 * is checked: what the architecture calls ILLEGAL becomes C_BAD_STE or
 * C_BAD_CD, a failed fetch F_STE_FETCH or F_CD_FETCH, a StreamID the
 * table does not cover C_BAD_STREAMID.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "system/address-spaces.h"
#include "system/dma.h"
#include "smmuv3-internal.h"
#include "trace.h"

uint32_t smmuv3_sid(SMMUv3Device *sdev)
{
    return PCI_BUILD_BDF(pci_bus_num(sdev->bus), sdev->devfn);
}

/* The output size a PS or IPS field selects, never above the SMMU's OAS */
unsigned smmuv3_ps_bits(unsigned ps_field, unsigned oas_bits)
{
    static const uint8_t bits[8] = { 32, 36, 40, 42, 44, 48, 52, 52 };

    /* 52 bits and the reserved encoding mean "as large as there is" */
    return MIN(bits[ps_field & 7], oas_bits);
}

static bool config_fault(SMMUv3Fault *fault, uint8_t type, uint64_t addr,
                         const char *fmt, uint32_t sid)
{
    *fault = (SMMUv3Fault) {
        .type = type,
        .record = true,
        .fetch_addr = addr,
    };
    if (fmt) {
        qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: StreamID 0x%x: %s\n", sid,
                      fmt);
    }
    return false;
}

static bool fetch(uint64_t addr, uint64_t *words, unsigned n)
{
    if (dma_memory_read(&address_space_memory, addr, words, n * 8,
                        MEMTXATTRS_UNSPECIFIED) != MEMTX_OK) {
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        words[i] = le64_to_cpu(words[i]);
    }
    return true;
}

/* Read the STE of @sid from the stream table */
static bool fetch_ste(SMMUv3State *s, uint32_t sid, uint64_t ste[8],
                      SMMUv3Fault *fault)
{
    uint64_t base = s->strtab_base & 0x000fffffffffffc0ull;
    unsigned log2size = MIN(FIELD_EX32(s->strtab_base_cfg, STRTAB_BASE_CFG,
                                       LOG2SIZE), SMMUV3_SIDSIZE);
    uint64_t addr;

    if (sid >= (1ull << log2size)) {
        return config_fault(fault, SMMU_EVT_C_BAD_STREAMID, 0,
                            "beyond the stream table", sid);
    }
    if (FIELD_EX32(s->strtab_base_cfg, STRTAB_BASE_CFG, FMT) ==
        SMMU_STRTAB_FMT_2LVL) {
        unsigned split = FIELD_EX32(s->strtab_base_cfg, STRTAB_BASE_CFG,
                                    SPLIT);
        uint64_t l1;
        unsigned span;

        /* Only 6, 8 and 10 are defined; treat the others as 6 */
        if (split != 8 && split != 10) {
            split = 6;
        }
        addr = base + (uint64_t)(sid >> split) * SMMU_L1STD_SIZE;
        if (!fetch(addr, &l1, 1)) {
            return config_fault(fault, SMMU_EVT_F_STE_FETCH, addr,
                                "level 1 stream table fetch failed", sid);
        }
        span = SMMU_L1STD_SPAN(l1);
        if (span == 0 || span > split + 1 ||
            extract32(sid, 0, split) >= (1u << (span - 1))) {
            return config_fault(fault, SMMU_EVT_C_BAD_STREAMID, 0,
                                "no level 2 stream table covers it", sid);
        }
        addr = SMMU_L1STD_L2PTR(l1) +
               (uint64_t)extract32(sid, 0, split) * SMMU_STE_SIZE;
    } else {
        addr = base + (uint64_t)sid * SMMU_STE_SIZE;
    }
    if (!fetch(addr, ste, 8)) {
        return config_fault(fault, SMMU_EVT_F_STE_FETCH, addr,
                            "STE fetch failed", sid);
    }
    return true;
}

/* The granule a CD's TG0 or TG1 field selects, 0 for none */
static unsigned cd_granule(unsigned tg, bool ttb1)
{
    if (ttb1) {
        switch (tg) {
        case CD_TG1_4K:
            return 12;
        case CD_TG1_16K:
            return 14;
        case CD_TG1_64K:
            return 16;
        }
        return 0;
    }
    switch (tg) {
    case CD_TG0_4K:
        return 12;
    case CD_TG0_16K:
        return 14;
    case CD_TG0_64K:
        return 16;
    }
    return 0;
}

static bool decode_cd(SMMUv3State *s, const uint64_t cd[8],
                      SMMUv3StreamConfig *cfg, SMMUv3Fault *fault)
{
    unsigned ips = smmuv3_ps_bits(CD_IPS(cd), smmuv3_oas_bits(s));
    const char *why = NULL;

    if (!CD_VALID(cd)) {
        why = "CD not valid";
    } else if (!CD_AA64(cd)) {
        why = "CD.AA64 is 0: AArch32 tables are not supported";
    } else if (CD_ENDI(cd)) {
        why = "CD.ENDI is 1: big-endian tables are not supported";
    } else if (CD_S(cd)) {
        why = "CD.S is 1: stalls are not supported";
    }
    for (int i = 0; i < 2 && !why; i++) {
        SMMUv3TTParams *tt = &cfg->tt[i];

        tt->disabled = i ? CD_EPD1(cd) : CD_EPD0(cd);
        tt->tbi = i ? CD_TBI1(cd) : CD_TBI0(cd);
        tt->tsz = i ? CD_T1SZ(cd) : CD_T0SZ(cd);
        tt->ttb = i ? CD_TTB1(cd) : CD_TTB0(cd);
        tt->out_bits = ips;
        tt->granule_shift = cd_granule(i ? CD_TG1(cd) : CD_TG0(cd), i);
        if (cfg->el2 && i == 1) {
            tt->disabled = true;    /* EL2 without E2H has no TTB1 */
        }
        if (tt->disabled) {
            /* Unused: make it harmless for the size computations */
            tt->granule_shift = 12;
            tt->tsz = 39;
            smmuv3_tt_params_valid(tt, false, 0);
            continue;
        }
        if (!tt->granule_shift) {
            why = "CD.TGx selects no granule";
        } else if (!smmuv3_tt_params_valid(tt, false, 0)) {
            why = "CD.TxSZ out of range";
        }
    }
    if (why) {
        return config_fault(fault, SMMU_EVT_C_BAD_CD, 0, why, cfg->sid);
    }

    cfg->asid = CD_ASID(cd);
    cfg->s1_record = CD_R(cd);
    cfg->affd = CD_AFFD(cd);
    cfg->wxn = CD_WXN(cd);
    cfg->pan = CD_PAN(cd);
    return true;
}

/* Stage 2 parameters from the STE; why they are ILLEGAL, or NULL */
static const char *decode_s2(SMMUv3State *s, const uint64_t ste[8],
                             SMMUv3StreamConfig *cfg)
{
    SMMUv3TTParams *tt = &cfg->s2tt;

    if (!STE_S2AA64(ste)) {
        return "STE.S2AA64 is 0: AArch32 tables are not supported";
    }
    if (STE_S2ENDI(ste)) {
        return "STE.S2ENDI is 1: big-endian tables are not supported";
    }
    if (STE_S2S(ste)) {
        return "STE.S2S is 1: stalls are not supported";
    }
    switch (STE_S2TG(ste)) {
    case STE_S2TG_4K:
        tt->granule_shift = 12;
        break;
    case STE_S2TG_16K:
        tt->granule_shift = 14;
        break;
    case STE_S2TG_64K:
        tt->granule_shift = 16;
        break;
    default:
        return "STE.S2TG selects no granule";
    }
    tt->tsz = STE_S2T0SZ(ste);
    tt->ttb = STE_S2TTB(ste);
    tt->out_bits = smmuv3_ps_bits(STE_S2PS(ste), smmuv3_oas_bits(s));
    if (!smmuv3_tt_params_valid(tt, true, STE_S2SL0(ste))) {
        return "STE.S2T0SZ, S2SL0 and S2TG do not describe a walk";
    }
    cfg->s2_tlb_sizes = smmuv3_tt_block_sizes(tt);
    cfg->vmid = STE_S2VMID(ste);
    cfg->s2_record = STE_S2R(ste);
    cfg->s2affd = STE_S2AFFD(ste);
    return NULL;
}

bool smmuv3_stream_config(SMMUv3State *s, SMMUv3Device *sdev,
                          SMMUv3StreamConfig *cfg, SMMUv3Fault *fault)
{
    uint32_t sid = smmuv3_sid(sdev);
    uint64_t ste[8], cd[8], cd_pa;
    unsigned config;
    const char *why = NULL;

    *cfg = (SMMUv3StreamConfig) { .sid = sid };
    if (!fetch_ste(s, sid, ste, fault)) {
        return false;
    }
    if (!STE_VALID(ste)) {
        return config_fault(fault, SMMU_EVT_C_BAD_STE, 0, "STE not valid",
                            sid);
    }

    config = STE_CONFIG(ste);
    switch (config) {
    case STE_CONFIG_ABORT:
        cfg->kind = SMMUV3_STREAM_ABORT;
        goto done;
    case STE_CONFIG_BYPASS:
        cfg->kind = SMMUV3_STREAM_BYPASS;
        goto done;
    case STE_CONFIG_S1:
    case STE_CONFIG_S2:
    case STE_CONFIG_NESTED:
        break;
    default:
        return config_fault(fault, SMMU_EVT_C_BAD_STE, 0,
                            "reserved STE.Config", sid);
    }

    cfg->kind = SMMUV3_STREAM_TRANSLATE;
    cfg->s1 = config & 1;
    cfg->s2 = config & 2;
    cfg->privcfg = STE_PRIVCFG(ste);
    cfg->instcfg = STE_INSTCFG(ste);
    if ((cfg->s1 && !FIELD_EX32(s->idr[0], IDR0, S1P)) ||
        (cfg->s2 && !FIELD_EX32(s->idr[0], IDR0, S2P))) {
        return config_fault(fault, SMMU_EVT_C_BAD_STE, 0,
                            "STE.Config asks for a stage the SMMU lacks", sid);
    }

    if (cfg->s1) {
        switch (STE_STRW(ste)) {
        case STE_STRW_NSEL1:
            break;
        case STE_STRW_EL2:
            if (FIELD_EX32(s->idr[0], IDR0, HYP) && !cfg->s2) {
                cfg->el2 = !FIELD_EX32(s->cr[2], CR2, E2H);
                break;
            }
            /* fall through */
        default:
            return config_fault(fault, SMMU_EVT_C_BAD_STE, 0,
                                "STE.STRW not usable", sid);
        }
        if (STE_STRW(ste) == STE_STRW_EL2) {
            cfg->regime = cfg->el2 ? SMMUV3_REGIME_EL2 :
                                     SMMUV3_REGIME_EL2_E2H;
        } else {
            cfg->regime = cfg->s2 ? SMMUV3_REGIME_NESTED : SMMUV3_REGIME_S1;
        }
    } else {
        cfg->regime = SMMUV3_REGIME_S2;
    }

    if (cfg->s2) {
        why = decode_s2(s, ste, cfg);
        if (why) {
            return config_fault(fault, SMMU_EVT_C_BAD_STE, 0, why, sid);
        }
    } else if (FIELD_EX32(s->idr[0], IDR0, S2P) &&
               cfg->regime == SMMUV3_REGIME_S1) {
        /* With stage 2 implemented, stage 1 alone is tagged by a VMID */
        cfg->vmid = STE_S2VMID(ste);
    }

    if (cfg->s1) {
        /*
         * Without substreams (IDR1.SSIDSIZE 0), S1CDMAX and S1FMT are
         * ignored and S1ContextPtr is the stream's one CD.  It is an IPA
         * when stage 2 is on.
         */
        cd_pa = STE_S1CTXPTR(ste);
        if (cfg->s2 && !smmuv3_translate_ipa(s, cfg, cd_pa, SMMU_CLASS_CD,
                                             &cd_pa, fault)) {
            return false;
        }
        if (!fetch(cd_pa, cd, 8)) {
            return config_fault(fault, SMMU_EVT_F_CD_FETCH, cd_pa,
                                "CD fetch failed", sid);
        }
        if (!decode_cd(s, cd, cfg, fault)) {
            return false;
        }
        cfg->tlb_sizes = smmuv3_tt_block_sizes(&cfg->tt[0]) |
                         smmuv3_tt_block_sizes(&cfg->tt[1]);
    }
    if (cfg->s2) {
        cfg->tlb_sizes |= cfg->s2_tlb_sizes;
    }

    switch (cfg->regime) {
    case SMMUV3_REGIME_EL2:
        cfg->tlb_ctx = smmuv3_ctx_tag(cfg->regime, 0, 0);
        break;
    case SMMUV3_REGIME_EL2_E2H:
        cfg->tlb_ctx = smmuv3_ctx_tag(cfg->regime, 0, cfg->asid);
        break;
    case SMMUV3_REGIME_S2:
        cfg->tlb_ctx = smmuv3_ctx_tag(cfg->regime, cfg->vmid, 0);
        break;
    default:
        cfg->tlb_ctx = smmuv3_ctx_tag(cfg->regime, cfg->vmid, cfg->asid);
        break;
    }

done:
    trace_smmuv3_config(sid, cfg->kind, cfg->regime, cfg->vmid, cfg->asid);
    return true;
}
