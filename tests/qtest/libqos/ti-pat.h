/*
 * The TI PAT's guest-visible ABI, for qtests and guest programs
 *
 * Written out from docs/system/devices/ti-pat.rst, not taken from the
 * model's source, so that a change to the ABI fails the tests.  Plain
 * #defines only: the guest-side programs of tests/guest/ include it too.
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_TI_PAT_H
#define LIBQOS_TI_PAT_H

/* MMRS */
#define TI_PAT_PID              0x00
#define TI_PAT_CONFIG           0x04
#define TI_PAT_CONTROL          0x10
#define TI_PAT_PID_VALUE        0x100   /* MAJOR 1, MINOR 0 */
#define TI_PAT_CONTROL_EN       (1u << 0)
#define TI_PAT_CONTROL_REPLACE_OID_EN (1u << 1)
#define TI_PAT_CONTROL_PAGE_SIZE(n)   ((uint32_t)(n) << 4)
#define TI_PAT_CONTROL_ARB_MODE(n)    ((uint32_t)(n) << 6)
#define TI_PAT_PAGE_4K          0
#define TI_PAT_PAGE_16K         1
#define TI_PAT_PAGE_64K         2
#define TI_PAT_PAGE_1M          3

/* TABLE */
#define TI_PAT_ENTRY_OFFSET(i)  ((uint64_t)(i) / 256 * 4096 + (i) % 256 * 8)
#define TI_PAT_ADDRL(pa)        ((uint32_t)((pa) >> 12))
#define TI_PAT_ADDRH(pa)        ((uint32_t)((pa) >> 44) & 0xf)
#define TI_PAT_ADDRH_ENABLE     (1u << 31)

/* Where virt puts the n'th ti-pat whose bases are left to it */
#define TI_PAT_AUTO_MMRS(n)     (0x47f0000000ull + (n) * 0x10000ull)
#define TI_PAT_AUTO_TABLE(n)    (0x47f1000000ull + (n) * 0x1000000ull)
#define TI_PAT_AUTO_WINDOW(n)   (0x4800000000ull + (n) * 0x100000000ull)
#define TI_PAT_DEFAULT_ENTRIES  16384
/* Left to the device, the window is as large as the entries at 4 KiB */
#define TI_PAT_DEFAULT_WINDOW_SIZE  (TI_PAT_DEFAULT_ENTRIES * 0x1000ull)

#endif
