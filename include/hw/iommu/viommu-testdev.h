/*
 * viommu-testdev: register map of the DMA test device
 *
 * The layout is specified in docs/specs/viommu-testdev.rst; guest programs
 * are written against that document, so any change here is an ABI change.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_IOMMU_VIOMMU_TESTDEV_H
#define HW_IOMMU_VIOMMU_TESTDEV_H

#include "hw/registerfields.h"

#define TYPE_VIOMMU_TESTDEV "viommu-testdev"

#define VIOMMU_TESTDEV_VENDOR_ID    0x1234
#define VIOMMU_TESTDEV_DEVICE_ID    0x11f0

#define VIOMMU_TESTDEV_ID_VALUE     0x54414d44 /* "DMAT" in memory */
#define VIOMMU_TESTDEV_VERSION      1

/* BAR0: registers in the first half, the data buffer in the second */
#define VIOMMU_TESTDEV_BAR_SIZE     0x20000
#define VIOMMU_TESTDEV_REGS_SIZE    0x10000
#define VIOMMU_TESTDEV_BUF_OFFSET   0x10000
#define VIOMMU_TESTDEV_BUF_SHIFT    16
#define VIOMMU_TESTDEV_BUF_SIZE     (1u << VIOMMU_TESTDEV_BUF_SHIFT)

/*
 * A transfer is cut into requests that never cross this boundary of the
 * bus address, as a PCIe requester must; each request is one DMA access.
 */
#define VIOMMU_TESTDEV_REQ_BOUNDARY 0x1000

/*
 * A burst runs inside the doorbell write, holding the vCPU and the BQL
 * (or on the device's DMA thread with OP.ASYNC): allow what the benchmark
 * needs (2^20 accesses of 8 bytes) and no more.
 */
#define VIOMMU_TESTDEV_BURST_MAX_COUNT  (1u << 20)
#define VIOMMU_TESTDEV_BURST_MAX_BYTES  (8u << 20)

REG32(ID,               0x000)
REG32(VERSION,          0x004)
REG32(CAP,              0x008)
    FIELD(CAP, ATS,         0, 1)
    FIELD(CAP, PRI,         1, 1)
    FIELD(CAP, PASID,       2, 1)
    FIELD(CAP, SECURE_DMA,  3, 1)
    FIELD(CAP, BUF_SHIFT,   8, 8)
REG32(CTRL,             0x00c)
    FIELD(CTRL, IRQ_EN,     0, 1)
REG32(DMA_ADDR_LO,      0x010)
REG32(DMA_ADDR_HI,      0x014)
REG32(DST_ADDR_LO,      0x018)
REG32(DST_ADDR_HI,      0x01c)
REG32(LEN,              0x020)
REG32(OP,               0x024)
    FIELD(OP, OPCODE,       0, 4)
    FIELD(OP, NO_WRITE,     4, 1)
    FIELD(OP, ASYNC,        5, 1)
REG32(ATTR,             0x028)
    FIELD(ATTR, PRIV,       0, 1)
    FIELD(ATTR, EXEC,       1, 1)
    FIELD(ATTR, SECURE,     2, 1)
    FIELD(ATTR, PASID_EN,   3, 1)
REG32(PASID,            0x02c)
    FIELD(PASID, PASID,     0, 20)
REG32(PATTERN,          0x030)
REG32(BURST_COUNT,      0x034)
REG32(BURST_STRIDE,     0x038)
REG32(BURST_SPAN,       0x03c)
REG32(DOORBELL,         0x040)
REG32(STATUS,           0x044)
    FIELD(STATUS, BUSY,     0, 1)
    FIELD(STATUS, IRQ,      1, 1)
    FIELD(STATUS, RESULT,   8, 8)
REG32(IRQ_ACK,          0x048)
REG32(MEMTX,            0x04c)
REG32(FAULT_ADDR_LO,    0x050)
REG32(FAULT_ADDR_HI,    0x054)
REG32(DONE_BYTES,       0x058)
REG32(COMPLETIONS,      0x05c)
REG32(ATS_ADDR_LO,      0x060)
REG32(ATS_ADDR_HI,      0x064)
REG32(ATS_MASK_LO,      0x068)
REG32(ATS_MASK_HI,      0x06c)
REG32(ATS_PERM,         0x070)
    FIELD(ATS_PERM, READ,   0, 1)
    FIELD(ATS_PERM, WRITE,  1, 1)
REG32(PRI_RESP,         0x074)
    FIELD(PRI_RESP, CODE,   0, 4)
    FIELD(PRI_RESP, VALID,  31, 1)
REG32(BURST_DONE,       0x078)
REG32(BUF_ATTRS,        0x07c)
    FIELD(BUF_ATTRS, UNSPECIFIED,   0, 1)
    FIELD(BUF_ATTRS, SECURE,        1, 1)
    FIELD(BUF_ATTRS, USER,          2, 1)
    FIELD(BUF_ATTRS, PID,           8, 8)
    FIELD(BUF_ATTRS, REQUESTER_ID,  16, 16)
REG32(IOMMU_REQ_STATUS, 0x080)
    FIELD(IOMMU_REQ_STATUS, CODE,   0, 4)
REG32(NOTIFY_COUNT,     0x084)
REG32(STOP_STALLS,      0x088)
/* How the last command's DMA requests went (see ViommuTestdevDmaPath) */
REG32(DMA_PATH,         0x08c)
    FIELD(DMA_PATH, LAST,   0, 3)
REG32(DIRECT_REQS,      0x090)
REG32(MESSAGE_REQS,     0x094)
/* The out-of-process device's view of its vfio-user client's DMA_MAPs */
REG32(DMA_REGIONS,      0x098)
REG32(MAP_LOG_COUNT,    0x09c)

/* WATCH takes its notifier flags from PATTERN */
FIELD(WATCH, MAP,   0, 1)
FIELD(WATCH, UNMAP, 1, 1)
FIELD(WATCH, DEVIOTLB_UNMAP, 2, 1)

/*
 * The last NOTIFY_LOG_LEN IOMMU notifications the watch received, event
 * n (counting from 0 at WATCH) at NOTIFY_LOG + (n % NOTIFY_LOG_LEN) *
 * NOTIFY_REC_SIZE: TYPE, PERM, then IOVA (a bus address), TRANSLATED and
 * ADDR_MASK, 64 bits each.
 */
#define VIOMMU_TESTDEV_NOTIFY_LOG       0x400
#define VIOMMU_TESTDEV_NOTIFY_LOG_LEN   16
#define VIOMMU_TESTDEV_NOTIFY_REC_SIZE  32
REG32(NOTIFY_REC_TYPE,      0x00)
REG32(NOTIFY_REC_PERM,      0x04)
REG32(NOTIFY_REC_IOVA,      0x08)
REG32(NOTIFY_REC_XLAT,      0x10)
REG32(NOTIFY_REC_MASK,      0x18)

#define VIOMMU_TESTDEV_NOTIFY_MAP       1
#define VIOMMU_TESTDEV_NOTIFY_UNMAP     2

/*
 * The last MAP_LOG_LEN DMA_MAP and DMA_UNMAP messages the out-of-process
 * device received since its client connected, message n (counting from
 * 0) at MAP_LOG + (n % MAP_LOG_LEN) * MAP_REC_SIZE: TYPE with the
 * protection asked for and the errno of the reply, then IOVA, SIZE and
 * the file OFFSET, 64 bits each.  The in-QEMU device reads them as zero.
 */
#define VIOMMU_TESTDEV_MAP_LOG          0x1000
#define VIOMMU_TESTDEV_MAP_LOG_LEN      128
#define VIOMMU_TESTDEV_MAP_REC_SIZE     32
REG32(MAP_REC_TYPE,         0x00)
    FIELD(MAP_REC_TYPE, TYPE,   0, 8)
    FIELD(MAP_REC_TYPE, PROT,   8, 8)
    FIELD(MAP_REC_TYPE, ERRNO,  16, 16)
REG32(MAP_REC_IOVA,         0x08)
REG32(MAP_REC_SIZE,         0x10)
REG32(MAP_REC_OFFSET,       0x18)

typedef enum ViommuTestdevMapRecType {
    VIOMMU_TESTDEV_MAP_FD       = 1,    /* DMA_MAP with a file descriptor */
    VIOMMU_TESTDEV_MAP_MESSAGE  = 2,    /* DMA_MAP without: by messages */
    VIOMMU_TESTDEV_UNMAP        = 3,    /* DMA_UNMAP of a range */
    VIOMMU_TESTDEV_UNMAP_ALL    = 4,    /* DMA_UNMAP of everything */
} ViommuTestdevMapRecType;

/* DMA_PATH.LAST: how the last DMA request of a command went */
typedef enum ViommuTestdevDmaPath {
    VIOMMU_TESTDEV_PATH_NONE    = 0,    /* no request issued */
    VIOMMU_TESTDEV_PATH_MEMORY  = 1,    /* in QEMU, through the memory API */
    VIOMMU_TESTDEV_PATH_DIRECT  = 2,    /* out of process: mapped memory */
    VIOMMU_TESTDEV_PATH_MESSAGE = 3,    /* ... a DMA_READ or DMA_WRITE */
    VIOMMU_TESTDEV_PATH_REFUSED = 4,    /* ... no DMA region allows it */
} ViommuTestdevDmaPath;

#define VIOMMU_TESTDEV_OP_MASK      (R_OP_OPCODE_MASK | R_OP_NO_WRITE_MASK | \
                                     R_OP_ASYNC_MASK)
#define VIOMMU_TESTDEV_ATTR_MASK    (R_ATTR_PRIV_MASK | R_ATTR_EXEC_MASK | \
                                     R_ATTR_SECURE_MASK | R_ATTR_PASID_EN_MASK)

typedef enum ViommuTestdevOpcode {
    VIOMMU_TESTDEV_OP_NOP           = 0,
    VIOMMU_TESTDEV_OP_READ          = 1,
    VIOMMU_TESTDEV_OP_WRITE         = 2,
    VIOMMU_TESTDEV_OP_FILL          = 3,
    VIOMMU_TESTDEV_OP_COMPARE       = 4,
    VIOMMU_TESTDEV_OP_COPY          = 5,
    VIOMMU_TESTDEV_OP_ATS_TRANSLATE = 6,
    VIOMMU_TESTDEV_OP_PRI_REQUEST   = 7,
    VIOMMU_TESTDEV_OP_BURST_READ    = 8,
    VIOMMU_TESTDEV_OP_BURST_WRITE   = 9,
    VIOMMU_TESTDEV_OP_WATCH         = 10,
    VIOMMU_TESTDEV_OP_REPLAY        = 11,
    VIOMMU_TESTDEV_OP_UNWATCH       = 12,
} ViommuTestdevOpcode;

typedef enum ViommuTestdevResult {
    VIOMMU_TESTDEV_RES_OK                = 0,
    VIOMMU_TESTDEV_RES_TRANSLATION_FAULT = 1,
    VIOMMU_TESTDEV_RES_PERMISSION_FAULT  = 2,
    VIOMMU_TESTDEV_RES_DECODE_ERROR      = 3,
    VIOMMU_TESTDEV_RES_ACCESS_ERROR      = 4,
    VIOMMU_TESTDEV_RES_BUS_ERROR         = 5,
    VIOMMU_TESTDEV_RES_MISMATCH          = 6,
    VIOMMU_TESTDEV_RES_BAD_COMMAND       = 7,
    VIOMMU_TESTDEV_RES_ATS_FAILED        = 8,
    VIOMMU_TESTDEV_RES_PRI_FAILED        = 9,
} ViommuTestdevResult;

/* IOMMU_REQ_STATUS.CODE: how the last ATS or PRI request was answered */
typedef enum ViommuTestdevIommuReqStatus {
    VIOMMU_TESTDEV_REQ_ANSWERED     = 0,  /* the IOMMU answered it */
    VIOMMU_TESTDEV_REQ_NOT_ENABLED  = 1,  /* capability, PASID or BME off */
    VIOMMU_TESTDEV_REQ_NO_IOMMU     = 2,  /* no IOMMU serves such requests */
    VIOMMU_TESTDEV_REQ_ERROR        = 3,  /* any other refusal */
} ViommuTestdevIommuReqStatus;

/* The PASID of a request that carries none (PCI_NO_PASID) */
#define VIOMMU_TESTDEV_NO_PASID     UINT32_MAX

/* PRI_RESP.CODE uses the PCIe Page Request Group Response encoding */
#define VIOMMU_TESTDEV_PRI_SUCCESS          0x0
#define VIOMMU_TESTDEV_PRI_INVALID_REQUEST  0x1
#define VIOMMU_TESTDEV_PRI_FAILURE          0xf

/*
 * How long stopping the VM waits for an asynchronous command's DMA before
 * it gives up, counts a stall in STOP_STALLS and lets the VM stop
 */
#define VIOMMU_TESTDEV_STOP_WAIT_MS     5000

#endif /* HW_IOMMU_VIOMMU_TESTDEV_H */
