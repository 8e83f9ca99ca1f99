/*
 * Arm SMMUv3: finding and decoding a stream's configuration
 *
 * The stream table (linear or two-level) gives the STE of a StreamID; a
 * translating STE points at a context descriptor for stage 1 and holds
 * the stage 2 parameters itself.  Every field comes from guest memory and
 * is checked: what the architecture calls ILLEGAL becomes C_BAD_STE or
 * C_BAD_CD, a failed fetch F_STE_FETCH or F_CD_FETCH, a StreamID the
 * table does not cover C_BAD_STREAMID.  A leaf: a nested CD pointer is
 * an IPA, which the caller's function translates.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/bswap.h"
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
                         const char *why, uint32_t sid)
{
    *fault = (SMMUv3Fault) {
        .type = type,
        .record = true,
        .fetch_addr = addr,
    };
    qemu_log_mask(LOG_GUEST_ERROR, "smmuv3: StreamID 0x%x: %s\n", sid, why);
    return false;
}

/* A StreamID the stream table does not cover: recorded if CR2 says so */
static bool bad_streamid(SMMUv3State *s, SMMUv3Fault *fault, const char *why,
                         uint32_t sid)
{
    config_fault(fault, SMMU_EVT_C_BAD_STREAMID, 0, why, sid);
    fault->record = FIELD_EX32(s->cr[2], CR2, RECINVSID);
    return false;
}

static bool fetch(SMMUv3State *s, uint64_t addr, uint64_t *words,
                  unsigned n)
{
    if (!smmuv3_read_ram(&s->ram_cache, addr, words, n * 8)) {
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        words[i] = le64_to_cpu(words[i]);
    }
    return true;
}

/*
 * Read the STE of @sid from the stream table.  STRTAB_BASE_CFG.LOG2SIZE
 * above IDR1.SIDSIZE is taken as SIDSIZE, a reserved SPLIT as 6, a
 * reserved FMT as linear.
 */
static bool fetch_ste(SMMUv3State *s, uint32_t sid, uint64_t ste[8],
                      SMMUv3Fault *fault)
{
    uint64_t base = SMMU_ADDR_51_6(s->strtab_base);
    unsigned cfg_log2size = FIELD_EX32(s->strtab_base_cfg, STRTAB_BASE_CFG,
                                       LOG2SIZE);
    unsigned log2size = MIN(cfg_log2size, SMMUV3_SIDSIZE);
    uint64_t addr;

    if (sid >= (1ull << log2size)) {
        return bad_streamid(s, fault, "beyond the stream table", sid);
    }
    if (FIELD_EX32(s->strtab_base_cfg, STRTAB_BASE_CFG, FMT) ==
        SMMU_STRTAB_FMT_2LVL) {
        unsigned split = FIELD_EX32(s->strtab_base_cfg, STRTAB_BASE_CFG,
                                    SPLIT);
        uint64_t l1;
        unsigned span;

        if (split != 8 && split != 10) {
            split = 6;
        }
        /* The L1 table is aligned to its size (by the literal LOG2SIZE) */
        if (cfg_log2size >= split) {
            base &= ~MAKE_64BIT_MASK(0, cfg_log2size - split + 3);
        }
        addr = base + (uint64_t)(sid >> split) * SMMU_L1STD_SIZE;
        if (!fetch(s, addr, &l1, 1)) {
            return config_fault(fault, SMMU_EVT_F_STE_FETCH, addr,
                                "level 1 stream table fetch failed", sid);
        }
        /*
         * SPAN 0 is an invalid descriptor; one above SPLIT + 1 is
         * reserved and taken as invalid too
         */
        span = SMMU_L1STD_SPAN(l1);
        if (span == 0 || span > split + 1 ||
            extract32(sid, 0, split) >= (1u << (span - 1))) {
            return bad_streamid(s, fault, "no level 2 stream table covers it",
                                sid);
        }
        /* The level 2 array is aligned to its size, 2^(Span - 1) STEs */
        addr = (SMMU_L1STD_L2PTR(l1) & ~MAKE_64BIT_MASK(0, 5 + span)) +
               (uint64_t)extract32(sid, 0, split) * SMMU_STE_SIZE;
    } else {
        /* A linear table is aligned to its size (by the literal LOG2SIZE) */
        base &= ~MAKE_64BIT_MASK(0, MIN(cfg_log2size + 6, 64));
        addr = base + (uint64_t)sid * SMMU_STE_SIZE;
    }
    if (!fetch(s, addr, ste, 8)) {
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

/* Why a CD is ILLEGAL, or NULL */
static const char *decode_cd(SMMUv3State *s, const uint64_t cd[8],
                             SMMUv3StreamConfig *cfg)
{
    unsigned ips = smmuv3_ps_bits(CD_IPS(cd), s->oas);
    bool one_el = smmuv3_regime_one_el(cfg->regime);

    if (!CD_VALID(cd)) {
        return "CD not valid";
    }
    if (!CD_AA64(cd)) {
        return "CD.AA64 is 0: AArch32 tables are not supported";
    }
    /* ENDI matters where a table is used: EPD0 clear, or EPD1 outside EL2 */
    if (CD_ENDI(cd) && (!CD_EPD0(cd) || (!CD_EPD1(cd) && !one_el))) {
        return "CD.ENDI is 1: big-endian tables are not supported";
    }
    if (CD_S(cd)) {
        return "CD.S is 1: stalls are not supported (IDR0.STALL_MODEL)";
    }
    if (!CD_A(cd)) {
        return "CD.A is 0: faults must abort (IDR0.TERM_MODEL)";
    }
    if (CD_HA(cd) || CD_HD(cd)) {
        return "CD.HA or CD.HD is 1: no hardware updates (IDR0.HTTU)";
    }
    for (int i = 0; i < 2; i++) {
        SMMUv3TTParams *tt = &cfg->tt[i];

        tt->disabled = i ? CD_EPD1(cd) : CD_EPD0(cd);
        tt->tbi = i ? CD_TBI1(cd) : CD_TBI0(cd);
        tt->tsz = i ? CD_T1SZ(cd) : CD_T0SZ(cd);
        tt->ttb = i ? CD_TTB1(cd) : CD_TTB0(cd);
        tt->out_bits = ips;
        tt->granule_shift = cd_granule(i ? CD_TG1(cd) : CD_TG0(cd), i);
        if (one_el && i == 1) {
            /* EL2 without E2H has TTB0 only */
            tt->disabled = true;
            tt->tbi = false;
        }
        cfg->tbi_shift[i] = tt->tbi ? 8 : 0;
        if (tt->disabled) {
            /* Unused: make it harmless for the size computations */
            tt->granule_shift = 12;
            tt->tsz = 39;
            smmuv3_tt_params_valid(tt, false, 0);
            continue;
        }
        if (!tt->granule_shift) {
            return "CD.TGx selects no granule";
        }
        if (!smmuv3_tt_params_valid(tt, false, 0)) {
            return "CD.TxSZ out of range";
        }
        if (tt->ttb >> ips) {
            return "CD.TTBx beyond the output size CD.IPS selects";
        }
    }
    cfg->asid = one_el ? 0 : CD_ASID(cd);
    cfg->s1_record = CD_R(cd);
    cfg->affd = CD_AFFD(cd);
    cfg->wxn = CD_WXN(cd);
    cfg->pan = CD_PAN(cd);
    return NULL;
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
    tt->out_bits = smmuv3_ps_bits(STE_S2PS(ste), s->oas);
    if (STE_S2HA(ste) || STE_S2HD(ste)) {
        return "STE.S2HA or STE.S2HD is 1: no hardware updates (IDR0.HTTU)";
    }
    if (!smmuv3_tt_params_valid(tt, true, STE_S2SL0(ste))) {
        return "STE.S2T0SZ, S2SL0 and S2TG do not describe a walk";
    }
    /* The IPA space is at most the IAS, which is the OAS here */
    if (64 - tt->tsz > s->oas) {
        return "STE.S2T0SZ gives more IPA bits than the SMMU's IAS";
    }
    if (tt->ttb >> tt->out_bits) {
        return "STE.S2TTB beyond the output size STE.S2PS selects";
    }
    cfg->s2_tlb_sizes = smmuv3_tt_block_sizes(tt);
    cfg->vmid = STE_S2VMID(ste);
    cfg->s2_record = STE_S2R(ste);
    cfg->s2affd = STE_S2AFFD(ste);
    return NULL;
}

/*
 * The translation regime of a translating STE.  STE.STRW selects the
 * StreamWorld of stage 1 alone: with stage 2 enabled, or without
 * IDR0.HYP (where it is RES0), it is ignored and the stream is NS-EL1.
 */
static const char *decode_regime(SMMUv3State *s, const uint64_t ste[8],
                                 bool s1, bool s2, SMMUv3StreamConfig *cfg)
{
    if (s2) {
        cfg->regime = s1 ? SMMUV3_REGIME_NESTED : SMMUV3_REGIME_S2;
        return NULL;
    }
    cfg->regime = SMMUV3_REGIME_S1;
    if (!FIELD_EX32(s->idr[0], IDR0, HYP)) {
        return NULL;
    }
    switch (STE_STRW(ste)) {
    case STE_STRW_NSEL1:
        return NULL;
    case STE_STRW_EL2:
        cfg->regime = FIELD_EX32(s->cr[2], CR2, E2H) ?
                      SMMUV3_REGIME_EL2_E2H : SMMUV3_REGIME_EL2;
        return NULL;
    default:
        /* 0b01 (EL3, a Secure world) and 0b11 are reserved here */
        return "STE.STRW is reserved";
    }
}

/* The IOTLB context of a translating configuration */
static uint64_t tlb_context(const SMMUv3StreamConfig *cfg)
{
    switch (cfg->regime) {
    case SMMUV3_REGIME_EL2:
        return smmuv3_ctx_tag(cfg->regime, 0, 0);
    case SMMUV3_REGIME_EL2_E2H:
        return smmuv3_ctx_tag(cfg->regime, 0, cfg->asid);
    case SMMUV3_REGIME_S2:
        return smmuv3_ctx_tag(cfg->regime, cfg->vmid, 0);
    default:
        return smmuv3_ctx_tag(cfg->regime, cfg->vmid, cfg->asid);
    }
}

bool smmuv3_stream_config(SMMUv3State *s, uint32_t sid,
                          SMMUv3StreamConfig *cfg, SMMUv3IpaFn *ipa_fn,
                          void *opaque, SMMUv3Fault *fault)
{
    uint64_t ste[8], cd[8], cd_pa;
    unsigned config;
    const char *why;
    bool s1, s2;

    *cfg = (SMMUv3StreamConfig) { .sid = sid, .ram = &s->ram_cache };
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
    s1 = config & 1;
    s2 = config & 2;
    /*
     * Reserved encodings (0b01) are taken as "use the incoming value";
     * without IDR1.ATTR_PERMS_OVR the fields are ignored, as upstream does
     */
    if (FIELD_EX32(s->idr[1], IDR1, ATTR_PERMS_OVR)) {
        cfg->privcfg = STE_PRIVCFG(ste);
        cfg->instcfg = STE_INSTCFG(ste);
    } else {
        cfg->privcfg = cfg->instcfg = STE_ATTRCFG_INCOMING;
    }
    if ((s1 && !FIELD_EX32(s->idr[0], IDR0, S1P)) ||
        (s2 && !FIELD_EX32(s->idr[0], IDR0, S2P))) {
        return config_fault(fault, SMMU_EVT_C_BAD_STE, 0,
                            "STE.Config asks for a stage the SMMU lacks", sid);
    }
    why = decode_regime(s, ste, s1, s2, cfg);
    if (!why && s1 && STE_S1STALLD(ste)) {
        why = "STE.S1STALLD is 1: stalls are not supported "
              "(IDR0.STALL_MODEL)";
    }
    if (!why && s2) {
        why = decode_s2(s, ste, cfg);
    } else if (!why && FIELD_EX32(s->idr[0], IDR0, S2P) &&
               cfg->regime == SMMUV3_REGIME_S1) {
        /* With stage 2 implemented, stage 1 alone is tagged by a VMID */
        cfg->vmid = STE_S2VMID(ste);
    }
    if (why) {
        return config_fault(fault, SMMU_EVT_C_BAD_STE, 0, why, sid);
    }

    if (s1) {
        /*
         * Without substreams (IDR1.SSIDSIZE 0), S1CDMAX and S1FMT are
         * ignored and S1ContextPtr is the stream's one CD.  It is an IPA
         * when stage 2 is on.  Beyond the OAS (a PA) or the IAS (an IPA,
         * and the IAS is the OAS here) the STE is ILLEGAL: SMMUv3.1 on
         * must say so for a PA, and may for an IPA.
         */
        cd_pa = STE_S1CTXPTR(ste);
        if (cd_pa >> s->oas) {
            return config_fault(fault, SMMU_EVT_C_BAD_STE, 0,
                                "STE.S1ContextPtr beyond the address size",
                                sid);
        }
        if (s2 && !ipa_fn(opaque, cd_pa, SMMU_CLASS_CD, &cd_pa, fault)) {
            return false;
        }
        if (!fetch(s, cd_pa, cd, 8)) {
            return config_fault(fault, SMMU_EVT_F_CD_FETCH, cd_pa,
                                "CD fetch failed", sid);
        }
        why = decode_cd(s, cd, cfg);
        if (why) {
            return config_fault(fault, SMMU_EVT_C_BAD_CD, 0, why, sid);
        }
        cfg->tlb_sizes = smmuv3_tt_block_sizes(&cfg->tt[0]) |
                         smmuv3_tt_block_sizes(&cfg->tt[1]);
    }
    cfg->tlb_sizes |= cfg->s2_tlb_sizes;
    cfg->tlb_ctx = tlb_context(cfg);

done:
    trace_smmuv3_config(sid, cfg->kind, cfg->regime, cfg->vmid, cfg->asid);
    return true;
}
