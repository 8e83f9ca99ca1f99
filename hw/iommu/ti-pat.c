/*
 * TI Page-based Address Translator (PAT), as on TI K3 SoCs (J721E)
 *
 * A PAT owns a window of physical address space.  An access that hits
 * the window, from a CPU or from any bus master, is re-issued at
 * table[(addr - window base) / page size] + (addr % page size).  The
 * table is the PAT's own SRAM, written by the guest through the TABLE
 * region; MMRS holds the revision, the entry count and CONTROL.
 *
 * The window is an IOMMU memory region mapped in system memory, so the
 * memory API sends every master's access through ti_pat_translate():
 * CPUs through the TCG TLB, devices through their DMA address space, and
 * VFIO's listener through the region's notifiers.  An access keeps its
 * security state through the window: the lookup has a Non-secure and a
 * Secure index, each leading to the memory the CPUs see in that state.
 * What the hardware leaves undefined (an access while the PAT is off,
 * through a disabled entry or past the table) completes with a decode
 * error; see docs/system/devices/ti-pat.rst.
 *
 * The device knows nothing of the board: the machine chooses the bases
 * it leaves to it before realize, links it to the memory behind the
 * window, maps its three regions and describes them (virt does so in
 * hw/arm/virt.c).
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/accel.h"
#include "qemu/bitmap.h"
#include "qemu/bitops.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "hw/qdev-properties.h"
#include "hw/registerfields.h"
#include "migration/vmstate.h"
#include "system/address-spaces.h"
#include "system/qtest.h"
#include "system/tcg.h"
#include "hw/iommu/side-effect-free-lookup.h"
#include "hw/iommu/viommu-notify.h"
#include "hw/iommu/ti-pat.h"
#include "trace.h"

/* MMRS */
REG32(PID, 0x0)
    FIELD(PID, MINOR, 0, 6)
    FIELD(PID, MAJOR, 8, 3)
REG32(CONFIG, 0x4)
REG32(CONTROL, 0x10)
    FIELD(CONTROL, EN, 0, 1)
    FIELD(CONTROL, REPLACE_OID_EN, 1, 1)
    FIELD(CONTROL, PAGE_SIZE, 4, 2)
    FIELD(CONTROL, ARB_MODE, 6, 2)

#define TI_PAT_CONTROL_WRITABLE (R_CONTROL_EN_MASK | \
                                 R_CONTROL_REPLACE_OID_EN_MASK | \
                                 R_CONTROL_PAGE_SIZE_MASK | \
                                 R_CONTROL_ARB_MODE_MASK)

#define TI_PAT_PID_MAJOR 1
#define TI_PAT_PID_MINOR 0

/* TABLE: entry i at (i / 256) * 4 KiB + (i % 256) * 8 */
REG32(ENTRY_ADDRL, 0x0)
REG32(ENTRY_ADDRH, 0x4)
    FIELD(ENTRY_ADDRH, ADDR, 0, 4)
    FIELD(ENTRY_ADDRH, ENABLE, 31, 1)

#define TI_PAT_ENTRIES_PER_BLOCK 256
#define TI_PAT_TABLE_BLOCK       4096
#define TI_PAT_ENTRY_SIZE        8
#define TI_PAT_ENTRY_ENABLE      (1ull << (32 + R_ENTRY_ADDRH_ENABLE_SHIFT))
#define TI_PAT_ENTRY_VALID_BITS  (TI_PAT_ENTRY_ENABLE | \
                                  ((uint64_t)R_ENTRY_ADDRH_ADDR_MASK << 32) | \
                                  UINT32_MAX)

#define TI_PAT_MMRS_MIN_SIZE    0x100
#define TI_PAT_MAX_ENTRIES      (1u << 20)
#define TI_PAT_MIN_PAGE         (4 * KiB)
#define TI_PAT_MAX_PAGE         (1 * MiB)

/* Translation indexes: an access keeps its security state through a PAT */
enum {
    TI_PAT_IDX_NONSECURE,
    TI_PAT_IDX_SECURE,
    TI_PAT_IDX_COUNT,
};

static const char *const ti_pat_region_name[TI_PAT_REGION_COUNT] = {
    [TI_PAT_REGION_MMRS] = "mmrs",
    [TI_PAT_REGION_TABLE] = "table",
    [TI_PAT_REGION_WINDOW] = "window",
};

/*
 * Every realized PAT.  Translation reads it to refuse an entry that points
 * into a window: the memory API would follow such a chain without end.
 * It changes only while devices are realized, before the guest runs.
 */
static QTAILQ_HEAD(, TIPATState) ti_pat_instances =
    QTAILQ_HEAD_INITIALIZER(ti_pat_instances);

/*
 * Where a PAT's output goes, for one memory (the Non-secure or the Secure
 * view of the machine).  Shared by all PATs.
 *
 * An access through the window (RO or WO: a device's DMA, or qtest's)
 * goes on in @dma: the memory seen through the 48 bits a PAT can address,
 * an address space of its own for speed.  A device without an IOMMU
 * reaches the window through a view of system memory that shares
 * address_space_memory's dispatch, and the two lookups of every access
 * (the window, then RAM) would keep evicting each other from that
 * dispatch's one-entry cache.
 *
 * A lookup that asks for no access (IOMMU_NONE) gets @cpu, an address
 * space whose root is the memory itself.  TCG asks so when it fills a
 * vCPU's TLB: it keeps the index of an MMIO target's section and later
 * resolves it in the vCPU's own address space for the access's
 * attributes, so the section must come from the dispatch of that very
 * memory (a Secure access's from the Secure space).  Others ask so too
 * (the memory core's default replay, viommu-testdev's fault analysis)
 * and get the same answer.  For system memory @cpu is
 * address_space_memory, which notifications name, as VFIO wants.
 */
struct TIPATOutput {
    MemoryRegion *root;
    AddressSpace *cpu;
    AddressSpace dma;
    MemoryRegion dma_root;
    QLIST_ENTRY(TIPATOutput) next;
};

static QLIST_HEAD(, TIPATOutput) ti_pat_outputs =
    QLIST_HEAD_INITIALIZER(ti_pat_outputs);

static TIPATOutput *ti_pat_output(MemoryRegion *root)
{
    g_autofree char *name = NULL;
    TIPATOutput *out;

    QLIST_FOREACH(out, &ti_pat_outputs, next) {
        if (out->root == root) {
            return out;
        }
    }
    name = g_strdup_printf("ti-pat-output:%s", memory_region_name(root));
    out = g_new0(TIPATOutput, 1);
    out->root = root;
    if (root == get_system_memory()) {
        out->cpu = &address_space_memory;
    } else {
        out->cpu = g_new0(AddressSpace, 1);
        address_space_init(out->cpu, root, name);
    }
    memory_region_init_alias(&out->dma_root, NULL, name, root, 0, 1ull << 48);
    address_space_init(&out->dma, &out->dma_root, name);
    QLIST_INSERT_HEAD(&ti_pat_outputs, out, next);
    return out;
}

static unsigned ti_pat_page_shift(uint32_t control)
{
    static const uint8_t shift[4] = { 12, 14, 16, 20 };

    return shift[FIELD_EX32(control, CONTROL, PAGE_SIZE)];
}

static hwaddr ti_pat_entry_pa(uint64_t entry)
{
    return (entry & UINT32_MAX) << 12 |
           ((entry >> 32) & R_ENTRY_ADDRH_ADDR_MASK) << 44;
}

static bool ti_pat_entry_enabled(uint64_t entry)
{
    return entry & TI_PAT_ENTRY_ENABLE;
}

static bool ti_pat_hits_a_window(hwaddr pa, uint64_t len)
{
    TIPATState *p;

    QTAILQ_FOREACH(p, &ti_pat_instances, next) {
        uint64_t base = p->base[TI_PAT_REGION_WINDOW];

        if (pa < base + p->size[TI_PAT_REGION_WINDOW] && base < pa + len) {
            return true;
        }
    }
    return false;
}

/* ---- translation ---- */

typedef enum TIPATDecodeError {
    TI_PAT_ERR_DISABLED,
    TI_PAT_ERR_PAST_TABLE,
    TI_PAT_ERR_ENTRY_DISABLED,
    TI_PAT_ERR_INTO_WINDOW,
} TIPATDecodeError;

static const char *const ti_pat_decode_error_name[] = {
    [TI_PAT_ERR_DISABLED] = "the PAT is disabled (CONTROL.EN=0)",
    [TI_PAT_ERR_PAST_TABLE] = "the page is past the table",
    [TI_PAT_ERR_ENTRY_DISABLED] = "the entry is disabled",
    [TI_PAT_ERR_INTO_WINDOW] = "the entry points into a PAT window",
};

static IOMMUTLBEntry ti_pat_decode_error(TIPATState *s, AddressSpace *as,
                                         hwaddr addr, uint64_t index,
                                         TIPATDecodeError why)
{
    trace_ti_pat_decode_error(s->base[TI_PAT_REGION_WINDOW] + addr, index,
                              why);
    qemu_log_mask(LOG_GUEST_ERROR,
                  "ti-pat: access to 0x%" HWADDR_PRIx " (page %" PRIu64
                  ") completes with a decode error: %s\n",
                  s->base[TI_PAT_REGION_WINDOW] + addr, index,
                  ti_pat_decode_error_name[why]);
    return (IOMMUTLBEntry) {
        .target_as = as,
        .iova = addr & ~(hwaddr)(TI_PAT_MIN_PAGE - 1),
        .addr_mask = TI_PAT_MIN_PAGE - 1,
        .perm = IOMMU_NONE,
    };
}

/*
 * The largest block the memory API can use for page @index: it adds the
 * offset to the output with an OR, so a page whose output is aligned to
 * less than the page size is handed out in smaller, aligned blocks.
 */
static unsigned ti_pat_block_shift(hwaddr pa, unsigned page_shift)
{
    return pa ? MIN(page_shift, ctz64(pa)) : page_shift;
}

static IOMMUTLBEntry ti_pat_translate(IOMMUMemoryRegion *iommu, hwaddr addr,
                                      IOMMUAccessFlags flag, int iommu_idx)
{
    TIPATState *s = container_of(iommu, TIPATState, window);
    TIPATOutput *out = s->output[iommu_idx == TI_PAT_IDX_SECURE];
    AddressSpace *as = flag == IOMMU_NONE ? out->cpu : &out->dma;
    uint32_t control = qatomic_read(&s->control);
    unsigned shift = ti_pat_page_shift(control);
    uint64_t index = addr >> shift;
    uint64_t entry, mask;
    hwaddr pa;

    if (!FIELD_EX32(control, CONTROL, EN)) {
        return ti_pat_decode_error(s, as, addr, index, TI_PAT_ERR_DISABLED);
    }
    if (index >= s->num_entries) {
        return ti_pat_decode_error(s, as, addr, index,
                                   TI_PAT_ERR_PAST_TABLE);
    }
    entry = qatomic_read(&s->entries[index]);
    if (!ti_pat_entry_enabled(entry)) {
        return ti_pat_decode_error(s, as, addr, index,
                                   TI_PAT_ERR_ENTRY_DISABLED);
    }
    pa = ti_pat_entry_pa(entry);
    if (ti_pat_hits_a_window(pa, 1ull << shift)) {
        return ti_pat_decode_error(s, as, addr, index,
                                   TI_PAT_ERR_INTO_WINDOW);
    }

    mask = (1ull << ti_pat_block_shift(pa, shift)) - 1;
    trace_ti_pat_translate(s->base[TI_PAT_REGION_WINDOW] + addr, index,
                           pa + (addr & ((1ull << shift) - 1)));
    return (IOMMUTLBEntry) {
        .target_as = as,
        .iova = addr & ~mask,
        .translated_addr = pa + (addr & ((1ull << shift) - 1) & ~mask),
        .addr_mask = mask,
        .perm = IOMMU_RW,
    };
}

/* ---- notifiers ---- */

/*
 * MAP events and replay serve the Non-secure index, which VFIO and vhost
 * use: they name address_space_memory.  Both indexes get UNMAP, so that
 * TCG drops what its vCPUs cached through either.
 */
static void ti_pat_notify_unmap(TIPATState *s, uint64_t iova, uint64_t size)
{
    int idx;

    for (idx = 0; idx < TI_PAT_IDX_COUNT; idx++) {
        viommu_notify_unmap(&s->window, idx, iova, size);
    }
}

static void ti_pat_notify_page(TIPATState *s, uint64_t index, uint64_t entry,
                               unsigned shift, IOMMUNotifier *only)
{
    hwaddr pa = ti_pat_entry_pa(entry);
    uint64_t iova = index << shift;

    if (!ti_pat_entry_enabled(entry) ||
        ti_pat_hits_a_window(pa, 1ull << shift)) {
        return;
    }
    if (iova >= s->size[TI_PAT_REGION_WINDOW]) {
        return;
    }
    if (only) {
        viommu_replay_map(only, iova, pa, 1ull << shift, IOMMU_RW);
    } else {
        viommu_notify_map(&s->window, TI_PAT_IDX_NONSECURE, iova, pa,
                          1ull << shift, IOMMU_RW);
    }
}

/* Send MAP for every live page, to @only or to all notifiers */
static void ti_pat_map_all(TIPATState *s, IOMMUNotifier *only)
{
    unsigned shift = ti_pat_page_shift(s->control);
    unsigned long i;

    if (!FIELD_EX32(s->control, CONTROL, EN)) {
        return;
    }
    for (i = find_first_bit(s->enabled, s->num_entries); i < s->num_entries;
         i = find_next_bit(s->enabled, s->num_entries, i + 1)) {
        ti_pat_notify_page(s, i, s->entries[i], shift, only);
    }
}

static void ti_pat_unmap_window(TIPATState *s)
{
    ti_pat_notify_unmap(s, 0, s->size[TI_PAT_REGION_WINDOW]);
}

static void ti_pat_replay(IOMMUMemoryRegion *iommu, IOMMUNotifier *n)
{
    TIPATState *s = container_of(iommu, TIPATState, window);

    trace_ti_pat_replay(s->base[TI_PAT_REGION_WINDOW], n->start, n->end);
    if (n->iommu_idx == TI_PAT_IDX_NONSECURE) {
        ti_pat_map_all(s, n);
    }
}

static int ti_pat_notify_flag_changed(IOMMUMemoryRegion *iommu,
                                      IOMMUNotifierFlag old,
                                      IOMMUNotifierFlag new, Error **errp)
{
    TIPATState *s = container_of(iommu, TIPATState, window);

    trace_ti_pat_notify_flag_changed(s->base[TI_PAT_REGION_WINDOW], old, new);
    return 0;
}

static int ti_pat_attrs_to_index(IOMMUMemoryRegion *iommu, MemTxAttrs attrs)
{
    return attrs.secure ? TI_PAT_IDX_SECURE : TI_PAT_IDX_NONSECURE;
}

static int ti_pat_num_indexes(IOMMUMemoryRegion *iommu)
{
    return TI_PAT_IDX_COUNT;
}

static uint64_t ti_pat_get_min_page_size(IOMMUMemoryRegion *iommu)
{
    return TI_PAT_MIN_PAGE;
}

/* ---- MMRS ---- */

static uint64_t ti_pat_mmrs_read(void *opaque, hwaddr offset, unsigned size)
{
    TIPATState *s = opaque;
    uint32_t val = 0;

    switch (offset) {
    case A_PID:
        val = FIELD_DP32(val, PID, MAJOR, TI_PAT_PID_MAJOR);
        val = FIELD_DP32(val, PID, MINOR, TI_PAT_PID_MINOR);
        break;
    case A_CONFIG:
        val = s->num_entries;
        break;
    case A_CONTROL:
        val = s->control;
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "ti-pat: read of unassigned MMRS offset 0x%"
                      HWADDR_PRIx "\n", offset);
        break;
    }
    trace_ti_pat_mmrs_read(offset, val);
    return val;
}

static void ti_pat_write_control(TIPATState *s, uint32_t val)
{
    uint32_t old = s->control;
    uint32_t new = val & TI_PAT_CONTROL_WRITABLE;
    uint32_t arb = FIELD_EX32(new, CONTROL, ARB_MODE);
    bool remap;

    if (val & ~TI_PAT_CONTROL_WRITABLE) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "ti-pat: CONTROL reserved bits 0x%x written as ones\n",
                      val & ~TI_PAT_CONTROL_WRITABLE);
    }
    if (arb == 1 || arb == 3) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "ti-pat: CONTROL.ARB_MODE %u is reserved\n", arb);
    }
    trace_ti_pat_control(old, new);

    /* Only EN and PAGE_SIZE change what the window translates */
    remap = (old ^ new) & (R_CONTROL_EN_MASK | R_CONTROL_PAGE_SIZE_MASK);
    qatomic_set(&s->control, new);
    if (remap) {
        if (FIELD_EX32(old, CONTROL, EN)) {
            ti_pat_unmap_window(s);
        }
        ti_pat_map_all(s, NULL);
    }
}

static void ti_pat_mmrs_write(void *opaque, hwaddr offset, uint64_t val,
                              unsigned size)
{
    TIPATState *s = opaque;

    trace_ti_pat_mmrs_write(offset, val);
    switch (offset) {
    case A_CONTROL:
        ti_pat_write_control(s, val);
        break;
    case A_PID:
    case A_CONFIG:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "ti-pat: write to read-only MMRS offset 0x%"
                      HWADDR_PRIx "\n", offset);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR,
                      "ti-pat: write to unassigned MMRS offset 0x%"
                      HWADDR_PRIx "\n", offset);
        break;
    }
}

static const MemoryRegionOps ti_pat_mmrs_ops = {
    .read = ti_pat_mmrs_read,
    .write = ti_pat_mmrs_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 4,
    .valid.max_access_size = 4,
};

/* ---- TABLE ---- */

/*
 * The entry at TABLE offset @offset, or -1, logged, for the unused
 * half-blocks and the space past the last entry
 */
static int64_t ti_pat_table_index(TIPATState *s, hwaddr offset,
                                  const char *access)
{
    uint64_t slot = (offset % TI_PAT_TABLE_BLOCK) / TI_PAT_ENTRY_SIZE;
    uint64_t index = offset / TI_PAT_TABLE_BLOCK * TI_PAT_ENTRIES_PER_BLOCK +
                     slot;

    if (slot >= TI_PAT_ENTRIES_PER_BLOCK || index >= s->num_entries) {
        qemu_log_mask(LOG_GUEST_ERROR, "ti-pat: %s TABLE offset 0x%"
                      HWADDR_PRIx ", which holds no entry\n", access, offset);
        return -1;
    }
    return index;
}

static uint64_t ti_pat_table_read(void *opaque, hwaddr offset, unsigned size)
{
    TIPATState *s = opaque;
    int64_t index = ti_pat_table_index(s, offset, "read of");
    uint64_t entry;

    if (index < 0) {
        return 0;
    }
    entry = s->entries[index];
    if (size == 8) {
        return entry;
    }
    return offset & 4 ? entry >> 32 : (uint32_t)entry;
}

static void ti_pat_set_entry(TIPATState *s, uint64_t index, uint64_t new)
{
    uint64_t old = s->entries[index];
    unsigned shift = ti_pat_page_shift(s->control);
    bool on = FIELD_EX32(s->control, CONTROL, EN);

    if (new & ~TI_PAT_ENTRY_VALID_BITS) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "ti-pat: entry %" PRIu64 ": ADDRH reserved bits 0x%"
                      PRIx64 " written as ones\n", index,
                      (uint64_t)((new & ~TI_PAT_ENTRY_VALID_BITS) >> 32));
        new &= TI_PAT_ENTRY_VALID_BITS;
    }
    trace_ti_pat_entry(index, old, new);
    if (old == new) {
        return;
    }
    qatomic_set(&s->entries[index], new);
    if (ti_pat_entry_enabled(new)) {
        set_bit(index, s->enabled);
    } else {
        clear_bit(index, s->enabled);
    }

    /*
     * A TCG TLB may hold the page, or its decode error: drop it even when
     * the old entry was disabled.
     */
    if (on && (index << shift) < s->size[TI_PAT_REGION_WINDOW]) {
        ti_pat_notify_unmap(s, index << shift, 1ull << shift);
        ti_pat_notify_page(s, index, new, shift, NULL);
    }
}

static void ti_pat_table_write(void *opaque, hwaddr offset, uint64_t val,
                               unsigned size)
{
    TIPATState *s = opaque;
    int64_t index = ti_pat_table_index(s, offset, "write to");
    uint64_t entry;

    if (index < 0) {
        return;
    }
    entry = s->entries[index];
    if (size == 8) {
        entry = val;
    } else if (offset & 4) {
        entry = deposit64(entry, 32, 32, val);
    } else {
        entry = deposit64(entry, 0, 32, val);
    }
    ti_pat_set_entry(s, index, entry);
}

/* ADDRL and ADDRH alone, or a whole entry at once */
static const MemoryRegionOps ti_pat_table_ops = {
    .read = ti_pat_table_read,
    .write = ti_pat_table_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 4,
    .valid.max_access_size = 8,
    .impl.min_access_size = 4,
    .impl.max_access_size = 8,
};

/* ---- device ---- */

static bool ti_pat_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
                                  uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/*
 * Its regions' sizes, from the properties; the window's, when left at 0,
 * covers the entries at 4 KiB, the page size a Linux driver with 4 KiB
 * pages programs, so that such a driver can use the whole window.
 */
static bool ti_pat_size_regions(TIPATState *s, Error **errp)
{
    uint64_t entries = s->prop_entries;

    if (!entries || entries > TI_PAT_MAX_ENTRIES) {
        error_setg(errp, "ti-pat: entries must be 1 to %u, not %" PRIu64,
                   TI_PAT_MAX_ENTRIES, entries);
        return false;
    }
    if (!s->size[TI_PAT_REGION_TABLE]) {
        s->size[TI_PAT_REGION_TABLE] =
            ROUND_UP(entries * 16, TI_PAT_TABLE_BLOCK);
    }
    if (entries * 16 > s->size[TI_PAT_REGION_TABLE]) {
        error_setg(errp, "ti-pat: %" PRIu64 " entries need a table-size of "
                   "at least 0x%" PRIx64 ", not 0x%" PRIx64, entries,
                   entries * 16, s->size[TI_PAT_REGION_TABLE]);
        error_append_hint(errp, "Each 4 KiB of TABLE holds 256 entries.\n");
        return false;
    }
    if (s->size[TI_PAT_REGION_MMRS] < TI_PAT_MMRS_MIN_SIZE) {
        error_setg(errp, "ti-pat: mmrs-size must be at least 0x%x",
                   TI_PAT_MMRS_MIN_SIZE);
        return false;
    }
    if (!s->size[TI_PAT_REGION_WINDOW]) {
        if (entries * TI_PAT_MIN_PAGE % TI_PAT_MAX_PAGE) {
            error_setg(errp, "ti-pat: %" PRIu64 " entries of 4 KiB do not "
                       "make a window of whole MiB", entries);
            error_append_hint(errp, "Give a multiple of 256 entries, or a "
                              "window-size.\n");
            return false;
        }
        s->size[TI_PAT_REGION_WINDOW] = entries * TI_PAT_MIN_PAGE;
    }
    if (s->size[TI_PAT_REGION_WINDOW] % TI_PAT_MAX_PAGE) {
        error_setg(errp, "ti-pat: window-size 0x%" PRIx64 " is not a "
                   "multiple of 1 MiB, the largest page size",
                   s->size[TI_PAT_REGION_WINDOW]);
        return false;
    }
    return true;
}

/* Where the machine put it, as far as the PAT itself cares */
static bool ti_pat_check_bases(TIPATState *s, Error **errp)
{
    int i, j;

    for (i = 0; i < TI_PAT_REGION_COUNT; i++) {
        if (s->base[i] == TI_PAT_BASE_AUTO) {
            error_setg(errp, "ti-pat: the machine gave the %s region no "
                       "place", ti_pat_region_name[i]);
            error_append_hint(errp, "Set mmrs-base, table-base and "
                              "window-base.\n");
            return false;
        }
        if (s->base[i] + s->size[i] < s->base[i] ||
            s->base[i] + s->size[i] > (1ull << 48)) {
            error_setg(errp, "ti-pat: %s [0x%" PRIx64 ", +0x%" PRIx64
                       ") passes the 48-bit physical address space",
                       ti_pat_region_name[i], s->base[i], s->size[i]);
            return false;
        }
        if (s->base[i] % TI_PAT_MIN_PAGE) {
            error_setg(errp, "ti-pat: %s-base 0x%" PRIx64 " is not 4 KiB "
                       "aligned", ti_pat_region_name[i], s->base[i]);
            return false;
        }
    }
    for (i = 0; i < TI_PAT_REGION_COUNT; i++) {
        for (j = i + 1; j < TI_PAT_REGION_COUNT; j++) {
            if (ti_pat_ranges_overlap(s->base[i], s->size[i], s->base[j],
                                      s->size[j])) {
                error_setg(errp, "ti-pat: the %s and %s regions overlap",
                           ti_pat_region_name[i], ti_pat_region_name[j]);
                return false;
            }
        }
    }
    return true;
}

static void ti_pat_realize(DeviceState *dev, Error **errp)
{
    TIPATState *s = TI_PAT(dev);
    SysBusDevice *sbd = SYS_BUS_DEVICE(dev);
    MemoryRegion *memory = s->memory ?: get_system_memory();

    /*
     * Under KVM (or any accelerator but TCG) a CPU access to the window is
     * an exit that QEMU emulates one instruction at a time, and one it
     * cannot decode (LDP, STP, exclusives, SIMD) fails in the guest.
     */
    if (!tcg_enabled() && !qtest_enabled()) {
        error_setg(errp, "ti-pat: CPU accesses through the window need "
                   "TCG, not %s", current_accel_name());
        error_append_hint(errp, "Use -accel tcg.\n");
        return;
    }
    if (!ti_pat_size_regions(s, errp) || !ti_pat_check_bases(s, errp)) {
        return;
    }

    s->output[TI_PAT_IDX_NONSECURE] = ti_pat_output(memory);
    s->output[TI_PAT_IDX_SECURE] = ti_pat_output(s->secure_memory ?: memory);
    s->num_entries = s->prop_entries;
    s->entries = g_new0(uint64_t, s->num_entries);
    s->enabled = bitmap_new(s->num_entries);

    memory_region_init_io(&s->mmrs, OBJECT(s), &ti_pat_mmrs_ops, s,
                          "ti-pat-mmrs", s->size[TI_PAT_REGION_MMRS]);
    memory_region_init_io(&s->table, OBJECT(s), &ti_pat_table_ops, s,
                          "ti-pat-table", s->size[TI_PAT_REGION_TABLE]);
    memory_region_init_iommu(&s->window, sizeof(s->window),
                             TYPE_TI_PAT_IOMMU_MEMORY_REGION, OBJECT(s),
                             "ti-pat-window", s->size[TI_PAT_REGION_WINDOW]);
    sysbus_init_mmio(sbd, &s->mmrs);
    sysbus_init_mmio(sbd, &s->table);
    sysbus_init_mmio(sbd, MEMORY_REGION(&s->window));
    QTAILQ_INSERT_TAIL(&ti_pat_instances, s, next);
}

static void ti_pat_unrealize(DeviceState *dev)
{
    TIPATState *s = TI_PAT(dev);

    QTAILQ_REMOVE(&ti_pat_instances, s, next);
    g_free(s->entries);
    g_free(s->enabled);
}

static void ti_pat_reset_hold(Object *obj, ResetType type)
{
    TIPATState *s = TI_PAT(obj);
    bool was_on = FIELD_EX32(s->control, CONTROL, EN);

    qatomic_set(&s->control, 0);
    memset(s->entries, 0, s->num_entries * sizeof(*s->entries));
    bitmap_zero(s->enabled, s->num_entries);
    if (was_on) {
        ti_pat_unmap_window(s);
    }
}

static int ti_pat_post_load(void *opaque, int version_id)
{
    TIPATState *s = opaque;
    uint64_t i;

    for (i = 0; i < s->num_entries; i++) {
        s->entries[i] &= TI_PAT_ENTRY_VALID_BITS;
        if (ti_pat_entry_enabled(s->entries[i])) {
            set_bit(i, s->enabled);
        } else {
            clear_bit(i, s->enabled);
        }
    }
    s->control &= TI_PAT_CONTROL_WRITABLE;

    /* The destination's notifiers saw the reset table: tell them it all */
    ti_pat_unmap_window(s);
    ti_pat_map_all(s, NULL);
    return 0;
}

static const VMStateDescription vmstate_ti_pat = {
    .name = TYPE_TI_PAT,
    .version_id = 1,
    .minimum_version_id = 1,
    .priority = MIG_PRI_IOMMU,
    .post_load = ti_pat_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(control, TIPATState),
        VMSTATE_UINT32_EQUAL(num_entries, TIPATState, NULL),
        VMSTATE_VARRAY_UINT32(entries, TIPATState, num_entries, 0,
                              vmstate_info_uint64, uint64_t),
        VMSTATE_END_OF_LIST()
    },
};

static const Property ti_pat_properties[] = {
    /* Where the machine places it; left to the machine by default */
    DEFINE_PROP_UINT64("mmrs-base", TIPATState, base[TI_PAT_REGION_MMRS],
                       TI_PAT_BASE_AUTO),
    DEFINE_PROP_UINT64("mmrs-size", TIPATState, size[TI_PAT_REGION_MMRS],
                       TI_PAT_MMRS_MIN_SIZE),
    DEFINE_PROP_UINT64("table-base", TIPATState, base[TI_PAT_REGION_TABLE],
                       TI_PAT_BASE_AUTO),
    /* 0: entries * 16, rounded up to 4 KiB */
    DEFINE_PROP_UINT64("table-size", TIPATState, size[TI_PAT_REGION_TABLE],
                       0),
    DEFINE_PROP_UINT64("window-base", TIPATState,
                       base[TI_PAT_REGION_WINDOW], TI_PAT_BASE_AUTO),
    /* 0: entries * 4 KiB */
    DEFINE_PROP_UINT64("window-size", TIPATState,
                       size[TI_PAT_REGION_WINDOW], 0),
    DEFINE_PROP_UINT32("entries", TIPATState, prop_entries, 16384),
    /* What the CPUs see, Non-secure and Secure: the machine sets them */
    DEFINE_PROP_LINK("memory", TIPATState, memory, TYPE_MEMORY_REGION,
                     MemoryRegion *),
    DEFINE_PROP_LINK("secure-memory", TIPATState, secure_memory,
                     TYPE_MEMORY_REGION, MemoryRegion *),
};

static void ti_pat_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    dc->desc = "TI Page-based Address Translator (J721E)";
    dc->realize = ti_pat_realize;
    dc->unrealize = ti_pat_unrealize;
    dc->vmsd = &vmstate_ti_pat;
    dc->user_creatable = true;
    rc->phases.hold = ti_pat_reset_hold;
    device_class_set_props(dc, ti_pat_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static void ti_pat_iommu_memory_region_class_init(ObjectClass *klass,
                                                  const void *data)
{
    IOMMUMemoryRegionClass *imrc = IOMMU_MEMORY_REGION_CLASS(klass);

    imrc->translate = ti_pat_translate;
    imrc->replay = ti_pat_replay;
    imrc->notify_flag_changed = ti_pat_notify_flag_changed;
    imrc->get_min_page_size = ti_pat_get_min_page_size;
    imrc->attrs_to_index = ti_pat_attrs_to_index;
    imrc->num_indexes = ti_pat_num_indexes;
}

static const TypeInfo ti_pat_types[] = {
    {
        .name = TYPE_TI_PAT,
        .parent = TYPE_SYS_BUS_DEVICE,
        .instance_size = sizeof(TIPATState),
        .class_init = ti_pat_class_init,
    }, {
        .name = TYPE_TI_PAT_IOMMU_MEMORY_REGION,
        .parent = TYPE_IOMMU_MEMORY_REGION,
        .class_init = ti_pat_iommu_memory_region_class_init,
        /* A lookup reads the table and changes nothing */
        .interfaces = (const InterfaceInfo[]) {
            { TYPE_IOMMU_SIDE_EFFECT_FREE_LOOKUP },
            { }
        },
    },
};

DEFINE_TYPES(ti_pat_types)
