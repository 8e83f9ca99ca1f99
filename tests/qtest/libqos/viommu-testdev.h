/*
 * viommu-testdev's guest-visible ABI, for qtests and benchmarks
 *
 * Written out from docs/specs/viommu-testdev.rst rather than taken from
 * the device's own header, so that a change to the ABI makes the tests
 * that use these values fail instead of silently following the device.
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
#define BUF_OFFSET      0x10000
#define BUF_SIZE        0x10000

#define ID_VALUE        0x54414d44

#define STATUS_BUSY     (1u << 0)
#define STATUS_IRQ      (1u << 1)
#define STATUS_RESULT(s) (((s) >> 8) & 0xff)

#define ATTR_PASID_EN   (1u << 3)

/* Largest BURST_COUNT the device accepts */
#define BURST_MAX_COUNT (1u << 20)

enum {
    OP_NOP = 0, OP_READ, OP_WRITE, OP_FILL, OP_COMPARE, OP_COPY,
    OP_ATS_TRANSLATE, OP_PRI_REQUEST, OP_BURST_READ, OP_BURST_WRITE,
};

enum {
    RES_OK = 0, RES_TRANSLATION_FAULT, RES_PERMISSION_FAULT,
    RES_DECODE_ERROR, RES_ACCESS_ERROR, RES_BUS_ERROR, RES_MISMATCH,
    RES_BAD_COMMAND, RES_ATS_FAILED, RES_PRI_FAILED,
};

/* MemTxResult bits as the MEMTX register reports them */
#define MEMTX_DECODE_ERROR  (1u << 1)
#define MEMTX_ACCESS_ERROR  (1u << 2)

#endif
