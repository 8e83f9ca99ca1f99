/*
 * Driving viommu-testdev from qtests: find it, map its BAR, run commands
 *
 * The register ABI itself is in viommu-testdev.h, which guest programs
 * share; this is the qtest side only.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_VIOMMU_TESTDEV_PCI_H
#define LIBQOS_VIOMMU_TESTDEV_PCI_H

#include "pci.h"
#include "viommu-testdev.h"

typedef struct QViommuTestdev {
    QPCIDevice *dev;
    QPCIBar bar;
} QViommuTestdev;

/* Find the device at @devfn, check its IDs, map BAR0 and enable it */
void qvtd_init(QViommuTestdev *td, QPCIBus *bus, int devfn);
void qvtd_free(QViommuTestdev *td);

uint32_t qvtd_rd(QViommuTestdev *td, uint64_t off);
void qvtd_wr(QViommuTestdev *td, uint64_t off, uint32_t val);
uint64_t qvtd_rd64(QViommuTestdev *td, uint64_t off);
void qvtd_wr64(QViommuTestdev *td, uint64_t off, uint64_t val);

/*
 * Run @op on @len bytes at bus address @addr; assert it completed once
 * and did not stay busy, and return STATUS.RESULT.
 */
uint32_t qvtd_run(QViommuTestdev *td, uint32_t op, uint64_t addr,
                  uint32_t len);

/*
 * Start @op with OP.ASYNC on @len bytes at @addr: the device's DMA thread
 * runs it, outside the BQL, and STATUS.BUSY stays set until it completes.
 */
void qvtd_start_async(QViommuTestdev *td, uint32_t op, uint64_t addr,
                      uint32_t len);
/*
 * Wait, at most 30 s, until the command started last is no longer BUSY;
 * assert it completed once since @before (COMPLETIONS when it started)
 * and return STATUS.RESULT.
 */
uint32_t qvtd_wait_async(QViommuTestdev *td, uint32_t before);
/* Both: run @op on the DMA thread and wait for it */
uint32_t qvtd_run_async(QViommuTestdev *td, uint32_t op, uint64_t addr,
                        uint32_t len);

/* Assert MEMTX, FAULT_ADDR and DONE_BYTES of the last command */
void qvtd_assert_outcome(QViommuTestdev *td, uint32_t memtx, uint64_t fault,
                         uint32_t done);

/*
 * Wait, at most 30 s, until @qts's migration has completed, on either
 * side; assert that it did not fail.  The device tests migrate through a
 * file and poll query-migrate with this.
 */
void qvtd_wait_migration(QTestState *qts);
/* Stop the VM, migrate it to @uri and wait until that completes */
void qvtd_migrate(QTestState *qts, const char *uri);

/*
 * The status an incoming migration ends in, "completed" or "failed"
 * (freed by the caller); with @error, *@error (freed first) is then
 * what went wrong, or NULL
 */
char *qvtd_incoming_status(QTestState *qts, char **error);

#endif
