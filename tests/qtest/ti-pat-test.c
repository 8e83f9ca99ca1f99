/*
 * qtests for the TI PAT (-device ti-pat on -M virt)
 *
 * CPU accesses go through qtest's reads and writes of the window, DMA
 * through viommu-testdev; every test asserts the exact bytes at the exact
 * guest-physical address, or the exact outcome of a decode error.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/generic-pcihost.h"
#include "libqos/viommu-testdev-pci.h"
#include "libqos/ti-pat.h"

#define DEV_DEVFN       QPCI_DEVFN(4, 0)
#define RAM_BASE        0x40000000ull
#define DTB_ADDR        RAM_BASE
/* Pages the tests point entries at: above the DTB, inside 512 MiB */
#define DATA            0x50000000ull

static const unsigned page_shift[] = { 12, 14, 16, 20 };

typedef struct Pat {
    uint64_t mmrs, table, window;
} Pat;

typedef struct Env {
    QTestState *qts;
    QGenericPCIBus gbus;
    QViommuTestdev td;
    Pat pat[2];
} Env;

static Env *env_start_on(const char *machine, const char *testdev_args,
                         const char *pat_args)
{
    Env *e = g_new0(Env, 1);

    e->qts = qtest_initf("-M %s -cpu max -m 512M -nodefaults "
                         "-device viommu-testdev,addr=4.0%s %s", machine,
                         testdev_args, pat_args);
    qpci_init_generic(&e->gbus, e->qts, NULL, false);
    qvtd_init(&e->td, &e->gbus.bus, DEV_DEVFN);
    for (int i = 0; i < 2; i++) {
        e->pat[i] = (Pat) {
            TI_PAT_AUTO_MMRS(i), TI_PAT_AUTO_TABLE(i), TI_PAT_AUTO_WINDOW(i)
        };
    }
    return e;
}

static Env *env_start(const char *pat_args)
{
    return env_start_on("virt", "", pat_args);
}

static Env *env_one(void)
{
    return env_start("-device ti-pat");
}

static void env_stop(Env *e)
{
    qvtd_free(&e->td);
    qtest_quit(e->qts);
    g_free(e);
}

static uint32_t mmrs_rd(Env *e, int p, uint32_t off)
{
    return qtest_readl(e->qts, e->pat[p].mmrs + off);
}

static void mmrs_wr(Env *e, int p, uint32_t off, uint32_t val)
{
    qtest_writel(e->qts, e->pat[p].mmrs + off, val);
}

static void set_entry(Env *e, int p, uint32_t i, uint64_t pa, bool enable)
{
    uint64_t at = e->pat[p].table + TI_PAT_ENTRY_OFFSET(i);

    qtest_writel(e->qts, at, TI_PAT_ADDRL(pa));
    qtest_writel(e->qts, at + 4,
                 TI_PAT_ADDRH(pa) | (enable ? TI_PAT_ADDRH_ENABLE : 0));
}

static void pat_on(Env *e, int p, unsigned page_size)
{
    mmrs_wr(e, p, TI_PAT_CONTROL,
            TI_PAT_CONTROL_EN | TI_PAT_CONTROL_PAGE_SIZE(page_size));
}

/* DMA-write @len bytes of a pattern at bus address @addr */
static uint32_t dma_fill(Env *e, uint64_t addr, uint32_t len, uint32_t seed)
{
    qvtd_wr(&e->td, R_PATTERN, seed);
    return qvtd_run(&e->td, OP_FILL, addr, len);
}

/* Assert @len bytes at @pa hold FILL's pattern from word @first of @seed */
static void assert_pattern(Env *e, uint64_t pa, uint32_t len, uint32_t seed,
                           uint32_t first)
{
    for (uint32_t i = 0; i < len; i += 4) {
        g_assert_cmphex(qtest_readl(e->qts, pa + i), ==, seed + first + i / 4);
    }
}

static void assert_dma_refused(Env *e, uint64_t addr)
{
    g_assert_cmpuint(dma_fill(e, addr, 8, 0x5a5a5a5a), ==,
                     RES_TRANSLATION_FAULT);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, addr, 0);
}

/* Refused beyond the PAT: nothing answers at the address it reached */
static void assert_dma_unassigned(Env *e, uint64_t addr)
{
    g_assert_cmpuint(dma_fill(e, addr, 8, 0x5a5a5a5a), ==, RES_DECODE_ERROR);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, addr, 0);
}

/* ---- registers ---- */

static void test_mmrs_reset_values(void)
{
    Env *e = env_start("-device ti-pat "
                       "-device ti-pat,entries=100,window-size=0x100000");

    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_PID), ==, TI_PAT_PID_VALUE);
    g_assert_cmpuint(mmrs_rd(e, 0, TI_PAT_CONFIG), ==,
                     TI_PAT_DEFAULT_ENTRIES);
    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_CONTROL), ==, 0);
    g_assert_cmpuint(mmrs_rd(e, 1, TI_PAT_CONFIG), ==, 100);
    env_stop(e);
}

static void test_mmrs_control_fields(void)
{
    Env *e = env_one();

    mmrs_wr(e, 0, TI_PAT_CONTROL, 0xffffffff);
    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_CONTROL), ==, 0xf3);
    mmrs_wr(e, 0, TI_PAT_CONTROL, TI_PAT_CONTROL_ARB_MODE(2) |
            TI_PAT_CONTROL_REPLACE_OID_EN | TI_PAT_CONTROL_PAGE_SIZE(1));
    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_CONTROL), ==, 0x92);
    mmrs_wr(e, 0, TI_PAT_CONTROL, 0);
    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_CONTROL), ==, 0);
    env_stop(e);
}

static void test_mmrs_access_rules(void)
{
    Env *e = env_one();
    uint64_t m = e->pat[0].mmrs;

    /* PID and CONFIG ignore writes; unassigned offsets read as zero */
    mmrs_wr(e, 0, TI_PAT_PID, 0xffffffff);
    mmrs_wr(e, 0, TI_PAT_CONFIG, 7);
    mmrs_wr(e, 0, 0x8, 0xffffffff);
    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_PID), ==, TI_PAT_PID_VALUE);
    g_assert_cmpuint(mmrs_rd(e, 0, TI_PAT_CONFIG), ==,
                     TI_PAT_DEFAULT_ENTRIES);
    g_assert_cmphex(mmrs_rd(e, 0, 0x8), ==, 0);
    g_assert_cmphex(mmrs_rd(e, 0, 0xfc), ==, 0);

    /* Only aligned 32-bit accesses reach a register */
    mmrs_wr(e, 0, TI_PAT_CONTROL, 0x31);
    qtest_writeb(e->qts, m + TI_PAT_CONTROL, 0);
    qtest_writew(e->qts, m + TI_PAT_CONTROL + 2, 0);
    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_CONTROL), ==, 0x31);
    /* The bus splits a 64-bit access into two 32-bit ones */
    qtest_writeq(e->qts, m + TI_PAT_CONTROL, 0xffffffff00000022ull);
    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_CONTROL), ==, 0x22);
    g_assert_cmphex(qtest_readq(e->qts, m + TI_PAT_PID), ==,
                    (uint64_t)TI_PAT_DEFAULT_ENTRIES << 32 | TI_PAT_PID_VALUE);
    g_assert_cmphex(qtest_readb(e->qts, m + TI_PAT_CONTROL), ==, 0);
    g_assert_cmphex(qtest_readw(e->qts, m + TI_PAT_PID), ==, 0);
    g_assert_cmphex(qtest_readl(e->qts, m + TI_PAT_PID + 2), ==, 0);
    env_stop(e);
}

static void test_table_layout(void)
{
    Env *e = env_one();
    uint64_t t = e->pat[0].table;

    set_entry(e, 0, 0, 0x123456789000ull, true);
    set_entry(e, 0, 255, 0x1000, false);
    set_entry(e, 0, 256, 0xfffffffff000ull, true);
    set_entry(e, 0, 16383, 0x5000, true);
    g_assert_cmphex(qtest_readl(e->qts, t), ==, 0x23456789);
    g_assert_cmphex(qtest_readl(e->qts, t + 4), ==, 0x80000001);
    g_assert_cmphex(qtest_readl(e->qts, t + 0x7f8), ==, 1);
    g_assert_cmphex(qtest_readl(e->qts, t + 0x7fc), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, t + 0x1000), ==,
                    0x8000000fffffffffull);
    g_assert_cmphex(qtest_readq(e->qts, t + 63 * 0x1000 + 0x7f8), ==,
                    0x8000000000000005ull);

    /* The second half of each 4 KiB block holds nothing */
    qtest_writel(e->qts, t + 0x800, 0xffffffff);
    qtest_writeq(e->qts, t + 0x1ff8, 0xffffffffffffffffull);
    g_assert_cmphex(qtest_readl(e->qts, t + 0x800), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, t + 0x1ff8), ==, 0);

    /* ADDRH's bits 30:4 are reserved; a 64-bit write sets a whole entry */
    qtest_writel(e->qts, t + 8 + 4, 0xffffffff);
    g_assert_cmphex(qtest_readl(e->qts, t + 8 + 4), ==, 0x8000000f);
    qtest_writeq(e->qts, t + 16, 0xffffffffabcdef01ull);
    g_assert_cmphex(qtest_readq(e->qts, t + 16), ==, 0x8000000fabcdef01ull);
    g_assert_cmphex(qtest_readl(e->qts, t + 16), ==, 0xabcdef01);
    env_stop(e);
}

/* ---- translation ---- */

/*
 * Scatter three window pages over RAM, backwards, and check CPU writes
 * and reads through the window at both ends of each page.
 */
static void test_cpu_page_size(gconstpointer data)
{
    unsigned ps_field = GPOINTER_TO_UINT(data);
    uint64_t ps = 1ull << page_shift[ps_field];
    Env *e = env_one();
    uint64_t w = e->pat[0].window;

    for (int i = 0; i < 3; i++) {
        set_entry(e, 0, i, DATA + (2 - i) * 2 * ps, true);
    }
    pat_on(e, 0, ps_field);
    for (int i = 0; i < 3; i++) {
        uint64_t pa = DATA + (2 - i) * 2 * ps;

        qtest_writel(e->qts, w + i * ps, 0xa0000000 + i);
        qtest_writel(e->qts, w + i * ps + ps - 4, 0xb0000000 + i);
        g_assert_cmphex(qtest_readl(e->qts, pa), ==, 0xa0000000 + i);
        g_assert_cmphex(qtest_readl(e->qts, pa + ps - 4), ==, 0xb0000000 + i);
        /* Nothing around the page moved */
        g_assert_cmphex(qtest_readl(e->qts, pa + ps), ==, 0);
        qtest_writeq(e->qts, pa + ps / 2, 0x1122334455667788ull + i);
        g_assert_cmphex(qtest_readq(e->qts, w + i * ps + ps / 2), ==,
                        0x1122334455667788ull + i);
    }
    env_stop(e);
}

/* A 64 KiB page whose output is only 4 KiB aligned */
static void test_cpu_unaligned_output(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;
    uint64_t pa = DATA + 0x3000;

    set_entry(e, 0, 0, pa, true);
    set_entry(e, 0, 1, DATA + 0x100000, true);
    pat_on(e, 0, TI_PAT_PAGE_64K);
    qtest_writel(e->qts, w, 1);
    qtest_writel(e->qts, w + 0x1000, 2);
    qtest_writel(e->qts, w + 0x5004, 3);
    qtest_writel(e->qts, w + 0xfffc, 4);
    qtest_writel(e->qts, w + 0x10000, 5);
    g_assert_cmphex(qtest_readl(e->qts, pa), ==, 1);
    g_assert_cmphex(qtest_readl(e->qts, pa + 0x1000), ==, 2);
    g_assert_cmphex(qtest_readl(e->qts, pa + 0x5004), ==, 3);
    g_assert_cmphex(qtest_readl(e->qts, pa + 0xfffc), ==, 4);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x100000), ==, 5);
    env_stop(e);
}

static void test_cpu_page_crossing(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;
    uint8_t out[16], in[16];

    set_entry(e, 0, 0, DATA + 0x5000, true);
    set_entry(e, 0, 1, DATA + 0x2000, true);
    pat_on(e, 0, TI_PAT_PAGE_4K);
    for (int i = 0; i < 16; i++) {
        out[i] = 0x40 + i;
    }
    qtest_memwrite(e->qts, w + 0xff8, out, sizeof(out));
    g_assert_cmphex(qtest_readq(e->qts, DATA + 0x5ff8), ==,
                    0x4746454443424140ull);
    g_assert_cmphex(qtest_readq(e->qts, DATA + 0x2000), ==,
                    0x4f4e4d4c4b4a4948ull);
    g_assert_cmphex(qtest_readq(e->qts, DATA + 0x6000), ==, 0);
    qtest_memread(e->qts, w + 0xff8, in, sizeof(in));
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    /* One access that straddles the two pages */
    qtest_writel(e->qts, w + 0xffe, 0xddccbbaa);
    g_assert_cmphex(qtest_readw(e->qts, DATA + 0x5ffe), ==, 0xbbaa);
    g_assert_cmphex(qtest_readw(e->qts, DATA + 0x2000), ==, 0xddcc);
    env_stop(e);
}

/* DMA of 8 KiB from the middle of page 0 to the middle of page 2 */
static void test_dma_write_read(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;
    g_autofree uint8_t *buf = g_malloc(0x2000);
    g_autofree uint8_t *back = g_malloc0(0x2000);

    set_entry(e, 0, 0, DATA + 0x9000, true);
    set_entry(e, 0, 1, DATA + 0x1000, true);
    set_entry(e, 0, 2, DATA + 0x4000, true);
    pat_on(e, 0, TI_PAT_PAGE_4K);

    for (int i = 0; i < 0x2000; i++) {
        buf[i] = i * 7 + (i >> 8);
    }
    qpci_memwrite(e->td.dev, e->td.bar, BUF_OFFSET, buf, 0x2000);
    g_assert_cmpuint(qvtd_run(&e->td, OP_WRITE, w + 0x800, 0x2000), ==,
                     RES_OK);
    qvtd_assert_outcome(&e->td, 0, 0, 0x2000);

    qtest_memread(e->qts, DATA + 0x9800, back, 0x800);
    g_assert_cmpmem(back, 0x800, buf, 0x800);
    qtest_memread(e->qts, DATA + 0x1000, back, 0x1000);
    g_assert_cmpmem(back, 0x1000, buf + 0x800, 0x1000);
    qtest_memread(e->qts, DATA + 0x4000, back, 0x800);
    g_assert_cmpmem(back, 0x800, buf + 0x1800, 0x800);
    g_assert_cmphex(qtest_readq(e->qts, DATA + 0x97f8), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, DATA + 0x4800), ==, 0);

    /* And back into the device through the window */
    qpci_memwrite(e->td.dev, e->td.bar, BUF_OFFSET, back, 0x2000);
    memset(back, 0, 0x2000);
    qpci_memwrite(e->td.dev, e->td.bar, BUF_OFFSET, back, 0x2000);
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, w + 0x800, 0x2000), ==,
                     RES_OK);
    qvtd_assert_outcome(&e->td, 0, 0, 0x2000);
    qpci_memread(e->td.dev, e->td.bar, BUF_OFFSET, back, 0x2000);
    g_assert_cmpmem(back, 0x2000, buf, 0x2000);
    env_stop(e);
}

/* FILL through each page size, at the last word of entry 5's page */
static void test_dma_page_sizes(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;

    for (unsigned f = 0; f < 4; f++) {
        uint64_t ps = 1ull << page_shift[f];
        uint64_t pa = DATA + 0x1000000 + f * 0x200000;

        set_entry(e, 0, 5, pa, true);
        pat_on(e, 0, f);
        g_assert_cmpuint(dma_fill(e, w + 5 * ps + ps - 8, 8, 0x100 * f), ==,
                         RES_OK);
        qvtd_assert_outcome(&e->td, 0, 0, 8);
        assert_pattern(e, pa + ps - 8, 8, 0x100 * f, 0);
        g_assert_cmphex(qtest_readq(e->qts, pa + ps), ==, 0);
    }
    env_stop(e);
}

/*
 * A Secure access keeps its state through the window: on virt,secure=on,
 * Secure DMA reaches Secure RAM through an entry, and RAM both spaces
 * have; Non-secure DMA through the same entry finds nothing there.
 */
static void test_dma_secure(void)
{
    const uint64_t secure_page = 0x0e001000ull;     /* virt's Secure RAM */
    Env *e = env_start_on("virt,secure=on", ",secure-dma=on",
                          "-device ti-pat");
    uint64_t w = e->pat[0].window;

    g_assert_cmphex(qvtd_rd(&e->td, R_CAP) & CAP_SECURE_DMA, ==,
                    CAP_SECURE_DMA);
    set_entry(e, 0, 0, secure_page, true);
    set_entry(e, 0, 1, DATA + 0x3000, true);
    pat_on(e, 0, TI_PAT_PAGE_4K);

    qvtd_wr(&e->td, R_ATTR, ATTR_PRIV | ATTR_SECURE);
    g_assert_cmpuint(dma_fill(e, w + 0x40, 16, 0x5ec00000), ==, RES_OK);
    qvtd_assert_outcome(&e->td, 0, 0, 16);
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, w + 0x40, 16), ==, RES_OK);
    for (int i = 0; i < 4; i++) {
        g_assert_cmphex(qvtd_rd(&e->td, BUF_OFFSET + 4 * i), ==,
                        0x5ec00000 + i);
    }
    g_assert_cmpuint(dma_fill(e, w + 0x1010, 8, 0x600d0000), ==, RES_OK);
    assert_pattern(e, DATA + 0x3010, 8, 0x600d0000, 0);

    qvtd_wr(&e->td, R_ATTR, ATTR_PRIV);
    assert_dma_unassigned(e, w + 0x40);
    g_assert_cmpuint(dma_fill(e, w + 0x1018, 8, 0x600e0000), ==, RES_OK);
    assert_pattern(e, DATA + 0x3018, 8, 0x600e0000, 0);
    env_stop(e);
}

static void test_remap(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;

    qtest_writeq(e->qts, DATA + 0x10, 0xaaaa);
    qtest_writeq(e->qts, DATA + 0x8010, 0xbbbb);
    set_entry(e, 0, 3, DATA, true);
    pat_on(e, 0, TI_PAT_PAGE_4K);
    g_assert_cmphex(qtest_readq(e->qts, w + 0x3010), ==, 0xaaaa);
    g_assert_cmpuint(dma_fill(e, w + 0x3020, 8, 0x77), ==, RES_OK);
    assert_pattern(e, DATA + 0x20, 8, 0x77, 0);

    /* Re-pointed while enabled: the next access uses the new page */
    set_entry(e, 0, 3, DATA + 0x8000, true);
    g_assert_cmphex(qtest_readq(e->qts, w + 0x3010), ==, 0xbbbb);
    g_assert_cmpuint(dma_fill(e, w + 0x3020, 8, 0x99), ==, RES_OK);
    assert_pattern(e, DATA + 0x8020, 8, 0x99, 0);
    assert_pattern(e, DATA + 0x20, 8, 0x77, 0);

    /* A new page size re-reads the same entries */
    pat_on(e, 0, TI_PAT_PAGE_16K);
    g_assert_cmpuint(dma_fill(e, w + 3 * 0x4000 + 0x3000, 8, 0x55), ==,
                     RES_OK);
    assert_pattern(e, DATA + 0xb000, 8, 0x55, 0);
    env_stop(e);
}

/* ---- decode errors ---- */

static void test_decode_pat_disabled(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;

    set_entry(e, 0, 0, DATA, true);
    mmrs_wr(e, 0, TI_PAT_CONTROL, TI_PAT_CONTROL_PAGE_SIZE(TI_PAT_PAGE_4K));
    assert_dma_refused(e, w + 0x10);
    qtest_writel(e->qts, w + 0x10, 0x12345678);
    g_assert_cmphex(qtest_readl(e->qts, w + 0x10), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, DATA + 0x10), ==, 0);

    /* On again: the same entry works */
    pat_on(e, 0, TI_PAT_PAGE_4K);
    g_assert_cmpuint(dma_fill(e, w + 0x10, 8, 0x31), ==, RES_OK);
    assert_pattern(e, DATA + 0x10, 8, 0x31, 0);
    mmrs_wr(e, 0, TI_PAT_CONTROL, 0);
    assert_dma_refused(e, w + 0x10);
    env_stop(e);
}

static void test_decode_entry_disabled(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;

    set_entry(e, 0, 0, DATA, true);
    set_entry(e, 0, 1, DATA + 0x1000, false);
    pat_on(e, 0, TI_PAT_PAGE_4K);
    assert_dma_refused(e, w + 0x1000);
    /* A burst that runs into the disabled page stops there */
    g_assert_cmpuint(dma_fill(e, w + 0xff8, 16, 0x40), ==,
                     RES_TRANSLATION_FAULT);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, w + 0x1000, 8);
    assert_pattern(e, DATA + 0xff8, 8, 0x40, 0);
    g_assert_cmphex(qtest_readq(e->qts, DATA + 0x1000), ==, 0);
    qtest_writel(e->qts, w + 0x1000, 0xffff);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x1000), ==, 0);

    /* Disabling an entry that worked refuses the next access */
    set_entry(e, 0, 0, DATA, false);
    assert_dma_refused(e, w);
    env_stop(e);
}

static void test_decode_past_table(void)
{
    Env *e = env_start("-device ti-pat,entries=16,window-size=0x4000000");
    uint64_t w = e->pat[0].window;

    set_entry(e, 0, 15, DATA, true);
    pat_on(e, 0, TI_PAT_PAGE_1M);
    g_assert_cmpuint(dma_fill(e, w + 15 * 0x100000 + 0xffff8, 8, 1), ==,
                     RES_OK);
    assert_pattern(e, DATA + 0xffff8, 8, 1, 0);
    assert_dma_refused(e, w + 16 * 0x100000);
    assert_dma_refused(e, w + TI_PAT_DEFAULT_WINDOW_SIZE - 8);
    g_assert_cmphex(qtest_readl(e->qts, w + 16 * 0x100000), ==, 0);
    /* Past the window, the address is not the PAT's at all */
    assert_dma_unassigned(e, w + TI_PAT_DEFAULT_WINDOW_SIZE);
    env_stop(e);
}

/* An entry that points into a window would loop: it is refused */
static void test_decode_into_window(void)
{
    Env *e = env_start("-device ti-pat -device ti-pat");
    uint64_t w0 = e->pat[0].window, w1 = e->pat[1].window;

    set_entry(e, 0, 0, w0 + 0x1000, true);
    set_entry(e, 0, 1, w1, true);
    set_entry(e, 1, 0, w0, true);
    set_entry(e, 0, 2, w0 + TI_PAT_DEFAULT_WINDOW_SIZE, true);
    pat_on(e, 0, TI_PAT_PAGE_4K);
    pat_on(e, 1, TI_PAT_PAGE_4K);
    assert_dma_refused(e, w0);
    assert_dma_refused(e, w0 + 0x1000);
    assert_dma_refused(e, w1);
    g_assert_cmphex(qtest_readl(e->qts, w0), ==, 0);
    /* Just past the window is unassigned, not a loop */
    assert_dma_unassigned(e, w0 + 0x2000);
    env_stop(e);
}

/* ---- instances, device tree ---- */

static void test_two_instances(void)
{
    Env *e = env_start("-device ti-pat,entries=512 "
                       "-device ti-pat,window-size=0x200000");
    uint64_t w0 = e->pat[0].window, w1 = e->pat[1].window;

    g_assert_cmpuint(mmrs_rd(e, 0, TI_PAT_CONFIG), ==, 512);
    g_assert_cmpuint(mmrs_rd(e, 1, TI_PAT_CONFIG), ==,
                     TI_PAT_DEFAULT_ENTRIES);
    set_entry(e, 0, 1, DATA + 0x10000, true);
    set_entry(e, 1, 1, DATA + 0x20000, true);
    pat_on(e, 0, TI_PAT_PAGE_64K);
    pat_on(e, 1, TI_PAT_PAGE_1M);
    g_assert_cmpuint(dma_fill(e, w0 + 0x10000, 8, 0x1000), ==, RES_OK);
    g_assert_cmpuint(dma_fill(e, w1 + 0x100000, 8, 0x2000), ==, RES_OK);
    assert_pattern(e, DATA + 0x10000, 8, 0x1000, 0);
    assert_pattern(e, DATA + 0x20000, 8, 0x2000, 0);
    /* Each has its own CONTROL */
    mmrs_wr(e, 0, TI_PAT_CONTROL, 0);
    assert_dma_refused(e, w0 + 0x10000);
    g_assert_cmpuint(dma_fill(e, w1 + 0x100008, 8, 0x3000), ==, RES_OK);
    assert_pattern(e, DATA + 0x20008, 8, 0x3000, 0);
    /* The 2 MiB window ends where it says */
    assert_dma_unassigned(e, w1 + 0x200000);
    env_stop(e);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* The DTB the machine left at the bottom of RAM, read through qtest */
static uint8_t *read_dtb(Env *e)
{
    uint8_t hdr[8];
    uint8_t *dtb;

    qtest_memread(e->qts, DTB_ADDR, hdr, sizeof(hdr));
    g_assert_cmphex(be32(hdr), ==, 0xd00dfeed);
    g_assert_cmpuint(be32(hdr + 4), <=, 1 * 1024 * 1024);
    dtb = g_malloc(be32(hdr + 4));
    qtest_memread(e->qts, DTB_ADDR, dtb, be32(hdr + 4));
    return dtb;
}

/*
 * Find property @prop of the node named @node directly under the root of
 * the flattened tree @dtb; returns its value and sets *@len, or NULL.
 */
static const uint8_t *dtb_prop(const uint8_t *dtb, const char *node,
                               const char *prop, uint32_t *len)
{
    const uint8_t *p = dtb + be32(dtb + 8);
    const char *strings = (const char *)dtb + be32(dtb + 12);
    int depth = 0;
    bool in_node = false;

    for (;;) {
        uint32_t tok = be32(p);

        p += 4;
        switch (tok) {
        case 1: {       /* FDT_BEGIN_NODE */
            const char *name = (const char *)p;

            depth++;
            if (depth == 2) {
                in_node = !strcmp(name, node);
            }
            p += ROUND_UP(strlen(name) + 1, 4);
            break;
        }
        case 2:         /* FDT_END_NODE */
            depth--;
            if (depth < 2) {
                in_node = false;
            }
            if (depth == 0) {
                return NULL;
            }
            break;
        case 3: {       /* FDT_PROP */
            uint32_t plen = be32(p), nameoff = be32(p + 4);

            if (in_node && depth == 2 && !strcmp(strings + nameoff, prop)) {
                *len = plen;
                return p + 8;
            }
            p += 8 + ROUND_UP(plen, 4);
            break;
        }
        case 4:         /* FDT_NOP */
            break;
        default:
            return NULL;
        }
    }
}

static void assert_pat_node(const uint8_t *dtb, const char *node,
                            const uint64_t reg[6])
{
    static const char names[] = "mmrs\0table\0window";
    const uint8_t *v;
    uint32_t len;

    v = dtb_prop(dtb, node, "compatible", &len);
    g_assert_nonnull(v);
    g_assert_cmpstr((const char *)v, ==, "ti,j721e-pat");
    g_assert_cmpuint(len, ==, sizeof("ti,j721e-pat"));
    v = dtb_prop(dtb, node, "reg-names", &len);
    g_assert_nonnull(v);
    g_assert_cmpmem(v, len, names, sizeof(names));
    v = dtb_prop(dtb, node, "reg", &len);
    g_assert_nonnull(v);
    g_assert_cmpuint(len, ==, 6 * 8);
    for (int i = 0; i < 6; i++) {
        g_assert_cmphex((uint64_t)be32(v + 8 * i) << 32 | be32(v + 8 * i + 4),
                        ==, reg[i]);
    }
    v = dtb_prop(dtb, node, "ti,pat-window-base", &len);
    g_assert_nonnull(v);
    g_assert_cmpuint(len, ==, 8);
    g_assert_cmphex((uint64_t)be32(v) << 32 | be32(v + 4), ==, reg[4]);
    v = dtb_prop(dtb, node, "ti,pat-window-size", &len);
    g_assert_nonnull(v);
    g_assert_cmpuint(len, ==, 8);
    g_assert_cmphex((uint64_t)be32(v) << 32 | be32(v + 4), ==, reg[5]);
}

static void test_dtb_nodes(void)
{
    Env *e = env_start("-device ti-pat "
                       "-device ti-pat,entries=1000,window-size=0x10000000 "
                       "-device ti-pat,mmrs-base=0x4f00000000,"
                       "table-base=0x4f00100000,window-base=0x5000000000,"
                       "window-size=0x100000,entries=256,table-size=0x2000");
    g_autofree uint8_t *dtb = read_dtb(e);
    const uint64_t reg0[6] = {
        TI_PAT_AUTO_MMRS(0), 0x100, TI_PAT_AUTO_TABLE(0), 0x40000,
        TI_PAT_AUTO_WINDOW(0), TI_PAT_DEFAULT_WINDOW_SIZE,
    };
    const uint64_t reg1[6] = {
        TI_PAT_AUTO_MMRS(1), 0x100, TI_PAT_AUTO_TABLE(1), 0x4000,
        TI_PAT_AUTO_WINDOW(1), 0x10000000,
    };
    const uint64_t reg2[6] = {
        0x4f00000000ull, 0x100, 0x4f00100000ull, 0x2000,
        0x5000000000ull, 0x100000,
    };
    uint32_t len;

    assert_pat_node(dtb, "pat@47f0000000", reg0);
    assert_pat_node(dtb, "pat@47f0010000", reg1);
    assert_pat_node(dtb, "pat@4f00000000", reg2);
    g_assert_null(dtb_prop(dtb, "pat@47f0020000", "compatible", &len));

    /* The third, placed by hand, translates where its node says */
    qtest_writel(e->qts, 0x4f00100000ull + 8, TI_PAT_ADDRL(DATA));
    qtest_writel(e->qts, 0x4f00100000ull + 12, TI_PAT_ADDRH_ENABLE);
    qtest_writel(e->qts, 0x4f00000000ull + TI_PAT_CONTROL,
                 TI_PAT_CONTROL_EN);
    qtest_writel(e->qts, 0x5000001010ull, 0xfeed);
    g_assert_cmphex(qtest_readl(e->qts, DATA + 0x10), ==, 0xfeed);
    env_stop(e);
}

/* Bad configurations stop QEMU with a message that says what is wrong */
static void test_config_errors(void)
{
    static const struct {
        const char *args;
        const char *msg;
    } cases[] = {
        /* What virt refuses: a region where something else is */
        { "-device ti-pat -device ti-pat,window-base=0x4800000000",
          "its window region [0x4800000000, +0x4000000) collides with "
          "ti-pat-window at 0x4800000000" },
        { "-device ti-pat,window-base=0x40000000",
          "collides with mach-virt.ram at 0x40000000" },
        { "-m 1G,slots=1,maxmem=2G -device ti-pat,window-base=0x80000000",
          "collides with the device memory region at 0x80000000" },
        { "-device ti-pat,mmrs-base=0x4000000000",
          "collides with virt's high I/O region at [0x4000000000, "
          "+0x4000000)" },
        { "-M secure=on -device ti-pat,table-base=0xe000000",
          "its table region [0xe000000, +0x40000) collides with "
          "virt.secure-ram at 0xe000000" },
        /* What the PAT refuses */
        { "-device ti-pat,mmrs-base=0x4800001000", "mmrs and window" },
        { "-device ti-pat,window-size=0x1800000", "" },
        { "-device ti-pat,window-size=0x7ff000",
          "window-size 0x7ff000 is not a multiple of 1 MiB" },
        { "-device ti-pat,entries=1000",
          "1000 entries of 4 KiB do not make a window of whole MiB" },
        { "-device ti-pat,entries=1000,window-size=0x400000", "" },
        { "-device ti-pat,entries=0", "entries must be 1 to 1048576" },
        { "-device ti-pat,entries=1048577", "entries must be 1 to 1048576" },
        { "-device ti-pat,entries=1024,table-size=0x1000",
          "need a table-size of at least 0x4000" },
        { "-device ti-pat,mmrs-size=0x10", "mmrs-size must be at least" },
        { "-device ti-pat,window-base=0xffffffff00000",
          "passes the 48-bit" },
        { "-device ti-pat,table-base=0x4900000800", "is not 4 KiB aligned" },
    };
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    /* QEMU renames a new file over the target: never /dev/null */
    g_autofree char *dtb = g_strdup_printf("%s/ti-pat-dtb-%d",
                                           g_get_tmp_dir(), getpid());

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *cmd = g_strdup_printf(
            "%s -M virt -accel qtest -nodefaults -display none "
            "-qtest null -S %s -machine dumpdtb=%s",
            qemu, cases[i].args, dtb);
        g_autofree char *out = NULL, *err = NULL;
        int status;

        g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status,
                                                NULL));
        if (!*cases[i].msg) {
            /* A valid one, for contrast: dumpdtb exits with success */
            g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            continue;
        }
        g_assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (!strstr(err, cases[i].msg)) {
            g_error("'%s': wanted '%s' in: %s", cases[i].args,
                    cases[i].msg, err);
        }
    }
    unlink(dtb);
}

/* ---- notifiers ---- */

typedef struct Rec {
    uint32_t type, perm;
    uint64_t iova, xlat, mask;
} Rec;

static Rec notify_rec(Env *e, uint32_t n)
{
    uint64_t at = NOTIFY_LOG + (n % NOTIFY_LOG_LEN) * NOTIFY_REC_SIZE;

    return (Rec) {
        .type = qvtd_rd(&e->td, at + NOTIFY_REC_TYPE),
        .perm = qvtd_rd(&e->td, at + NOTIFY_REC_TYPE + 4),
        .iova = qvtd_rd64(&e->td, at + NOTIFY_REC_IOVA),
        .xlat = qvtd_rd64(&e->td, at + NOTIFY_REC_XLAT),
        .mask = qvtd_rd64(&e->td, at + NOTIFY_REC_MASK),
    };
}

static void assert_rec(Env *e, uint32_t n, uint32_t type, uint64_t iova,
                       uint64_t xlat, uint64_t mask)
{
    Rec r = notify_rec(e, n);

    g_assert_cmpuint(r.type, ==, type);
    g_assert_cmphex(r.iova, ==, iova);
    g_assert_cmphex(r.mask, ==, mask);
    if (type == NOTIFY_MAP) {
        g_assert_cmphex(r.perm, ==, 3);
        g_assert_cmphex(r.xlat, ==, xlat);
    } else {
        g_assert_cmphex(r.perm, ==, 0);
    }
}

static void watch(Env *e, uint64_t addr, uint32_t len, uint32_t flags)
{
    qvtd_wr(&e->td, R_PATTERN, flags);
    g_assert_cmpuint(qvtd_run(&e->td, OP_WATCH, addr, len), ==, RES_OK);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 0);
}

static void test_notify_entry_change(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;
    uint64_t t = e->pat[0].table;

    pat_on(e, 0, TI_PAT_PAGE_4K);
    watch(e, w, 0, WATCH_MAP | WATCH_UNMAP);

    /* One 64-bit write: the old page goes, the new one comes */
    qtest_writeq(e->qts, t + TI_PAT_ENTRY_OFFSET(5),
                 (uint64_t)TI_PAT_ADDRH_ENABLE << 32 | TI_PAT_ADDRL(DATA));
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 2);
    assert_rec(e, 0, NOTIFY_UNMAP, w + 0x5000, 0, 0xfff);
    assert_rec(e, 1, NOTIFY_MAP, w + 0x5000, DATA, 0xfff);

    /* Re-pointed: UNMAP, MAP */
    qtest_writel(e->qts, t + TI_PAT_ENTRY_OFFSET(5),
                 TI_PAT_ADDRL(DATA + 0x7000));
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 4);
    assert_rec(e, 2, NOTIFY_UNMAP, w + 0x5000, 0, 0xfff);
    assert_rec(e, 3, NOTIFY_MAP, w + 0x5000, DATA + 0x7000, 0xfff);

    /* Disabled: UNMAP only; rewriting the same value: nothing */
    qtest_writel(e->qts, t + TI_PAT_ENTRY_OFFSET(5) + 4, 0);
    qtest_writel(e->qts, t + TI_PAT_ENTRY_OFFSET(5) + 4, 0);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 5);
    assert_rec(e, 4, NOTIFY_UNMAP, w + 0x5000, 0, 0xfff);

    /* A page outside the watched range says nothing to it */
    watch(e, w + 0x10000, 0x10000, WATCH_MAP | WATCH_UNMAP);
    set_entry(e, 0, 2, DATA, true);
    set_entry(e, 0, 0x10, DATA + 0x3000, true);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 3);
    assert_rec(e, 0, NOTIFY_UNMAP, w + 0x10000, 0, 0xfff);
    assert_rec(e, 2, NOTIFY_MAP, w + 0x10000, DATA + 0x3000, 0xfff);
    env_stop(e);
}

static void test_notify_control(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;

    set_entry(e, 0, 1, DATA + 0x20000, true);
    set_entry(e, 0, 2, DATA + 0x40000, false);
    watch(e, w, 0, WATCH_MAP | WATCH_UNMAP);
    /* While the PAT is off, entry writes tell nobody */
    set_entry(e, 0, 3, DATA + 0x30000, true);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 0);

    pat_on(e, 0, TI_PAT_PAGE_64K);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 2);
    assert_rec(e, 0, NOTIFY_MAP, w + 0x10000, DATA + 0x20000, 0xffff);
    assert_rec(e, 1, NOTIFY_MAP, w + 0x30000, DATA + 0x30000, 0xffff);

    /* A new page size: the whole window goes, the live pages come back */
    pat_on(e, 0, TI_PAT_PAGE_16K);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 5);
    assert_rec(e, 2, NOTIFY_UNMAP, w, 0, TI_PAT_DEFAULT_WINDOW_SIZE - 1);
    assert_rec(e, 3, NOTIFY_MAP, w + 0x4000, DATA + 0x20000, 0x3fff);
    assert_rec(e, 4, NOTIFY_MAP, w + 0xc000, DATA + 0x30000, 0x3fff);

    mmrs_wr(e, 0, TI_PAT_CONTROL, TI_PAT_CONTROL_PAGE_SIZE(TI_PAT_PAGE_16K));
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 6);
    assert_rec(e, 5, NOTIFY_UNMAP, w, 0, TI_PAT_DEFAULT_WINDOW_SIZE - 1);
    /* ARB_MODE changes no translation */
    mmrs_wr(e, 0, TI_PAT_CONTROL, TI_PAT_CONTROL_PAGE_SIZE(TI_PAT_PAGE_16K) |
            TI_PAT_CONTROL_ARB_MODE(2));
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 6);
    env_stop(e);
}

static void test_notify_replay(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;

    set_entry(e, 0, 1, DATA + 0x100000, true);
    set_entry(e, 0, 3, DATA + 0x204000, true);   /* only 16 KiB aligned */
    set_entry(e, 0, 4, DATA + 0x300000, false);
    set_entry(e, 0, 9, DATA + 0x400000, true);
    watch(e, w, 0, WATCH_MAP);

    /* Off: nothing is mapped */
    g_assert_cmpuint(qvtd_run(&e->td, OP_REPLAY, 0, 0), ==, RES_OK);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 0);

    pat_on(e, 0, TI_PAT_PAGE_64K);
    watch(e, w, 0x90000, WATCH_MAP);      /* pages 0 to 8 */
    g_assert_cmpuint(qvtd_run(&e->td, OP_REPLAY, 0, 0), ==, RES_OK);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 5);
    assert_rec(e, 0, NOTIFY_MAP, w + 0x10000, DATA + 0x100000, 0xffff);
    for (int i = 0; i < 4; i++) {
        assert_rec(e, 1 + i, NOTIFY_MAP, w + 0x30000 + i * 0x4000,
                   DATA + 0x204000 + i * 0x4000, 0x3fff);
    }

    /* A notifier that starts inside a page gets the rest of it */
    watch(e, w + 0x18000, 0x8000, WATCH_MAP);
    g_assert_cmpuint(qvtd_run(&e->td, OP_REPLAY, 0, 0), ==, RES_OK);
    g_assert_cmpuint(qvtd_rd(&e->td, R_NOTIFY_COUNT), ==, 1);
    assert_rec(e, 0, NOTIFY_MAP, w + 0x18000, DATA + 0x108000, 0x7fff);
    env_stop(e);
}

/* ---- reset, migration, hostile values ---- */

static void test_reset(void)
{
    Env *e = env_one();
    uint64_t w = e->pat[0].window;

    set_entry(e, 0, 0, DATA, true);
    pat_on(e, 0, TI_PAT_PAGE_1M);
    g_assert_cmpuint(dma_fill(e, w, 8, 1), ==, RES_OK);
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'system_reset' }");
    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_CONTROL), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, e->pat[0].table), ==, 0);
    g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_PID), ==, TI_PAT_PID_VALUE);
    /* Enabled again, the cleared entry refuses */
    qvtd_free(&e->td);
    qvtd_init(&e->td, &e->gbus.bus, DEV_DEVFN);
    pat_on(e, 0, TI_PAT_PAGE_1M);
    assert_dma_refused(e, w);
    env_stop(e);
}

static void test_migration(void)
{
    g_autofree char *path = g_strdup_printf("%s/ti-pat-mig-%d",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    const char *args = "-device ti-pat,entries=300,window-size=0x800000 "
                       "-device ti-pat";
    Env *e = env_start(args);
    uint64_t w0 = e->pat[0].window, w1 = e->pat[1].window;
    uint64_t bar = e->td.bar.addr;
    uint32_t control = TI_PAT_CONTROL_EN | TI_PAT_CONTROL_ARB_MODE(2) |
                       TI_PAT_CONTROL_PAGE_SIZE(TI_PAT_PAGE_16K);
    Env *d;

    set_entry(e, 0, 0, DATA + 0x8000, true);
    set_entry(e, 0, 299, DATA + 0x40000, true);
    set_entry(e, 0, 7, DATA + 0x50000, false);
    set_entry(e, 1, 2, DATA + 0x60000, true);
    mmrs_wr(e, 0, TI_PAT_CONTROL, control);
    pat_on(e, 1, TI_PAT_PAGE_4K);

    qvtd_migrate(e->qts, uri);
    env_stop(e);

    d = g_new0(Env, 1);
    d->qts = qtest_initf("-M virt -cpu max -m 512M -nodefaults "
                         "-device viommu-testdev,addr=4.0 %s -incoming %s",
                         args, uri);
    qvtd_wait_migration(d->qts);
    unlink(path);
    qpci_init_generic(&d->gbus, d->qts, NULL, false);
    d->td.dev = qpci_device_find(&d->gbus.bus, DEV_DEVFN);
    d->td.bar = (QPCIBar) { .addr = bar };
    for (int i = 0; i < 2; i++) {
        d->pat[i] = (Pat) {
            TI_PAT_AUTO_MMRS(i), TI_PAT_AUTO_TABLE(i), TI_PAT_AUTO_WINDOW(i)
        };
    }
    g_assert_cmphex(mmrs_rd(d, 0, TI_PAT_CONTROL), ==, control);
    g_assert_cmpuint(mmrs_rd(d, 0, TI_PAT_CONFIG), ==, 300);
    g_assert_cmphex(qtest_readq(d->qts, d->pat[0].table +
                                TI_PAT_ENTRY_OFFSET(7)), ==,
                    TI_PAT_ADDRL(DATA + 0x50000));
    g_assert_cmphex(qtest_readq(d->qts, d->pat[0].table +
                                TI_PAT_ENTRY_OFFSET(299)), ==,
                    (uint64_t)TI_PAT_ADDRH_ENABLE << 32 |
                    TI_PAT_ADDRL(DATA + 0x40000));
    g_assert_cmpuint(dma_fill(d, w0 + 0x3ff8, 8, 0xa0), ==, RES_OK);
    assert_pattern(d, DATA + 0x8000 + 0x3ff8, 8, 0xa0, 0);
    g_assert_cmpuint(dma_fill(d, w0 + 299 * 0x4000, 8, 0xb0), ==, RES_OK);
    assert_pattern(d, DATA + 0x40000, 8, 0xb0, 0);
    assert_dma_refused(d, w0 + 7 * 0x4000);
    assert_dma_refused(d, w0 + 300 * 0x4000);
    g_assert_cmpuint(dma_fill(d, w1 + 0x2010, 8, 0xc0), ==, RES_OK);
    assert_pattern(d, DATA + 0x60010, 8, 0xc0, 0);
    env_stop(d);
}

/*
 * Random values in every register and entry, then a DMA to every page of
 * the table: each lands where the entry it reads back says, or is refused
 * with a decode error.
 */
static void test_hostile_values(void)
{
    Env *e = env_start("-device ti-pat,entries=64,window-size=0x4000000");
    uint64_t w = e->pat[0].window, t = e->pat[0].table;
    GRand *r = g_rand_new_with_seed(0x7a7);

    for (int round = 0; round < 4; round++) {
        uint32_t control;

        for (int i = 0; i < 200; i++) {
            uint64_t off = g_rand_int_range(r, 0, 0x1000) & ~3;

            if (g_rand_boolean(r)) {
                qtest_writel(e->qts, t + off, g_rand_int(r));
            } else {
                qtest_writel(e->qts, e->pat[0].mmrs + (off & 0xff),
                             g_rand_int(r));
            }
        }
        control = mmrs_rd(e, 0, TI_PAT_CONTROL);
        g_assert_cmphex(control & ~0xf3u, ==, 0);
        g_assert_cmphex(mmrs_rd(e, 0, TI_PAT_PID), ==, TI_PAT_PID_VALUE);
        g_assert_cmpuint(mmrs_rd(e, 0, TI_PAT_CONFIG), ==, 64);

        /* Point every enabled entry at a page of RAM we can check */
        for (int i = 0; i < 64; i++) {
            uint32_t h = qtest_readl(e->qts, t + TI_PAT_ENTRY_OFFSET(i) + 4);

            g_assert_cmphex(h & 0x7ffffff0, ==, 0);
            if (i % 3 == 0) {
                set_entry(e, 0, i, DATA + i * 0x100000, h >> 31);
            }
        }
        control = mmrs_rd(e, 0, TI_PAT_CONTROL);
        for (int i = 0; i < 64; i++) {
            uint64_t ps = 1ull << page_shift[(control >> 4) & 3];
            uint64_t en = qtest_readq(e->qts, t + TI_PAT_ENTRY_OFFSET(i));
            uint64_t pa = (en & 0xffffffff) << 12 | ((en >> 32) & 0xf) << 44;
            bool ok = (control & 1) && (en >> 63) && i % 3 == 0;

            if (i * ps >= 0x4000000) {
                break;
            }
            if (ok) {
                g_assert_cmpuint(dma_fill(e, w + i * ps, 8, i * 16), ==,
                                 RES_OK);
                assert_pattern(e, pa, 8, i * 16, 0);
            } else if (!(control & 1) || !(en >> 63)) {
                assert_dma_refused(e, w + i * ps);
            } else {
                /* Somewhere random: whatever happens, it answers */
                dma_fill(e, w + i * ps, 8, 0);
            }
        }
    }
    g_rand_free(r);
    env_stop(e);
}

int main(int argc, char **argv)
{
    static const char *const ps_name[] = { "4k", "16k", "64k", "1m" };

    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/ti-pat/mmrs/reset-values", test_mmrs_reset_values);
    qtest_add_func("/ti-pat/mmrs/control-fields", test_mmrs_control_fields);
    qtest_add_func("/ti-pat/mmrs/access-rules", test_mmrs_access_rules);
    qtest_add_func("/ti-pat/table/layout", test_table_layout);
    for (unsigned i = 0; i < 4; i++) {
        g_autofree char *name = g_strdup_printf("/ti-pat/cpu/page-size/%s",
                                                ps_name[i]);

        qtest_add_data_func(name, GUINT_TO_POINTER(i), test_cpu_page_size);
    }
    qtest_add_func("/ti-pat/cpu/unaligned-output", test_cpu_unaligned_output);
    qtest_add_func("/ti-pat/cpu/page-crossing", test_cpu_page_crossing);
    qtest_add_func("/ti-pat/dma/write-read-across-pages",
                   test_dma_write_read);
    qtest_add_func("/ti-pat/dma/page-sizes", test_dma_page_sizes);
    qtest_add_func("/ti-pat/dma/secure-keeps-its-state", test_dma_secure);
    qtest_add_func("/ti-pat/remap", test_remap);
    qtest_add_func("/ti-pat/decode-error/pat-disabled",
                   test_decode_pat_disabled);
    qtest_add_func("/ti-pat/decode-error/entry-disabled",
                   test_decode_entry_disabled);
    qtest_add_func("/ti-pat/decode-error/past-table", test_decode_past_table);
    qtest_add_func("/ti-pat/decode-error/into-window",
                   test_decode_into_window);
    qtest_add_func("/ti-pat/two-instances", test_two_instances);
    qtest_add_func("/ti-pat/dtb", test_dtb_nodes);
    qtest_add_func("/ti-pat/config-errors", test_config_errors);
    qtest_add_func("/ti-pat/notify/entry-change", test_notify_entry_change);
    qtest_add_func("/ti-pat/notify/control", test_notify_control);
    qtest_add_func("/ti-pat/notify/replay", test_notify_replay);
    qtest_add_func("/ti-pat/reset", test_reset);
    qtest_add_func("/ti-pat/migration", test_migration);
    qtest_add_func("/ti-pat/hostile-values", test_hostile_values);
    return g_test_run();
}
