/*
 * viommu-testdev's guest-visible ABI, for qtests and benchmarks
 *
 * Written out from docs/specs/viommu-testdev.rst rather than taken from
 * the device's own header, so that a change to the ABI makes the tests
 * that use these values fail instead of silently following the device.
 *
 * Plain #defines only: the guest-side programs of tests/guest/ include it
 * too.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_VIOMMU_TESTDEV_H
#define LIBQOS_VIOMMU_TESTDEV_H

#define VIOMMU_TESTDEV_PCI_VENDOR_ID    0x1234
#define VIOMMU_TESTDEV_PCI_DEVICE_ID    0x11f0

/* Registers (BAR0) */
#define R_ID            0x000
#define R_VERSION       0x004
#define R_CAP           0x008
#define R_CTRL          0x00c
#define R_DMA_ADDR      0x010
#define R_DST_ADDR      0x018
#define R_LEN           0x020
#define R_OP            0x024
#define R_ATTR          0x028
#define R_PASID         0x02c
#define R_PATTERN       0x030
#define R_BURST_COUNT   0x034
#define R_BURST_STRIDE  0x038
#define R_BURST_SPAN    0x03c
#define R_DOORBELL      0x040
#define R_STATUS        0x044
#define R_IRQ_ACK       0x048
#define R_MEMTX         0x04c
#define R_FAULT_ADDR    0x050
#define R_DONE_BYTES    0x058
#define R_COMPLETIONS   0x05c
#define R_ATS_ADDR      0x060
#define R_ATS_MASK      0x068
#define R_ATS_PERM      0x070
#define R_PRI_RESP      0x074
#define R_BURST_DONE    0x078
#define R_BUF_ATTRS     0x07c
#define R_IOMMU_REQ_STATUS 0x080
#define R_NOTIFY_COUNT  0x084
#define R_STOP_STALLS   0x088
#define R_DMA_PATH      0x08c   /* [2:0]: how the last request went */
#define R_DIRECT_REQS   0x090
#define R_MESSAGE_REQS  0x094
#define R_DMA_REGIONS   0x098   /* out of process: the client's, live */
#define R_MAP_LOG_COUNT 0x09c
#define NOTIFY_LOG      0x400
#define NOTIFY_LOG_LEN  16
#define NOTIFY_REC_SIZE 32
#define NOTIFY_REC_TYPE 0x00    /* TYPE, then PERM at +4 */
#define NOTIFY_REC_IOVA 0x08
#define NOTIFY_REC_XLAT 0x10
#define NOTIFY_REC_MASK 0x18
#define NOTIFY_MAP      1
#define NOTIFY_UNMAP    2
/*
 * The out-of-process device's log of its client's DMA_MAP and DMA_UNMAP
 * messages: record n at MAP_LOG + (n % MAP_LOG_LEN) * MAP_REC_SIZE
 */
#define MAP_LOG         0x1000
#define MAP_LOG_LEN     128
#define MAP_REC_SIZE    32
#define MAP_REC_TYPE    0x00    /* [7:0] type, [15:8] prot, [31:16] errno */
#define MAP_REC_IOVA    0x08
#define MAP_REC_SIZE_OF 0x10
#define MAP_REC_OFFSET  0x18
#define MAP_REC_TYPE_OF(w)  ((w) & 0xff)
#define MAP_REC_PROT_OF(w)  (((w) >> 8) & 0xff)
#define MAP_REC_ERRNO_OF(w) ((w) >> 16)
#define MAP_REC_MAP_FD      1   /* DMA_MAP with a file descriptor */
#define MAP_REC_MAP_MESSAGE 2   /* DMA_MAP without: reached by messages */
#define MAP_REC_UNMAP       3
#define MAP_REC_UNMAP_ALL   4
#define MAP_PROT_R      1u
#define MAP_PROT_W      2u
#define MAP_PROT_RW     3u

/* DMA_PATH: how the last DMA request of a command went */
#define DMA_PATH_NONE       0
#define DMA_PATH_MEMORY     1   /* in QEMU, through the memory API */
#define DMA_PATH_DIRECT     2   /* out of process: memory the client mapped */
#define DMA_PATH_MESSAGE    3   /* ... a DMA_READ or DMA_WRITE message */
#define DMA_PATH_REFUSED    4   /* ... no DMA region allows it */

#define WATCH_MAP       (1u << 0)
#define WATCH_UNMAP     (1u << 1)
#define WATCH_DEVIOTLB_UNMAP (1u << 2)
#define BUF_OFFSET      0x10000
#define BUF_SIZE        0x10000

#define ID_VALUE        0x54414d44
#define VERSION_VALUE   1

#define CAP_ATS         (1u << 0)
#define CAP_PRI         (1u << 1)
#define CAP_PASID       (1u << 2)
#define CAP_SECURE_DMA  (1u << 3)
#define CAP_BUF_SHIFT(c) (((c) >> 8) & 0xff)

#define CTRL_IRQ_EN     (1u << 0)

#define STATUS_BUSY     (1u << 0)
#define STATUS_IRQ      (1u << 1)
#define STATUS_RESULT(s) (((s) >> 8) & 0xff)

#define OP_NO_WRITE     (1u << 4)
#define OP_ASYNC        (1u << 5)

#define ATTR_PRIV       (1u << 0)
#define ATTR_EXEC       (1u << 1)
#define ATTR_SECURE     (1u << 2)
#define ATTR_PASID_EN   (1u << 3)

#define BUF_ATTRS_UNSPECIFIED   (1u << 0)
#define BUF_ATTRS_SECURE        (1u << 1)
#define BUF_ATTRS_USER          (1u << 2)
#define BUF_ATTRS_PID(p)        (((p) & 0xffu) << 8)
#define BUF_ATTRS_REQUESTER(r)  (((r) & 0xffffu) << 16)

/* Largest burst the device accepts: BURST_COUNT, and BURST_COUNT * LEN */
#define BURST_MAX_COUNT (1u << 20)
#define BURST_MAX_BYTES (8u << 20)

enum {
    OP_NOP = 0, OP_READ, OP_WRITE, OP_FILL, OP_COMPARE, OP_COPY,
    OP_ATS_TRANSLATE, OP_PRI_REQUEST, OP_BURST_READ, OP_BURST_WRITE,
    OP_WATCH, OP_REPLAY, OP_UNWATCH,
};

enum {
    RES_OK = 0, RES_TRANSLATION_FAULT, RES_PERMISSION_FAULT,
    RES_DECODE_ERROR, RES_ACCESS_ERROR, RES_BUS_ERROR, RES_MISMATCH,
    RES_BAD_COMMAND, RES_ATS_FAILED, RES_PRI_FAILED,
};

enum {
    REQ_ANSWERED = 0, REQ_NOT_ENABLED, REQ_NO_IOMMU, REQ_ERROR,
};

/* MemTxResult bits as the MEMTX register reports them */
#define MEMTX_ERROR         (1u << 0)
#define MEMTX_DECODE_ERROR  (1u << 1)
#define MEMTX_ACCESS_ERROR  (1u << 2)

#endif
