/*
 * eeh-inject: make a pSeries PE freeze from inside the guest, so that
 * the guest kernel's own EEH recovery has something to recover
 *
 *   eeh-inject errinjct BDF FUNC [ADDR MASK]
 *       LoPAR's ERRINJCT option through the kernel's sys_rtas, as
 *       powerpc-utils' errinjct does: ibm,open-errinjct, one
 *       ibm,errinjct of class ioa-bus-error-64 (function FUNC, at bus
 *       address ADDR under MASK, default any) into the PE of PCI device
 *       BDF, ibm,close-errinjct.  The work buffer is in the kernel's
 *       RTAS user buffer (/proc/powerpc/rtas/rmo_buffer), which
 *       /dev/mem maps.
 *   eeh-inject stray NVME_CTRL
 *       A DMA outside the driver's mapping: through the NVMe driver, a
 *       command that makes the controller DMA at a bus address the
 *       driver never mapped (see do_stray()).
 *
 * Each prints "ok   [...]" or "FAIL [...]" lines and exits 0 when the
 * injection was made.  The freeze shows in the kernel's log.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/nvme_ioctl.h>

#define ERRINJCT_BUF_SIZE   1024

static int fail(const char *what)
{
    printf("FAIL [eeh-inject] %s: %s\n", what, strerror(errno));
    return 1;
}

#ifdef __NR_rtas

/* ---- a PCI device's place in the device tree ---- */

static int read_file(const char *path, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    n = read(fd, buf, len);
    close(fd);
    return n;
}

static int read_cell(const char *path, uint32_t *val)
{
    uint32_t be;

    if (read_file(path, &be, sizeof(be)) != sizeof(be)) {
        return -1;
    }
    *val = be32toh(be);
    return 0;
}

/*
 * BDF's configuration address (its node's "reg") and its PHB's BUID
 * (the PHB node's "reg")
 */
static int dev_addrs(const char *bdf, uint32_t *config_addr, uint64_t *buid)
{
    char path[512], node[400];
    uint32_t reg[2];
    char *slash;
    int n;

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/devspec", bdf);
    n = read_file(path, node, sizeof(node) - 1);
    if (n <= 0) {
        return -1;
    }
    node[n] = 0;
    node[strcspn(node, "\n")] = 0;
    snprintf(path, sizeof(path), "/proc/device-tree%s/reg", node);
    if (read_cell(path, config_addr)) {
        return -1;
    }
    slash = strrchr(node, '/');
    if (!slash) {
        return -1;
    }
    *slash = 0;
    snprintf(path, sizeof(path), "/proc/device-tree%s/reg", node);
    if (read_file(path, reg, sizeof(reg)) != sizeof(reg)) {
        return -1;
    }
    *buid = (uint64_t)be32toh(reg[0]) << 32 | be32toh(reg[1]);
    return 0;
}

/* ---- RTAS from user space ---- */

struct rtas_args {
    uint32_t token;
    uint32_t nargs;
    uint32_t nret;
    uint32_t args[16];
    uint64_t rets;      /* the kernel's pointer into args[] */
};

static int rtas_token(const char *name, uint32_t *token)
{
    char path[128];

    snprintf(path, sizeof(path), "/proc/device-tree/rtas/%s", name);
    return read_cell(path, token);
}

/* An RTAS call: @nargs inputs from @in, @nret outputs into @out */
static int rtas_call(uint32_t token, int nargs, const uint32_t *in, int nret,
                     uint32_t *out)
{
    struct rtas_args a = {
        .token = htobe32(token),
        .nargs = htobe32(nargs),
        .nret = htobe32(nret),
    };
    int i;

    for (i = 0; i < nargs; i++) {
        a.args[i] = htobe32(in[i]);
    }
    if (syscall(__NR_rtas, &a) < 0) {
        return -1;
    }
    for (i = 0; i < nret; i++) {
        out[i] = be32toh(a.args[nargs + i]);
    }
    return 0;
}

/* The class token of @name in /rtas "ibm,errinjct-tokens" */
static int errinjct_class(const char *name, uint32_t *token)
{
    char buf[256];
    int n = read_file("/proc/device-tree/rtas/ibm,errinjct-tokens", buf,
                      sizeof(buf)), at = 0;

    while (n > 0 && at < n) {
        int len = strnlen(buf + at, n - at);
        uint32_t be;

        if (at + len + 1 + 4 > n) {
            break;
        }
        memcpy(&be, buf + at + len + 1, 4);
        if (!strcmp(buf + at, name)) {
            *token = be32toh(be);
            return 0;
        }
        at += len + 1 + 4;
    }
    return -1;
}

static int do_errinjct(const char *bdf, uint32_t func, uint64_t addr,
                       uint64_t mask)
{
    uint32_t t_open, t_inject, t_close, class, config_addr, out[2], in[3];
    uint64_t buid, rmo;
    unsigned rmo_size;
    char line[64] = { 0 };
    uint32_t *w;
    void *map;
    int fd;

    if (dev_addrs(bdf, &config_addr, &buid)) {
        return fail("the device's node in the device tree");
    }
    if (rtas_token("ibm,open-errinjct", &t_open) ||
        rtas_token("ibm,errinjct", &t_inject) ||
        rtas_token("ibm,close-errinjct", &t_close) ||
        errinjct_class("ioa-bus-error-64", &class)) {
        return fail("the ERRINJCT tokens in /proc/device-tree/rtas");
    }
    if (read_file("/proc/powerpc/rtas/rmo_buffer", line,
                  sizeof(line) - 1) <= 0 ||
        sscanf(line, "%" SCNx64 " %x", &rmo, &rmo_size) != 2 ||
        rmo_size < ERRINJCT_BUF_SIZE) {
        return fail("/proc/powerpc/rtas/rmo_buffer");
    }
    fd = open("/dev/mem", O_RDWR | O_SYNC);
    if (fd < 0) {
        return fail("/dev/mem");
    }
    map = mmap(NULL, ERRINJCT_BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
               fd, rmo);
    close(fd);
    if (map == MAP_FAILED) {
        return fail("mapping the RTAS user buffer");
    }
    printf("  [errinjct] device %s: config_addr 0x%x, PHB BUID 0x%" PRIx64
           ", class ioa-bus-error-64 = %u, buffer at 0x%" PRIx64 "\n",
           bdf, config_addr, buid, class, rmo);

    if (rtas_call(t_open, 0, NULL, 2, out)) {
        return fail("ibm,open-errinjct");
    }
    /* LoPAR: the Open Token first, then the status */
    if (out[1]) {
        printf("FAIL [errinjct] ibm,open-errinjct: status %d\n", (int)out[1]);
        return 1;
    }
    w = map;
    w[0] = htobe32(addr >> 32);
    w[1] = htobe32(addr);
    w[2] = htobe32(mask >> 32);
    w[3] = htobe32(mask);
    w[4] = htobe32(config_addr);
    w[5] = htobe32(buid >> 32);
    w[6] = htobe32(buid);
    w[7] = htobe32(func);
    in[0] = class;
    in[1] = out[0];
    in[2] = rmo;
    if (rtas_call(t_inject, 3, in, 1, out)) {
        return fail("ibm,errinjct");
    }
    printf("%s [errinjct] ibm,errinjct function %u at 0x%" PRIx64 "/0x%"
           PRIx64 ": status %d\n", out[0] ? "FAIL" : "ok  ", func, addr, mask,
           (int)out[0]);
    if (rtas_call(t_close, 1, &in[1], 1, &out[1])) {
        return fail("ibm,close-errinjct");
    }
    printf("%s [errinjct] ibm,close-errinjct: status %d\n",
           out[1] ? "FAIL" : "ok  ", (int)out[1]);
    munmap(map, ERRINJCT_BUF_SIZE);
    return out[0] || out[1];
}

#else

static int do_errinjct(const char *bdf, uint32_t func, uint64_t addr,
                       uint64_t mask)
{
    (void)bdf, (void)func, (void)addr, (void)mask;
    printf("FAIL [errinjct] no RTAS on this architecture\n");
    return 1;
}

#endif

/* ---- a DMA outside the driver's mapping ---- */

/*
 * Doorbell Buffer Config (NVMe 1.3) through the driver's admin passthrough,
 * without the buffers: the driver maps nothing for a command that moves
 * no data, so both buffer addresses are 0, and the controller starts
 * writing its shadow doorbells at bus address 0, which no TCE maps.
 * (A Read with a short buffer no longer does it: Linux 6.12 describes a
 * user command's data with an SGL, whose length the controller checks.)
 */
static int do_stray(const char *ctrl)
{
    struct nvme_passthru_cmd cmd = {
        .opcode = 0x7c,             /* Doorbell Buffer Config */
        .timeout_ms = 3000,
    };
    int fd, ret;

    fd = open(ctrl, O_RDWR);
    if (fd < 0) {
        return fail(ctrl);
    }
    ret = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);
    /* The command cannot complete: the controller's DMA froze the PE */
    printf("ok   [stray] Doorbell Buffer Config at bus address 0 through %s: "
           "ioctl %d (%s)\n", ctrl, ret, ret < 0 ? strerror(errno) : "status");
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "errinjct")) {
        return do_errinjct(argv[2], strtoul(argv[3], NULL, 0),
                           argc > 4 ? strtoull(argv[4], NULL, 0) : 0,
                           argc > 5 ? strtoull(argv[5], NULL, 0) : 0);
    }
    if (argc == 3 && !strcmp(argv[1], "stray")) {
        return do_stray(argv[2]);
    }
    fprintf(stderr, "usage: eeh-inject errinjct BDF FUNC [ADDR MASK]\n"
                    "       eeh-inject stray NVME_CONTROLLER\n");
    return 2;
}
