/*
 * The oracles the fork's fuzz targets share; see viommu-fuzz.h
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/resource.h>
#include "qemu/compiler.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include "qemu/timer.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qapi/error.h"
#include "system/address-spaces.h"
#include "system/memory.h"
#include "system/runstate.h"
#include "hw/boards.h"
#include "hw/qdev-core.h"
#include "hw/sysbus.h"
/* The test device's MEMTX register bits are QEMU's MemTxResult bits */
#undef MEMTX_ERROR
#undef MEMTX_DECODE_ERROR
#undef MEMTX_ACCESS_ERROR
#include "viommu-fuzz.h"

#ifdef QEMU_SANITIZE_ADDRESS
#include <sanitizer/allocator_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* Defaults of the limits; the environment overrides them */
#define CMD_CPU_MS_DEFAULT      2000
#define CMD_WALL_MS_DEFAULT     10000
#define DRIFT_MB_DEFAULT        64

/*
 * The inputs after which the heap between inputs is the baseline: the
 * first ones fill caches (QEMU's, libFuzzer's) that then stay
 */
#define DRIFT_WARMUP_INPUTS     256

/*
 * The last inputs of the process, the current one last: a finding that
 * depends on what earlier inputs left behind shows only when they are
 * run again, in order
 */
#define HISTORY_INPUTS      64
static struct {
    uint8_t *data;
    size_t len;
} history[HISTORY_INPUTS];
static uint64_t history_count;

void vfuzz_history_add(const uint8_t *data, size_t len)
{
    static int on = -1;
    unsigned i = history_count % HISTORY_INPUTS;

    if (on < 0) {
        on = getenv("VIOMMU_FUZZ_HISTORY") != NULL;
    }
    if (!on) {
        return;
    }
    g_free(history[i].data);
    history[i].data = g_memdup2(data, len);
    history[i].len = len;
    history_count++;
}

static void history_save(void)
{
    const char *dir = getenv("VIOMMU_FUZZ_HISTORY");
    uint64_t first = history_count > HISTORY_INPUTS ?
                     history_count - HISTORY_INPUTS : 0;

    if (!dir || !history_count) {
        return;
    }
    g_mkdir_with_parents(dir, 0755);
    for (uint64_t n = first; n < history_count; n++) {
        g_autofree char *name = g_strdup_printf("%s/history-%03" PRIu64, dir,
                                                n - first);

        g_file_set_contents(name, (char *)history[n % HISTORY_INPUTS].data,
                            history[n % HISTORY_INPUTS].len, NULL);
    }
    fprintf(stderr, "viommu-fuzz: the last %" PRIu64 " inputs, this one "
            "last, are in %s\n", history_count - first, dir);
}

void vfuzz_finding(const char *oracle, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "viommu-fuzz: ORACLE %s: ", oracle);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    history_save();
    fflush(stderr);
    abort();
}

/* ---- time and memory ---- */

static struct {
    bool init;
    int64_t cpu_limit_ns, wall_limit_ns;
    size_t heap_limit;
    int64_t cpu_mark, wall_mark;
    size_t heap_base;
    uint64_t inputs;
    size_t drift_base, drift_limit;
} clk;

static int64_t env_int(const char *name, int64_t dflt)
{
    const char *v = getenv(name);

    return v && *v ? g_ascii_strtoll(v, NULL, 0) : dflt;
}

/*
 * The thread's CPU time in user mode: the kernel's time (page faults that
 * compact memory for a huge page, on a busy host) is not the command's
 */
static int64_t thread_cpu_ns(void)
{
    struct rusage ru;

    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_utime.tv_sec * NANOSECONDS_PER_SECOND +
           ru.ru_utime.tv_usec * SCALE_US;
}

static size_t heap_in_use(void)
{
#ifdef QEMU_SANITIZE_ADDRESS
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

void vfuzz_clock_restart(void)
{
    clk.cpu_mark = thread_cpu_ns();
    clk.wall_mark = get_clock();
}

static void print_heap_profile(void)
{
#ifdef QEMU_SANITIZE_ADDRESS
    /* Where the memory went: the largest allocation sites */
    __sanitizer_print_memory_profile(90, 8);
#endif
}

/*
 * What an input leaves allocated after the machine's reset is a leak that
 * no single input shows: the heap between inputs may not grow past its
 * level after the warm-up by more than a bound
 */
static void heap_drift_check(void)
{
    size_t heap = heap_in_use();

    clk.inputs++;
    if (clk.inputs <= DRIFT_WARMUP_INPUTS) {
        clk.drift_base = heap;
        return;
    }
    if (heap <= clk.drift_base + clk.drift_limit ||
        !vfuzz_oracle_on("heap-drift")) {
        return;
    }
    drain_call_rcu();
    heap = heap_in_use();
    if (heap > clk.drift_base + clk.drift_limit) {
        print_heap_profile();
        vfuzz_finding("heap-drift", "before input %" PRIu64 " the heap holds "
                      "%zu KiB more than before input %d (limit %zu KiB): "
                      "inputs leave memory behind", clk.inputs,
                      (heap - clk.drift_base) >> 10, DRIFT_WARMUP_INPUTS,
                      clk.drift_limit >> 10);
    }
}

void vfuzz_input_begin(size_t heap_limit)
{
    if (!clk.init) {
        clk.cpu_limit_ns = env_int("VIOMMU_FUZZ_CMD_CPU_MS",
                                   CMD_CPU_MS_DEFAULT) * SCALE_MS;
        clk.wall_limit_ns = env_int("VIOMMU_FUZZ_CMD_WALL_MS",
                                    CMD_WALL_MS_DEFAULT) * SCALE_MS;
        clk.drift_limit = env_int("VIOMMU_FUZZ_DRIFT_MB",
                                  DRIFT_MB_DEFAULT) << 20;
        clk.init = true;
    }
    heap_drift_check();
    clk.heap_limit = env_int("VIOMMU_FUZZ_HEAP_MB", heap_limit >> 20) << 20;
    clk.heap_base = heap_in_use();
    vfuzz_clock_restart();
}

void vfuzz_command_done(const char *what)
{
    int64_t cpu = thread_cpu_ns() - clk.cpu_mark;
    int64_t wall = get_clock() - clk.wall_mark;
    size_t heap = heap_in_use();

    if (cpu > clk.cpu_limit_ns) {
        vfuzz_finding("bql-time", "%s held the BQL for %" PRId64 " ms of CPU "
                      "time (limit %" PRId64 " ms)", what, cpu / SCALE_MS,
                      clk.cpu_limit_ns / SCALE_MS);
    }
    if (wall > clk.wall_limit_ns) {
        vfuzz_finding("bql-time", "%s held the BQL for %" PRId64 " ms "
                      "(limit %" PRId64 " ms)", what, wall / SCALE_MS,
                      clk.wall_limit_ns / SCALE_MS);
    }
    if (heap > clk.heap_base && heap - clk.heap_base > clk.heap_limit) {
        /*
         * Memory that waits for an RCU grace period to be freed (old
         * memory maps, above all) is not the input's to keep: let it go
         */
        drain_call_rcu();
        heap = heap_in_use();
    }
    if (heap > clk.heap_base && heap - clk.heap_base > clk.heap_limit) {
        print_heap_profile();
        vfuzz_finding("heap", "%s: the heap grew by %zu KiB in this input "
                      "(limit %zu KiB)", what, (heap - clk.heap_base) >> 10,
                      clk.heap_limit >> 10);
    }
    vfuzz_clock_restart();
}

/* ---- guest memory ---- */

void *vfuzz_ram(uint64_t pa, uint64_t len)
{
    MemoryRegionSection sec;
    void *ptr = NULL;

    if (!len || pa + len - 1 < pa) {
        return NULL;
    }
    sec = memory_region_find(get_system_memory(), pa, len);
    if (!sec.mr) {
        return NULL;
    }
    if (memory_region_is_ram(sec.mr) && !memory_region_is_ram_device(sec.mr) &&
        int128_get64(sec.size) == len) {
        ptr = (uint8_t *)memory_region_get_ram_ptr(sec.mr) +
              sec.offset_within_region;
    }
    memory_region_unref(sec.mr);
    return ptr;
}

bool vfuzz_ram_read(uint64_t pa, void *buf, uint64_t len)
{
    void *p = vfuzz_ram(pa, len);

    if (p) {
        memcpy(buf, p, len);
    }
    return p != NULL;
}

uint64_t vfuzz_ram_ldq_le(uint64_t pa, bool *ok)
{
    uint64_t v = 0;

    *ok = vfuzz_ram_read(pa, &v, sizeof(v));
    return le64_to_cpu(v);
}

/*
 * generic-fuzz's "clock_step" command steps virtual time to the next timer
 * deadline and fails without one, which aborts the fuzzer: a machine such
 * as -M virt under qtest may have no timer armed.  Keep one armed.
 */
static QEMUTimer *clock_anchor;

static void clock_anchor_fire(void *opaque)
{
    timer_mod(clock_anchor, qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
              10 * SCALE_MS);
}

void vfuzz_keep_clock_steppable(void)
{
    if (!clock_anchor) {
        clock_anchor = timer_new_ns(QEMU_CLOCK_VIRTUAL, clock_anchor_fire,
                                    NULL);
    }
    clock_anchor_fire(NULL);
}

static int unmap_one(Object *obj, void *type)
{
    if (object_dynamic_cast(obj, type) &&
        object_dynamic_cast(obj, TYPE_SYS_BUS_DEVICE)) {
        SysBusDevice *sbd = SYS_BUS_DEVICE(obj);

        for (int i = 0; i < sbd->num_mmio; i++) {
            memory_region_set_enabled(sysbus_mmio_get_region(sbd, i), false);
        }
    }
    return 0;
}

void vfuzz_unmap_devices(const char *type)
{
    object_child_foreach_recursive(qdev_get_machine(), unmap_one,
                                   (void *)type);
}

#define SCRUB_BLOCK     (2 * MiB)
#define SCRUB_PAGE      (4 * KiB)

void vfuzz_scrub_ram(void)
{
    static bool tracking;
    MemoryRegion *mr = current_machine->ram;
    uint64_t size = memory_region_size(mr);
    uint8_t *host = memory_region_get_ram_ptr(mr);
    DirtyBitmapSnapshot *snap;

    snap = memory_region_snapshot_and_clear_dirty(mr, 0, size,
                                                  DIRTY_MEMORY_VGA);
    if (!tracking) {
        /* RAM starts all dirty: what it holds now is the baseline */
        memory_region_set_log(mr, true, DIRTY_MEMORY_VGA);
        tracking = true;
        g_free(snap);
        return;
    }
    for (uint64_t blk = 0; blk < size; blk += SCRUB_BLOCK) {
        uint64_t end = MIN(blk + SCRUB_BLOCK, size);

        if (!memory_region_snapshot_get_dirty(mr, snap, blk, end - blk)) {
            continue;
        }
        for (uint64_t pg = blk; pg < end; pg += SCRUB_PAGE) {
            if (memory_region_snapshot_get_dirty(mr, snap, pg, SCRUB_PAGE)) {
                memset(host + pg, 0, MIN(SCRUB_PAGE, end - pg));
            }
        }
    }
    g_free(snap);
}

/* ---- the DMA oracle ---- */

/* What the model read to answer the current command: at most a few */
#define MAX_TABLES      16
static struct {
    uint64_t pa, len;
} tables[MAX_TABLES];
static unsigned n_tables;
static bool tables_overflow;
static unsigned check_id;

/* A new question to the model: forget what it read for the last one */
static void new_check(void)
{
    n_tables = 0;
    tables_overflow = false;
    check_id++;
}

unsigned vfuzz_check_id(void)
{
    return check_id;
}

void vfuzz_note_table(uint64_t pa, uint64_t len)
{
    if (n_tables == MAX_TABLES) {
        tables_overflow = true;
        return;
    }
    tables[n_tables].pa = pa;
    tables[n_tables].len = len;
    n_tables++;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static bool touches_tables(uint64_t pa, uint64_t len)
{
    if (tables_overflow) {
        return true;
    }
    for (unsigned i = 0; i < n_tables; i++) {
        if (overlaps(pa, len, tables[i].pa, tables[i].len)) {
            return true;
        }
    }
    return false;
}

/* Byte @i of the device's pattern stream for seed @seed */
static uint8_t pattern_byte(uint32_t seed, uint32_t i)
{
    return (uint32_t)(seed + i / 4) >> (8 * (i % 4));
}

/* One 4 KiB-bounded request that the model sends to RAM */
typedef struct Piece {
    uint64_t pa;
    uint32_t off, len;
} Piece;

#define MAX_PIECES      (65536 / 4096 + 1)

typedef struct Outcome {
    uint32_t op, len, pattern;
    uint64_t addr;
    uint32_t result, memtx, done;
    uint64_t fault;
} Outcome;

/* VIOMMU_FUZZ_VERBOSE=1: say what each DMA check concluded */
static void verdict(const Outcome *o, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static void verdict(const Outcome *o, const char *fmt, ...)
{
    static int verbose = -1;
    va_list ap;

    if (verbose < 0) {
        verbose = getenv("VIOMMU_FUZZ_VERBOSE") != NULL;
    }
    if (!verbose) {
        return;
    }
    fprintf(stderr, "viommu-fuzz: dma op %u at 0x%" PRIx64 " len %u: ",
            o->op, o->addr, o->len);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void G_NORETURN dma_finding(const Outcome *o, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static void dma_finding(const Outcome *o, const char *fmt, ...)
{
    g_autofree char *why = NULL;
    va_list ap;

    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vfuzz_finding("dma", "op %u at 0x%" PRIx64 " len %u: %s (device: result "
                  "%u memtx 0x%x fault_addr 0x%" PRIx64 " done %u)", o->op,
                  o->addr, o->len, why, o->result, o->memtx, o->fault,
                  o->done);
}

static void expect_outcome(const Outcome *o, uint32_t result, uint32_t memtx,
                           uint64_t fault, uint32_t done)
{
    if (o->result != result || o->memtx != memtx || o->fault != fault ||
        o->done != done) {
        dma_finding(o, "the model expects result %u memtx 0x%x fault_addr "
                    "0x%" PRIx64 " done %u", result, memtx, fault, done);
    }
}

/*
 * The bytes the requests before @upto moved are where the model says.
 * Requests that write memory are checked last first, and a byte that a
 * later request of the same command wrote again is checked only there.
 */
static void check_data(VFuzzTestdev *td, const Outcome *o,
                       const Piece *p, unsigned n)
{
    g_autofree uint8_t *dev = NULL;
    bool writes = o->op == OP_WRITE || o->op == OP_FILL;

    if (o->op != OP_FILL) {
        /* READ and COMPARE read into the buffer, WRITE writes it */
        dev = g_malloc(o->len);
        qpci_memread(td->q.dev, td->q.bar, BUF_OFFSET, dev, o->len);
    }
    for (unsigned k = n; k-- > 0;) {
        const uint8_t *ram = vfuzz_ram(p[k].pa, p[k].len);
        bool shadowed = false;

        for (unsigned later = k + 1; writes && later < n; later++) {
            shadowed |= overlaps(p[k].pa, p[k].len, p[later].pa, p[later].len);
        }
        if (!ram || shadowed) {
            continue;
        }
        for (uint32_t i = 0; i < p[k].len; i++) {
            uint32_t at = p[k].off + i;
            uint8_t want = o->op == OP_FILL ? pattern_byte(o->pattern, at)
                                            : dev[at];

            if (ram[i] != want) {
                dma_finding(o, "byte %u: RAM at 0x%" PRIx64 " holds 0x%02x, "
                            "the %s 0x%02x", at, p[k].pa + i, ram[i],
                            o->op == OP_FILL ? "pattern" : "buffer", want);
            }
        }
    }
}

/* COMPARE: the first byte at which RAM differs from the pattern */
static bool first_mismatch(const Outcome *o, const Piece *p, unsigned n,
                           uint32_t *at)
{
    for (unsigned k = 0; k < n; k++) {
        const uint8_t *ram = vfuzz_ram(p[k].pa, p[k].len);

        for (uint32_t i = 0; ram && i < p[k].len; i++) {
            if (ram[i] != pattern_byte(o->pattern, p[k].off + i)) {
                *at = p[k].off + i;
                return true;
            }
        }
    }
    return false;
}

void vfuzz_check_dma(VFuzzTestdev *td, VFuzzResolve resolve, void *opaque)
{
    Outcome o;
    Piece pieces[MAX_PIECES];
    unsigned n = 0;
    uint32_t st, attr, off = 0, at;
    uint64_t addr;
    bool is_write;

    o.op = qvtd_rd(&td->q, R_OP) & 0xf;
    if (o.op < OP_READ || o.op > OP_COMPARE || td->cmd_regs_moved) {
        return;
    }
    o.addr = qvtd_rd64(&td->q, R_DMA_ADDR);
    o.len = qvtd_rd(&td->q, R_LEN);
    o.pattern = qvtd_rd(&td->q, R_PATTERN);
    attr = qvtd_rd(&td->q, R_ATTR);
    st = qvtd_rd(&td->q, R_STATUS);
    o.result = STATUS_RESULT(st);
    o.memtx = qvtd_rd(&td->q, R_MEMTX);
    o.fault = qvtd_rd64(&td->q, R_FAULT_ADDR);
    o.done = qvtd_rd(&td->q, R_DONE_BYTES);

    /* Commands the device must refuse before any request (Command rules) */
    if (o.len == 0 || o.len > BUF_SIZE || o.addr + o.len - 1 < o.addr ||
        (attr & ATTR_PASID_EN)) {
        expect_outcome(&o, RES_BAD_COMMAND, 0, 0, 0);
        verdict(&o, "checked: BAD_COMMAND");
        return;
    }

    new_check();
    is_write = o.op == OP_WRITE || o.op == OP_FILL;
    addr = o.addr;
    while (off < o.len) {
        uint32_t len = MIN(o.len - off, 0x1000 - (addr & 0xfff));
        VFuzzDma d = resolve(opaque, addr, is_write);

        if (d.kind == VFUZZ_DMA_RAM && vfuzz_ram(d.pa, len)) {
            pieces[n++] = (Piece) { d.pa, off, len };
        } else if (d.kind == VFUZZ_DMA_FAULT) {
            /* The requests before it moved, nothing after it did */
            for (unsigned k = 0; k < n; k++) {
                if (is_write && touches_tables(pieces[k].pa, pieces[k].len)) {
                    verdict(&o, "not checked: it wrote the tables");
                    return;
                }
            }
            expect_outcome(&o, d.result, MEMTX_DECODE_ERROR, addr, off);
            check_data(td, &o, pieces, n);
            verdict(&o, "checked: result %u at 0x%" PRIx64 " after %u bytes",
                    d.result, addr, off);
            return;
        } else {
            /* MMIO or what the model cannot tell: no claim past here */
            verdict(&o, "not checked: the model cannot tell 0x%" PRIx64,
                    addr);
            return;
        }
        addr += len;
        off += len;
    }

    for (unsigned k = 0; k < n; k++) {
        if (is_write && touches_tables(pieces[k].pa, pieces[k].len)) {
            verdict(&o, "not checked: it wrote the tables");
            return;
        }
    }
    if (o.op == OP_COMPARE && first_mismatch(&o, pieces, n, &at)) {
        expect_outcome(&o, RES_MISMATCH, 0, o.addr + at, at);
        check_data(td, &o, pieces, n);
        verdict(&o, "checked: MISMATCH at byte %u", at);
        return;
    }
    expect_outcome(&o, RES_OK, 0, 0, o.len);
    check_data(td, &o, pieces, n);
    verdict(&o, "checked: OK, %u bytes in RAM from 0x%" PRIx64, o.len,
            pieces[0].pa);
}

bool vfuzz_oracle_on(const char *oracle)
{
    static char **allowed;
    static bool parsed;

    if (!parsed) {
        const char *v = getenv("VIOMMU_FUZZ_ALLOW");

        allowed = g_strsplit(v ? v : "", ",", -1);
        parsed = true;
    }
    return !g_strv_contains((const char * const *)allowed, oracle);
}

/*
 * Whether the model sends every request of the command in the registers
 * to RAM: a READ, WRITE, FILL or COMPARE, or a burst, that no IOMMU
 * refuses and that reaches no MMIO.  Only such DMA must never need the
 * BQL: QEMU's memory core takes it for any MMIO access, an unassigned
 * address included.
 */
static bool dma_all_ram(VFuzzTestdev *td, VFuzzResolve resolve, void *opaque)
{
    uint32_t op = qvtd_rd(&td->q, R_OP) & 0xf;
    uint64_t addr = qvtd_rd64(&td->q, R_DMA_ADDR);
    uint64_t len = qvtd_rd(&td->q, R_LEN), end, span;
    bool is_write = op == OP_WRITE || op == OP_FILL || op == OP_BURST_WRITE;

    if (op == OP_BURST_READ || op == OP_BURST_WRITE) {
        /* The accesses stay in DMA_ADDR + [0, SPAN or STRIDE * COUNT) */
        span = qvtd_rd(&td->q, R_BURST_SPAN);
        if (!span) {
            span = (uint64_t)qvtd_rd(&td->q, R_BURST_STRIDE) *
                   qvtd_rd(&td->q, R_BURST_COUNT);
        }
        len += span;
        if (len > 64 * 4096) {
            return false;       /* too far to look at every page */
        }
    } else if (op < OP_READ || op > OP_COMPARE) {
        return false;           /* COPY's second address is not looked at */
    }
    if (!len || addr + len - 1 < addr) {
        return false;
    }
    new_check();
    for (end = addr + len; addr < end; addr = (addr | 0xfff) + 1) {
        VFuzzDma d = resolve(opaque, addr, is_write);

        if (d.kind != VFUZZ_DMA_RAM || !vfuzz_ram(d.pa, 1)) {
            return false;
        }
    }
    return true;
}

/*
 * The device's MMIO is fenced (an EEH freeze), so STATUS cannot say when
 * the command is done; its "x-busy" can.  Stopping the VM would wait
 * holding the BQL, which the DMA thread takes for each access that is
 * not to RAM (one that froze the PE, for one): it gave up after 5 s, and
 * the device, still busy, ignored the next input's first command.  So
 * the wait goes on as the main loop would, without the BQL, for 10 s of
 * wall-clock time at most.
 */
static void testdev_wait_fenced(void)
{
    Object *dev = object_resolve_path_type("", "viommu-testdev", NULL);
    int64_t deadline = get_clock() + 10 * NANOSECONDS_PER_SECOND;

    if (!dev) {
        vm_stop(RUN_STATE_PAUSED);
        vm_start();
        return;
    }
    while (object_property_get_bool(dev, "x-busy", &error_abort)) {
        if (get_clock() > deadline) {
            vfuzz_finding("bql-dma-thread", "the test device's DMA thread "
                          "did not finish its command in 10 s, its MMIO "
                          "fenced, with the BQL free");
        }
        bql_unlock();
        g_usleep(100);
        bql_lock();
        main_loop_wait(true);
    }
}

/* The registers that say what a command does, as DMA oracles read them */
typedef struct CmdRegs {
    uint64_t addr;
    uint32_t op, len, pattern, attr;
} CmdRegs;

static CmdRegs cmd_regs(VFuzzTestdev *td)
{
    return (CmdRegs) {
        .addr = qvtd_rd64(&td->q, R_DMA_ADDR),
        .op = qvtd_rd(&td->q, R_OP),
        .len = qvtd_rd(&td->q, R_LEN),
        .pattern = qvtd_rd(&td->q, R_PATTERN),
        .attr = qvtd_rd(&td->q, R_ATTR),
    };
}

static void wait_async(VFuzzTestdev *td, VFuzzResolve resolve, void *opaque);

void vfuzz_testdev_wait_async(VFuzzTestdev *td, VFuzzResolve resolve,
                              void *opaque)
{
    /*
     * The DMA thread runs the command from a copy of these registers; its
     * DMA may write the device's own BAR (the BQL, held until the wait,
     * keeps it from doing so earlier), and then the registers no longer
     * say what the command did
     */
    CmdRegs before = cmd_regs(td), after;

    wait_async(td, resolve, opaque);
    after = cmd_regs(td);
    td->cmd_regs_moved = memcmp(&before, &after, sizeof(before)) != 0;
}

static void wait_async(VFuzzTestdev *td, VFuzzResolve resolve, void *opaque)
{
    td->async_all_ram = dma_all_ram(td, resolve, opaque);
    if (td->async_all_ram && vfuzz_oracle_on("bql-dma-thread")) {
        /*
         * Stopping waits for the DMA thread with the BQL held, as a
         * migration's start does; a translation there that takes the BQL
         * stalls it.
         */
        vm_stop(RUN_STATE_PAUSED);
        vm_start();
        return;
    }
    /* As the main loop would, without the BQL, for at most 10 s */
    for (int i = 0; i < 100000; i++) {
        uint32_t st = qvtd_rd(&td->q, R_STATUS);

        if (st == UINT32_MAX) {
            testdev_wait_fenced();
            return;
        }
        if (!(st & STATUS_BUSY)) {
            return;
        }
        bql_unlock();
        g_usleep(100);
        bql_lock();
        main_loop_wait(true);
    }
}

void vfuzz_testdev_after_command(VFuzzTestdev *td, VFuzzResolve resolve,
                                 void *opaque)
{
    uint32_t st = qvtd_rd(&td->q, R_STATUS);
    uint32_t done, stalls;

    if (st & STATUS_BUSY) {
        if (!(qvtd_rd(&td->q, R_OP) & OP_ASYNC)) {
            return;             /* a page request waits for its answer */
        }
        vfuzz_testdev_wait_async(td, resolve, opaque);
    }
    done = qvtd_rd(&td->q, R_COMPLETIONS);
    if (done == td->completions) {
        td->async_all_ram = false;
        td->cmd_regs_moved = false;
        return;
    }
    stalls = qvtd_rd(&td->q, R_STOP_STALLS);
    if (stalls != td->stop_stalls && td->async_all_ram &&
        vfuzz_oracle_on("bql-dma-thread")) {
        vfuzz_finding("bql-dma-thread", "stopping the VM gave up waiting "
                      "for the test device's DMA thread (STOP_STALLS %u), "
                      "whose DMA went to RAM only: a translation on that "
                      "thread waited for the BQL", stalls);
    }
    td->stop_stalls = stalls;
    td->async_all_ram = false;
    if (qvtd_rd(&td->q, R_STATUS) & STATUS_BUSY) {
        vfuzz_finding("bql-dma-thread", "the test device's DMA thread did "
                      "not finish its command");
    }
    if (done == td->completions + 1) {
        vfuzz_check_dma(td, resolve, opaque);
    }
    td->completions = done;
    td->cmd_regs_moved = false;
}

void vfuzz_virt_input_begin(QTestState *s, QGenericPCIBus *gbus,
                            VFuzzTestdev *td, int devfn, size_t heap_limit)
{
    static bool once;

    if (!once) {
        /*
         * virt's flash rebuilds the memory map on every write, and a DMA
         * into it does thousands in one RCU read section: hundreds of MiB
         * for QEMU's memory core to free later, which the heap oracle
         * would blame on the input.  It is no part of what is fuzzed.
         */
        vfuzz_unmap_devices("cfi.pflash01");
        once = true;
    }
    vfuzz_scrub_ram();
    vfuzz_keep_clock_steppable();
    qpci_init_generic(gbus, s, NULL, false);
    vfuzz_testdev_map(td, &gbus->bus, devfn);
    vfuzz_input_begin(heap_limit);
}

void vfuzz_testdev_map(VFuzzTestdev *td, QPCIBus *bus, int devfn)
{
    if (td->q.dev) {
        qvtd_free(&td->q);
    }
    qvtd_init(&td->q, bus, devfn);
    td->completions = qvtd_rd(&td->q, R_COMPLETIONS);
    td->stop_stalls = qvtd_rd(&td->q, R_STOP_STALLS);
}
