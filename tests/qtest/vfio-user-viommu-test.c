/*
 * qtests for device assignment behind the fork's vIOMMUs: QEMU's
 * vfio-user client (-device vfio-user-pci) serving the out-of-process
 * viommu-testdev (viommu-testdev-vfio-user) behind the SMMUv3, the TI PAT
 * and the sPAPR TCE IOMMU
 *
 * Each case starts the server itself and stops it at the end, asserting
 * that it exits cleanly.  The device speaks viommu-testdev's register
 * interface, so the libqos helpers drive it as they drive the in-QEMU
 * device; its DMA_PATH registers say whether each request went through
 * guest memory the client mapped or by DMA_READ/DMA_WRITE messages, and
 * its MAP_LOG window holds the DMA_MAP/DMA_UNMAP messages it received.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/wait.h>
#include "qemu/bswap.h"
#include "libqtest.h"
#include "libqos/pci.h"
#include "libqos/generic-pcihost.h"
#include "libqos/pci-spapr.h"
#include "libqos/malloc-spapr.h"
#include "libqos/smmuv3.h"
#include "libqos/spapr-hcall.h"
#include "libqos/ti-pat.h"
#include "libqos/viommu-testdev-pci.h"
#include "libqos/viommu-testdev-vfio-user.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"

/* ---- the machines ---- */

#define DEV_DEVFN       QPCI_DEVFN(4, 0)
/* The device's StreamID on virt's pcie.0 */
#define SID             DEV_DEVFN
/* A root port for hot-plug on virt, and the device behind it */
#define RP_DEVFN        QPCI_DEVFN(3, 0)
#define BEHIND_RP_DEVFN ((1 << 8) | QPCI_DEVFN(0, 0))

/* -M virt: guest memory */
#define VIRT_RAM_BASE   0x40000000ull
#define VIRT_RAM_SIZE   (512ull << 20)
#define STRTAB          (VIRT_RAM_BASE + 0x1000000)
#define STRTAB_LOG2     9
#define EVENTQ          (VIRT_RAM_BASE + 0x1010000)
#define EVENTQ_LOG2     4
#define CMDQ            (VIRT_RAM_BASE + 0x1020000)
#define CMDQ_LOG2       6
#define CD0             (VIRT_RAM_BASE + 0x1030000)
#define PT_POOL         (VIRT_RAM_BASE + 0x1100000)
#define PT_POOL2        (VIRT_RAM_BASE + 0x1800000)
#define PT_POOL_SIZE    0x400000ull
#define VIRT_DATA       (VIRT_RAM_BASE + 0x4000000)
/* Where nothing answers on virt (the flash at 0 takes writes) */
#define NOWHERE         0x700000000000ull
/* Nested: stage 2 puts RAM at IPA + NESTED_OFFSET */
#define NESTED_OFFSET   0x40000000ull
#define ASID            1
#define VMID            2

/* -M pseries: the default PHB, its windows, and guest memory */
#define BUID            0x800000020000000ull
#define LIOBN_DEFAULT   0x80000000u
#define LIOBN_DDW       0x80000001u
#define DDW_START       0x800000000000000ull
#define TCE_READ        1ull
#define TCE_WRITE       2ull
#define TCE_RW          (TCE_READ | TCE_WRITE)
#define PSERIES_DATA    0x30000000ull

#define RTAS_OUT_SUCCESS    0

typedef struct Env {
    QTestState *qts;
    QVfioUserServer srv;
    QGenericPCIBus gbus;
    QPCIBus *bus;
    QGuestAllocator alloc;      /* pseries */
    bool pseries;
    QViommuTestdev td;
    QSMMUv3 smmu;
    uint64_t hargs, hrets;      /* pseries: x-hcall arrays */
    uint64_t rargs, rrets;      /* pseries: RTAS arrays */
} Env;

/*
 * Guest RAM shared (memfd), so that the client can hand it to the server
 * with DMA_MAP: the device then reaches it directly
 */
#define SHARED_RAM(size) \
    "-object memory-backend-memfd,id=ram,size=" size ",share=on " \
    "-M memory-backend=ram "

typedef struct EnvOpts {
    const char *machine;        /* appended to -M virt or -M pseries */
    const char *server;         /* the server's options */
    const char *props;          /* the device's, as JSON members */
    const char *extra;          /* more of QEMU's command line */
    const char *mem;            /* pseries: -m (default 1G) */
    bool private_ram;           /* guest RAM the client cannot share */
    bool unplugged;             /* no device: the test plugs it */
} EnvOpts;

static Env *env_new(const EnvOpts *o, bool pseries)
{
    Env *e = g_new0(Env, 1);
    g_autofree char *dev = NULL;
    const char *ram_size = pseries ? "1G" : "512M";
    g_autofree char *ram = NULL;

    qvus_start(&e->srv, o->server);
    if (!o->unplugged) {
        dev = qvus_device(&e->srv, o->props ? o->props
                                              : "\"addr\":\"4.0\"");
    }
    if (!o->private_ram) {
        ram = g_strdup_printf("-object memory-backend-memfd,id=ram,size=%s,"
                              "share=on -M memory-backend=ram", ram_size);
    }
    e->pseries = pseries;
    if (pseries) {
        e->qts = qtest_initf("-M pseries%s -m %s -nodefaults %s %s %s",
                             o->machine ? o->machine : "",
                             o->mem ? o->mem : "1G", ram ? ram : "",
                             dev ? dev : "", o->extra ? o->extra : "");
        spapr_alloc_init(&e->alloc, e->qts, ALLOC_NO_FLAGS);
        e->bus = qpci_new_spapr(e->qts, &e->alloc);
        e->hargs = guest_alloc(&e->alloc, 32 * 8);
        e->hrets = guest_alloc(&e->alloc, 32 * 8);
        e->rargs = guest_alloc(&e->alloc, 16 * 4);
        e->rrets = guest_alloc(&e->alloc, 16 * 4);
    } else {
        e->qts = qtest_initf("-M virt%s -cpu max -m %s -nodefaults %s %s %s",
                             o->machine ? o->machine : "", ram_size,
                             ram ? ram : "", dev ? dev : "",
                             o->extra ? o->extra : "");
        qpci_init_generic(&e->gbus, e->qts, NULL, false);
        e->bus = &e->gbus.bus;
        qsmmu_init(&e->smmu, e->qts, QSMMU_VIRT_BASE);
    }
    if (!o->unplugged) {
        qvtd_init(&e->td, e->bus, DEV_DEVFN);
    }
    return e;
}

static Env *env_virt(const EnvOpts *o)
{
    return env_new(o, false);
}

static Env *env_pseries(const EnvOpts *o)
{
    return env_new(o, true);
}

static void env_stop(Env *e)
{
    qvtd_free(&e->td);
    if (e->pseries) {
        qpci_free_spapr(e->bus);
        alloc_destroy(&e->alloc);
    }
    qtest_quit(e->qts);
    qvus_stop(&e->srv);
    g_free(e);
}

/*
 * Plug the server's device now: on @bus (NULL: the machine's), at @addr
 * (or NULL), x-dma-messages @messages (or NULL)
 */
static QDict *env_plug(Env *e, const char *bus, const char *addr,
                       const char *messages)
{
    QDict *args = qdict_new();
    QDict *sock = qdict_new();

    qdict_put_str(sock, "type", "unix");
    qdict_put_str(sock, "path", e->srv.sock);
    qdict_put_str(args, "driver", "vfio-user-pci");
    qdict_put_str(args, "id", "vu");
    qdict_put(args, "socket", sock);
    if (bus) {
        qdict_put_str(args, "bus", bus);
    }
    if (addr) {
        qdict_put_str(args, "addr", addr);
    }
    if (messages) {
        qdict_put_str(args, "x-dma-messages", messages);
    }
    return qtest_qmp(e->qts, "{ 'execute': 'device_add', 'arguments': %p }",
                     args);
}

/*
 * The root port at RP_DEVFN as firmware and the guest's hot-plug driver
 * would leave it: bus 1 behind it, its memory window open over libqos's
 * BAR range, bus mastering on, its empty slot powered for a hot-plug
 */
static void env_open_root_port(Env *e)
{
    QPCIDevice *rp = qpci_device_find(e->bus, RP_DEVFN);
    uint8_t exp;
    uint16_t sltctl;

    g_assert(rp);
    exp = qpci_find_capability(rp, PCI_CAP_ID_EXP, 0);
    g_assert(exp);
    sltctl = qpci_config_readw(rp, exp + PCI_EXP_SLTCTL);
    sltctl &= ~(PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_PIC);
    qpci_config_writew(rp, exp + PCI_EXP_SLTCTL,
                       sltctl | PCI_EXP_SLTCTL_PWR_IND_ON);
    qpci_config_writeb(rp, PCI_PRIMARY_BUS, 0);
    qpci_config_writeb(rp, PCI_SECONDARY_BUS, 1);
    qpci_config_writeb(rp, PCI_SUBORDINATE_BUS, 1);
    qpci_config_writew(rp, PCI_MEMORY_BASE, 0x1000);
    qpci_config_writew(rp, PCI_MEMORY_LIMIT, 0x3ef0);
    qpci_config_writew(rp, PCI_COMMAND, PCI_COMMAND_MEMORY |
                       PCI_COMMAND_MASTER);
    g_free(rp);
}

/* Reset the machine; map the device's BAR again, as firmware would */
static void env_reset(Env *e, int devfn)
{
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'system_reset' }");
    qvtd_free(&e->td);
    qvtd_init(&e->td, e->bus, devfn);
}

/* QEMU still answers, and the machine still runs */
static void assert_qemu_runs(Env *e)
{
    QDict *rsp = qtest_qmp(e->qts, "{ 'execute': 'query-status' }");
    QDict *ret = qdict_get_qdict(rsp, "return");

    g_assert(ret);
    g_assert_cmpstr(qdict_get_str(ret, "status"), ==, "running");
    qobject_unref(rsp);
}

/* ---- outcomes ---- */

static uint32_t dma_path(Env *e)
{
    return qvtd_rd(&e->td, R_DMA_PATH) & 7;
}

static void assert_paths(Env *e, uint32_t last, uint32_t direct,
                         uint32_t message)
{
    g_assert_cmpuint(dma_path(e), ==, last);
    g_assert_cmpuint(qvtd_rd(&e->td, R_DIRECT_REQS), ==, direct);
    g_assert_cmpuint(qvtd_rd(&e->td, R_MESSAGE_REQS), ==, message);
}

/* The little-endian 32-bit word at guest-physical @pa, on any target */
static uint32_t mem_le32(Env *e, uint64_t pa)
{
    uint8_t b[4];

    qtest_memread(e->qts, pa, b, sizeof(b));
    return ldl_le_p(b);
}

/*
 * FILL 8 bytes at bus address @addr; assert they landed at guest-physical
 * @pa, and only there, in one request that took @path
 */
static void assert_fill_lands(Env *e, uint64_t addr, uint64_t pa,
                              uint32_t path)
{
    static uint32_t seed = 0x31323334;

    seed += 0x01010101;
    qtest_writeq(e->qts, pa - 8, 0);
    qtest_writeq(e->qts, pa, 0);
    qtest_writeq(e->qts, pa + 8, 0);
    qvtd_wr(&e->td, R_PATTERN, seed);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, addr, 8), ==, RES_OK);
    qvtd_assert_outcome(&e->td, 0, 0, 8);
    assert_paths(e, path, path == DMA_PATH_DIRECT,
                 path == DMA_PATH_MESSAGE);
    /* The pattern's words are little-endian */
    g_assert_cmphex(mem_le32(e, pa), ==, seed);
    g_assert_cmphex(mem_le32(e, pa + 4), ==, seed + 1);
    g_assert_cmphex(qtest_readq(e->qts, pa - 8), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, pa + 8), ==, 0);
}

/* FILL 8 bytes at @addr; assert the result and a decode error there */
static void assert_fill_refused(Env *e, uint64_t addr, uint32_t result,
                                uint32_t path)
{
    qvtd_wr(&e->td, R_PATTERN, 0x5a5a5a5a);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, addr, 8), ==, result);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, addr, 0);
    g_assert_cmpuint(dma_path(e), ==, path);
}

static uint32_t map_count(Env *e)
{
    return qvtd_rd(&e->td, R_MAP_LOG_COUNT);
}

static uint32_t dma_regions(Env *e)
{
    return qvtd_rd(&e->td, R_DMA_REGIONS);
}

typedef struct MapRec {
    uint32_t type, prot, err;
    uint64_t iova, size, offset;
} MapRec;

static MapRec map_rec(Env *e, unsigned n)
{
    uint64_t at = MAP_LOG + (n % MAP_LOG_LEN) * MAP_REC_SIZE;
    uint32_t w = qvtd_rd(&e->td, at + MAP_REC_TYPE);

    return (MapRec) {
        .type = MAP_REC_TYPE_OF(w),
        .prot = MAP_REC_PROT_OF(w),
        .err = MAP_REC_ERRNO_OF(w),
        .iova = qvtd_rd64(&e->td, at + MAP_REC_IOVA),
        .size = qvtd_rd64(&e->td, at + MAP_REC_SIZE_OF),
        .offset = qvtd_rd64(&e->td, at + MAP_REC_OFFSET),
    };
}

/* Record @n is a DMA_MAP or DMA_UNMAP of exactly this, accepted */
static void assert_map_rec(Env *e, unsigned n, uint32_t type, uint32_t prot,
                           uint64_t iova, uint64_t size)
{
    MapRec r = map_rec(e, n);

    g_assert_cmpuint(r.type, ==, type);
    g_assert_cmpuint(r.prot, ==, prot);
    g_assert_cmpuint(r.err, ==, 0);
    g_assert_cmphex(r.iova, ==, iova);
    g_assert_cmphex(r.size, ==, size);
}

/* ... a DMA_MAP with the guest memory file's offset @offset */
static void assert_map_fd(Env *e, unsigned n, uint32_t prot, uint64_t iova,
                          uint64_t size, uint64_t offset)
{
    assert_map_rec(e, n, MAP_REC_MAP_FD, prot, iova, size);
    g_assert_cmphex(map_rec(e, n).offset, ==, offset);
}

/*
 * Records @from .. @to - 1 are DMA_UNMAPs of exactly [@iova, @iova +
 * @size) (the PAT tells of every entry write as an UNMAP of the page's
 * old translation, mapped or not)
 */
static void assert_unmaps(Env *e, unsigned from, unsigned to, uint64_t iova,
                          uint64_t size)
{
    for (unsigned i = from; i < to; i++) {
        assert_map_rec(e, i, MAP_REC_UNMAP, 0, iova, size);
    }
}

/*
 * The regions records [0, @n) leave the server holding, by IOVA: what the
 * client announced for the device's address space as it was then.  What
 * shows through an address space the vIOMMU bypasses is the SMMU's to
 * choose (RAM alone, or with its IOMMU region in the holes of the
 * alias); tests of its switches compare against this, exactly.
 */
static GArray *live_regions(Env *e, unsigned n)
{
    GArray *live = g_array_new(false, false, sizeof(MapRec));

    g_assert_cmpuint(n, <=, MAP_LOG_LEN);
    for (unsigned i = 0; i < n; i++) {
        MapRec r = map_rec(e, i);
        unsigned j;

        g_assert_cmpuint(r.err, ==, 0);
        switch (r.type) {
        case MAP_REC_MAP_FD:
        case MAP_REC_MAP_MESSAGE:
            for (j = 0; j < live->len &&
                        g_array_index(live, MapRec, j).iova < r.iova; j++) {
                /* keep them sorted */
            }
            g_array_insert_val(live, j, r);
            break;
        case MAP_REC_UNMAP:
            for (j = 0; j < live->len; j++) {
                MapRec *l = &g_array_index(live, MapRec, j);

                if (l->iova == r.iova && l->size == r.size) {
                    break;
                }
            }
            g_assert_cmpuint(j, <, live->len);
            g_array_remove_index(live, j);
            break;
        case MAP_REC_UNMAP_ALL:
            g_array_set_size(live, 0);
            break;
        default:
            g_assert_not_reached();
        }
    }
    g_assert_cmpuint(dma_regions(e), ==, live->len);
    return live;
}

/* Guest RAM, whole, is among @live, mapped with the memory file */
static void assert_ram_mapped(GArray *live)
{
    for (unsigned i = 0; i < live->len; i++) {
        MapRec *l = &g_array_index(live, MapRec, i);

        if (l->iova == VIRT_RAM_BASE) {
            g_assert_cmpuint(l->type, ==, MAP_REC_MAP_FD);
            g_assert_cmpuint(l->prot, ==, MAP_PROT_RW);
            g_assert_cmphex(l->size, ==, VIRT_RAM_SIZE);
            g_assert_cmphex(l->offset, ==, 0);
            return;
        }
    }
    g_assert_not_reached();
}

/* Records @n.. withdraw each of @live, in order of IOVA */
static void assert_withdrawn(Env *e, unsigned n, GArray *live)
{
    for (unsigned i = 0; i < live->len; i++) {
        MapRec *l = &g_array_index(live, MapRec, i);

        assert_map_rec(e, n + i, MAP_REC_UNMAP, 0, l->iova, l->size);
    }
}

/*
 * Records @n.. withdraw @live and announce the IOMMU region, all of the
 * 64-bit space in halves, for DMA by messages
 */
static void assert_switched_to_iommu(Env *e, unsigned n, GArray *live)
{
    g_assert_cmpuint(map_count(e), ==, n + live->len + 2);
    assert_withdrawn(e, n, live);
    n += live->len;
    assert_map_rec(e, n, MAP_REC_MAP_MESSAGE, MAP_PROT_RW, 0, 1ull << 63);
    assert_map_rec(e, n + 1, MAP_REC_MAP_MESSAGE, MAP_PROT_RW, 1ull << 63,
                   1ull << 63);
    g_assert_cmpuint(dma_regions(e), ==, 2);
}

/* Record @n withdraws everything; those after it announce @live again */
static void assert_announced_again(Env *e, unsigned n, GArray *live)
{
    assert_map_rec(e, n, MAP_REC_UNMAP_ALL, 0, 0, 0);
    for (unsigned i = 0; i < live->len; i++) {
        MapRec *l = &g_array_index(live, MapRec, i);

        assert_map_rec(e, n + 1 + i, l->type, l->prot, l->iova, l->size);
        g_assert_cmphex(map_rec(e, n + 1 + i).offset, ==, l->offset);
    }
    g_assert_cmpuint(map_count(e), ==, n + 1 + live->len);
    g_assert_cmpuint(dma_regions(e), ==, live->len);
}

/* Nothing reached the server since record @n */
static void assert_no_map_since(Env *e, unsigned n)
{
    g_assert_cmpuint(map_count(e), ==, n);
}

/* ---- no vIOMMU ---- */

/*
 * Without an IOMMU the client maps guest RAM once, with the memfd: the
 * device writes it directly, at the guest-physical address
 */
static void test_none_direct(void)
{
    Env *e = env_virt(&(EnvOpts) { 0 });

    g_assert_cmpuint(dma_regions(e), ==, 1);
    g_assert_cmpuint(map_count(e), ==, 1);
    assert_map_fd(e, 0, MAP_PROT_RW, VIRT_RAM_BASE, VIRT_RAM_SIZE, 0);
    assert_fill_lands(e, VIRT_DATA + 0x18, VIRT_DATA + 0x18, DMA_PATH_DIRECT);
    /* Outside RAM: no DMA region, refused by the device itself */
    assert_fill_refused(e, NOWHERE, RES_TRANSLATION_FAULT, DMA_PATH_REFUSED);
    /* OP.ASYNC: the device's DMA thread, the same outcome */
    qvtd_wr(&e->td, R_PATTERN, 0x01020304);
    g_assert_cmpuint(qvtd_run_async(&e->td, OP_FILL, VIRT_DATA + 0x2000,
                                    0x2000), ==, RES_OK);
    qvtd_assert_outcome(&e->td, 0, 0, 0x2000);
    assert_paths(e, DMA_PATH_DIRECT, 2, 0);
    g_assert_cmphex(mem_le32(e, VIRT_DATA + 0x3ffc), ==, 0x01020304 + 0x7ff);
    env_stop(e);
}

/*
 * Guest RAM the client cannot share: it announces RAM without a file
 * descriptor, and every request goes by message, each a DMA_READ or
 * DMA_WRITE the client serves through the device's address space
 */
static void test_none_messages(void)
{
    Env *e = env_virt(&(EnvOpts) { .private_ram = true });

    g_assert_cmpuint(dma_regions(e), ==, 1);
    assert_map_rec(e, 0, MAP_REC_MAP_MESSAGE, MAP_PROT_RW, VIRT_RAM_BASE,
                   VIRT_RAM_SIZE);
    assert_fill_lands(e, VIRT_DATA + 0x18, VIRT_DATA + 0x18,
                      DMA_PATH_MESSAGE);
    /* Both ways, across a page: two requests, each a message */
    for (int i = 0; i < 32; i++) {
        qtest_writeb(e->qts, VIRT_DATA + 0x1ff0 + i, 0xa0 + i);
    }
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, VIRT_DATA + 0x1ff0, 32), ==,
                     RES_OK);
    qvtd_assert_outcome(&e->td, 0, 0, 32);
    assert_paths(e, DMA_PATH_MESSAGE, 0, 2);
    for (uint32_t i = 0; i < 32; i += 4) {
        g_assert_cmphex(qvtd_rd(&e->td, BUF_OFFSET + i), ==,
                        0xa3a2a1a0u + i * 0x01010101u);
    }
    g_assert_cmpuint(qvtd_run(&e->td, OP_WRITE, VIRT_DATA + 0x5ffc, 32), ==,
                     RES_OK);
    assert_paths(e, DMA_PATH_MESSAGE, 0, 2);
    for (int i = 0; i < 32; i++) {
        g_assert_cmphex(qtest_readb(e->qts, VIRT_DATA + 0x5ffc + i), ==,
                        0xa0 + i);
    }
    /* Messages from the device's DMA thread too, 16 pages of them */
    g_assert_cmpuint(qvtd_run_async(&e->td, OP_COMPARE, VIRT_DATA + 0x5ffc,
                                    32), ==, RES_MISMATCH);
    qvtd_wr(&e->td, R_PATTERN, 0x0a0b0c0d);
    g_assert_cmpuint(qvtd_run_async(&e->td, OP_FILL, VIRT_DATA + 0x10000,
                                    0x10000), ==, RES_OK);
    assert_paths(e, DMA_PATH_MESSAGE, 0, 16);
    g_assert_cmphex(mem_le32(e, VIRT_DATA + 0x1fffc), ==,
                    0x0a0b0c0d + 0x3fff);
    env_stop(e);
}

/*
 * With x-no-posted-writes=on the client waits for the doorbell write's
 * reply, holding the BQL, while the server, which answers in order,
 * needs the client to serve its DMA first: the waiting thread serves it
 * (it used to wait for the reply's timeout, and the write failed).  The
 * timeout is an hour, far past the suite's: a client that waited for it
 * could not pass.
 */
static void test_none_messages_non_posted(void)
{
    Env *e = env_virt(&(EnvOpts) {
        .private_ram = true,
        .props = "\"addr\":\"4.0\",\"x-no-posted-writes\":true,"
                 "\"x-msg-timeout\":3600000",
    });

    for (int i = 0; i < 4; i++) {
        assert_fill_lands(e, VIRT_DATA + i * 0x1000, VIRT_DATA + i * 0x1000,
                          DMA_PATH_MESSAGE);
    }
    env_stop(e);
}

/* ---- misbehaving servers ---- */

/*
 * A server that sends DMA_READ/DMA_WRITE outside every region it was
 * given gets an error, and nothing moves: the client serves it through
 * the device's address space, where nothing answers there
 */
static void test_misbehave_outside(void)
{
    Env *e = env_virt(&(EnvOpts) { .server = "--x-misbehave=outside",
                                   .private_ram = true });

    assert_fill_refused(e, NOWHERE, RES_TRANSLATION_FAULT, DMA_PATH_MESSAGE);
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, NOWHERE + 0x1000, 8), ==,
                     RES_TRANSLATION_FAULT);
    assert_fill_lands(e, VIRT_DATA, VIRT_DATA, DMA_PATH_MESSAGE);
    assert_qemu_runs(e);
    env_stop(e);
}

/* Counts of 2^40 bytes: refused (E2BIG), the connection stays up */
static void test_misbehave_huge(void)
{
    Env *e = env_virt(&(EnvOpts) { .server = "--x-misbehave=huge",
                                   .private_ram = true });

    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, VIRT_DATA, 8), ==,
                     RES_BUS_ERROR);
    qvtd_assert_outcome(&e->td, MEMTX_ERROR, VIRT_DATA, 0);
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, VIRT_DATA, 8), ==,
                     RES_BUS_ERROR);
    qvtd_assert_outcome(&e->td, MEMTX_ERROR, VIRT_DATA, 0);
    assert_paths(e, DMA_PATH_MESSAGE, 0, 1);
    assert_qemu_runs(e);
    env_stop(e);
}

/*
 * The server drops the connection in the middle of a DMA: the device is
 * gone (its registers read as all ones, at once), QEMU runs on.  "At
 * once" without a clock: the client would wait an hour for a reply it
 * thought still coming, far past the suite's timeout.
 */
static void test_misbehave_disconnect(void)
{
    Env *e = env_virt(&(EnvOpts) {
        .server = "--x-misbehave=disconnect", .private_ram = true,
        .props = "\"addr\":\"4.0\",\"x-msg-timeout\":3600000",
    });

    qvtd_wr64(&e->td, R_DMA_ADDR, VIRT_DATA);
    qvtd_wr(&e->td, R_LEN, 8);
    qvtd_wr(&e->td, R_OP, OP_FILL);
    qvtd_wr(&e->td, R_DOORBELL, 1);
    g_assert_cmphex(qvtd_rd(&e->td, R_STATUS), ==, UINT32_MAX);
    g_assert_cmphex(qvtd_rd(&e->td, R_ID), ==, UINT32_MAX);
    assert_qemu_runs(e);
    env_stop(e);
}

/* ---- SMMUv3 ---- */

/* Stream table, event and command queues, SMMU on */
static void smmu_enable(Env *e)
{
    qsmmu_setup_tables(&e->smmu, STRTAB, STRTAB_LOG2, EVENTQ, EVENTQ_LOG2);
    qsmmu_set_cr0(&e->smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);
    qsmmu_setup_cmdq(&e->smmu, CMDQ, CMDQ_LOG2);
}

static Env *env_smmu(const char *extra)
{
    Env *e = env_virt(&(EnvOpts) {
        .machine = ",iommu=smmuv3",
        .extra = extra ? extra : "-global arm-smmuv3.stage=nested",
    });

    smmu_enable(e);
    return e;
}

static uint32_t evtq_prod(Env *e)
{
    return qsmmu_readl(&e->smmu, SMMU_EVENTQ_PROD);
}

static void assert_event(Env *e, unsigned idx, uint64_t w0, uint64_t w1,
                         uint64_t w2, uint64_t w3)
{
    qsmmu_assert_event(&e->smmu, idx, w0, w1, w2, w3);
}

/* Event record word 1 */
#define EVT1_RNW            (1ull << 35)
#define EVT1_S2             (1ull << 39)
#define EVT1_CLASS_IN       (2ull << 40)

/*
 * The guest enables the SMMU with the device behind it, as any guest
 * kernel does.  The SMMU refuses MAP notifications; QEMU used to die
 * there ("vfio: DMA mapping failed, unable to continue").  It stays up,
 * and the device's DMA space becomes regions the client announces
 * without a file descriptor: all of it goes by message, through the SMMU.
 */
static void test_smmu_enable(void)
{
    Env *e = env_virt(&(EnvOpts) { .machine = ",iommu=smmuv3" });
    uint32_t n = map_count(e);
    g_autoptr(GArray) bypass = live_regions(e, n);

    assert_ram_mapped(bypass);
    assert_fill_lands(e, VIRT_DATA, VIRT_DATA, DMA_PATH_DIRECT);
    smmu_enable(e);
    /* The bypass alias's regions go, the IOMMU region comes */
    assert_switched_to_iommu(e, n, bypass);
    n += bypass->len;
    /* An STE that bypasses: the SMMU hands the address on unchanged */
    qsmmu_ste_bypass(&e->smmu, SID);
    assert_fill_lands(e, VIRT_DATA + 0x28, VIRT_DATA + 0x28,
                      DMA_PATH_MESSAGE);
    /* Off again: the bypass alias, its RAM mapped directly once more */
    qsmmu_set_cr0(&e->smmu, 0);
    assert_announced_again(e, n + 2, bypass);
    assert_fill_lands(e, VIRT_DATA + 0x38, VIRT_DATA + 0x38, DMA_PATH_DIRECT);
    assert_qemu_runs(e);
    env_stop(e);
}

/* Stage 1: a CD and a 4 KiB page table */
static void test_smmu_s1(void)
{
    Env *e = env_smmu(NULL);
    QSMMUPageTable pt;

    qsmmu_pt_init(&pt, e->qts, false, PT_POOL, PT_POOL_SIZE);
    qsmmu_pt_map(&pt, 0x10000000, VIRT_DATA + 0x5000, true);
    qsmmu_pt_map(&pt, 0x10001000, VIRT_DATA + 0x3000, true);
    qsmmu_cd_s1_4k(e->qts, CD0, pt.root, ASID);
    qsmmu_ste_s1(&e->smmu, SID, CD0);
    assert_fill_lands(e, 0x10000ff8, VIRT_DATA + 0x5ff8, DMA_PATH_MESSAGE);
    assert_fill_lands(e, 0x10001010, VIRT_DATA + 0x3010, DMA_PATH_MESSAGE);
    /* Across the two pages: each request a message, each translated */
    qtest_writeq(e->qts, VIRT_DATA + 0x5ff8, 0x1122334455667788ull);
    qtest_writeq(e->qts, VIRT_DATA + 0x3000, 0x99aabbccddeeff00ull);
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, 0x10000ff8, 16), ==, RES_OK);
    assert_paths(e, DMA_PATH_MESSAGE, 0, 2);
    g_assert_cmphex(qvtd_rd64(&e->td, BUF_OFFSET), ==, 0x1122334455667788ull);
    g_assert_cmphex(qvtd_rd64(&e->td, BUF_OFFSET + 8), ==,
                    0x99aabbccddeeff00ull);
    g_assert_cmphex(evtq_prod(e), ==, 0);

    /*
     * A page that translates to the device's own buffer: refused by its
     * re-entrancy guard, as the device in QEMU is, whichever thread of
     * QEMU serves the message
     */
    qsmmu_pt_map(&pt, 0x10009000, e->td.bar.addr + BUF_OFFSET, true);
    qvtd_wr(&e->td, R_PATTERN, 0x5a5a5a5a);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, 0x10009010, 8), ==,
                     RES_ACCESS_ERROR);
    qvtd_assert_outcome(&e->td, MEMTX_ACCESS_ERROR, 0x10009010, 0);
    g_assert_cmpuint(dma_path(e), ==, DMA_PATH_MESSAGE);
    g_assert_cmphex(qvtd_rd(&e->td, BUF_OFFSET + 0x10), !=, 0x5a5a5a5a);
    g_assert_cmpuint(qvtd_run_async(&e->td, OP_READ, 0x10009000, 8), ==,
                     RES_ACCESS_ERROR);
    env_stop(e);
}

/* Stage 2 only: IPA to PA */
static void test_smmu_s2(void)
{
    Env *e = env_smmu(NULL);
    QSMMUPageTable pt;

    qsmmu_pt_init(&pt, e->qts, true, PT_POOL, PT_POOL_SIZE);
    qsmmu_pt_map(&pt, 0x20000000, VIRT_DATA + 0x7000, true);
    qsmmu_ste_s2(&e->smmu, SID, pt.root, 44, VMID);
    assert_fill_lands(e, 0x20000100, VIRT_DATA + 0x7100, DMA_PATH_MESSAGE);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

static uint64_t nested_out(unsigned i, void *opaque)
{
    /* Page i of the IOVA range: an IPA that stage 2 takes to VIRT_DATA */
    return VIRT_DATA + NESTED_OFFSET + (7 - i) * 0x1000ull;
}

/* Stage 1 then stage 2, the CD and the stage-1 tables read at IPAs */
static void test_smmu_nested(void)
{
    Env *e = env_smmu(NULL);
    QSMMUPageTable s2;
    uint64_t root;

    qsmmu_pt_init(&s2, e->qts, true, PT_POOL2, PT_POOL_SIZE);
    qsmmu_pt_map_1g(&s2, VIRT_RAM_BASE + NESTED_OFFSET, VIRT_RAM_BASE);
    root = qsmmu_pt_build_linear(e->qts, false, PT_POOL, 0x80000000ull, 8,
                                 nested_out, NULL, NESTED_OFFSET);
    qsmmu_cd_s1_4k(e->qts, CD0, root, ASID);
    qsmmu_ste_nested(&e->smmu, SID, CD0 + NESTED_OFFSET, s2.root, 44, VMID);
    assert_fill_lands(e, 0x80000010, VIRT_DATA + 0x7010, DMA_PATH_MESSAGE);
    assert_fill_lands(e, 0x80006ff0, VIRT_DATA + 0x1ff0, DMA_PATH_MESSAGE);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/*
 * A translation fault and a permission fault: the device sees its
 * request refused, and the SMMU records exactly one event for it, with
 * the device's StreamID
 */
static void test_smmu_faults(void)
{
    Env *e = env_smmu(NULL);
    QSMMUPageTable pt;

    qsmmu_pt_init(&pt, e->qts, false, PT_POOL, PT_POOL_SIZE);
    qsmmu_pt_map(&pt, 0x10000000, VIRT_DATA, false);
    qsmmu_cd_s1_4k(e->qts, CD0, pt.root, ASID);
    qsmmu_ste_s1(&e->smmu, SID, CD0);

    /* No translation */
    assert_fill_refused(e, 0x10005008, RES_TRANSLATION_FAULT,
                        DMA_PATH_MESSAGE);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    assert_event(e, 0, SMMU_EVT_F_TRANSLATION | (uint64_t)SID << 32,
                 EVT1_CLASS_IN, 0x10005008, 0);
    /*
     * Read-only: reads pass, a write is refused.  The client cannot tell
     * the device which refusal it was (vfio-user carries an errno), so
     * the device says TRANSLATION_FAULT; the event says F_PERMISSION.
     */
    qtest_writeq(e->qts, VIRT_DATA, 0x0102030405060708ull);
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, 0x10000000, 8), ==, RES_OK);
    g_assert_cmphex(qvtd_rd64(&e->td, BUF_OFFSET), ==,
                    0x0102030405060708ull);
    assert_fill_refused(e, 0x10000010, RES_TRANSLATION_FAULT,
                        DMA_PATH_MESSAGE);
    g_assert_cmphex(qtest_readq(e->qts, VIRT_DATA + 0x10), ==, 0);
    g_assert_cmphex(evtq_prod(e), ==, 2);
    assert_event(e, 1, SMMU_EVT_F_PERMISSION | (uint64_t)SID << 32,
                 EVT1_CLASS_IN, 0x10000010, 0);
    /* A read fault of 4 KiB: one request, one event (RnW set) */
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, 0x10007000, 0x1000), ==,
                     RES_TRANSLATION_FAULT);
    g_assert_cmphex(evtq_prod(e), ==, 3);
    assert_event(e, 2, SMMU_EVT_F_TRANSLATION | (uint64_t)SID << 32,
                 EVT1_RNW | EVT1_CLASS_IN, 0x10007000, 0);
    env_stop(e);
}

/*
 * A mapping removed from the table and invalidated (TLBI, CMD_SYNC):
 * the device's next DMA at the old IOVA fails; nothing was cached for it
 */
static void test_smmu_tlbi(void)
{
    Env *e = env_smmu(NULL);
    QSMMUPageTable pt;
    uint64_t slot;

    qsmmu_pt_init(&pt, e->qts, false, PT_POOL, PT_POOL_SIZE);
    qsmmu_pt_map(&pt, 0x10002000, VIRT_DATA + 0x9000, true);
    qsmmu_cd_s1_4k(e->qts, CD0, pt.root, ASID);
    qsmmu_ste_s1(&e->smmu, SID, CD0);
    assert_fill_lands(e, 0x10002040, VIRT_DATA + 0x9040, DMA_PATH_MESSAGE);

    /* The level-3 descriptor: the last table the pool handed out */
    slot = pt.next - QSMMU_PAGE_SIZE + ((0x10002000ull >> 12) & 511) * 8;
    g_assert_cmphex(qtest_readq(e->qts, slot) & 0x0000fffffffff000ull, ==,
                    VIRT_DATA + 0x9000);
    qtest_writeq(e->qts, slot, 0);
    qsmmu_cmd(&e->smmu, SMMU_CMD_TLBI_NH_VA | ((uint64_t)ASID << 48),
              0x10002000);
    assert_fill_refused(e, 0x10002040, RES_TRANSLATION_FAULT,
                        DMA_PATH_MESSAGE);
    g_assert_cmphex(evtq_prod(e), ==, 1);
    assert_event(e, 0, SMMU_EVT_F_TRANSLATION | (uint64_t)SID << 32,
                 EVT1_CLASS_IN, 0x10002040, 0);
    env_stop(e);
}

/* STE bypass lets the address through; STE abort refuses, records none */
static void test_smmu_ste_bypass_abort(void)
{
    Env *e = env_smmu(NULL);
    const uint64_t abort[8] = { 1 /* V */ | 0 /* Config: abort */ };

    qsmmu_ste_bypass(&e->smmu, SID);
    assert_fill_lands(e, VIRT_DATA + 0x100, VIRT_DATA + 0x100,
                      DMA_PATH_MESSAGE);
    qsmmu_ste_raw(&e->smmu, SID, abort);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID << 32), 0);
    assert_fill_refused(e, VIRT_DATA + 0x100, RES_TRANSLATION_FAULT,
                        DMA_PATH_MESSAGE);
    g_assert_cmphex(evtq_prod(e), ==, 0);
    env_stop(e);
}

/*
 * Whatever the guest does to the SMMU, QEMU keeps running and the device
 * keeps working by the path each state allows: GBPA abort while the SMMU
 * is off, on, an STE changed under DMA from the device's own thread, off
 * again
 */
static void test_smmu_guest_toggles(void)
{
    Env *e = env_virt(&(EnvOpts) { .machine = ",iommu=smmuv3" });
    g_autoptr(GArray) bypass = live_regions(e, map_count(e));
    QSMMUPageTable pt;
    uint32_t before, n;
    gint64 deadline;

    /* SMMUEN clear, GBPA abort: the IOMMU region refuses everything */
    n = map_count(e);
    qsmmu_writel(&e->smmu, SMMU_GBPA, SMMU_GBPA_UPDATE | SMMU_GBPA_ABORT);
    assert_switched_to_iommu(e, n, bypass);
    assert_fill_refused(e, VIRT_DATA, RES_TRANSLATION_FAULT,
                        DMA_PATH_MESSAGE);
    qsmmu_writel(&e->smmu, SMMU_GBPA, SMMU_GBPA_UPDATE);
    assert_announced_again(e, n + bypass->len + 2, bypass);
    assert_fill_lands(e, VIRT_DATA, VIRT_DATA, DMA_PATH_DIRECT);

    /*
     * Stage 1 for 16 pages at an IOVA that, untranslated, nothing
     * answers (the PCI window at 0x10000000 holds the device's BAR)
     */
    smmu_enable(e);
    qsmmu_pt_init(&pt, e->qts, false, PT_POOL, PT_POOL_SIZE);
    for (int i = 0; i < 16; i++) {
        qsmmu_pt_map(&pt, NOWHERE + i * 0x1000ull,
                     VIRT_DATA + (15 - i) * 0x1000ull, true);
    }
    qsmmu_cd_s1_4k(e->qts, CD0, pt.root, ASID);
    qsmmu_ste_s1(&e->smmu, SID, CD0);
    qvtd_wr(&e->td, R_PATTERN, 0x44444444);
    g_assert_cmpuint(qvtd_run_async(&e->td, OP_FILL, NOWHERE, 0x10000),
                     ==, RES_OK);
    assert_paths(e, DMA_PATH_MESSAGE, 0, 16);
    g_assert_cmphex(mem_le32(e, VIRT_DATA + 0xf000), ==, 0x44444444);
    g_assert_cmphex(mem_le32(e, VIRT_DATA), ==, 0x44444444 + 15 * 1024);

    /*
     * The STE changed to bypass and invalidated while the thread DMAs:
     * the device's address space becomes the bypass alias again, and
     * RAM is mapped for direct DMA.  The SMMU reads the new STE at the
     * next request and switches to the alias in a bottom half after it,
     * so the switch may follow the DMA's end by a turn of the main loop
     */
    before = qvtd_rd(&e->td, R_COMPLETIONS);
    n = map_count(e);
    qvtd_start_async(&e->td, OP_FILL, NOWHERE, 0x10000);
    qsmmu_ste_bypass(&e->smmu, SID);
    qsmmu_cmd(&e->smmu, SMMU_CMD_CFGI_STE | ((uint64_t)SID << 32), 0);
    qvtd_wait_async(&e->td, before);
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (map_count(e) < n + 1 + bypass->len) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
    assert_announced_again(e, n, bypass);
    assert_fill_lands(e, VIRT_DATA + 0x40, VIRT_DATA + 0x40,
                      DMA_PATH_DIRECT);

    qsmmu_set_cr0(&e->smmu, 0);
    assert_fill_lands(e, VIRT_DATA + 0x48, VIRT_DATA + 0x48,
                      DMA_PATH_DIRECT);
    assert_qemu_runs(e);
    env_stop(e);
}

/* The child's stdin: the file @opaque names */
static void stdin_from(gpointer opaque)
{
    int fd = open(opaque, O_RDONLY);

    if (fd >= 0) {
        dup2(fd, 0);
        close(fd);
    }
}

/*
 * A device that needs mappings (x-dma-messages=off, as vfio-pci) behind
 * the SMMU is refused when it is plugged, naming the way out, not when
 * the guest enables the SMMU
 */
static void test_smmu_refused_without_messages(void)
{
    QVfioUserServer srv = { 0 };
    g_autofree char *json = NULL, *qmp = NULL;
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) gerr = NULL;
    const char *desc;
    QDict *rsp;
    Env *e;
    int status;

    /*
     * On the command line: QEMU does not start.  Had it taken the device
     * it would read these QMP commands and quit with status 0.
     */
    qvus_start(&srv, NULL);
    json = g_strdup_printf("{\"driver\":\"vfio-user-pci\",\"socket\":"
                           "{\"type\":\"unix\",\"path\":\"%s\"},"
                           "\"x-dma-messages\":\"off\"}", srv.sock);
    qmp = g_build_filename(srv.dir, "qmp", NULL);
    g_assert_true(g_file_set_contents(qmp, "{\"execute\": "
                                      "\"qmp_capabilities\"}\n"
                                      "{\"execute\": \"quit\"}\n", -1,
                                      NULL));
    {
        const char *argv[] = {
            g_getenv("QTEST_QEMU_BINARY"), "-M", "virt,iommu=smmuv3",
            "-cpu", "max", "-m", "256M", "-nodefaults", "-display", "none",
            "-S", "-qmp", "stdio", "-device", json, NULL,
        };

        g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, stdin_from,
                     qmp, &out, &err, &status, &gerr);
    }
    g_assert_no_error(gerr);
    unlink(qmp);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    g_assert_nonnull(strstr(err, "cannot notify new mappings"));
    g_assert_nonnull(strstr(err, "x-dma-messages=auto"));
    qvus_stop(&srv);

    /* Hot-plugged behind a root port: device_add fails, QEMU runs on */
    e = env_virt(&(EnvOpts) {
        .machine = ",iommu=smmuv3", .unplugged = true,
        .extra = "-device pcie-root-port,id=rp,chassis=1,addr=3.0",
    });
    env_open_root_port(e);
    rsp = env_plug(e, "rp", NULL, "off");
    g_assert(qdict_haskey(rsp, "error"));
    desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
    g_assert_nonnull(strstr(desc, "cannot notify new mappings"));
    g_assert_nonnull(strstr(desc, "x-dma-messages=auto"));
    qobject_unref(rsp);
    /* With messages (the default) the same plug succeeds */
    rsp = env_plug(e, "rp", NULL, NULL);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qvtd_init(&e->td, e->bus, BEHIND_RP_DEVFN);
    assert_fill_lands(e, VIRT_DATA, VIRT_DATA, DMA_PATH_DIRECT);
    smmu_enable(e);
    /* The StreamID of 01:00.0 */
    qsmmu_ste_bypass(&e->smmu, BEHIND_RP_DEVFN);
    assert_fill_lands(e, VIRT_DATA + 8, VIRT_DATA + 8, DMA_PATH_MESSAGE);
    assert_qemu_runs(e);
    env_stop(e);
}

/* ---- TI PAT ---- */

#define PAT_MMRS        TI_PAT_AUTO_MMRS(0)
#define PAT_TABLE       TI_PAT_AUTO_TABLE(0)
#define PAT_WINDOW      TI_PAT_AUTO_WINDOW(0)
#define PAT_WINDOW_SIZE TI_PAT_DEFAULT_WINDOW_SIZE

static const unsigned pat_page_shift[] = { 12, 14, 16, 20 };

static void pat_entry(Env *e, uint32_t i, uint64_t pa, bool enable)
{
    uint64_t at = PAT_TABLE + TI_PAT_ENTRY_OFFSET(i);

    qtest_writel(e->qts, at, TI_PAT_ADDRL(pa));
    qtest_writel(e->qts, at + 4,
                 TI_PAT_ADDRH(pa) | (enable ? TI_PAT_ADDRH_ENABLE : 0));
}

static void pat_control(Env *e, bool en, unsigned page_size)
{
    qtest_writel(e->qts, PAT_MMRS + TI_PAT_CONTROL,
                 (en ? TI_PAT_CONTROL_EN : 0) |
                 TI_PAT_CONTROL_PAGE_SIZE(page_size));
}

static Env *env_pat(const char *props, bool private_ram)
{
    return env_virt(&(EnvOpts) { .props = props, .private_ram = private_ram,
                                 .extra = "-device ti-pat" });
}

/*
 * An entry written with the PAT on reaches the server as a DMA_MAP of its
 * page, with the offset of its frame in guest memory; the device's DMA
 * at the window lands in that frame, directly.  Disabling the entry
 * unmaps the page, and the next DMA there is refused by the device.
 */
static void test_pat_map_unmap(void)
{
    Env *e = env_pat(NULL, false);
    uint32_t n = map_count(e);

    pat_control(e, true, TI_PAT_PAGE_4K);
    assert_no_map_since(e, n);
    /* Two 32-bit writes, ADDRL then ADDRH with ENABLE */
    pat_entry(e, 3, VIRT_DATA + 0x8000, true);
    g_assert_cmpuint(map_count(e), ==, n + 3);
    assert_unmaps(e, n, n + 2, PAT_WINDOW + 0x3000, 0x1000);
    assert_map_fd(e, n + 2, MAP_PROT_RW, PAT_WINDOW + 0x3000, 0x1000,
                  VIRT_DATA + 0x8000 - VIRT_RAM_BASE);
    g_assert_cmpuint(dma_regions(e), ==, 2);
    assert_fill_lands(e, PAT_WINDOW + 0x3ff0, VIRT_DATA + 0x8ff0,
                      DMA_PATH_DIRECT);

    /* Re-pointed: the old page goes, the new one comes */
    n = map_count(e);
    pat_entry(e, 3, VIRT_DATA + 0xa000, true);
    g_assert_cmpuint(dma_regions(e), ==, 2);
    g_assert_cmpuint(map_count(e), >=, n + 2);
    assert_unmaps(e, n, map_count(e) - 1, PAT_WINDOW + 0x3000, 0x1000);
    assert_map_fd(e, map_count(e) - 1, MAP_PROT_RW, PAT_WINDOW + 0x3000,
                  0x1000, VIRT_DATA + 0xa000 - VIRT_RAM_BASE);
    assert_fill_lands(e, PAT_WINDOW + 0x3010, VIRT_DATA + 0xa010,
                      DMA_PATH_DIRECT);

    /* Disabled: unmapped, and the device's next DMA there is refused */
    n = map_count(e);
    pat_entry(e, 3, VIRT_DATA + 0xa000, false);
    g_assert_cmpuint(map_count(e), >=, n + 1);
    assert_unmaps(e, n, map_count(e), PAT_WINDOW + 0x3000, 0x1000);
    g_assert_cmpuint(dma_regions(e), ==, 1);
    assert_fill_refused(e, PAT_WINDOW + 0x3010, RES_TRANSLATION_FAULT,
                        DMA_PATH_REFUSED);
    assert_qemu_runs(e);
    env_stop(e);
}

/* Each page size maps at its own size; CONTROL changes unmap and remap */
static void test_pat_page_sizes(void)
{
    Env *e = env_pat(NULL, false);
    uint32_t n;

    pat_entry(e, 1, VIRT_DATA + 0x100000, true);
    pat_entry(e, 2, VIRT_DATA + 0x200000, true);
    for (unsigned ps = 0; ps < ARRAY_SIZE(pat_page_shift); ps++) {
        uint64_t page = 1ull << pat_page_shift[ps];

        n = map_count(e);
        pat_control(e, true, ps);
        g_assert_cmpuint(map_count(e), ==, n + (ps ? 3 : 2));
        if (ps) {
            /* The old page size's mappings go, all at once */
            assert_map_rec(e, n++, MAP_REC_UNMAP, 0, PAT_WINDOW,
                           PAT_WINDOW_SIZE);
        }
        assert_map_fd(e, n, MAP_PROT_RW, PAT_WINDOW + page, page,
                      VIRT_DATA + 0x100000 - VIRT_RAM_BASE);
        assert_map_fd(e, n + 1, MAP_PROT_RW, PAT_WINDOW + 2 * page, page,
                      VIRT_DATA + 0x200000 - VIRT_RAM_BASE);
        g_assert_cmpuint(dma_regions(e), ==, 3);
        assert_fill_lands(e, PAT_WINDOW + 2 * page + page - 8,
                          VIRT_DATA + 0x200000 + page - 8, DMA_PATH_DIRECT);
    }
    /* PAT off: the window's mappings all go */
    n = map_count(e);
    pat_control(e, false, TI_PAT_PAGE_1M);
    g_assert_cmpuint(map_count(e), ==, n + 1);
    assert_map_rec(e, n, MAP_REC_UNMAP, 0, PAT_WINDOW, PAT_WINDOW_SIZE);
    g_assert_cmpuint(dma_regions(e), ==, 1);
    assert_fill_refused(e, PAT_WINDOW + 0x100000, RES_TRANSLATION_FAULT,
                        DMA_PATH_REFUSED);
    /* Machine reset turns it off too */
    pat_control(e, true, TI_PAT_PAGE_64K);
    g_assert_cmpuint(dma_regions(e), ==, 3);
    env_reset(e, DEV_DEVFN);
    g_assert_cmpuint(dma_regions(e), ==, 1);
    assert_qemu_runs(e);
    env_stop(e);
}

/*
 * A device plugged after the guest set entries receives the live ones by
 * replay, and no others
 */
static void test_pat_hotplug_replay(void)
{
    Env *e = env_virt(&(EnvOpts) {
        .unplugged = true,
        .extra = "-device ti-pat "
                 "-device pcie-root-port,id=rp,chassis=1,addr=3.0",
    });
    QDict *rsp;
    uint32_t n;

    env_open_root_port(e);
    pat_control(e, true, TI_PAT_PAGE_16K);
    pat_entry(e, 0, VIRT_DATA + 0x40000, true);
    pat_entry(e, 5, VIRT_DATA + 0x80000, true);
    pat_entry(e, 6, VIRT_DATA + 0xc0000, false);
    pat_entry(e, 700, VIRT_DATA + 0x100000, true);
    rsp = env_plug(e, "rp", NULL, NULL);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qvtd_init(&e->td, e->bus, BEHIND_RP_DEVFN);

    /* RAM, then the window's three live entries, in table order */
    n = map_count(e);
    g_assert_cmpuint(n, ==, 4);
    assert_map_fd(e, 0, MAP_PROT_RW, VIRT_RAM_BASE, VIRT_RAM_SIZE, 0);
    assert_map_fd(e, 1, MAP_PROT_RW, PAT_WINDOW, 0x4000,
                  VIRT_DATA + 0x40000 - VIRT_RAM_BASE);
    assert_map_fd(e, 2, MAP_PROT_RW, PAT_WINDOW + 5 * 0x4000, 0x4000,
                  VIRT_DATA + 0x80000 - VIRT_RAM_BASE);
    assert_map_fd(e, 3, MAP_PROT_RW, PAT_WINDOW + 700 * 0x4000, 0x4000,
                  VIRT_DATA + 0x100000 - VIRT_RAM_BASE);
    assert_fill_lands(e, PAT_WINDOW + 700 * 0x4000 + 0x3000,
                      VIRT_DATA + 0x103000, DMA_PATH_DIRECT);
    assert_fill_refused(e, PAT_WINDOW + 6 * 0x4000, RES_TRANSLATION_FAULT,
                        DMA_PATH_REFUSED);
    env_stop(e);
}

/*
 * x-dma-messages=on: the window is announced whole, without a file
 * descriptor, and the PAT translates each message when it arrives
 */
static void test_pat_messages(void)
{
    Env *e = env_pat("\"addr\":\"4.0\",\"x-dma-messages\":\"on\"", false);

    g_assert_cmpuint(dma_regions(e), ==, 2);
    assert_map_rec(e, 0, MAP_REC_MAP_MESSAGE, MAP_PROT_RW, VIRT_RAM_BASE,
                   VIRT_RAM_SIZE);
    assert_map_rec(e, 1, MAP_REC_MAP_MESSAGE, MAP_PROT_RW, PAT_WINDOW,
                   PAT_WINDOW_SIZE);
    pat_control(e, true, TI_PAT_PAGE_4K);
    pat_entry(e, 9, VIRT_DATA + 0x6000, true);
    g_assert_cmpuint(map_count(e), ==, 2);
    assert_fill_lands(e, PAT_WINDOW + 0x9abc, VIRT_DATA + 0x6abc,
                      DMA_PATH_MESSAGE);
    pat_entry(e, 9, VIRT_DATA + 0x6000, false);
    assert_fill_refused(e, PAT_WINDOW + 0x9abc, RES_TRANSLATION_FAULT,
                        DMA_PATH_MESSAGE);
    g_assert_cmpuint(map_count(e), ==, 2);
    env_stop(e);
}

/* ---- sPAPR TCE ---- */

static int64_t hcall(Env *e, uint64_t op, int n, const uint64_t *in)
{
    return qtest_spapr_hcall(e->qts, e->hargs, e->hrets, op, n, in, NULL,
                             0);
}

static void put_tce(Env *e, uint64_t liobn, uint64_t ioba, uint64_t tce)
{
    uint64_t in[] = { liobn, ioba, tce };

    g_assert_cmpint(hcall(e, H_PUT_TCE, 3, in), ==, H_SUCCESS);
}

static void stuff_tce(Env *e, uint32_t liobn, uint64_t ioba, uint64_t tce,
                      uint64_t npages)
{
    uint64_t in[] = { liobn, ioba, tce, npages };

    g_assert_cmpint(hcall(e, H_STUFF_TCE, 4, in), ==, H_SUCCESS);
}

static void put_tce_indirect(Env *e, uint32_t liobn, uint64_t ioba,
                             uint64_t list, uint64_t npages)
{
    uint64_t in[] = { liobn, ioba, list, npages };

    g_assert_cmpint(hcall(e, H_PUT_TCE_INDIRECT, 4, in), ==, H_SUCCESS);
}

static int32_t rtas(Env *e, const char *name, int n, const uint32_t *in,
                    int nret, uint32_t *out)
{
    for (int i = 0; i < n; i++) {
        qtest_writel(e->qts, e->rargs + 4 * i, in[i]);
    }
    g_assert_cmpuint(qtest_rtas_call(e->qts, name, n, e->rargs, nret,
                                     e->rrets), ==, 0);
    for (int i = 0; i < nret; i++) {
        out[i] = qtest_readl(e->qts, e->rrets + 4 * i);
    }
    return out[0];
}

static void ddw_create(Env *e, uint32_t page_shift, uint32_t window_shift)
{
    uint32_t in[] = { DEV_DEVFN << 8, BUID >> 32, (uint32_t)BUID,
                      page_shift, window_shift };
    uint32_t out[4];

    g_assert_cmpint(rtas(e, "ibm,create-pe-dma-window", 5, in, 4, out), ==,
                    RTAS_OUT_SUCCESS);
    g_assert_cmphex(out[1], ==, LIOBN_DDW);
    g_assert_cmphex(((uint64_t)out[2] << 32) | out[3], ==, DDW_START);
}

static void ddw_remove(Env *e, uint32_t liobn)
{
    uint32_t out;

    g_assert_cmpint(rtas(e, "ibm,remove-pe-dma-window", 1, &liobn, 1, &out),
                    ==, RTAS_OUT_SUCCESS);
}

static void ddw_reset(Env *e)
{
    uint32_t in[] = { DEV_DEVFN << 8, BUID >> 32, (uint32_t)BUID };
    uint32_t out;

    g_assert_cmpint(rtas(e, "ibm,reset-pe-dma-window", 3, in, 1, &out), ==,
                    RTAS_OUT_SUCCESS);
}

/*
 * The guest's TCEs reach the server one DMA_MAP per page, with the
 * page's guest-physical address as the file offset (pseries RAM starts
 * at 0) and the TCE's access (VFIO has no write-only mapping: a
 * write-only TCE maps read-write); clears unmap exactly those pages.  The
 * device's DMA lands in the TCE's page; after the unmap it is refused.
 * The machine's first reset, before any of this, used to abort QEMU
 * (vfio_eeh_as_container() on a vfio-user container).
 */
static void test_tce_map_unmap(void)
{
    Env *e = env_pseries(&(EnvOpts) { 0 });
    uint64_t list = guest_alloc(&e->alloc, 0x2000);
    uint32_t n;

    list = QEMU_ALIGN_UP(list, 0x1000);
    g_assert_cmpuint(dma_regions(e), ==, 0);
    n = map_count(e);
    put_tce(e, LIOBN_DEFAULT, 0x5000, (PSERIES_DATA + 0x3000) | TCE_RW);
    put_tce(e, LIOBN_DEFAULT, 0x6000, (PSERIES_DATA + 0x4000) | TCE_READ);
    put_tce(e, LIOBN_DEFAULT, 0x7000, (PSERIES_DATA + 0x1000) | TCE_WRITE);
    g_assert_cmpuint(map_count(e), ==, n + 3);
    assert_map_fd(e, n, MAP_PROT_RW, 0x5000, 0x1000, PSERIES_DATA + 0x3000);
    assert_map_fd(e, n + 1, MAP_PROT_R, 0x6000, 0x1000,
                  PSERIES_DATA + 0x4000);
    assert_map_fd(e, n + 2, MAP_PROT_RW, 0x7000, 0x1000,
                  PSERIES_DATA + 0x1000);
    assert_fill_lands(e, 0x5ff8, PSERIES_DATA + 0x3ff8, DMA_PATH_DIRECT);
    /* The read-only page: the device itself refuses the write */
    assert_fill_refused(e, 0x6000, RES_PERMISSION_FAULT, DMA_PATH_REFUSED);

    /* H_PUT_TCE_INDIRECT: one DMA_MAP per TCE */
    for (int i = 0; i < 4; i++) {
        qtest_writeq(e->qts, list + 8 * i,
                     (PSERIES_DATA + 0x10000 + i * 0x1000) | TCE_RW);
    }
    n = map_count(e);
    put_tce_indirect(e, LIOBN_DEFAULT, 0x100000, list, 4);
    g_assert_cmpuint(map_count(e), ==, n + 4);
    for (int i = 0; i < 4; i++) {
        assert_map_fd(e, n + i, MAP_PROT_RW, 0x100000 + i * 0x1000, 0x1000,
                      PSERIES_DATA + 0x10000 + i * 0x1000);
    }
    assert_fill_lands(e, 0x102010, PSERIES_DATA + 0x12010, DMA_PATH_DIRECT);
    g_assert_cmpuint(dma_regions(e), ==, 7);

    /* H_STUFF_TCE clearing: an unmap per TCE that was set */
    n = map_count(e);
    stuff_tce(e, LIOBN_DEFAULT, 0x101000, 0, 2);
    g_assert_cmpuint(map_count(e), ==, n + 2);
    assert_map_rec(e, n, MAP_REC_UNMAP, 0, 0x101000, 0x1000);
    assert_map_rec(e, n + 1, MAP_REC_UNMAP, 0, 0x102000, 0x1000);
    assert_fill_refused(e, 0x102010, RES_TRANSLATION_FAULT,
                        DMA_PATH_REFUSED);
    /* H_PUT_TCE clearing */
    put_tce(e, LIOBN_DEFAULT, 0x5000, 0);
    assert_map_rec(e, n + 2, MAP_REC_UNMAP, 0, 0x5000, 0x1000);
    assert_fill_refused(e, 0x5ff8, RES_TRANSLATION_FAULT, DMA_PATH_REFUSED);
    g_assert_cmpuint(dma_regions(e), ==, 4);
    assert_qemu_runs(e);
    env_stop(e);
}

/*
 * A DDW of 64 KiB TCEs maps at 64 KiB; removing it, resetting the PE's
 * windows and resetting the machine unmap what they take away
 */
static void test_tce_ddw_windows(void)
{
    Env *e = env_pseries(&(EnvOpts) { 0 });
    uint32_t n;

    ddw_create(e, 16, 30);
    n = map_count(e);
    put_tce(e, LIOBN_DDW, DDW_START + 0x30000, (PSERIES_DATA + 0x70000) |
            TCE_RW);
    put_tce(e, LIOBN_DDW, DDW_START + 0x50000, (PSERIES_DATA + 0x90000) |
            TCE_READ);
    assert_map_fd(e, n, MAP_PROT_RW, DDW_START + 0x30000, 0x10000,
                  PSERIES_DATA + 0x70000);
    assert_map_fd(e, n + 1, MAP_PROT_R, DDW_START + 0x50000, 0x10000,
                  PSERIES_DATA + 0x90000);
    assert_fill_lands(e, DDW_START + 0x3fff0, PSERIES_DATA + 0x7fff0,
                      DMA_PATH_DIRECT);
    put_tce(e, LIOBN_DEFAULT, 0x2000, PSERIES_DATA | TCE_RW);
    g_assert_cmpuint(dma_regions(e), ==, 3);

    /* The DDW removed: its pages go, the default window's stays */
    n = map_count(e);
    ddw_remove(e, LIOBN_DDW);
    g_assert_cmpuint(dma_regions(e), ==, 1);
    g_assert_cmpuint(map_count(e), ==, n + 1);
    assert_map_rec(e, n, MAP_REC_UNMAP, 0, DDW_START, 1ull << 30);
    assert_fill_refused(e, DDW_START + 0x30000, RES_TRANSLATION_FAULT,
                        DMA_PATH_REFUSED);
    assert_fill_lands(e, 0x2100, PSERIES_DATA + 0x100, DMA_PATH_DIRECT);

    /* ibm,reset-pe-dma-window: the default window comes back empty */
    ddw_create(e, 16, 30);
    put_tce(e, LIOBN_DDW, DDW_START, (PSERIES_DATA + 0x20000) | TCE_RW);
    g_assert_cmpuint(dma_regions(e), ==, 2);
    ddw_reset(e);
    g_assert_cmpuint(dma_regions(e), ==, 0);
    assert_fill_refused(e, 0x2100, RES_TRANSLATION_FAULT, DMA_PATH_REFUSED);

    /* Machine reset */
    put_tce(e, LIOBN_DEFAULT, 0x3000, PSERIES_DATA | TCE_RW);
    ddw_create(e, 16, 30);
    put_tce(e, LIOBN_DDW, DDW_START, (PSERIES_DATA + 0x20000) | TCE_RW);
    g_assert_cmpuint(dma_regions(e), ==, 2);
    env_reset(e, DEV_DEVFN);
    g_assert_cmpuint(dma_regions(e), ==, 0);
    assert_qemu_runs(e);
    env_stop(e);
}

static int map_rec_cmp(gconstpointer a, gconstpointer b)
{
    const MapRec *x = a, *y = b;

    return x->iova < y->iova ? -1 : x->iova > y->iova;
}

/*
 * A device plugged after the guest set TCEs receives exactly the live
 * ones by replay: in the default window, and in a sparse 1 TiB DDW,
 * where only the TCEs that are set are walked
 */
static void test_tce_hotplug_replay(void)
{
    Env *e = env_pseries(&(EnvOpts) {
        .unplugged = true,
        .mem = "1G,slots=1,maxmem=64G",
    });
    static const uint64_t ddw_pages[] = {
        0, 0x1000000, 0x7654320000ull, 0xffffff0000ull,
    };
    g_autoptr(GArray) recs = g_array_new(false, false, sizeof(MapRec));
    QDict *rsp;
    unsigned n;

    /* The default window and a 1 TiB DDW of 64 KiB TCEs, both sparse */
    ddw_create(e, 16, 40);
    put_tce(e, LIOBN_DEFAULT, 0x9000, (PSERIES_DATA + 0x9000) | TCE_READ);
    put_tce(e, LIOBN_DEFAULT, 0xa000, (PSERIES_DATA + 0xa000) | TCE_RW);
    put_tce(e, LIOBN_DEFAULT, 0xa000, 0);
    for (int i = 0; i < ARRAY_SIZE(ddw_pages); i++) {
        put_tce(e, LIOBN_DDW, DDW_START + ddw_pages[i],
                (PSERIES_DATA + 0x100000 + i * 0x10000) | TCE_RW);
    }
    rsp = env_plug(e, NULL, "4.0", NULL);
    g_assert(!qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qvtd_init(&e->td, e->bus, DEV_DEVFN);

    n = map_count(e);
    g_assert_cmpuint(n, ==, 1 + ARRAY_SIZE(ddw_pages));
    g_assert_cmpuint(dma_regions(e), ==, n);
    for (unsigned i = 0; i < n; i++) {
        MapRec r = map_rec(e, i);

        g_assert_cmpuint(r.type, ==, MAP_REC_MAP_FD);
        g_array_append_val(recs, r);
    }
    g_array_sort(recs, map_rec_cmp);
    g_assert_cmphex(g_array_index(recs, MapRec, 0).iova, ==, 0x9000);
    g_assert_cmphex(g_array_index(recs, MapRec, 0).size, ==, 0x1000);
    g_assert_cmphex(g_array_index(recs, MapRec, 0).prot, ==, MAP_PROT_R);
    g_assert_cmphex(g_array_index(recs, MapRec, 0).offset, ==,
                    PSERIES_DATA + 0x9000);
    for (int i = 0; i < ARRAY_SIZE(ddw_pages); i++) {
        MapRec *r = &g_array_index(recs, MapRec, i + 1);

        g_assert_cmphex(r->iova, ==, DDW_START + ddw_pages[i]);
        g_assert_cmphex(r->size, ==, 0x10000);
        g_assert_cmphex(r->prot, ==, MAP_PROT_RW);
        g_assert_cmphex(r->offset, ==, PSERIES_DATA + 0x100000 + i * 0x10000);
    }
    assert_fill_lands(e, DDW_START + 0x7654321000ull,
                      PSERIES_DATA + 0x121000, DMA_PATH_DIRECT);
    env_stop(e);
}

/*
 * x-dma-messages=on: the windows are announced whole, and the TCE table
 * translates each message when it arrives; a cleared TCE refuses the
 * next one at once
 */
static void test_tce_messages(void)
{
    Env *e = env_pseries(&(EnvOpts) {
        .props = "\"addr\":\"4.0\",\"x-dma-messages\":\"on\"",
    });

    g_assert_cmpuint(dma_regions(e), ==, 1);
    assert_map_rec(e, 0, MAP_REC_MAP_MESSAGE, MAP_PROT_RW, 0, 0x40000000);
    put_tce(e, LIOBN_DEFAULT, 0x8000, (PSERIES_DATA + 0x2000) | TCE_RW);
    assert_fill_lands(e, 0x8018, PSERIES_DATA + 0x2018, DMA_PATH_MESSAGE);
    put_tce(e, LIOBN_DEFAULT, 0x8000, 0);
    assert_fill_refused(e, 0x8018, RES_TRANSLATION_FAULT, DMA_PATH_MESSAGE);
    g_assert_cmpuint(map_count(e), ==, 1);
    env_stop(e);
}

/* EEH on the PHB's PE (bus 0's), through its RTAS calls */
#define PE_ADDR             1
#define EEH_ENABLE          1
#define EEH_THAW_IO         2
#define EEH_THAW_DMA        3
#define PE_NORMAL           0
#define PE_STOPPED_IO_DMA   2
#define PE_STOPPED_DMA      4

static void eeh_option(Env *e, uint32_t option)
{
    uint32_t in[] = { PE_ADDR, BUID >> 32, (uint32_t)BUID, option }, out;

    g_assert_cmpint(rtas(e, "ibm,set-eeh-option", 4, in, 1, &out), ==,
                    RTAS_OUT_SUCCESS);
}

static uint32_t pe_state(Env *e)
{
    uint32_t in[] = { PE_ADDR, BUID >> 32, (uint32_t)BUID }, out[5];

    g_assert_cmpint(rtas(e, "ibm,read-slot-reset-state2", 3, in, 5, out),
                    ==, RTAS_OUT_SUCCESS);
    return out[1];
}

/*
 * With EEH on, the PHB freezes the PE when the TCEs refuse one of the
 * device's requests, as it does for a device in QEMU: by message the
 * request reaches the PHB; mapped, the device refuses it itself and the
 * PE stays up
 */
static void test_tce_eeh(void)
{
    Env *e = env_pseries(&(EnvOpts) {
        .props = "\"addr\":\"4.0\",\"x-dma-messages\":\"on\"",
        .extra = "-global spapr-pci-host-bridge.eeh=on",
    });
    gint64 deadline;

    eeh_option(e, EEH_ENABLE);
    put_tce(e, LIOBN_DEFAULT, 0x1000, PSERIES_DATA | TCE_RW);
    assert_fill_lands(e, 0x1008, PSERIES_DATA + 8, DMA_PATH_MESSAGE);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);

    /*
     * No TCE at 0x9000.  The doorbell is a posted write: the message
     * reaches the PHB soon after it, and MMIO then reads all ones
     */
    qvtd_wr(&e->td, R_PATTERN, 0x11111111);
    qvtd_wr64(&e->td, R_DMA_ADDR, 0x9000);
    qvtd_wr(&e->td, R_LEN, 8);
    qvtd_wr(&e->td, R_OP, OP_FILL);
    qvtd_wr(&e->td, R_DOORBELL, 1);
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (pe_state(e) != PE_STOPPED_IO_DMA) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
    g_assert_cmphex(qvtd_rd(&e->td, R_STATUS), ==, UINT32_MAX);
    eeh_option(e, EEH_THAW_IO);
    g_assert_cmpuint(pe_state(e), ==, PE_STOPPED_DMA);
    g_assert_cmpuint(STATUS_RESULT(qvtd_rd(&e->td, R_STATUS)), ==,
                     RES_TRANSLATION_FAULT);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, 0x9000, 0);
    g_assert_cmpuint(dma_path(e), ==, DMA_PATH_MESSAGE);
    eeh_option(e, EEH_THAW_DMA);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);
    assert_fill_lands(e, 0x1010, PSERIES_DATA + 0x10, DMA_PATH_MESSAGE);
    env_stop(e);

    /* Mapped: refused by the device, the PE stays up */
    e = env_pseries(&(EnvOpts) {
        .extra = "-global spapr-pci-host-bridge.eeh=on",
    });
    eeh_option(e, EEH_ENABLE);
    assert_fill_refused(e, 0x9000, RES_TRANSLATION_FAULT, DMA_PATH_REFUSED);
    g_assert_cmpuint(pe_state(e), ==, PE_NORMAL);
    env_stop(e);
}

/*
 * The server killed while the guest maps: the TCE hypercalls still
 * succeed, the client reports the failed DMA_MAP and QEMU runs on
 */
static void test_tce_server_killed(void)
{
    Env *e = env_pseries(&(EnvOpts) { 0 });

    put_tce(e, LIOBN_DEFAULT, 0x1000, PSERIES_DATA | TCE_RW);
    assert_fill_lands(e, 0x1008, PSERIES_DATA + 8, DMA_PATH_DIRECT);
    qvus_kill(&e->srv);
    put_tce(e, LIOBN_DEFAULT, 0x2000, PSERIES_DATA | TCE_RW);
    put_tce(e, LIOBN_DEFAULT, 0x1000, 0);
    ddw_create(e, 16, 30);
    /* The device is gone: its registers read as all ones */
    g_assert_cmphex(qvtd_rd(&e->td, R_ID), ==, UINT32_MAX);
    qtest_qmp_assert_success(e->qts, "{ 'execute': 'system_reset' }");
    assert_qemu_runs(e);
    env_stop(e);
}

int main(int argc, char **argv)
{
    const char *arch = qtest_get_arch();

    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("vfio-user-pci")) {
        g_test_skip("QEMU has no vfio-user-pci");
        return g_test_run();
    }
    if (g_str_equal(arch, "aarch64")) {
        qtest_add_func("/vfio-user/none/direct", test_none_direct);
        qtest_add_func("/vfio-user/none/messages", test_none_messages);
        qtest_add_func("/vfio-user/none/messages-non-posted",
                       test_none_messages_non_posted);
        qtest_add_func("/vfio-user/misbehaving/outside",
                       test_misbehave_outside);
        qtest_add_func("/vfio-user/misbehaving/huge", test_misbehave_huge);
        qtest_add_func("/vfio-user/misbehaving/disconnect",
                       test_misbehave_disconnect);
        qtest_add_func("/vfio-user/smmuv3/enable", test_smmu_enable);
        qtest_add_func("/vfio-user/smmuv3/s1", test_smmu_s1);
        qtest_add_func("/vfio-user/smmuv3/s2", test_smmu_s2);
        qtest_add_func("/vfio-user/smmuv3/nested", test_smmu_nested);
        qtest_add_func("/vfio-user/smmuv3/faults", test_smmu_faults);
        qtest_add_func("/vfio-user/smmuv3/tlbi", test_smmu_tlbi);
        qtest_add_func("/vfio-user/smmuv3/ste-bypass-abort",
                       test_smmu_ste_bypass_abort);
        qtest_add_func("/vfio-user/smmuv3/guest-toggles",
                       test_smmu_guest_toggles);
        qtest_add_func("/vfio-user/smmuv3/refused-without-messages",
                       test_smmu_refused_without_messages);
        qtest_add_func("/vfio-user/ti-pat/map-unmap", test_pat_map_unmap);
        qtest_add_func("/vfio-user/ti-pat/page-sizes", test_pat_page_sizes);
        qtest_add_func("/vfio-user/ti-pat/hotplug-replay",
                       test_pat_hotplug_replay);
        qtest_add_func("/vfio-user/ti-pat/messages", test_pat_messages);
    } else if (g_str_equal(arch, "ppc64")) {
        qtest_add_func("/vfio-user/tce/map-unmap", test_tce_map_unmap);
        qtest_add_func("/vfio-user/tce/ddw-windows", test_tce_ddw_windows);
        qtest_add_func("/vfio-user/tce/hotplug-replay",
                       test_tce_hotplug_replay);
        qtest_add_func("/vfio-user/tce/messages", test_tce_messages);
        qtest_add_func("/vfio-user/tce/eeh", test_tce_eeh);
        qtest_add_func("/vfio-user/tce/server-killed",
                       test_tce_server_killed);
    }
    return g_test_run();
}
