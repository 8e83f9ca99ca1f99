/*
 * generic-fuzz-viommu-smmuv3: the fork's SMMUv3, fuzzed through its
 * registers, viommu-testdev's BAR and the guest memory the SMMU reads
 *
 * generic-fuzz writes and reads the SMMU's MMIO and the test device's
 * registers and buffer, and fills guest memory with its patterns as the
 * SMMU (or the device) reads it: stream table, CDs, page tables and
 * command queue entries.  Before each input, valid structures are built
 * at fixed addresses (see "Guest memory" below and
 * docs/devel/testing/fuzzing-viommu.rst), so that an input that points
 * the SMMU at them gets translations, not the first fault; the seeds in
 * tests/fuzz/corpus/smmuv3 do.
 *
 * After each command, a DMA the device completed is checked against an
 * independent model of the stream table: GBPA when SMMUEN is clear, and
 * with it set, the stream table walk (linear or two-level), STE.V and
 * STE.Config's abort, bypass, reserved values and stages the SMMU lacks.
 * Stage 1 and 2 walks are not modelled.  Since the SMMU may cache an STE
 * until the guest invalidates it, an input is checked only while what the
 * model reads has not changed since its first DMA.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitops.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include "tests/qtest/fuzz/fuzz.h"
#include "tests/qtest/fuzz/generic_fuzz.h"
#include "tests/qtest/libqos/smmuv3.h"
#include "viommu-fuzz.h"

#define DEVFN               QPCI_DEVFN(4, 0)
#define SID                 DEVFN           /* bus 0 */

/*
 * Guest memory (512 MiB from 0x40000000).  Each stream table holds the
 * test device's STE in another configuration, so that STRTAB_BASE alone
 * selects it; all are linear with LOG2SIZE 6 unless said otherwise.
 */
#define RAM_BASE            0x40000000ull
#define STRTAB_S1           0x41000000ull   /* stage 1 through CD_S1 */
#define STRTAB_BYPASS       0x41010000ull
#define STRTAB_ABORT        0x41020000ull   /* V=1, Config abort */
#define STRTAB_INVALID      0x41030000ull   /* V=0 */
#define STRTAB_S2           0x41040000ull   /* stage 2 through PT_S2 */
#define STRTAB_NESTED       0x41050000ull   /* CD_S1 at its IPA, PT_S2 */
#define STRTAB_2LVL         0x41060000ull   /* SPLIT 8: L1 here ... */
#define STRTAB_2LVL_L2      0x41064000ull   /* ... L2 of 256 STEs, S1 */
#define STRTAB_LOG2         6
#define CD_S1               0x41100000ull
#define ASID                1
#define VMID                1
#define PT_S1_POOL          0x41200000ull
#define PT_S2_POOL          0x41300000ull
#define PT_POOL_SIZE        (1 * MiB)
#define CMDQ                0x41400000ull
#define CMDQ_LOG2           6
#define EVENTQ              0x41500000ull
#define EVENTQ_LOG2         6
#define DATA                0x44000000ull
/* Stage 1 maps IOVA [0, DATA_PAGES * 4K) to DATA, in reverse order */
#define DATA_PAGES          64
/* ... and IOVA 0x40000000 onwards to RAM, as 1 GiB blocks */
#define IOVA_RAM            0x40000000ull

/* Registers the model reads (page 0) */
#define R_IDR0              0x00
#define R_IDR1              0x04
#define R_CR0ACK            0x24
#define R_GBPA              0x44
#define R_GERROR_IRQ_CFG0   0x68
#define R_STRTAB_BASE       0x80
#define R_STRTAB_BASE_CFG   0x88
#define R_EVENTQ_BASE       0xa0
#define R_EVENTQ_IRQ_CFG0   0xb0

#define IDR0_S2P            (1u << 0)
#define IDR0_S1P            (1u << 1)
#define IDR0_ST_LEVEL(v)    (((v) >> 27) & 3)
#define IDR1_SIDSIZE(v)     ((v) & 0x3f)
#define CFG_LOG2SIZE(v)     ((v) & 0x3f)
#define CFG_SPLIT(v)        (((v) >> 6) & 0x1f)
#define CFG_FMT(v)          (((v) >> 16) & 3)
#define ADDR_51_6           0x000fffffffffffc0ull
#define ADDR_51_2           0x000ffffffffffffcull
#define L1D_SPAN(v)         ((v) & 0x1f)
#define STE_V(w)            ((w) & 1)
#define STE_CONFIG(w)       (((w) >> 1) & 7)

typedef struct SmmuFuzz {
    QTestState *qts;
    QGenericPCIBus gbus;
    VFuzzTestdev td;
    /* The model's answer for the command being checked (check_id) */
    unsigned check_id;
    bool have_verdict;
    VFuzzDma verdict;
    int walk;                   /* VFUZZ_DMA_RAM through: a WALK_* */
    /* The model's view: what it read at the input's first DMA */
    bool seen;
    bool unstable;
    uint64_t first[16];
} SmmuFuzz;

static SmmuFuzz sf;

/* Which of the structures build_tables() wrote an STE uses */
enum { WALK_NONE, WALK_S1, WALK_S2, WALK_NESTED };

/*
 * What build_tables() wrote, so that the model can tell when the stage 1
 * and 2 tables an input uses are those, intact: then it knows the walk
 */
static struct {
    uint64_t ste[WALK_NESTED + 1][8];
    uint8_t cd[QSMMU_CD_SIZE];
    GByteArray *s1, *s2;        /* the table pools, as far as used */
} built;

static void remember(GByteArray **copy, uint64_t pa, uint64_t len)
{
    if (*copy) {
        g_byte_array_unref(*copy);
    }
    *copy = g_byte_array_sized_new(len);
    g_byte_array_set_size(*copy, len);
    vfuzz_ram_read(pa, (*copy)->data, len);
}

static bool intact(const uint8_t *copy, uint64_t pa, uint64_t len)
{
    const void *now = vfuzz_ram(pa, len);

    vfuzz_note_table(pa, len);
    return now && !memcmp(now, copy, len);
}

static uint64_t pa_of_data(unsigned i, void *opaque)
{
    return DATA + (uint64_t)(DATA_PAGES - 1 - i) * QSMMU_PAGE_SIZE;
}

/* The structures the seeds point the SMMU at; see "Guest memory" */
static void build_tables(QTestState *qts)
{
    static const uint64_t abort_ste[8] = { 1 };  /* V, Config 0 */
    static const uint64_t invalid_ste[8] = { 0 };
    QSMMUv3 s = { .qts = qts, .base = QSMMU_VIRT_BASE,
                  .strtab_log2size = STRTAB_LOG2 };
    QSMMUPageTable pt1, pt2;
    uint64_t l1d;

    /* Stage 1: the data pages, reversed, and RAM as 1 GiB blocks */
    qsmmu_pt_init(&pt1, qts, false, PT_S1_POOL, PT_POOL_SIZE);
    for (unsigned i = 0; i < DATA_PAGES; i++) {
        qsmmu_pt_map(&pt1, (uint64_t)i * QSMMU_PAGE_SIZE,
                     pa_of_data(i, NULL), i % 8 != 7);
    }
    qsmmu_pt_map_1g(&pt1, IOVA_RAM, RAM_BASE);
    qsmmu_cd_s1_4k(qts, CD_S1, pt1.root, ASID);

    /* Stage 2: RAM at its own address */
    qsmmu_pt_init(&pt2, qts, true, PT_S2_POOL, PT_POOL_SIZE);
    qsmmu_pt_map_1g(&pt2, RAM_BASE, RAM_BASE);

    s.strtab = STRTAB_S1;
    qsmmu_ste_s1(&s, SID, CD_S1);
    remember(&built.s1, PT_S1_POOL, pt1.next - PT_S1_POOL);
    remember(&built.s2, PT_S2_POOL, pt2.next - PT_S2_POOL);
    vfuzz_ram_read(CD_S1, built.cd, sizeof(built.cd));
    s.strtab = STRTAB_BYPASS;
    qsmmu_ste_bypass(&s, SID);
    s.strtab = STRTAB_ABORT;
    qsmmu_ste_raw(&s, SID, abort_ste);
    s.strtab = STRTAB_INVALID;
    qsmmu_ste_raw(&s, SID, invalid_ste);
    s.strtab = STRTAB_S2;
    qsmmu_ste_s2(&s, SID, pt2.root, 44, VMID);
    s.strtab = STRTAB_NESTED;
    qsmmu_ste_nested(&s, SID, CD_S1, pt2.root, 44, VMID);
    /* Two levels, SPLIT 8: L1 descriptor 0 covers SIDs 0..255 */
    l1d = cpu_to_le64(STRTAB_2LVL_L2 | 9);
    qtest_memwrite(qts, STRTAB_2LVL, &l1d, sizeof(l1d));
    s.strtab = STRTAB_2LVL_L2;
    s.strtab_log2size = 8;
    qsmmu_ste_s1(&s, SID, CD_S1);

    /*
     * Commands for CMDQ_PROD to reach: the invalidations a driver sends,
     * each followed by a CMD_SYNC
     */
    s.cmdq = CMDQ;
    s.cmdq_log2size = CMDQ_LOG2;
    qsmmu_cmd_write(&s, SMMU_CMD_CFGI_STE | ((uint64_t)SID << 32), 0);
    qsmmu_cmd_write(&s, SMMU_CMD_SYNC, 0);
    qsmmu_cmd_write(&s, SMMU_CMD_CFGI_CD | ((uint64_t)SID << 32), 0);
    qsmmu_cmd_write(&s, SMMU_CMD_TLBI_NH_ASID | ((uint64_t)ASID << 48), 0);
    qsmmu_cmd_write(&s, SMMU_CMD_TLBI_NH_VA | ((uint64_t)ASID << 48),
                    0x3000);
    qsmmu_cmd_write(&s, SMMU_CMD_TLBI_S12_VMALL | ((uint64_t)VMID << 32), 0);
    qsmmu_cmd_write(&s, SMMU_CMD_TLBI_NSNH_ALL, 0);
    qsmmu_cmd_write(&s, SMMU_CMD_SYNC | SMMU_SYNC_CS_IRQ, 0);

    vfuzz_ram_read(STRTAB_S1 + SID * 64, built.ste[WALK_S1], 64);
    vfuzz_ram_read(STRTAB_S2 + SID * 64, built.ste[WALK_S2], 64);
    vfuzz_ram_read(STRTAB_NESTED + SID * 64, built.ste[WALK_NESTED], 64);
    for (int w = WALK_S1; w <= WALK_NESTED; w++) {
        for (int i = 0; i < 8; i++) {
            built.ste[w][i] = le64_to_cpu(built.ste[w][i]);
        }
    }
}

/*
 * The structures of build_tables() that @ste uses, if it is one of their
 * STEs and they are intact; else WALK_NONE
 */
static int built_walk(const uint64_t ste[8])
{
    int w;

    for (w = WALK_S1; w <= WALK_NESTED; w++) {
        if (!memcmp(ste, built.ste[w], 64)) {
            break;
        }
    }
    if (w > WALK_NESTED) {
        return WALK_NONE;
    }
    if (w != WALK_S2 && (!intact(built.cd, CD_S1, QSMMU_CD_SIZE) ||
                         !intact(built.s1->data, PT_S1_POOL, built.s1->len))) {
        return WALK_NONE;
    }
    if (w != WALK_S1 &&
        !intact(built.s2->data, PT_S2_POOL, built.s2->len)) {
        return WALK_NONE;
    }
    return w;
}

/*
 * The walk through build_tables()' tables: stage 1 maps the data pages
 * (every eighth read-only) and RAM's 1 GiB as a block, stage 2 RAM's
 * 1 GiB; nested, stage 2 maps stage 1's tables and output one to one
 */
static VFuzzDma built_translate(int walk, uint64_t addr, bool is_write)
{
    const VFuzzDma unknown = { VFUZZ_DMA_UNKNOWN };
    const VFuzzDma fault = { VFUZZ_DMA_FAULT, 0, RES_TRANSLATION_FAULT };
    uint64_t page = addr >> 12;

    if (walk == WALK_S2) {
        if (addr >> 44) {
            return unknown;             /* past the IPA size */
        }
        return addr - RAM_BASE < 1 * GiB ?
               (VFuzzDma) { VFUZZ_DMA_RAM, addr } : fault;
    }
    if (addr >> 48) {
        return unknown;                 /* past TTB0's range */
    }
    if (page < DATA_PAGES) {
        if (is_write && page % 8 == 7) {
            return (VFuzzDma) { VFUZZ_DMA_FAULT, 0, RES_PERMISSION_FAULT };
        }
        return (VFuzzDma) { VFUZZ_DMA_RAM,
                            pa_of_data(page, NULL) + (addr & 0xfff) };
    }
    return addr - IOVA_RAM < 1 * GiB ?
           (VFuzzDma) { VFUZZ_DMA_RAM, addr } : fault;
}

static uint32_t smmu_rd(uint64_t off)
{
    return qtest_readl(sf.qts, QSMMU_VIRT_BASE + off);
}

static uint64_t smmu_rdq(uint64_t off)
{
    return qtest_readq(sf.qts, QSMMU_VIRT_BASE + off);
}

static VFuzzDma dma_fault(void)
{
    return (VFuzzDma) { VFUZZ_DMA_FAULT, 0, RES_TRANSLATION_FAULT };
}

static VFuzzDma dma_unknown(void)
{
    return (VFuzzDma) { VFUZZ_DMA_UNKNOWN };
}

/*
 * Whether the model's inputs are what they were at the input's first DMA
 * with the SMMU enabled: if not, a cached STE may still legitimately be
 * in use.
 */
static bool view_stable(const uint64_t *view, size_t n)
{
    if (sf.unstable) {
        return false;
    }
    if (!sf.seen) {
        memcpy(sf.first, view, n * sizeof(*view));
        sf.seen = true;
        return true;
    }
    if (memcmp(sf.first, view, n * sizeof(*view))) {
        sf.unstable = true;
    }
    return !sf.unstable;
}

/* Where the SMMU writes on its own, so a DMA there changes no claim */
static void note_smmu_writes(void)
{
    uint64_t eq = smmu_rdq(R_EVENTQ_BASE);
    unsigned log2 = MIN(eq & 0x1f, 19);

    vfuzz_note_table(eq & 0x000fffffffffffe0ull, (uint64_t)32 << log2);
    vfuzz_note_table(smmu_rdq(R_EVENTQ_IRQ_CFG0) & ADDR_51_2, 4);
    vfuzz_note_table(smmu_rdq(R_GERROR_IRQ_CFG0) & ADDR_51_2, 4);
}

/*
 * What the stream table says of the test device's StreamID: a fault, an
 * unknown, or VFUZZ_DMA_RAM for "untranslated"
 */
static VFuzzDma smmu_verdict(void)
{
    VFuzzDma identity = { VFUZZ_DMA_RAM };
    /* CR0ACK.SMMUEN, -, STRTAB_BASE, its CFG, the L1 descriptor, the STE */
    uint64_t view[4 + 1 + 8] = { 0 };
    uint32_t idr0, cfg, log2size, split, span;
    uint64_t base, ste_pa, l1_pa, l2_index;
    bool ok;

    note_smmu_writes();
    view[0] = smmu_rd(R_CR0ACK) & SMMU_CR0_SMMUEN;
    if (!view[0]) {
        /* GBPA applies at once, through no cache */
        return smmu_rd(R_GBPA) & SMMU_GBPA_ABORT ? dma_fault() : identity;
    }

    idr0 = smmu_rd(R_IDR0);
    view[2] = smmu_rdq(R_STRTAB_BASE);
    view[3] = cfg = smmu_rd(R_STRTAB_BASE_CFG);
    base = view[2] & ADDR_51_6;
    log2size = MIN(CFG_LOG2SIZE(cfg), IDR1_SIDSIZE(smmu_rd(R_IDR1)));
    if (SID >> log2size) {
        return view_stable(view, ARRAY_SIZE(view)) ? dma_fault()
                                                   : dma_unknown();
    }
    switch (CFG_FMT(cfg)) {
    case 0:
        /*
         * A base not aligned to the table's size is not claimed.  The
         * size is the one the literal LOG2SIZE gives, even above SIDSIZE
         * (IHI 0070, STRTAB_BASE_CFG.LOG2SIZE): 63 asks for 2^69 bytes,
         * which no base but 0 meets
         */
        if (base & MAKE_64BIT_MASK(0, MIN(CFG_LOG2SIZE(cfg) + 6, 64))) {
            return dma_unknown();
        }
        ste_pa = base + SID * 64;
        break;
    case 1:
        split = CFG_SPLIT(cfg);
        if (IDR0_ST_LEVEL(idr0) != 1 ||
            (split != 6 && split != 8 && split != 10)) {
            return dma_unknown();
        }
        /* The L1 table's alignment, by the literal LOG2SIZE too */
        if (CFG_LOG2SIZE(cfg) > split &&
            (base & MAKE_64BIT_MASK(0, MIN(CFG_LOG2SIZE(cfg) - split + 3,
                                           64)))) {
            return dma_unknown();
        }
        l1_pa = base + (SID >> split) * 8;
        vfuzz_note_table(l1_pa, 8);
        view[4] = vfuzz_ram_ldq_le(l1_pa, &ok);
        if (!ok) {
            return dma_unknown();
        }
        span = L1D_SPAN(view[4]);
        l2_index = SID & ((1u << split) - 1);
        if (span > split + 1 ||
            (span && ((view[4] & ADDR_51_6) & ((32ull << span) - 1)))) {
            return dma_unknown();
        }
        if (!span || (l2_index >> (span - 1))) {
            return view_stable(view, ARRAY_SIZE(view)) ? dma_fault()
                                                       : dma_unknown();
        }
        ste_pa = (view[4] & ADDR_51_6) + l2_index * 64;
        break;
    default:
        return dma_unknown();
    }

    vfuzz_note_table(ste_pa, 64);
    if (!vfuzz_ram_read(ste_pa, &view[5], 64)) {
        return dma_unknown();
    }
    for (int i = 5; i < 13; i++) {
        view[i] = le64_to_cpu(view[i]);
    }
    if (!view_stable(view, ARRAY_SIZE(view))) {
        return dma_unknown();
    }
    if (!STE_V(view[5])) {
        return dma_fault();                 /* C_BAD_STE */
    }
    switch (STE_CONFIG(view[5])) {
    case 0:
        return dma_fault();                 /* abort */
    case 4:
        return identity;                    /* bypass */
    case 5:
    case 6:
    case 7:
        if (((STE_CONFIG(view[5]) & 1) && !(idr0 & IDR0_S1P)) ||
            ((STE_CONFIG(view[5]) & 2) && !(idr0 & IDR0_S2P))) {
            return dma_fault();             /* a stage it lacks: ILLEGAL */
        }
        /*
         * A walk: known only through build_tables()' tables, while they
         * are intact; once they change, a cached walk may be in use
         */
        sf.walk = built_walk(&view[5]);
        if (sf.walk == WALK_NONE) {
            sf.unstable = true;
            return dma_unknown();
        }
        return identity;
    default:
        return dma_fault();                 /* reserved Config: ILLEGAL */
    }
}

static VFuzzDma smmu_resolve(void *opaque, uint64_t addr, bool is_write)
{
    if (!sf.have_verdict || sf.check_id != vfuzz_check_id()) {
        sf.walk = WALK_NONE;
        sf.verdict = smmu_verdict();
        sf.have_verdict = true;
        sf.check_id = vfuzz_check_id();
    }
    if (sf.verdict.kind == VFUZZ_DMA_RAM) {
        return sf.walk == WALK_NONE ? (VFuzzDma) { VFUZZ_DMA_RAM, addr }
                                    : built_translate(sf.walk, addr, is_write);
    }
    return sf.verdict;
}

static void smmu_before_input(QTestState *s)
{
    sf.qts = s;
    vfuzz_virt_input_begin(s, &sf.gbus, &sf.td, DEVFN, 64 * MiB);
    build_tables(s);
    sf.seen = false;
    sf.unstable = false;
}

static void smmu_after_command(QTestState *s)
{
    vfuzz_command_done("an SMMUv3 input's command");
    sf.have_verdict = false;
    vfuzz_testdev_after_command(&sf.td, smmu_resolve, NULL);
    vfuzz_clock_restart();
}

static const GenericFuzzConfig smmuv3_config = {
    .name = "viommu-smmuv3",
    .description = "The fork's SMMUv3: its registers, viommu-testdev's "
                   "BAR and the tables in guest memory, with DMA checked "
                   "against a model of the stream table",
    .args = "-M virt,iommu=smmuv3 -cpu max -nodefaults "
            "-device viommu-testdev,addr=4.0,"
            "x-burst-max-count=" VFUZZ_BURST_MAX,
    .objects = "arm-smmuv3 viommu-testdev-*",
    .before_input = smmu_before_input,
    .after_command = smmu_after_command,
};

static void register_smmuv3_fuzz(void)
{
    generic_fuzz_add_config(&smmuv3_config);
}

fuzz_target_init(register_smmuv3_fuzz);
