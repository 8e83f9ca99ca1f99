/*
 * What the fuzz targets found (make fuzz; docs/devel/testing/fuzzing-viommu.rst),
 * one case per finding, each asserting the behaviour the finding broke.
 *
 * A case fails until its finding is fixed; then it joins the model's own
 * qtest.  This program is built with the others but make check does not
 * run it (scripts/check.sh).
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/generic-pcihost.h"
#include "libqos/smmuv3.h"
#include "libqos/viommu-testdev-pci.h"

#define DEV_DEVFN           QPCI_DEVFN(4, 0)
#define SID                 DEV_DEVFN
#define RAM_BASE            0x40000000ull
#define STRTAB              (RAM_BASE + 0x1000000)
#define EVENTQ              (RAM_BASE + 0x1010000)
#define CD                  (RAM_BASE + 0x1030000)
#define PT_POOL             (RAM_BASE + 0x1100000)
#define PT_POOL_SIZE        0x100000ull

/*
 * viommu-fuzz: ORACLE bql-dma-thread (generic-fuzz-viommu-smmuv3, the
 * seed s1-async and inputs derived from it).
 *
 * The test device's OP.ASYNC runs its DMA on a thread of its own, outside
 * the BQL, as a dataplane device does; stopping the VM waits for it with
 * the BQL held, as stopping virtio-blk waits for its iothread.  The SMMU
 * translates such DMA by taking the BQL (smmuv3_translate_slow(), for any
 * caller without it), so the wait can only give up: after 5 s, counted in
 * STOP_STALLS.  Without an IOMMU the same burst completes while "stop"
 * waits (viommu-testdev-test's async-stop-waits).
 */
static void test_smmuv3_async_dma_needs_no_bql(void)
{
    QTestState *qts = qtest_init("-M virt,iommu=smmuv3 -cpu max -m 512M "
                                 "-nodefaults -device viommu-testdev,addr=4.0");
    QGenericPCIBus gbus;
    QViommuTestdev td;
    QSMMUv3 smmu;
    QSMMUPageTable pt;
    uint32_t before;

    qpci_init_generic(&gbus, qts, NULL, false);
    qvtd_init(&td, &gbus.bus, DEV_DEVFN);
    qsmmu_init(&smmu, qts, QSMMU_VIRT_BASE);
    qsmmu_setup_tables(&smmu, STRTAB, 6, EVENTQ, 4);
    /* Stage 1: IOVA = PA for RAM, one 1 GiB block */
    qsmmu_pt_init(&pt, qts, false, PT_POOL, PT_POOL_SIZE);
    qsmmu_pt_map_1g(&pt, RAM_BASE, RAM_BASE);
    qsmmu_cd_s1_4k(qts, CD, pt.root, 1);
    qsmmu_ste_s1(&smmu, SID, CD);
    qsmmu_set_cr0(&smmu, SMMU_CR0_SMMUEN | SMMU_CR0_EVENTQEN);

    /* 2^20 reads on the device's thread, each translated by the SMMU */
    before = qvtd_rd(&td, R_COMPLETIONS);
    qvtd_wr(&td, R_BURST_COUNT, BURST_MAX_COUNT);
    qvtd_wr(&td, R_BURST_STRIDE, 0x1000);
    qvtd_wr(&td, R_BURST_SPAN, 0x1000000);
    qvtd_start_async(&td, OP_BURST_READ, RAM_BASE + 0x4000000, 8);
    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");

    g_assert_cmpuint(qvtd_rd(&td, R_STOP_STALLS), ==, 0);
    g_assert_cmphex(qvtd_rd(&td, R_STATUS), ==, STATUS_IRQ | (RES_OK << 8));
    g_assert_cmpuint(qvtd_rd(&td, R_COMPLETIONS), ==, before + 1);
    g_assert_cmpuint(qvtd_rd(&td, R_BURST_DONE), ==, BURST_MAX_COUNT);
    qvtd_assert_outcome(&td, 0, 0, BURST_MAX_COUNT * 8);
    qtest_qmp_assert_success(qts, "{ 'execute': 'cont' }");
    qvtd_free(&td);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!strcmp(qtest_get_arch(), "aarch64")) {
        qtest_add_func("/viommu-fuzz-findings/smmuv3/async-dma-needs-no-bql",
                       test_smmuv3_async_dma_needs_no_bql);
    }
    return g_test_run();
}
