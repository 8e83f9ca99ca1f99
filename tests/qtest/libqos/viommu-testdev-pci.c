/*
 * Driving viommu-testdev from qtests; see viommu-testdev-pci.h
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/pci/pci_regs.h"
#include "qobject/qdict.h"
#include "../libqtest.h"
#include "viommu-testdev-pci.h"

void qvtd_init(QViommuTestdev *td, QPCIBus *bus, int devfn)
{
    td->dev = qpci_device_find(bus, devfn);
    g_assert(td->dev);
    g_assert_cmphex(qpci_config_readw(td->dev, PCI_VENDOR_ID), ==,
                    VIOMMU_TESTDEV_PCI_VENDOR_ID);
    g_assert_cmphex(qpci_config_readw(td->dev, PCI_DEVICE_ID), ==,
                    VIOMMU_TESTDEV_PCI_DEVICE_ID);
    td->bar = qpci_iomap(td->dev, 0, NULL);
    qpci_device_enable(td->dev);
}

void qvtd_free(QViommuTestdev *td)
{
    g_free(td->dev);
    td->dev = NULL;
}

uint32_t qvtd_rd(QViommuTestdev *td, uint64_t off)
{
    return qpci_io_readl(td->dev, td->bar, off);
}

void qvtd_wr(QViommuTestdev *td, uint64_t off, uint32_t val)
{
    qpci_io_writel(td->dev, td->bar, off, val);
}

uint64_t qvtd_rd64(QViommuTestdev *td, uint64_t off)
{
    return qvtd_rd(td, off) | ((uint64_t)qvtd_rd(td, off + 4) << 32);
}

void qvtd_wr64(QViommuTestdev *td, uint64_t off, uint64_t val)
{
    qvtd_wr(td, off, (uint32_t)val);
    qvtd_wr(td, off + 4, val >> 32);
}

uint32_t qvtd_run(QViommuTestdev *td, uint32_t op, uint64_t addr,
                  uint32_t len)
{
    uint32_t before = qvtd_rd(td, R_COMPLETIONS);
    uint32_t st;

    qvtd_wr64(td, R_DMA_ADDR, addr);
    qvtd_wr(td, R_LEN, len);
    qvtd_wr(td, R_OP, op);
    qvtd_wr(td, R_DOORBELL, 1);
    st = qvtd_rd(td, R_STATUS);
    g_assert_cmphex(st & STATUS_BUSY, ==, 0);
    g_assert_cmpuint(qvtd_rd(td, R_COMPLETIONS), ==, before + 1);
    return STATUS_RESULT(st);
}

void qvtd_start_async(QViommuTestdev *td, uint32_t op, uint64_t addr,
                      uint32_t len)
{
    qvtd_wr64(td, R_DMA_ADDR, addr);
    qvtd_wr(td, R_LEN, len);
    qvtd_wr(td, R_OP, op | OP_ASYNC);
    qvtd_wr(td, R_DOORBELL, 1);
}

uint32_t qvtd_wait_async(QViommuTestdev *td, uint32_t before)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    uint32_t st;

    /* Each read lets the main loop run the completion's bottom half */
    while ((st = qvtd_rd(td, R_STATUS)) & STATUS_BUSY) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
    g_assert_cmpuint(qvtd_rd(td, R_COMPLETIONS), ==, before + 1);
    return STATUS_RESULT(st);
}

uint32_t qvtd_run_async(QViommuTestdev *td, uint32_t op, uint64_t addr,
                        uint32_t len)
{
    uint32_t before = qvtd_rd(td, R_COMPLETIONS);

    qvtd_start_async(td, op, addr, len);
    return qvtd_wait_async(td, before);
}

void qvtd_wait_migration(QTestState *qts)
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

void qvtd_assert_outcome(QViommuTestdev *td, uint32_t memtx, uint64_t fault,
                         uint32_t done)
{
    g_assert_cmphex(qvtd_rd(td, R_MEMTX), ==, memtx);
    g_assert_cmphex(qvtd_rd64(td, R_FAULT_ADDR), ==, fault);
    g_assert_cmpuint(qvtd_rd(td, R_DONE_BYTES), ==, done);
}

char *qvtd_incoming_status(QTestState *qts, char **error)
{
    for (int i = 0; i < 3000; i++) {
        QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-migrate' }");
        QDict *ret = qdict_get_qdict(rsp, "return");
        char *status = g_strdup(ret ? qdict_get_try_str(ret, "status") : NULL);

        if (error) {
            g_free(*error);
            *error = g_strdup(ret ? qdict_get_try_str(ret, "error-desc") :
                              NULL);
        }
        qobject_unref(rsp);
        if (!g_strcmp0(status, "completed") || !g_strcmp0(status, "failed")) {
            return status;
        }
        g_free(status);
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

void qvtd_migrate(QTestState *qts, const char *uri)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'migrate', 'arguments':"
                             " { 'uri': %s } }", uri);
    qvtd_wait_migration(qts);
}
