/*
 * qtests for viommu-testdev, the DMA test device
 *
 * The register offsets, opcodes and result codes come from
 * libqos/viommu-testdev.h, which is written out from
 * docs/specs/viommu-testdev.rst rather than taken from the device's header,
 * so that a change to the guest-visible ABI makes these tests fail.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"
#include "libqos/pci-spapr.h"
#include "libqos/malloc-spapr.h"
#include "libqos/smmuv3.h"
#include "libqos/viommu-testdev-pci.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"

/* -M virt memory map, as seen by a device without an IOMMU in front */
#define VIRT_RAM_BASE       0x40000000ull
#define VIRT_RAM_SIZE       0x20000000ull   /* -m 512M */
#define VIRT_RAM_END        (VIRT_RAM_BASE + VIRT_RAM_SIZE)
#define VIRT_ECAM_BASE      0x4010000000ull
#define VIRT_GICD_BASE      0x08000000ull

#define DEV_SLOT            4
#define DEV_DEVFN           QPCI_DEVFN(DEV_SLOT, 0)
#define PEER_SLOT           5
#define PEER_DEVFN          QPCI_DEVFN(PEER_SLOT, 0)

/* A pcie-root-port in slot 3 of the root bus, its secondary bus 1 */
#define RP_SLOT             3
#define RP_DEVFN            QPCI_DEVFN(RP_SLOT, 0)
#define BEHIND_RP_DEVFN     ((1 << 8) | QPCI_DEVFN(0, 0))

/* The host bridge's four INTx lines on virt are SPIs 3..6 */
#define VIRT_INTX_GIC_IRQ0  (32 + 3)

typedef struct TestDev {
    QTestState *qts;
    QGenericPCIBus gbus;
    QPCIBus *bus;
    QViommuTestdev td;
    int devfn;
    bool spapr;
    /* Guest memory for the RTAS calls that reach sPAPR config space */
    QGuestAllocator alloc;
} TestDev;

static uint64_t ecam(int devfn)
{
    return VIRT_ECAM_BASE + ((uint64_t)devfn << 12);
}

static TestDev *td_start_virt_at(const char *machine_opts,
                                 const char *extra_args, int devfn)
{
    TestDev *t = g_new0(TestDev, 1);

    t->qts = qtest_initf("-M virt%s -cpu max -m 512M -nodefaults %s",
                         machine_opts, extra_args);
    qpci_init_generic(&t->gbus, t->qts, NULL, false);
    t->bus = &t->gbus.bus;
    t->devfn = devfn;
    qvtd_init(&t->td, t->bus, devfn);
    return t;
}

static TestDev *td_start_virt(const char *machine_opts, const char *dev_opts)
{
    g_autofree char *args = g_strdup_printf(
        "-device viommu-testdev,addr=%d.0%s", DEV_SLOT, dev_opts);

    return td_start_virt_at(machine_opts, args, DEV_DEVFN);
}

/*
 * The test device behind a pcie-root-port.  Without firmware nobody
 * numbers the bus or opens the bridge's window: do what firmware would.
 */
static TestDev *td_start_virt_behind_root_port(void)
{
    g_autofree char *args = g_strdup_printf(
        "-device pcie-root-port,id=rp,chassis=1,addr=%d.0 "
        "-device viommu-testdev,bus=rp,addr=0.0", RP_SLOT);
    TestDev *t = g_new0(TestDev, 1);
    QPCIDevice *rp;

    t->qts = qtest_initf("-M virt -cpu max -m 512M -nodefaults %s", args);
    qpci_init_generic(&t->gbus, t->qts, NULL, false);
    t->bus = &t->gbus.bus;
    rp = qpci_device_find(t->bus, RP_DEVFN);
    g_assert(rp);
    qpci_config_writeb(rp, PCI_PRIMARY_BUS, 0);
    qpci_config_writeb(rp, PCI_SECONDARY_BUS, 1);
    qpci_config_writeb(rp, PCI_SUBORDINATE_BUS, 1);
    /* libqos hands out BARs from 0x10000000 up, below 4 GiB */
    qpci_config_writew(rp, PCI_MEMORY_BASE, 0x1000);
    qpci_config_writew(rp, PCI_MEMORY_LIMIT, 0x3ef0);
    qpci_config_writew(rp, PCI_COMMAND,
                       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    g_free(rp);
    t->devfn = BEHIND_RP_DEVFN;
    qvtd_init(&t->td, t->bus, t->devfn);
    return t;
}

static TestDev *td_start_pseries(void)
{
    TestDev *t = g_new0(TestDev, 1);

    t->qts = qtest_initf("-M pseries -nodefaults "
                         "-device viommu-testdev,addr=%d.0", DEV_SLOT);
    spapr_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    t->bus = qpci_new_spapr(t->qts, &t->alloc);
    t->spapr = true;
    t->devfn = DEV_DEVFN;
    qvtd_init(&t->td, t->bus, DEV_DEVFN);
    return t;
}

static void td_stop(TestDev *t)
{
    qvtd_free(&t->td);
    if (t->spapr) {
        qpci_free_spapr(t->bus);
        alloc_destroy(&t->alloc);
    }
    qtest_quit(t->qts);
    g_free(t);
}

static uint32_t rd(TestDev *t, uint64_t off)
{
    return qvtd_rd(&t->td, off);
}

static void wr(TestDev *t, uint64_t off, uint32_t val)
{
    qvtd_wr(&t->td, off, val);
}

static uint64_t rd64(TestDev *t, uint64_t off)
{
    return qvtd_rd64(&t->td, off);
}

static void wr64(TestDev *t, uint64_t off, uint64_t val)
{
    qvtd_wr64(&t->td, off, val);
}

/* Run one command and return STATUS.RESULT, checking it completed once */
static uint32_t run(TestDev *t, uint32_t op, uint64_t addr, uint32_t len)
{
    return qvtd_run(&t->td, op, addr, len);
}

static void buf_write(TestDev *t, uint32_t off, const void *data, size_t len)
{
    qpci_memwrite(t->td.dev, t->td.bar, BUF_OFFSET + off, data, len);
}

static void buf_read(TestDev *t, uint32_t off, void *data, size_t len)
{
    qpci_memread(t->td.dev, t->td.bar, BUF_OFFSET + off, data, len);
}

static uint8_t pattern_byte(uint32_t seed, uint32_t i)
{
    return (seed + (i >> 2)) >> ((i & 3) * 8);
}

static void fill_bytes(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = seed + i * 7;
    }
}

static void assert_outcome(TestDev *t, uint32_t memtx, uint64_t fault,
                           uint32_t done)
{
    qvtd_assert_outcome(&t->td, memtx, fault, done);
}

static void assert_ram(TestDev *t, uint64_t addr, uint8_t val, size_t len)
{
    g_autofree uint8_t *got = g_malloc(len);

    qtest_memread(t->qts, addr, got, len);
    for (size_t i = 0; i < len; i++) {
        g_assert_cmphex(got[i], ==, val);
    }
}

/*
 * The level of the device's INTA at the GIC (-M virt, GICv2).  Each
 * bridge swizzles by slot: (slot + pin) % 4, the root port's slot last.
 */
static bool intx_level(TestDev *t)
{
    int line = t->devfn == BEHIND_RP_DEVFN ? RP_SLOT % 4 : DEV_SLOT % 4;
    int irq = VIRT_INTX_GIC_IRQ0 + line;
    uint32_t ispendr = qtest_readl(t->qts, VIRT_GICD_BASE + 0x200 +
                                   irq / 32 * 4);

    /* Disabled and level-sensitive, so pending is exactly the level */
    return ispendr & (1u << (irq % 32));
}

/* ---- -M virt, no IOMMU ---- */

static void test_virt_identity(void)
{
    TestDev *t = td_start_virt("", "");
    uint8_t raw[4];

    g_assert_cmphex(rd(t, R_ID), ==, ID_VALUE);
    qpci_memread(t->td.dev, t->td.bar, R_ID, raw, 4);
    g_assert(memcmp(raw, "DMAT", 4) == 0);
    g_assert_cmphex(rd(t, R_VERSION), ==, VERSION_VALUE);
    g_assert_cmphex(rd(t, R_CAP), ==, 16 << 8);
    g_assert_cmphex(rd(t, R_STATUS), ==, 0);
    g_assert_cmphex(rd(t, R_COMPLETIONS), ==, 0);
    g_assert_cmphex(rd(t, R_BUF_ATTRS), ==, 0);
    g_assert_cmphex(rd(t, R_IOMMU_REQ_STATUS), ==, 0);
    g_assert_cmphex(rd(t, R_STOP_STALLS), ==, 0);
    /* 64-bit registers take one 8-byte access as well as two halves */
    qpci_io_writeq(t->td.dev, t->td.bar, R_DMA_ADDR, 0x0123456789abcdefull);
    g_assert_cmphex(rd(t, R_DMA_ADDR), ==, 0x89abcdef);
    g_assert_cmphex(rd(t, R_DMA_ADDR + 4), ==, 0x01234567);
    g_assert_cmphex(qpci_io_readq(t->td.dev, t->td.bar, R_DMA_ADDR), ==,
                    0x0123456789abcdefull);
    /* Only the defined bits are kept; SECURE only with secure-dma=on */
    wr(t, R_OP, 0xffffffff);
    g_assert_cmphex(rd(t, R_OP), ==, 0x3f);
    wr(t, R_ATTR, 0xffffffff);
    g_assert_cmphex(rd(t, R_ATTR), ==, ATTR_PRIV | ATTR_EXEC | ATTR_PASID_EN);
    wr(t, R_PASID, 0xffffffff);
    g_assert_cmphex(rd(t, R_PASID), ==, 0xfffff);
    wr(t, R_CTRL, 0xffffffff);
    g_assert_cmphex(rd(t, R_CTRL), ==, CTRL_IRQ_EN);
    /* Read-only registers ignore writes */
    wr(t, R_ID, 0);
    g_assert_cmphex(rd(t, R_ID), ==, ID_VALUE);
    wr(t, R_COMPLETIONS, 5);
    g_assert_cmphex(rd(t, R_COMPLETIONS), ==, 0);
    td_stop(t);
}

static void test_virt_write_exact(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t dst = VIRT_RAM_BASE + 0x100ffd;  /* crosses a 4K boundary */
    uint32_t len = 300;
    uint8_t src[300], got[300 + 32];

    fill_bytes(src, len, 0x31);
    buf_write(t, 0, src, len);
    qtest_memset(t->qts, dst - 16, 0xaa, len + 32);

    g_assert_cmpuint(run(t, OP_WRITE, dst, len), ==, RES_OK);
    assert_outcome(t, 0, 0, len);

    qtest_memread(t->qts, dst - 16, got, sizeof(got));
    for (int i = 0; i < 16; i++) {
        g_assert_cmphex(got[i], ==, 0xaa);
        g_assert_cmphex(got[16 + len + i], ==, 0xaa);
    }
    g_assert(memcmp(got + 16, src, len) == 0);
    td_stop(t);
}

static void test_virt_fill_exact(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t dst = VIRT_RAM_BASE + 0x200001;
    static const uint8_t want[10] = {
        0x44, 0x33, 0x22, 0x11, 0x45, 0x33, 0x22, 0x11, 0x46, 0x33,
    };
    g_autofree uint8_t *big = g_malloc(BUF_SIZE);
    uint8_t got[12];

    qtest_memset(t->qts, dst - 1, 0x5a, sizeof(got));
    wr(t, R_PATTERN, 0x11223344);
    g_assert_cmpuint(run(t, OP_FILL, dst, 10), ==, RES_OK);
    assert_outcome(t, 0, 0, 10);
    qtest_memread(t->qts, dst - 1, got, sizeof(got));
    g_assert_cmphex(got[0], ==, 0x5a);
    g_assert(memcmp(got + 1, want, 10) == 0);
    g_assert_cmphex(got[11], ==, 0x5a);

    /*
     * The largest transfer, starting mid-page so that the pattern is made
     * in pieces that do not start on a word, with a seed that carries
     */
    wr(t, R_PATTERN, 0xfffffffe);
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE + 0x300ffd, BUF_SIZE),
                     ==, RES_OK);
    assert_outcome(t, 0, 0, BUF_SIZE);
    qtest_memread(t->qts, VIRT_RAM_BASE + 0x300ffd, big, BUF_SIZE);
    for (uint32_t i = 0; i < BUF_SIZE; i++) {
        g_assert_cmphex(big[i], ==, pattern_byte(0xfffffffe, i));
    }
    td_stop(t);
}

static void test_virt_read_exact(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t src = VIRT_RAM_BASE + 0x400f00;
    uint32_t len = 0x1800;
    g_autofree uint8_t *data = g_malloc(len);
    g_autofree uint8_t *got = g_malloc(len + 16);

    fill_bytes(data, len, 0x17);
    qtest_memwrite(t->qts, src, data, len);
    memset(got, 0xee, len + 16);
    buf_write(t, 0, got, len + 16);

    g_assert_cmpuint(run(t, OP_READ, src, len), ==, RES_OK);
    assert_outcome(t, 0, 0, len);
    buf_read(t, 0, got, len + 16);
    g_assert(memcmp(got, data, len) == 0);
    for (int i = 0; i < 16; i++) {
        g_assert_cmphex(got[len + i], ==, 0xee);
    }
    td_stop(t);
}

static void test_virt_copy_exact(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t src = VIRT_RAM_BASE + 0x500010;
    uint64_t dst = VIRT_RAM_BASE + 0x600ff0;
    uint8_t data[100], got[104], inbuf[100];

    fill_bytes(data, sizeof(data), 0x80);
    qtest_memwrite(t->qts, src, data, sizeof(data));
    qtest_memset(t->qts, dst - 2, 0x11, sizeof(got));

    wr64(t, R_DST_ADDR, dst);
    g_assert_cmpuint(run(t, OP_COPY, src, sizeof(data)), ==, RES_OK);
    assert_outcome(t, 0, 0, sizeof(data));
    qtest_memread(t->qts, dst - 2, got, sizeof(got));
    g_assert_cmphex(got[0], ==, 0x11);
    g_assert_cmphex(got[1], ==, 0x11);
    g_assert(memcmp(got + 2, data, sizeof(data)) == 0);
    g_assert_cmphex(got[102], ==, 0x11);
    g_assert_cmphex(got[103], ==, 0x11);
    buf_read(t, 0, inbuf, sizeof(inbuf));
    g_assert(memcmp(inbuf, data, sizeof(data)) == 0);
    td_stop(t);
}

static void test_virt_compare(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t addr = VIRT_RAM_BASE + 0x700100;
    uint8_t data[200];

    for (int i = 0; i < sizeof(data); i++) {
        data[i] = pattern_byte(0xcafe0000, i);
    }
    qtest_memwrite(t->qts, addr, data, sizeof(data));
    wr(t, R_PATTERN, 0xcafe0000);
    g_assert_cmpuint(run(t, OP_COMPARE, addr, sizeof(data)), ==, RES_OK);
    assert_outcome(t, 0, 0, sizeof(data));

    /* Two differences: the first one is reported */
    qtest_writeb(t->qts, addr + 37, data[37] ^ 0x40);
    qtest_writeb(t->qts, addr + 150, data[150] ^ 0x01);
    g_assert_cmpuint(run(t, OP_COMPARE, addr, sizeof(data)), ==,
                     RES_MISMATCH);
    assert_outcome(t, 0, addr + 37, 37);
    td_stop(t);
}

static void test_virt_decode_error_unassigned(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t hole = VIRT_RAM_END + 0x10000010;

    g_assert_cmpuint(run(t, OP_READ, hole, 64), ==, RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, hole, 0);

    g_assert_cmpuint(run(t, OP_FILL, hole, 64), ==, RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, hole, 0);

    /* Bus addresses keep all 64 bits */
    g_assert_cmpuint(run(t, OP_WRITE, 0xfedcba9876543210ull, 8), ==,
                     RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, 0xfedcba9876543210ull, 0);

    /* A successful command clears the outcome of the previous one */
    g_assert_cmpuint(run(t, OP_NOP, 0, 0), ==, RES_OK);
    assert_outcome(t, 0, 0, 0);
    td_stop(t);
}

static void test_virt_cross_into_unassigned(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t start = VIRT_RAM_END - 0x900;
    g_autofree uint8_t *src = g_malloc(0x2000);
    uint8_t got[0x900];

    fill_bytes(src, 0x2000, 0x42);
    buf_write(t, 0, src, 0x2000);
    qtest_memset(t->qts, start, 0, sizeof(got));

    g_assert_cmpuint(run(t, OP_WRITE, start, 0x2000), ==, RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, VIRT_RAM_END, 0x900);
    qtest_memread(t->qts, start, got, sizeof(got));
    g_assert(memcmp(got, src, sizeof(got)) == 0);

    g_assert_cmpuint(run(t, OP_READ, start, 0x2000), ==, RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, VIRT_RAM_END, 0x900);

    /* COPY whose destination runs off the end of RAM */
    wr64(t, R_DST_ADDR, VIRT_RAM_END - 0x10);
    g_assert_cmpuint(run(t, OP_COPY, VIRT_RAM_BASE, 0x40), ==,
                     RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, VIRT_RAM_END, 0x10);
    td_stop(t);
}

static void test_virt_access_error_own_bar(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t own = t->td.bar.addr + BUF_OFFSET;

    /* A device may not reach its own registers while it is handling one */
    g_assert_cmpuint(run(t, OP_READ, own, 16), ==, RES_ACCESS_ERROR);
    assert_outcome(t, MEMTX_ACCESS_ERROR, own, 0);
    td_stop(t);
}

static void test_virt_bad_command(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t addr = VIRT_RAM_BASE + 0x800000;

    qtest_memset(t->qts, addr, 0x77, 4);
    g_assert_cmpuint(run(t, OP_FILL, addr, 0), ==, RES_BAD_COMMAND);
    assert_outcome(t, 0, 0, 0);
    g_assert_cmpuint(run(t, OP_FILL, addr, BUF_SIZE + 1), ==,
                     RES_BAD_COMMAND);
    assert_outcome(t, 0, 0, 0);
    g_assert_cmpuint(run(t, 0xf, addr, 4), ==, RES_BAD_COMMAND);
    g_assert_cmpuint(run(t, 10, addr, 4), ==, RES_BAD_COMMAND);
    /* A transfer may not wrap around the top of the bus address space */
    g_assert_cmpuint(run(t, OP_READ, 0xfffffffffffffff0ull, 0x20), ==,
                     RES_BAD_COMMAND);
    wr64(t, R_DST_ADDR, 0xfffffffffffffff0ull);
    g_assert_cmpuint(run(t, OP_COPY, addr, 0x20), ==, RES_BAD_COMMAND);
    /* Capabilities the device was not given */
    g_assert_cmpuint(run(t, OP_ATS_TRANSLATE, addr, 4), ==, RES_BAD_COMMAND);
    g_assert_cmpuint(run(t, OP_PRI_REQUEST, addr, 4), ==, RES_BAD_COMMAND);
    wr(t, R_ATTR, ATTR_PASID_EN);
    g_assert_cmpuint(run(t, OP_FILL, addr, 4), ==, RES_BAD_COMMAND);
    wr(t, R_ATTR, 0);
    /* Bursts over the limits: 2^20 accesses, 8 MiB */
    wr(t, R_BURST_COUNT, BURST_MAX_BYTES / BUF_SIZE + 1);
    g_assert_cmpuint(run(t, OP_BURST_READ, addr, BUF_SIZE), ==,
                     RES_BAD_COMMAND);
    wr(t, R_BURST_COUNT, BURST_MAX_COUNT + 1);
    g_assert_cmpuint(run(t, OP_BURST_READ, addr, 1), ==, RES_BAD_COMMAND);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 0);

    assert_ram(t, addr, 0x77, 4);
    g_assert_cmpuint(rd(t, R_COMPLETIONS), ==, 11);
    td_stop(t);
}

static void test_virt_burst_exact(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t base = VIRT_RAM_BASE + 0x900000;
    uint8_t src[16], got[16], zero[16] = { 0 };

    fill_bytes(src, sizeof(src), 0x90);
    buf_write(t, 0, src, sizeof(src));
    qtest_memset(t->qts, base, 0, 0x4000);

    /* 8 writes at offsets 0, 0x1000, 0x2000, 0, ... */
    wr(t, R_BURST_COUNT, 8);
    wr(t, R_BURST_STRIDE, 0x1000);
    wr(t, R_BURST_SPAN, 0x3000);
    g_assert_cmpuint(run(t, OP_BURST_WRITE, base, 16), ==, RES_OK);
    assert_outcome(t, 0, 0, 8 * 16);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 8);
    for (int i = 0; i < 4; i++) {
        qtest_memread(t->qts, base + i * 0x1000, got, sizeof(got));
        g_assert(memcmp(got, i < 3 ? src : zero, sizeof(got)) == 0);
        qtest_memread(t->qts, base + i * 0x1000 + 16, got, sizeof(got));
        g_assert(memcmp(got, zero, sizeof(got)) == 0);
    }

    /* Reads stepping off the end of RAM stop at the first failure */
    wr(t, R_BURST_COUNT, 4);
    wr(t, R_BURST_STRIDE, 0x1000);
    wr(t, R_BURST_SPAN, 0);
    g_assert_cmpuint(run(t, OP_BURST_READ, VIRT_RAM_END - 0x2000, 16), ==,
                     RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, VIRT_RAM_END, 32);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 2);

    /* The largest burst the limits allow, in full */
    wr(t, R_BURST_COUNT, BURST_MAX_BYTES / BUF_SIZE);
    wr(t, R_BURST_STRIDE, 0);
    g_assert_cmpuint(run(t, OP_BURST_READ, base, BUF_SIZE), ==, RES_OK);
    assert_outcome(t, 0, 0, BURST_MAX_BYTES);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, BURST_MAX_BYTES / BUF_SIZE);

    /* No accesses at all */
    wr(t, R_BURST_COUNT, 0);
    g_assert_cmpuint(run(t, OP_BURST_READ, base, 16), ==, RES_OK);
    assert_outcome(t, 0, 0, 0);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 0);
    td_stop(t);
}

/*
 * OP.ASYNC: the same commands on the device's DMA thread, outside the BQL,
 * move exactly the same bytes and report the same outcome
 */
static void test_virt_async_exact(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t dst = VIRT_RAM_BASE + 0x100ffd;  /* crosses a 4K boundary */
    uint64_t base = VIRT_RAM_BASE + 0x900000;
    uint32_t len = 300, before;
    uint8_t src[300], got[300 + 32];

    fill_bytes(src, len, 0x5c);
    buf_write(t, 0, src, len);
    qtest_memset(t->qts, dst - 16, 0xaa, len + 32);
    g_assert_cmpuint(qvtd_run_async(&t->td, OP_WRITE, dst, len), ==, RES_OK);
    assert_outcome(t, 0, 0, len);
    qtest_memread(t->qts, dst - 16, got, sizeof(got));
    for (int i = 0; i < 16; i++) {
        g_assert_cmphex(got[i], ==, 0xaa);
        g_assert_cmphex(got[16 + len + i], ==, 0xaa);
    }
    g_assert(memcmp(got + 16, src, len) == 0);

    /* READ into the buffer, and a burst that steps off the end of RAM */
    qtest_memwrite(t->qts, base, src, len);
    buf_write(t, 0, got, len);
    g_assert_cmpuint(qvtd_run_async(&t->td, OP_READ, base, len), ==, RES_OK);
    buf_read(t, 0, got, len);
    g_assert(memcmp(got, src, len) == 0);
    wr(t, R_BURST_COUNT, 4);
    wr(t, R_BURST_STRIDE, 0x1000);
    wr(t, R_BURST_SPAN, 0);
    g_assert_cmpuint(qvtd_run_async(&t->td, OP_BURST_READ,
                                    VIRT_RAM_END - 0x2000, 16), ==,
                     RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, VIRT_RAM_END, 32);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 2);

    /* A command that moves no data is refused at the doorbell */
    before = rd(t, R_COMPLETIONS);
    qvtd_start_async(&t->td, OP_NOP, 0, 0);
    g_assert_cmphex(rd(t, R_STATUS), ==, STATUS_IRQ | (RES_BAD_COMMAND << 8));
    g_assert_cmpuint(rd(t, R_COMPLETIONS), ==, before + 1);
    td_stop(t);
}

/*
 * Stopping the VM waits for the DMA thread, as stopping a dataplane
 * device waits for its iothread: once "stop" returns, the command has
 * completed and its outcome is published.
 */
static void test_virt_async_stop_waits(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t base = VIRT_RAM_BASE + 0x900000;
    uint32_t before = rd(t, R_COMPLETIONS);

    wr(t, R_BURST_COUNT, BURST_MAX_COUNT);
    wr(t, R_BURST_STRIDE, 0x1000);
    wr(t, R_BURST_SPAN, 0x1000000);
    qvtd_start_async(&t->td, OP_BURST_READ, base, 8);
    qtest_qmp_assert_success(t->qts, "{ 'execute': 'stop' }");
    g_assert_cmphex(rd(t, R_STATUS), ==, STATUS_IRQ | (RES_OK << 8));
    g_assert_cmpuint(rd(t, R_COMPLETIONS), ==, before + 1);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, BURST_MAX_COUNT);
    assert_outcome(t, 0, 0, BURST_MAX_COUNT * 8);
    g_assert_cmpuint(rd(t, R_STOP_STALLS), ==, 0);
    qtest_qmp_assert_success(t->qts, "{ 'execute': 'cont' }");
    td_stop(t);
}

/*
 * x-burst-max-count bounds a burst below the register's own maximum (the
 * fuzz targets set it: their DMA hook makes a long burst quadratic)
 */
static void test_virt_burst_max_count(void)
{
    TestDev *t = td_start_virt("", ",x-burst-max-count=16");
    uint64_t base = VIRT_RAM_BASE + 0x900000;
    uint8_t src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

    buf_write(t, 0, src, sizeof(src));
    qtest_memset(t->qts, base, 0x5a, 0x1000);
    wr(t, R_BURST_COUNT, 17);
    wr(t, R_BURST_STRIDE, 8);
    wr(t, R_BURST_SPAN, 0);
    g_assert_cmpuint(run(t, OP_BURST_WRITE, base, sizeof(src)), ==,
                     RES_BAD_COMMAND);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 0);
    assert_ram(t, base, 0x5a, 0x1000);

    wr(t, R_BURST_COUNT, 16);
    g_assert_cmpuint(run(t, OP_BURST_WRITE, base, sizeof(src)), ==, RES_OK);
    assert_outcome(t, 0, 0, 16 * sizeof(src));
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 16);
    g_assert_cmphex(qtest_readq(t->qts, base + 15 * 8), ==,
                    0x0807060504030201ull);
    assert_ram(t, base + 16 * 8, 0x5a, 0x1000 - 16 * 8);
    td_stop(t);
}

/*
 * A burst whose later accesses would pass 2^64 is refused before its first
 * access, even one that RAM would take: nothing may continue at address 0.
 */
static void test_virt_burst_wrap_refused(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t base = VIRT_RAM_BASE + 0xa00000;
    uint8_t src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    /* i = 1 lands 0x1000 below base + 2^64, i = 2 wraps to base + 0x1000 */
    uint32_t stride = 0x80000000u;
    uint64_t start = base + 0x1000 - 2 * (uint64_t)stride;

    buf_write(t, 0, src, sizeof(src));
    qtest_memset(t->qts, base, 0x66, 0x2000);
    wr(t, R_BURST_COUNT, 3);
    wr(t, R_BURST_STRIDE, stride);
    wr(t, R_BURST_SPAN, 0);
    g_assert_cmpuint(run(t, OP_BURST_WRITE, start, sizeof(src)), ==,
                     RES_BAD_COMMAND);
    assert_outcome(t, 0, 0, 0);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 0);
    assert_ram(t, base, 0x66, 0x2000);

    /* The last byte of the last access may be the last byte of the space */
    wr(t, R_BURST_COUNT, 2);
    wr(t, R_BURST_STRIDE, 0x1000);
    g_assert_cmpuint(run(t, OP_BURST_READ, 0xffffffffffffeff8ull, 8), ==,
                     RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, 0xffffffffffffeff8ull, 0);
    g_assert_cmpuint(run(t, OP_BURST_READ, 0xffffffffffffeff9ull, 8), ==,
                     RES_BAD_COMMAND);
    /* With a span, only offsets below it count */
    wr(t, R_BURST_COUNT, 100);
    wr(t, R_BURST_SPAN, 0x2000);
    g_assert_cmpuint(run(t, OP_BURST_READ, 0xffffffffffffdff8ull, 8), ==,
                     RES_DECODE_ERROR);
    g_assert_cmpuint(run(t, OP_BURST_READ, 0xffffffffffffe000ull, 8), ==,
                     RES_BAD_COMMAND);
    td_stop(t);
}

static void test_virt_msi_on_completion(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t msi_addr = VIRT_RAM_BASE + 0xa00000;
    uint8_t cap = qpci_find_capability(t->td.dev, PCI_CAP_ID_MSI, 0);
    uint16_t flags;

    g_assert_cmpuint(cap, !=, 0);
    flags = qpci_config_readw(t->td.dev, cap + PCI_MSI_FLAGS);
    g_assert(flags & PCI_MSI_FLAGS_64BIT);
    qpci_config_writel(t->td.dev, cap + PCI_MSI_ADDRESS_LO, (uint32_t)msi_addr);
    qpci_config_writel(t->td.dev, cap + PCI_MSI_ADDRESS_HI, msi_addr >> 32);
    qpci_config_writew(t->td.dev, cap + PCI_MSI_DATA_64, 0x4321);
    qpci_config_writew(t->td.dev, cap + PCI_MSI_FLAGS,
                       flags | PCI_MSI_FLAGS_ENABLE);
    qtest_writel(t->qts, msi_addr, 0);

    /* Without IRQ_EN the completion is only flagged */
    g_assert_cmpuint(run(t, OP_NOP, 0, 0), ==, RES_OK);
    g_assert_cmphex(rd(t, R_STATUS), ==, STATUS_IRQ);
    g_assert_cmphex(qtest_readl(t->qts, msi_addr), ==, 0);
    wr(t, R_IRQ_ACK, 1);
    g_assert_cmphex(rd(t, R_STATUS), ==, 0);

    /* With it, each completion writes the MSI message once, never INTx */
    wr(t, R_CTRL, CTRL_IRQ_EN);
    g_assert_cmpuint(run(t, OP_NOP, 0, 0), ==, RES_OK);
    g_assert_cmphex(rd(t, R_STATUS), ==, STATUS_IRQ);
    g_assert_cmphex(qtest_readl(t->qts, msi_addr), ==, 0x4321);
    g_assert_false(intx_level(t));
    wr(t, R_IRQ_ACK, 1);
    g_assert_cmphex(rd(t, R_STATUS), ==, 0);
    td_stop(t);
}

static void test_virt_intx(void)
{
    TestDev *t = td_start_virt("", "");

    g_assert_cmphex(qpci_config_readb(t->td.dev, PCI_INTERRUPT_PIN), ==, 1);
    g_assert_false(intx_level(t));

    /* A completion without IRQ_EN raises nothing */
    g_assert_cmpuint(run(t, OP_NOP, 0, 0), ==, RES_OK);
    g_assert_false(intx_level(t));
    /* Enabling IRQ_EN with a completion pending raises the line */
    wr(t, R_CTRL, CTRL_IRQ_EN);
    g_assert_true(intx_level(t));
    g_assert_cmphex(qpci_config_readw(t->td.dev, PCI_STATUS) &
                    PCI_STATUS_INTERRUPT, ==, PCI_STATUS_INTERRUPT);
    /* IRQ_ACK lowers it; the next completion raises it again */
    wr(t, R_IRQ_ACK, 1);
    g_assert_false(intx_level(t));
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE, 4), ==, RES_OK);
    g_assert_true(intx_level(t));
    /* INTx Disable in the command register masks it */
    qpci_config_writew(t->td.dev, PCI_COMMAND,
                       qpci_config_readw(t->td.dev, PCI_COMMAND) |
                       PCI_COMMAND_INTX_DISABLE);
    g_assert_false(intx_level(t));
    qpci_config_writew(t->td.dev, PCI_COMMAND,
                       qpci_config_readw(t->td.dev, PCI_COMMAND) &
                       ~PCI_COMMAND_INTX_DISABLE);
    g_assert_true(intx_level(t));
    /* Clearing IRQ_EN lowers it with the completion still pending */
    wr(t, R_CTRL, 0);
    g_assert_false(intx_level(t));
    g_assert_cmphex(rd(t, R_STATUS), ==, STATUS_IRQ);
    td_stop(t);
}

/* Every register, the buffer and the interrupt are back to reset values */
static void assert_reset_state(TestDev *t)
{
    g_autofree uint8_t *buf = g_malloc(BUF_SIZE);

    /* BUF_ATTRS first: reading the buffer sets it */
    g_assert_cmphex(rd(t, R_BUF_ATTRS), ==, 0);
    for (uint32_t off = 0; off <= R_IOMMU_REQ_STATUS; off += 4) {
        uint32_t want = 0;

        if (off == R_ID) {
            want = ID_VALUE;
        } else if (off == R_VERSION) {
            want = VERSION_VALUE;
        } else if (off == R_CAP) {
            want = 16 << 8;
        }
        g_assert_cmphex(rd(t, off), ==, want);
    }
    buf_read(t, 0, buf, BUF_SIZE);
    for (uint32_t i = 0; i < BUF_SIZE; i++) {
        g_assert_cmphex(buf[i], ==, 0);
    }
    g_assert_false(intx_level(t));
}

static void test_virt_reset_clears_everything(void)
{
    TestDev *t = td_start_virt("", "");
    g_autofree uint8_t *buf = g_malloc(BUF_SIZE);

    fill_bytes(buf, BUF_SIZE, 0x5d);
    buf_write(t, 0, buf, BUF_SIZE);
    wr(t, R_BURST_COUNT, 3);
    wr(t, R_BURST_STRIDE, 0x800);
    g_assert_cmpuint(run(t, OP_BURST_READ, VIRT_RAM_END - 0x1000, 0x400), ==,
                     RES_DECODE_ERROR);
    wr64(t, R_DST_ADDR, 0x8877665544332211ull);
    wr(t, R_OP, 0x13);
    wr(t, R_ATTR, ATTR_PRIV | ATTR_EXEC);
    wr(t, R_PASID, 0xabcde);
    wr(t, R_PATTERN, 0xdeadbeef);
    wr(t, R_BURST_SPAN, 0x300000);
    wr(t, R_CTRL, CTRL_IRQ_EN);
    g_assert_true(intx_level(t));
    g_assert_cmphex(rd(t, R_BUF_ATTRS), !=, 0);

    qtest_qmp_assert_success(t->qts, "{ 'execute': 'system_reset' }");
    /* The reset cleared the BAR too: map it again */
    t->td.bar = qpci_iomap(t->td.dev, 0, NULL);
    qpci_device_enable(t->td.dev);
    assert_reset_state(t);
    td_stop(t);
}

/*
 * A command whose own DMA resets the device, here by setting Secondary
 * Bus Reset in the bridge above it, must not complete after the reset.
 */
static void test_virt_reset_mid_command(void)
{
    TestDev *t = td_start_virt_behind_root_port();
    uint64_t bridge_control = ecam(RP_DEVFN) + PCI_INTERRUPT_LINE;

    /* A completion pending, and INTx up, when the command starts */
    wr(t, R_CTRL, CTRL_IRQ_EN);
    g_assert_cmpuint(run(t, OP_NOP, 0, 0), ==, RES_OK);
    g_assert_true(intx_level(t));
    /* Byte 0x3e of the bridge is the Bridge Control register */
    wr(t, R_PATTERN, PCI_BRIDGE_CTL_BUS_RESET << 16);
    wr64(t, R_DMA_ADDR, bridge_control);
    wr(t, R_LEN, 4);
    wr(t, R_OP, OP_FILL);
    wr(t, R_DOORBELL, 1);
    g_assert_cmphex(qtest_readw(t->qts, bridge_control + 2) &
                    PCI_BRIDGE_CTL_BUS_RESET, ==, PCI_BRIDGE_CTL_BUS_RESET);

    /* Software ends the reset and sets the device up again */
    qtest_writew(t->qts, bridge_control + 2, 0);
    t->td.bar = qpci_iomap(t->td.dev, 0, NULL);
    qpci_device_enable(t->td.dev);
    assert_reset_state(t);
    /* and it works as before */
    qtest_memset(t->qts, VIRT_RAM_BASE + 0x100000, 0, 8);
    wr(t, R_PATTERN, 0x04030201);
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE + 0x100000, 4), ==,
                     RES_OK);
    g_assert_cmphex(qtest_readq(t->qts, VIRT_RAM_BASE + 0x100000), ==,
                    0x04030201);
    g_assert_cmpuint(rd(t, R_COMPLETIONS), ==, 1);
    td_stop(t);
}

/* Bus mastering off, in the device or in the bridge above it: no DMA */
static void test_virt_bus_master_off(void)
{
    TestDev *t = td_start_virt_behind_root_port();
    uint64_t dst = VIRT_RAM_BASE + 0x100000;
    uint64_t rp_command = ecam(RP_DEVFN) + PCI_COMMAND;
    uint16_t cmd = qpci_config_readw(t->td.dev, PCI_COMMAND);

    qtest_memset(t->qts, dst, 0x99, 64);
    wr(t, R_PATTERN, 0x12345678);

    qpci_config_writew(t->td.dev, PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER);
    g_assert_cmpuint(run(t, OP_FILL, dst, 64), ==, RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, dst, 0);
    g_assert_cmpuint(run(t, OP_READ, dst, 64), ==, RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, dst, 0);
    assert_ram(t, dst, 0x99, 64);
    qpci_config_writew(t->td.dev, PCI_COMMAND, cmd);

    qtest_writew(t->qts, rp_command, PCI_COMMAND_MEMORY);
    g_assert_cmpuint(run(t, OP_FILL, dst, 64), ==, RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, dst, 0);
    wr(t, R_BURST_COUNT, 4);
    wr(t, R_BURST_STRIDE, 16);
    g_assert_cmpuint(run(t, OP_BURST_WRITE, dst, 16), ==, RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, dst, 0);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 0);
    assert_ram(t, dst, 0x99, 64);

    qtest_writew(t->qts, rp_command, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    g_assert_cmpuint(run(t, OP_FILL, dst, 4), ==, RES_OK);
    assert_outcome(t, 0, 0, 4);
    g_assert_cmphex(qtest_readl(t->qts, dst), ==, 0x12345678);
    td_stop(t);
}

/* ---- attributes, seen by a second test device's buffer ---- */

typedef struct PeerPair {
    TestDev *t;         /* the device under test, in slot 4 */
    QViommuTestdev peer;    /* a second one, in slot 5 */
} PeerPair;

static void peer_start(PeerPair *p, const char *dev_opts)
{
    g_autofree char *args = g_strdup_printf(
        "-device viommu-testdev,addr=%d.0%s "
        "-device viommu-testdev,addr=%d.0", DEV_SLOT, dev_opts, PEER_SLOT);

    p->t = td_start_virt_at("", args, DEV_DEVFN);
    qvtd_init(&p->peer, p->t->bus, PEER_DEVFN);
}

static void peer_stop(PeerPair *p)
{
    qvtd_free(&p->peer);
    td_stop(p->t);
}

/* FILL 4 bytes into the peer's buffer; its BUF_ATTRS */
static uint32_t peer_fill_attrs(PeerPair *p, uint32_t attr)
{
    wr(p->t, R_ATTR, attr);
    g_assert_cmpuint(run(p->t, OP_FILL, p->peer.bar.addr + BUF_OFFSET, 4),
                     ==, RES_OK);
    assert_outcome(p->t, 0, 0, 4);
    return qvtd_rd(&p->peer, R_BUF_ATTRS);
}

static void test_virt_attrs_without_pasid(void)
{
    PeerPair p;
    uint32_t rid = DEV_DEVFN;

    peer_start(&p, "");
    /* The CPU's own accesses (qtest's) carry no attributes */
    qvtd_rd(&p.peer, BUF_OFFSET);
    g_assert_cmphex(qvtd_rd(&p.peer, R_BUF_ATTRS), ==,
                    BUF_ATTRS_UNSPECIFIED);
    /* Without PASID_EN a request has no PASID: unspecified, not pid 0 */
    g_assert_cmphex(peer_fill_attrs(&p, 0), ==,
                    BUF_ATTRS_UNSPECIFIED | BUF_ATTRS_USER |
                    BUF_ATTRS_REQUESTER(rid));
    g_assert_cmphex(peer_fill_attrs(&p, ATTR_PRIV), ==,
                    BUF_ATTRS_UNSPECIFIED | BUF_ATTRS_REQUESTER(rid));
    /* Reads carry them as well */
    wr(p.t, R_ATTR, ATTR_PRIV);
    g_assert_cmpuint(run(p.t, OP_READ, p.peer.bar.addr + BUF_OFFSET, 8), ==,
                     RES_OK);
    g_assert_cmphex(qvtd_rd(&p.peer, R_BUF_ATTRS), ==,
                    BUF_ATTRS_UNSPECIFIED | BUF_ATTRS_REQUESTER(rid));
    peer_stop(&p);
}

static void test_virt_attrs_with_pasid(void)
{
    PeerPair p;
    uint32_t rid = DEV_DEVFN;
    uint64_t pasid_ctrl = ecam(DEV_DEVFN) + 0x100 + 6;

    peer_start(&p, ",pasid=on");
    /* PASID is the only extended capability, so it sits at 0x100 */
    qtest_writew(p.t->qts, pasid_ctrl, 1);
    wr(p.t, R_PASID, 0x5a);
    g_assert_cmphex(peer_fill_attrs(&p, ATTR_PASID_EN), ==,
                    BUF_ATTRS_USER | BUF_ATTRS_PID(0x5a) |
                    BUF_ATTRS_REQUESTER(rid));
    g_assert_cmphex(peer_fill_attrs(&p, ATTR_PASID_EN | ATTR_PRIV), ==,
                    BUF_ATTRS_PID(0x5a) | BUF_ATTRS_REQUESTER(rid));
    /* PASID 0 is a PASID like any other */
    wr(p.t, R_PASID, 0);
    g_assert_cmphex(peer_fill_attrs(&p, ATTR_PASID_EN | ATTR_PRIV), ==,
                    BUF_ATTRS_REQUESTER(rid));
    peer_stop(&p);
}

static void test_virt_secure_dma_off(void)
{
    PeerPair p;

    peer_start(&p, "");
    g_assert_cmphex(rd(p.t, R_CAP) & CAP_SECURE_DMA, ==, 0);
    wr(p.t, R_ATTR, ATTR_SECURE | ATTR_PRIV);
    g_assert_cmphex(rd(p.t, R_ATTR), ==, ATTR_PRIV);
    g_assert_cmphex(peer_fill_attrs(&p, ATTR_SECURE | ATTR_PRIV) &
                    BUF_ATTRS_SECURE, ==, 0);
    peer_stop(&p);
}

static void test_virt_secure_dma_on(void)
{
    PeerPair p;

    peer_start(&p, ",secure-dma=on");
    g_assert_cmphex(rd(p.t, R_CAP), ==, (16 << 8) | CAP_SECURE_DMA);
    wr(p.t, R_ATTR, ATTR_SECURE);
    g_assert_cmphex(rd(p.t, R_ATTR), ==, ATTR_SECURE);
    g_assert_cmphex(peer_fill_attrs(&p, ATTR_SECURE | ATTR_PRIV), ==,
                    BUF_ATTRS_UNSPECIFIED | BUF_ATTRS_SECURE |
                    BUF_ATTRS_REQUESTER(DEV_DEVFN));
    g_assert_cmphex(peer_fill_attrs(&p, ATTR_PRIV) & BUF_ATTRS_SECURE, ==, 0);
    peer_stop(&p);
}

/* ---- PCIe capabilities ---- */

typedef struct ExtCap {
    uint16_t id;
    uint16_t offset;
} ExtCap;

/*
 * Boot with @opts and walk the extended capability list: exactly @want,
 * in order, the first at 0x100; CAP names the same set.
 */
static void check_ext_caps(const char *opts, const ExtCap *want, int n,
                           uint32_t cap_bits)
{
    TestDev *t = td_start_virt("", opts);
    uint64_t cfg = ecam(DEV_DEVFN);
    uint16_t off = 0x100;
    int i = 0;

    g_assert_cmphex(rd(t, R_CAP), ==, (16 << 8) | cap_bits);
    g_assert_cmpuint(qpci_find_capability(t->td.dev, PCI_CAP_ID_EXP, 0), !=, 0);
    while (off) {
        uint32_t hdr = qtest_readl(t->qts, cfg + off);

        if (n == 0) {
            /* No extended capability: an all-zero header at 0x100 */
            g_assert_cmphex(hdr, ==, 0);
            break;
        }
        g_assert_cmpint(i, <, n);
        g_assert_cmphex(off, ==, want[i].offset);
        g_assert_cmphex(PCI_EXT_CAP_ID(hdr), ==, want[i].id);
        off = PCI_EXT_CAP_NEXT(hdr);
        i++;
    }
    g_assert_cmpint(i, ==, n);
    td_stop(t);
}

static void test_virt_ext_caps_every_combination(void)
{
    static const ExtCap ats[] = { { PCI_EXT_CAP_ID_ATS, 0x100 } };
    static const ExtCap pasid[] = { { PCI_EXT_CAP_ID_PASID, 0x100 } };
    static const ExtCap ats_pasid[] = {
        { PCI_EXT_CAP_ID_ATS, 0x100 }, { PCI_EXT_CAP_ID_PASID, 0x108 },
    };
    static const ExtCap ats_pri[] = {
        { PCI_EXT_CAP_ID_ATS, 0x100 }, { PCI_EXT_CAP_ID_PRI, 0x108 },
    };
    static const ExtCap all[] = {
        { PCI_EXT_CAP_ID_ATS, 0x100 }, { PCI_EXT_CAP_ID_PASID, 0x108 },
        { PCI_EXT_CAP_ID_PRI, 0x110 },
    };

    check_ext_caps("", NULL, 0, 0);
    check_ext_caps(",ats=on", ats, 1, CAP_ATS);
    check_ext_caps(",pasid=on", pasid, 1, CAP_PASID);
    check_ext_caps(",ats=on,pasid=on", ats_pasid, 2, CAP_ATS | CAP_PASID);
    check_ext_caps(",ats=on,pri=on", ats_pri, 2, CAP_ATS | CAP_PRI);
    check_ext_caps(",ats=on,pri=on,pasid=on", all, 3,
                   CAP_ATS | CAP_PRI | CAP_PASID);
}

/* QEMU refuses @args: it exits with status 1 and says @why */
static void assert_cmdline_refused(const char *args, const char *why)
{
    g_autofree char *cmd = g_strdup_printf("%s -display none -audio none "
                                           "-nodefaults -S %s",
                                           qtest_qemu_binary(NULL), args);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) gerr = NULL;
    int status;

    g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status,
                                            &gerr));
    g_test_message("%s: %s", args, err);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    g_assert_nonnull(strstr(err, why));
}

static void test_virt_cmdline_refused(void)
{
    assert_cmdline_refused("-M virt -device viommu-testdev,pri=on",
                           "pri=on needs ats=on");
    /* A conventional PCI bus behind a PCIe-to-PCI bridge */
    assert_cmdline_refused("-M virt -device pcie-pci-bridge,id=br "
                           "-device viommu-testdev,bus=br,addr=1.0,ats=on",
                           "need the device on a PCIe bus");
}

/*
 * A machine without an MSI controller: the device needs MSI.  (On
 * qemu-system-aarch64 every machine claims MSI: a PCIe host's class_init
 * sets msi_nonbroken for all.)  g3beige only needs some firmware image.
 */
static void test_g3beige_no_msi_refused(void)
{
    g_autofree char *bios = NULL;
    g_autofree char *args = NULL;
    g_autofree uint8_t *zero = g_malloc0(0x100000);
    int fd = g_file_open_tmp("viommu-testdev-bios-XXXXXX", &bios, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, zero, 0x100000), ==, 0x100000);
    close(fd);
    args = g_strdup_printf("-M g3beige -bios %s -device viommu-testdev",
                           bios);
    assert_cmdline_refused(args, "MSI is not supported");
    unlink(bios);
}

/* Enable a capability's requests in its control register */
static void ext_cap_enable(TestDev *t, uint16_t off, uint16_t ctrl_off,
                           uint16_t bit)
{
    uint64_t reg = ecam(t->devfn) + off + ctrl_off;

    qtest_writew(t->qts, reg, qtest_readw(t->qts, reg) | bit);
}

/*
 * With ATS, PRI and PASID enabled by the guest, an ATS or PRI request can
 * only be refused by what sits above the device: here nothing does.
 */
static void check_ats_pri_refused(const char *machine_opts)
{
    TestDev *t = td_start_virt(machine_opts, ",ats=on,pri=on,pasid=on");

    /* Not enabled yet: refused before any IOMMU is asked */
    g_assert_cmpuint(run(t, OP_ATS_TRANSLATE, VIRT_RAM_BASE, 1), ==,
                     RES_ATS_FAILED);
    g_assert_cmpuint(rd(t, R_IOMMU_REQ_STATUS), ==, REQ_NOT_ENABLED);
    g_assert_cmpuint(run(t, OP_PRI_REQUEST, VIRT_RAM_BASE, 1), ==,
                     RES_PRI_FAILED);
    g_assert_cmpuint(rd(t, R_IOMMU_REQ_STATUS), ==, REQ_NOT_ENABLED);
    wr(t, R_ATTR, ATTR_PASID_EN);
    wr(t, R_PASID, 5);
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE, 4), ==, RES_BAD_COMMAND);

    ext_cap_enable(t, 0x100, 6, 1u << 15);     /* ATS Control: Enable */
    ext_cap_enable(t, 0x108, 6, 1);            /* PASID Control: Enable */
    ext_cap_enable(t, 0x110, 4, 1);            /* PRI Control: Enable */
    wr(t, R_ATTR, 0);
    g_assert_cmpuint(run(t, OP_ATS_TRANSLATE, VIRT_RAM_BASE, 1), ==,
                     RES_ATS_FAILED);
    g_assert_cmpuint(rd(t, R_IOMMU_REQ_STATUS), ==, REQ_NO_IOMMU);
    g_assert_cmphex(rd64(t, R_ATS_ADDR), ==, 0);
    g_assert_cmphex(rd64(t, R_ATS_MASK), ==, 0);
    g_assert_cmphex(rd(t, R_ATS_PERM), ==, 0);
    g_assert_cmpuint(run(t, OP_PRI_REQUEST, VIRT_RAM_BASE, 1), ==,
                     RES_PRI_FAILED);
    g_assert_cmpuint(rd(t, R_IOMMU_REQ_STATUS), ==, REQ_NO_IOMMU);
    g_assert_cmphex(rd(t, R_PRI_RESP), ==, 0);
    g_assert_cmphex(rd(t, R_STATUS) & STATUS_BUSY, ==, 0);
    /* With a PASID too */
    wr(t, R_ATTR, ATTR_PASID_EN);
    g_assert_cmpuint(run(t, OP_ATS_TRANSLATE, VIRT_RAM_BASE, 1), ==,
                     RES_ATS_FAILED);
    g_assert_cmpuint(rd(t, R_IOMMU_REQ_STATUS), ==, REQ_NO_IOMMU);

    /* Enabled PASID: DMA carries PASIDs that fit MemTxAttrs.pid */
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE, 4), ==, RES_OK);
    assert_outcome(t, 0, 0, 4);
    wr(t, R_PASID, 0x100);
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE, 4), ==, RES_BAD_COMMAND);
    assert_outcome(t, 0, 0, 0);
    td_stop(t);
}

static void test_virt_ats_pri_no_iommu(void)
{
    check_ats_pri_refused("");
}

/* Upstream's SMMUv3 in 10.2 serves neither ATS nor PRI */
static void test_smmuv3_ats_pri_unsupported(void)
{
    check_ats_pri_refused(",iommu=smmuv3");
}

/* ---- -M virt,iommu=smmuv3 ---- */

#define STRTAB_ADDR         (VIRT_RAM_BASE + 0x1000000)
#define STRTAB_LOG2SIZE     6
#define EVENTQ_ADDR         (VIRT_RAM_BASE + 0x1010000)
#define EVENTQ_LOG2SIZE     4
#define CD_ADDR             (VIRT_RAM_BASE + 0x1020000)
#define PT_POOL             (VIRT_RAM_BASE + 0x1100000)
#define PT_POOL_SIZE        0x100000ull
#define DEV_SID             DEV_DEVFN   /* bus 0 */

/*
 * The SMMU of -M virt, with an all-invalid linear stream table and an
 * event queue when @tables
 */
static void smmu_start(QSMMUv3 *smmu, TestDev *t, bool tables)
{
    qsmmu_init(smmu, t->qts, QSMMU_VIRT_BASE);
    if (tables) {
        qsmmu_setup_tables(smmu, STRTAB_ADDR, STRTAB_LOG2SIZE,
                           EVENTQ_ADDR, EVENTQ_LOG2SIZE);
    }
}

static void test_smmuv3_disabled_bypass(void)
{
    TestDev *t = td_start_virt(",iommu=smmuv3", "");
    QSMMUv3 smmu;
    uint64_t dst = VIRT_RAM_BASE + 0x100000;
    uint8_t got[8];
    static const uint8_t want[8] = {
        0x04, 0x03, 0x02, 0x01, 0x05, 0x03, 0x02, 0x01,
    };

    smmu_start(&smmu, t, false);
    g_assert_cmphex(qsmmu_readl(&smmu, SMMU_CR0), ==, 0);
    g_assert_cmphex(qsmmu_readl(&smmu, SMMU_GBPA) & SMMU_GBPA_ABORT, ==, 0);
    qtest_memset(t->qts, dst, 0, sizeof(got));
    wr(t, R_PATTERN, 0x01020304);
    g_assert_cmpuint(run(t, OP_FILL, dst, 8), ==, RES_OK);
    assert_outcome(t, 0, 0, 8);
    qtest_memread(t->qts, dst, got, sizeof(got));
    g_assert(memcmp(got, want, sizeof(want)) == 0);
    td_stop(t);
}

static void assert_bad_ste_record(TestDev *t, unsigned idx)
{
    uint32_t evt[8];

    qtest_memread(t->qts, EVENTQ_ADDR + idx * 32, evt, sizeof(evt));
    g_assert_cmphex(le32_to_cpu(evt[0]), ==, SMMU_EVT_C_BAD_STE);
    g_assert_cmphex(le32_to_cpu(evt[1]), ==, DEV_SID);
    for (int i = 2; i < 8; i++) {
        g_assert_cmphex(evt[i], ==, 0);
    }
}

static void test_smmuv3_invalid_ste(void)
{
    TestDev *t = td_start_virt(",iommu=smmuv3", "");
    QSMMUv3 smmu;
    uint64_t dst = VIRT_RAM_BASE + 0x100000;
    uint32_t evt[8];

    smmu_start(&smmu, t, true);
    qsmmu_set_cr0(&smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qtest_memset(t->qts, dst, 0x3c, 16);

    /*
     * One 4-byte request gives exactly one record: the device must not
     * have asked the SMMU about the fault a second time.
     */
    wr(t, R_PATTERN, 0x01020304);
    g_assert_cmpuint(run(t, OP_FILL, dst, 4), ==, RES_TRANSLATION_FAULT);
    assert_outcome(t, MEMTX_DECODE_ERROR, dst, 0);
    g_assert_cmphex(qsmmu_readl(&smmu, SMMU_EVENTQ_PROD), ==, 1);
    assert_bad_ste_record(t, 0);
    qtest_memread(t->qts, EVENTQ_ADDR + 32, evt, sizeof(evt));
    for (int i = 0; i < 8; i++) {
        g_assert_cmphex(evt[i], ==, 0);
    }

    /*
     * A long refused transfer is still one refused request: the device
     * stops at it, and the SMMU sees one lookup, so one more record.
     */
    g_assert_cmpuint(run(t, OP_FILL, dst + 0x10, 0x2000), ==,
                     RES_TRANSLATION_FAULT);
    assert_outcome(t, MEMTX_DECODE_ERROR, dst + 0x10, 0);
    g_assert_cmphex(qsmmu_readl(&smmu, SMMU_EVENTQ_PROD), ==, 2);
    assert_bad_ste_record(t, 1);
    assert_ram(t, dst, 0x3c, 16);
    td_stop(t);
}

static void test_smmuv3_gbpa_abort(void)
{
    TestDev *t = td_start_virt(",iommu=smmuv3", "");
    QSMMUv3 smmu;

    smmu_start(&smmu, t, true);
    qsmmu_set_cr0(&smmu, SMMU_CR0_EVENTQEN);
    qsmmu_writel(&smmu, SMMU_GBPA, SMMU_GBPA_UPDATE | SMMU_GBPA_ABORT);
    g_assert_cmphex(qsmmu_readl(&smmu, SMMU_GBPA), ==, SMMU_GBPA_ABORT);

    g_assert_cmpuint(run(t, OP_READ, VIRT_RAM_BASE + 0x2345, 8), ==,
                     RES_TRANSLATION_FAULT);
    assert_outcome(t, MEMTX_DECODE_ERROR, VIRT_RAM_BASE + 0x2345, 0);
    /* An abort records nothing, and the device must not add a record */
    g_assert_cmphex(qsmmu_readl(&smmu, SMMU_EVENTQ_PROD), ==, 0);
    td_stop(t);
}

/* ---- random commands: every doorbell completes once ---- */

/* Where the random commands may aim: IOVAs (or PAs) and what backs them */
#define RANDOM_DMA_BASE     (VIRT_RAM_BASE + 0x4000000)
#define RANDOM_DMA_SPAN     0x100000ull
#define RANDOM_IOVA_BASE    0x100000000ull
#define RANDOM_MAPPED_PAGES 64

typedef struct RandomRun {
    unsigned rings;
    unsigned results[256];      /* by STATUS.RESULT */
    unsigned moved;         /* commands that completed OK with bytes */
} RandomRun;

static uint32_t random_len(GRand *rng)
{
    switch (g_rand_int_range(rng, 0, 8)) {
    case 0:
        return g_rand_int(rng);                     /* anything */
    case 1:
        return g_rand_int_range(rng, 0, 2) ? 0 : BUF_SIZE + 1;
    case 2:
        return g_rand_int_range(rng, 1, BUF_SIZE + 1);
    default:
        return g_rand_int_range(rng, 1, 0x2000);    /* mostly small */
    }
}

/*
 * Seeded random register values of every size, and doorbells rung on
 * whatever results, aimed mostly at @dma_base .. + @span.  Each ring must
 * complete exactly once with a defined result.
 */
static void random_commands(TestDev *t, GRand *rng, uint64_t dma_base,
                            uint64_t span, RandomRun *rr)
{
    for (int i = 0; i < 1500; i++) {
        unsigned size = 4 << g_rand_int_range(rng, 0, 2);
        uint64_t off = g_rand_int_range(rng, 0, R_IOMMU_REQ_STATUS + 4) &
                       ~(uint64_t)(size - 1);
        uint64_t val = ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng);
        uint32_t before, st, done;

        /* Rings are counted below; a random write must not ring */
        if (off < R_DOORBELL + 4 && off + size > R_DOORBELL) {
            continue;
        }
        if (size == 4) {
            wr(t, off, val);
        } else {
            qpci_io_writeq(t->td.dev, t->td.bar, off, val);
        }
        if (g_rand_int_range(rng, 0, 3) != 0) {
            continue;
        }

        /* A command that is mostly valid, so that DMA happens */
        if (g_rand_int_range(rng, 0, 4) != 0) {
            wr(t, R_OP, g_rand_int_range(rng, 0, 4) ?
               g_rand_int_range(rng, OP_READ, OP_COPY + 1) :
               g_rand_int_range(rng, OP_BURST_READ, OP_BURST_WRITE + 1));
            wr(t, R_ATTR, g_rand_int_range(rng, 0, 8) ? ATTR_PRIV : 0);
        }
        if (g_rand_int_range(rng, 0, 8) != 0) {
            wr64(t, R_DMA_ADDR, dma_base +
                 g_rand_int_range(rng, 0, span - 0x100));
            wr64(t, R_DST_ADDR, dma_base +
                 g_rand_int_range(rng, 0, span - 0x100));
        }
        wr(t, R_LEN, random_len(rng));
        wr(t, R_BURST_COUNT, g_rand_int_range(rng, 0, 64));
        wr(t, R_BURST_STRIDE, g_rand_int_range(rng, 0, 0x2000));
        wr(t, R_BURST_SPAN, g_rand_int_range(rng, 0, 2) ? 0 : span / 2);

        before = rd(t, R_COMPLETIONS);
        wr(t, R_DOORBELL, g_rand_int(rng));
        rr->rings++;
        st = rd(t, R_STATUS);
        if (st & STATUS_BUSY) {
            /* OP.ASYNC among the random bits: the DMA thread runs it */
            qvtd_wait_async(&t->td, before);
            st = rd(t, R_STATUS);
        }
        g_assert_cmphex(st & STATUS_BUSY, ==, 0);
        g_assert_cmpuint(rd(t, R_COMPLETIONS), ==, before + 1);
        g_assert_cmpuint(STATUS_RESULT(st), <=, RES_PRI_FAILED);
        done = rd(t, R_DONE_BYTES);
        rr->results[STATUS_RESULT(st)]++;
        if (STATUS_RESULT(st) == RES_OK && done) {
            rr->moved++;
        }
        wr(t, R_IRQ_ACK, 1);
    }
}

/* After the noise, a plain FILL still moves exactly its bytes */
static void assert_still_exact(TestDev *t, uint64_t dma, uint64_t pa)
{
    uint8_t got[8];

    wr(t, R_ATTR, ATTR_PRIV);
    wr(t, R_PATTERN, 0xa0b0c0d0);
    qtest_memset(t->qts, pa, 0x11, sizeof(got));
    g_assert_cmpuint(run(t, OP_FILL, dma + 2, 4), ==, RES_OK);
    assert_outcome(t, 0, 0, 4);
    qtest_memread(t->qts, pa, got, sizeof(got));
    g_assert_cmphex(ldq_le_p(got), ==, 0x1111a0b0c0d01111ull);
}

static void test_virt_random_commands(void)
{
    TestDev *t = td_start_virt("", "");
    g_autoptr(GRand) rng = g_rand_new_with_seed(0x7e57d3);
    RandomRun rr = { 0 };

    random_commands(t, rng, RANDOM_DMA_BASE, RANDOM_DMA_SPAN, &rr);
    g_test_message("%u rings: %u OK with bytes moved, %u decode errors, "
                   "%u bad commands", rr.rings, rr.moved,
                   rr.results[RES_DECODE_ERROR], rr.results[RES_BAD_COMMAND]);
    /* The draws reach every path: DMA, its failures, and refusals */
    g_assert_cmpuint(rr.moved, >=, rr.rings / 4);
    g_assert_cmpuint(rr.results[RES_DECODE_ERROR], >, 0);
    g_assert_cmpuint(rr.results[RES_BAD_COMMAND], >, 0);
    g_assert_cmpuint(rr.results[RES_MISMATCH], >, 0);
    assert_still_exact(t, RANDOM_DMA_BASE, RANDOM_DMA_BASE);
    td_stop(t);
}

/*
 * The same through SMMUv3 stage 1: a CD and a 4 KiB page table map the
 * first RANDOM_MAPPED_PAGES pages of the IOVA window, scrambled, read-write;
 * the rest of the window faults.
 */
static void test_smmuv3_s1_random_commands(void)
{
    TestDev *t = td_start_virt(",iommu=smmuv3", "");
    g_autoptr(GRand) rng = g_rand_new_with_seed(0x5eed51);
    QSMMUPageTable pt;
    QSMMUv3 smmu;
    RandomRun rr = { 0 };

    smmu_start(&smmu, t, true);
    qsmmu_pt_init(&pt, t->qts, false, PT_POOL, PT_POOL_SIZE);
    for (int i = 0; i < RANDOM_MAPPED_PAGES; i++) {
        qsmmu_pt_map(&pt, RANDOM_IOVA_BASE + i * QSMMU_PAGE_SIZE,
                     RANDOM_DMA_BASE +
                     ((i * 37) % RANDOM_MAPPED_PAGES) * QSMMU_PAGE_SIZE,
                     true);
    }
    qsmmu_cd_s1_4k(t->qts, CD_ADDR, pt.root, 1);
    qsmmu_ste_s1(&smmu, DEV_SID, CD_ADDR);
    qsmmu_set_cr0(&smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);

    random_commands(t, rng, RANDOM_IOVA_BASE,
                    2 * RANDOM_MAPPED_PAGES * QSMMU_PAGE_SIZE, &rr);
    g_test_message("%u rings: %u OK with bytes moved, %u translation "
                   "faults, %u bad commands", rr.rings, rr.moved,
                   rr.results[RES_TRANSLATION_FAULT],
                   rr.results[RES_BAD_COMMAND]);
    g_assert_cmpuint(rr.moved, >=, rr.rings / 8);
    g_assert_cmpuint(rr.results[RES_TRANSLATION_FAULT], >, 0);
    g_assert_cmpuint(rr.results[RES_BAD_COMMAND], >, 0);
    /* IOVA page 1 is PA page 37 */
    assert_still_exact(t, RANDOM_IOVA_BASE + QSMMU_PAGE_SIZE,
                       RANDOM_DMA_BASE + 37 * QSMMU_PAGE_SIZE);
    td_stop(t);
}

/* ---- -M pseries ---- */

static void test_pseries_identity(void)
{
    TestDev *t = td_start_pseries();
    uint8_t raw[4], bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

    g_assert_cmphex(rd(t, R_ID), ==, ID_VALUE);
    qpci_memread(t->td.dev, t->td.bar, R_ID, raw, 4);
    g_assert(memcmp(raw, "DMAT", 4) == 0);
    g_assert_cmphex(rd(t, R_CAP), ==, 16 << 8);
    /* The buffer keeps byte order: byte i at offset i */
    buf_write(t, 0, bytes, sizeof(bytes));
    g_assert_cmphex(qpci_io_readl(t->td.dev, t->td.bar, BUF_OFFSET), ==,
                    0x04030201);
    g_assert_cmphex(qpci_io_readq(t->td.dev, t->td.bar, BUF_OFFSET), ==,
                    0x0807060504030201ull);
    td_stop(t);
}

static void test_pseries_no_tce(void)
{
    TestDev *t = td_start_pseries();

    /* Inside the default 32-bit window, which has no TCE set */
    g_assert_cmpuint(run(t, OP_FILL, 0x1008, 16), ==, RES_TRANSLATION_FAULT);
    assert_outcome(t, MEMTX_DECODE_ERROR, 0x1008, 0);
    g_assert_cmpuint(run(t, OP_READ, 0x3ffff000, 0x2000), ==,
                     RES_TRANSLATION_FAULT);
    assert_outcome(t, MEMTX_DECODE_ERROR, 0x3ffff000, 0);
    /* Past the 1 GiB window nothing decodes the address at all */
    g_assert_cmpuint(run(t, OP_READ, 0x40000000, 16), ==, RES_DECODE_ERROR);
    assert_outcome(t, MEMTX_DECODE_ERROR, 0x40000000, 0);
    td_stop(t);
}

/*
 * The TCE table and the fork's SMMUv3 declare that a lookup leaves no
 * trace (no event record for IOMMU_NONE), so the device may ask them why
 * a request was refused.
 */
static bool type_implements(QTestState *qts, const char *type,
                            const char *iface)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'qom-list-types', "
                           "'arguments': { 'implements': %s } }", iface);
    QList *types = qdict_get_qlist(rsp, "return");
    QListEntry *e;
    bool found = false;

    g_assert(types);
    QLIST_FOREACH_ENTRY(types, e) {
        QDict *ti = qobject_to(QDict, qlist_entry_obj(e));

        found |= g_str_equal(qdict_get_str(ti, "name"), type);
    }
    qobject_unref(rsp);
    return found;
}

static void check_side_effect_free(const char *type)
{
    QTestState *qts = qtest_init("-M none");

    g_assert_true(type_implements(qts, type, "iommu-memory-region"));
    g_assert_true(type_implements(qts, type,
                                  "iommu-side-effect-free-lookup"));
    qtest_quit(qts);
}

static void test_pseries_tce_lookup_side_effect_free(void)
{
    check_side_effect_free("spapr-iommu-memory-region");
}

static void test_smmuv3_lookup_side_effect_free(void)
{
    check_side_effect_free("smmuv3-iommu-memory-region");
}

/* ---- migration ---- */

/*
 * Save @t to a file and load it into a new -M virt with @dev_opts; the
 * test device there, on its BAR as migrated (libqos must not program it).
 */
static TestDev *migrate_virt(TestDev *t, const char *dev_opts)
{
    g_autofree char *path = g_strdup_printf("%s/viommu-testdev-mig-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    TestDev *d = g_new0(TestDev, 1);
    uint64_t bar_addr = t->td.bar.addr;

    qvtd_migrate(t->qts, uri);
    td_stop(t);

    d->qts = qtest_initf("-M virt -cpu max -m 512M -nodefaults "
                         "-device viommu-testdev,addr=%d.0%s -incoming %s",
                         DEV_SLOT, dev_opts, uri);
    qvtd_wait_migration(d->qts);
    unlink(path);

    qpci_init_generic(&d->gbus, d->qts, NULL, false);
    d->bus = &d->gbus.bus;
    d->devfn = DEV_DEVFN;
    d->td.dev = qpci_device_find(d->bus, DEV_DEVFN);
    g_assert(d->td.dev);
    g_assert_cmphex(qpci_config_readl(d->td.dev, PCI_BASE_ADDRESS_0) &
                    PCI_BASE_ADDRESS_MEM_MASK, ==, (uint32_t)bar_addr);
    d->td.bar.addr = bar_addr;
    d->td.bar.is_io = false;
    return d;
}

typedef struct RegSnap {
    uint32_t off;
    uint32_t val;
} RegSnap;

static void test_virt_migration(void)
{
    RegSnap regs[] = {
        { R_ID }, { R_VERSION }, { R_CAP }, { R_CTRL }, { R_DMA_ADDR },
        { R_DMA_ADDR + 4 }, { R_DST_ADDR }, { R_DST_ADDR + 4 }, { R_LEN },
        { R_OP }, { R_ATTR }, { R_PASID }, { R_PATTERN }, { R_BURST_COUNT },
        { R_BURST_STRIDE }, { R_BURST_SPAN }, { R_STATUS }, { R_MEMTX },
        { R_FAULT_ADDR }, { R_FAULT_ADDR + 4 }, { R_DONE_BYTES },
        { R_COMPLETIONS }, { R_ATS_ADDR }, { R_ATS_ADDR + 4 }, { R_ATS_MASK },
        { R_ATS_MASK + 4 }, { R_ATS_PERM }, { R_PRI_RESP }, { R_BURST_DONE },
        { R_BUF_ATTRS }, { R_IOMMU_REQ_STATUS },
    };
    g_autofree uint8_t *buf = g_malloc(BUF_SIZE);
    g_autofree uint8_t *got = g_malloc(BUF_SIZE);
    TestDev *t = td_start_virt("", ",secure-dma=on");

    /* Outcome registers from a failed burst, then distinctive settings */
    wr(t, R_BURST_COUNT, 3);
    wr(t, R_BURST_STRIDE, 0x800);
    wr(t, R_BURST_SPAN, 0);
    g_assert_cmpuint(run(t, OP_BURST_READ, VIRT_RAM_END - 0x1000, 0x400), ==,
                     RES_DECODE_ERROR);
    fill_bytes(buf, BUF_SIZE, 0x23);
    buf_write(t, 0, buf, BUF_SIZE);
    wr64(t, R_DMA_ADDR, 0x1122334455667788ull);
    wr64(t, R_DST_ADDR, 0x8877665544332211ull);
    wr(t, R_LEN, 0x1234);
    wr(t, R_OP, 0x13);
    wr(t, R_ATTR, ATTR_PRIV | ATTR_SECURE);
    wr(t, R_PASID, 0xabcde);
    wr(t, R_PATTERN, 0xdeadbeef);
    wr(t, R_BURST_COUNT, 0x777);
    wr(t, R_BURST_STRIDE, 0x10000);
    wr(t, R_BURST_SPAN, 0x300000);
    wr(t, R_CTRL, CTRL_IRQ_EN);
    for (int i = 0; i < ARRAY_SIZE(regs); i++) {
        regs[i].val = rd(t, regs[i].off);
        if (regs[i].off == R_STATUS) {
            g_assert_cmphex(regs[i].val, ==,
                            STATUS_IRQ | (RES_DECODE_ERROR << 8));
        } else if (regs[i].off == R_DONE_BYTES) {
            g_assert_cmphex(regs[i].val, ==, 0x800);
        } else if (regs[i].off == R_BUF_ATTRS) {
            g_assert_cmphex(regs[i].val, ==, BUF_ATTRS_UNSPECIFIED);
        }
    }

    t = migrate_virt(t, ",secure-dma=on");
    for (int i = 0; i < ARRAY_SIZE(regs); i++) {
        g_assert_cmphex(rd(t, regs[i].off), ==, regs[i].val);
    }
    qpci_memread(t->td.dev, t->td.bar, BUF_OFFSET, got, BUF_SIZE);
    g_assert(memcmp(got, buf, BUF_SIZE) == 0);
    td_stop(t);
}

/*
 * A pending INTx survives migration without the device raising it again
 * during load: the PCI core and the GIC carry the level, and the bus's
 * count of raised lines agrees with the device, so an IRQ_ACK lowers it.
 */
static void test_virt_migration_intx(void)
{
    TestDev *t = td_start_virt("", "");

    wr(t, R_CTRL, CTRL_IRQ_EN);
    g_assert_cmpuint(run(t, OP_NOP, 0, 0), ==, RES_OK);
    g_assert_true(intx_level(t));

    t = migrate_virt(t, "");
    g_assert_true(intx_level(t));
    g_assert_cmphex(rd(t, R_STATUS), ==, STATUS_IRQ);
    wr(t, R_IRQ_ACK, 1);
    g_assert_false(intx_level(t));
    g_assert_cmpuint(run(t, OP_NOP, 0, 0), ==, RES_OK);
    g_assert_true(intx_level(t));
    td_stop(t);
}

int main(int argc, char **argv)
{
    const char *arch = qtest_get_arch();

    g_test_init(&argc, &argv, NULL);

    if (g_str_equal(arch, "aarch64")) {
        qtest_add_func("/viommu-testdev/virt/no-iommu/identity-and-registers",
                       test_virt_identity);
        qtest_add_func("/viommu-testdev/virt/no-iommu/write-exact-bytes",
                       test_virt_write_exact);
        qtest_add_func("/viommu-testdev/virt/no-iommu/fill-exact-pattern",
                       test_virt_fill_exact);
        qtest_add_func("/viommu-testdev/virt/no-iommu/read-exact-bytes",
                       test_virt_read_exact);
        qtest_add_func("/viommu-testdev/virt/no-iommu/copy-exact-bytes",
                       test_virt_copy_exact);
        qtest_add_func("/viommu-testdev/virt/no-iommu/compare-first-mismatch",
                       test_virt_compare);
        qtest_add_func("/viommu-testdev/virt/no-iommu/decode-error-unassigned",
                       test_virt_decode_error_unassigned);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "cross-into-unassigned-stops-exactly",
                       test_virt_cross_into_unassigned);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "access-error-own-bar-reentrancy",
                       test_virt_access_error_own_bar);
        qtest_add_func("/viommu-testdev/virt/no-iommu/bad-command",
                       test_virt_bad_command);
        qtest_add_func("/viommu-testdev/virt/no-iommu/async-exact",
                       test_virt_async_exact);
        qtest_add_func("/viommu-testdev/virt/no-iommu/async-stop-waits",
                       test_virt_async_stop_waits);
        qtest_add_func("/viommu-testdev/virt/no-iommu/burst-exact",
                       test_virt_burst_exact);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "burst-wrapping-past-2^64-refused",
                       test_virt_burst_wrap_refused);
        qtest_add_func("/viommu-testdev/virt/no-iommu/burst-max-count",
                       test_virt_burst_max_count);
        qtest_add_func("/viommu-testdev/virt/no-iommu/msi-on-completion",
                       test_virt_msi_on_completion);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "intx-follows-irq-en-and-ack",
                       test_virt_intx);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "reset-clears-everything",
                       test_virt_reset_clears_everything);
        qtest_add_func("/viommu-testdev/virt/root-port/"
                       "reset-by-own-dma-drops-completion",
                       test_virt_reset_mid_command);
        qtest_add_func("/viommu-testdev/virt/root-port/"
                       "bus-master-off-in-device-or-bridge-refused",
                       test_virt_bus_master_off);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "attrs-without-pasid-unspecified",
                       test_virt_attrs_without_pasid);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "attrs-with-pasid-carry-pid",
                       test_virt_attrs_with_pasid);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "secure-attr-dropped-without-secure-dma",
                       test_virt_secure_dma_off);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "secure-attr-with-secure-dma",
                       test_virt_secure_dma_on);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "pcie-ext-caps-every-combination",
                       test_virt_ext_caps_every_combination);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "cmdline-errors-refused",
                       test_virt_cmdline_refused);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "ats-pri-enabled-refused-no-iommu",
                       test_virt_ats_pri_no_iommu);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "random-commands-complete-once",
                       test_virt_random_commands);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "migration-keeps-registers-and-buffer",
                       test_virt_migration);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "migration-keeps-intx-level",
                       test_virt_migration_intx);
        qtest_add_func("/viommu-testdev/virt/smmuv3/disabled-gbpa-bypass-ok",
                       test_smmuv3_disabled_bypass);
        qtest_add_func("/viommu-testdev/virt/smmuv3/"
                       "invalid-ste-translation-fault-c-bad-ste-record",
                       test_smmuv3_invalid_ste);
        qtest_add_func("/viommu-testdev/virt/smmuv3/"
                       "gbpa-abort-translation-fault-no-event",
                       test_smmuv3_gbpa_abort);
        qtest_add_func("/viommu-testdev/virt/smmuv3/"
                       "ats-pri-enabled-refused-unsupported",
                       test_smmuv3_ats_pri_unsupported);
        qtest_add_func("/viommu-testdev/virt/smmuv3/"
                       "lookup-side-effect-free",
                       test_smmuv3_lookup_side_effect_free);
        qtest_add_func("/viommu-testdev/virt/smmuv3/s1/"
                       "random-commands-complete-once",
                       test_smmuv3_s1_random_commands);
    } else if (g_str_equal(arch, "ppc64")) {
        qtest_add_func("/viommu-testdev/pseries/identity-little-endian",
                       test_pseries_identity);
        qtest_add_func("/viommu-testdev/pseries/no-tce-translation-fault",
                       test_pseries_no_tce);
        qtest_add_func("/viommu-testdev/pseries/"
                       "tce-lookup-side-effect-free",
                       test_pseries_tce_lookup_side_effect_free);
        qtest_add_func("/viommu-testdev/g3beige/no-msi-refused",
                       test_g3beige_no_msi_refused);
    }

    return g_test_run();
}
