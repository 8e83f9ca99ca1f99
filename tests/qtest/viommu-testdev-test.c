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
#include "libqos/viommu-testdev.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"

/* -M virt memory map, as seen by a device without an IOMMU in front */
#define VIRT_RAM_BASE       0x40000000ull
#define VIRT_RAM_SIZE       0x20000000ull   /* -m 512M */
#define VIRT_RAM_END        (VIRT_RAM_BASE + VIRT_RAM_SIZE)
#define VIRT_ECAM_BASE      0x4010000000ull

#define DEV_SLOT            4
#define DEV_DEVFN           QPCI_DEVFN(DEV_SLOT, 0)

typedef struct TestDev {
    QTestState *qts;
    QGenericPCIBus gbus;
    QPCIBus *bus;
    QPCIDevice *dev;
    QPCIBar bar;
    bool spapr;
    /* Guest memory for the RTAS calls that reach sPAPR config space */
    QGuestAllocator alloc;
} TestDev;

static void td_start_common(TestDev *t)
{
    t->dev = qpci_device_find(t->bus, DEV_DEVFN);
    g_assert(t->dev);
    g_assert_cmphex(qpci_config_readw(t->dev, PCI_VENDOR_ID), ==, 0x1234);
    g_assert_cmphex(qpci_config_readw(t->dev, PCI_DEVICE_ID), ==, 0x11f0);
    t->bar = qpci_iomap(t->dev, 0, NULL);
    qpci_device_enable(t->dev);
}

static TestDev *td_start_virt(const char *machine_opts, const char *dev_opts)
{
    TestDev *t = g_new0(TestDev, 1);

    t->qts = qtest_initf("-M virt%s -cpu max -m 512M -nodefaults "
                         "-device viommu-testdev,addr=%d.0%s",
                         machine_opts, DEV_SLOT, dev_opts);
    qpci_init_generic(&t->gbus, t->qts, NULL, false);
    t->bus = &t->gbus.bus;
    td_start_common(t);
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
    td_start_common(t);
    return t;
}

static void td_stop(TestDev *t)
{
    g_free(t->dev);
    if (t->spapr) {
        qpci_free_spapr(t->bus);
        alloc_destroy(&t->alloc);
    }
    qtest_quit(t->qts);
    g_free(t);
}

static uint32_t rd(TestDev *t, uint64_t off)
{
    return qpci_io_readl(t->dev, t->bar, off);
}

static void wr(TestDev *t, uint64_t off, uint32_t val)
{
    qpci_io_writel(t->dev, t->bar, off, val);
}

static uint64_t rd64(TestDev *t, uint64_t off)
{
    return rd(t, off) | ((uint64_t)rd(t, off + 4) << 32);
}

static void wr64(TestDev *t, uint64_t off, uint64_t val)
{
    wr(t, off, (uint32_t)val);
    wr(t, off + 4, val >> 32);
}

/* Run one command and return STATUS.RESULT, checking it completed */
static uint32_t run(TestDev *t, uint32_t op, uint64_t addr, uint32_t len)
{
    uint32_t before = rd(t, R_COMPLETIONS);
    uint32_t st;

    wr64(t, R_DMA_ADDR, addr);
    wr(t, R_LEN, len);
    wr(t, R_OP, op);
    wr(t, R_DOORBELL, 1);
    st = rd(t, R_STATUS);
    g_assert_cmphex(st & STATUS_BUSY, ==, 0);
    g_assert_cmpuint(rd(t, R_COMPLETIONS), ==, before + 1);
    return STATUS_RESULT(st);
}

static void buf_write(TestDev *t, uint32_t off, const void *data, size_t len)
{
    qpci_memwrite(t->dev, t->bar, BUF_OFFSET + off, data, len);
}

static void buf_read(TestDev *t, uint32_t off, void *data, size_t len)
{
    qpci_memread(t->dev, t->bar, BUF_OFFSET + off, data, len);
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
    g_assert_cmphex(rd(t, R_MEMTX), ==, memtx);
    g_assert_cmphex(rd64(t, R_FAULT_ADDR), ==, fault);
    g_assert_cmpuint(rd(t, R_DONE_BYTES), ==, done);
}

/* ---- -M virt, no IOMMU ---- */

static void test_virt_identity(void)
{
    TestDev *t = td_start_virt("", "");
    uint8_t raw[4];

    g_assert_cmphex(rd(t, R_ID), ==, ID_VALUE);
    qpci_memread(t->dev, t->bar, R_ID, raw, 4);
    g_assert(memcmp(raw, "DMAT", 4) == 0);
    g_assert_cmphex(rd(t, R_VERSION), ==, 1);
    g_assert_cmphex(rd(t, R_CAP), ==, 16 << 8);
    g_assert_cmphex(rd(t, R_STATUS), ==, 0);
    g_assert_cmphex(rd(t, R_COMPLETIONS), ==, 0);
    /* 64-bit registers take one 8-byte access as well as two halves */
    qpci_io_writeq(t->dev, t->bar, R_DMA_ADDR, 0x0123456789abcdefull);
    g_assert_cmphex(rd(t, R_DMA_ADDR), ==, 0x89abcdef);
    g_assert_cmphex(rd(t, R_DMA_ADDR + 4), ==, 0x01234567);
    g_assert_cmphex(qpci_io_readq(t->dev, t->bar, R_DMA_ADDR), ==,
                    0x0123456789abcdefull);
    /* Only the defined bits of OP, ATTR and PASID are kept */
    wr(t, R_OP, 0xffffffff);
    g_assert_cmphex(rd(t, R_OP), ==, 0x1f);
    wr(t, R_ATTR, 0xffffffff);
    g_assert_cmphex(rd(t, R_ATTR), ==, 0xf);
    wr(t, R_PASID, 0xffffffff);
    g_assert_cmphex(rd(t, R_PASID), ==, 0xfffff);
    /* Read-only registers ignore writes */
    wr(t, R_ID, 0);
    g_assert_cmphex(rd(t, R_ID), ==, ID_VALUE);
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
    uint8_t got[12];

    qtest_memset(t->qts, dst - 1, 0x5a, sizeof(got));
    wr(t, R_PATTERN, 0x11223344);
    g_assert_cmpuint(run(t, OP_FILL, dst, 10), ==, RES_OK);
    assert_outcome(t, 0, 0, 10);
    qtest_memread(t->qts, dst - 1, got, sizeof(got));
    g_assert_cmphex(got[0], ==, 0x5a);
    g_assert(memcmp(got + 1, want, 10) == 0);
    g_assert_cmphex(got[11], ==, 0x5a);

    /* The largest transfer, with a seed whose words carry into byte 1 */
    wr(t, R_PATTERN, 0xfffffffe);
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE + 0x300000, BUF_SIZE),
                     ==, RES_OK);
    assert_outcome(t, 0, 0, BUF_SIZE);
    {
        g_autofree uint8_t *big = g_malloc(BUF_SIZE);

        qtest_memread(t->qts, VIRT_RAM_BASE + 0x300000, big, BUF_SIZE);
        for (uint32_t i = 0; i < BUF_SIZE; i++) {
            g_assert_cmphex(big[i], ==, pattern_byte(0xfffffffe, i));
        }
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
    uint64_t own = t->bar.addr + BUF_OFFSET;

    /* A device may not reach its own registers while it is handling one */
    g_assert_cmpuint(run(t, OP_READ, own, 16), ==, RES_ACCESS_ERROR);
    assert_outcome(t, MEMTX_ACCESS_ERROR, own, 0);
    td_stop(t);
}

static void test_virt_bad_command(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t addr = VIRT_RAM_BASE + 0x800000;
    uint8_t got[4];

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
    /* Capabilities the device was not given */
    g_assert_cmpuint(run(t, OP_ATS_TRANSLATE, addr, 4), ==, RES_BAD_COMMAND);
    g_assert_cmpuint(run(t, OP_PRI_REQUEST, addr, 4), ==, RES_BAD_COMMAND);
    wr(t, R_ATTR, ATTR_PASID_EN);
    g_assert_cmpuint(run(t, OP_FILL, addr, 4), ==, RES_BAD_COMMAND);
    wr(t, R_ATTR, 0);
    /* A burst over the limit of 1 GiB */
    wr(t, R_BURST_COUNT, 0x4001);
    g_assert_cmpuint(run(t, OP_BURST_READ, addr, BUF_SIZE), ==,
                     RES_BAD_COMMAND);
    wr(t, R_BURST_COUNT, (1u << 20) + 1);
    g_assert_cmpuint(run(t, OP_BURST_READ, addr, 1), ==, RES_BAD_COMMAND);

    qtest_memread(t->qts, addr, got, 4);
    for (int i = 0; i < 4; i++) {
        g_assert_cmphex(got[i], ==, 0x77);
    }
    g_assert_cmpuint(rd(t, R_COMPLETIONS), ==, 10);
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

    /* No accesses at all */
    wr(t, R_BURST_COUNT, 0);
    g_assert_cmpuint(run(t, OP_BURST_READ, base, 16), ==, RES_OK);
    assert_outcome(t, 0, 0, 0);
    g_assert_cmpuint(rd(t, R_BURST_DONE), ==, 0);
    td_stop(t);
}

static void test_virt_msi_on_completion(void)
{
    TestDev *t = td_start_virt("", "");
    uint64_t msi_addr = VIRT_RAM_BASE + 0xa00000;
    uint8_t cap = qpci_find_capability(t->dev, PCI_CAP_ID_MSI, 0);
    uint16_t flags;

    g_assert_cmpuint(cap, !=, 0);
    flags = qpci_config_readw(t->dev, cap + PCI_MSI_FLAGS);
    g_assert(flags & PCI_MSI_FLAGS_64BIT);
    qpci_config_writel(t->dev, cap + PCI_MSI_ADDRESS_LO, (uint32_t)msi_addr);
    qpci_config_writel(t->dev, cap + PCI_MSI_ADDRESS_HI, msi_addr >> 32);
    qpci_config_writew(t->dev, cap + PCI_MSI_DATA_64, 0x4321);
    qpci_config_writew(t->dev, cap + PCI_MSI_FLAGS,
                       flags | PCI_MSI_FLAGS_ENABLE);
    qtest_writel(t->qts, msi_addr, 0);

    /* Without IRQ_EN the completion is only flagged */
    g_assert_cmpuint(run(t, OP_NOP, 0, 0), ==, RES_OK);
    g_assert_cmphex(rd(t, R_STATUS), ==, STATUS_IRQ);
    g_assert_cmphex(qtest_readl(t->qts, msi_addr), ==, 0);
    wr(t, R_IRQ_ACK, 1);
    g_assert_cmphex(rd(t, R_STATUS), ==, 0);

    /* With it, each completion writes the MSI message once */
    wr(t, R_CTRL, 1);
    g_assert_cmpuint(run(t, OP_NOP, 0, 0), ==, RES_OK);
    g_assert_cmphex(rd(t, R_STATUS), ==, STATUS_IRQ);
    g_assert_cmphex(qtest_readl(t->qts, msi_addr), ==, 0x4321);
    wr(t, R_IRQ_ACK, 1);
    g_assert_cmphex(rd(t, R_STATUS), ==, 0);
    td_stop(t);
}

static void test_virt_pcie_caps(void)
{
    TestDev *t = td_start_virt("", ",ats=on,pri=on,pasid=on");
    uint64_t cfg = VIRT_ECAM_BASE + (DEV_DEVFN << 12);

    g_assert_cmphex(rd(t, R_CAP), ==, (16 << 8) | 0x7);
    g_assert_cmpuint(qpci_find_capability(t->dev, PCI_CAP_ID_EXP, 0), !=, 0);
    /* ATS, then PASID, then PRI in extended configuration space */
    g_assert_cmphex(qtest_readl(t->qts, cfg + 0x100) & 0xfffff, ==,
                    0x1000f);
    g_assert_cmphex(qtest_readl(t->qts, cfg + 0x108) & 0xfffff, ==,
                    0x1001b);
    g_assert_cmphex(qtest_readl(t->qts, cfg + 0x110) & 0xffff, ==, 0x0013);

    /* The guest has not enabled ATS and there is no IOMMU to ask */
    g_assert_cmpuint(run(t, OP_ATS_TRANSLATE, VIRT_RAM_BASE, 1), ==,
                     RES_ATS_FAILED);
    g_assert_cmphex(rd64(t, R_ATS_ADDR), ==, 0);
    g_assert_cmphex(rd64(t, R_ATS_MASK), ==, 0);
    g_assert_cmphex(rd(t, R_ATS_PERM), ==, 0);
    g_assert_cmpuint(run(t, OP_PRI_REQUEST, VIRT_RAM_BASE, 1), ==,
                     RES_PRI_FAILED);
    g_assert_cmphex(rd(t, R_PRI_RESP), ==, 0);
    /* PASID is present but not enabled by the guest */
    wr(t, R_ATTR, ATTR_PASID_EN);
    wr(t, R_PASID, 5);
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE, 4), ==, RES_BAD_COMMAND);
    /* Once enabled, DMA carries PASIDs that fit MemTxAttrs.pid */
    qtest_writew(t->qts, cfg + 0x108 + 6, 1);
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE, 4), ==, RES_OK);
    assert_outcome(t, 0, 0, 4);
    wr(t, R_PASID, 0x100);
    g_assert_cmpuint(run(t, OP_FILL, VIRT_RAM_BASE, 4), ==, RES_BAD_COMMAND);
    assert_outcome(t, 0, 0, 0);
    td_stop(t);
}

/* ---- -M virt,iommu=smmuv3 ---- */

#define STRTAB_ADDR         (VIRT_RAM_BASE + 0x1000000)
#define STRTAB_LOG2SIZE     6
#define EVENTQ_ADDR         (VIRT_RAM_BASE + 0x1010000)
#define EVENTQ_LOG2SIZE     4
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
    uint8_t got[16];

    smmu_start(&smmu, t, true);
    qsmmu_set_cr0(&smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qtest_memset(t->qts, dst, 0x3c, sizeof(got));

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

    qtest_memread(t->qts, dst, got, sizeof(got));
    for (int i = 0; i < sizeof(got); i++) {
        g_assert_cmphex(got[i], ==, 0x3c);
    }
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

/* ---- -M pseries ---- */

static void test_pseries_identity(void)
{
    TestDev *t = td_start_pseries();
    uint8_t raw[4], bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

    g_assert_cmphex(rd(t, R_ID), ==, ID_VALUE);
    qpci_memread(t->dev, t->bar, R_ID, raw, 4);
    g_assert(memcmp(raw, "DMAT", 4) == 0);
    g_assert_cmphex(rd(t, R_CAP), ==, 16 << 8);
    /* The buffer keeps byte order: byte i at offset i */
    buf_write(t, 0, bytes, sizeof(bytes));
    g_assert_cmphex(qpci_io_readl(t->dev, t->bar, BUF_OFFSET), ==,
                    0x04030201);
    g_assert_cmphex(qpci_io_readq(t->dev, t->bar, BUF_OFFSET), ==,
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
 * The TCE table declares that looking it up leaves no trace, so the
 * device may ask it why a request was refused.  Every IOMMU that records
 * refused lookups (here SMMUv3, on virt) must not declare it.
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

static void check_side_effect_free(const char *type, bool want)
{
    QTestState *qts = qtest_init("-M none");

    g_assert_true(type_implements(qts, type, "iommu-memory-region"));
    g_assert_cmpint(type_implements(qts, type,
                                    "iommu-side-effect-free-lookup"),
                    ==, want);
    qtest_quit(qts);
}

static void test_pseries_tce_lookup_side_effect_free(void)
{
    check_side_effect_free("spapr-iommu-memory-region", true);
}

static void test_smmuv3_lookup_not_side_effect_free(void)
{
    check_side_effect_free("smmuv3-iommu-memory-region", false);
}

/* ---- migration ---- */

static void wait_migration_completed(QTestState *qts)
{
    for (int i = 0; i < 3000; i++) {
        QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-migrate' }");
        QDict *ret = qdict_get_qdict(rsp, "return");
        const char *status = ret ? qdict_get_try_str(ret, "status") : NULL;
        bool done = !g_strcmp0(status, "completed");

        g_assert(g_strcmp0(status, "failed"));
        qobject_unref(rsp);
        if (done) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

typedef struct RegSnap {
    uint32_t off;
    uint32_t val;
} RegSnap;

static void test_virt_migration(void)
{
    g_autofree char *path = g_strdup_printf("%s/viommu-testdev-mig-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    static const uint32_t offs[] = {
        R_ID, R_VERSION, R_CAP, R_CTRL, R_DMA_ADDR, R_DMA_ADDR + 4,
        R_DST_ADDR, R_DST_ADDR + 4, R_LEN, R_OP, R_ATTR, R_PASID, R_PATTERN,
        R_BURST_COUNT, R_BURST_STRIDE, R_BURST_SPAN, R_STATUS, R_MEMTX,
        R_FAULT_ADDR, R_FAULT_ADDR + 4, R_DONE_BYTES, R_COMPLETIONS,
        R_ATS_ADDR, R_ATS_ADDR + 4, R_ATS_MASK, R_ATS_MASK + 4, R_ATS_PERM,
        R_PRI_RESP, R_BURST_DONE,
    };
    uint32_t vals[ARRAY_SIZE(offs)];
    g_autofree uint8_t *buf = g_malloc(BUF_SIZE);
    g_autofree uint8_t *got = g_malloc(BUF_SIZE);
    TestDev *t = td_start_virt("", "");
    QTestState *dst;
    QPCIDevice *ddev;
    QPCIBar dbar;
    uint64_t bar_addr = t->bar.addr;

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
    wr(t, R_ATTR, 0x5);
    wr(t, R_PASID, 0xabcde);
    wr(t, R_PATTERN, 0xdeadbeef);
    wr(t, R_BURST_COUNT, 0x777);
    wr(t, R_BURST_STRIDE, 0x10000);
    wr(t, R_BURST_SPAN, 0x300000);
    wr(t, R_CTRL, 1);
    for (int i = 0; i < ARRAY_SIZE(offs); i++) {
        vals[i] = rd(t, offs[i]);
    }
    g_assert_cmphex(vals[16], ==, STATUS_IRQ | (RES_DECODE_ERROR << 8));
    g_assert_cmphex(vals[20], ==, 0x800);    /* DONE_BYTES */

    qtest_qmp_assert_success(t->qts, "{ 'execute': 'stop' }");
    qtest_qmp_assert_success(t->qts, "{ 'execute': 'migrate', 'arguments':"
                             " { 'uri': %s } }", uri);
    wait_migration_completed(t->qts);
    td_stop(t);

    dst = qtest_initf("-M virt -cpu max -m 512M -nodefaults "
                      "-device viommu-testdev,addr=%d.0 -incoming %s",
                      DEV_SLOT, uri);
    wait_migration_completed(dst);
    unlink(path);

    /* Use the BAR as migrated: libqos must not program it again */
    {
        QGenericPCIBus gbus;

        qpci_init_generic(&gbus, dst, NULL, false);
        ddev = qpci_device_find(&gbus.bus, DEV_DEVFN);
        g_assert(ddev);
        g_assert_cmphex(qpci_config_readl(ddev, PCI_BASE_ADDRESS_0) &
                        PCI_BASE_ADDRESS_MEM_MASK, ==, (uint32_t)bar_addr);
        dbar.addr = bar_addr;
        dbar.is_io = false;
        for (int i = 0; i < ARRAY_SIZE(offs); i++) {
            g_assert_cmphex(qpci_io_readl(ddev, dbar, offs[i]), ==, vals[i]);
        }
        qpci_memread(ddev, dbar, BUF_OFFSET, got, BUF_SIZE);
        g_assert(memcmp(got, buf, BUF_SIZE) == 0);
        g_free(ddev);
    }
    qtest_quit(dst);
}

/*
 * Registers and doorbells are guest input.  Throw seeded random values at
 * every register, in 1-, 2-, 4- and 8-byte accesses, and ring the doorbell
 * with whatever results: every ring must complete exactly once, and the
 * device must afterwards still move exactly the bytes asked for.
 */
static void test_virt_hostile_registers(void)
{
    TestDev *t = td_start_virt(",iommu=smmuv3", "");
    g_autoptr(GRand) rng = g_rand_new_with_seed(0x7e57d3);
    uint32_t rings = 0, before = rd(t, R_COMPLETIONS);
    uint64_t dst = VIRT_RAM_BASE + 0x400000;
    uint8_t got[8];

    for (int i = 0; i < 3000; i++) {
        unsigned size = 1 << g_rand_int_range(rng, 0, 4);
        uint64_t off = g_rand_int_range(rng, 0, 0x80) & ~(uint64_t)(size - 1);
        uint64_t val = ((uint64_t)g_rand_int(rng) << 32) | g_rand_int(rng);

        /* Rings are counted below; a random write must not ring */
        if (off < R_DOORBELL + 4 && off + size > R_DOORBELL) {
            continue;
        }
        switch (size) {
        case 1:
            qpci_io_writeb(t->dev, t->bar, off, val);
            break;
        case 2:
            qpci_io_writew(t->dev, t->bar, off, val);
            break;
        case 4:
            qpci_io_writel(t->dev, t->bar, off, val);
            break;
        default:
            qpci_io_writeq(t->dev, t->bar, off, val);
            break;
        }
        /* Keep bursts short enough for a test, and aim some DMA at RAM */
        if (g_rand_boolean(rng)) {
            wr(t, R_BURST_COUNT, rd(t, R_BURST_COUNT) & 0x3ff);
        }
        if (g_rand_int_range(rng, 0, 4) == 0) {
            wr64(t, R_DMA_ADDR, VIRT_RAM_BASE + g_rand_int(rng) % 0x1000000);
        }
        if (g_rand_int_range(rng, 0, 3) == 0) {
            wr(t, R_BURST_COUNT, rd(t, R_BURST_COUNT) & 0x3ff);
            wr(t, R_DOORBELL, g_rand_int(rng));
            rings++;
            g_assert_cmphex(rd(t, R_STATUS) & STATUS_BUSY, ==, 0);
        }
    }
    g_assert_cmpuint(rd(t, R_COMPLETIONS), ==, before + rings);

    wr(t, R_IRQ_ACK, 1);
    wr(t, R_ATTR, 0);
    wr(t, R_PATTERN, 0xa0b0c0d0);
    qtest_memset(t->qts, dst, 0x11, sizeof(got));
    g_assert_cmpuint(run(t, OP_FILL, dst + 2, 4), ==, RES_OK);
    assert_outcome(t, 0, 0, 4);
    qtest_memread(t->qts, dst, got, sizeof(got));
    g_assert_cmphex(ldq_le_p(got), ==, 0x1111a0b0c0d01111ull);
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
        qtest_add_func("/viommu-testdev/virt/no-iommu/burst-exact",
                       test_virt_burst_exact);
        qtest_add_func("/viommu-testdev/virt/no-iommu/msi-on-completion",
                       test_virt_msi_on_completion);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "pcie-caps-ats-pri-without-iommu-fail",
                       test_virt_pcie_caps);
        qtest_add_func("/viommu-testdev/virt/no-iommu/"
                       "migration-keeps-registers-and-buffer",
                       test_virt_migration);
        qtest_add_func("/viommu-testdev/virt/smmuv3/hostile-registers",
                       test_virt_hostile_registers);
        qtest_add_func("/viommu-testdev/virt/smmuv3/disabled-gbpa-bypass-ok",
                       test_smmuv3_disabled_bypass);
        qtest_add_func("/viommu-testdev/virt/smmuv3/"
                       "invalid-ste-translation-fault-c-bad-ste-record",
                       test_smmuv3_invalid_ste);
        qtest_add_func("/viommu-testdev/virt/smmuv3/"
                       "gbpa-abort-translation-fault-no-event",
                       test_smmuv3_gbpa_abort);
        qtest_add_func("/viommu-testdev/virt/smmuv3/"
                       "lookup-not-side-effect-free",
                       test_smmuv3_lookup_not_side_effect_free);
    } else if (g_str_equal(arch, "ppc64")) {
        qtest_add_func("/viommu-testdev/pseries/identity-little-endian",
                       test_pseries_identity);
        qtest_add_func("/viommu-testdev/pseries/no-tce-translation-fault",
                       test_pseries_no_tce);
        qtest_add_func("/viommu-testdev/pseries/"
                       "tce-lookup-side-effect-free",
                       test_pseries_tce_lookup_side_effect_free);
    }

    return g_test_run();
}
