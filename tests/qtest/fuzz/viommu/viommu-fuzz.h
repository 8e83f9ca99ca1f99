/*
 * What the fork's fuzz targets share: the oracles they check after every
 * command of an input, beyond the crashes the sanitizers catch
 *
 * - DMA: a viommu-testdev command moves its bytes where an independent
 *   model of the IOMMU's tables says, or fails at the first request that
 *   model refuses, with the result, MEMTX, FAULT_ADDR and DONE_BYTES the
 *   device must report (vfuzz_check_dma());
 * - time: no command holds the BQL longer than a bound, in CPU time and
 *   in wall-clock time (vfuzz_command_done());
 * - memory: the heap never grows by more than a bound within an input
 *   (vfuzz_command_done()), nor from input to input (vfuzz_input_begin());
 *   libFuzzer's -malloc_limit_mb bounds each allocation (scripts/fuzz.sh
 *   sets it).
 *
 * A failed check prints "viommu-fuzz: ORACLE <name>: ..." and aborts, so
 * libFuzzer keeps the input as a crash.  See
 * docs/devel/testing/fuzzing-viommu.rst.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VIOMMU_FUZZ_H
#define VIOMMU_FUZZ_H

#include "tests/qtest/libqtest.h"
#include "tests/qtest/libqos/generic-pcihost.h"
#include "tests/qtest/libqos/viommu-testdev-pci.h"

/*
 * The test device's longest burst here (its x-burst-max-count).
 * generic-fuzz's DMA hook scans every access an input has made before
 * it, so a burst costs the square of its length: one of 2^20 accesses
 * would hold the BQL for minutes, a finding of the harness, not of a
 * model.  Bursts of 4096 cost tens of milliseconds.
 */
#define VFUZZ_BURST_MAX "4096"

/*
 * With VIOMMU_FUZZ_HISTORY=DIR, keep the last 64 inputs (call at the
 * start of each), which a finding writes to DIR/history-NNN, oldest
 * first, so that running them in order replays what led to it
 */
void vfuzz_history_add(const uint8_t *data, size_t len);

/* Report a finding of oracle @oracle and abort */
G_NORETURN void G_GNUC_PRINTF(2, 3)
vfuzz_finding(const char *oracle, const char *fmt, ...);

/*
 * Whether @oracle checks: VIOMMU_FUZZ_ALLOW (a comma-separated list of
 * oracle names) turns checks off, so that a campaign can go on past a
 * finding that is known and not fixed yet.
 */
bool vfuzz_oracle_on(const char *oracle);

/* ---- time and memory ---- */

/*
 * Start the clocks and the heap baseline of a new input.  @heap_limit is
 * how far the heap may grow during it (VIOMMU_FUZZ_HEAP_MB overrides).
 * Checks first that the heap between inputs has not grown by more than
 * 64 MiB (VIOMMU_FUZZ_DRIFT_MB) since the first 256 inputs.
 */
void vfuzz_input_begin(size_t heap_limit);
/*
 * One command (@what, for the report) has run: check the time it took
 * since the last call (or since vfuzz_input_begin()) and the heap, then
 * restart the clocks.  Time the oracles spend between commands does not
 * count: call vfuzz_clock_restart() after them.
 */
void vfuzz_command_done(const char *what);
void vfuzz_clock_restart(void);

/*
 * Keep a virtual-time timer armed, so that generic-fuzz's clock_step
 * always has a deadline to step to (call before each input)
 */
void vfuzz_keep_clock_steppable(void);

/*
 * Take the MMIO regions of every sysbus device of QOM type @type out of
 * the memory map: what the targets do not fuzz, but a DMA could reach
 * at a cost that is not the vIOMMUs' (see the callers)
 */
void vfuzz_unmap_devices(const char *type);

/* ---- guest memory, read without side effects ---- */

/*
 * The host address of guest RAM [@pa, @pa + @len) in system memory, or
 * NULL unless that is all one RAM region.  Reading through it neither
 * goes through an IOMMU nor triggers generic-fuzz's DMA filling.
 */
void *vfuzz_ram(uint64_t pa, uint64_t len);
bool vfuzz_ram_read(uint64_t pa, void *buf, uint64_t len);
uint64_t vfuzz_ram_ldq_le(uint64_t pa, bool *ok);

/*
 * Zero every page of the machine's RAM written since the last call, so
 * that each input starts from the same memory (generic-fuzz fills RAM as
 * devices read it, and a reset keeps RAM).  The first call starts
 * tracking writes.  (What the machine's reset writes is zeroed too, and
 * written again by the next reset: qtest runs no guest code that needs
 * it.)
 */
void vfuzz_scrub_ram(void);

/* ---- viommu-testdev ---- */

/*
 * The test device, and what the oracle last saw of it.  Map it (again
 * after each reset) with vfuzz_testdev_map(); its registers are read and
 * written with the qvtd_*() helpers on @q.
 */
typedef struct VFuzzTestdev {
    QViommuTestdev q;
    uint32_t completions;       /* COMPLETIONS when last seen */
    uint32_t stop_stalls;       /* STOP_STALLS when last seen */
    bool async_all_ram;         /* the last OP.ASYNC command's DMA: RAM */
    /*
     * The last OP.ASYNC command's DMA changed its own command registers
     * (it reached the device's BAR): they no longer say what it did
     */
    bool cmd_regs_moved;
} VFuzzTestdev;

/* Find the device at @devfn on @bus, map its BAR0 and enable it */
void vfuzz_testdev_map(VFuzzTestdev *td, QPCIBus *bus, int devfn);

/*
 * What a generic-fuzz input on -M virt starts with: RAM as the last input
 * found it zeroed, a timer for clock_step, the test device at @devfn
 * mapped through @gbus (generic-fuzz's own PCI setup needs port 0xcf8),
 * the clocks and the heap baseline (@heap_limit).  The first call also
 * takes virt's flash out of the memory map (see there).
 */
void vfuzz_virt_input_begin(QTestState *s, QGenericPCIBus *gbus,
                            VFuzzTestdev *td, int devfn, size_t heap_limit);

/*
 * What the independent model says becomes of a DMA request at a bus
 * address: it reaches RAM at @pa, it is refused and the device must
 * report @result (and MEMTX DECODE_ERROR), or the model cannot tell
 * (MMIO, a configuration it does not model, state it cannot see).
 */
typedef enum {
    VFUZZ_DMA_RAM,
    VFUZZ_DMA_FAULT,
    VFUZZ_DMA_UNKNOWN,
} VFuzzDmaKind;

typedef struct VFuzzDma {
    VFuzzDmaKind kind;
    uint64_t pa;
    uint32_t result;
} VFuzzDma;

/*
 * The model: what becomes of the 4 KiB-bounded request at @addr
 * (@is_write: the device writes memory).  A request never crosses a
 * 4 KiB boundary of the bus address, so one answer holds for it all.
 * A model that reads guest memory to answer calls vfuzz_note_table() on
 * what it read.
 */
typedef VFuzzDma (*VFuzzResolve)(void *opaque, uint64_t addr, bool is_write);

/* The model read guest memory [@pa, @pa + @len) to answer */
void vfuzz_note_table(uint64_t pa, uint64_t len);

/*
 * Which question the model answers: it changes whenever a new command is
 * checked, so that a model may work out what holds for the whole command
 * once (and note the tables it read) and reuse it for each request
 */
unsigned vfuzz_check_id(void);

/*
 * Check the command the device completed last against the model: its
 * registers (OP, DMA_ADDR, LEN, PATTERN) say what it was, STATUS, MEMTX,
 * FAULT_ADDR and DONE_BYTES what the device reports.  READ, WRITE, FILL
 * and COMPARE are checked: where the requests the model resolves to RAM
 * must have moved their bytes (FILL: the pattern is in RAM; WRITE: the
 * buffer is; READ: the buffer holds RAM; COMPARE: the verdict follows
 * RAM), and the first request it refuses must end the command exactly
 * there.  A command whose bytes reach memory the model read is not
 * checked (its own DMA changed the tables).  Other opcodes are not
 * checked.
 */
void vfuzz_check_dma(VFuzzTestdev *td, VFuzzResolve resolve, void *opaque);

/*
 * Called after each command of a generic-fuzz input: if the device
 * completed a command since the last call, check it.  A command on the
 * device's DMA thread (OP.ASYNC) is waited for first (see below).
 */
void vfuzz_testdev_after_command(VFuzzTestdev *td, VFuzzResolve resolve,
                                 void *opaque);

/*
 * Wait for the command on the device's DMA thread to complete.  If the
 * model sends all its DMA to RAM, by stopping the VM, which waits for the
 * thread with the BQL held, as a migration's start does: if a translation
 * on that thread takes the BQL, the wait gives up after 5 s, STOP_STALLS
 * goes up, and vfuzz_testdev_after_command() reports it.  DMA that may
 * reach MMIO needs the BQL in QEMU's memory core anyway: then (and with
 * "bql-dma-thread" allowed) the thread runs without the BQL until done.
 */
void vfuzz_testdev_wait_async(VFuzzTestdev *td, VFuzzResolve resolve,
                              void *opaque);

#endif
