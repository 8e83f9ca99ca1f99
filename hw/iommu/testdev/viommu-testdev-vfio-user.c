/*
 * viommu-testdev out of process: the same device, served over vfio-user
 *
 * A vfio-user server whose device is viommu-testdev: the same PCI IDs,
 * BAR, registers, commands and outcomes (the engine of
 * viommu-testdev-core.c), so that qtests and guest programs drive it as
 * they drive the in-QEMU device, through QEMU's -device vfio-user-pci.
 * Its DMA reaches guest memory directly where the client mapped it
 * (DMA_MAP with a file descriptor: shared guest RAM) and by DMA_READ/
 * DMA_WRITE messages elsewhere, which the client serves through the
 * device's vIOMMU; DMA_PATH, DIRECT_REQS and MESSAGE_REQS say which, and
 * the MAP_LOG window records the client's DMA_MAP/DMA_UNMAP sequence.
 * See docs/specs/viommu-testdev.rst.
 *
 *   viommu-testdev-vfio-user --socket PATH [--pidfile FILE] [-d MASK]
 *                            [-T TRACE] [--x-misbehave=outside|huge|
 *                            disconnect]
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <getopt.h>
#include "hw/pci/pci_ids.h"
#include "hw/pci/pci_regs.h"
#include "hw/pci/pcie_regs.h"
#include "qapi/error.h"
#include "qemu/config-file.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/option.h"
#include "trace/control.h"
#include "hw/iommu/viommu-testdev-core.h"
#include "vfio-user-server.h"

/* Configuration space: a PCIe endpoint with MSI, as the in-QEMU device */
#define VTU_CONFIG_SIZE         4096
#define VTU_MSI_CAP             0x40
#define VTU_PCIE_CAP            0x50
#define VTU_PCIE_CAP_SIZE       0x3c
#define VTU_SUBVENDOR_ID        0x1af4  /* as QEMU gives its PCI devices */
#define VTU_SUBSYSTEM_ID        0x1100

typedef struct ViommuTestdevVfioUser {
    ViommuTestdevCore core;
    VfioUserServer *server;

    uint8_t config[VTU_CONFIG_SIZE];
    uint8_t wmask[VTU_CONFIG_SIZE];

    /* The client's DMA_MAP and DMA_UNMAP messages since it connected */
    uint32_t map_log_count;
    struct {
        uint32_t type;          /* MAP_REC_TYPE: type, protection, errno */
        uint64_t iova;
        uint64_t size;
        uint64_t offset;
    } map_log[VIOMMU_TESTDEV_MAP_LOG_LEN];
} ViommuTestdevVfioUser;

static ViommuTestdevVfioUser *vtu_of(ViommuTestdevCore *core)
{
    return core->opaque;
}

static uint16_t vtu_command(ViommuTestdevVfioUser *d)
{
    return lduw_le_p(d->config + PCI_COMMAND);
}

/* ---- the engine's ops ---- */

/*
 * The DMA regions the client announced are this device's IOMMU: an
 * address outside all of them has no translation, one whose region lacks
 * the access has no permission.  A message the client refuses with ENODEV
 * (its memory API's decode error: its vIOMMU refused the request, or
 * nothing answers at the translated address) is a TRANSLATION_FAULT too,
 * as behind an IOMMU the device cannot ask; the vIOMMU's own fault record
 * says which it was.
 */
static MemTxResult vtu_dma(ViommuTestdevCore *core, uint64_t addr,
                           uint8_t *buf, uint32_t len, bool is_write,
                           MemTxAttrs attrs, uint32_t *moved,
                           ViommuTestdevResult *fault,
                           ViommuTestdevDmaPath *path)
{
    ViommuTestdevVfioUser *d = vtu_of(core);
    VfioUserDmaPath how;
    int ret;

    if (!(vtu_command(d) & PCI_COMMAND_MASTER)) {
        qemu_log_mask(LOG_GUEST_ERROR, "%s: DMA at 0x%" PRIx64 " refused: "
                      "bus mastering is off\n", TYPE_VIOMMU_TESTDEV, addr);
        *fault = VIOMMU_TESTDEV_RES_DECODE_ERROR;
        return MEMTX_DECODE_ERROR;
    }

    ret = vfio_user_server_dma(d->server, addr, buf, len, is_write, &how);
    switch (how) {
    case VFIO_USER_DMA_DIRECT:
        *path = VIOMMU_TESTDEV_PATH_DIRECT;
        break;
    case VFIO_USER_DMA_MESSAGE:
        *path = VIOMMU_TESTDEV_PATH_MESSAGE;
        break;
    default:
        *path = VIOMMU_TESTDEV_PATH_REFUSED;
        break;
    }

    switch (ret) {
    case 0:
        *moved = len;
        return MEMTX_OK;
    case -EFAULT:
        if (how != VFIO_USER_DMA_MESSAGE) {
            /* No region covers it: no translation */
            *fault = VIOMMU_TESTDEV_RES_TRANSLATION_FAULT;
            return MEMTX_DECODE_ERROR;
        }
        /* The client's MEMTX_ERROR */
        return MEMTX_ERROR;
    case -EACCES:
        *fault = VIOMMU_TESTDEV_RES_PERMISSION_FAULT;
        return MEMTX_DECODE_ERROR;
    case -ENODEV:
        *fault = VIOMMU_TESTDEV_RES_TRANSLATION_FAULT;
        return MEMTX_DECODE_ERROR;
    case -EPERM:
        return MEMTX_ACCESS_ERROR;
    default:
        /* The message itself failed: no answer, or not one that fits */
        error_report("%s: DMA %s of %" PRIu32 " bytes at 0x%" PRIx64
                     " by message failed: %s", TYPE_VIOMMU_TESTDEV,
                     is_write ? "write" : "read", len, addr, strerror(-ret));
        return MEMTX_ERROR;
    }
}

/* The client adds its requester ID to the requests it makes for us */
static uint16_t vtu_requester_id(ViommuTestdevCore *core)
{
    return 0;
}

static bool vtu_pasid_enabled(ViommuTestdevCore *core)
{
    return false;
}

/*
 * MSI is on while the client gives its vector an event file descriptor
 * (vfio-pci does from the guest's MSI enable on); INTx then stays low.
 */
static void vtu_irq_update(ViommuTestdevCore *core, bool completed)
{
    ViommuTestdevVfioUser *d = vtu_of(core);
    bool irq_en = FIELD_EX32(core->ctrl, CTRL, IRQ_EN);
    bool msi = vfio_user_server_irq_enabled(d->server,
                                            VFIO_PCI_MSI_IRQ_INDEX);

    if (completed && irq_en && msi) {
        vfio_user_server_irq_trigger(d->server, VFIO_PCI_MSI_IRQ_INDEX, 0);
    }
    vfio_user_server_set_intx(d->server, !msi && core->irq_pending && irq_en &&
                              !(vtu_command(d) & PCI_COMMAND_INTX_DISABLE));
}

static bool vtu_read_reg(ViommuTestdevCore *core, hwaddr addr, uint32_t *val)
{
    ViommuTestdevVfioUser *d = vtu_of(core);
    hwaddr off = addr - VIOMMU_TESTDEV_MAP_LOG;
    unsigned slot = off / VIOMMU_TESTDEV_MAP_REC_SIZE;
    uint64_t word = 0;

    switch (addr) {
    case A_DMA_REGIONS:
        *val = vfio_user_server_dma_regions(d->server);
        return true;
    case A_MAP_LOG_COUNT:
        *val = d->map_log_count;
        return true;
    }
    if (addr < VIOMMU_TESTDEV_MAP_LOG ||
        off >= VIOMMU_TESTDEV_MAP_LOG_LEN * VIOMMU_TESTDEV_MAP_REC_SIZE) {
        return false;
    }
    switch (off % VIOMMU_TESTDEV_MAP_REC_SIZE & ~7) {
    case A_MAP_REC_TYPE:
        word = d->map_log[slot].type;
        break;
    case A_MAP_REC_IOVA:
        word = d->map_log[slot].iova;
        break;
    case A_MAP_REC_SIZE:
        word = d->map_log[slot].size;
        break;
    case A_MAP_REC_OFFSET:
        word = d->map_log[slot].offset;
        break;
    }
    *val = off & 4 ? word >> 32 : (uint32_t)word;
    return true;
}

static const ViommuTestdevCoreOps vtu_core_ops = {
    .dma = vtu_dma,
    .requester_id = vtu_requester_id,
    .pasid_enabled = vtu_pasid_enabled,
    .irq_update = vtu_irq_update,
    .read_reg = vtu_read_reg,
};

/* ---- the PCI function ---- */

static void vtu_config_init(ViommuTestdevVfioUser *d)
{
    uint8_t *c = d->config, *w = d->wmask;

    stw_le_p(c + PCI_VENDOR_ID, VIOMMU_TESTDEV_VENDOR_ID);
    stw_le_p(c + PCI_DEVICE_ID, VIOMMU_TESTDEV_DEVICE_ID);
    stw_le_p(c + PCI_STATUS, PCI_STATUS_CAP_LIST);
    c[PCI_REVISION_ID] = VIOMMU_TESTDEV_VERSION;
    stw_le_p(c + PCI_CLASS_DEVICE, PCI_CLASS_OTHERS << 8);
    stl_le_p(c + PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_SPACE_MEMORY |
             PCI_BASE_ADDRESS_MEM_TYPE_64);
    stw_le_p(c + PCI_SUBSYSTEM_VENDOR_ID, VTU_SUBVENDOR_ID);
    stw_le_p(c + PCI_SUBSYSTEM_ID, VTU_SUBSYSTEM_ID);
    c[PCI_CAPABILITY_LIST] = VTU_MSI_CAP;
    c[PCI_INTERRUPT_PIN] = 1;

    /* What QEMU's PCI core lets the guest set in any device's command */
    stw_le_p(w + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
             PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
    stl_le_p(w + PCI_BASE_ADDRESS_0, ~(VIOMMU_TESTDEV_BAR_SIZE - 1));
    stl_le_p(w + PCI_BASE_ADDRESS_1, UINT32_MAX);
    w[PCI_INTERRUPT_LINE] = 0xff;

    /* MSI: one vector, 64-bit addresses, no per-vector masking */
    c[VTU_MSI_CAP + PCI_CAP_LIST_ID] = PCI_CAP_ID_MSI;
    c[VTU_MSI_CAP + PCI_CAP_LIST_NEXT] = VTU_PCIE_CAP;
    stw_le_p(c + VTU_MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT);
    stw_le_p(w + VTU_MSI_CAP + PCI_MSI_FLAGS,
             PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
    stl_le_p(w + VTU_MSI_CAP + PCI_MSI_ADDRESS_LO, ~3u);
    stl_le_p(w + VTU_MSI_CAP + PCI_MSI_ADDRESS_HI, UINT32_MAX);
    stw_le_p(w + VTU_MSI_CAP + PCI_MSI_DATA_64, UINT16_MAX);

    /* PCI Express, version 2, an endpoint; vfio-pci adapts it to the bus */
    c[VTU_PCIE_CAP + PCI_CAP_LIST_ID] = PCI_CAP_ID_EXP;
    stw_le_p(c + VTU_PCIE_CAP + PCI_EXP_FLAGS,
             PCI_EXP_FLAGS_VER2 | PCI_EXP_TYPE_ENDPOINT << 4);
    stw_le_p(w + VTU_PCIE_CAP + PCI_EXP_DEVCTL,
             PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE |
             PCI_EXP_DEVCTL_FERE | PCI_EXP_DEVCTL_URRE |
             PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_PAYLOAD |
             PCI_EXP_DEVCTL_READRQ);
}

static int vtu_config_rw(ViommuTestdevVfioUser *d, uint64_t offset,
                         uint8_t *data, uint32_t count, bool is_write)
{
    uint16_t old_command = vtu_command(d);

    if (!is_write) {
        memcpy(data, d->config + offset, count);
        return 0;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint8_t w = d->wmask[offset + i];

        d->config[offset + i] = (d->config[offset + i] & ~w) | (data[i] & w);
    }
    if ((old_command ^ vtu_command(d)) & PCI_COMMAND_INTX_DISABLE) {
        vtu_irq_update(&d->core, false);
    }
    return 0;
}

/*
 * BAR0: the registers take aligned 4- or 8-byte accesses (an 8-byte one
 * as two 4-byte ones, the lower first), the buffer any bytes.
 */
static int vtu_bar0_rw(ViommuTestdevVfioUser *d, uint64_t offset,
                       uint8_t *data, uint32_t count, bool is_write)
{
    if (offset >= VIOMMU_TESTDEV_BUF_OFFSET) {
        uint8_t *buf = d->core.buf + (offset - VIOMMU_TESTDEV_BUF_OFFSET);

        if (is_write) {
            memcpy(buf, data, count);
        } else {
            memcpy(data, buf, count);
        }
        return 0;
    }
    if ((count != 4 && count != 8) || offset % count ||
        offset + count > VIOMMU_TESTDEV_REGS_SIZE) {
        return -EINVAL;
    }
    for (uint32_t i = 0; i < count; i += 4) {
        if (is_write) {
            viommu_testdev_core_reg_write(&d->core, offset + i,
                                          ldl_le_p(data + i));
        } else {
            stl_le_p(data + i,
                     viommu_testdev_core_reg_read(&d->core, offset + i));
        }
    }
    return 0;
}

static int vtu_region_rw(void *opaque, uint32_t index, uint64_t offset,
                         void *data, uint32_t count, bool is_write)
{
    ViommuTestdevVfioUser *d = opaque;

    switch (index) {
    case VFIO_PCI_BAR0_REGION_INDEX:
        if (offset < VIOMMU_TESTDEV_BUF_OFFSET &&
            offset + count > VIOMMU_TESTDEV_BUF_OFFSET) {
            return -EINVAL;
        }
        return vtu_bar0_rw(d, offset, data, count, is_write);
    case VFIO_PCI_CONFIG_REGION_INDEX:
        return vtu_config_rw(d, offset, data, count, is_write);
    default:
        return -EINVAL;
    }
}

static void vtu_reset(void *opaque)
{
    ViommuTestdevVfioUser *d = opaque;

    viommu_testdev_core_reset(&d->core);
    vtu_irq_update(&d->core, false);
}

static void vtu_irqs_changed(void *opaque)
{
    ViommuTestdevVfioUser *d = opaque;

    vtu_irq_update(&d->core, false);
}

static void vtu_map_event(void *opaque, const VfioUserMapEvent *ev)
{
    ViommuTestdevVfioUser *d = opaque;
    unsigned slot = d->map_log_count % VIOMMU_TESTDEV_MAP_LOG_LEN;
    uint32_t type;

    if (!ev->unmap) {
        type = ev->has_fd ? VIOMMU_TESTDEV_MAP_FD : VIOMMU_TESTDEV_MAP_MESSAGE;
    } else {
        type = ev->all ? VIOMMU_TESTDEV_UNMAP_ALL : VIOMMU_TESTDEV_UNMAP;
    }
    type = FIELD_DP32(0, MAP_REC_TYPE, TYPE, type);
    type = FIELD_DP32(type, MAP_REC_TYPE, PROT, ev->prot);
    d->map_log[slot].type = FIELD_DP32(type, MAP_REC_TYPE, ERRNO, ev->err);
    d->map_log[slot].iova = ev->iova;
    d->map_log[slot].size = ev->size;
    d->map_log[slot].offset = ev->offset;
    d->map_log_count++;
}

static void vtu_connection(void *opaque, bool connected)
{
    ViommuTestdevVfioUser *d = opaque;

    if (connected) {
        d->map_log_count = 0;
        memset(d->map_log, 0, sizeof(d->map_log));
    } else {
        info_report("client disconnected; waiting for the next one");
    }
}

static const VfioUserDeviceInfo vtu_device_info = {
    .region_size = {
        [VFIO_PCI_BAR0_REGION_INDEX] = VIOMMU_TESTDEV_BAR_SIZE,
        [VFIO_PCI_CONFIG_REGION_INDEX] = VTU_CONFIG_SIZE,
    },
    /*
     * The error and request vectors exist for vfio-pci to wire up; the
     * device never signals them
     */
    .irq_count = {
        [VFIO_PCI_INTX_IRQ_INDEX] = 1,
        [VFIO_PCI_MSI_IRQ_INDEX] = 1,
        [VFIO_PCI_ERR_IRQ_INDEX] = 1,
        [VFIO_PCI_REQ_IRQ_INDEX] = 1,
    },
    .region_rw = vtu_region_rw,
    .reset = vtu_reset,
    .irqs_changed = vtu_irqs_changed,
    .map_event = vtu_map_event,
    .connection = vtu_connection,
};

/* ---- the program ---- */

static volatile sig_atomic_t vtu_quit;

static void vtu_terminate(int sig)
{
    vtu_quit = 1;
    qemu_notify_event();
}

static void vtu_usage(const char *name)
{
    printf("Usage: %s --socket PATH [OPTION]...\n"
           "Serve viommu-testdev (docs/specs/viommu-testdev.rst) to a\n"
           "vfio-user client, e.g. QEMU's -device vfio-user-pci, on the\n"
           "UNIX socket PATH, one client at a time.\n"
           "\n"
           "  -s, --socket=PATH       listen on PATH\n"
           "  -p, --pidfile=FILE      write the process ID to FILE once\n"
           "                          listening\n"
           "  -d, --log=MASK          log MASK (e.g. guest_errors) to stderr\n"
           "  -T, --trace=[[enable=]PATTERN][,events=FILE][,file=FILE]\n"
           "                          trace, as QEMU's -trace\n"
           "      --dma-timeout=MS    wait at most MS for the reply to a\n"
           "                          DMA message (default 5000)\n"
           "      --x-misbehave=HOW   testing the client only: break the\n"
           "                          protocol on every DMA message: outside\n"
           "                          (also where nothing was announced),\n"
           "                          huge (a count of 2^40), disconnect\n"
           "                          (drop the connection after sending)\n"
           "  -h, --help              this text\n", name);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, 's' },
        { "pidfile", required_argument, NULL, 'p' },
        { "log", required_argument, NULL, 'd' },
        { "trace", required_argument, NULL, 'T' },
        { "dma-timeout", required_argument, NULL, 'D' },
        { "x-misbehave", required_argument, NULL, 'M' },
        { "help", no_argument, NULL, 'h' },
        { }
    };
    static ViommuTestdevVfioUser dev;
    VfioUserMisbehaviour misbehave = VFIO_USER_BEHAVE;
    const char *socket_path = NULL, *pidfile = NULL;
    struct sigaction sa = { .sa_handler = vtu_terminate };
    unsigned long dma_timeout = 0;
    int log_mask = 0;
    int ch;

    signal(SIGPIPE, SIG_IGN);
    error_init(argv[0]);
    module_call_init(MODULE_INIT_TRACE);
    qemu_add_opts(&qemu_trace_opts);
    qemu_init_exec_dir(argv[0]);

    while ((ch = getopt_long(argc, argv, "s:p:d:T:h", longopts,
                             NULL)) != -1) {
        switch (ch) {
        case 's':
            socket_path = optarg;
            break;
        case 'p':
            pidfile = optarg;
            break;
        case 'd':
            log_mask = qemu_str_to_log_mask(optarg);
            if (!log_mask) {
                error_report("unknown log mask '%s'", optarg);
                return EXIT_FAILURE;
            }
            break;
        case 'T':
            trace_opt_parse(optarg);
            break;
        case 'D':
            if (qemu_strtoul(optarg, NULL, 10, &dma_timeout) < 0 ||
                dma_timeout > UINT32_MAX) {
                error_report("bad --dma-timeout '%s'", optarg);
                return EXIT_FAILURE;
            }
            break;
        case 'M':
            if (!strcmp(optarg, "outside")) {
                misbehave = VFIO_USER_MISBEHAVE_OUTSIDE;
            } else if (!strcmp(optarg, "huge")) {
                misbehave = VFIO_USER_MISBEHAVE_HUGE;
            } else if (!strcmp(optarg, "disconnect")) {
                misbehave = VFIO_USER_MISBEHAVE_DISCONNECT;
            } else {
                error_report("unknown --x-misbehave '%s'", optarg);
                return EXIT_FAILURE;
            }
            break;
        case 'h':
            vtu_usage(argv[0]);
            return EXIT_SUCCESS;
        default:
            error_report("Try '%s --help' for more information.", argv[0]);
            return EXIT_FAILURE;
        }
    }
    if (!socket_path || optind != argc) {
        error_report("Try '%s --help' for more information.", argv[0]);
        return EXIT_FAILURE;
    }

    if (!trace_init_backends()) {
        return EXIT_FAILURE;
    }
    trace_init_file();
    qemu_set_log(LOG_TRACE | log_mask, &error_fatal);
    qemu_init_main_loop(&error_fatal);

    vtu_config_init(&dev);
    viommu_testdev_core_init(&dev.core, &vtu_core_ops, &dev);
    viommu_testdev_core_reset(&dev.core);
    dev.server = vfio_user_server_new(socket_path, &vtu_device_info, &dev,
                                      &error_fatal);
    vfio_user_server_set_misbehaviour(dev.server, misbehave);
    vfio_user_server_set_dma_timeout(dev.server, dma_timeout);
    if (pidfile) {
        qemu_write_pidfile(pidfile, &error_fatal);
    }

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    while (!vtu_quit) {
        main_loop_wait(false);
    }

    /* Its messages failing, the DMA thread's command ends at once */
    vfio_user_server_drop_client(dev.server);
    viommu_testdev_core_finalize(&dev.core);
    vfio_user_server_free(dev.server);
    if (pidfile) {
        unlink(pidfile);
    }
    return EXIT_SUCCESS;
}
