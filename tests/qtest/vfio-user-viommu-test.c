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
#include <sys/prctl.h>
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
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"

/* ---- the server ---- */

typedef struct Server {
    GPid pid;
    char *dir;
    char *sock;
    char *pidfile;
} Server;

static const char *server_binary(void)
{
    const char *path = getenv("QTEST_VIOMMU_TESTDEV_VFIO_USER");

    return path ? path : VIOMMU_TESTDEV_VFIO_USER;
}

/* A server whose test dies goes with it, as QEMU does (exit-with-parent) */
static void server_child_setup(gpointer opaque)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Start the out-of-process device with @args; return once it listens */
static void server_start(Server *srv, const char *args)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *cmd = NULL;
    g_auto(GStrv) argv = NULL;
    gint64 deadline;

    srv->dir = g_dir_make_tmp("vfio-user-test-XXXXXX", &err);
    g_assert_no_error(err);
    srv->sock = g_build_filename(srv->dir, "sock", NULL);
    srv->pidfile = g_build_filename(srv->dir, "pid", NULL);
    cmd = g_strdup_printf("%s --socket %s --pidfile %s %s", server_binary(),
                          srv->sock, srv->pidfile, args ? args : "");
    g_shell_parse_argv(cmd, NULL, &argv, &err);
    g_assert_no_error(err);
    g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                  server_child_setup, NULL,
                  &srv->pid, &err);
    g_assert_no_error(err);

    /* The pidfile appears once the socket listens */
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!g_file_test(srv->pidfile, G_FILE_TEST_EXISTS)) {
        g_assert_cmpint(waitpid(srv->pid, NULL, WNOHANG), ==, 0);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10 * 1000);
    }
}

static void server_cleanup(Server *srv)
{
    unlink(srv->sock);
    unlink(srv->pidfile);
    rmdir(srv->dir);
    g_free(srv->sock);
    g_free(srv->pidfile);
    g_free(srv->dir);
    srv->pid = 0;
}

/* Stop the server and assert that it exits cleanly */
static void server_stop(Server *srv)
{
    int status;

    if (!srv->pid) {
        return;
    }
    g_assert_cmpint(kill(srv->pid, SIGTERM), ==, 0);
    g_assert_cmpint(waitpid(srv->pid, &status, 0), ==, srv->pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    server_cleanup(srv);
}

/* Kill the server as a crash would */
static G_GNUC_UNUSED void server_kill(Server *srv)
{
    int status;

    g_assert_cmpint(kill(srv->pid, SIGKILL), ==, 0);
    g_assert_cmpint(waitpid(srv->pid, &status, 0), ==, srv->pid);
    server_cleanup(srv);
}

/* The -device option that plugs the server's device, with @props */
static char *vfio_user_pci(const Server *srv, const char *props)
{
    return g_strdup_printf("-device '{\"driver\":\"vfio-user-pci\","
                           "\"socket\":{\"type\":\"unix\",\"path\":\"%s\"}"
                           "%s%s}'", srv->sock, props ? "," : "",
                           props ? props : "");
}

/* ---- the environment ---- */

#define VIRT_RAM_BASE   0x40000000ull
#define RAM_SIZE        "512M"
#define DEV_DEVFN       QPCI_DEVFN(4, 0)
/* The device's StreamID on virt's pcie.0, and its requester ID */
#define SID             DEV_DEVFN

/* Guest memory on virt */
#define STRTAB          (VIRT_RAM_BASE + 0x1000000)
#define STRTAB_LOG2     6
#define EVENTQ          (VIRT_RAM_BASE + 0x1010000)
#define EVENTQ_LOG2     4
#define CMDQ            (VIRT_RAM_BASE + 0x1020000)
#define CMDQ_LOG2       6
#define CD0             (VIRT_RAM_BASE + 0x1030000)
#define PT_POOL         (VIRT_RAM_BASE + 0x1100000)
#define PT_POOL2        (VIRT_RAM_BASE + 0x1800000)
#define PT_POOL_SIZE    0x400000ull
#define VIRT_DATA       (VIRT_RAM_BASE + 0x4000000)

typedef struct Env {
    QTestState *qts;
    Server srv;
    QGenericPCIBus gbus;
    QPCIBus *bus;
    QGuestAllocator alloc;      /* pseries */
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

/*
 * -M virt with @machine_opts, the server's device at 00:04.0 with
 * @props, and @extra; guest RAM shared unless @private_ram
 */
static Env *env_virt_ram(const char *machine_opts, const char *server_args,
                         const char *props, const char *extra,
                         bool private_ram)
{
    Env *e = g_new0(Env, 1);
    g_autofree char *dev = NULL;

    server_start(&e->srv, server_args);
    dev = vfio_user_pci(&e->srv, props ? props : "\"addr\":\"4.0\"");
    e->qts = qtest_initf("-M virt%s -cpu max -m " RAM_SIZE " -nodefaults "
                         "%s %s %s", machine_opts ? machine_opts : "",
                         private_ram ? "" : SHARED_RAM(RAM_SIZE), dev,
                         extra ? extra : "");
    qpci_init_generic(&e->gbus, e->qts, NULL, false);
    e->bus = &e->gbus.bus;
    qvtd_init(&e->td, e->bus, DEV_DEVFN);
    qsmmu_init(&e->smmu, e->qts, QSMMU_VIRT_BASE);
    return e;
}

static Env *env_virt(const char *machine_opts, const char *server_args,
                     const char *props, const char *extra)
{
    return env_virt_ram(machine_opts, server_args, props, extra, false);
}

static void env_stop(Env *e)
{
    qvtd_free(&e->td);
    if (e->alloc.page_size) {
        qpci_free_spapr(e->bus);
        alloc_destroy(&e->alloc);
    }
    qtest_quit(e->qts);
    server_stop(&e->srv);
    g_free(e);
}

/* ---- outcomes ---- */

static uint32_t dma_path(Env *e)
{
    return qvtd_rd(&e->td, R_DMA_PATH) & 7;
}

/*
 * FILL 8 bytes at bus address @addr; assert they landed at guest-physical
 * @pa, and only there, in @nreq requests that all took @path
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
    g_assert_cmpuint(dma_path(e), ==, path);
    g_assert_cmpuint(qvtd_rd(&e->td, R_DIRECT_REQS), ==,
                     path == DMA_PATH_DIRECT);
    g_assert_cmpuint(qvtd_rd(&e->td, R_MESSAGE_REQS), ==,
                     path == DMA_PATH_MESSAGE);
    /* The pattern's words are little-endian */
    g_assert_cmphex(qtest_readl(e->qts, pa), ==, le32_to_cpu(seed));
    g_assert_cmphex(qtest_readl(e->qts, pa + 4), ==, le32_to_cpu(seed + 1));
    g_assert_cmphex(qtest_readq(e->qts, pa - 8), ==, 0);
    g_assert_cmphex(qtest_readq(e->qts, pa + 8), ==, 0);
}

/* FILL 8 bytes at @addr and assert the device reports @result */
static void assert_fill_refused(Env *e, uint64_t addr, uint32_t result,
                                uint32_t path)
{
    qvtd_wr(&e->td, R_PATTERN, 0x5a5a5a5a);
    g_assert_cmpuint(qvtd_run(&e->td, OP_FILL, addr, 8), ==, result);
    qvtd_assert_outcome(&e->td, MEMTX_DECODE_ERROR, addr, 0);
    g_assert_cmpuint(dma_path(e), ==, path);
}

/* The map log: record @n */
static void assert_map_rec(Env *e, unsigned n, uint32_t type, uint32_t prot,
                           uint64_t iova, uint64_t size, uint32_t err)
{
    uint64_t at = MAP_LOG + (n % MAP_LOG_LEN) * MAP_REC_SIZE;
    uint32_t w = qvtd_rd(&e->td, at + MAP_REC_TYPE);

    g_assert_cmpuint(MAP_REC_TYPE_OF(w), ==, type);
    g_assert_cmpuint(MAP_REC_PROT_OF(w), ==, prot);
    g_assert_cmpuint(MAP_REC_ERRNO_OF(w), ==, err);
    g_assert_cmphex(qvtd_rd64(&e->td, at + MAP_REC_IOVA), ==, iova);
    g_assert_cmphex(qvtd_rd64(&e->td, at + MAP_REC_SIZE_OF), ==, size);
}

static uint64_t map_rec_offset(Env *e, unsigned n)
{
    return qvtd_rd64(&e->td, MAP_LOG + (n % MAP_LOG_LEN) * MAP_REC_SIZE +
                     MAP_REC_OFFSET);
}

static uint32_t map_count(Env *e)
{
    return qvtd_rd(&e->td, R_MAP_LOG_COUNT);
}

/* ---- no vIOMMU ---- */

/*
 * Without an IOMMU the client maps guest RAM once, with the memfd: the
 * device writes it directly, at the guest-physical address
 */
static void test_none_direct(void)
{
    Env *e = env_virt(NULL, NULL, NULL, NULL);

    g_assert_cmpuint(qvtd_rd(&e->td, R_DMA_REGIONS), ==, 1);
    g_assert_cmpuint(map_count(e), ==, 1);
    assert_map_rec(e, 0, MAP_REC_MAP_FD, MAP_PROT_RW, VIRT_RAM_BASE,
                   512 << 20, 0);
    g_assert_cmphex(map_rec_offset(e, 0), ==, 0);
    assert_fill_lands(e, VIRT_DATA + 0x18, VIRT_DATA + 0x18, DMA_PATH_DIRECT);
    /* Outside RAM: no DMA region, refused by the device itself */
    assert_fill_refused(e, 0x1000, RES_TRANSLATION_FAULT, DMA_PATH_REFUSED);
    env_stop(e);
}

/*
 * Guest RAM the client cannot share: it announces RAM without a file
 * descriptor, and every request goes by message, each a DMA_READ or
 * DMA_WRITE the client serves through the device's address space
 */
static void test_none_messages(void)
{
    Env *e = env_virt_ram(NULL, NULL, NULL, NULL, true);

    g_assert_cmpuint(qvtd_rd(&e->td, R_DMA_REGIONS), ==, 1);
    assert_map_rec(e, 0, MAP_REC_MAP_MESSAGE, MAP_PROT_RW, VIRT_RAM_BASE,
                   512 << 20, 0);
    assert_fill_lands(e, VIRT_DATA + 0x18, VIRT_DATA + 0x18,
                      DMA_PATH_MESSAGE);
    /* Both ways, across a page: two requests, each a message */
    for (int i = 0; i < 32; i++) {
        qtest_writeb(e->qts, VIRT_DATA + 0x1ff0 + i, 0xa0 + i);
    }
    g_assert_cmpuint(qvtd_run(&e->td, OP_READ, VIRT_DATA + 0x1ff0, 32), ==,
                     RES_OK);
    qvtd_assert_outcome(&e->td, 0, 0, 32);
    g_assert_cmpuint(qvtd_rd(&e->td, R_MESSAGE_REQS), ==, 2);
    for (uint32_t i = 0; i < 32; i += 4) {
        g_assert_cmphex(qvtd_rd(&e->td, BUF_OFFSET + i), ==,
                        0xa3a2a1a0u + i * 0x01010101u);
    }
    g_assert_cmpuint(qvtd_run(&e->td, OP_WRITE, VIRT_DATA + 0x5ffc, 32), ==,
                     RES_OK);
    g_assert_cmpuint(qvtd_rd(&e->td, R_MESSAGE_REQS), ==, 2);
    for (int i = 0; i < 32; i++) {
        g_assert_cmphex(qtest_readb(e->qts, VIRT_DATA + 0x5ffc + i), ==,
                        0xa0 + i);
    }
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

/*
 * The guest enables the SMMU with the device behind it, as any guest
 * kernel does.  The SMMU refuses MAP notifications; QEMU used to die
 * there ("vfio: DMA mapping failed, unable to continue").  It stays up,
 * and the device's DMA space becomes regions the client announces
 * without a file descriptor: all of it goes by message, through the SMMU.
 */
static void test_smmu_enable(void)
{
    Env *e = env_virt(",iommu=smmuv3", NULL, NULL, NULL);
    uint32_t n = map_count(e);

    smmu_enable(e);
    g_assert_cmpuint(qvtd_rd(&e->td, R_DMA_REGIONS), ==, 2);
    g_assert_cmpuint(map_count(e), ==, n + 3);
    /* The bypass alias's RAM goes, the IOMMU region comes */
    assert_map_rec(e, n, MAP_REC_UNMAP, 0, VIRT_RAM_BASE, 512 << 20, 0);
    assert_map_rec(e, n + 1, MAP_REC_MAP_MESSAGE, MAP_PROT_RW, 0,
                   1ull << 63, 0);
    assert_map_rec(e, n + 2, MAP_REC_MAP_MESSAGE, MAP_PROT_RW, 1ull << 63,
                   1ull << 63, 0);
    /* An STE that bypasses: the SMMU hands the address on unchanged */
    qsmmu_ste_bypass(&e->smmu, SID);
    assert_fill_lands(e, VIRT_DATA + 0x28, VIRT_DATA + 0x28,
                      DMA_PATH_MESSAGE);
    env_stop(e);
}

int main(int argc, char **argv)
{
    const char *arch = qtest_get_arch();

    g_test_init(&argc, &argv, NULL);
    if (!g_str_equal(arch, "aarch64") && !g_str_equal(arch, "ppc64")) {
        return g_test_run();
    }
    if (!qtest_has_device("vfio-user-pci")) {
        g_test_skip("QEMU has no vfio-user-pci");
        return g_test_run();
    }
    if (g_str_equal(arch, "aarch64")) {
        qtest_add_func("/vfio-user/none/direct", test_none_direct);
        qtest_add_func("/vfio-user/none/messages", test_none_messages);
        qtest_add_func("/vfio-user/smmuv3/enable", test_smmu_enable);
    }
    return g_test_run();
}
