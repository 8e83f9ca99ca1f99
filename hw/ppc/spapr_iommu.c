/*
 * sPAPR TCE tables: the IOMMU of pSeries PHBs and VIO devices
 *
 * A TCE table (one LIOBN) translates one DMA window: TCE i maps the bus
 * page at bus_offset + (i << page_shift) to the page its address names,
 * for reads (bit 0), writes (bit 1) or both.  The guest writes TCEs with
 * the H_PUT_TCE, H_PUT_TCE_INDIRECT and H_STUFF_TCE hypercalls and reads
 * them with H_GET_TCE; LoPAR ("Translation Control Entry Access") and
 * KVM's in-kernel version of these hypercalls decide what each one
 * accepts and answers.
 *
 * Windows can be huge (a 64-bit DDW covers all of RAM and more) while a
 * guest maps only what it uses, so this model keeps only the TCEs that
 * are set (hw/ppc/spapr_tce_store.c): creating a window allocates
 * nothing, memory grows with the TCEs set and never past a flat table,
 * and migration carries the set TCEs only.  Under KVM with in-kernel TCE
 * acceleration the table is the kernel's flat array, as the kernel
 * defines it.
 *
 * The SpaprTceTable API (include/hw/ppc/spapr.h) is the one spapr's PHBs,
 * VIO and the DDW calls use; this file is the fork's implementation of it.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/rcu.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "system/kvm.h"
#include "system/address-spaces.h"
#include "kvm_ppc.h"
#include "migration/vmstate.h"
#include "migration/qemu-file-types.h"
#include "trace.h"
#include "hw/boards.h"
#include "hw/ppc/spapr.h"
#include "hw/ppc/spapr_tce.h"
#include "hw/pci-host/spapr.h"
#include "hw/ppc/spapr_vio.h"
#include "hw/qdev-properties.h"
#include "hw/iommu/side-effect-free-lookup.h"
#include "hw/iommu/viommu-notify.h"
#include <libfdt.h>

/* TCE bits 1:0, LoPAR's "Page Mapping and Control" */
#define TCE_READ            1ull    /* the device may read the page */
#define TCE_WRITE           2ull    /* the device may write it */
#define TCE_PERM            (TCE_READ | TCE_WRITE)

/* One 4 KiB list at most per H_PUT_TCE_INDIRECT */
#define TCE_INDIRECT_MAX    512
/* LoPAR: H_STUFF_TCE of more TCEs than this is refused with H_P4 */
#define TCE_STUFF_MAX       512

/* The page sizes a window's TCEs can have: LoPAR's, and KVM's bounds */
#define TCE_PAGE_SHIFT_MIN  12
#define TCE_PAGE_SHIFT_MAX  34

typedef struct SpaprTceTableState {
    SpaprTceTable tcet;         /* what the rest of spapr sees; first */

    SpaprPhbEeh *pe;            /* the PE's EEH, for an emulated PHB's */
    SpaprTceStore store;        /* the TCEs, when KVM does not keep them */

    /* Send the set TCEs only, in a fork-only subsection; see migration */
    bool sparse_migration;

    /* Migration */
    SpaprTceStore mig_store;    /* incoming TCEs, until the window is known */
    bool mig_sparse;            /* the window goes as set TCEs */
    uint32_t mig_sparse_nb;     /* its TCEs then */
    uint32_t mig_count;         /* TCEs set */
    uint32_t mig_page_shift;
    uint64_t mig_bus_offset;
} SpaprTceTableState;

#define TCE_STATE(t) container_of(t, SpaprTceTableState, tcet)

/*
 * Every table, sorted by LIOBN.  A hypercall finds its table here in a
 * cache line or two; a list would touch two lines of each table it passed
 * (its LIOBN and its link are far apart), and between two hypercalls of a
 * guest those lines are seldom still cached.  Changed and read with the
 * BQL.
 */
typedef struct TceByLiobn {
    uint32_t liobn;
    SpaprTceTable *tcet;
} TceByLiobn;

static struct {
    TceByLiobn *entry;
    unsigned count;
    /*
     * The machine's RAM from 0: the partition's pages that most TCEs map,
     * kept beside the index so that checking them touches no other line
     */
    uint64_t ram_size;
} tce_tables;

/* ---- a table's TCEs, whichever way they are kept ---- */

/* Called from an RCU read-side critical section, or with the BQL */
static inline QEMU_ALWAYS_INLINE
uint64_t tce_read(SpaprTceTable *tcet, uint64_t index)
{
    if (tcet->table) {
        return qatomic_read(&tcet->table[index]);
    }
    return spapr_tce_store_lookup(&TCE_STATE(tcet)->store, index);
}

/*
 * Make room for TCEs @first to @first + @n - 1 (those of @tces that are
 * not zero, or all); false, with nothing changed, without memory
 */
static bool tce_reserve(SpaprTceTable *tcet, uint64_t first, uint64_t n,
                        const uint64_t *tces)
{
    return tcet->table ||
           spapr_tce_store_reserve(&TCE_STATE(tcet)->store, first, n, tces);
}

/* Set TCE @index, reserved if not zero; returns its old value */
static uint64_t tce_store(SpaprTceTable *tcet, uint64_t index, uint64_t tce)
{
    uint64_t old;

    if (!tcet->table) {
        return spapr_tce_store_set(&TCE_STATE(tcet)->store, index, tce);
    }
    old = tcet->table[index];
    qatomic_set(&tcet->table[index], tce);
    return old;
}

void spapr_tce_table_foreach(SpaprTceTable *tcet, SpaprTceVisit *fn,
                             void *opaque)
{
    uint64_t i;

    if (!tcet->table) {
        spapr_tce_store_foreach(&TCE_STATE(tcet)->store, fn, opaque);
        return;
    }
    for (i = 0; i < tcet->nb_table; i++) {
        if (tcet->table[i]) {
            fn(i, tcet->table[i], opaque);
        }
    }
}

static uint64_t tce_count(SpaprTceTable *tcet)
{
    uint64_t n = 0, i;

    if (!tcet->table) {
        return TCE_STATE(tcet)->store.live;
    }
    for (i = 0; i < tcet->nb_table; i++) {
        n += !!tcet->table[i];
    }
    return n;
}

static IOMMUAccessFlags tce_perm(uint64_t tce)
{
    return (tce & TCE_READ ? IOMMU_RO : 0) | (tce & TCE_WRITE ? IOMMU_WO : 0);
}

static hwaddr tce_page(SpaprTceTable *tcet, uint64_t tce)
{
    return tce & ~((1ull << tcet->page_shift) - 1);
}

/* ---- storage: the kernel's table under KVM, or the store ---- */

/* Under KVM, ask for an in-kernel table; the store otherwise */
static void tce_storage_create(SpaprTceTable *tcet)
{
    tcet->fd = -1;
    tcet->table = NULL;
    spapr_tce_store_init(&TCE_STATE(tcet)->store, tcet->nb_table);
    if (kvm_enabled()) {
        tcet->table = kvmppc_create_spapr_tce(tcet->liobn, tcet->page_shift,
                                              tcet->bus_offset,
                                              tcet->nb_table, &tcet->fd,
                                              tcet->need_vfio);
        if (!tcet->table) {
            tcet->fd = -1;
        }
    }
    trace_spapr_iommu_new_table(tcet->liobn, tcet->table, tcet->fd);
}

static void tce_storage_destroy(SpaprTceTable *tcet)
{
    if (tcet->table) {
        kvmppc_remove_spapr_tce(tcet->table, tcet->fd, tcet->nb_table);
    }
    tcet->table = NULL;
    tcet->fd = -1;
    spapr_tce_store_destroy(&TCE_STATE(tcet)->store);
}

/* ---- the IOMMU region ---- */

static inline IOMMUTLBEntry tce_entry(SpaprTceTable *tcet, hwaddr addr,
                                      uint64_t tce, IOMMUAccessFlags perm)
{
    uint64_t mask = (1ull << tcet->page_shift) - 1;

    return (IOMMUTLBEntry) {
        .target_as = &address_space_memory,
        .iova = addr & ~mask,
        .translated_addr = tce & ~mask,
        .addr_mask = mask,
        .perm = perm,
    };
}

/*
 * What tce_translate() leaves out of its fast path: the trace, and a
 * device's access that the TCE refuses or that the PE looks at (stopped,
 * or with an error injection armed).  Lookups for notifiers and replay
 * (IOMMU_NONE) see the TCE as it is.  True when the PE stops the access.
 */
static bool G_GNUC_NO_INLINE
tce_translate_slow(SpaprTceTable *tcet, hwaddr addr, IOMMUAccessFlags flag,
                   uint64_t tce)
{
    SpaprPhbEeh *pe = TCE_STATE(tcet)->pe;
    IOMMUTLBEntry entry = tce_entry(tcet, addr, tce, tce_perm(tce));

    trace_spapr_iommu_xlate(tcet->liobn, addr, entry.translated_addr,
                            entry.perm, entry.addr_mask);
    return pe && flag != IOMMU_NONE &&
           spapr_phb_eeh_dma_stop(pe, tcet->liobn, addr, flag & IOMMU_WO,
                                  (entry.perm & flag) != flag);
}

/*
 * Called from an RCU read-side critical section.  The fast path makes no
 * call and takes no local's address, so that it needs no stack frame and
 * no stack protector.
 */
static IOMMUTLBEntry tce_translate(IOMMUMemoryRegion *iommu, hwaddr addr,
                                   IOMMUAccessFlags flag, int iommu_idx)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);
    SpaprPhbEeh *pe = TCE_STATE(tcet)->pe;
    uint64_t index = addr >> tcet->page_shift;
    uint64_t tce = likely(index < tcet->nb_table) ? tce_read(tcet, index) : 0;
    IOMMUAccessFlags perm = tce_perm(tce);

    if (unlikely(trace_event_get_state_backends(TRACE_SPAPR_IOMMU_XLATE) ||
                 (pe && flag != IOMMU_NONE &&
                  (spapr_phb_eeh_dma_watched(pe) || (perm & flag) != flag))) &&
        tce_translate_slow(tcet, addr, flag, tce)) {
        perm = IOMMU_NONE;
    }
    return tce_entry(tcet, addr, tce, perm);
}

typedef struct TceReplay {
    SpaprTceTable *tcet;
    IOMMUNotifier *n;
} TceReplay;

static void tce_replay_one(uint64_t index, uint64_t tce, void *opaque)
{
    TceReplay *r = opaque;

    if (tce_perm(tce)) {
        viommu_replay_map(r->n, index << r->tcet->page_shift,
                          tce_page(r->tcet, tce), 1ull << r->tcet->page_shift,
                          tce_perm(tce));
    }
}

/* Only the TCEs that are set, not the whole window */
static void tce_replay(IOMMUMemoryRegion *iommu, IOMMUNotifier *n)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);
    TceReplay r = { tcet, n };

    if (!tcet->skipping_replay) {
        spapr_tce_table_foreach(tcet, tce_replay_one, &r);
    }
}

static uint64_t tce_min_page_size(IOMMUMemoryRegion *iommu)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);

    return 1ull << tcet->page_shift;
}

static int tce_get_attr(IOMMUMemoryRegion *iommu,
                        enum IOMMUMemoryRegionAttr attr, void *data)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);

    if (attr == IOMMU_ATTR_SPAPR_TCE_FD && kvmppc_has_cap_spapr_vfio()) {
        *(int *)data = tcet->fd;
        return 0;
    }
    return -EINVAL;
}

static int tce_notify_flag_changed(IOMMUMemoryRegion *iommu,
                                   IOMMUNotifierFlag old,
                                   IOMMUNotifierFlag new, Error **errp)
{
    SpaprTceTable *tcet = container_of(iommu, SpaprTceTable, iommu);

    if (new & IOMMU_NOTIFIER_DEVIOTLB_UNMAP) {
        error_setg(errp, "sPAPR TCE tables have no device IOTLB");
        return -EINVAL;
    }
    if ((old == IOMMU_NOTIFIER_NONE) != (new == IOMMU_NOTIFIER_NONE)) {
        spapr_tce_set_need_vfio(tcet, new != IOMMU_NOTIFIER_NONE);
    }
    return 0;
}

/* ---- the API ---- */

/* The place of @liobn in tce_tables, or where it would go */
static inline unsigned tce_liobn_slot(uint32_t liobn)
{
    unsigned lo = 0, hi = tce_tables.count;

    /* A machine has a few tables: a scan is quicker than a search */
    if (hi <= 8) {
        while (lo < hi && tce_tables.entry[lo].liobn < liobn) {
            lo++;
        }
        return lo;
    }

    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;

        if (tce_tables.entry[mid].liobn < liobn) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static inline SpaprTceTable *tce_table_by_liobn(target_ulong liobn)
{
    unsigned i;

    if (liobn >> 32) {
        return NULL;
    }
    i = tce_liobn_slot(liobn);
    return i < tce_tables.count && tce_tables.entry[i].liobn == liobn ?
           tce_tables.entry[i].tcet : NULL;
}

SpaprTceTable *spapr_tce_find_by_liobn(target_ulong liobn)
{
    return tce_table_by_liobn(liobn);
}

static void tce_tables_add(SpaprTceTable *tcet)
{
    unsigned i = tce_liobn_slot(tcet->liobn);

    tce_tables.entry = g_renew(TceByLiobn, tce_tables.entry,
                               tce_tables.count + 1);
    memmove(&tce_tables.entry[i + 1], &tce_tables.entry[i],
            (tce_tables.count - i) * sizeof(tce_tables.entry[0]));
    tce_tables.entry[i] = (TceByLiobn) { tcet->liobn, tcet };
    tce_tables.count++;
    tce_tables.ram_size = current_machine->ram_size;
}

static void tce_tables_remove(SpaprTceTable *tcet)
{
    unsigned i = tce_liobn_slot(tcet->liobn);

    assert(i < tce_tables.count && tce_tables.entry[i].tcet == tcet);
    tce_tables.count--;
    memmove(&tce_tables.entry[i], &tce_tables.entry[i + 1],
            (tce_tables.count - i) * sizeof(tce_tables.entry[0]));
}

typedef struct TceMove {
    SpaprTceTable *tcet;
    bool lost;
} TceMove;

static void tce_move_one(uint64_t index, uint64_t tce, void *opaque)
{
    TceMove *m = opaque;

    if (m->lost || !tce_reserve(m->tcet, index, 1, NULL)) {
        m->lost = true;
        return;
    }
    tce_store(m->tcet, index, tce);
}

/*
 * VFIO needs a table the kernel can reach: under KVM, one made with
 * need_vfio.  Move the TCEs over when the kind of table has to change.
 */
void spapr_tce_set_need_vfio(SpaprTceTable *tcet, bool need_vfio)
{
    SpaprTceStore old_store = TCE_STATE(tcet)->store;
    uint64_t *old_table = tcet->table;
    int old_fd = tcet->fd;
    TceMove m = { tcet, false };
    uint64_t i;

    if (tcet->need_vfio == need_vfio) {
        return;
    }
    tcet->need_vfio = need_vfio;
    if (!need_vfio || !kvm_enabled() || !tcet->nb_table ||
        (tcet->fd != -1 && kvmppc_has_cap_spapr_vfio())) {
        return;
    }

    /* The old TCEs stay readable until they are in the new table */
    tce_storage_create(tcet);
    if (old_table) {
        for (i = 0; i < tcet->nb_table; i++) {
            if (old_table[i]) {
                tce_move_one(i, old_table[i], &m);
            }
        }
        kvmppc_remove_spapr_tce(old_table, old_fd, tcet->nb_table);
    } else {
        spapr_tce_store_foreach(&old_store, tce_move_one, &m);
        spapr_tce_store_destroy(&old_store);
    }
    if (m.lost) {
        error_report("TCE table 0x%x: no memory for its TCEs; some are lost",
                     tcet->liobn);
    }
}

SpaprTceTable *spapr_tce_new_table(DeviceState *owner, uint32_t liobn)
{
    g_autofree char *name = g_strdup_printf("tce-table-%x", liobn);
    SpaprPhbState *sphb = (SpaprPhbState *)
        object_dynamic_cast(OBJECT(owner), TYPE_SPAPR_PCI_HOST_BRIDGE);
    SpaprTceTable *tcet;

    if (spapr_tce_find_by_liobn(liobn)) {
        error_report("a TCE table with LIOBN 0x%x already exists", liobn);
        return NULL;
    }
    tcet = SPAPR_TCE_TABLE(object_new(TYPE_SPAPR_TCE_TABLE));
    tcet->liobn = liobn;
    if (sphb && sphb->eeh.emulated) {
        TCE_STATE(tcet)->pe = &sphb->eeh;
    }
    object_property_add_child(OBJECT(owner), name, OBJECT(tcet));
    object_unref(OBJECT(tcet));
    qdev_realize(DEVICE(tcet), NULL, &error_abort);
    return tcet;
}

void spapr_tce_table_enable(SpaprTceTable *tcet, uint32_t page_shift,
                            uint64_t bus_offset, uint32_t nb_table)
{
    if (tcet->nb_table) {
        warn_report("TCE table 0x%x is already enabled", tcet->liobn);
        return;
    }
    tcet->page_shift = page_shift;
    tcet->bus_offset = bus_offset;
    tcet->nb_table = nb_table;
    tce_storage_create(tcet);
    memory_region_set_size(MEMORY_REGION(&tcet->iommu),
                           (uint64_t)nb_table << page_shift);
    memory_region_add_subregion(&tcet->root, bus_offset,
                                MEMORY_REGION(&tcet->iommu));
}

/*
 * Whether a window is a PHB's default one is a fact of how it was made
 * (spapr_phb_dma_reset() sets def_win), not of its LIOBN: a DDW may get
 * the default window's LIOBN once that window is removed.  So a window
 * that goes takes the flag with it.
 */
void spapr_tce_table_disable(SpaprTceTable *tcet)
{
    if (!tcet->nb_table) {
        return;
    }
    memory_region_del_subregion(&tcet->root, MEMORY_REGION(&tcet->iommu));
    memory_region_set_size(MEMORY_REGION(&tcet->iommu), 0);
    tce_storage_destroy(tcet);
    tcet->bus_offset = 0;
    tcet->page_shift = 0;
    tcet->nb_table = 0;
    tcet->def_win = false;
}

MemoryRegion *spapr_tce_get_iommu(SpaprTceTable *tcet)
{
    return &tcet->root;
}

int spapr_dma_dt(void *fdt, int node_off, const char *propname,
                 uint32_t liobn, uint64_t window, uint32_t size)
{
    /* LIOBN, then a two-cell bus address and a two-cell size */
    uint32_t prop[] = {
        cpu_to_be32(liobn),
        cpu_to_be32(window >> 32), cpu_to_be32(window),
        0, cpu_to_be32(size),
    };
    int ret;

    ret = fdt_setprop_cell(fdt, node_off, "ibm,#dma-address-cells", 2);
    if (ret >= 0) {
        ret = fdt_setprop_cell(fdt, node_off, "ibm,#dma-size-cells", 2);
    }
    if (ret >= 0) {
        ret = fdt_setprop(fdt, node_off, propname, prop, sizeof(prop));
    }
    return ret < 0 ? ret : 0;
}

int spapr_tcet_dma_dt(void *fdt, int node_off, const char *propname,
                      SpaprTceTable *tcet)
{
    return tcet ? spapr_dma_dt(fdt, node_off, propname, tcet->liobn, 0,
                               tcet->nb_table << tcet->page_shift) : 0;
}

/* ---- hypercalls ---- */

/*
 * The TCE index of @ioba in @tcet's window, for @npages pages; false when
 * any of them is outside it.
 */
static void G_GNUC_NO_INLINE tce_index_refused(SpaprTceTable *tcet,
                                               target_ulong ioba,
                                               uint64_t npages)
{
    qemu_log_mask(LOG_GUEST_ERROR, "TCE hcall: %" PRIu64 " pages at IOBA 0x"
                  TARGET_FMT_lx " leave LIOBN 0x%x's window\n", npages, ioba,
                  tcet->liobn);
}

static inline bool tce_index(SpaprTceTable *tcet, target_ulong ioba,
                             uint64_t npages, uint64_t *index)
{
    uint64_t i;

    i = (ioba - tcet->bus_offset) >> tcet->page_shift;
    if (ioba < tcet->bus_offset || i >= tcet->nb_table ||
        npages > tcet->nb_table - i) {
        tce_index_refused(tcet, ioba, npages);
        return false;
    }
    *index = i;
    return true;
}

/* Whether the page of @tce is in a DIMM plugged into the hotplug area */
static bool tce_in_dimm(SpaprTceTable *tcet, uint64_t tce)
{
    MachineState *ms = current_machine;
    hwaddr page = tce_page(tcet, tce);
    MemoryRegionSection sec;
    bool ram;

    if (!ms->device_memory || page < ms->device_memory->base ||
        page - ms->device_memory->base >=
        memory_region_size(&ms->device_memory->mr)) {
        return false;
    }
    sec = memory_region_find(&ms->device_memory->mr,
                             page - ms->device_memory->base, 1);
    ram = sec.mr && memory_region_is_ram(sec.mr);
    if (sec.mr) {
        memory_region_unref(sec.mr);
    }
    return ram;
}

/*
 * LoPAR: a TCE that maps a page (its permission bits are not "page
 * fault") must name a page of the partition; KVM answers H_PARAMETER
 * otherwise.  RAM, or a DIMM plugged into the hotplug area.
 */
static inline bool tce_check(SpaprTceTable *tcet, uint64_t tce)
{
    if (!tce_perm(tce) || tce_page(tcet, tce) < tce_tables.ram_size) {
        return true;
    }
    if (!tce_in_dimm(tcet, tce)) {
        qemu_log_mask(LOG_GUEST_ERROR, "TCE hcall: TCE 0x%" PRIx64 " for "
                      "LIOBN 0x%x maps a page outside the partition\n", tce,
                      tcet->liobn);
        return false;
    }
    return true;
}

/* Tell the notifiers that TCE @index changed from @old to @tce */
static void tce_notify(SpaprTceTable *tcet, uint64_t index, uint64_t old,
                       uint64_t tce)
{
    uint64_t size = 1ull << tcet->page_shift;
    uint64_t iova = index << tcet->page_shift;

    if (old == tce) {
        return;
    }
    if (tce_perm(old)) {
        viommu_notify_unmap(&tcet->iommu, 0, iova, size);
    }
    if (tce_perm(tce)) {
        viommu_notify_map(&tcet->iommu, 0, iova, tce_page(tcet, tce), size,
                          tce_perm(tce));
    }
}

static bool tce_notified(SpaprTceTable *tcet)
{
    return !QLIST_EMPTY(&tcet->iommu.iommu_notify);
}

/* Set a reserved TCE and tell the notifiers what changed */
static void tce_put(SpaprTceTable *tcet, uint64_t index, uint64_t tce)
{
    uint64_t old = tce_store(tcet, index, tce);

    if (tce_notified(tcet)) {
        tce_notify(tcet, index, old, tce);
    }
}

/*
 * Set TCE @index, making room for it, and tell the notifiers;
 * false, with nothing changed, without memory
 */
static inline bool tce_put_one(SpaprTceTable *tcet, uint64_t index,
                               uint64_t tce)
{
    uint64_t old;

    if (tcet->table) {
        tce_put(tcet, index, tce);
        return true;
    }
    if (!spapr_tce_store_put(&TCE_STATE(tcet)->store, index, tce, &old)) {
        return false;
    }
    if (tce_notified(tcet)) {
        tce_notify(tcet, index, old, tce);
    }
    return true;
}

static void tce_cleared(uint64_t index, uint64_t old, void *opaque)
{
    SpaprTceTable *tcet = opaque;

    if (tce_perm(old)) {
        viommu_notify_unmap(&tcet->iommu, 0, index << tcet->page_shift,
                            1ull << tcet->page_shift);
    }
}

bool spapr_tce_table_write(SpaprTceTable *tcet, uint64_t index, uint64_t tce)
{
    return index < tcet->nb_table && tce_put_one(tcet, index, tce);
}

/* A hypercall's TCEs could not all be kept: Linux cleans up on this one */
static target_ulong tce_no_memory(SpaprTceTable *tcet, uint64_t n)
{
    qemu_log_mask(LOG_GUEST_ERROR, "TCE table 0x%x: no memory for %" PRIu64
                  " more TCEs\n", tcet->liobn, n);
    return H_NOT_ENOUGH_RESOURCES;
}

/*
 * The table for a TCE hcall; NULL for an unknown LIOBN or one whose
 * window was removed, which LoPAR and KVM answer with H_PARAMETER.
 */
static void G_GNUC_NO_INLINE tce_hcall_no_window(target_ulong liobn)
{
    qemu_log_mask(LOG_GUEST_ERROR, "TCE hcall on LIOBN 0x" TARGET_FMT_lx
                  ", which has no window\n", liobn);
}

static inline SpaprTceTable *tce_hcall_table(target_ulong liobn)
{
    SpaprTceTable *tcet = tce_table_by_liobn(liobn);

    if (!tcet || !tcet->nb_table) {
        tce_hcall_no_window(liobn);
        return NULL;
    }
    return tcet;
}

static target_ulong h_put_tce(PowerPCCPU *cpu, SpaprMachineState *spapr,
                              target_ulong opcode, target_ulong *args)
{
    target_ulong liobn = args[0], ioba = args[1], tce = args[2];
    SpaprTceTable *tcet = tce_hcall_table(liobn);
    target_ulong ret = H_PARAMETER;
    uint64_t index;

    if (tcet && tce_index(tcet, ioba, 1, &index) && tce_check(tcet, tce)) {
        ret = tce_put_one(tcet, index, tce) ? H_SUCCESS
                                            : tce_no_memory(tcet, 1);
    }
    trace_spapr_iommu_put(liobn, ioba, tce, ret);
    return ret;
}

static target_ulong h_get_tce(PowerPCCPU *cpu, SpaprMachineState *spapr,
                              target_ulong opcode, target_ulong *args)
{
    target_ulong liobn = args[0], ioba = args[1];
    SpaprTceTable *tcet = tce_hcall_table(liobn);
    target_ulong ret = H_PARAMETER;
    uint64_t index, tce = 0;

    if (tcet && tce_index(tcet, ioba, 1, &index)) {
        tce = tce_read(tcet, index);
        args[0] = tce;
        ret = H_SUCCESS;
    }
    trace_spapr_iommu_get(liobn, ioba, ret, tce);
    return ret;
}

/*
 * Up to 512 TCEs from a 4 KiB-aligned big-endian list in guest memory.
 * LoPAR: the range, the list and every TCE in it are checked, and the
 * memory to keep them found, before any TCE changes.
 */
static target_ulong h_put_tce_indirect(PowerPCCPU *cpu,
                                       SpaprMachineState *spapr,
                                       target_ulong opcode, target_ulong *args)
{
    target_ulong liobn = args[0], ioba = args[1];
    target_ulong list = args[2], npages = args[3];
    SpaprTceTable *tcet = tce_hcall_table(liobn);
    target_ulong ret = H_PARAMETER;
    uint64_t tces[TCE_INDIRECT_MAX], old[TCE_INDIRECT_MAX];
    uint64_t index, i;

    if (!tcet || npages > TCE_INDIRECT_MAX || (list & SPAPR_TCE_PAGE_MASK) ||
        !tce_index(tcet, ioba, npages, &index)) {
        goto out;
    }
    if (address_space_read(CPU(cpu)->as, list, MEMTXATTRS_UNSPECIFIED, tces,
                           npages * sizeof(tces[0])) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "H_PUT_TCE_INDIRECT: the list at 0x"
                      TARGET_FMT_lx " is not in memory\n", list);
        goto out;
    }
    for (i = 0; i < npages; i++) {
        tces[i] = be64_to_cpu(tces[i]);
        if (!tce_check(tcet, tces[i])) {
            goto out;
        }
    }
    if (!tce_reserve(tcet, index, npages, tces)) {
        ret = tce_no_memory(tcet, npages);
        goto out;
    }
    if (tcet->table) {
        for (i = 0; i < npages; i++) {
            tce_put(tcet, index + i, tces[i]);
        }
    } else if (!tce_notified(tcet)) {
        spapr_tce_store_set_many(&TCE_STATE(tcet)->store, index, npages,
                                 tces, NULL);
    } else {
        spapr_tce_store_set_many(&TCE_STATE(tcet)->store, index, npages,
                                 tces, old);
        for (i = 0; i < npages; i++) {
            tce_notify(tcet, index + i, old[i], tces[i]);
        }
    }
    ret = H_SUCCESS;
out:
    trace_spapr_iommu_indirect(liobn, ioba, list, npages, 0, ret);
    return ret;
}

/*
 * The same TCE over @npages.  KVM refuses a TCE with permission bits
 * (Linux only stuffs zeros, to clear), so a guest cannot fill a huge
 * window in one call.  A non-zero TCE without permission ("page fault",
 * poison for debugging, as KVM keeps it) goes over at most 512, as LoPAR
 * says; zeros go over any count, as Linux before 6.4 clears whole ranges,
 * and cost only the TCEs that are set there.
 */
static target_ulong h_stuff_tce(PowerPCCPU *cpu, SpaprMachineState *spapr,
                                target_ulong opcode, target_ulong *args)
{
    target_ulong liobn = args[0], ioba = args[1];
    target_ulong tce = args[2], npages = args[3];
    SpaprTceTable *tcet = tce_hcall_table(liobn);
    target_ulong ret = H_PARAMETER;
    uint64_t index, i;

    if (!tcet || !tce_index(tcet, ioba, npages, &index)) {
        goto out;
    }
    if (tce_perm(tce)) {
        qemu_log_mask(LOG_GUEST_ERROR, "H_STUFF_TCE: TCE 0x" TARGET_FMT_lx
                      " maps a page; only unmapped TCEs are stuffed\n", tce);
        goto out;
    }
    if (!tce) {
        spapr_tce_store_clear_range(&TCE_STATE(tcet)->store, index, npages,
                                    tce_notified(tcet) ? tce_cleared : NULL,
                                    tcet);
        for (i = 0; tcet->table && i < npages; i++) {
            tce_put(tcet, index + i, 0);
        }
        ret = H_SUCCESS;
        goto out;
    }
    if (npages > TCE_STUFF_MAX) {
        qemu_log_mask(LOG_GUEST_ERROR, "H_STUFF_TCE: %" PRIu64 " TCEs, more "
                      "than %d\n", (uint64_t)npages, TCE_STUFF_MAX);
        ret = H_P4;
        goto out;
    }
    if (!tce_reserve(tcet, index, npages, NULL)) {
        ret = tce_no_memory(tcet, npages);
        goto out;
    }
    for (i = 0; i < npages; i++) {
        tce_put(tcet, index + i, tce);
    }
    ret = H_SUCCESS;
out:
    trace_spapr_iommu_stuff(liobn, ioba, tce, npages, ret);
    return ret;
}

/* ---- migration ---- */

/*
 * The wire format is upstream QEMU's "spapr_iommu" section, version 3,
 * so that a guest moves between upstream 10.2 and the fork both ways:
 * the LIOBN, the window's TCE count, bypass, the window flat (one
 * big-endian TCE per page, set or not), def_win, and upstream's
 * subsection "spapr_iommu_ex" for a window not at bus address 0 or not
 * of 4 KiB pages.
 *
 * The flat form of a large window is large (a 1 TiB DDW of 64 KiB TCEs
 * is 128 MiB, all sent while the VM is stopped), so a table with
 * "sparse-migration" on sends its window as a fork-only subsection
 * instead, "spapr_iommu/sparse": the set TCEs as (index, TCE) pairs,
 * with 0 TCEs in the flat field.  Upstream refuses that stream by the
 * subsection; a destination that may be upstream needs the flat form,
 * which is the default (docs/system/devices/spapr-tce.rst).
 *
 * Neither form is trusted: TCEs come in to a store of their own, whose
 * memory grows with the TCEs set, never by a count in the stream, and
 * reach the table only once the whole window is known (the geometry is
 * in a subsection, after the TCEs) and checked as the DDW calls and the
 * hypercalls check a guest's: a window no larger than one a guest can
 * create, each TCE inside it and naming a page of the partition.
 */

/* The most TCEs an incoming window may have: what a guest can create */
static uint64_t tce_mig_max(SpaprTceTable *tcet)
{
    SpaprMachineState *spapr = SPAPR_MACHINE(qdev_get_machine());

    return MAX(spapr_ddw_max_tces(spapr), tcet->nb_table);
}

static bool tce_mig_count_ok(SpaprTceTable *tcet, uint64_t nb)
{
    if (nb > tce_mig_max(tcet)) {
        error_report("TCE table 0x%x: an incoming window of %" PRIu64
                     " TCEs is larger than a guest can create (%" PRIu64 ")",
                     tcet->liobn, nb, tce_mig_max(tcet));
        return false;
    }
    return true;
}

/* Keep incoming TCE @index of the window in the migration store */
static int tce_mig_keep(SpaprTceTableState *ts, uint64_t index, uint64_t tce)
{
    if (!spapr_tce_store_reserve(&ts->mig_store, index, 1, &tce)) {
        error_report("TCE table 0x%x: no memory for the incoming TCEs",
                     ts->tcet.liobn);
        return -ENOMEM;
    }
    spapr_tce_store_set(&ts->mig_store, index, tce);
    return 0;
}

/*
 * The flat form goes out and comes in a chunk of TCEs at a time: a
 * qemu_put_be64() per TCE is eight calls per TCE, millions for a large
 * window, all while the VM is stopped
 */
#define TCE_FLAT_CHUNK      512

typedef struct TceFlatPut {
    QEMUFile *f;
    uint64_t next;              /* the index after the last one queued */
    unsigned n;                 /* TCEs in buf */
    uint64_t buf[TCE_FLAT_CHUNK];   /* big-endian */
} TceFlatPut;

static void tce_flat_flush(TceFlatPut *p)
{
    qemu_put_buffer(p->f, (uint8_t *)p->buf, p->n * sizeof(p->buf[0]));
    p->n = 0;
}

static void tce_put_zeros(TceFlatPut *p, uint64_t n)
{
    while (n) {
        unsigned k = MIN(n, TCE_FLAT_CHUNK - p->n);

        memset(&p->buf[p->n], 0, k * sizeof(p->buf[0]));
        p->n += k;
        n -= k;
        if (p->n == TCE_FLAT_CHUNK) {
            tce_flat_flush(p);
        }
    }
}

static void tce_flat_put_one(uint64_t index, uint64_t tce, void *opaque)
{
    TceFlatPut *p = opaque;

    tce_put_zeros(p, index - p->next);
    p->buf[p->n++] = cpu_to_be64(tce);
    if (p->n == TCE_FLAT_CHUNK) {
        tce_flat_flush(p);
    }
    p->next = index + 1;
}

/* The window as upstream's flat array, without making one */
static int tce_flat_put(QEMUFile *f, void *pv, size_t size,
                        const VMStateField *field, JSONWriter *vmdesc)
{
    SpaprTceTableState *ts = container_of(pv, SpaprTceTableState, mig_store);
    g_autofree TceFlatPut *p = g_new(TceFlatPut, 1);

    p->f = f;
    p->next = 0;
    p->n = 0;
    if (ts->tcet.mig_nb_table) {
        spapr_tce_table_foreach(&ts->tcet, tce_flat_put_one, p);
        tce_put_zeros(p, ts->tcet.mig_nb_table - p->next);
        tce_flat_flush(p);
    }
    return 0;
}

static int tce_flat_get(QEMUFile *f, void *pv, size_t size,
                        const VMStateField *field)
{
    SpaprTceTableState *ts = container_of(pv, SpaprTceTableState, mig_store);
    uint32_t nb = ts->tcet.mig_nb_table;
    g_autofree uint64_t *buf = NULL;
    uint64_t i, tce;
    unsigned n, k;
    int ret;

    if (!tce_mig_count_ok(&ts->tcet, nb)) {
        return -EINVAL;
    }
    spapr_tce_store_init(&ts->mig_store, nb);
    buf = g_new(uint64_t, TCE_FLAT_CHUNK);
    for (i = 0; i < nb; i += n) {
        n = MIN(nb - i, TCE_FLAT_CHUNK);
        if (qemu_get_buffer(f, (uint8_t *)buf, n * sizeof(buf[0])) !=
            n * sizeof(buf[0])) {
            /* A truncated stream */
            return qemu_file_get_error(f) ?: -EIO;
        }
        for (k = 0; k < n; k++) {
            tce = be64_to_cpu(buf[k]);
            ret = tce ? tce_mig_keep(ts, i + k, tce) : 0;
            if (ret < 0) {
                return ret;
            }
        }
    }
    return qemu_file_get_error(f);
}

static const VMStateInfo vmstate_info_tce_flat = {
    .name = "spapr-tce-flat",
    .get = tce_flat_get,
    .put = tce_flat_put,
};

static void tce_put_pair(uint64_t index, uint64_t tce, void *opaque)
{
    QEMUFile *f = opaque;

    qemu_put_be64(f, index);
    qemu_put_be64(f, tce);
}

static int tce_pairs_put(QEMUFile *f, void *pv, size_t size,
                         const VMStateField *field, JSONWriter *vmdesc)
{
    SpaprTceTableState *ts = container_of(pv, SpaprTceTableState, mig_store);

    spapr_tce_table_foreach(&ts->tcet, tce_put_pair, f);
    return 0;
}

/* Pairs in increasing index order, at most one per index, inside */
static int tce_pairs_get(QEMUFile *f, void *pv, size_t size,
                         const VMStateField *field)
{
    SpaprTceTableState *ts = container_of(pv, SpaprTceTableState, mig_store);
    SpaprTceTable *tcet = &ts->tcet;
    uint64_t index, tce, next = 0;
    uint32_t i;
    int ret;

    if (tcet->mig_nb_table) {
        error_report("TCE table 0x%x: the incoming window is both flat and "
                     "sparse", tcet->liobn);
        return -EINVAL;
    }
    if (!tce_mig_count_ok(tcet, ts->mig_sparse_nb)) {
        return -EINVAL;
    }
    if (ts->mig_count > ts->mig_sparse_nb) {
        error_report("TCE table 0x%x: %u incoming TCEs for a window of %u",
                     tcet->liobn, ts->mig_count, ts->mig_sparse_nb);
        return -EINVAL;
    }
    spapr_tce_store_destroy(&ts->mig_store);
    spapr_tce_store_init(&ts->mig_store, ts->mig_sparse_nb);
    for (i = 0; i < ts->mig_count; i++) {
        index = qemu_get_be64(f);
        tce = qemu_get_be64(f);
        if (qemu_file_get_error(f)) {
            break;
        }
        if (index < next || index >= ts->mig_sparse_nb) {
            error_report("TCE table 0x%x: incoming TCE %" PRIu64 " is "
                         "outside its window of %u, or not after TCE %"
                         PRIu64, tcet->liobn, index, ts->mig_sparse_nb,
                         next - 1);
            return -EINVAL;
        }
        ret = tce ? tce_mig_keep(ts, index, tce) : 0;
        if (ret < 0) {
            return ret;
        }
        next = index + 1;
    }
    ts->mig_sparse = true;
    return qemu_file_get_error(f);
}

static const VMStateInfo vmstate_info_tce_pairs = {
    .name = "spapr-tce-pairs",
    .get = tce_pairs_get,
    .put = tce_pairs_put,
};

/* A window the source could have had; the error says which and why */
static bool tce_mig_window_ok(SpaprTceTableState *ts, uint64_t nb,
                              Error **errp)
{
    uint32_t shift = ts->mig_page_shift;

    if (!nb) {
        return true;
    }
    if (shift < TCE_PAGE_SHIFT_MIN || shift > TCE_PAGE_SHIFT_MAX) {
        error_setg(errp, "a TCE page of 2^%u bytes", shift);
        return false;
    }
    if (ts->mig_bus_offset & ((1ull << shift) - 1) ||
        nb > (UINT64_MAX >> shift) ||
        (nb << shift) - 1 > UINT64_MAX - ts->mig_bus_offset) {
        error_setg(errp, "a window of %" PRIu64 " pages of 2^%u bytes at 0x%"
                   PRIx64, nb, shift, ts->mig_bus_offset);
        return false;
    }
    return true;
}

typedef struct TceMigMove {
    SpaprTceTable *tcet;
    uint64_t bad;               /* the first TCE refused, if any */
    bool failed;
} TceMigMove;

static void tce_mig_move_one(uint64_t index, uint64_t tce, void *opaque)
{
    TceMigMove *m = opaque;

    if (m->failed) {
        return;
    }
    if (!tce_check(m->tcet, tce) || !tce_reserve(m->tcet, index, 1, &tce)) {
        m->bad = tce;
        m->failed = true;
        return;
    }
    tce_store(m->tcet, index, tce);
}

static int spapr_tce_table_pre_save(void *opaque)
{
    SpaprTceTableState *ts = opaque;
    SpaprTceTable *tcet = &ts->tcet;

    ts->mig_sparse = ts->sparse_migration && tcet->nb_table;
    ts->mig_sparse_nb = tcet->nb_table;
    ts->mig_count = tce_count(tcet);
    ts->mig_page_shift = tcet->page_shift;
    ts->mig_bus_offset = tcet->bus_offset;
    tcet->mig_nb_table = ts->mig_sparse ? 0 : tcet->nb_table;
    trace_spapr_iommu_pre_save(tcet->liobn, tcet->nb_table, tcet->bus_offset,
                               tcet->page_shift);
    return 0;
}

/* What a stream without "spapr_iommu_ex" or "spapr_iommu/sparse" says */
static int spapr_tce_table_pre_load(void *opaque)
{
    SpaprTceTableState *ts = opaque;

    ts->mig_sparse = false;
    ts->mig_sparse_nb = 0;
    ts->mig_count = 0;
    ts->mig_page_shift = TCE_PAGE_SHIFT_MIN;
    ts->mig_bus_offset = 0;
    spapr_tce_store_destroy(&ts->mig_store);
    spapr_tce_store_init(&ts->mig_store, 0);
    return 0;
}

static int spapr_tce_table_post_load(void *opaque, int version_id)
{
    SpaprTceTableState *ts = opaque;
    SpaprTceTable *tcet = &ts->tcet;
    uint64_t nb = ts->mig_sparse ? ts->mig_sparse_nb : tcet->mig_nb_table;
    bool def_win = tcet->def_win;
    TceMigMove m = { .tcet = tcet };
    Error *err = NULL;
    int ret = 0;

    if (!tce_mig_window_ok(ts, nb, &err)) {
        error_report_err(err);
        error_report("TCE table 0x%x: the incoming window is not one a "
                     "guest can have", tcet->liobn);
        ret = -EINVAL;
        goto out;
    }
    spapr_tce_table_disable(tcet);
    if (nb) {
        spapr_tce_table_enable(tcet, ts->mig_page_shift, ts->mig_bus_offset,
                               nb);
        spapr_tce_store_foreach(&ts->mig_store, tce_mig_move_one, &m);
        if (m.failed) {
            error_report("TCE table 0x%x: incoming TCE 0x%" PRIx64 " maps "
                         "no page of this guest, or there is no memory for "
                         "it", tcet->liobn, m.bad);
            spapr_tce_table_disable(tcet);
            ret = -EINVAL;
            goto out;
        }
    }
    /* Disabling takes the flag: the stream's stays */
    tcet->def_win = nb && def_win;
    if (tcet->vdev) {
        spapr_vio_set_bypass(tcet->vdev, tcet->bypass);
    }
    trace_spapr_iommu_post_load(tcet->liobn, nb, tcet->nb_table,
                                tcet->bus_offset, tcet->page_shift);
out:
    spapr_tce_store_destroy(&ts->mig_store);
    spapr_tce_store_init(&ts->mig_store, 0);
    return ret;
}

/* Upstream's: a window not at 0 or not of 4 KiB pages */
static bool spapr_tce_table_ex_needed(void *opaque)
{
    SpaprTceTableState *ts = opaque;

    return ts->mig_bus_offset || ts->mig_page_shift != TCE_PAGE_SHIFT_MIN;
}

static const VMStateDescription vmstate_spapr_tce_table_ex = {
    .name = "spapr_iommu_ex",
    .needed = spapr_tce_table_ex_needed,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        /* The window's geometry, where upstream's default is not it */
        VMSTATE_UINT64(mig_bus_offset, SpaprTceTableState),
        VMSTATE_UINT32(mig_page_shift, SpaprTceTableState),
        VMSTATE_END_OF_LIST()
    },
};

static bool spapr_tce_table_sparse_needed(void *opaque)
{
    SpaprTceTableState *ts = opaque;

    return ts->mig_sparse;
}

/* The fork's: the set TCEs only, when "sparse-migration" is on */
static const VMStateDescription vmstate_spapr_tce_table_sparse = {
    .name = "spapr_iommu/sparse",
    .needed = spapr_tce_table_sparse_needed,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(mig_sparse_nb, SpaprTceTableState),
        VMSTATE_UINT32(mig_count, SpaprTceTableState),
        {
            .name = "tces",
            .info = &vmstate_info_tce_pairs,
            .flags = VMS_SINGLE,
            .offset = offsetof(SpaprTceTableState, mig_store),
        },
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_spapr_tce_table = {
    .name = "spapr_iommu",
    .pre_save = spapr_tce_table_pre_save,
    .pre_load = spapr_tce_table_pre_load,
    .post_load = spapr_tce_table_post_load,
    /* Version 2 streams lack def_win */
    .version_id = 3,
    .minimum_version_id = 2,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32_EQUAL(tcet.liobn, SpaprTceTableState, NULL),
        VMSTATE_UINT32(tcet.mig_nb_table, SpaprTceTableState),
        VMSTATE_BOOL(tcet.bypass, SpaprTceTableState),
        {
            .name = "mig_table",
            .info = &vmstate_info_tce_flat,
            .flags = VMS_SINGLE,
            .offset = offsetof(SpaprTceTableState, mig_store),
        },
        VMSTATE_BOOL_V(tcet.def_win, SpaprTceTableState, 3),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_spapr_tce_table_ex,
        &vmstate_spapr_tce_table_sparse,
        NULL
    },
};

/* ---- the device ---- */

static void spapr_tce_table_realize(DeviceState *dev, Error **errp)
{
    SpaprTceTable *tcet = SPAPR_TCE_TABLE(dev);
    g_autofree char *root = g_strdup_printf("tce-root-%x", tcet->liobn);
    g_autofree char *iommu = g_strdup_printf("tce-iommu-%x", tcet->liobn);

    tcet->fd = -1;
    tcet->need_vfio = false;
    memory_region_init(&tcet->root, OBJECT(tcet), root, UINT64_MAX);
    memory_region_init_iommu(&tcet->iommu, sizeof(tcet->iommu),
                             TYPE_SPAPR_IOMMU_MEMORY_REGION, OBJECT(tcet),
                             iommu, 0);
    tce_tables_add(tcet);
    vmstate_register(VMSTATE_IF(tcet), tcet->liobn, &vmstate_spapr_tce_table,
                     tcet);
}

static void spapr_tce_table_unrealize(DeviceState *dev)
{
    SpaprTceTable *tcet = SPAPR_TCE_TABLE(dev);

    vmstate_unregister(VMSTATE_IF(tcet), &vmstate_spapr_tce_table, tcet);
    tce_tables_remove(tcet);
    spapr_tce_table_disable(tcet);
}

/* Every TCE cleared; the window stays as it is */
static void spapr_tce_reset(DeviceState *dev)
{
    SpaprTceTable *tcet = SPAPR_TCE_TABLE(dev);

    if (tcet->table) {
        memset(tcet->table, 0, tcet->nb_table * sizeof(tcet->table[0]));
    }
    spapr_tce_store_destroy(&TCE_STATE(tcet)->store);
}

static void spapr_tce_table_get_bytes(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    uint64_t bytes = TCE_STATE(SPAPR_TCE_TABLE(obj))->store.bytes;

    visit_type_uint64(v, name, &bytes, errp);
}

static void spapr_tce_table_get_leaves_made(Object *obj, Visitor *v,
                                            const char *name, void *opaque,
                                            Error **errp)
{
    uint64_t made = TCE_STATE(SPAPR_TCE_TABLE(obj))->store.leaves_made;

    visit_type_uint64(v, name, &made, errp);
}

static void spapr_tce_table_init(Object *obj)
{
    /* What the TCEs cost: for tests and make bench */
    object_property_add(obj, "x-store-bytes", "uint64",
                        spapr_tce_table_get_bytes, NULL, NULL, NULL);
    /* How often a store is made over: for tests */
    object_property_add(obj, "x-store-leaves-made", "uint64",
                        spapr_tce_table_get_leaves_made, NULL, NULL, NULL);
}

static const Property spapr_tce_table_properties[] = {
    /*
     * Refuse to keep TCEs past this many bytes of store (0: no bound but
     * the host's memory), so that tests can see what a guest sees when
     * the host has no memory left: H_NOT_ENOUGH_RESOURCES.
     */
    DEFINE_PROP_UINT64("x-store-limit", SpaprTceTableState, store.limit, 0),
};

static bool spapr_tce_table_get_sparse(Object *obj, Error **errp)
{
    return TCE_STATE(SPAPR_TCE_TABLE(obj))->sparse_migration;
}

/* Any time, also at run time: it matters when the table is saved */
static void spapr_tce_table_set_sparse(Object *obj, bool value, Error **errp)
{
    TCE_STATE(SPAPR_TCE_TABLE(obj))->sparse_migration = value;
}

static void spapr_tce_table_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);

    dc->realize = spapr_tce_table_realize;
    dc->unrealize = spapr_tce_table_unrealize;
    device_class_set_legacy_reset(dc, spapr_tce_reset);
    device_class_set_props(dc, spapr_tce_table_properties);
    /*
     * Off by default: only upstream's flat form lets the destination be
     * upstream QEMU, and every pseries machine type is upstream's too
     */
    object_class_property_add_bool(klass, "sparse-migration",
                                   spapr_tce_table_get_sparse,
                                   spapr_tce_table_set_sparse);
    object_class_property_set_description(klass, "sparse-migration",
        "migrate the set TCEs only, which only the fork can load");
    /* Made by the PHBs and VIO devices that own the windows */
    dc->user_creatable = false;

    spapr_register_hypercall(H_PUT_TCE, h_put_tce);
    spapr_register_hypercall(H_GET_TCE, h_get_tce);
    spapr_register_hypercall(H_PUT_TCE_INDIRECT, h_put_tce_indirect);
    spapr_register_hypercall(H_STUFF_TCE, h_stuff_tce);
}

static void tce_iommu_region_class_init(ObjectClass *klass,
                                        const void *data)
{
    IOMMUMemoryRegionClass *imrc = IOMMU_MEMORY_REGION_CLASS(klass);

    imrc->get_attr = tce_get_attr;
    imrc->notify_flag_changed = tce_notify_flag_changed;
    imrc->get_min_page_size = tce_min_page_size;
    imrc->replay = tce_replay;
    imrc->translate = tce_translate;
}

static const TypeInfo spapr_iommu_types[] = {
    {
        .name = TYPE_SPAPR_TCE_TABLE,
        .parent = TYPE_DEVICE,
        .instance_size = sizeof(SpaprTceTableState),
        .instance_init = spapr_tce_table_init,
        .class_init = spapr_tce_table_class_init,
    }, {
        .name = TYPE_SPAPR_IOMMU_MEMORY_REGION,
        .parent = TYPE_IOMMU_MEMORY_REGION,
        .class_init = tce_iommu_region_class_init,
        /* A lookup reads the TCE and changes nothing */
        .interfaces = (const InterfaceInfo[]) {
            { TYPE_IOMMU_SIDE_EFFECT_FREE_LOOKUP },
            { }
        },
    },
};

DEFINE_TYPES(spapr_iommu_types)
